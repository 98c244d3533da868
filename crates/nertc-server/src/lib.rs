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
//! publisher RTP ─> forwarder task (one per published track) ─try_send─> down track task
//!                  (one per subscription: rewrite SSRC/seq/ts/PT) ─> subscriber's peer connection
//! subscriber PLI/FIR ─> down track ─> forwarder (throttled) ─> publisher
//! ```
//! Under axum, the `listener` module caps TCP connections per IP address, closes connections that do
//! not become a WebSocket within `connections.handshake_timeout_ms`, and closes every connection
//! with a lingering close so that close frames reach clients that are still sending.
//!
//! No state is shared behind locks (but for the listener's per-IP connection counts): each actor
//! owns its part, and the only shared values are
//! the immutable config and the atomic [`metrics::Metrics`].
//!
//! # Events
//! Room events (`user_joined`, `track_published`, ...) get a per-session `seq` and are kept in a
//! ring so a client whose socket dropped can resume within the window and receive exactly what
//! it missed. The protocol is `nertc-protocol`; `docs/protocol.md` describes it in prose.

pub mod auth;
pub mod config;
mod conn;
mod directory;
mod listener;
pub mod metrics;
mod room;
pub mod sfu;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::response::IntoResponse;
use axum::routing::get;

pub use config::{AppConfig, ConfigError, ServerConfig};
pub use metrics::Metrics;
pub use nertc_protocol::token::{mint as mint_token, now_secs};

use directory::Directory;
use sfu::peer::PeerEnv;

/// What every task of one server instance shares (immutable config, atomic metrics, actors).
pub struct Shared {
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    peer_env: PeerEnv,
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
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    directory: Directory,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// `ws://ADDR` — what clients put in `server_config.channel_server`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Tells every session `leave {reason: server_shutdown}`, closes rooms, stops listening.
    pub async fn shutdown(self) {
        self.directory.shutdown().await;
        let _ = self.stop.send(true);
        if tokio::time::timeout(std::time::Duration::from_secs(3), self.task).await.is_err() {
            tracing::warn!("server did not stop within 3 s");
        }
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
    let peer_env = PeerEnv::new(config.rtc.clone(), metrics.clone());
    let shared = Arc::new(Shared { config, metrics: metrics.clone(), peer_env });
    let directory = Directory::spawn(shared.clone());
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
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
    Ok(RunningServer { addr, metrics, directory, stop, task })
}

async fn ws_upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(meta): ConnectInfo<listener::ConnMeta>,
    State(state): State<AppState>,
) -> impl IntoResponse {
    let max = state.shared.config.limits.max_frame_bytes;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| {
        meta.mark_upgraded();
        conn::run(socket, state.shared, state.directory)
    })
}

async fn metrics_page(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.shared.metrics.render())
}
