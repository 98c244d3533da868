//! A real protocol client for the integration tests: the `nertc-signal` client for the socket
//! plus webrtc-rs publish/subscribe peer connections, written against `docs/protocol.md`.
//!
//! A pump task reads the client's signaling events: it answers `sub` offers with the client's
//! own subscribe connection, records what arrives on it, and hands every other frame to the
//! test as the `ServerFrame` it was on the wire (responses to raw frames included).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use nertc_protocol::*;
use nertc_server::{RunningServer, ServerConfig};
use nertc_signal::{Options, RequestId, Signal, SignalError, SignalEvent};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCSessionDescription;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn,nertc_server=info".into()))
        .with_test_writer()
        .try_init();
}

pub async fn server_with(config: ServerConfig) -> RunningServer {
    init_tracing();
    nertc_server::start(ServerConfig { listen: "127.0.0.1:0".into(), ..config }).await.expect("server starts")
}

pub async fn server() -> RunningServer {
    server_with(ServerConfig::embedded()).await
}

pub fn join_req(channel: &str, uid: Uid) -> JoinRequest {
    JoinRequest {
        token: None,
        app_key: "test".into(),
        channel: channel.into(),
        uid,
        name: format!("user{uid}"),
        protocol: PROTOCOL_VERSION,
        resume: None,
        role: Default::default(),
    }
}

/// Payload of synthetic media: `uid (8) | track kind (1) | counter (4)` then bytes derived from
/// them, so a receiver can check each packet arrived intact and from whom.
pub fn make_payload(uid: Uid, video: bool, counter: u32) -> Vec<u8> {
    let len = if video { 900 } else { 120 };
    let mut p = Vec::with_capacity(len);
    p.extend_from_slice(&uid.to_be_bytes());
    p.push(video as u8);
    p.extend_from_slice(&counter.to_be_bytes());
    while p.len() < len {
        let i = p.len() as u32;
        p.push((i.wrapping_mul(31) ^ counter.wrapping_mul(7) ^ uid as u32) as u8);
    }
    p
}

/// Returns (uid, video, counter) when the payload is intact.
pub fn check_payload(p: &[u8]) -> Option<(Uid, bool, u32)> {
    if p.len() < 13 {
        return None;
    }
    let uid = u64::from_be_bytes(p[0..8].try_into().ok()?);
    let video = p[8] == 1;
    let counter = u32::from_be_bytes(p[9..13].try_into().ok()?);
    (make_payload(uid, video, counter) == p).then_some((uid, video, counter))
}

/// What arrived on one subscribed track.
#[derive(Debug, Default, Clone)]
pub struct Received {
    pub packets: u64,
    /// Packets whose sequence number had been seen before (retransmissions).
    pub duplicates: u64,
    pub ssrc: u32,
    pub max_seq: u16,
    seen: std::collections::HashSet<u16>,
    pub intact: u64,
    pub from_uid: Option<Uid>,
    pub first_at: Option<Instant>,
    /// The first [`FIRST_PACKETS`] packets as they arrived: (sequence number, timestamp,
    /// H.264 NAL type for a [`Client::h264_gop`] stream, counter).
    pub first: Vec<(u16, u32, Option<u8>, Option<u32>)>,
}

/// How many packets of each track [`Received::first`] keeps.
pub const FIRST_PACKETS: usize = 64;

/// NAL unit headers of the [`Client::h264_gop`] stream's pictures: an SPS starts a keyframe
/// (what the server recognises), a non-IDR slice is a delta picture.
pub const NAL_SPS: u8 = 0x67;
pub const NAL_DELTA: u8 = 0x41;
/// Pictures from one keyframe of an `h264_gop` stream to the next (1 s).
pub const GOP: u32 = 30;

pub use nertc_rtc::pc::Pc as TestPc;

/// `ice_tcp`: the connection has no UDP socket, only ICE over TCP (active: it dials the
/// server's passive candidates, see [`apply_remote`]).
async fn test_pc(ice_tcp: bool) -> (TestPc, mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>) {
    let builder = nertc_rtc::pc::PcBuilder {
        tcp_bind: ice_tcp.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        tcp_only: ice_tcp,
        ..Default::default()
    };
    let (pc, mut events) = builder.build().await.expect("client peer connection");
    let (ttx, trx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let nertc_rtc::pc::PcEvent::Track(t) = ev {
                let _ = ttx.send(t);
            }
        }
    });
    (pc, trx)
}

/// Applies the server's description; over ICE-TCP, then dials its passive candidates when
/// its ICE credentials are new (the first description, an ICE restart: a renegotiation keeps
/// the streams it has).
async fn apply_remote(pc: &TestPc, sdp: RTCSessionDescription, ice_tcp: bool) {
    let ufrag = |sdp: &str| sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).map(str::to_owned);
    let before = pc.pc.remote_description().await.and_then(|d| ufrag(&d.sdp));
    let text = sdp.sdp.clone();
    pc.pc.set_remote_description(sdp).await.expect("the server's description applies");
    if ice_tcp && ufrag(&text) != before {
        let n = pc.dial_tcp_candidates(&text).await.expect("the server's TCP candidates are dialled");
        assert!(n > 0, "the server offered no passive TCP candidate:\n{text}");
    }
}

/// One test participant.
pub struct Client {
    pub uid: Uid,
    signal: Signal,
    /// Everything the pump handed over, as it was on the wire.
    frames: mpsc::UnboundedReceiver<ServerFrame>,
    /// The pump, taken to re-raise its panic when its channels close.
    pump: Option<JoinHandle<()>>,
    backlog: VecDeque<ServerFrame>,
    pub join: Option<JoinResult>,
    /// track_id -> what arrived (filled by the pump's sub connection).
    pub received: Arc<Mutex<HashMap<TrackId, Received>>>,
    /// track_id -> the subscribed remote track (to send RTCP feedback on it).
    pub sub_tracks: Arc<Mutex<HashMap<TrackId, Arc<dyn TrackRemote>>>>,
    /// Keyframe requests that reached this client's published tracks.
    pub plis_received: Arc<AtomicU64>,
    /// Set before [`Client::publish_av`]: the video is shaped like H.264 pictures (one packet
    /// each, the NAL header before the synthetic payload): a keyframe every [`GOP`] pictures
    /// and after each keyframe request, as an encoder does, delta pictures otherwise.
    pub h264_gop: bool,
    /// Set before joining: both connections run over ICE-TCP only (the server needs
    /// `rtc.tcp_port`).
    pub ice_tcp: Arc<std::sync::atomic::AtomicBool>,
    /// The counters of the keyframes sent (an `h264_gop` stream).
    pub keyframes_sent: Arc<std::sync::Mutex<Vec<u32>>>,
    pub last_seq: u64,
    pub pub_pc: Option<TestPc>,
    senders: Vec<JoinHandle<()>>,
    /// The socket's close code and reason, once it closed.
    pub closed: watch::Receiver<Option<(u16, String)>>,
}

impl Client {
    /// Opens a socket (no join yet, and no pings: a test decides what the server hears).
    pub async fn connect(server: &RunningServer, uid: Uid) -> Client {
        Client::connect_url(&server.url(), uid).await.expect("websocket connects")
    }

    /// Opens a socket to `url`; Err when nothing answers there.
    pub async fn connect_url(url: &str, uid: Uid) -> Result<Client, SignalError> {
        let opts = Options { request_timeout: WAIT, ..Options::default() };
        let (signal, events) = nertc_signal::open(url, opts).await?;
        let (frames_tx, frames_rx) = mpsc::unbounded_channel();
        let received = Arc::new(Mutex::new(HashMap::new()));
        let sub_tracks = Arc::new(Mutex::new(HashMap::new()));
        let (closed_tx, closed_rx) = watch::channel(None);
        let ice_tcp = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pump = Pump {
            uid,
            signal: signal.clone(),
            frames: frames_tx,
            received: received.clone(),
            sub_tracks: sub_tracks.clone(),
            ice_tcp: ice_tcp.clone(),
        };
        let pump = tokio::spawn(pump.run(events, closed_tx));
        Ok(Client {
            uid,
            signal,
            frames: frames_rx,
            pump: Some(pump),
            backlog: VecDeque::new(),
            join: None,
            received,
            sub_tracks,
            plis_received: Arc::new(AtomicU64::new(0)),
            h264_gop: false,
            ice_tcp,
            keyframes_sent: Arc::default(),
            last_seq: 0,
            pub_pc: None,
            senders: Vec::new(),
            closed: closed_rx,
        })
    }

    /// Joins through `url` the way a cluster client does: a `redirect` answer is followed (a
    /// new socket at the URL it names, at most `MAX_REDIRECTS` times). Returns the client on
    /// the node that took the join, that node's URL and the number of redirects; Err when a
    /// node could not be reached or the join was refused.
    pub async fn join_at(url: &str, req: JoinRequest) -> Result<(Client, String, usize), ErrorBody> {
        let mut url = url.to_owned();
        for redirects in 0..=MAX_REDIRECTS {
            let mut c = Client::connect_url(&url, req.uid)
                .await
                .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("{url} unreachable: {e}")))?;
            match c.signal.call(ClientMsg::Join(req.clone())).await {
                Ok(Reply::Join(r)) => {
                    c.last_seq = r.seq;
                    c.join = Some(*r);
                    return Ok((c, url, redirects));
                }
                Ok(other) => panic!("uid {}: join answered with {other:?}", req.uid),
                Err(SignalError::Refused(e)) => match e.redirect_url() {
                    Some(next) => url = next.to_owned(),
                    None => return Err(e),
                },
                Err(e) => return Err(ErrorBody::new(ErrorCode::Internal, format!("{url}: {e}"))),
            }
        }
        Err(ErrorBody::new(ErrorCode::Internal, format!("more than {MAX_REDIRECTS} redirects")))
    }

    pub async fn joined(server: &RunningServer, channel: &str, uid: Uid) -> Client {
        let mut c = Client::connect(server, uid).await;
        let r = c.join(join_req(channel, uid)).await.expect("join succeeds");
        assert_eq!(r.uid, uid);
        c
    }

    pub async fn join(&mut self, req: JoinRequest) -> Result<JoinResult, ErrorBody> {
        let r = match self.request(ClientMsg::Join(req)).await? {
            Reply::Join(r) => *r,
            other => panic!("uid {}: join answered with {other:?}", self.uid),
        };
        self.last_seq = r.seq;
        self.join = Some(r.clone());
        Ok(r)
    }

    /// Sends a request and waits for its typed response; a refusal is the server's error body.
    /// Anything else (no response within `WAIT`, a closed socket, a response that does not
    /// have the request's result type) fails the test.
    pub async fn request(&self, msg: ClientMsg) -> Result<Reply, ErrorBody> {
        let what = msg.type_name();
        match self.signal.call(msg).await {
            Ok(r) => Ok(r),
            Err(SignalError::Refused(e)) => Err(e),
            Err(e) => panic!("uid {}: {what}: {e}", self.uid),
        }
    }

    /// Sends one text frame as it is; a response to it arrives as a `ServerFrame::Response`.
    pub async fn send_raw(&self, text: impl Into<String>) {
        self.send_message(Message::Text(text.into().into())).await;
    }

    /// Sends one WebSocket message as it is (binary frames too). Waits while the signaling
    /// queue is full; once the socket is closed there is nothing to send on and the message is
    /// dropped (a test of a server that closes the socket sees that in `wait_closed`).
    pub async fn send_message(&self, m: Message) {
        loop {
            match self.signal.send_raw(m.clone()) {
                Ok(()) | Err(SignalError::Closed) => return,
                Err(SignalError::Busy) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => panic!("uid {}: raw frame not sent: {e}", self.uid),
            }
        }
    }

    /// Drops the socket without a close handshake (a network loss).
    pub fn kill(&self) {
        self.signal.kill();
    }

    /// The pump ended (its channels closed): re-raises its panic, if that is why.
    async fn pump_ended(&mut self) {
        let Some(pump) = self.pump.take() else { return };
        if let Err(e) = pump.await
            && e.is_panic()
        {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Next frame matching `pred` (earlier non-matching frames stay queued).
    pub async fn wait_frame(&mut self, what: &str, pred: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.take(i);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let f = match tokio::time::timeout_at(deadline, self.frames.recv()).await {
                Ok(Some(f)) => f,
                Ok(None) => {
                    self.pump_ended().await;
                    panic!("uid {}: socket closed waiting for {what}", self.uid)
                }
                Err(_) => panic!("uid {}: timed out waiting for {what}; backlog {:?}", self.uid, self.backlog),
            };
            if pred(&f) {
                self.note(&f);
                return f;
            }
            self.backlog.push_back(f);
        }
    }

    fn take(&mut self, i: usize) -> ServerFrame {
        let f = self.backlog.remove(i).expect("index from position");
        self.note(&f);
        f
    }

    fn note(&mut self, f: &ServerFrame) {
        if let ServerFrame::Event { seq, .. } = f {
            self.last_seq = self.last_seq.max(*seq);
        }
    }

    pub async fn wait_event(&mut self, what: &str, pred: impl Fn(&RoomEvent) -> bool) -> (u64, RoomEvent) {
        match self.wait_frame(what, |f| matches!(f, ServerFrame::Event { event, .. } if pred(event))).await {
            ServerFrame::Event { seq, event } => (seq, event),
            _ => unreachable!("matched an event"),
        }
    }

    /// All events received so far (drains what has arrived without waiting).
    pub async fn drain_events(&mut self, settle: Duration) -> Vec<(u64, RoomEvent)> {
        tokio::time::sleep(settle).await;
        while let Ok(f) = self.frames.try_recv() {
            self.backlog.push_back(f);
        }
        let mut out = Vec::new();
        let mut rest = VecDeque::new();
        for f in std::mem::take(&mut self.backlog) {
            match f {
                ServerFrame::Event { seq, event } => {
                    self.last_seq = self.last_seq.max(seq);
                    out.push((seq, event));
                }
                other => rest.push_back(other),
            }
        }
        self.backlog = rest;
        out
    }

    /// Waits until the socket closes; returns (code, reason).
    pub async fn wait_closed(&mut self) -> (u16, String) {
        let mut c = self.closed.clone();
        let r = tokio::time::timeout(WAIT, c.wait_for(|v| v.is_some())).await.expect("socket closes in time").map(|v| v.clone());
        match r {
            Ok(v) => v.expect("waited for is_some"),
            Err(_) => {
                self.pump_ended().await;
                panic!("uid {}: the pump ended without reporting the close", self.uid)
            }
        }
    }

    /// Publishes one audio and one video track and starts sending synthetic RTP at 50 pps
    /// (audio) and 30 pps (video). Returns the two track ids.
    pub async fn publish_av(&mut self) -> (TrackId, TrackId) {
        let audio = self.publish_req(MediaKind::Audio, TrackSource::Mic).await;
        let video = self.publish_req(MediaKind::Video, TrackSource::Camera).await;
        let (pc, _) = test_pc(self.ice_tcp.load(Relaxed)).await;
        let mut locals = Vec::new();
        for (tid, kind, mime) in [(&audio, RtpCodecKind::Audio, "audio/opus"), (&video, RtpCodecKind::Video, "video/H264")] {
            let (codec, _, _) = nertc_rtc::codecs::canonical(mime).expect("known codec");
            let ssrc = rand::random::<u32>();
            let local =
                Arc::new(TrackLocalStaticRTP::new(nertc_rtc::codecs::media_track(format!("s{}", self.uid), tid, kind, codec, ssrc)));
            let sender = pc.pc.add_track(local.clone() as Arc<dyn TrackLocal>).await.expect("add_track");
            locals.push((tid.clone(), sender, local, ssrc, kind == RtpCodecKind::Video));
        }
        let offer = pc.pc.create_offer(None).await.expect("offer");
        pc.pc.set_local_description(offer).await.expect("set local offer");
        let sdp = pc.local_sdp().await.expect("local sdp");
        let mut pub_mids = BTreeMap::new();
        for (tid, sender, ..) in &locals {
            let mid = pc.mid_of_sender(sender.id()).await.expect("sender has a mid");
            pub_mids.insert(mid, tid.clone());
        }
        let reply = self
            .request(ClientMsg::Sdp(SdpMsg {
                pc: PcKind::Pub,
                kind: SdpType::Offer,
                sdp,
                neg: 1,
                pub_mids,
                sub_mids: BTreeMap::new(),
                pub_rids: BTreeMap::new(),
                fresh: false,
            }))
            .await
            .expect("pub offer answered");
        let Reply::PubAnswer(answer) = reply else { panic!("a pub offer answered with {reply:?}") };
        assert_eq!((answer.pc, answer.kind), (PcKind::Pub, SdpType::Answer));
        let answer = RTCSessionDescription::answer(answer.sdp).expect("answer sdp");
        apply_remote(&pc, answer, self.ice_tcp.load(Relaxed)).await;
        let uid = self.uid;
        for (_, _, local, ssrc, video) in locals {
            let gop = (video && self.h264_gop).then(|| (self.plis_received.clone(), self.keyframes_sent.clone()));
            self.senders.push(tokio::spawn(send_rtp(local.clone(), ssrc, uid, video, gop)));
            let plis = self.plis_received.clone();
            self.senders.push(tokio::spawn(async move {
                loop {
                    match local.poll().await {
                        Some(webrtc::media_stream::track_local::TrackLocalEvent::OnRtcpPacket(p)) => {
                            let n = p.iter().filter(|p| nertc_rtc::tap::is_keyframe_request(p.as_ref())).count();
                            plis.fetch_add(n as u64, Relaxed);
                        }
                        Some(_) => {}
                        None => tokio::time::sleep(Duration::from_millis(20)).await,
                    }
                }
            }));
        }
        self.pub_pc = Some(pc);
        (audio, video)
    }

    pub async fn publish_req(&self, kind: MediaKind, source: TrackSource) -> TrackId {
        let reply = self
            .request(ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers: vec![], muted: false }))
            .await
            .expect("publish accepted");
        let Reply::Publish(PublishResult { track_id }) = reply else { panic!("publish answered with {reply:?}") };
        track_id
    }

    pub async fn subscribe(&self, track_id: &str) -> Result<SubscribeResult, ErrorBody> {
        match self.request(ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.into(), layer: None, fallback: None })).await? {
            Reply::Subscribe(r) => Ok(r),
            other => panic!("subscribe answered with {other:?}"),
        }
    }

    pub async fn received(&self, track_id: &str) -> Received {
        self.received.lock().await.get(track_id).cloned().unwrap_or_default()
    }

    /// Sends RTCP feedback on a subscribed track (as a subscriber's decoder would).
    pub async fn send_rtcp(&self, track_id: &str, packets: Vec<Box<dyn rtc::rtcp::Packet>>) {
        let track = self.sub_tracks.lock().await.get(track_id).cloned().expect("subscribed track");
        track.write_rtcp(packets).await.expect("rtcp sent");
    }

    pub fn stop_sending(&mut self) {
        for s in self.senders.drain(..) {
            s.abort();
        }
    }
}

impl Drop for Client {
    /// A dropped client vanishes like a lost network (the pump holds a handle too, so the
    /// socket would otherwise stay open).
    fn drop(&mut self) {
        self.stop_sending();
        self.signal.kill();
    }
}

/// An [`Client::h264_gop`] stream's keyframe requests received so far, and where to note the
/// keyframes sent.
type Gop = (Arc<AtomicU64>, Arc<std::sync::Mutex<Vec<u32>>>);

/// How long an [`Client::h264_gop`] stream takes to answer a keyframe request: a camera's next
/// picture and its encoding (a real encoder is rarely faster).
const PLI_ANSWER_DELAY: Duration = Duration::from_millis(100);

/// `gop`: shape the video as H.264 pictures ([`Client::h264_gop`]).
async fn send_rtp(local: Arc<TrackLocalStaticRTP>, ssrc: u32, uid: Uid, video: bool, gop: Option<Gop>) {
    let (pt, clock, period) = if video { (nertc_rtc::codecs::PT_H264, 90_000u32, 33u64) } else { (nertc_rtc::codecs::PT_OPUS, 48_000, 20) };
    let mut tick = tokio::time::interval(Duration::from_millis(period));
    let mut counter = 0u32;
    let mut plis_seen = 0;
    // A keyframe request waiting for its answer, since when.
    let mut asked_at: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        let mut payload = make_payload(uid, video, counter);
        if let Some((plis, sent)) = &gop {
            let asked = plis.load(Relaxed);
            if asked != plis_seen {
                plis_seen = asked;
                asked_at.get_or_insert_with(tokio::time::Instant::now);
            }
            let answer = asked_at.is_some_and(|t| t.elapsed() >= PLI_ANSWER_DELAY);
            let key = answer || counter.is_multiple_of(GOP);
            if key {
                asked_at = None;
            }
            payload.insert(0, if key { NAL_SPS } else { NAL_DELTA });
            if key {
                sent.lock().expect("not poisoned").push(counter);
            }
        }
        let pkt = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker: true,
                payload_type: pt,
                sequence_number: counter as u16,
                timestamp: counter.wrapping_mul(clock / 1000 * period as u32),
                ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        // Before the answer is applied the track is unbound and writes fail: keep going.
        let _ = local.write_rtp(pkt).await;
        counter += 1;
    }
}

/// Reads a client's signaling events: answers `sub` offers with its own subscribe connection,
/// records what arrives on that connection, and hands every frame to the test.
struct Pump {
    uid: Uid,
    signal: Signal,
    frames: mpsc::UnboundedSender<ServerFrame>,
    received: Arc<Mutex<HashMap<TrackId, Received>>>,
    sub_tracks: Arc<Mutex<HashMap<TrackId, Arc<dyn TrackRemote>>>>,
    ice_tcp: Arc<std::sync::atomic::AtomicBool>,
}

impl Pump {
    async fn run(self, mut events: mpsc::Receiver<SignalEvent>, closed: watch::Sender<Option<(u16, String)>>) {
        let mut sub: Option<TestPc> = None;
        let (sub_tracks_tx, mut sub_tracks_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
        let mut sub_mids: BTreeMap<String, MidInfo> = BTreeMap::new();
        // The `sub` answers sent by the pump itself: their replies are checked, not forwarded.
        let mut own: HashSet<RequestId> = HashSet::new();
        loop {
            let ev = tokio::select! {
                ev = events.recv() => ev.expect("the driver's last event is Closed"),
                Some(track) = sub_tracks_rx.recv() => {
                    if let Some(pc) = sub.as_ref() {
                        self.record(pc, &sub_mids, track).await;
                    }
                    continue;
                }
            };
            assert_eq!(self.signal.unparsable_frames(), 0, "uid {}: the server sent a frame that does not parse (logged above)", self.uid);
            let frame = match ev {
                SignalEvent::Reply { id, result } => {
                    assert!(own.remove(&id), "uid {}: a reply to no request of the pump's: {id:?}", self.uid);
                    match result {
                        // The test's client left (or was closed) while its answer was in
                        // flight: nothing to answer for any more.
                        Ok(_) | Err(SignalError::Closed) => {}
                        Err(e) => panic!("uid {}: sub answer refused: {e}", self.uid),
                    }
                    continue;
                }
                SignalEvent::Transport(TransportMsg::Sdp(offer)) if offer.pc == PcKind::Sub && offer.kind == SdpType::Offer => {
                    // A new server connection replaces the current one: answered from a new one.
                    if offer.fresh
                        && let Some(old) = sub.take()
                    {
                        let _ = old.pc.close().await;
                    }
                    let pc = match sub.as_ref() {
                        Some(pc) => pc,
                        None => {
                            let (pc, mut tracks) = test_pc(self.ice_tcp.load(Relaxed)).await;
                            let fwd = sub_tracks_tx.clone();
                            tokio::spawn(async move {
                                while let Some(t) = tracks.recv().await {
                                    let _ = fwd.send(t);
                                }
                            });
                            sub.insert(pc)
                        }
                    };
                    sub_mids.extend(offer.sub_mids.clone());
                    let sdp = RTCSessionDescription::offer(offer.sdp.clone()).expect("the server's sub offer is SDP");
                    apply_remote(pc, sdp, self.ice_tcp.load(Relaxed)).await;
                    let answer = pc.pc.create_answer(None).await.expect("a sub answer");
                    pc.pc.set_local_description(answer).await.expect("our sub answer applies locally");
                    let sdp = pc.local_sdp().await.expect("a local description was just set");
                    let answer = SdpMsg::answer(PcKind::Sub, sdp, offer.neg);
                    match self.signal.request(ClientMsg::Sdp(answer)) {
                        Ok(id) => {
                            own.insert(id);
                        }
                        // The socket is going away: its Closed event follows.
                        Err(SignalError::Closed) => {}
                        Err(e) => panic!("uid {}: sub answer not sent: {e}", self.uid),
                    }
                    ServerFrame::Transport(TransportMsg::Sdp(offer))
                }
                SignalEvent::Transport(m) => ServerFrame::Transport(m),
                SignalEvent::Event { seq, event } => ServerFrame::Event { seq, event },
                // A response to a raw frame the test sent itself.
                SignalEvent::Unmatched { re, result } => ServerFrame::Response { re, result },
                SignalEvent::Closed { code, reason } => {
                    let _ = closed.send(Some((code, reason)));
                    break;
                }
            };
            // The test may have dropped its client: nobody to tell.
            let _ = self.frames.send(frame);
        }
        if let Some(pc) = sub {
            let _ = pc.pc.close().await;
        }
    }

    /// Maps a new remote track to its `sub` m-line and counts what arrives on it.
    async fn record(&self, pc: &TestPc, sub_mids: &BTreeMap<String, MidInfo>, track: Arc<dyn TrackRemote>) {
        let mid = pc.mid_of_remote(&track).await;
        let Some(info) = mid.and_then(|m| sub_mids.get(&m).cloned()) else { return };
        self.sub_tracks.lock().await.insert(info.track_id.clone(), track.clone());
        let received = self.received.clone();
        tokio::spawn(async move {
            while let Some(ev) = track.poll().await {
                if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                    let mut map = received.lock().await;
                    let r = map.entry(info.track_id.clone()).or_default();
                    r.packets += 1;
                    r.ssrc = p.header.ssrc;
                    r.max_seq = p.header.sequence_number;
                    if !r.seen.insert(p.header.sequence_number) {
                        r.duplicates += 1;
                    }
                    r.first_at.get_or_insert_with(Instant::now);
                    // An h264_gop picture: the NAL header, then the synthetic payload.
                    let nal = p.payload.first().copied().filter(|b| [NAL_SPS, NAL_DELTA].contains(b));
                    let checked = check_payload(&p.payload).or_else(|| nal.and_then(|_| check_payload(&p.payload[1..])));
                    if let Some((uid, _, _)) = checked {
                        r.intact += 1;
                        r.from_uid = Some(uid);
                    }
                    if r.first.len() < FIRST_PACKETS {
                        r.first.push((p.header.sequence_number, p.header.timestamp, nal.map(|b| b & 0x1f), checked.map(|c| c.2)));
                    }
                }
            }
        });
    }
}

/// A minimal HTTP/1.0 GET on loopback; returns the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("http connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.expect("http write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("http read");
    assert!(buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200"), "{buf}");
    buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}
