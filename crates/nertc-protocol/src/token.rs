//! Join tokens: JWT (RFC 7519) signed with HMAC-SHA256 (`alg: HS256`) under the app's secret.
//!
//! Claims: `app_key`, `channel`, `uid`, `iat`, `exp` (Unix seconds) and `perms`
//! (`{publish, subscribe}`, both true when absent). [`mint`] signs one; [`verify`] checks the
//! signature, expiry and that the token names the app, channel and uid of the join, and returns
//! a distinct [`TokenError`] for each way it can fail.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{ErrorCode, Uid};

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    #[serde(default = "yes")]
    pub publish: bool,
    #[serde(default = "yes")]
    pub subscribe: bool,
}

fn yes() -> bool {
    true
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions { publish: true, subscribe: true }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub app_key: String,
    pub channel: String,
    pub uid: Uid,
    #[serde(default)]
    pub iat: u64,
    pub exp: u64,
    #[serde(default)]
    pub perms: Permissions,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token signature does not match the app secret")]
    BadSignature,
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: u64, now: u64 },
    #[error("token is for app {0:?}")]
    WrongApp(String),
    #[error("token is for channel {0:?}")]
    WrongChannel(String),
    #[error("token is for uid {0}")]
    WrongUid(Uid),
}

impl TokenError {
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Malformed(_) => ErrorCode::TokenMalformed,
            TokenError::BadSignature => ErrorCode::TokenBadSignature,
            TokenError::Expired { .. } => ErrorCode::TokenExpired,
            TokenError::WrongApp(_) => ErrorCode::TokenWrongApp,
            TokenError::WrongChannel(_) => ErrorCode::TokenWrongChannel,
            TokenError::WrongUid(_) => ErrorCode::TokenWrongUid,
        }
    }
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Signs `claims` with `secret`.
pub fn sign(claims: &Claims, secret: &str) -> String {
    let payload = serde_json::to_vec(claims).expect("Claims always serialise");
    let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = m.finalize().into_bytes();
    format!("{signing_input}.{}", B64.encode(sig))
}

/// Mints a token for `uid` in `channel` of `app_key`, valid for `ttl_secs` from `now`.
pub fn mint(app_key: &str, secret: &str, channel: &str, uid: Uid, now: u64, ttl_secs: u64) -> String {
    let claims = Claims {
        app_key: app_key.to_owned(),
        channel: channel.to_owned(),
        uid,
        iat: now,
        exp: now.saturating_add(ttl_secs),
        perms: Permissions::default(),
    };
    sign(&claims, secret)
}

/// The claims of a token **without checking it** (no signature, no expiry): for a client to
/// learn when its own token expires. Never use it to authorise anything.
pub fn claims_unverified(token: &str) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(_), Some(p), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed("expected three dot-separated parts".into()));
    };
    let payload = B64.decode(p).map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
    serde_json::from_slice(&payload).map_err(|e| TokenError::Malformed(format!("claims: {e}")))
}

/// Checks the signature and expiry only, returning the claims.
pub fn decode(token: &str, secret: &str, now: u64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed("expected three dot-separated parts".into()));
    };
    let header = B64.decode(h).map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    let header: serde_json::Value = serde_json::from_slice(&header).map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(TokenError::Malformed("alg must be HS256".into()));
    }
    let sig = B64.decode(s).map_err(|e| TokenError::Malformed(format!("signature: {e}")))?;
    let mut m = mac(secret);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
    let payload = B64.decode(p).map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
    if claims.exp <= now {
        return Err(TokenError::Expired { exp: claims.exp, now });
    }
    Ok(claims)
}

/// Full check for a join: signature, expiry, and that the token names this app, channel, uid.
pub fn verify(token: &str, secret: &str, app_key: &str, channel: &str, uid: Uid, now: u64) -> Result<Claims, TokenError> {
    let claims = decode(token, secret, now)?;
    if claims.app_key != app_key {
        return Err(TokenError::WrongApp(claims.app_key));
    }
    if claims.channel != channel {
        return Err(TokenError::WrongChannel(claims.channel));
    }
    if claims.uid != uid {
        return Err(TokenError::WrongUid(claims.uid));
    }
    Ok(claims)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unverified_claims_are_read_without_the_secret() {
        let t = mint("app", "secret", "room", 7, 1000, 60);
        let c = claims_unverified(&t).unwrap();
        assert_eq!((c.uid, c.exp), (7, 1060));
        assert!(claims_unverified("a.b").is_err());
        assert!(claims_unverified("a.!!!.c").is_err());
    }

    #[test]
    fn each_failure_is_distinct() {
        let t = mint("app", "s3cret", "room", 7, 1000, 60);
        assert!(verify(&t, "s3cret", "app", "room", 7, 1001).is_ok());
        let code = |r: Result<Claims, TokenError>| r.unwrap_err().code();
        assert_eq!(code(verify(&t, "other", "app", "room", 7, 1001)), ErrorCode::TokenBadSignature);
        assert_eq!(code(verify(&t, "s3cret", "app", "room", 7, 1060)), ErrorCode::TokenExpired);
        assert_eq!(code(verify(&t, "s3cret", "app2", "room", 7, 1001)), ErrorCode::TokenWrongApp);
        assert_eq!(code(verify(&t, "s3cret", "app", "hall", 7, 1001)), ErrorCode::TokenWrongChannel);
        assert_eq!(code(verify(&t, "s3cret", "app", "room", 8, 1001)), ErrorCode::TokenWrongUid);
        assert_eq!(code(verify("abc", "s3cret", "app", "room", 7, 1001)), ErrorCode::TokenMalformed);
        assert_eq!(code(verify("a.b.c", "s3cret", "app", "room", 7, 1001)), ErrorCode::TokenMalformed);
        // Tampered payload: signature no longer matches.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(br#"{"app_key":"app","channel":"room","uid":8,"exp":99999}"#);
        parts[1] = &forged;
        assert_eq!(code(verify(&parts.join("."), "s3cret", "app", "room", 8, 1001)), ErrorCode::TokenBadSignature);
    }

    #[test]
    fn permissions_default_to_all() {
        let claims = Claims {
            app_key: "a".into(),
            channel: "c".into(),
            uid: 1,
            iat: 0,
            exp: 10,
            perms: Permissions { publish: false, subscribe: true },
        };
        let t = sign(&claims, "k");
        assert!(!decode(&t, "k", 5).unwrap().perms.publish);
    }
}
