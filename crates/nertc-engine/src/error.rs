//! NERTC's numeric result codes (0 = OK) and their descriptions.
//!
//! Every synchronous engine method returns one of these; asynchronous failures arrive as
//! `EngineEvent::Error { code, .. }` or as the `result` of a join/leave event. The numbers are
//! NERTC 5.x's `NERtcErrorCode` (its `kNERtcErr*` name is given with each constant), so an app
//! written for NERTC reads them unchanged. Codes this SDK adds beyond NERTC's live in
//! [`OWN_CODES`] (30900..=30999), a range NERTC's enum does not use.

/// A NERTC result code.
pub type Code = i32;

pub const OK: Code = 0;
/// Generic failure (`kNERtcErrFatal`).
pub const ERR_FATAL: Code = 30001;
/// A parameter is out of range or malformed (channel name, uid, config, frame size ...)
/// (`kNERtcErrInvalidParam`).
pub const ERR_INVALID_PARAM: Code = 30003;
/// The feature does not exist in this SDK (`kNERtcErrNotSupported`): every NERTC method this
/// SDK lacks returns it, logged, and never throws.
pub const ERR_NOT_SUPPORTED: Code = 30004;
/// The call is not valid in the current state (`kNERtcErrInvalidState`): NERTC uses this one
/// code for every state error, including "not initialized" and "released".
pub const ERR_INVALID_STATE: Code = 30005;
/// Device id unknown or the device cannot be opened (`kNERtcErrDeviceNotFound`).
pub const ERR_DEVICE_NOT_FOUND: Code = 30008;
/// A video profile (`max_profile`) outside NERTC's list (`kNERtcErrInvalidVideoProfile`).
pub const ERR_INVALID_VIDEO_PROFILE: Code = 30010;
/// A canvas view that cannot be drawn on (`kNERtcErrInvalidRender`).
pub const ERR_INVALID_RENDER: Code = 30012;
/// The room server cannot be reached, or the connection to it broke before an answer
/// (`kNERtcErrConnectFail`).
pub const ERR_CONNECT_FAIL: Code = 30015;
/// joinChannel while joined or joining (`kNERtcErrChannelAlreadyJoined`).
pub const ERR_ALREADY_JOINED: Code = 30100;
/// Media from a member that cannot be decrypted: the keys or modes of `enableEncryption`
/// differ, or one side encrypts and the other does not (`kNERtcErrEncryptNotSuitable`, named
/// in NERTC 5.x's `enableEncryption` documentation). Reported through onError once per
/// received stream.
pub const ERR_ENCRYPT_NOT_SUITABLE: Code = 30113;
/// leaveChannel (or a channel operation) while not in a channel (`kNERtcErrChannelNotJoined`).
pub const ERR_NOT_JOINED: Code = 30101;
/// The server refused the join for a reason without a code of its own
/// (`kNERtcErrRequestJoinChannelFail`).
pub const ERR_REQUEST_JOIN_FAILED: Code = 30103;
/// The server refused the uid (`kNERtcErrInvalidUserID`).
pub const ERR_INVALID_USER_ID: Code = 30106;
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
/// No permission (`kNERtcErrChannelReservePermissionDenied`): the token is missing,
/// malformed, wrongly signed, expired or for another channel/uid; the app key is unknown to
/// the server; or the token does not permit publishing/subscribing.
pub const ERR_PERMISSION_DENIED: Code = 403;
/// The server did not answer a request in time (`kNERtcErrChannelJoinTimeOut`).
pub const ERR_JOIN_TIMEOUT: Code = 20101;

/// Codes this SDK adds beyond NERTC's: 30900..=30999, unused by NERTC's `NERtcErrorCode`.
pub const OWN_CODES: std::ops::RangeInclusive<Code> = 30900..=30999;
/// A user event handler threw (reported through onWarning, never crashes the process). Ours.
pub const WARN_HANDLER_THREW: Code = 30900;
/// The engine's command queue is full (the engine is [`crate::api::COMMAND_QUEUE`] commands
/// behind); the call was not carried out. Ours.
pub const ERR_BUSY: Code = 30901;

/// Former name of [`ERR_INVALID_STATE`] (before NERTC's numbering: not initialized was 30005,
/// other state errors 30004); kept so older call sites keep compiling.
pub const ERR_NOT_INITIALIZED: Code = ERR_INVALID_STATE;
/// Former name of [`ERR_INVALID_STATE`].
pub const ERR_WRONG_STATE: Code = ERR_INVALID_STATE;
/// Former name of [`ERR_CONNECT_FAIL`] (was 30200, NERTC's "connection not found").
pub const ERR_CONNECT_FAILED: Code = ERR_CONNECT_FAIL;
/// Former name of [`ERR_PERMISSION_DENIED`] for token failures.
pub const ERR_TOKEN: Code = ERR_PERMISSION_DENIED;

/// Every code this SDK returns, with its description.
pub const ALL: &[(Code, &str)] = &[
    (OK, "OK"),
    (ERR_FATAL, "generic failure"),
    (ERR_INVALID_PARAM, "invalid parameter"),
    (ERR_NOT_SUPPORTED, "not supported by this SDK"),
    (ERR_INVALID_STATE, "not valid in the current state (not initialized, released, or a wrong moment for this call)"),
    (ERR_DEVICE_NOT_FOUND, "device not found or cannot be opened"),
    (ERR_INVALID_VIDEO_PROFILE, "invalid video profile"),
    (ERR_INVALID_RENDER, "the canvas view cannot be drawn on"),
    (ERR_CONNECT_FAIL, "cannot connect to the room server"),
    (ERR_ALREADY_JOINED, "already in a channel or joining"),
    (ERR_NOT_JOINED, "not in a channel"),
    (ERR_REQUEST_JOIN_FAILED, "join refused by the server"),
    (ERR_INVALID_USER_ID, "invalid user id"),
    (ERR_ENCRYPT_NOT_SUITABLE, "media cannot be decrypted: another encryption key or mode, or encryption on one side only"),
    (ERR_MEDIA_DISCONNECTED, "media connection lost and not recovered"),
    (ERR_SIGNAL_DISCONNECTED, "signaling connection lost and not recovered"),
    (ERR_KICKED, "removed from the channel by the server"),
    (ERR_ROOM_CLOSED, "removed because the room closed"),
    (ERR_PERMISSION_DENIED, "no permission: token missing, invalid or expired, app key unknown, or not permitted by the token"),
    (ERR_JOIN_TIMEOUT, "the server did not answer in time"),
    (WARN_HANDLER_THREW, "an event handler threw an exception"),
    (ERR_BUSY, "the engine is busy: its command queue is full"),
];

/// NERTC's other codes (its `NERtcErrorCode`), which this SDK does not return, so that
/// `getErrorDescription` explains any code an app written for NERTC may hold.
const NERTC_OTHERS: &[(Code, &str)] = &[
    (408, "request timed out"),
    (414, "the server refused a request parameter"),
    (500, "unknown server error while reserving the channel"),
    (600, "the channel allows two users only"),
    (1301, "live stream task request superseded by a later one"),
    (1400, "live stream task parameters malformed"),
    (1401, "live stream task: the room was left"),
    (1402, "too many live stream tasks"),
    (1403, "live stream task id already used"),
    (1404, "live stream task or channel not found"),
    (1417, "live stream task request failed"),
    (1500, "live stream server error"),
    (1501, "live stream layout invalid"),
    (1512, "live stream user picture invalid"),
    (11000, "channel start failed"),
    (11001, "disconnected"),
    (11002, "this SDK version is too old"),
    (11003, "the other side's SDK version is too old"),
    (11004, "channel closed"),
    (11005, "account kicked"),
    (11400, "data error"),
    (11403, "invalid operation"),
    (20102, "channel mode (meeting) mismatch"),
    (20103, "RTMP user joining a non-RTMP channel"),
    (20104, "too many RTMP users in the channel"),
    (20105, "the channel already has a host"),
    (20106, "live streaming needs the channel creator to be a host"),
    (20208, "host layout invalid"),
    (20400, "invalid join parameter"),
    (20401, "encryption key error"),
    (20417, "invalid join request"),
    (20500, "server internal error"),
    (30002, "out of memory"),
    (30006, "out of resources"),
    (30007, "invalid index"),
    (30009, "invalid device id"),
    (30011, "device creation failed"),
    (30013, "device preview already started"),
    (30014, "transmission pending"),
    (30016, "cannot create the audio dump file"),
    (30017, "cannot start the audio dump"),
    (30020, "screen capture in a wrong state"),
    (30021, "screen capture parameter invalid"),
    (30022, "screen capture not ready"),
    (30102, "left the channel twice"),
    (30104, "session not found"),
    (30105, "user not found"),
    (30107, "user media not started"),
    (30108, "source not found"),
    (30200, "connection not found"),
    (30201, "media stream not found"),
    (30202, "adding a track failed"),
    (30203, "track not found"),
    (40000, "no permission to use the audio device"),
    (50000, "no permission to use the video device"),
    (60000, "no permission to capture the screen"),
];

/// `getErrorDescription(code)`: this SDK's codes, then NERTC's others.
pub fn description(code: Code) -> &'static str {
    ALL.iter().chain(NERTC_OTHERS).find(|(c, _)| *c == code).map_or("unknown error code", |(_, d)| d)
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
    #[error("invalid video profile {0} (NERTC's max_profile is 0..=4)")]
    InvalidVideoProfile(i32),
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
    /// Screen capture failures with NERTC's desktop-capture codes ([`ERR_SCREEN_STATE`],
    /// [`ERR_SCREEN_PARAM`], [`ERR_SCREEN_NOT_READY`]) or 30004 where there is no back end.
    #[error("screen capture: {1}")]
    Screen(Code, String),
}

/// NERTC's "screen capture in a wrong state" (pause, resume, update without a capture).
pub const ERR_SCREEN_STATE: Code = 30020;
/// NERTC's "screen capture parameter invalid" (unknown display or window, rectangle off screen).
pub const ERR_SCREEN_PARAM: Code = 30021;
/// NERTC's "screen capture not ready" (no display server to capture from).
pub const ERR_SCREEN_NOT_READY: Code = 30022;

/// Result of the engine's fallible operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// The NERTC code this error is reported with.
    pub fn code(&self) -> Code {
        use nertc_signal::SignalError as S;
        match self {
            EngineError::Released => ERR_INVALID_STATE,
            EngineError::InvalidParam(_) => ERR_INVALID_PARAM,
            EngineError::WrongState(_) => ERR_INVALID_STATE,
            EngineError::NotSupported(_) => ERR_NOT_SUPPORTED,
            EngineError::InvalidVideoProfile(_) => ERR_INVALID_VIDEO_PROFILE,
            EngineError::AlreadyJoined => ERR_ALREADY_JOINED,
            EngineError::NotJoined => ERR_NOT_JOINED,
            EngineError::Busy => ERR_BUSY,
            EngineError::UnknownDevice(_) | EngineError::Device { .. } => ERR_DEVICE_NOT_FOUND,
            EngineError::Signal(S::Refused(body)) => from_protocol(body.code),
            EngineError::Signal(S::Timeout(_)) => ERR_JOIN_TIMEOUT,
            EngineError::Signal(S::Busy) => ERR_BUSY,
            EngineError::Signal(S::Connect { .. } | S::Closed | S::BadReply(_)) => ERR_CONNECT_FAIL,
            EngineError::Transport(_) | EngineError::Thread(_) => ERR_FATAL,
            EngineError::Screen(code, _) => *code,
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
        | E::TokenWrongUid
        | E::InvalidAppKey
        | E::PermissionDenied => ERR_PERMISSION_DENIED,
        E::InvalidChannel => ERR_INVALID_PARAM,
        E::InvalidUid => ERR_INVALID_USER_ID,
        E::AlreadyJoined => ERR_ALREADY_JOINED,
        E::NotJoined => ERR_NOT_JOINED,
        _ => ERR_REQUEST_JOIN_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nertc_protocol::{ErrorBody, ErrorCode};
    use nertc_signal::SignalError;

    #[test]
    fn errors_map_to_nertc_codes() {
        let refused = |c| EngineError::Signal(SignalError::Refused(ErrorBody::new(c, "x"))).code();
        assert_eq!(refused(ErrorCode::TokenExpired), 403);
        assert_eq!(refused(ErrorCode::InvalidAppKey), 403);
        assert_eq!(refused(ErrorCode::PermissionDenied), 403);
        assert_eq!(refused(ErrorCode::InvalidUid), 30106);
        assert_eq!(refused(ErrorCode::InvalidChannel), 30003);
        assert_eq!(refused(ErrorCode::Internal), 30103);
        assert_eq!(EngineError::Signal(SignalError::Closed).code(), 30015);
        assert_eq!(EngineError::Signal(SignalError::Connect { url: "ws://x".into(), why: "refused".into() }).code(), 30015);
        assert_eq!(EngineError::Signal(SignalError::Timeout(std::time::Duration::from_secs(1))).code(), 20101);
        assert_eq!(EngineError::NotSupported("x").code(), 30004);
        assert_eq!(EngineError::InvalidVideoProfile(7).code(), 30010);
        assert_eq!(EngineError::WrongState("x").code(), 30005);
        assert_eq!(EngineError::Released.code(), 30005, "NERTC has one state error, also for released engines");
        assert_eq!(EngineError::Busy.code(), ERR_BUSY);
        assert_eq!(EngineError::UnknownDevice("x".into()).code(), 30008);
        // Every code an error maps to is listed with a description.
        for e in [EngineError::Busy, EngineError::NotJoined, EngineError::AlreadyJoined, EngineError::Transport("x".into())] {
            assert_ne!(description(e.code()), "unknown error code", "{e}");
        }
    }

    #[test]
    fn codes_are_nertcs_or_in_our_own_range() {
        // The NERtcErrorCode values (NERTC 5.x defs.ts) this SDK uses, and 30113, which NERTC's
        // enableEncryption documentation names (kNERtcErrEncryptNotSuitable).
        const NERTC: &[Code] = &[
            0, 403, 20101, 30001, 30003, 30004, 30005, 30008, 30010, 30012, 30015, 30100, 30101, 30103, 30106, 30113, 30204, 30205, 30206,
            30207,
        ];
        for (code, desc) in ALL {
            assert!(NERTC.contains(code) || OWN_CODES.contains(code), "{code} ({desc}) is neither NERTC's nor in 30900..=30999");
        }
        for (code, _) in NERTC_OTHERS {
            assert!(!ALL.iter().any(|(c, _)| c == code), "{code} is listed twice");
            assert!(!OWN_CODES.contains(code));
        }
        assert_eq!(description(30200), "connection not found", "NERTC's meaning, no longer ours");
        let mut codes: Vec<Code> = ALL.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len(), "each code is listed once");
    }
}
