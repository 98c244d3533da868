//! Join admission: app key, channel name, uid and token checks, each failing with its own code.

use nertc_protocol::token::{self, Permissions};
use nertc_protocol::{ErrorBody, ErrorCode, JoinRequest, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, validate};

use crate::config::ServerConfig;

/// Longest token verified ([`nertc_protocol::MAX_TOKEN_BYTES`]): a longer one is refused as
/// `token_malformed` before any decoding. (A join frame must also fit in
/// `limits.max_frame_bytes`: a larger frame closes the socket with 1009 before it is read.)
pub use nertc_protocol::MAX_TOKEN_BYTES;

/// Checks a `renew_token` of a live session: the token must be valid now and name the
/// session's app, channel and uid. Returns its permissions and expiry (0 for an unknown debug
/// app, which has no secret to check tokens with).
pub fn renew(
    config: &ServerConfig,
    app_key: &str,
    channel: &str,
    uid: nertc_protocol::Uid,
    t: &str,
    now: u64,
) -> Result<(Permissions, u64), ErrorBody> {
    if t.is_empty() {
        return Err(ErrorBody::new(ErrorCode::TokenMissing, "renew_token needs a token"));
    }
    if t.len() > MAX_TOKEN_BYTES {
        return Err(ErrorBody::new(
            ErrorCode::TokenMalformed,
            format!("the token is {} bytes long; at most {MAX_TOKEN_BYTES} are accepted", t.len()),
        ));
    }
    let Some(app) = config.apps.get(app_key) else {
        return Ok((Permissions::default(), 0));
    };
    token::verify(t, &app.secret, app_key, channel, uid, now)
        .map(|claims| (claims.perms, claims.exp))
        .map_err(|e| ErrorBody::new(e.code(), e.to_string()))
}

/// Checks a join and returns what the session may do. A resume is checked for well-formed
/// fields and a known app, but not for a token: its resume token (checked by the room)
/// authorises it, even after the join token expired.
pub fn admit(config: &ServerConfig, req: &JoinRequest, now: u64) -> Result<Permissions, ErrorBody> {
    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&req.protocol) {
        return Err(ErrorBody::new(
            ErrorCode::UnsupportedProtocol,
            format!("protocol {} is not supported; this server speaks {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}", req.protocol),
        ));
    }
    validate::channel_name(&req.channel).map_err(|e| ErrorBody::new(ErrorCode::InvalidChannel, e.to_string()))?;
    if !validate::uid(req.uid) {
        return Err(ErrorBody::new(ErrorCode::InvalidUid, "uid must be a non-zero integer"));
    }
    let token = req.token.as_deref().filter(|t| !t.is_empty());
    let app = match config.apps.get(&req.app_key) {
        Some(app) => app,
        None if config.allows_unknown_apps() && !req.app_key.is_empty() => {
            // Unknown apps are debug apps with no secret: they cannot check a token.
            return Ok(Permissions::default());
        }
        None => {
            return Err(ErrorBody::new(ErrorCode::InvalidAppKey, format!("unknown app key {:?}", req.app_key)));
        }
    };
    if req.resume.is_some() {
        return Ok(Permissions::default());
    }
    match token {
        None if app.debug => Ok(Permissions::default()),
        None => Err(ErrorBody::new(ErrorCode::TokenMissing, "this app requires a token")),
        Some(t) if t.len() > MAX_TOKEN_BYTES => Err(ErrorBody::new(
            ErrorCode::TokenMalformed,
            format!("the token is {} bytes long; at most {MAX_TOKEN_BYTES} are accepted", t.len()),
        )),
        Some(t) => token::verify(t, &app.secret, &req.app_key, &req.channel, req.uid, now)
            .map(|claims| claims.perms)
            .map_err(|e| ErrorBody::new(e.code(), e.to_string())),
    }
}
