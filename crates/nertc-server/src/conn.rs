//! One task per WebSocket: waits (bounded) for `join`, admits it, then relays the client's
//! frames to its room and the room's frames to the client. It answers `ping` itself, enforces
//! the frame rate limit and the ping timeout, and tells the room when the socket goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use tokio::sync::{mpsc, oneshot};

use nertc_protocol::{ClientFrame, ClientMsg, ErrorCode, JoinRequest, JoinResult, ServerFrame, TransportMsg};

use crate::Shared;
use crate::directory::{Directory, RoomKey};
use crate::room::{ConnLink, Outbound, RoomCmd, RoomHandle};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Close codes used by the server.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;
/// The room moved to another node (cluster drain or split): reconnect and rejoin.
pub const CLOSE_SERVICE_RESTART: u16 = 1012;

/// After sending a close frame, how long the socket is still read (and what arrives dropped)
/// for the client's reply. Closing the TCP connection with the client's frames unread would
/// reset it, and a reset can destroy the close frame, code and reason, before the client
/// reads it (a flooding client then sees "connection reset" instead of "rate limited").
const CLOSE_LINGER: Duration = Duration::from_secs(1);

struct Conn {
    ws: WebSocket,
    shared: Arc<Shared>,
    directory: Directory,
    conn_id: u64,
    window_start: Instant,
    window_frames: u32,
    last_rx: Instant,
    /// A close frame was sent: the closing handshake is under way.
    closing: bool,
}

enum Incoming {
    Frame(ClientFrame),
    /// Already answered (parse error, ping); nothing more to do.
    Handled,
    /// The socket is done.
    Closed,
}

pub async fn run(ws: WebSocket, shared: Arc<Shared>, directory: Directory) {
    let conn_id = NEXT_CONN.fetch_add(1, Relaxed);
    let now = Instant::now();
    let mut conn = Conn { ws, shared, directory, conn_id, window_start: now, window_frames: 0, last_rx: now, closing: false };
    if let Some((room, uid, out_rx)) = conn.await_join().await {
        conn.joined(room, uid, out_rx).await;
    }
    if conn.closing {
        conn.linger().await;
    }
}

impl Conn {
    async fn send(&mut self, frame: &ServerFrame) -> bool {
        self.ws.send(Message::Text(frame.to_json().into())).await.is_ok()
    }

    async fn close(&mut self, code: u16, reason: &str) {
        tracing::debug!(conn = self.conn_id, code, reason, "closing socket");
        let _ = self.ws.send(Message::Close(Some(CloseFrame { code, reason: reason.to_owned().into() }))).await;
        self.closing = true;
    }

    /// Completes the closing handshake: reads until the client's close reply, the end of the
    /// socket or [`CLOSE_LINGER`], dropping what arrives.
    async fn linger(&mut self) {
        let reply = async {
            while let Some(Ok(m)) = self.ws.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, reply).await;
    }

    /// Reads one client message: applies the rate limit (every frame counts, control frames
    /// too), parses it, and answers what needs no room.
    async fn read(&mut self, msg: Option<Result<Message, axum::Error>>) -> Incoming {
        let msg = match msg {
            Some(Ok(Message::Close(_))) | None => return Incoming::Closed,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                // Oversized messages surface here as a capacity error.
                let msg = e.to_string();
                if msg.contains("too long") || msg.contains("Space limit") || msg.contains("capacity") {
                    tracing::info!(conn = self.conn_id, "frame over {} bytes: {msg}; closing", self.shared.config.limits.max_frame_bytes);
                    self.close(CLOSE_TOO_BIG, "frame too large").await;
                } else {
                    tracing::info!(conn = self.conn_id, "socket error: {msg}");
                }
                return Incoming::Closed;
            }
        };
        let now = Instant::now();
        self.last_rx = now;
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.window_frames = 0;
        }
        self.window_frames += 1;
        if self.window_frames > self.shared.config.limits.max_frames_per_sec {
            tracing::warn!(conn = self.conn_id, max = self.shared.config.limits.max_frames_per_sec, "rate limit exceeded; closing");
            self.close(CLOSE_POLICY, "rate limited").await;
            return Incoming::Closed;
        }
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                self.error(None, ErrorCode::Malformed, "binary frames are not accepted; send JSON text").await;
                return Incoming::Handled;
            }
            // Pongs to pings are queued by the WebSocket layer itself.
            _ => return Incoming::Handled,
        };
        match ClientFrame::parse(&text) {
            Ok(ClientFrame { msg: ClientMsg::Ping(p), .. }) => {
                self.send(&ServerFrame::Transport(TransportMsg::Pong(p))).await;
                Incoming::Handled
            }
            Ok(frame) => Incoming::Frame(frame),
            Err(e) => {
                tracing::debug!(conn = self.conn_id, "bad frame: {e}");
                self.error(e.id(), e.code(), &e.to_string()).await;
                Incoming::Handled
            }
        }
    }

    async fn error(&mut self, id: Option<u64>, code: ErrorCode, msg: &str) {
        let frame = match id {
            Some(re) => ServerFrame::err(re, code, msg),
            None => ServerFrame::Transport(TransportMsg::Error(nertc_protocol::ErrorBody::new(code, msg))),
        };
        self.send(&frame).await;
    }

    /// Phase 1: until a successful join (or the join timeout).
    async fn await_join(&mut self) -> Option<(RoomHandle, u64, mpsc::Receiver<Outbound>)> {
        let deadline = tokio::time::Instant::now() + self.shared.config.timeouts.join();
        loop {
            let msg = tokio::select! {
                m = self.ws.recv() => m,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::info!(conn = self.conn_id, "no join within {:?}; closing", self.shared.config.timeouts.join());
                    self.close(CLOSE_POLICY, "join timeout").await;
                    return None;
                }
            };
            let frame = match self.read(msg).await {
                Incoming::Frame(f) => f,
                Incoming::Handled => continue,
                Incoming::Closed => return None,
            };
            let ClientMsg::Join(req) = frame.msg else {
                self.error(frame.id, ErrorCode::NotJoined, "send join first").await;
                continue;
            };
            let started = Instant::now();
            match self.join(req).await {
                Ok((room, result, out_rx)) => {
                    let uid = result.uid;
                    tracing::debug!(conn = self.conn_id, uid, elapsed_us = started.elapsed().as_micros() as u64, "join ok");
                    let frame = match frame.id {
                        Some(re) => ServerFrame::ok(re, &result),
                        None => ServerFrame::ok(0, &result),
                    };
                    if !self.send(&frame).await {
                        let _ = room.tx.send(RoomCmd::Detach { uid, conn_id: self.conn_id }).await;
                        return None;
                    }
                    return Some((room, uid, out_rx));
                }
                Err(e) => {
                    tracing::info!(conn = self.conn_id, code = %e.code, "join refused: {}", e.msg);
                    // The body goes out whole: a redirect carries its url.
                    let frame = match frame.id {
                        Some(re) => ServerFrame::Response { re, result: Err(e) },
                        None => ServerFrame::Transport(TransportMsg::Error(e)),
                    };
                    self.send(&frame).await;
                }
            }
        }
    }

    async fn join(&mut self, req: JoinRequest) -> Result<(RoomHandle, JoinResult, mpsc::Receiver<Outbound>), nertc_protocol::ErrorBody> {
        let shared = self.shared.clone();
        let perms = crate::auth::admit(&shared.config, &req, nertc_protocol::token::now_secs()).inspect_err(|e| {
            shared.metrics.join_failed(e.code);
        })?;
        let key = RoomKey { app_key: req.app_key.clone(), channel: req.channel.clone() };
        if let Some(cluster) = &shared.cluster
            && let crate::cluster::Placement::Remote(url) = cluster.place(&key).await
        {
            tracing::info!(conn = self.conn_id, channel = %key.channel, %url, "room lives on another node: redirecting");
            return Err(nertc_protocol::ErrorBody::redirect(url));
        }
        // A room may close between the lookup and the join; then look it up again.
        for _ in 0..3 {
            let Some(room) = self.directory.room(key.clone()).await else { break };
            let (out_tx, out_rx) = mpsc::channel(shared.config.limits.outbound_queue);
            let (reply, reply_rx) = oneshot::channel();
            let link = ConnLink { conn_id: self.conn_id, tx: out_tx };
            let cmd = RoomCmd::Join { req: req.clone(), perms, link, reply };
            if room.tx.send(cmd).await.is_err() {
                continue;
            }
            match reply_rx.await {
                Ok(Ok(mut result)) => {
                    if let Some(cluster) = &shared.cluster {
                        result.nodes = cluster.peer_urls();
                    }
                    return Ok((room, result, out_rx));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => continue,
            }
        }
        Err(nertc_protocol::ErrorBody::new(ErrorCode::Internal, "the room is unavailable"))
    }

    /// Phase 2: relay between the socket and the room.
    async fn joined(&mut self, room: RoomHandle, uid: u64, mut out_rx: mpsc::Receiver<Outbound>) {
        let ping_timeout = self.shared.config.timeouts.ping_timeout();
        let mut check = tokio::time::interval(Duration::from_millis(500));
        let detach = loop {
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(Outbound::Text(t)) => {
                        if self.ws.send(Message::Text(t.into())).await.is_err() { break true; }
                    }
                    Some(Outbound::Close(code, reason)) => {
                        self.close(code, reason).await;
                        break false;
                    }
                    None => {
                        // The room dropped our link: queue overflow.
                        self.close(CLOSE_POLICY, "too slow: outbound queue full").await;
                        break false;
                    }
                },
                msg = self.ws.recv() => match self.read(msg).await {
                    Incoming::Frame(f) => {
                        let cmd = RoomCmd::Request { uid, conn_id: self.conn_id, id: f.id, msg: f.msg };
                        if room.tx.send(cmd).await.is_err() { break false; }
                    }
                    Incoming::Handled => {}
                    Incoming::Closed => break true,
                },
                _ = check.tick() => {
                    if self.last_rx.elapsed() > ping_timeout {
                        self.close(CLOSE_GOING_AWAY, "ping timeout").await;
                        break true;
                    }
                }
            }
        };
        if detach {
            let _ = room.tx.send(RoomCmd::Detach { uid, conn_id: self.conn_id }).await;
        }
    }
}
