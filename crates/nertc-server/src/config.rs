//! Server configuration, read from TOML (`nertc-server --config server.toml`) or built in code
//! for the embedded server. Every field has a default, so an empty file is a valid config.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// HTTP + WebSocket listen address. Port 0 picks a free port.
    pub listen: String,
    /// `app_key -> {secret, debug}`.
    pub apps: BTreeMap<String, AppConfig>,
    /// Accept app keys that are not in `apps`, as debug apps (null token). Defaults to true
    /// only when `apps` is empty, so a bare server works for demos and tests.
    pub allow_unknown_apps: Option<bool>,
    pub rtc: RtcConfig,
    pub timeouts: Timeouts,
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8480".into(),
            apps: BTreeMap::new(),
            allow_unknown_apps: None,
            rtc: RtcConfig::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
        }
    }
}

impl ServerConfig {
    /// A config for in-process use: loopback, a free port, any app key in debug mode.
    pub fn embedded() -> Self {
        ServerConfig { listen: "127.0.0.1:0".into(), ..Default::default() }
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn allows_unknown_apps(&self) -> bool {
        self.allow_unknown_apps.unwrap_or(self.apps.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    pub secret: String,
    /// Debug apps accept a null or empty token.
    #[serde(default)]
    pub debug: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtcConfig {
    /// Address the media sockets bind to. Loopback by default; `0.0.0.0` is not usable on
    /// loopback-only hosts (the ICE agent skips loopback candidates for wildcard binds).
    pub bind_ip: IpAddr,
    /// IP written into ICE candidates instead of the bound one (1:1 NAT, containers).
    pub advertised_ip: Option<String>,
    /// UDP port range for media sockets, one port per peer connection; 0/0 = ephemeral.
    pub udp_port_min: u16,
    pub udp_port_max: u16,
}

impl Default for RtcConfig {
    fn default() -> Self {
        RtcConfig { bind_ip: IpAddr::from([127, 0, 0, 1]), advertised_ip: None, udp_port_min: 0, udp_port_max: 0 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// A socket that has not sent `join` by then is closed.
    pub join_ms: u64,
    pub ping_interval_ms: u64,
    /// A joined socket silent for this long is closed (the session is then detached).
    pub ping_timeout_ms: u64,
    /// How long a detached session waits for a resume before it is closed.
    pub resume_window_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { join_ms: 5_000, ping_interval_ms: 5_000, ping_timeout_ms: 15_000, resume_window_ms: 30_000 }
    }
}

impl Timeouts {
    pub fn join(&self) -> Duration {
        Duration::from_millis(self.join_ms)
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }
    pub fn resume_window(&self) -> Duration {
        Duration::from_millis(self.resume_window_ms)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted WebSocket message.
    pub max_frame_bytes: usize,
    /// More frames than this within one second closes the socket ("rate limited").
    pub max_frames_per_sec: u32,
    /// Frames queued towards one client; a client that lets it fill is disconnected.
    pub outbound_queue: usize,
    /// Room events kept per session for replay on resume.
    pub replay_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_frame_bytes: nertc_protocol::MAX_FRAME_BYTES, max_frames_per_sec: 200, outbound_queue: 1024, replay_events: 256 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_config_parses() {
        let text = include_str!("../server.sample.toml");
        let cfg = ServerConfig::from_toml(text).unwrap();
        assert!(cfg.apps.contains_key("demo"));
        assert!(!cfg.allows_unknown_apps());
        assert!(ServerConfig::from_toml("bogus = 1").is_err());
        assert!(ServerConfig::from_toml("").unwrap().allows_unknown_apps());
    }
}
