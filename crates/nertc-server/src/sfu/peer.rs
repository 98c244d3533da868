//! The media side of one session: an actor task that owns the session's two peer connections.
//!
//! `pub` (client -> server): the client offers, this answers; each incoming track is mapped to
//! its `track_id` through the offer's `pub_mids` and handed to a forwarder. `sub` (server ->
//! client): created when the session joins (when it may subscribe), so that the first
//! subscription finds it built; this offers, the client answers. `sub` is driven in place
//! (`rtc.direct_sub`, `subpc`) unless it needs ICE over TCP. At most one sub offer is
//! outstanding; changes made meanwhile, and the commands already queued when one is handled,
//! are batched into the next offer.
//!
//! A new video subscription is started (its first keyframe asked for, the cached one sent:
//! see the forwarder) once its m-line is negotiated and the `sub` transport connected.
//!
//! The data channel (protocol 4, docs/protocol.md §13.2): when the room asks
//! ([`PeerCmd::OpenData`]), an ordered, reliable channel is added to `sub` (the next offer
//! carries an `m=application` section) and stays for the session's life — rebuilt with `sub`
//! when that is replaced. Its messages go to the room ([`MediaEvent::Data`]); once it is open
//! the room holds its [`DataSender`] and writes the others' messages into it directly.
//!
//! Commands arrive from the room actor ([`PeerCmd`]); results and SDP go back to the room as
//! [`MediaEvent`]s, which it relays to the client over the session's current socket.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Instant;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription};

use nertc_protocol::{ErrorBody, ErrorCode, MediaKind, MidInfo, PcKind, SdpMsg, SdpType, TrackId, Uid};

use crate::config::RtcConfig;
use crate::metrics::Metrics;
use crate::sfu::forwarder::{self, DownTrack, DownlinkSignals, FallbackNotice, ForwarderHandle, LayerFeed};
use crate::sfu::munger::Munger;
use crate::sfu::simulcast::{self, Downlink, Fallback, LayerChoice};
use crate::sfu::subpc::{SubPc, SubSender};
use crate::sfu::tcpmux::TcpMux;
use crate::sfu::udpmux::{self, UdpMux};
use nertc_rtc::direct::DirectPc;
use nertc_rtc::pc::{DataEvent, DataSender, Pc, PcBuilder, PcEvent};
use nertc_rtc::recovery::{AnswerSide, CONNECT_TIMEOUT, FirstConnect, PcLink, RESTART_EVERY};
use nertc_rtc::tap::{Feedback, FeedbackCounter};

/// Data channel messages a second the peer passes on from one client, with a burst of as many:
/// beyond it, it stops reading the channel for a while (SCTP's flow control then slows the
/// sender down), as `limits.max_frames_per_sec` (200 by default) bounds signaling frames.
pub const DATA_MESSAGES_PER_SEC: u32 = 200;

/// Identifies a session across replacements: events from a replaced session's peer are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub uid: Uid,
    pub session_id: Arc<str>,
}

/// Peer -> room.
#[derive(Debug)]
pub enum MediaEvent {
    /// The response to request `id` (a pub offer's answer, or a sub answer's ack).
    Respond { key: SessionKey, id: Option<u64>, result: Result<serde_json::Value, ErrorBody> },
    /// A sub offer to send to the client.
    SubOffer { key: SessionKey, msg: SdpMsg },
    /// The client's sub answer was applied: these subscriptions now carry media.
    SubActive { key: SessionKey, track_ids: Vec<TrackId> },
    /// The first RTP packet of a published track arrived.
    TrackLive { key: SessionKey, track_id: TrackId, forwarder: ForwarderHandle },
    /// A published track's media ended (its peer connection closed or the track stopped).
    TrackEnded { key: SessionKey, track_id: TrackId },
    /// The layers (rids) of a simulcast track that someone receives changed.
    LayerDemand { key: SessionKey, track_id: TrackId, active: Vec<String> },
    /// A subscription's video stopped because of the subscriber's downlink (audio only), or
    /// resumed.
    SubFallback { key: SessionKey, track_id: TrackId, audio_only: bool },
    /// The session's data channel opened: the room sends its data messages here from now on.
    DataOpen { key: SessionKey, sender: DataSender },
    /// The client is to replace its `pc` connection ([`TransportMsg::Replace`]).
    Replace { key: SessionKey, pc: PcKind, neg: u64 },
    /// A data message the client sent on its data channel.
    Data { key: SessionKey, data: bytes::Bytes },
}

/// Room -> peer.
#[derive(Debug)]
pub enum PeerCmd {
    PubOffer {
        id: Option<u64>,
        sdp: String,
        neg: u64,
        mids: BTreeMap<String, TrackId>,
        /// mid -> layer rid, for tracks sent as one m-line per layer.
        rids: BTreeMap<String, String>,
        /// From a new client connection replacing the current one ([`SdpMsg::fresh`]).
        fresh: bool,
    },
    SubAnswer {
        id: Option<u64>,
        sdp: String,
        neg: u64,
    },
    Ice {
        pc: PcKind,
        candidate: RTCIceCandidateInit,
    },
    AddDown {
        track_id: TrackId,
        owner: Uid,
        forwarder: ForwarderHandle,
        /// The layer the subscriber asked for and whether it may get a lower one.
        layer: usize,
        fallback: Fallback,
    },
    /// A subscription's wanted layer changed (`subscribe` again).
    SetLayer {
        track_id: TrackId,
        layer: usize,
        fallback: Fallback,
    },
    RemoveDown {
        track_id: TrackId,
    },
    StopPublished {
        track_id: TrackId,
    },
    /// The client resumed its session: restart ICE on `sub` if it is down.
    Resumed,
    /// The client's side of `sub` did not come up (its last answer was to offer `neg`):
    /// replace the connection unless that was done since.
    ReplaceSub {
        neg: u64,
    },
    /// Add the data channel to `sub` (once; later ones are no-ops).
    OpenData,
}

/// The room's handle on a peer actor; dropping it closes both peer connections.
#[derive(Debug)]
pub struct PeerHandle {
    tx: mpsc::UnboundedSender<PeerCmd>,
}

impl PeerHandle {
    pub fn send(&self, cmd: PeerCmd) {
        let _ = self.tx.send(cmd);
    }
}

/// What every peer actor needs from the server.
#[derive(Clone)]
pub struct PeerEnv {
    pub rtc: RtcConfig,
    pub metrics: Arc<Metrics>,
    pub next_port: Arc<AtomicU32>,
    /// The shared media socket, when `rtc.udp_port` is set.
    pub udp_mux: Option<Arc<UdpMux>>,
    /// The shared ICE-TCP listener, when `rtc.tcp_port` is set.
    pub tcp_mux: Option<Arc<TcpMux>>,
    /// Subscribers' reception reports, to the down track of the stream they are about.
    pub reports: Arc<ReportRouter>,
}

/// Routes reception reports (from every subscribe connection's RTCP tap) by the reported
/// stream's SSRC to its down track.
#[derive(Default)]
pub struct ReportRouter(std::sync::Mutex<HashMap<u32, mpsc::UnboundedSender<u8>>>);

impl ReportRouter {
    pub fn register(&self, ssrc: u32) -> mpsc::UnboundedReceiver<u8> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(ssrc, tx);
        rx
    }

    fn deliver(&self, ssrc: u32, fraction_lost: u8) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A down track that is gone dropped its receiver: forget it.
        if map.get(&ssrc).is_some_and(|tx| tx.send(fraction_lost).is_err()) {
            map.remove(&ssrc);
        }
    }
}

impl PeerEnv {
    /// With `rtc.udp_port` / `rtc.tcp_port` set, binds the shared media socket / ICE-TCP
    /// listener (on the current tokio runtime); an error names what failed to bind.
    pub fn new(rtc: RtcConfig, metrics: Arc<Metrics>) -> Result<Self, (String, std::io::Error)> {
        let udp_mux = match rtc.udp_port {
            0 => None,
            port => Some(
                UdpMux::bind(std::net::SocketAddr::new(rtc.bind_ip, port), rtc.advertised_ip.clone(), metrics.clone())
                    .map_err(|e| (format!("udp {}:{port}", rtc.bind_ip), e))?,
            ),
        };
        let tcp_mux = match rtc.tcp_port {
            0 => None,
            port => Some(
                TcpMux::bind(std::net::SocketAddr::new(rtc.bind_ip, port), rtc.advertised_ip.clone(), metrics.clone())
                    .map_err(|e| (format!("tcp {}:{port}", rtc.bind_ip), e))?,
            ),
        };
        Ok(PeerEnv { rtc, metrics, next_port: Arc::new(AtomicU32::new(0)), udp_mux, tcp_mux, reports: Arc::default() })
    }

    /// How a connection of `kind` is built on local `port` (0: ephemeral); with `estimate`,
    /// what it sends is estimated from the remote's transport-wide feedback into it.
    fn pc_builder(&self, kind: PcKind, estimate: Option<Arc<nertc_rtc::cc::Bwe>>, port: u16) -> PcBuilder {
        let metrics = self.metrics.clone();
        let reports = self.reports.clone();
        let counter: FeedbackCounter = Arc::new(move |f| {
            let c = match f {
                Feedback::Nack => &metrics.nacks,
                Feedback::KeyframeRequest => &metrics.keyframe_requests_in,
                Feedback::Resent { .. } => &metrics.rtp_retransmitted,
                Feedback::Nacked { .. } => return,
                Feedback::Report { ssrc, fraction_lost } => return reports.deliver(ssrc, fraction_lost),
            };
            c.fetch_add(1, Relaxed);
        });
        let mut b = PcBuilder {
            bind: Some(std::net::SocketAddr::new(self.rtc.bind_ip, port)),
            advertised_ip: self.rtc.advertised_ip.clone(),
            feedback_counter: Some(counter),
            congestion: None,
            estimate,
            runtime: Some(udpmux::own_sockets()),
            shared_sdp: None,
            tcp_bind: None,
            tcp_only: false,
            send_only: kind == PcKind::Sub,
        };
        if self.udp_mux.is_some() || self.tcp_mux.is_some() {
            // The driver binds (and the muxes close at once) an ephemeral port / listener: see
            // udpmux and tcpmux.
            let tcp = self.tcp_mux.as_ref().map(|m| m.port());
            let (runtime, rewrite) = udpmux::shared_sockets(self.udp_mux.as_ref().map(|m| m.port()), tcp.clone());
            b.bind = Some(std::net::SocketAddr::new(self.rtc.bind_ip, 0));
            b.runtime = Some(runtime);
            b.shared_sdp = Some(rewrite);
            b.tcp_bind = tcp.map(|_| std::net::SocketAddr::new(self.rtc.bind_ip, 0));
            b.tcp_only = self.rtc.tcp_only;
        }
        b
    }

    /// Builds a connection with `build` on the shared socket, or on the next free port of the
    /// configured range, or an ephemeral one.
    async fn build_on_port<T, E, F>(
        &self,
        kind: PcKind,
        estimate: Option<Arc<nertc_rtc::cc::Bwe>>,
        build: impl Fn(PcBuilder) -> F,
    ) -> Result<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        let (min, max) = (self.rtc.udp_port_min, self.rtc.udp_port_max);
        if self.udp_mux.is_some() || self.tcp_mux.is_some() || min == 0 || max < min {
            return build(self.pc_builder(kind, estimate, 0)).await;
        }
        let span = u32::from(max - min) + 1;
        let mut last_err = None;
        for _ in 0..span {
            let port = min + (self.next_port.fetch_add(1, Relaxed) % span) as u16;
            match build(self.pc_builder(kind, estimate.clone(), port)).await {
                Ok(pc) => return Ok(pc),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("the port range has at least one port"))
    }

    /// Builds the `pub` connection (webrtc-rs's driver).
    async fn build_pub(&self) -> webrtc::error::Result<(Pc, mpsc::Receiver<PcEvent>)> {
        self.build_on_port(PcKind::Pub, None, |b| b.build()).await
    }

    /// Builds a `sub` connection: driven here ([`DirectPc`]) unless `rtc.direct_sub` is off or it
    /// needs ICE over TCP or a wildcard address's candidates ([`super::subpc`]).
    async fn build_sub(&self, estimate: Option<Arc<nertc_rtc::cc::Bwe>>) -> Result<(SubPc, mpsc::Receiver<PcEvent>), String> {
        if self.rtc.direct_sub && self.tcp_mux.is_none() && !self.rtc.bind_ip.is_unspecified() {
            let (pc, events) =
                self.build_on_port(PcKind::Sub, estimate, |b| async move { DirectPc::build(b) }).await.map_err(|e| e.to_string())?;
            return Ok((SubPc::Direct(pc), events));
        }
        let (pc, events) = self.build_on_port(PcKind::Sub, estimate, |b| b.build()).await.map_err(|e| e.to_string())?;
        Ok((SubPc::Webrtc(pc), events))
    }
}

struct Down {
    sender: SubSender,
    info: MidInfo,
    track: DownTrack,
}

struct Peer {
    key: SessionKey,
    env: PeerEnv,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// Events of both peer connections, tagged with which one and its generation (events of a
    /// replaced connection are ignored).
    pc_events: mpsc::UnboundedSender<(PcKind, u64, PcEvent)>,
    pub_pc: Option<Pc>,
    sub_pc: Option<SubPc>,
    /// Generations: of the last connection built, and of the current `pub` and `sub`.
    last_gen: u64,
    pub_gen: u64,
    sub_gen: u64,
    /// The sub peer connection's transport is up: what is sent now reaches the client.
    sub_connected: bool,
    /// `sub` recovery: its ICE restarts (this side offers on `sub`; the client restarts `pub`).
    sub_link: PcLink,
    /// When to look at the connections' recovery and set-up again (a grace or spacing period,
    /// or a set-up's time, ends).
    check_at: Option<Instant>,
    /// `sub` set-up: replaced (and offered `fresh`) when it does not come up.
    sub_setup: FirstConnect,
    /// `pub` set-up on this side: the client is asked to replace the connection
    /// ([`TransportMsg::Replace`]) when it does not come up here, however it looks there.
    pub_setup: AnswerSide,
    sub_fresh: bool,
    /// Answers to offers below this `neg` were for a replaced connection: ignored.
    sub_first_neg: u64,
    pub_mids: BTreeMap<String, TrackId>,
    /// mid -> layer, for tracks sent as one m-line per layer.
    pub_rids: BTreeMap<String, String>,
    /// The subscriber's downlink: the `sub` connection's estimate, shared by the down tracks.
    downlink: Arc<Downlink>,
    published: HashMap<TrackId, (tokio::task::JoinHandle<()>, LayerFeed)>,
    downs: HashMap<TrackId, Down>,
    /// Sub negotiation: last offer number, whether it awaits an answer, changes since it.
    sub_neg: u64,
    sub_outstanding: Option<(u64, Vec<TrackId>)>,
    sub_dirty: bool,
    /// Tracks added since the last offer (activated by the answer to the next one).
    sub_added: Vec<TrackId>,
    /// The room asked for the data channel ([`PeerCmd::OpenData`]); it is on `sub` when
    /// `data_on_sub` is that connection's generation.
    data_wanted: bool,
    data_on_sub: u64,
    joined_at: Instant,
}

/// Starts the peer actor for a session; `subscriber`: it may subscribe, so its `sub`
/// connection is built at once.
pub fn spawn(key: SessionKey, env: PeerEnv, events: mpsc::UnboundedSender<MediaEvent>, subscriber: bool) -> PeerHandle {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (pc_events, mut pc_events_rx) = mpsc::unbounded_channel();
    let mut peer = Peer {
        key,
        env,
        events,
        pc_events,
        pub_pc: None,
        sub_pc: None,
        last_gen: 0,
        pub_gen: 0,
        sub_gen: 0,
        sub_connected: false,
        sub_link: PcLink::default(),
        check_at: None,
        sub_setup: FirstConnect::default(),
        sub_fresh: false,
        sub_first_neg: 0,
        pub_setup: AnswerSide::default(),
        pub_mids: BTreeMap::new(),
        pub_rids: BTreeMap::new(),
        downlink: Arc::default(),
        published: HashMap::new(),
        downs: HashMap::new(),
        sub_neg: 0,
        sub_outstanding: None,
        sub_dirty: false,
        sub_added: Vec::new(),
        data_wanted: false,
        data_on_sub: 0,
        joined_at: Instant::now(),
    };
    tokio::spawn(async move {
        if subscriber && let Err(e) = peer.ensure_pc(PcKind::Sub).await {
            tracing::warn!(uid = peer.key.uid, "sub connection not built at join: {}", e.msg);
        }
        loop {
            let check = peer.check_at;
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => {
                        peer.command(cmd).await;
                        // What arrived meanwhile (a second subscription right after the
                        // first) goes into the same offer.
                        while let Ok(cmd) = rx.try_recv() {
                            peer.command(cmd).await;
                        }
                        peer.negotiate_sub_if_needed().await;
                    }
                    None => break,
                },
                Some((pc, generation, ev)) = pc_events_rx.recv() => {
                    if generation == if pc == PcKind::Pub { peer.pub_gen } else { peer.sub_gen } {
                        peer.pc_event(pc, ev).await;
                    }
                }
                _ = sleep_until_some(check) => {
                    peer.check_at = None;
                    peer.replace_sub_if_stuck().await;
                    peer.restart_sub_if_down(false).await;
                    peer.ask_pub_replacement_if_stuck();
                }
            }
        }
        peer.close().await;
    });
    PeerHandle { tx }
}

/// A token bucket of `rate` a second (and as many at once).
struct Pacer {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(rate: u32) -> Self {
        Pacer { rate: f64::from(rate), tokens: f64::from(rate), at: Instant::now() }
    }

    /// Takes a token, waiting for one when there is none.
    async fn take(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens < 1.0 {
            tokio::time::sleep(std::time::Duration::from_secs_f64((1.0 - self.tokens) / self.rate)).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn sdp_error(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadSdp, e.to_string())
}

impl Peer {
    async fn command(&mut self, cmd: PeerCmd) {
        match cmd {
            PeerCmd::PubOffer { id, sdp, neg, mids, rids, fresh } => {
                if fresh {
                    self.replace_pub().await;
                }
                self.pub_mids.extend(mids);
                self.pub_rids.extend(rids);
                let result = self.answer_pub(sdp, neg).await.map(|m| serde_json::to_value(m).expect("SdpMsg always serialises"));
                if let Err(e) = &result {
                    tracing::info!(uid = self.key.uid, "pub offer refused: {}", e.msg);
                }
                self.respond(id, result);
            }
            PeerCmd::SubAnswer { id, sdp, neg } => {
                let result = self.apply_sub_answer(sdp, neg).await;
                self.respond(id, result.map(|()| serde_json::json!({})));
            }
            PeerCmd::Ice { pc, candidate } => {
                let result = match (pc, &self.pub_pc, &self.sub_pc) {
                    (PcKind::Pub, Some(p), _) => p.pc.add_ice_candidate(candidate).await.map_err(|e| e.to_string()),
                    (PcKind::Sub, _, Some(s)) => s.add_ice_candidate(candidate).await,
                    _ => Ok(()),
                };
                if let Err(e) = result {
                    tracing::debug!(uid = self.key.uid, "ice candidate refused: {e}");
                }
            }
            PeerCmd::AddDown { track_id, owner, forwarder, layer, fallback } => {
                if let Err(e) = self.add_down(track_id.clone(), owner, forwarder, LayerChoice::new(layer, fallback)).await {
                    tracing::warn!(uid = self.key.uid, %track_id, "subscription failed: {}", e.msg);
                }
                // Negotiated by the command loop, after the commands queued behind this one.
            }
            PeerCmd::RemoveDown { track_id } => {
                if let Some(down) = self.downs.remove(&track_id) {
                    if let Some(sub) = &self.sub_pc {
                        sub.remove_track(&down.sender).await;
                    }
                    self.sub_added.retain(|t| *t != track_id);
                    self.sub_dirty = true;
                }
            }
            PeerCmd::SetLayer { track_id, layer, fallback } => {
                if let Some(d) = self.downs.get(&track_id) {
                    d.track.request_layer(layer, fallback);
                }
            }
            PeerCmd::StopPublished { track_id } => {
                if let Some((task, _)) = self.published.remove(&track_id) {
                    task.abort();
                }
            }
            PeerCmd::Resumed => self.restart_sub_if_down(true).await,
            PeerCmd::ReplaceSub { neg } => {
                if neg >= self.sub_first_neg && self.sub_pc.is_some() {
                    tracing::warn!(uid = self.key.uid, neg, "sub connection not up on the client: replacing it");
                    self.replace_sub().await;
                } else {
                    tracing::debug!(uid = self.key.uid, neg, first = self.sub_first_neg, "sub replacement asked for a replaced connection");
                }
            }
            PeerCmd::OpenData => {
                self.data_wanted = true;
                if !self.add_data_channel().await {
                    tracing::info!(uid = self.key.uid, "data channel wanted on a negotiated sub connection: replacing it");
                    self.replace_sub().await;
                }
            }
        }
    }

    /// Puts the data channel on the current `sub` (when wanted and not there yet); its events
    /// go to the room. A session that may not subscribe has no `sub` and keeps signaling.
    /// False when `sub` has been negotiated already: webrtc-rs starts an SCTP association only
    /// as DTLS completes, so a data channel added to a connection that is up would never open;
    /// the caller replaces the connection instead (once per session).
    async fn add_data_channel(&mut self) -> bool {
        if !self.data_wanted || self.data_on_sub == self.sub_gen {
            return true;
        }
        let Some(sub) = self.sub_pc.as_ref() else { return true };
        if sub.offered().await {
            return false;
        }
        let mut link = match sub.create_data_channel(nertc_protocol::DATA_CHANNEL_LABEL).await {
            Ok(link) => link,
            Err(e) => {
                tracing::warn!(uid = self.key.uid, "data channel not created: {e}");
                return true;
            }
        };
        self.data_on_sub = self.sub_gen;
        self.sub_dirty = true;
        let (events, key, metrics) = (self.events.clone(), self.key.clone(), self.env.metrics.clone());
        tokio::spawn(async move {
            let mut opened = false;
            let mut pace = Pacer::new(DATA_MESSAGES_PER_SEC);
            while let Some(ev) = link.recv().await {
                let ev = match ev {
                    DataEvent::Open(sender) => {
                        opened = true;
                        metrics.data_channels.fetch_add(1, Relaxed);
                        MediaEvent::DataOpen { key: key.clone(), sender }
                    }
                    DataEvent::Message(data) => {
                        pace.take().await;
                        MediaEvent::Data { key: key.clone(), data }
                    }
                    // The room notices a closed sender when it next writes to it.
                    DataEvent::Closed => break,
                };
                if events.send(ev).is_err() {
                    break;
                }
            }
            if opened {
                metrics.data_channels.fetch_sub(1, Relaxed);
            }
        });
        tracing::debug!(uid = self.key.uid, "data channel added to sub");
        true
    }

    /// Restarts ICE on `sub` when it is down ([`PcLink::restart_at`]; `now` after a resume).
    /// The restart offer goes out like any `sub` offer (after the one outstanding is answered;
    /// re-sent on a resume).
    async fn restart_sub_if_down(&mut self, now: bool) {
        let Some(due) = self.sub_link.restart_at(now) else { return };
        let t = Instant::now();
        if due > t {
            self.look_again_at(due);
            return;
        }
        tracing::info!(uid = self.key.uid, state = %self.sub_link.state, "sub connection down: restarting ICE");
        self.sub_link.last_restart = Some(t);
        self.sub_link.restart_pending = true;
        self.look_again_at(t + RESTART_EVERY);
        self.sub_dirty = true;
        self.negotiate_sub_if_needed().await;
    }

    /// Looks at the connections again at `at` (or earlier, if already due then).
    fn look_again_at(&mut self, at: Instant) {
        self.check_at = Some(self.check_at.map_or(at, |c| c.min(at)));
    }

    /// Replaces `sub` when it has not come up ([`FirstConnect`]): a new connection with every
    /// subscription on it (new senders, same forwarders), offered `fresh`.
    async fn replace_sub_if_stuck(&mut self) {
        match self.sub_setup.replace_at() {
            Some(at) if at <= Instant::now() => {}
            Some(at) => return self.look_again_at(at),
            None => return,
        }
        tracing::warn!(
            uid = self.key.uid,
            failed = self.sub_setup.failed,
            "sub connection not up {CONNECT_TIMEOUT:?} after its offer: replacing it"
        );
        self.replace_sub().await;
    }

    /// Asks the client to replace `pub` when this side has not come up ([`AnswerSide`]).
    fn ask_pub_replacement_if_stuck(&mut self) {
        let Some(neg) = self.pub_setup.ask(Instant::now()) else {
            if let Some(at) = self.pub_setup.ask_at() {
                self.look_again_at(at);
            }
            return;
        };
        tracing::warn!(
            uid = self.key.uid,
            failed = self.pub_setup.failed(),
            neg,
            "pub connection not up here {CONNECT_TIMEOUT:?} after its first offer: asking the client to replace it"
        );
        let _ = self.events.send(MediaEvent::Replace { key: self.key.clone(), pc: PcKind::Pub, neg });
    }

    /// Replaces `sub`: a new connection with every subscription on it (new senders, same
    /// forwarders) and the data channel when wanted, offered `fresh`.
    async fn replace_sub(&mut self) {
        let subs: Vec<(TrackId, Uid, ForwarderHandle, (usize, Fallback))> =
            self.downs.drain().map(|(track_id, d)| (track_id, d.info.uid, d.track.forwarder(), d.track.choice())).collect();
        if let Some(old) = self.sub_pc.take() {
            old.close().await;
        }
        self.sub_connected = false;
        self.sub_link = PcLink::default();
        self.sub_setup = FirstConnect::default();
        self.sub_outstanding = None;
        self.sub_added.clear();
        self.sub_fresh = true;
        self.sub_dirty = true;
        for (track_id, owner, forwarder, (layer, fallback)) in subs {
            if let Err(e) = self.add_down(track_id.clone(), owner, forwarder, LayerChoice::new(layer, fallback)).await {
                tracing::warn!(uid = self.key.uid, %track_id, "subscription lost replacing sub: {}", e.msg);
            }
        }
        if self.data_wanted && self.ensure_pc(PcKind::Sub).await.is_ok() {
            self.add_data_channel().await;
        }
        self.negotiate_sub_if_needed().await;
    }

    /// A new client `pub` connection replaces ours (its offer is `fresh`): the published
    /// tracks' forwarders stop without ending the tracks; the new connection's tracks start
    /// new ones, which the room hands to every subscription ([`DownTrack::rebind`]).
    async fn replace_pub(&mut self) {
        tracing::info!(uid = self.key.uid, "pub offer for a new connection: replacing ours");
        for (_, (task, _)) in self.published.drain() {
            task.abort();
        }
        if let Some(old) = self.pub_pc.take() {
            let _ = old.pc.close().await;
        }
        self.pub_setup = AnswerSide::default();
        self.pub_mids.clear();
        self.pub_rids.clear();
    }

    async fn pc_event(&mut self, pc: PcKind, ev: PcEvent) {
        match ev {
            PcEvent::Track(track) if pc == PcKind::Pub => self.on_remote_track(track).await,
            PcEvent::Track(_) => {}
            // Only this side opens data channels.
            PcEvent::DataChannel(dc) => {
                tracing::debug!(uid = self.key.uid, ?pc, "data channel opened by the client; closed");
                let _ = dc.close().await;
            }
            PcEvent::State(state) => {
                tracing::debug!(uid = self.key.uid, ?pc, %state, "peer connection state");
                if pc == PcKind::Pub {
                    self.pub_setup.set(state);
                    self.ask_pub_replacement_if_stuck();
                }
                // Keyframes sent before the subscriber's transport is up are lost: ask the
                // moment it can receive.
                if pc == PcKind::Sub {
                    tracing::debug!(uid = self.key.uid, %state, ms = self.since_join(), "sub connection state");
                    self.sub_connected = state == RTCPeerConnectionState::Connected;
                    self.sub_link.set(state, Instant::now());
                    self.sub_setup.set(state);
                    if self.sub_connected {
                        self.request_keyframes();
                    } else {
                        self.replace_sub_if_stuck().await;
                        self.restart_sub_if_down(false).await;
                    }
                }
            }
        }
    }

    /// Milliseconds since the session joined (for the timing in the debug log).
    fn since_join(&self) -> u128 {
        self.joined_at.elapsed().as_millis()
    }

    fn respond(&self, id: Option<u64>, result: Result<serde_json::Value, ErrorBody>) {
        let _ = self.events.send(MediaEvent::Respond { key: self.key.clone(), id, result });
    }

    /// Builds the `kind` connection if there is none; its events are tagged with a new
    /// generation.
    async fn ensure_pc(&mut self, kind: PcKind) -> Result<(), ErrorBody> {
        let exists = match kind {
            PcKind::Pub => self.pub_pc.is_some(),
            PcKind::Sub => self.sub_pc.is_some(),
        };
        if exists {
            return Ok(());
        }
        let internal = |e: String| ErrorBody::new(ErrorCode::Internal, format!("peer connection: {e}"));
        let mut events = match kind {
            PcKind::Pub => {
                let (made, events) = self.env.build_pub().await.map_err(|e| internal(e.to_string()))?;
                self.pub_pc = Some(made);
                events
            }
            PcKind::Sub => {
                // A `sub` connection estimates the subscriber's downlink from its TWCC feedback
                // (`rtc.downlink_estimate`).
                let estimate = self.env.rtc.downlink_estimate.then(|| self.downlink.bwe.clone());
                let (made, events) = self.env.build_sub(estimate).await.map_err(internal)?;
                self.sub_pc = Some(made);
                events
            }
        };
        self.last_gen += 1;
        let generation = self.last_gen;
        match kind {
            PcKind::Pub => self.pub_gen = generation,
            PcKind::Sub => self.sub_gen = generation,
        }
        let tagged = self.pc_events.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tagged.send((kind, generation, ev)).is_err() {
                    break;
                }
            }
        });
        Ok(())
    }

    /// Waits (bounded) until the PC has gathered its candidates, then returns its local SDP.
    async fn local_sdp(&self, kind: PcKind) -> Result<String, ErrorBody> {
        let sdp = match (kind, &self.pub_pc, &self.sub_pc) {
            (PcKind::Pub, Some(p), _) => p.local_sdp().await,
            (PcKind::Sub, _, Some(s)) => s.local_sdp().await,
            _ => return Err(ErrorBody::new(ErrorCode::Internal, "no peer connection")),
        };
        sdp.ok_or_else(|| ErrorBody::new(ErrorCode::Internal, "no local description"))
    }

    async fn answer_pub(&mut self, sdp: String, neg: u64) -> Result<SdpMsg, ErrorBody> {
        self.ensure_pc(PcKind::Pub).await?;
        let pc = self.pub_pc.as_ref().expect("ensure_pc built it").pc.clone();
        let offer = RTCSessionDescription::offer(sdp).map_err(sdp_error)?;
        pc.set_remote_description(offer).await.map_err(sdp_error)?;
        let answer = pc.create_answer(None).await.map_err(sdp_error)?;
        pc.set_local_description(answer).await.map_err(sdp_error)?;
        let sdp = self.local_sdp(PcKind::Pub).await?;
        self.pub_setup.applied(neg, Instant::now());
        if let Some(at) = self.pub_setup.ask_at() {
            self.look_again_at(at);
        }
        Ok(SdpMsg::answer(PcKind::Pub, sdp, neg))
    }

    async fn on_remote_track(&mut self, track: Arc<dyn TrackRemote>) {
        let Some(pub_pc) = self.pub_pc.as_ref() else { return };
        let mid = pub_pc.mid_of_remote(&track).await;
        let Some(track_id) = mid.as_ref().and_then(|m| self.pub_mids.get(m)).cloned() else {
            tracing::warn!(uid = self.key.uid, ?mid, "incoming track with no pub_mids entry; ignored");
            return;
        };
        let kind = match track.kind().await {
            RtpCodecKind::Audio => MediaKind::Audio,
            _ => MediaKind::Video,
        };
        // One m-line per layer (`pub_rids`): a layer after the first joins the publication's
        // forwarder. Otherwise the layers, if any, are told apart by rid.
        let layer = mid.as_ref().and_then(|m| self.pub_rids.get(m)).map(|rid| simulcast::layer_of_request(Some(rid)));
        if layer.is_some()
            && let Some((task, feed)) = self.published.get(&track_id)
            && !task.is_finished()
            && feed.add_track(layer, track.clone())
        {
            return;
        }
        let published =
            forwarder::spawn(track, layer, track_id.clone(), self.key.clone(), kind, self.events.clone(), self.env.metrics.clone());
        if let Some((old, _)) = self.published.insert(track_id, published) {
            old.abort();
        }
    }

    async fn add_down(&mut self, track_id: TrackId, owner: Uid, fwd: ForwarderHandle, choice: LayerChoice) -> Result<(), ErrorBody> {
        if let Some(d) = self.downs.get(&track_id) {
            // The publisher's connection was replaced: same track, new forwarder.
            d.track.rebind(fwd);
            if self.sub_connected && d.info.kind == MediaKind::Video {
                d.track.request_keyframe();
            }
            return Ok(());
        }
        let (codec, pt, kind) = nertc_rtc::codecs::canonical(&fwd.codec)
            .ok_or_else(|| ErrorBody::new(ErrorCode::Internal, format!("codec {} cannot be forwarded", fwd.codec)))?;
        self.ensure_pc(PcKind::Sub).await?;
        let sub = self.sub_pc.as_ref().expect("ensure_pc built it");
        let ssrc = rand::random::<u32>();
        let clock_rate = codec.clock_rate;
        let (sender, out) = sub
            .add_track(nertc_rtc::codecs::media_track(format!("nertc-{owner}"), &track_id, kind, codec, ssrc))
            .await
            .map_err(|e| ErrorBody::new(ErrorCode::Internal, format!("add_track: {e}")))?;
        let info = MidInfo { track_id: track_id.clone(), uid: owner, kind: fwd.kind };
        let reports = self.env.reports.register(ssrc);
        let notice = FallbackNotice { events: self.events.clone(), key: self.key.clone(), track_id: track_id.clone() };
        let munger = Munger::new(ssrc, pt, clock_rate);
        let signals = DownlinkSignals { reports, downlink: self.downlink.clone() };
        let track = DownTrack::spawn(out, munger, fwd, choice, signals, self.env.metrics.clone(), notice);
        self.downs.insert(track_id.clone(), Down { sender, info, track });
        self.sub_added.push(track_id);
        self.sub_dirty = true;
        Ok(())
    }

    async fn negotiate_sub_if_needed(&mut self) {
        if !self.sub_dirty || self.sub_outstanding.is_some() {
            return;
        }
        if self.sub_pc.is_none() {
            return;
        }
        self.sub_dirty = false;
        let fresh = std::mem::take(&mut self.sub_fresh);
        // A new connection has no ICE session to restart.
        let restart = std::mem::take(&mut self.sub_link.restart_pending) && !fresh;
        let result: Result<SdpMsg, ErrorBody> = async {
            let sub = self.sub_pc.as_ref().expect("negotiation runs only with a sub pc");
            sub.offer(restart).await.map_err(sdp_error)?;
            let sdp = self.local_sdp(PcKind::Sub).await?;
            let mut sub_mids = BTreeMap::new();
            for d in self.downs.values() {
                if let Some(mid) = sub.mid_of(&d.sender).await {
                    sub_mids.insert(mid, d.info.clone());
                }
            }
            self.sub_neg += 1;
            if fresh {
                self.sub_first_neg = self.sub_neg;
            }
            Ok(SdpMsg {
                pc: PcKind::Sub,
                kind: SdpType::Offer,
                sdp,
                neg: self.sub_neg,
                pub_mids: BTreeMap::new(),
                sub_mids,
                pub_rids: BTreeMap::new(),
                fresh,
            })
        }
        .await;
        match result {
            Ok(msg) => {
                self.sub_setup.offered(Instant::now());
                if let Some(at) = self.sub_setup.replace_at() {
                    self.look_again_at(at);
                }
                self.sub_outstanding = Some((msg.neg, std::mem::take(&mut self.sub_added)));
                tracing::debug!(uid = self.key.uid, neg = msg.neg, tracks = msg.sub_mids.len(), ms = self.since_join(), "sub offer sent");
                let _ = self.events.send(MediaEvent::SubOffer { key: self.key.clone(), msg });
            }
            Err(e) => tracing::warn!(uid = self.key.uid, "sub offer failed: {}", e.msg),
        }
    }

    async fn apply_sub_answer(&mut self, sdp: String, neg: u64) -> Result<(), ErrorBody> {
        if neg < self.sub_first_neg {
            tracing::debug!(uid = self.key.uid, neg, "answer for a replaced sub connection; ignored");
            return Ok(());
        }
        let Some((outstanding, added)) = self.sub_outstanding.take() else {
            return Err(ErrorBody::new(ErrorCode::BadRequest, "no sub offer is awaiting an answer"));
        };
        if outstanding != neg {
            self.sub_outstanding = Some((outstanding, added));
            return Err(ErrorBody::new(ErrorCode::BadRequest, format!("answer for neg {neg}, awaiting {outstanding}")));
        }
        let sub = self.sub_pc.as_ref().ok_or_else(|| sdp_error("no sub pc"))?;
        if let Err(e) = sub.apply_answer(sdp).await {
            // Keep waiting for a usable answer to the same offer.
            self.sub_outstanding = Some((outstanding, added));
            return Err(sdp_error(e));
        }
        tracing::debug!(uid = self.key.uid, neg, ms = self.since_join(), "sub answer applied");
        let live: Vec<TrackId> = added.into_iter().filter(|t| self.downs.contains_key(t)).collect();
        if !live.is_empty() {
            let _ = self.events.send(MediaEvent::SubActive { key: self.key.clone(), track_ids: live });
        }
        // New down tracks need a keyframe. Before the transport is up it would be lost, and
        // worse, it would use up the publisher's keyframe window (libwebrtc ignores requests
        // within 300 ms of its last keyframe), so that the request made once the transport
        // connects went unanswered; that one is made by the state change instead.
        if self.sub_connected {
            self.request_keyframes();
        }
        Ok(())
    }

    /// Asks the publishers of every subscribed video track whose m-line is negotiated for a
    /// keyframe (throttled there). This starts new subscriptions: they get their track's
    /// cached keyframe at once. A track still being negotiated is asked for when the answer
    /// is applied (what it got before would be lost).
    fn request_keyframes(&self) {
        let pending = |t: &TrackId| self.sub_added.contains(t) || self.sub_outstanding.as_ref().is_some_and(|(_, a)| a.contains(t));
        for (id, d) in self.downs.iter().filter(|(id, d)| d.info.kind == MediaKind::Video && !pending(id)) {
            tracing::debug!(uid = self.key.uid, track_id = %id, ms = self.since_join(), "keyframe asked for a subscription");
            d.track.request_keyframe();
        }
    }

    async fn close(&mut self) {
        self.downs.clear();
        for (_, (task, _)) in self.published.drain() {
            task.abort();
        }
        if let Some(p) = self.pub_pc.take() {
            let _ = p.pc.close().await;
        }
        if let Some(s) = self.sub_pc.take() {
            s.close().await;
        }
    }
}
