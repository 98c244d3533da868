//! `nertc-electron-sdk`: the N-API addon. Binding only — the media engine is
//! `crates/nertc-engine`, the room server `crates/nertc-server`.
//!
//! Exports (wrapped by `index.js`, which is the public API):
//! - `NativeEngine` ([`engine`]): the engine's methods, an event thread feeding one weak
//!   thread-safe function, and `pullFrame` for the JS frame pump;
//! - `NativeServer` ([`server`]): the embedded room server with promise-based start/stop;
//! - `version()`, `errorDescription(code)`, `errorCodes()`, `configureLogging(dir, level,
//!   maxKb)`, `createToken(appKey, secret, channel, uid, ttlSecs)`.
//!
//! Rules kept here: nothing panics across the boundary (no unwrap/expect on fallible paths;
//! bad arguments become NERTC codes or JS exceptions that index.js turns into codes), nothing
//! blocks the JS thread (engine teardown runs on its own thread), and no external buffers
//! (frames are copied into JS-owned memory; Electron 21+ forbids external ones).

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;

pub mod engine;
pub mod events;
pub mod server;

use events::Arg;

/// A uid from JS (number or BigInt): 1 ..= 2^64-1, integral; None otherwise.
pub fn uid_from_js(v: &Either<f64, BigInt>) -> Option<u64> {
    match v {
        Either::A(n) => {
            // 2^64 as f64; every integral f64 below it fits in a u64.
            if n.is_finite() && n.fract() == 0.0 && *n >= 1.0 && *n < 18_446_744_073_709_551_616.0 { Some(*n as u64) } else { None }
        }
        Either::B(b) => {
            let lossless = !b.sign_bit && b.words.len() <= 1;
            let value = b.words.first().copied().unwrap_or(0);
            (lossless && value != 0).then_some(value)
        }
    }
}

/// The SDK version (`getVersion()`).
#[napi]
pub fn version() -> String {
    nertc_engine::version().to_owned()
}

/// `getErrorDescription(code)`.
#[napi]
pub fn error_description(code: i32) -> String {
    nertc_engine::error::description(code).to_owned()
}

/// `[[code, description]]` for every code the SDK returns.
#[napi]
pub fn error_codes() -> Vec<Arg> {
    nertc_engine::error::ALL.iter().map(|(code, desc)| Arg::Array(vec![Arg::Int(i64::from(*code)), Arg::Str((*desc).to_owned())])).collect()
}

/// Log directory (null: no file), NERTC level (0 fatal .. 3 info .. 7 off), file cap in KB
/// (0 = 20 MB). Process-wide.
#[napi]
pub fn configure_logging(dir: Option<String>, level: i32, max_file_kb: f64) -> i32 {
    let kb = if max_file_kb.is_finite() && max_file_kb > 0.0 { max_file_kb as u64 } else { 0 };
    nertc_engine::logging::configure(dir.as_deref().map(std::path::Path::new), level, kb)
}

/// A join token signed with the app's secret, valid `ttl_secs` from now.
#[napi]
pub fn create_token(app_key: String, secret: String, channel: String, uid: Either<f64, BigInt>, ttl_secs: f64) -> napi::Result<String> {
    let Some(uid) = uid_from_js(&uid) else {
        return Err(napi::Error::new(napi::Status::InvalidArg, "uid must be a positive integer"));
    };
    if let Err(e) = nertc_protocol::validate::channel_name(&channel) {
        return Err(napi::Error::new(napi::Status::InvalidArg, e.to_string()));
    }
    let ttl = if ttl_secs.is_finite() && ttl_secs > 0.0 { ttl_secs as u64 } else { 0 };
    Ok(nertc_server::mint_token(&app_key, &secret, &channel, uid, nertc_server::now_secs(), ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids() {
        assert_eq!(uid_from_js(&Either::A(42.0)), Some(42));
        assert_eq!(uid_from_js(&Either::A(0.0)), None);
        assert_eq!(uid_from_js(&Either::A(-1.0)), None);
        assert_eq!(uid_from_js(&Either::A(1.5)), None);
        assert_eq!(uid_from_js(&Either::A(f64::NAN)), None);
        assert_eq!(uid_from_js(&Either::A(18_446_744_073_709_551_616.0)), None);
        assert_eq!(uid_from_js(&Either::B(BigInt::from(u64::MAX))), Some(u64::MAX));
        assert_eq!(uid_from_js(&Either::B(BigInt::from(0u64))), None);
        assert_eq!(uid_from_js(&Either::B(BigInt { sign_bit: true, words: vec![5] })), None);
        assert_eq!(uid_from_js(&Either::B(BigInt { sign_bit: false, words: vec![1, 1] })), None);
    }
}
