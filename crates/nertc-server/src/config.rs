//! Server configuration, read from TOML (`nertc-server --config server.toml`) or built in code
//! for the embedded server. Every field has a default, so an empty file is a valid config.
//! [`ServerConfig::validate`] checks every value before a server starts (`from_toml` and
//! [`crate::start`] call it), so a bad value is refused with its key named rather than failing
//! later, at a join.

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
    pub connections: Connections,
    /// Cluster mode: several nodes coordinated through Redis. Absent: a single node.
    pub cluster: Option<ClusterConfig>,
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
            connections: Connections::default(),
            cluster: None,
        }
    }
}

impl ServerConfig {
    /// A config for in-process use: loopback, a free port, any app key in debug mode.
    pub fn embedded() -> Self {
        ServerConfig { listen: "127.0.0.1:0".into(), ..Default::default() }
    }

    /// Parses and [validates](Self::validate) a config file's text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: ServerConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: &dyn std::fmt::Display, rule: &str| {
            Err(ConfigError::Invalid { key: key.to_owned(), value: value.to_string(), rule: rule.to_owned() })
        };
        let valid_listen = self.listen.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid_listen {
            return invalid("listen", &format!("{:?}", self.listen), "must be HOST:PORT, e.g. \"127.0.0.1:8480\" (port 0: any free port)");
        }
        for (key, app) in &self.apps {
            if key.is_empty() {
                return invalid("apps", &"\"\"", "an app key must not be empty");
            }
            if app.secret.is_empty() && !app.debug {
                return invalid(&format!("apps.{key}.secret"), &"\"\"", "must not be empty (anyone could sign tokens)");
            }
        }
        let rtc = &self.rtc;
        if let Some(ip) = &rtc.advertised_ip
            && ip.parse::<IpAddr>().is_err()
        {
            return invalid("rtc.advertised_ip", &format!("{ip:?}"), "must be an IP address");
        }
        if (rtc.udp_port_min == 0) != (rtc.udp_port_max == 0) {
            return invalid(
                "rtc.udp_port_min",
                &format!("{} (udp_port_max = {})", rtc.udp_port_min, rtc.udp_port_max),
                "set both udp_port_min and udp_port_max, or neither (0/0: ephemeral ports)",
            );
        }
        if rtc.udp_port_min > rtc.udp_port_max {
            return invalid("rtc.udp_port_max", &rtc.udp_port_max, &format!("must be at least udp_port_min ({})", rtc.udp_port_min));
        }
        if rtc.udp_port != 0 && rtc.udp_port_min != 0 {
            return invalid(
                "rtc.udp_port",
                &rtc.udp_port,
                "one port for every connection excludes a port range: set udp_port or udp_port_min/udp_port_max, not both",
            );
        }
        if rtc.udp_port != 0 && rtc.bind_ip.is_unspecified() {
            return invalid(
                "rtc.udp_port",
                &format!("{} (bind_ip = {})", rtc.udp_port, rtc.bind_ip),
                "needs a concrete rtc.bind_ip (the shared socket cannot tell which local address a datagram came to)",
            );
        }
        if rtc.tcp_port != 0 && rtc.bind_ip.is_unspecified() {
            return invalid(
                "rtc.tcp_port",
                &format!("{} (bind_ip = {})", rtc.tcp_port, rtc.bind_ip),
                "needs a concrete rtc.bind_ip (the address written into the TCP candidates)",
            );
        }
        if rtc.tcp_port != 0 && rtc.udp_port_min != 0 {
            return invalid("rtc.tcp_port", &rtc.tcp_port, "goes with udp_port or ephemeral UDP ports, not with udp_port_min/udp_port_max");
        }
        if rtc.tcp_only && rtc.tcp_port == 0 {
            return invalid("rtc.tcp_only", &rtc.tcp_only, "needs rtc.tcp_port (media over TCP only)");
        }
        let t = &self.timeouts;
        let ms_range = |key: &str, v: u64, min: u64, max: u64| {
            if (min..=max).contains(&v) { Ok(()) } else { invalid(key, &v, &format!("must be between {min} and {max} (milliseconds)")) }
        };
        ms_range("timeouts.join_ms", t.join_ms, 1, MAX_TIMEOUT_MS)?;
        ms_range("timeouts.ping_interval_ms", t.ping_interval_ms, 1, MAX_TIMEOUT_MS)?;
        ms_range("timeouts.ping_timeout_ms", t.ping_timeout_ms, 1, MAX_TIMEOUT_MS)?;
        if t.ping_timeout_ms <= t.ping_interval_ms {
            return invalid(
                "timeouts.ping_timeout_ms",
                &t.ping_timeout_ms,
                &format!("must be greater than timeouts.ping_interval_ms ({})", t.ping_interval_ms),
            );
        }
        ms_range("timeouts.resume_window_ms", t.resume_window_ms, 0, MAX_TIMEOUT_MS)?;
        let count = |key: &str, v: usize, min: usize, max: usize| {
            if (min..=max).contains(&v) { Ok(()) } else { invalid(key, &v, &format!("must be between {min} and {max}")) }
        };
        let l = &self.limits;
        count("limits.max_frame_bytes", l.max_frame_bytes, MIN_FRAME_LIMIT, MAX_FRAME_LIMIT)?;
        count("limits.max_frames_per_sec", l.max_frames_per_sec as usize, 1, 100_000)?;
        count("limits.outbound_queue", l.outbound_queue, 1, 1_000_000)?;
        count("limits.replay_events", l.replay_events, 1, 1_000_000)?;
        let c = &self.connections;
        ms_range("connections.handshake_timeout_ms", c.handshake_timeout_ms, 1, MAX_TIMEOUT_MS)?;
        count("connections.max_per_ip", c.max_per_ip, 1, 1_000_000)?;
        if let Some(cl) = &self.cluster {
            if !(cl.redis_url.starts_with("redis://") || cl.redis_url.starts_with("rediss://") || cl.redis_url.starts_with("unix://")) {
                return invalid("cluster.redis_url", &format!("{:?}", cl.redis_url), "must be a redis://HOST:PORT URL");
            }
            if let Some(id) = &cl.node_id
                && (id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            {
                return invalid("cluster.node_id", &format!("{id:?}"), "must be 1 to 64 characters of A-Z a-z 0-9 - _ .");
            }
            if let Some(url) = &cl.public_url
                && !(url.starts_with("ws://") || url.starts_with("wss://"))
            {
                return invalid(
                    "cluster.public_url",
                    &format!("{url:?}"),
                    "must be the ws://HOST:PORT (or wss://) clients reach this node at",
                );
            }
            ms_range("cluster.heartbeat_ms", cl.heartbeat_ms, 50, 60_000)?;
            ms_range("cluster.lease_ms", cl.lease_ms, 200, 600_000)?;
            ms_range("cluster.drain_timeout_ms", cl.drain_timeout_ms, 0, MAX_TIMEOUT_MS)?;
            if cl.lease_ms < 3 * cl.heartbeat_ms {
                return invalid(
                    "cluster.lease_ms",
                    &cl.lease_ms,
                    &format!(
                        "must be at least 3 heartbeats (cluster.heartbeat_ms = {}), so one late renewal loses nothing",
                        cl.heartbeat_ms
                    ),
                );
            }
        }
        Ok(())
    }

    pub fn allows_unknown_apps(&self) -> bool {
        self.allow_unknown_apps.unwrap_or(self.apps.is_empty())
    }
}

/// The `[cluster]` table: this node's place in a cluster of room servers sharing one Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]` of the Redis every node of the cluster uses.
    pub redis_url: String,
    /// This node's name in Redis; a random one when absent. Must be unique in the cluster.
    pub node_id: Option<String>,
    /// The `ws://host:port` clients reach this node at (the redirect target). Absent: `ws://`
    /// and the bound listen address (right on one host, wrong behind NAT).
    pub public_url: Option<String>,
    /// How often the node renews its record and its rooms' leases, ms.
    pub heartbeat_ms: u64,
    /// How long a node record and a room lease live without renewal, ms: a node killed without
    /// a word loses its rooms after this long.
    pub lease_ms: u64,
    /// On SIGTERM / `nertc-server drain`: how long the node waits for its rooms to empty
    /// before it moves the remaining ones to other nodes, ms.
    pub drain_timeout_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: "redis://127.0.0.1:6379".into(),
            node_id: None,
            public_url: None,
            heartbeat_ms: 500,
            lease_ms: 2_000,
            drain_timeout_ms: 30_000,
        }
    }
}

impl ClusterConfig {
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// Longest accepted timeout: one day.
const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// Bounds of `limits.max_frame_bytes`: a join and an SDP must fit; a frame is buffered whole.
const MIN_FRAME_LIMIT: usize = 4096;
const MAX_FRAME_LIMIT: usize = 16 << 20;

/// Why a config was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Parse(String),
    #[error("`{key}` = {value}: {rule}")]
    Invalid { key: String, value: String, rule: String },
}

impl ConfigError {
    /// The offending key (`limits.outbound_queue`), for a value that parsed but is not allowed.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Parse(_) => None,
        }
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
    /// One UDP port for every peer connection (demultiplexed by ICE ufrag, then by remote
    /// address: [`crate::sfu::udpmux`]); 0 = off (a port per connection, as above).
    pub udp_port: u16,
    /// One TCP port for ICE over TCP (RFC 6544 passive candidates of every peer connection,
    /// next to the UDP ones; streams routed by the ICE ufrag of their first binding request:
    /// [`crate::sfu::tcpmux`]); 0 = off (no TCP candidates).
    pub tcp_port: u16,
    /// Media over `tcp_port` only: the server's connections have no UDP socket and offer no UDP
    /// candidate. A test switch (what a client that cannot send UDP meets, on a network that
    /// has UDP); needs `tcp_port`.
    pub tcp_only: bool,
    /// Estimate each subscriber's downlink from its transport-wide congestion control feedback
    /// and let that pick its layers ([`crate::sfu::simulcast`]). On by default: a `sub`
    /// connection numbers packets (and so gets feedback) only while one of its subscriptions
    /// has a layer to choose or may fall back to audio only, through one light interceptor
    /// ([`nertc_rtc::cc::EstimateOnly`]). What it costs is mostly webrtc-rs reading each
    /// subscriber's feedback (about ten datagrams a second): in a 50-subscriber fan-out of a
    /// simulcast publisher about 5 % more server CPU (eight alternating pairs of runs,
    /// `bench/RESULTS.md`), none for single-layer tracks. Off: layers follow receiver-report
    /// loss alone.
    pub downlink_estimate: bool,
    /// Drive the `sub` connections (the ones the server sends media on) here, over webrtc-rs's
    /// sans-IO core ([`nertc_rtc::direct`]): a forwarder writes each packet through the
    /// connection's interceptors and SRTP onto the socket itself, instead of handing it to the
    /// connection's task. On by default; connections with ICE over TCP (`tcp_port`) or a
    /// wildcard `bind_ip` keep webrtc-rs's driver. Off: every connection uses it.
    pub direct_sub: bool,
}

impl Default for RtcConfig {
    fn default() -> Self {
        RtcConfig {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            advertised_ip: None,
            udp_port_min: 0,
            udp_port_max: 0,
            udp_port: 0,
            tcp_port: 0,
            tcp_only: false,
            downlink_estimate: true,
            direct_sub: true,
        }
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

/// Limits on TCP connections, before any WebSocket exists.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Connections {
    /// A connection that has not completed its WebSocket upgrade this long after it was
    /// accepted is closed. Plain HTTP connections (`/healthz`, `/metrics`) are closed then too.
    pub handshake_timeout_ms: u64,
    /// Most TCP connections open at once from one IP address (loopback included). Further
    /// connections are answered `503` and closed at once.
    pub max_per_ip: usize,
}

impl Default for Connections {
    fn default() -> Self {
        Connections { handshake_timeout_ms: 10_000, max_per_ip: 256 }
    }
}

impl Connections {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
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
        ServerConfig::default().validate().unwrap();
        ServerConfig::embedded().validate().unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let cases = [
            ("limits.outbound_queue", "[limits]\noutbound_queue = 0"),
            ("limits.max_frames_per_sec", "[limits]\nmax_frames_per_sec = 0"),
            ("limits.max_frame_bytes", "[limits]\nmax_frame_bytes = 10"),
            ("limits.max_frame_bytes", "[limits]\nmax_frame_bytes = 1000000000"),
            ("limits.replay_events", "[limits]\nreplay_events = 0"),
            ("timeouts.join_ms", "[timeouts]\njoin_ms = 0"),
            ("timeouts.ping_interval_ms", "[timeouts]\nping_interval_ms = 0"),
            ("timeouts.ping_timeout_ms", "[timeouts]\nping_interval_ms = 5000\nping_timeout_ms = 5000"),
            ("timeouts.resume_window_ms", "[timeouts]\nresume_window_ms = 100000000000"),
            ("rtc.udp_port_max", "[rtc]\nudp_port_min = 5000\nudp_port_max = 4000"),
            ("rtc.udp_port_min", "[rtc]\nudp_port_min = 5000"),
            ("rtc.advertised_ip", "[rtc]\nadvertised_ip = \"my host\""),
            ("rtc.udp_port", "[rtc]\nudp_port = 5000\nudp_port_min = 6000\nudp_port_max = 6001"),
            ("rtc.udp_port", "[rtc]\nudp_port = 5000\nbind_ip = \"0.0.0.0\""),
            ("rtc.tcp_port", "[rtc]\ntcp_port = 5000\nbind_ip = \"0.0.0.0\""),
            ("rtc.tcp_port", "[rtc]\ntcp_port = 5000\nudp_port_min = 6000\nudp_port_max = 6001"),
            ("rtc.tcp_only", "[rtc]\ntcp_only = true"),
            ("connections.max_per_ip", "[connections]\nmax_per_ip = 0"),
            ("connections.handshake_timeout_ms", "[connections]\nhandshake_timeout_ms = 0"),
            ("listen", "listen = \"8480\""),
            ("listen", "listen = \"127.0.0.1:99999\""),
            ("apps.prod.secret", "[apps.prod]\nsecret = \"\""),
            ("cluster.redis_url", "[cluster]\nredis_url = \"localhost:6379\""),
            ("cluster.node_id", "[cluster]\nnode_id = \"a b\""),
            ("cluster.public_url", "[cluster]\npublic_url = \"http://x:1\""),
            ("cluster.heartbeat_ms", "[cluster]\nheartbeat_ms = 0"),
            ("cluster.lease_ms", "[cluster]\nheartbeat_ms = 1000\nlease_ms = 2000"),
        ];
        for (key, text) in cases {
            let err = ServerConfig::from_toml(text).expect_err(text);
            assert_eq!(err.key(), Some(key), "{text}: {err}");
            assert!(err.to_string().contains(key), "{err}");
        }
        // A debug app may have an empty secret: it accepts null tokens and cannot check others.
        ServerConfig::from_toml("[apps.dev]\nsecret = \"\"\ndebug = true").unwrap();
        ServerConfig::from_toml("[rtc]\nudp_port_min = 5000\nudp_port_max = 5000").unwrap();
        assert_eq!(ServerConfig::from_toml("[rtc]\nudp_port = 5000").unwrap().rtc.udp_port, 5000);
        let tcp = ServerConfig::from_toml("[rtc]\nudp_port = 5000\ntcp_port = 5000\ntcp_only = true").unwrap().rtc;
        assert_eq!((tcp.tcp_port, tcp.tcp_only), (5000, true));
        let c = ServerConfig::from_toml("[cluster]\nredis_url = \"redis://127.0.0.1:7000\"\nnode_id = \"n1\"").unwrap();
        let cl = c.cluster.expect("[cluster] read");
        assert_eq!((cl.node_id.as_deref(), cl.heartbeat_ms, cl.lease_ms), (Some("n1"), 500, 2000));
        assert!(matches!(ServerConfig::from_toml("[limits]\noutbound_queue = -1"), Err(ConfigError::Parse(_))));
    }
}
