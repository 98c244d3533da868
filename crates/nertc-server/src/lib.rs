//! `nertc-server`: the room server behind nertc-electron-sdk — signaling, SFU and token auth.
//!
//! Runs embedded ([`start`] on `127.0.0.1:0`, returning the address and a shutdown handle) or
//! as the `nertc-server` binary (`--config server.toml`).
//!
//! # Tasks and data flow
//! ```text
//! axum listener ── /rtc/v1 ──> conn task (one per socket) ──RoomCmd──> room actor (one per room)
//!                 /healthz, /metrics                      <──Outbound── (bounded queue per session)
//! directory actor: (app key, channel) -> room actor; rooms are created on first join
//! room actor ──PeerCmd──> peer actor (one per session: pub + sub peer connections)
//!            <──MediaEvent── peer actors, forwarders
//! publisher RTP ─> forwarder task (one per published track) ─> each subscription's writer
//!                  (rewrite SSRC/seq/ts/PT, then write without waiting; a full connection
//!                  queue: backlog, drained by the down track's task) ─> subscriber's connection
//! subscriber PLI/FIR ─> down track ─> forwarder (throttled) ─> publisher
//! data message (socket `data`, or the sender's SCTP data channel ─> peer actor ─MediaEvent─>)
//!   ─> room actor ─> each receiver's SCTP data channel task (DataSender), else its socket
//! ```
//! Under axum, the `listener` module caps TCP connections per IP address, closes connections that do
//! not become a WebSocket within `connections.handshake_timeout_ms`, and closes every connection
//! with a lingering close so that close frames reach clients that are still sending.
//!
//! Each peer connection binds a UDP port of its own, unless `rtc.udp_port` is set: then all
//! of them share one socket, demultiplexed by ICE ufrag and remote address
//! ([`sfu::udpmux`]): one task reads it with `recvmmsg`, one flusher task sends every
//! connection's datagrams with `sendmmsg`. With `rtc.tcp_port` set, every connection also offers an ICE-TCP passive
//! candidate on that one TCP port ([`sfu::tcpmux`]), the fallback for clients without UDP.
//!
//! In cluster mode (a `[cluster]` table) the [`cluster`] module places each room on one node
//! through Redis: a join for a room owned elsewhere is answered with a redirect, and a
//! heartbeat task renews this node's record and its rooms' leases.
//!
//! No state is shared behind locks (but for the listener's per-IP connection counts and the
//! shared media socket's routing table): each actor
//! owns its part, and the only shared values are
//! the immutable config and the atomic [`metrics::Metrics`].
//!
//! # Events
//! Room events (`user_joined`, `track_published`, ...) get a per-session `seq` and are kept in a
//! ring so a client whose socket dropped can resume within the window and receive exactly what
//! it missed. The protocol is `nertc-protocol`; `docs/protocol.md` describes it in prose.

pub mod auth;
pub mod cluster;
pub mod config;
mod conn;
mod directory;
mod listener;
pub mod metrics;
mod room;
pub mod sfu;

/// What the fuzz targets (`fuzz/`) reach that is otherwise private. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::BTreeMap;

    /// The room's check that a `pub` offer's `pub_mids` names every sending m-line.
    pub fn check_pub_mids(sdp: &str, pub_mids: &BTreeMap<String, nertc_protocol::TrackId>) -> Result<(), String> {
        crate::room::check_pub_mids(sdp, pub_mids)
    }
}

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;

pub use config::{AppConfig, ClusterConfig, ConfigError, ServerConfig};
pub use metrics::Metrics;
pub use nertc_protocol::token::{mint as mint_token, now_secs};

use directory::Directory;
use sfu::peer::PeerEnv;

/// What every task of one server instance shares (immutable config, atomic metrics, actors).
pub struct Shared {
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    peer_env: PeerEnv,
    /// Cluster mode's view of the other nodes; None on a single node.
    cluster: Option<cluster::Cluster>,
}

/// What the HTTP handlers hold.
#[derive(Clone)]
struct AppState {
    shared: Arc<Shared>,
    directory: Directory,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    #[error("cluster.redis_url: {0}")]
    Redis(String),
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    directory: Directory,
    cluster: Option<cluster::Cluster>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
    /// The shared media socket (`rtc.udp_port`), closed at shutdown.
    udp_mux: Option<Arc<sfu::udpmux::UdpMux>>,
    /// The shared ICE-TCP listener (`rtc.tcp_port`), closed at shutdown.
    tcp_mux: Option<Arc<sfu::tcpmux::TcpMux>>,
}

impl RunningServer {
    /// `ws://ADDR` — what clients put in `server_config.channel_server`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Tells every session `leave {reason: server_shutdown}`, closes rooms, stops listening
    /// (and, in a cluster, releases this node's rooms and record in Redis).
    pub async fn shutdown(self) {
        self.directory.shutdown().await;
        if let Some(mux) = &self.udp_mux {
            mux.close();
        }
        if let Some(mux) = &self.tcp_mux {
            mux.close();
        }
        let _ = self.stop.send(true);
        if let Some(hb) = self.heartbeat
            && tokio::time::timeout(std::time::Duration::from_secs(3), hb).await.is_err()
        {
            tracing::warn!("cluster heartbeat did not stop within 3 s");
        }
        if tokio::time::timeout(std::time::Duration::from_secs(3), self.task).await.is_err() {
            tracing::warn!("server did not stop within 3 s");
        }
    }

    /// This node's cluster id; None on a single node.
    pub fn node_id(&self) -> Option<&str> {
        self.cluster.as_ref().map(|c| c.node_id())
    }

    /// Turns true when `nertc-server drain` asked this node to drain (never on a single node).
    pub fn drain_requested(&self) -> tokio::sync::watch::Receiver<bool> {
        match &self.cluster {
            Some(c) => c.drain_requested(),
            None => tokio::sync::watch::channel(false).1,
        }
    }

    /// A graceful exit. In a cluster: new rooms go to other nodes at once; the rooms here get
    /// up to `grace` to empty, then the remaining ones move (their clients are told to
    /// reconnect, and land on another node); then the server shuts down. On a single node it
    /// is [`Self::shutdown`].
    pub async fn drain(self, grace: std::time::Duration) {
        if let Some(cluster) = &self.cluster {
            cluster.start_draining();
            let until = tokio::time::Instant::now() + grace;
            let mut rooms = self.directory.list().await;
            while !rooms.is_empty() && tokio::time::Instant::now() < until {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                rooms = self.directory.list().await;
            }
            if !rooms.is_empty() {
                tracing::info!(rooms = rooms.len(), "drain: moving the remaining rooms to other nodes");
                cluster.release_for_migration(&rooms).await;
                for key in rooms {
                    self.directory.migrate(key).await;
                }
                // Let the closes reach the clients before the listener stops.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        }
        self.shutdown().await;
    }
}

/// Starts a server on the current tokio runtime, after [validating](ServerConfig::validate) its
/// config.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    config.validate()?;
    let listener =
        tokio::net::TcpListener::bind(&config.listen).await.map_err(|source| ServerError::Bind { addr: config.listen.clone(), source })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.listen.clone(), source })?;
    let metrics = Arc::new(Metrics::default());
    let peer_env = PeerEnv::new(config.rtc.clone(), metrics.clone()).map_err(|(addr, source)| ServerError::Bind { addr, source })?;
    let cluster = match &config.cluster {
        Some(c) => Some(cluster::Cluster::new(c.clone(), addr, metrics.clone()).map_err(|e| ServerError::Redis(e.to_string()))?),
        None => None,
    };
    let (udp_mux, tcp_mux) = (peer_env.udp_mux.clone(), peer_env.tcp_mux.clone());
    let shared = Arc::new(Shared { config, metrics: metrics.clone(), peer_env, cluster: cluster.clone() });
    let directory = Directory::spawn(shared.clone());
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let heartbeat = match &cluster {
        Some(c) => {
            metrics.cluster.enabled.store(true, std::sync::atomic::Ordering::Relaxed);
            c.register().await;
            Some(c.spawn_heartbeat(directory.clone(), stop_rx.clone()))
        }
        None => None,
    };
    let app = Router::new()
        .route(nertc_protocol::WS_PATH, get(ws_upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_page))
        .with_state(AppState { shared: shared.clone(), directory: directory.clone() });
    let listener = listener::GuardedListener::new(listener, shared.config.connections.clone(), metrics.clone());
    let task = tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<listener::ConnMeta>();
        let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!("server stopped: {e}");
        }
    });
    tracing::info!(%addr, "nertc-server listening");
    Ok(RunningServer { addr, metrics, directory, cluster, stop, task, heartbeat, udp_mux, tcp_mux })
}

/// Bytes a signaling connection reads at a time. Messages are a few hundred bytes, an SDP a few
/// kilobytes (a larger one is read in several pieces); tungstenite's default of 128 KiB per
/// connection was a third of the server's heap with 100 subscribers (heaptrack).
const SIGNAL_READ_BUFFER: usize = 8 * 1024;

async fn ws_upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(meta): ConnectInfo<listener::ConnMeta>,
    State(state): State<AppState>,
) -> impl IntoResponse {
    let max = state.shared.config.limits.max_frame_bytes;
    ws.max_message_size(max).max_frame_size(max).read_buffer_size(SIGNAL_READ_BUFFER).on_upgrade(move |socket| {
        meta.mark_upgraded();
        conn::run(socket, state.shared, state.directory)
    })
}

async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.shared.metrics.render())
}
