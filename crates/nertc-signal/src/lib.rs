//! The client side of the nertc signaling protocol (`docs/protocol.md`), shared by the engine,
//! the bench load generator and the room server's integration tests.
//!
//! # Tasks and queues
//! ```text
//! owner ──Signal::request / send (try_send, bounded CMD_QUEUE)──> driver task ──> WebSocket
//! owner <──SignalEvent (bounded EVENT_QUEUE, the driver waits)──── driver task <── WebSocket
//! ```
//! [`open`] connects a socket and spawns its driver; [`connect`] also joins (or resumes) and
//! starts pings. The driver owns the socket: it numbers requests, matches responses to them,
//! times them out, pings at the server's interval, and hands everything else to the owner as
//! [`SignalEvent`]s, the last one always `Closed`.
//!
//! Two ways to wait for a response: [`Signal::request`] returns a [`RequestId`] at once and the
//! typed response arrives later as [`SignalEvent::Reply`] (for an actor that must never await a
//! round trip); [`Signal::call`] awaits it (tests, load generators, the join itself).
//!
//! Queue policies: commands are `try_send` into a bounded queue, so a caller is never blocked
//! and learns [`SignalError::Busy`] when the driver is [`CMD_QUEUE`] commands behind; events are
//! awaited into a bounded queue, so a slow owner back-pressures the socket (TCP flow control)
//! instead of growing memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use nertc_protocol::{
    ClientFrame, ClientMsg, ErrorBody, JoinRequest, JoinResult, PcKind, Ping, Reply, RoomEvent, SdpType, ServerFrame, TransportMsg, WS_PATH,
};

/// Commands the driver may be behind before [`Signal::request`] answers [`SignalError::Busy`].
pub const CMD_QUEUE: usize = 256;
/// Events the driver may hold for a slow owner before it stops reading the socket.
pub const EVENT_QUEUE: usize = 1024;
/// After a failed send, how long the driver keeps reading for the close frame that explains it;
/// after the server's close frame, how long it tries to send the close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Identifies a request made with [`Signal::request`]; its [`SignalEvent::Reply`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignalError {
    #[error("cannot connect to {url}: {why}")]
    Connect { url: String, why: String },
    #[error("the server refused: {} ({})", .0.code, .0.msg)]
    Refused(ErrorBody),
    #[error("the signaling connection is closed")]
    Closed,
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("the signaling queue is full")]
    Busy,
    #[error("{0}")]
    BadReply(String),
}

/// What the driver hands to the owner.
#[derive(Debug)]
pub enum SignalEvent {
    /// The outcome of a [`Signal::request`].
    Reply { id: RequestId, result: Result<Reply, SignalError> },
    /// A numbered room event.
    Event { seq: u64, event: RoomEvent },
    /// A transport message (`sdp`, `ice`, `pong`, `leave`).
    Transport(TransportMsg),
    /// A response to no request of ours (a frame sent with [`Signal::send_raw`]).
    Unmatched { re: u64, result: Result<Value, ErrorBody> },
    /// The socket is gone: close code (1006 when it dropped without a close frame) and reason.
    /// Always the last event.
    Closed { code: u16, reason: String },
}

/// Timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { connect_timeout: Duration::from_secs(5), request_timeout: Duration::from_secs(10) }
    }
}

enum Waiter {
    Event,
    Call(oneshot::Sender<Result<Reply, SignalError>>),
}

enum Cmd {
    Request { id: u64, msg: ClientMsg, waiter: Waiter },
    Send(ClientMsg),
    Raw(Message),
    StartPings(Duration),
    Close,
    Kill,
}

/// Handle on one signaling connection; cheap to clone. The socket closes when [`Signal::close`]
/// is called or every handle is dropped.
#[derive(Clone)]
pub struct Signal {
    cmd: mpsc::Sender<Cmd>,
    next_id: Arc<AtomicU64>,
    request_timeout: Duration,
    /// Frames from the server that did not parse (shared with the driver).
    unparsable: Arc<AtomicU64>,
    /// Closed (its sender dropped) when the driver has ended: everything queued before a
    /// close was written, or the socket is gone.
    driver_done: tokio::sync::watch::Receiver<()>,
}

/// A joined session: the handle, the join result and the event stream.
pub struct Connected {
    pub signal: Signal,
    pub join: JoinResult,
    pub events: mpsc::Receiver<SignalEvent>,
}

/// `ws://host:port` with or without the path → the full signaling URL.
pub fn signaling_url(url: &str) -> String {
    if url.ends_with(WS_PATH) { url.to_owned() } else { format!("{}{WS_PATH}", url.trim_end_matches('/')) }
}

/// Opens a socket to `url` (`ws://host:port`, with or without the path) without joining.
pub async fn open(url: &str, opts: Options) -> Result<(Signal, mpsc::Receiver<SignalEvent>), SignalError> {
    let full = signaling_url(url);
    let (ws, _) = tokio::time::timeout(opts.connect_timeout, tokio_tungstenite::connect_async(full.as_str()))
        .await
        .map_err(|_| SignalError::Connect { url: full.clone(), why: format!("no answer within {:?}", opts.connect_timeout) })?
        .map_err(|e| SignalError::Connect { url: full.clone(), why: e.to_string() })?;
    let (cmd_tx, cmd_rx) = mpsc::channel(CMD_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let unparsable = Arc::new(AtomicU64::new(0));
    let (done_tx, driver_done) = tokio::sync::watch::channel(());
    tokio::spawn(drive(ws, cmd_rx, ev_tx, opts.request_timeout, unparsable.clone(), done_tx));
    let signal =
        Signal { cmd: cmd_tx, next_id: Arc::new(AtomicU64::new(1)), request_timeout: opts.request_timeout, unparsable, driver_done };
    Ok((signal, ev_rx))
}

/// Opens a socket, joins (or resumes, when `req.resume` is set) and starts pinging at the
/// server's interval.
pub async fn connect(url: &str, req: JoinRequest, opts: Options) -> Result<Connected, SignalError> {
    // A server refuses it anyway (or closes the socket when the frame is too large): say so now.
    if let Some(t) = req.token.as_ref().filter(|t| t.len() > nertc_protocol::MAX_TOKEN_BYTES) {
        let msg = format!("not sent: the token is {} bytes long; at most {} are accepted", t.len(), nertc_protocol::MAX_TOKEN_BYTES);
        return Err(SignalError::Refused(nertc_protocol::ErrorBody::new(nertc_protocol::ErrorCode::TokenMalformed, msg)));
    }
    let (signal, events) = open(url, opts).await?;
    let join = signal.join(req).await?;
    signal.start_pings(Duration::from_millis(join.ping_interval_ms));
    Ok(Connected { signal, join, events })
}

impl Signal {
    fn queue(&self, cmd: Cmd) -> Result<(), SignalError> {
        self.cmd.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SignalError::Busy,
            mpsc::error::TrySendError::Closed(_) => SignalError::Closed,
        })
    }

    /// Sends a request; its outcome arrives as [`SignalEvent::Reply`] with the returned id
    /// (a timeout too). Never waits.
    pub fn request(&self, msg: ClientMsg) -> Result<RequestId, SignalError> {
        let id = self.next_id.fetch_add(1, Relaxed);
        self.queue(Cmd::Request { id, msg, waiter: Waiter::Event })?;
        Ok(RequestId(id))
    }

    /// Sends a request and waits for its typed response.
    pub async fn call(&self, msg: ClientMsg) -> Result<Reply, SignalError> {
        let id = self.next_id.fetch_add(1, Relaxed);
        let (tx, rx) = oneshot::channel();
        self.queue(Cmd::Request { id, msg, waiter: Waiter::Call(tx) })?;
        // The driver times the request out itself; this bound only covers a driver that died.
        match tokio::time::timeout(self.request_timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(SignalError::Closed),
            Err(_) => Err(SignalError::Timeout(self.request_timeout)),
        }
    }

    /// `join` (or resume) on an [`open`]ed socket.
    pub async fn join(&self, req: JoinRequest) -> Result<JoinResult, SignalError> {
        match self.call(ClientMsg::Join(req)).await? {
            Reply::Join(j) => Ok(*j),
            other => Err(SignalError::BadReply(format!("join answered with {other:?}"))),
        }
    }

    /// Sends a message that has no response (`ice`, `ping`).
    pub fn send(&self, msg: ClientMsg) -> Result<(), SignalError> {
        self.queue(Cmd::Send(msg))
    }

    /// Sends a WebSocket message as it is (tests of malformed input); a response to it arrives
    /// as [`SignalEvent::Unmatched`].
    pub fn send_raw(&self, m: Message) -> Result<(), SignalError> {
        self.queue(Cmd::Raw(m))
    }

    /// Pings every `every` (clamped to 200 ms ..= 30 s); each `pong` arrives as a transport event.
    /// From then on a server silent for [`silence_limit`]`(every)` is taken for gone: the
    /// connection closes with 1006 (a partition leaves a TCP socket open for many minutes).
    pub fn start_pings(&self, every: Duration) {
        let _ = self.queue(Cmd::StartPings(every.clamp(Duration::from_millis(200), Duration::from_secs(30))));
    }

    /// Closes the socket with a close handshake, after what is queued.
    pub fn close(&self) {
        let _ = self.queue(Cmd::Close);
    }

    /// Resolves once the connection's driver has ended: after [`Signal::close`], when what was
    /// queued before it (a `leave`, say) and the close frame have been written. An engine that
    /// is shutting down waits for this so that its `leave` is not lost with its runtime.
    pub async fn closed(&self) {
        let mut done = self.driver_done.clone();
        while done.changed().await.is_ok() {}
    }

    /// Drops the socket without a close handshake (simulates a network loss in tests).
    pub fn kill(&self) {
        let _ = self.queue(Cmd::Kill);
    }

    /// How many frames from the server did not parse. The driver skips them with a warning
    /// (a newer server may send what this client does not know); a conforming server sends none.
    pub fn unparsable_frames(&self) -> u64 {
        self.unparsable.load(Relaxed)
    }
}

/// How long a pinging client waits for any frame from the server before it drops the
/// connection: two ping intervals and a second (a pong answers every ping within a round trip,
/// so this is two lost or delayed pongs in a row).
pub fn silence_limit(ping_every: Duration) -> Duration {
    ping_every * 2 + Duration::from_secs(1)
}

/// Milliseconds since the Unix epoch (ping timestamps).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Pending {
    /// `t` of the request and whether it was a `pub` offer, to type the response.
    what: &'static str,
    pub_offer: bool,
    deadline: Instant,
    waiter: Waiter,
}

impl Waiter {
    /// Delivers the outcome of request `id` (dropped when its owner is no longer listening).
    async fn finish(self, id: u64, result: Result<Reply, SignalError>, events: &mpsc::Sender<SignalEvent>) {
        match self {
            Waiter::Call(tx) => {
                let _ = tx.send(result);
            }
            Waiter::Event => {
                let _ = events.send(SignalEvent::Reply { id: RequestId(id), result }).await;
            }
        }
    }
}

async fn drive(
    ws: Ws,
    mut cmds: mpsc::Receiver<Cmd>,
    events: mpsc::Sender<SignalEvent>,
    request_timeout: Duration,
    unparsable: Arc<AtomicU64>,
    // Dropped when this returns (or is aborted): what [`Signal::closed`] waits for.
    _done: tokio::sync::watch::Sender<()>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut ping: Option<tokio::time::Interval> = None;
    // Set with the pings: how long the server may stay silent, and when it last spoke.
    let mut silence: Option<Duration> = None;
    let mut last_rx = Instant::now();
    // Set when a send failed: the peer may have closed the socket, and its close frame (code
    // and reason) may still be unread. Nothing is sent any more; the socket is read until it
    // ends or the deadline passes.
    let mut send_failed: Option<(String, Instant)> = None;
    let mut expiry = tokio::time::interval(Duration::from_millis(250));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (code, reason) = loop {
        let ping_due = async {
            match ping.as_mut() {
                Some(p) => p.tick().await,
                None => std::future::pending().await,
            }
        };
        let gave_up = async {
            match &send_failed {
                Some((_, deadline)) => tokio::time::sleep_until(*deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            cmd = cmds.recv(), if send_failed.is_none() => {
                let out = match cmd {
                    Some(Cmd::Request { id, msg, waiter }) => {
                        let pub_offer = matches!(&msg, ClientMsg::Sdp(m) if m.pc == PcKind::Pub && m.kind == SdpType::Offer);
                        pending.insert(id, Pending { what: msg.type_name(), pub_offer, deadline: Instant::now() + request_timeout, waiter });
                        Message::Text(ClientFrame { id: Some(id), msg }.to_json().into())
                    }
                    Some(Cmd::Send(msg)) => Message::Text(ClientFrame { id: None, msg }.to_json().into()),
                    Some(Cmd::Raw(m)) => m,
                    Some(Cmd::StartPings(every)) => {
                        let mut p = tokio::time::interval_at(Instant::now() + every, every);
                        p.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                        ping = Some(p);
                        silence = Some(silence_limit(every));
                        last_rx = Instant::now();
                        continue;
                    }
                    Some(Cmd::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        break (1000, "closed by client".to_string());
                    }
                    Some(Cmd::Kill) => break (1006, "killed by client".to_string()),
                };
                if let Err(e) = sink.send(out).await {
                    send_failed = Some((format!("send failed: {e}"), Instant::now() + CLOSE_GRACE));
                }
            }
            _ = ping_due, if send_failed.is_none() => {
                let text = ClientFrame { id: None, msg: ClientMsg::Ping(Ping { ts: now_ms() }) }.to_json();
                if let Err(e) = sink.send(Message::Text(text.into())).await {
                    send_failed = Some((format!("send failed: {e}"), Instant::now() + CLOSE_GRACE));
                }
            }
            _ = gave_up => {
                let (why, _) = send_failed.take().expect("the branch waits only while a send has failed");
                break (1006, why);
            }
            _ = expiry.tick() => {
                let now = Instant::now();
                if let Some(limit) = silence.filter(|l| now.duration_since(last_rx) > *l) {
                    break (1006, format!("nothing from the server for {limit:?}"));
                }
                let expired: Vec<u64> = pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
                for id in expired {
                    let p = pending.remove(&id).expect("id listed from the map just above");
                    tracing::warn!(request = p.what, "no response within {request_timeout:?}");
                    p.waiter.finish(id, Err(SignalError::Timeout(request_timeout)), &events).await;
                }
            }
            msg = stream.next() => {
                last_rx = Instant::now();
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => {
                        // Completes the closing handshake: sends the close reply queued on reading.
                        let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
                        break c.map(|c| (u16::from(c.code), c.reason.to_string())).unwrap_or((1005, String::new()));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break (1006, send_failed.map_or_else(|| e.to_string(), |(why, _)| why)),
                    None => break (1006, send_failed.map_or_else(|| "socket closed".to_string(), |(why, _)| why)),
                };
                let ev = match ServerFrame::parse(&text) {
                    Ok(ServerFrame::Response { re, result }) => match pending.remove(&re) {
                        Some(p) => {
                            let result = match result {
                                Ok(d) => Reply::parse(p.what, p.pub_offer, d).map_err(SignalError::BadReply),
                                Err(e) => Err(SignalError::Refused(e)),
                            };
                            p.waiter.finish(re, result, &events).await;
                            continue;
                        }
                        None => SignalEvent::Unmatched { re, result },
                    },
                    Ok(ServerFrame::Event { seq, event }) => SignalEvent::Event { seq, event },
                    Ok(ServerFrame::Transport(m)) => SignalEvent::Transport(m),
                    Err(e) => {
                        unparsable.fetch_add(1, Relaxed);
                        tracing::warn!("unparsable frame from the server: {e}");
                        continue;
                    }
                };
                // An owner that stopped listening (a session being torn down) may still have
                // queued a `leave` and the close: the connection ends with those, not here.
                let _ = events.send(ev).await;
            }
        }
    };
    tracing::debug!(code, %reason, "signaling closed");
    for (id, p) in pending.drain() {
        p.waiter.finish(id, Err(SignalError::Closed), &events).await;
    }
    // Requests still queued were never sent: they fail too, each with its own reply, and later
    // ones are refused at once.
    cmds.close();
    while let Ok(cmd) = cmds.try_recv() {
        if let Cmd::Request { id, waiter, .. } = cmd {
            waiter.finish(id, Err(SignalError::Closed), &events).await;
        }
    }
    let _ = events.send(SignalEvent::Closed { code, reason }).await;
}
