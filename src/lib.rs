//! `nertc-electron-sdk`: the N-API addon. Binding only — the media engine is
//! `crates/nertc-engine`, the room server `crates/nertc-server`.
//!
//! Exports (wrapped by `index.js`, which is the public API):
//! - `NativeEngine` ([`engine`]): the engine's methods, an event thread feeding one weak
//!   thread-safe function, and `pullFrame` for the JS frame pump;
//! - `NativeServer` ([`server`]): the embedded room server with promise-based start/stop;
//! - `version()`, `errorDescription(code)`, `errorCodes()`, `eventNames()`, `checkUid(uid)`,
//!   `configureLogging(dir, level, maxKb)`, `createToken(appKey, secret, channel, uid, ttlSecs)`,
//!   `notSupported(method, first)` (logs a NERTC method this SDK lacks, returns 30004).
//!
//! Conversions live in two modules: [`convert`] (JS → engine: every argument's value is checked
//! there) and [`events`] (engine → JS: events, device lists, frames).
//!
//! Rules kept here: nothing panics across the boundary (no unwrap/expect on fallible paths;
//! bad arguments become NERTC codes or JS exceptions that index.js turns into codes), nothing
//! blocks the JS thread (engine teardown runs on its own thread), and no external buffers
//! (frames are copied into JS-owned memory; Electron 21+ forbids external ones).

use napi::bindgen_prelude::BigInt;
use napi_derive::napi;

pub mod convert;
pub mod engine;
pub mod events;
pub mod server;

use convert::JsUid;
use events::Arg;

/// The SDK version (`getVersion()`).
#[napi]
pub fn version() -> String {
    nertc_engine::version().to_owned()
}

/// `getErrorDescription(code)`; a number that is not an int32 is an unknown code.
#[napi]
pub fn error_description(code: f64) -> String {
    nertc_engine::error::description(convert::int32(code).unwrap_or(-1)).to_owned()
}

/// A NERTC method this SDK does not have was called: logs it (warn for an engine's first call
/// of it, `first`, else debug) and returns 30004, NERTC's "not supported". index.js calls it for
/// every such method.
#[napi]
pub fn not_supported(method: String, first: bool) -> i32 {
    nertc_engine::api::not_supported(&method, first)
}

/// `[[code, description]]` for every code the SDK returns.
#[napi]
pub fn error_codes() -> Vec<Arg> {
    nertc_engine::error::ALL.iter().map(|(code, desc)| Arg::Array(vec![Arg::Int(i64::from(*code)), Arg::Str((*desc).to_owned())])).collect()
}

/// The NERTC name of every event the engine can emit, one per `EngineEvent` variant (the list
/// fails to compile when a variant is added without being listed: [`events::event_samples`]).
#[napi]
pub fn event_names() -> Vec<&'static str> {
    events::event_names()
}

/// A uid (number or BigInt) as a BigInt when it is one (1 ..= 2^64-1), else null: index.js keys
/// its canvases with it, by the same rule the engine's methods apply.
#[napi]
pub fn check_uid(uid: JsUid) -> Option<BigInt> {
    convert::uid(&uid).ok().map(BigInt::from)
}

/// Log directory (null: no file), NERTC level (0 fatal .. 3 info .. 7 off), file cap in KB
/// (0 = 20 MB). Process-wide. 30003 when the level or the cap is not an integral number (the
/// cap not negative).
#[napi]
pub fn configure_logging(dir: Option<String>, level: f64, max_file_kb: f64) -> i32 {
    let (level, kb) = match (convert::log_level(level), convert::log_file_kb(max_file_kb)) {
        (Ok(level), Ok(kb)) => (level, kb),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    nertc_engine::logging::configure(dir.as_deref().map(std::path::Path::new), level, kb)
}

/// A join token signed with the app's secret, valid `ttl_secs` from now. Throws (InvalidArg) on
/// a uid, channel name or lifetime that is not one.
#[napi]
pub fn create_token(app_key: String, secret: String, channel: String, uid: JsUid, ttl_secs: f64) -> napi::Result<String> {
    let uid = convert::token_uid(&uid)?;
    let channel = convert::token_channel(&channel)?;
    let ttl = convert::ttl_secs(ttl_secs)?;
    Ok(nertc_server::mint_token(&app_key, &secret, channel, uid, nertc_server::now_secs(), ttl))
}
