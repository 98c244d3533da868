//! NERTC-compatible numeric result codes (0 = OK) and their descriptions.
//!
//! Every synchronous engine method returns one of these; asynchronous failures arrive as
//! `EngineEvent::Error { code, .. }` or as the `result` of a join/leave event.

/// A NERTC result code.
pub type Code = i32;

pub const OK: Code = 0;
/// Generic failure.
pub const ERR_FATAL: Code = 30001;
/// A parameter is out of range or malformed (channel name, uid, config, frame size ...).
pub const ERR_INVALID_PARAM: Code = 30003;
/// The call is not valid in the current state (e.g. enableLocalVideo before join).
pub const ERR_WRONG_STATE: Code = 30004;
/// The engine is not initialized, or was released.
pub const ERR_NOT_INITIALIZED: Code = 30005;
/// Device id unknown or the device cannot be opened.
pub const ERR_DEVICE_NOT_FOUND: Code = 30008;
/// The operation is not supported (e.g. pushing to an external source that is not enabled).
pub const ERR_NOT_SUPPORTED: Code = 30010;
/// joinChannel while joined or joining.
pub const ERR_ALREADY_JOINED: Code = 30100;
/// leaveChannel (or a channel operation) while not in a channel.
pub const ERR_NOT_JOINED: Code = 30101;
/// The room server cannot be reached.
pub const ERR_CONNECT_FAILED: Code = 30200;
/// The media connection stayed down while signaling worked, and ICE restarts did not bring it
/// back (`kNERtcErrMediaConnectionDisconnected`).
pub const ERR_MEDIA_DISCONNECTED: Code = 30204;
/// The signaling connection was lost and could not be recovered in time
/// (`kNERtcErrSignalDisconnected`).
pub const ERR_SIGNAL_DISCONNECTED: Code = 30205;
/// Removed from the channel by the server (replaced by another login with the same uid, or
/// kicked) (`kNERtcErrServerKicked`).
pub const ERR_KICKED: Code = 30206;
/// Removed because the room closed (the server shut down) (`kNERtcErrKickedForRoomClosed`).
pub const ERR_ROOM_CLOSED: Code = 30207;
/// The token is missing, malformed, wrongly signed, expired, or for another channel/uid.
pub const ERR_TOKEN: Code = 403;
/// The app key is unknown to the server.
pub const ERR_APP_KEY: Code = 20101;
/// Join refused for another reason (bad channel name or uid on the server side, protocol).
pub const ERR_JOIN_FAILED: Code = 20102;
/// Publishing or subscribing is not permitted by the token.
pub const ERR_PERMISSION: Code = 20103;
/// A user event handler threw (reported through onWarning, never crashes the process).
pub const WARN_HANDLER_THREW: Code = 30900;
/// The engine's command queue is full (the engine is [`crate::api::COMMAND_QUEUE`] commands
/// behind); the call was not carried out. Ours, beyond NERTC's codes.
pub const ERR_BUSY: Code = 30901;

/// Every code this SDK returns, with its description.
pub const ALL: &[(Code, &str)] = &[
    (OK, "OK"),
    (ERR_FATAL, "generic failure"),
    (ERR_INVALID_PARAM, "invalid parameter"),
    (ERR_WRONG_STATE, "wrong state for this call"),
    (ERR_NOT_INITIALIZED, "engine not initialized or already released"),
    (ERR_DEVICE_NOT_FOUND, "device not found or cannot be opened"),
    (ERR_NOT_SUPPORTED, "operation not supported in this configuration"),
    (ERR_ALREADY_JOINED, "already in a channel or joining"),
    (ERR_NOT_JOINED, "not in a channel"),
    (ERR_CONNECT_FAILED, "cannot connect to the room server"),
    (ERR_MEDIA_DISCONNECTED, "media connection lost and not recovered"),
    (ERR_SIGNAL_DISCONNECTED, "signaling connection lost and not recovered"),
    (ERR_KICKED, "removed from the channel by the server"),
    (ERR_ROOM_CLOSED, "removed because the room closed"),
    (ERR_TOKEN, "token missing, invalid or expired"),
    (ERR_APP_KEY, "app key unknown to the server"),
    (ERR_JOIN_FAILED, "join refused by the server"),
    (ERR_PERMISSION, "not permitted by the token"),
    (WARN_HANDLER_THREW, "an event handler threw an exception"),
    (ERR_BUSY, "the engine is busy: its command queue is full"),
];

/// `getErrorDescription(code)`.
pub fn description(code: Code) -> &'static str {
    ALL.iter().find(|(c, _)| *c == code).map_or("unknown error code", |(_, d)| d)
}

/// Every failure inside the engine, built from the leaf errors of each area. Mapped to a NERTC
/// code in one place ([`EngineError::code`]) at the API edge.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the engine is released")]
    Released,
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    #[error("not valid now: {0}")]
    WrongState(&'static str),
    #[error("not supported: {0}")]
    NotSupported(&'static str),
    #[error("already in a channel or joining")]
    AlreadyJoined,
    #[error("not in a channel")]
    NotJoined,
    #[error("the engine's command queue is full")]
    Busy,
    #[error("unknown device id {0:?}")]
    UnknownDevice(String),
    #[error("{what}: {source}")]
    Device { what: &'static str, source: crate::device::DeviceError },
    #[error(transparent)]
    Signal(#[from] nertc_signal::SignalError),
    #[error("webrtc: {0}")]
    Transport(String),
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Result of the engine's fallible operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// The NERTC code this error is reported with.
    pub fn code(&self) -> Code {
        use nertc_signal::SignalError as S;
        match self {
            EngineError::Released => ERR_NOT_INITIALIZED,
            EngineError::InvalidParam(_) => ERR_INVALID_PARAM,
            EngineError::WrongState(_) => ERR_WRONG_STATE,
            EngineError::NotSupported(_) => ERR_NOT_SUPPORTED,
            EngineError::AlreadyJoined => ERR_ALREADY_JOINED,
            EngineError::NotJoined => ERR_NOT_JOINED,
            EngineError::Busy => ERR_BUSY,
            EngineError::UnknownDevice(_) | EngineError::Device { .. } => ERR_DEVICE_NOT_FOUND,
            EngineError::Signal(S::Refused(body)) => from_protocol(body.code),
            EngineError::Signal(_) => ERR_CONNECT_FAILED,
            EngineError::Transport(_) | EngineError::Thread(_) => ERR_FATAL,
        }
    }
}

/// A webrtc-rs failure as an engine error.
pub fn transport(e: impl std::fmt::Display) -> EngineError {
    EngineError::Transport(e.to_string())
}

/// Maps a server error to a NERTC code.
pub fn from_protocol(code: nertc_protocol::ErrorCode) -> Code {
    use nertc_protocol::ErrorCode as E;
    match code {
        E::TokenMissing
        | E::TokenMalformed
        | E::TokenBadSignature
        | E::TokenExpired
        | E::TokenWrongApp
        | E::TokenWrongChannel
        | E::TokenWrongUid => ERR_TOKEN,
        E::InvalidAppKey => ERR_APP_KEY,
        E::PermissionDenied => ERR_PERMISSION,
        E::InvalidChannel | E::InvalidUid => ERR_INVALID_PARAM,
        E::AlreadyJoined => ERR_ALREADY_JOINED,
        E::NotJoined => ERR_NOT_JOINED,
        _ => ERR_JOIN_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nertc_protocol::{ErrorBody, ErrorCode};
    use nertc_signal::SignalError;

    #[test]
    fn errors_map_to_codes() {
        let refused = |c| EngineError::Signal(SignalError::Refused(ErrorBody::new(c, "x"))).code();
        assert_eq!(refused(ErrorCode::TokenExpired), ERR_TOKEN);
        assert_eq!(refused(ErrorCode::InvalidAppKey), ERR_APP_KEY);
        assert_eq!(refused(ErrorCode::PermissionDenied), ERR_PERMISSION);
        assert_eq!(EngineError::Signal(SignalError::Closed).code(), ERR_CONNECT_FAILED);
        assert_eq!(EngineError::Busy.code(), ERR_BUSY);
        assert_eq!(EngineError::UnknownDevice("x".into()).code(), ERR_DEVICE_NOT_FOUND);
        assert_eq!(EngineError::Released.code(), ERR_NOT_INITIALIZED);
        // Every code an error maps to is listed with a description.
        for e in [EngineError::Busy, EngineError::NotJoined, EngineError::AlreadyJoined, EngineError::Transport("x".into())] {
            assert_ne!(description(e.code()), "unknown error code", "{e}");
        }
    }
}
