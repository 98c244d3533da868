//! A real protocol client for the integration tests: a WebSocket signaling driver plus
//! webrtc-rs publish/subscribe peer connections, written against `docs/protocol.md`.
//!
//! A driver task owns the socket and the peer connections: it answers sub offers by itself,
//! matches responses to requests, and forwards every other frame to the test.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;

use nertc_protocol::*;
use nertc_server::{RunningServer, ServerConfig};
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
}

enum DriverCmd {
    Request {
        msg: ClientMsg,
        reply: oneshot::Sender<Result<Value, ErrorBody>>,
    },
    Raw(Message),
    /// Drop the socket without a close handshake (simulates a network loss).
    Kill,
}

pub use nertc_rtc::pc::Pc as TestPc;

async fn test_pc() -> (TestPc, mpsc::UnboundedReceiver<Arc<dyn TrackRemote>>) {
    let (pc, mut events) = nertc_rtc::pc::PcBuilder::default().build().await.expect("client peer connection");
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

/// One test participant.
pub struct Client {
    pub uid: Uid,
    cmd: mpsc::UnboundedSender<DriverCmd>,
    frames: mpsc::UnboundedReceiver<ServerFrame>,
    backlog: VecDeque<ServerFrame>,
    pub join: Option<JoinResult>,
    /// track_id -> what arrived (filled by the driver's sub connection).
    pub received: Arc<Mutex<HashMap<TrackId, Received>>>,
    /// track_id -> the subscribed remote track (to send RTCP feedback on it).
    pub sub_tracks: Arc<Mutex<HashMap<TrackId, Arc<dyn TrackRemote>>>>,
    /// Keyframe requests that reached this client's published tracks.
    pub plis_received: Arc<AtomicU64>,
    pub last_seq: u64,
    pub pub_pc: Option<TestPc>,
    senders: Vec<tokio::task::JoinHandle<()>>,
    pub closed: watch::Receiver<Option<(u16, String)>>,
}

impl Client {
    /// Opens a socket (no join yet).
    pub async fn connect(server: &RunningServer, uid: Uid) -> Client {
        let url = format!("{}{}", server.url(), WS_PATH);
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (frames_tx, frames_rx) = mpsc::unbounded_channel();
        let received = Arc::new(Mutex::new(HashMap::new()));
        let sub_tracks = Arc::new(Mutex::new(HashMap::new()));
        let (closed_tx, closed_rx) = watch::channel(None);
        tokio::spawn(drive(ws, cmd_rx, frames_tx, received.clone(), sub_tracks.clone(), closed_tx));
        Client {
            uid,
            cmd: cmd_tx,
            frames: frames_rx,
            backlog: VecDeque::new(),
            join: None,
            received,
            sub_tracks,
            plis_received: Arc::new(AtomicU64::new(0)),
            last_seq: 0,
            pub_pc: None,
            senders: Vec::new(),
            closed: closed_rx,
        }
    }

    pub async fn joined(server: &RunningServer, channel: &str, uid: Uid) -> Client {
        let mut c = Client::connect(server, uid).await;
        let r = c.join(join_req(channel, uid)).await.expect("join succeeds");
        assert_eq!(r.uid, uid);
        c
    }

    pub async fn join(&mut self, req: JoinRequest) -> Result<JoinResult, ErrorBody> {
        let v = self.request(ClientMsg::Join(req)).await?;
        let r: JoinResult = serde_json::from_value(v).expect("join result parses");
        self.last_seq = r.seq;
        self.join = Some(r.clone());
        Ok(r)
    }

    pub async fn request(&mut self, msg: ClientMsg) -> Result<Value, ErrorBody> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(DriverCmd::Request { msg, reply }).expect("driver alive");
        tokio::time::timeout(WAIT, rx).await.expect("response in time").expect("driver replied")
    }

    pub fn send_raw(&self, text: impl Into<String>) {
        let _ = self.cmd.send(DriverCmd::Raw(Message::Text(text.into().into())));
    }

    pub fn send_message(&self, m: Message) {
        let _ = self.cmd.send(DriverCmd::Raw(m));
    }

    pub fn kill(&self) {
        let _ = self.cmd.send(DriverCmd::Kill);
    }

    /// Next frame matching `pred` (earlier non-matching frames stay queued).
    pub async fn wait_frame(&mut self, what: &str, pred: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.take(i);
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let f = tokio::time::timeout_at(deadline, self.frames.recv())
                .await
                .unwrap_or_else(|_| panic!("uid {}: timed out waiting for {what}; backlog {:?}", self.uid, self.backlog))
                .unwrap_or_else(|| panic!("uid {}: socket closed waiting for {what}", self.uid));
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

    /// Waits until the server closes the socket; returns (code, reason).
    pub async fn wait_closed(&mut self) -> (u16, String) {
        let mut c = self.closed.clone();
        let r = tokio::time::timeout(WAIT, c.wait_for(|v| v.is_some())).await.expect("socket closes in time");
        r.expect("watch alive").clone().expect("checked is_some")
    }

    /// Publishes one audio and one video track and starts sending synthetic RTP at 50 pps
    /// (audio) and 30 pps (video). Returns the two track ids.
    pub async fn publish_av(&mut self) -> (TrackId, TrackId) {
        let audio = self.publish_req(MediaKind::Audio, TrackSource::Mic).await;
        let video = self.publish_req(MediaKind::Video, TrackSource::Camera).await;
        let (pc, _) = test_pc().await;
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
        let answer = self
            .request(ClientMsg::Sdp(SdpMsg { pc: PcKind::Pub, kind: SdpType::Offer, sdp, neg: 1, pub_mids, sub_mids: BTreeMap::new() }))
            .await
            .expect("pub offer answered");
        let answer: SdpMsg = serde_json::from_value(answer).expect("answer is an SdpMsg");
        assert_eq!((answer.pc, answer.kind), (PcKind::Pub, SdpType::Answer));
        pc.pc.set_remote_description(RTCSessionDescription::answer(answer.sdp).expect("answer sdp")).await.expect("set remote answer");
        let uid = self.uid;
        for (_, _, local, ssrc, video) in locals {
            self.senders.push(tokio::spawn(send_rtp(local.clone(), ssrc, uid, video)));
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

    pub async fn publish_req(&mut self, kind: MediaKind, source: TrackSource) -> TrackId {
        let v = self
            .request(ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers: vec![], muted: false }))
            .await
            .expect("publish accepted");
        v["track_id"].as_str().expect("track_id").to_owned()
    }

    pub async fn subscribe(&mut self, track_id: &str) -> Result<Value, ErrorBody> {
        self.request(ClientMsg::Subscribe(SubscribeRequest { track_id: track_id.into(), layer: None })).await
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
    fn drop(&mut self) {
        self.stop_sending();
    }
}

async fn send_rtp(local: Arc<TrackLocalStaticRTP>, ssrc: u32, uid: Uid, video: bool) {
    let (pt, clock, period) = if video { (nertc_rtc::codecs::PT_H264, 90_000u32, 33u64) } else { (nertc_rtc::codecs::PT_OPUS, 48_000, 20) };
    let mut tick = tokio::time::interval(Duration::from_millis(period));
    let mut counter = 0u32;
    loop {
        tick.tick().await;
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
            payload: make_payload(uid, video, counter).into(),
        };
        // Before the answer is applied the track is unbound and writes fail: keep going.
        let _ = local.write_rtp(pkt).await;
        counter += 1;
    }
}

async fn drive(
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    mut cmds: mpsc::UnboundedReceiver<DriverCmd>,
    frames: mpsc::UnboundedSender<ServerFrame>,
    received: Arc<Mutex<HashMap<TrackId, Received>>>,
    sub_tracks: Arc<Mutex<HashMap<TrackId, Arc<dyn TrackRemote>>>>,
    closed: watch::Sender<Option<(u16, String)>>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<u64, oneshot::Sender<Result<Value, ErrorBody>>> = HashMap::new();
    let mut sub: Option<TestPc> = None;
    let (sub_tracks_tx, mut sub_tracks_rx) = mpsc::unbounded_channel::<Arc<dyn TrackRemote>>();
    let mut sub_mids: BTreeMap<String, MidInfo> = BTreeMap::new();
    // Answers the driver sent itself: their responses are checked, not forwarded.
    let mut own: HashMap<u64, ()> = HashMap::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(DriverCmd::Request { msg, reply }) => {
                    let id = NEXT_ID.fetch_add(1, Relaxed);
                    pending.insert(id, reply);
                    let text = ClientFrame { id: Some(id), msg }.to_json();
                    if sink.send(Message::Text(text.into())).await.is_err() { break; }
                }
                Some(DriverCmd::Raw(m)) => { let _ = sink.send(m).await; }
                Some(DriverCmd::Kill) | None => break,
            },
            Some(track) = sub_tracks_rx.recv() => {
                let Some(pc) = sub.as_ref() else { continue };
                let mid = pc.mid_of_remote(&track).await;
                let Some(info) = mid.and_then(|m| sub_mids.get(&m).cloned()) else { continue };
                sub_tracks.lock().await.insert(info.track_id.clone(), track.clone());
                let received = received.clone();
                tokio::spawn(async move {
                    while let Some(ev) = track.poll().await {
                        if let TrackRemoteEvent::OnRtpPacket(p) = ev {
                            let mut map = received.lock().await;
                            let r = map.entry(info.track_id.clone()).or_default();
                            r.packets += 1;
                            r.ssrc = p.header.ssrc;
                            r.max_seq = p.header.sequence_number;
                            if !r.seen.insert(p.header.sequence_number) { r.duplicates += 1; }
                            r.first_at.get_or_insert_with(Instant::now);
                            if let Some((uid, _, _)) = check_payload(&p.payload) {
                                r.intact += 1;
                                r.from_uid = Some(uid);
                            }
                        }
                    }
                });
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(c))) => {
                        let c = c.map(|c| (u16::from(c.code), c.reason.to_string())).unwrap_or((1005, String::new()));
                        let _ = closed.send(Some(c));
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => { let _ = closed.send(Some((1006, String::new()))); break; }
                };
                let frame = ServerFrame::parse(&text).unwrap_or_else(|e| panic!("server sent an unparsable frame {text}: {e}"));
                match frame {
                    ServerFrame::Response { re, result } if own.remove(&re).is_some() => {
                        if let Err(e) = result { panic!("sub answer refused: {e:?}"); }
                    }
                    ServerFrame::Response { re, result } => match pending.remove(&re) {
                        Some(tx) => { let _ = tx.send(result); }
                        // A response to a raw frame the test sent itself.
                        None => { let _ = frames.send(ServerFrame::Response { re, result }); }
                    },
                    ServerFrame::Transport(TransportMsg::Sdp(offer)) if offer.pc == PcKind::Sub && offer.kind == SdpType::Offer => {
                        if sub.is_none() {
                            let (pc, tracks) = test_pc().await;
                            let fwd = sub_tracks_tx.clone();
                            tokio::spawn(async move {
                                let mut tracks = tracks;
                                while let Some(t) = tracks.recv().await { let _ = fwd.send(t); }
                            });
                            sub = Some(pc);
                        }
                        let pc = sub.as_ref().expect("created above");
                        sub_mids.extend(offer.sub_mids.clone());
                        pc.pc.set_remote_description(RTCSessionDescription::offer(offer.sdp.clone()).expect("offer sdp")).await.expect("apply sub offer");
                        let answer = pc.pc.create_answer(None).await.expect("sub answer");
                        pc.pc.set_local_description(answer).await.expect("set sub answer");
                        let sdp = pc.local_sdp().await.expect("local sdp");
                        let id = NEXT_ID.fetch_add(1, Relaxed);
                        own.insert(id, ());
                        let msg = ClientMsg::Sdp(SdpMsg { pc: PcKind::Sub, kind: SdpType::Answer, sdp, neg: offer.neg, pub_mids: BTreeMap::new(), sub_mids: BTreeMap::new() });
                        let _ = sink.send(Message::Text(ClientFrame { id: Some(id), msg }.to_json().into())).await;
                        let _ = frames.send(ServerFrame::Transport(TransportMsg::Sdp(offer)));
                    }
                    other => { let _ = frames.send(other); }
                }
            }
        }
    }
    if let Some(pc) = sub {
        let _ = pc.pc.close().await;
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
