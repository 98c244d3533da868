//! Process-wide counters and gauges, rendered in the Prometheus text format at `GET /metrics`.

use nertc_protocol::ErrorCode;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// Cluster mode's gauges and counters; rendered only when the node is in a cluster.
#[derive(Debug, Default)]
pub struct ClusterMetrics {
    pub enabled: AtomicBool,
    /// 1 when the last Redis call succeeded.
    pub redis_up: AtomicI64,
    /// Live nodes listed in Redis at the last heartbeat (this one included).
    pub nodes_seen: AtomicI64,
    /// Rooms whose lease this node renewed at its last heartbeat.
    pub rooms_owned: AtomicI64,
    /// Forwarded RTP packets per second, between the last two heartbeats.
    pub forwarded_pps: AtomicI64,
    /// Joins answered with a redirect to another node.
    pub redirects: AtomicU64,
    /// Rooms this node claimed for itself.
    pub rooms_claimed: AtomicU64,
    /// Rooms served here without asking Redis (it was unreachable).
    pub placed_unsynced: AtomicU64,
    /// Rooms moved off this node (another node owned them; drain).
    pub rooms_migrated: AtomicU64,
    /// Heartbeats that renewed every lease / that Redis did not answer.
    pub lease_renewals: AtomicU64,
    pub lease_failures: AtomicU64,
}

/// How a data message travelled (`nertc_data_messages_total{path}`).
#[derive(Debug, Clone, Copy)]
pub enum DataPath {
    /// The session's SCTP data channel on its `sub` connection.
    Sctp = 0,
    /// A `data` message on the signaling socket.
    Signaling = 1,
}

#[derive(Debug)]
pub struct Metrics {
    pub rooms: AtomicI64,
    pub users: AtomicI64,
    pub published_tracks: AtomicI64,
    pub joins: AtomicU64,
    joins_failed: Vec<AtomicU64>,
    /// RTP packets received from publishers.
    pub rtp_received: AtomicU64,
    /// RTP packets and payload bytes written towards subscribers.
    pub rtp_forwarded: AtomicU64,
    pub rtp_forwarded_bytes: AtomicU64,
    /// Packets dropped because a subscriber's queue was full or its track not yet bound.
    pub rtp_dropped: AtomicU64,
    /// NACK packets received from subscribers (answered from the send cache).
    pub nacks: AtomicU64,
    /// Keyframe requests (PLI/FIR) received from subscribers / sent to publishers.
    pub keyframe_requests_in: AtomicU64,
    /// Packets sent again to subscribers on their NACKs (at most once per round trip each).
    pub rtp_retransmitted: AtomicU64,
    pub keyframe_requests_out: AtomicU64,
    /// Video subscriptions that started with their track's cached keyframe.
    pub keyframes_from_cache: AtomicU64,
    /// Sessions' SCTP data channels open now.
    pub data_channels: AtomicI64,
    /// Data messages received from senders / written to receivers, by [`DataPath`].
    data_in: [AtomicU64; 2],
    data_out: [AtomicU64; 2],
    /// TCP connections refused at accept: their address had `connections.max_per_ip` open.
    pub connections_refused: AtomicU64,
    /// TCP connections closed because they did not complete a WebSocket upgrade in time.
    pub handshake_timeouts: AtomicU64,
    /// Datagrams on the shared media socket (`rtc.udp_port`) for no connection, or dropped
    /// because their connection had [`crate::sfu::udpmux::PORT_QUEUE`] unread.
    pub udp_unrouted: AtomicU64,
    /// The shared media socket's datagrams sent and `sendmmsg` calls that sent them, datagrams
    /// the kernel refused; datagrams received and `recvmmsg` calls that read them.
    pub udp_sent: AtomicU64,
    pub udp_send_calls: AtomicU64,
    pub udp_send_errors: AtomicU64,
    pub udp_received: AtomicU64,
    pub udp_recv_calls: AtomicU64,
    /// Streams on the shared ICE-TCP port (`rtc.tcp_port`) closed before they reached a
    /// connection: no binding request for a known ufrag first, too slow, or too many waiting.
    pub tcp_unrouted: AtomicU64,
    /// Subscriptions stepped down (a layer, or to audio only) because their subscriber's
    /// downlink estimate could not carry what they got; at the last one, the estimate and the
    /// bitrate of the layer it left (bps).
    pub downlink_downgrades: AtomicU64,
    pub downlink_downgrade_estimate_bps: AtomicU64,
    pub downlink_downgrade_need_bps: AtomicU64,
    pub cluster: ClusterMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            rooms: AtomicI64::new(0),
            users: AtomicI64::new(0),
            published_tracks: AtomicI64::new(0),
            joins: AtomicU64::new(0),
            joins_failed: ErrorCode::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            rtp_received: AtomicU64::new(0),
            rtp_forwarded: AtomicU64::new(0),
            rtp_forwarded_bytes: AtomicU64::new(0),
            rtp_dropped: AtomicU64::new(0),
            nacks: AtomicU64::new(0),
            keyframe_requests_in: AtomicU64::new(0),
            rtp_retransmitted: AtomicU64::new(0),
            keyframe_requests_out: AtomicU64::new(0),
            keyframes_from_cache: AtomicU64::new(0),
            data_channels: AtomicI64::new(0),
            data_in: Default::default(),
            data_out: Default::default(),
            connections_refused: AtomicU64::new(0),
            handshake_timeouts: AtomicU64::new(0),
            udp_unrouted: AtomicU64::new(0),
            udp_sent: AtomicU64::new(0),
            udp_send_calls: AtomicU64::new(0),
            udp_send_errors: AtomicU64::new(0),
            udp_received: AtomicU64::new(0),
            udp_recv_calls: AtomicU64::new(0),
            tcp_unrouted: AtomicU64::new(0),
            downlink_downgrades: AtomicU64::new(0),
            downlink_downgrade_estimate_bps: AtomicU64::new(0),
            downlink_downgrade_need_bps: AtomicU64::new(0),
            cluster: ClusterMetrics::default(),
        }
    }
}

impl Metrics {
    pub fn join_failed(&self, code: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.joins_failed[i].fetch_add(1, Relaxed);
        }
    }

    pub fn joins_failed(&self, code: ErrorCode) -> u64 {
        ErrorCode::ALL.iter().position(|c| *c == code).map_or(0, |i| self.joins_failed[i].load(Relaxed))
    }

    /// A data message came in over `path`.
    pub fn data_in(&self, path: DataPath) {
        self.data_in[path as usize].fetch_add(1, Relaxed);
    }

    /// A data message went to one receiver over `path`.
    pub fn data_out(&self, path: DataPath) {
        self.data_out[path as usize].fetch_add(1, Relaxed);
    }

    /// Data messages received from senders over `path`, and written to receivers over it.
    pub fn data_messages(&self, path: DataPath) -> (u64, u64) {
        (self.data_in[path as usize].load(Relaxed), self.data_out[path as usize].load(Relaxed))
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP nertc_{name} {help}\n# TYPE nertc_{name} {kind}\nnertc_{name} {value}");
        };
        let g = |a: &AtomicI64| a.load(Relaxed).to_string();
        let c = |a: &AtomicU64| a.load(Relaxed).to_string();
        metric("rooms", "gauge", "Open rooms.", g(&self.rooms));
        metric("users", "gauge", "Sessions in rooms (attached or awaiting resume).", g(&self.users));
        metric("published_tracks", "gauge", "Live published tracks.", g(&self.published_tracks));
        metric("joins_total", "counter", "Successful joins.", c(&self.joins));
        metric("data_channels", "gauge", "Open SCTP data channels (one per session that sends or receives data).", g(&self.data_channels));
        metric("rtp_received_packets_total", "counter", "RTP packets received from publishers.", c(&self.rtp_received));
        metric("rtp_forwarded_packets_total", "counter", "RTP packets forwarded to subscribers.", c(&self.rtp_forwarded));
        metric("rtp_forwarded_bytes_total", "counter", "RTP payload bytes forwarded to subscribers.", c(&self.rtp_forwarded_bytes));
        metric("rtp_dropped_packets_total", "counter", "RTP packets dropped towards slow or unready subscribers.", c(&self.rtp_dropped));
        metric(
            "downlink_downgrades_total",
            "counter",
            "Subscriptions stepped down because the subscriber's downlink estimate could not carry them.",
            c(&self.downlink_downgrades),
        );
        metric("nacks_total", "counter", "NACK feedback packets received from subscribers.", c(&self.nacks));
        metric("keyframe_requests_received_total", "counter", "PLI/FIR received from subscribers.", c(&self.keyframe_requests_in));
        metric(
            "rtp_retransmitted_total",
            "counter",
            "RTP packets sent again to subscribers on their NACKs (at most once per round trip each).",
            c(&self.rtp_retransmitted),
        );
        metric("keyframe_requests_sent_total", "counter", "PLI sent to publishers after throttling.", c(&self.keyframe_requests_out));
        metric(
            "keyframes_from_cache_total",
            "counter",
            "Video subscriptions started with the track's cached keyframe.",
            c(&self.keyframes_from_cache),
        );
        metric(
            "connections_refused_total",
            "counter",
            "TCP connections refused: too many open from their address.",
            c(&self.connections_refused),
        );
        metric(
            "handshake_timeouts_total",
            "counter",
            "TCP connections closed for not completing a WebSocket upgrade in time.",
            c(&self.handshake_timeouts),
        );
        metric(
            "udp_unrouted_total",
            "counter",
            "Datagrams on the shared media UDP port dropped: for no connection, or its queue full.",
            c(&self.udp_unrouted),
        );
        metric(
            "udp_send_errors_total",
            "counter",
            "Datagrams the kernel refused to send on the shared media UDP port (dropped).",
            c(&self.udp_send_errors),
        );
        metric(
            "tcp_unrouted_total",
            "counter",
            "Streams on the shared ICE-TCP port closed unrouted: no binding request for a known ufrag first, or too slow.",
            c(&self.tcp_unrouted),
        );
        let cl = &self.cluster;
        if cl.enabled.load(Relaxed) {
            metric("cluster_redis_up", "gauge", "1 when the last Redis call succeeded.", g(&cl.redis_up));
            metric("cluster_nodes", "gauge", "Live nodes listed in Redis at the last heartbeat.", g(&cl.nodes_seen));
            metric("cluster_rooms_owned", "gauge", "Rooms whose lease this node renewed at its last heartbeat.", g(&cl.rooms_owned));
            metric("cluster_forwarded_pps", "gauge", "Forwarded RTP packets per second (last heartbeat period).", g(&cl.forwarded_pps));
            metric("cluster_redirects_total", "counter", "Joins redirected to the node owning the room.", c(&cl.redirects));
            metric("cluster_rooms_claimed_total", "counter", "Rooms this node claimed for itself.", c(&cl.rooms_claimed));
            metric("cluster_rooms_unsynced_total", "counter", "Rooms served without Redis (it was unreachable).", c(&cl.placed_unsynced));
            metric("cluster_rooms_migrated_total", "counter", "Rooms moved off this node (split settled, drain).", c(&cl.rooms_migrated));
            metric("cluster_lease_renewals_total", "counter", "Heartbeats that renewed this node's leases.", c(&cl.lease_renewals));
            metric("cluster_lease_failures_total", "counter", "Heartbeats Redis did not answer.", c(&cl.lease_failures));
        }
        let _ = writeln!(
            out,
            "# HELP nertc_data_messages_total Data messages received from senders (dir=\"in\") and written to receivers (dir=\"out\"), by path.\n# TYPE nertc_data_messages_total counter"
        );
        for (path, i) in [("sctp", DataPath::Sctp as usize), ("signaling", DataPath::Signaling as usize)] {
            for (dir, a) in [("in", &self.data_in[i]), ("out", &self.data_out[i])] {
                let _ = writeln!(out, "nertc_data_messages_total{{path=\"{path}\",dir=\"{dir}\"}} {}", a.load(Relaxed));
            }
        }
        let _ = writeln!(
            out,
            "# HELP nertc_udp_datagrams_total Datagrams sent (dir=\"out\") and received (dir=\"in\") on the shared media UDP port.\n# TYPE nertc_udp_datagrams_total counter"
        );
        let _ = writeln!(
            out,
            "# HELP nertc_udp_syscalls_total sendmmsg (dir=\"out\") and recvmmsg (dir=\"in\") calls on the shared media UDP port.\n# TYPE nertc_udp_syscalls_total counter"
        );
        for (dir, datagrams, calls) in [("out", &self.udp_sent, &self.udp_send_calls), ("in", &self.udp_received, &self.udp_recv_calls)] {
            let _ = writeln!(out, "nertc_udp_datagrams_total{{dir=\"{dir}\"}} {}", datagrams.load(Relaxed));
            let _ = writeln!(out, "nertc_udp_syscalls_total{{dir=\"{dir}\"}} {}", calls.load(Relaxed));
        }
        let _ = writeln!(out, "# HELP nertc_joins_failed_total Failed joins by reason.\n# TYPE nertc_joins_failed_total counter");
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            let n = self.joins_failed[i].load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "nertc_joins_failed_total{{reason=\"{code}\"}} {n}");
            }
        }
        out
    }
}
