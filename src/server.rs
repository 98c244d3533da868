//! `NativeServer`: the embedded room server (`nertc_server`) as a JS class (wrapped by
//! `NERtcServer` in index.js). It runs on its own small tokio runtime; `start()` and `stop()`
//! return promises settled from that runtime, so the JS thread never waits.

use std::sync::{Arc, Mutex, MutexGuard};

use napi::bindgen_prelude::Object;
use napi::{Env, Error, Status};
use napi_derive::napi;

use nertc_server::{RunningServer, ServerConfig};

enum State {
    Idle,
    Starting,
    Running { server: RunningServer, url: String },
    Stopping,
}

#[napi]
pub struct NativeServer {
    config: ServerConfig,
    runtime: Option<tokio::runtime::Runtime>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// Parses the JSON form of the server's TOML config (same keys); `listen` defaults to
/// `127.0.0.1:0` (a free loopback port) instead of the standalone server's 8480.
pub fn parse_config(json: Option<&str>) -> Result<ServerConfig, String> {
    let Some(json) = json else {
        return Ok(ServerConfig::embedded());
    };
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("options are not valid JSON: {e}"))?;
    let Some(map) = value.as_object_mut() else {
        return Err("options must be an object".into());
    };
    if !map.contains_key("listen") {
        map.insert("listen".into(), serde_json::Value::String(ServerConfig::embedded().listen));
    }
    serde_json::from_value(value).map_err(|e| format!("invalid server options: {e}"))
}

impl Drop for NativeServer {
    fn drop(&mut self) {
        // Never block a finalizer: abandon whatever still runs (the listener closes with it).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[napi]
impl NativeServer {
    /// `config_json`: the server config as JSON (see [`parse_config`]), or null for defaults.
    #[napi(constructor)]
    pub fn new(config_json: Option<String>) -> napi::Result<Self> {
        let config = parse_config(config_json.as_deref()).map_err(|e| Error::new(Status::InvalidArg, e))?;
        Ok(NativeServer { config, runtime: None, state: Arc::new(Mutex::new(State::Idle)) })
    }

    fn handle(&mut self) -> napi::Result<tokio::runtime::Handle> {
        if let Some(rt) = &self.runtime {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("nertc-server")
            .enable_all()
            .build()
            .map_err(|e| Error::from_reason(format!("cannot start the server runtime: {e}")))?;
        let handle = rt.handle().clone();
        self.runtime = Some(rt);
        Ok(handle)
    }

    /// Resolves with `ws://127.0.0.1:PORT`. Resolves with the same URL when already running.
    #[napi]
    pub fn start<'env>(&mut self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<String, Resolver<String>>()?;
        let mut st = lock(&self.state);
        match &*st {
            State::Running { url, .. } => {
                let url = url.clone();
                deferred.resolve(Box::new(move |_| Ok(url)));
                return Ok(promise);
            }
            State::Starting | State::Stopping => {
                deferred.reject(Error::from_reason("the server is starting or stopping"));
                return Ok(promise);
            }
            State::Idle => {}
        }
        drop(st);
        let handle = match self.handle() {
            Ok(h) => h,
            Err(e) => {
                deferred.reject(e);
                return Ok(promise);
            }
        };
        st = lock(&self.state);
        *st = State::Starting;
        drop(st);
        let state = self.state.clone();
        let config = self.config.clone();
        handle.spawn(async move {
            match nertc_server::start(config).await {
                Ok(server) => {
                    let url = server.url();
                    *lock(&state) = State::Running { server, url: url.clone() };
                    deferred.resolve(Box::new(move |_| Ok(url)));
                }
                Err(e) => {
                    *lock(&state) = State::Idle;
                    deferred.reject(Error::from_reason(format!("cannot start the server: {e}")));
                }
            }
        });
        Ok(promise)
    }

    /// Tells every session `leave {reason: server_shutdown}` and stops listening. Resolves at
    /// once when not running; safe to call twice.
    #[napi]
    pub fn stop<'env>(&mut self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<(), Resolver<()>>()?;
        let mut st = lock(&self.state);
        match std::mem::replace(&mut *st, State::Stopping) {
            State::Running { server, .. } => {
                drop(st);
                let state = self.state.clone();
                let Some(rt) = &self.runtime else {
                    *lock(&self.state) = State::Idle;
                    deferred.resolve(Box::new(|_| Ok(())));
                    return Ok(promise);
                };
                rt.spawn(async move {
                    server.shutdown().await;
                    *lock(&state) = State::Idle;
                    deferred.resolve(Box::new(|_| Ok(())));
                });
            }
            State::Starting => {
                *st = State::Starting;
                deferred.reject(Error::from_reason("the server is starting; await start() before stop()"));
            }
            other => {
                *st = other;
                deferred.resolve(Box::new(|_| Ok(())));
            }
        }
        Ok(promise)
    }

    /// `ws://HOST:PORT` while running, else null.
    #[napi]
    pub fn url(&self) -> Option<String> {
        match &*lock(&self.state) {
            State::Running { url, .. } => Some(url.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_json() {
        let c = parse_config(None).expect("valid config");
        assert_eq!(c.listen, "127.0.0.1:0");
        let c = parse_config(Some(r#"{"apps": {"prod": {"secret": "s", "debug": false}}}"#)).expect("valid config");
        assert_eq!(c.listen, "127.0.0.1:0");
        assert_eq!(c.apps["prod"].secret, "s");
        assert!(!c.allows_unknown_apps());
        let c = parse_config(Some(r#"{"listen": "127.0.0.1:9999", "rtc": {"advertised_ip": "10.0.0.1"}}"#)).expect("valid config");
        assert_eq!(c.listen, "127.0.0.1:9999");
        assert_eq!(c.rtc.advertised_ip.as_deref(), Some("10.0.0.1"));
        assert!(parse_config(Some(r#"{"bogus": 1}"#)).is_err());
        assert!(parse_config(Some("[1]")).is_err());
        assert!(parse_config(Some("{")).is_err());
    }
}
