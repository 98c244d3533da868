//! The signaling client: one WebSocket to the room server (`docs/protocol.md`).
//!
//! [`connect`] opens the socket and performs `join` (or a resume). A driver task then owns the
//! socket: it matches responses to requests, pings at the server's interval, and forwards room
//! events and transport messages to the engine as [`SignalEvent`]s, ending with `Closed`.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use nertc_protocol::{
    ClientFrame, ClientMsg, ErrorBody, ErrorCode, JoinRequest, JoinResult, Ping, RoomEvent, ServerFrame, TransportMsg, WS_PATH,
};

#[derive(Debug)]
pub enum SignalEvent {
    Event {
        seq: u64,
        event: RoomEvent,
    },
    Transport(TransportMsg),
    /// The socket is gone: close code (1006 when it dropped without a close frame) and reason.
    Closed {
        code: u16,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("cannot connect to {url}: {why}")]
    Connect { url: String, why: String },
    #[error("server refused: {0:?}")]
    Refused(ErrorBody),
    #[error("the connection closed")]
    Closed,
    #[error("timed out")]
    Timeout,
}

enum Cmd {
    Request(ClientMsg, oneshot::Sender<Result<Value, ErrorBody>>),
    Send(ClientMsg),
    Close,
}

/// Handle on a connected, joined signaling session. Dropping it closes the socket.
pub struct Signal {
    cmd: mpsc::UnboundedSender<Cmd>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `url` (`ws://host:port`, with or without the path) and sends `req`.
pub async fn connect(url: &str, req: JoinRequest) -> Result<(Signal, JoinResult, mpsc::UnboundedReceiver<SignalEvent>), SignalError> {
    let full = if url.ends_with(WS_PATH) { url.to_owned() } else { format!("{}{WS_PATH}", url.trim_end_matches('/')) };
    let (ws, _) = tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(full.as_str()))
        .await
        .map_err(|_| SignalError::Connect { url: full.clone(), why: "timed out".into() })?
        .map_err(|e| SignalError::Connect { url: full.clone(), why: e.to_string() })?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    tokio::spawn(drive(ws, cmd_rx, ev_tx));
    let signal = Signal { cmd: cmd_tx };
    let v = signal.request(ClientMsg::Join(req)).await?;
    let result: JoinResult = serde_json::from_value(v)
        .map_err(|e| SignalError::Refused(ErrorBody::new(ErrorCode::Internal, format!("bad join result: {e}"))))?;
    signal.start_pings(result.ping_interval_ms);
    Ok((signal, result, ev_rx))
}

impl Signal {
    pub async fn request(&self, msg: ClientMsg) -> Result<Value, SignalError> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Cmd::Request(msg, tx)).map_err(|_| SignalError::Closed)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Err(_) => Err(SignalError::Timeout),
            Ok(Err(_)) => Err(SignalError::Closed),
            Ok(Ok(r)) => r.map_err(SignalError::Refused),
        }
    }

    /// Sends without waiting for a response.
    pub fn send(&self, msg: ClientMsg) {
        let _ = self.cmd.send(Cmd::Send(msg));
    }

    fn start_pings(&self, interval_ms: u64) {
        let cmd = self.cmd.clone();
        let every = Duration::from_millis(interval_ms.clamp(200, 30_000));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let ts = crate::frame::now_us() / 1000;
                if cmd.send(Cmd::Send(ClientMsg::Ping(Ping { ts }))).is_err() {
                    break;
                }
            }
        });
    }

    /// Closes the socket (after sending what is queued).
    pub fn close(&self) {
        let _ = self.cmd.send(Cmd::Close);
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.close();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn drive(ws: Ws, mut cmds: mpsc::UnboundedReceiver<Cmd>, events: mpsc::UnboundedSender<SignalEvent>) {
    let (mut sink, mut stream) = ws.split();
    let mut next_id = 1u64;
    let mut pending: HashMap<u64, oneshot::Sender<Result<Value, ErrorBody>>> = HashMap::new();
    let (code, reason) = loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Request(msg, reply)) => {
                    let id = next_id;
                    next_id += 1;
                    pending.insert(id, reply);
                    let text = ClientFrame { id: Some(id), msg }.to_json();
                    if sink.send(Message::Text(text.into())).await.is_err() { break (1006, "send failed".to_string()); }
                }
                Some(Cmd::Send(msg)) => {
                    let text = ClientFrame { id: None, msg }.to_json();
                    if sink.send(Message::Text(text.into())).await.is_err() { break (1006, "send failed".to_string()); }
                }
                Some(Cmd::Close) | None => {
                    let _ = sink.send(Message::Close(None)).await;
                    break (1000, "closed by client".to_string());
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => match ServerFrame::parse(&t) {
                    Ok(ServerFrame::Response { re, result }) => {
                        if let Some(tx) = pending.remove(&re) { let _ = tx.send(result); }
                    }
                    Ok(ServerFrame::Event { seq, event }) => { let _ = events.send(SignalEvent::Event { seq, event }); }
                    Ok(ServerFrame::Transport(m)) => { let _ = events.send(SignalEvent::Transport(m)); }
                    Err(e) => tracing::warn!("unparsable frame from server: {e}"),
                },
                Some(Ok(Message::Close(c))) => {
                    break c.map(|c| (u16::from(c.code), c.reason.to_string())).unwrap_or((1005, String::new()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break (1006, e.to_string()),
                None => break (1006, "socket closed".to_string()),
            },
        }
    };
    tracing::debug!(code, %reason, "signaling closed");
    let _ = events.send(SignalEvent::Closed { code, reason });
}
