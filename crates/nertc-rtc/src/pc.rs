//! Building a peer connection the way both sides need it, and waiting for its local SDP; the
//! data channel that carries NERTC's data messages ([`DataLink`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, ReceiverReportBuilder, Registry, SenderReportBuilder, Slot, TwccReceiverBuilder};
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::configuration::interceptor_registry::{configure_simulcast_extension_headers, configure_twcc_receiver_only};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceCandidateType,
    RTCIceGatheringState, RTCPeerConnectionState, SettingEngine, SettingEngineBuilder,
};
use webrtc::runtime::Runtime;

use crate::codecs::media_engine;
use crate::nack::NackResponderBuilder;
use crate::tap::{FeedbackCounter, RtcpTap};

/// Sent packets kept per outgoing stream to answer NACKs. webrtc-rs keeps 1024; a
/// retransmission older than about a second is useless to a real-time receiver, and 256
/// packets are 7 s of 500 kbit/s video, 1.7 s at 1.5 Mbit/s. At 1024 each SFU down-track held
/// up to ~1.2 MB, which made the server's memory grow with every subscriber for 30 s
/// (bench `fanout`: 0.7 MiB per subscriber after 20 s, against Janus's 0.57).
pub const NACK_SEND_BUFFER_PACKETS: u16 = 256;

/// How often the receive side asks again for every packet still missing (webrtc-rs's default
/// is 100 ms). With loss on the path a retransmission or the NACK itself is lost as often as the
/// original, so recovery takes several rounds; shorter rounds repair a hole within a receiver's
/// reordering wait (the engine waits 400 ms) instead of costing a keyframe.
pub const NACK_INTERVAL: Duration = Duration::from_millis(40);
/// NACKs per missing packet at most: ten rounds, 400 ms at [`NACK_INTERVAL`]; after that the
/// receiver has given up on it, and asking on (until it leaves the 512-packet receive log)
/// would only make the sender retransmit for nobody.
pub const MAX_NACKS_PER_PACKET: u16 = 10;

/// Events a peer connection may hold for its owner. Its callbacks never wait (they run inside
/// webrtc-rs's driver): when the owner is this far behind, further events are dropped and
/// logged. Events are rare (state changes, one per remote track), so a full queue is a stuck
/// owner.
pub const PC_EVENT_QUEUE: usize = 64;

/// What a peer connection reports to its owner.
pub enum PcEvent {
    Track(Arc<dyn TrackRemote>),
    State(RTCPeerConnectionState),
    /// The remote opened a data channel (in-band, DCEP); see [`DataLink::spawn`].
    DataChannel(Arc<dyn DataChannel>),
}

struct Handler {
    gathered: Arc<watch::Sender<bool>>,
    events: mpsc::Sender<PcEvent>,
}

impl Handler {
    fn report(&self, ev: PcEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(ev) {
            tracing::error!("peer connection owner {PC_EVENT_QUEUE} events behind; event dropped");
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, s: RTCIceGatheringState) {
        if s == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_connection_state_change(&self, s: RTCPeerConnectionState) {
        self.report(PcEvent::State(s));
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        self.report(PcEvent::Track(track));
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        self.report(PcEvent::DataChannel(dc));
    }
}

/// Messages a data channel's task may hold for its owner before it stops reading the channel
/// (SCTP then buffers, and its receive window pushes back on the sender).
pub const DATA_EVENT_QUEUE: usize = 256;

/// What a data channel's task reports, in order.
#[derive(Debug)]
pub enum DataEvent {
    /// The channel is open: what goes into this sender is sent on it, in order.
    Open(DataSender),
    /// A message from the remote.
    Message(Bytes),
    /// The channel closed (or its connection did); the sender now refuses messages.
    Closed,
}

/// Messages a data channel's task may have queued for sending (about 10 s of the engine's
/// 100 messages a second): a fuller queue is a remote that does not read.
pub const DATA_SEND_QUEUE: usize = 1024;

/// The sending side of an open data channel. Cheap to clone; [`DataSender::send`] never waits
/// (the channel's task does the awaiting, one message after the other).
#[derive(Debug, Clone)]
pub struct DataSender(pub(crate) mpsc::Sender<Bytes>);

impl DataSender {
    /// Queues a message; false when the channel is closed ([`DataSender::is_closed`]) or
    /// [`DATA_SEND_QUEUE`] messages are waiting (the message was not sent).
    pub fn send(&self, msg: Bytes) -> bool {
        self.0.try_send(msg).is_ok()
    }

    /// The channel's task has ended: nothing sent now would go anywhere.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// A data channel driven by a task of its own: it reads the channel into a queue of
/// [`DataEvent`]s and writes what its [`DataSender`] is given.
pub struct DataLink;

impl DataLink {
    /// Starts the task for `dc` (created here with [`Pc::create_data_channel`] or handed over
    /// by [`PcEvent::DataChannel`]); the task ends when the channel closes or the receiver is
    /// dropped.
    pub fn spawn(dc: Arc<dyn DataChannel>) -> mpsc::Receiver<DataEvent> {
        let (events, rx) = mpsc::channel(DATA_EVENT_QUEUE);
        tokio::spawn(async move {
            let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(DATA_SEND_QUEUE);
            let mut out_tx = Some(out_tx);
            let mut open = false;
            loop {
                tokio::select! {
                    // Sends first: a message queued before a close still goes out.
                    biased;
                    Some(msg) = out_rx.recv(), if open => {
                        if let Err(e) = dc.send(BytesMut::from(&msg[..])).await {
                            tracing::debug!("data channel send failed: {e}");
                            break;
                        }
                    }
                    ev = dc.poll() => match ev {
                        Some(DataChannelEvent::OnOpen) => {
                            if let Some(tx) = out_tx.take() {
                                open = true;
                                if events.send(DataEvent::Open(DataSender(tx))).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Some(DataChannelEvent::OnMessage(m)) => {
                            if events.send(DataEvent::Message(m.data.freeze())).await.is_err() {
                                break;
                            }
                        }
                        Some(DataChannelEvent::OnClose) | None => break,
                        Some(_) => {}
                    },
                }
            }
            out_rx.close();
            let _ = events.send(DataEvent::Closed).await;
            let _ = dc.close().await;
        });
        rx
    }
}

/// The media path's round trip in a stats report, from the ICE consent checks (STUN binding
/// requests every keepalive interval on the selected pair) — what RTCP RRs would say, without
/// depending on the remote's RTCP. None before the first check is answered.
pub fn ice_rtt_ms(report: &webrtc::peer_connection::RTCStatsReport) -> Option<u32> {
    report
        .candidate_pairs()
        .filter(|p| p.nominated && p.current_round_trip_time > 0.0)
        .map(|p| (p.current_round_trip_time * 1000.0).round() as u32)
        .min()
}

/// Options for [`Pc::build`].
#[derive(Clone, Default)]
pub struct PcBuilder {
    /// Local address for the media socket; port 0 = ephemeral.
    pub bind: Option<SocketAddr>,
    /// IP written into candidates instead of the bound one (1:1 NAT).
    pub advertised_ip: Option<String>,
    /// Counts NACKs and keyframe requests from the remote (next to the wire).
    pub feedback_counter: Option<FeedbackCounter>,
    /// Send-side congestion control ([`crate::cc`]): transport-wide sequence numbers on what
    /// we send, the remote's feedback estimated into this, video paced by it. Without it the
    /// connection only reports on what it receives.
    pub congestion: Option<Arc<crate::cc::Bwe>>,
    /// Estimate only ([`crate::cc::configure_estimate_only`]): transport-wide sequence numbers
    /// on what we send and the remote's feedback estimated into this, nothing paced (a server
    /// forwarding to a subscriber). Ignored with `congestion`.
    pub estimate: Option<Arc<crate::cc::Bwe>>,
    /// The runtime that wraps the sockets webrtc-rs binds (its tokio one if None). The room
    /// server's wraps them into views of its one media port (and ICE-TCP port): see
    /// [`PcBuilder::shared_sdp`].
    pub runtime: Option<Arc<dyn Runtime>>,
    /// For a connection whose `runtime` runs it over sockets shared with other connections:
    /// gets every local description before it leaves, and writes the shared sockets' ports
    /// into its candidates (learning the ICE username fragment the shared UDP socket's
    /// demultiplexer routes by). The connection still names its candidates after the sockets
    /// it bound, which the runtime closed. Multicast DNS is off for such a connection (its
    /// socket would be a second one).
    pub shared_sdp: Option<SdpRewrite>,
    /// Also listen for ICE over TCP here (RFC 6544: a passive host candidate, and an active
    /// one on port 9 that webrtc-rs adds; the room server leaves that one out of its SDP).
    pub tcp_bind: Option<SocketAddr>,
    /// No UDP socket at all: ICE over `tcp_bind` only (the remote's UDP candidates pair with
    /// nothing). For testing the TCP fallback as a UDP-less client would meet it.
    pub tcp_only: bool,
    /// This side only sends media (the room server's `sub` connection): the interceptors that
    /// report on received media (NACK generator, TWCC feedback, receiver reports) are left out
    /// of the chain, which every packet sent walks through.
    pub send_only: bool,
}

/// Rewrites a local description ([`PcBuilder::shared_sdp`]).
pub type SdpRewrite = Arc<dyn Fn(String) -> String + Send + Sync>;

/// A peer connection plus the signal that ICE gathering finished.
pub struct Pc {
    pub pc: Arc<dyn PeerConnection>,
    gathered_tx: Arc<watch::Sender<bool>>,
    gathered: watch::Receiver<bool>,
    /// [`PcBuilder::shared_sdp`].
    sdp_filter: Option<SdpRewrite>,
}

impl PcBuilder {
    /// Builds the peer connection: our codecs, our NACK responder ([`crate::nack`], with a
    /// [`NACK_SEND_BUFFER_PACKETS`] send cache) and sender reports, webrtc-rs's NACK generator,
    /// TWCC receiver and receiver reports (unless [`PcBuilder::send_only`]), congestion control
    /// or the estimate when asked, the RTCP tap, loopback candidates.
    pub async fn build(self) -> webrtc::error::Result<(Pc, mpsc::Receiver<PcEvent>)> {
        let (me, registry, settings) = self.parts()?;
        let (gtx, grx) = watch::channel(false);
        let gtx = Arc::new(gtx);
        let (etx, erx) = mpsc::channel(PC_EVENT_QUEUE);
        let bind = self.bind.unwrap_or_else(|| SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 0));
        let mut builder = PeerConnectionBuilder::new();
        if let Some(runtime) = self.runtime {
            builder = builder.with_runtime(runtime);
        }
        let udp_addrs = if self.tcp_only && self.tcp_bind.is_some() { vec![] } else { vec![bind] };
        let pc = builder
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .with_handler(Arc::new(Handler { gathered: gtx.clone(), events: etx }))
            .with_udp_addrs(udp_addrs)
            .with_tcp_addrs(self.tcp_bind.into_iter().collect())
            .build()
            .await?;
        Ok((Pc { pc: Arc::new(pc), gathered_tx: gtx, gathered: grx, sdp_filter: self.shared_sdp }, erx))
    }

    /// What both drivers build a connection from: the media engine (our codecs, simulcast
    /// header extensions, TWCC when estimating), the interceptor chain and the settings.
    pub(crate) fn parts(&self) -> webrtc::error::Result<(MediaEngine, Registry, SettingEngine)> {
        let mut me = media_engine()?;
        configure_simulcast_extension_headers(&mut me)?;
        // Our codecs already carry the nack / nack pli feedback that configure_nack registers.
        let mut registry = Registry::new()
            .with(Slot::from(500), RtcpTap::new(self.feedback_counter.clone()))
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new(NACK_SEND_BUFFER_PACKETS).with_counter(self.feedback_counter.clone()).build(),
            )
            .with(Slot::SenderReport, SenderReportBuilder::new().build());
        let receives = !self.send_only;
        if receives {
            registry = registry
                .with(
                    Slot::NackGenerator,
                    NackGeneratorBuilder::new().with_interval(NACK_INTERVAL).with_max_nacks_per_packet(MAX_NACKS_PER_PACKET).build(),
                )
                .with(Slot::ReceiverReport, ReceiverReportBuilder::new().build());
        }
        let registry = match (self.congestion.clone(), self.estimate.clone()) {
            (Some(bwe), _) => crate::cc::configure(registry, &mut me, bwe)?,
            (None, Some(bwe)) if receives => {
                crate::cc::configure_estimate_only(registry, &mut me, bwe)?.with(Slot::TwccReceiver, TwccReceiverBuilder::new().build())
            }
            (None, Some(bwe)) => crate::cc::configure_estimate_only(registry, &mut me, bwe)?,
            (None, None) if receives => configure_twcc_receiver_only(registry, &mut me)?,
            (None, None) => registry,
        };
        let mut settings = SettingEngineBuilder::new()
            .with_include_loopback_candidate(true)
            .with_ice_timeouts(Some(Duration::from_secs(5)), Some(Duration::from_secs(15)), Some(Duration::from_secs(2)))
            // Connectivity checks every 50 ms instead of webrtc-rs's 200 ms (same 1.4 s of
            // attempts per candidate pair): the first check no longer waits up to 200 ms,
            // which was most of the time to a subscriber's first packet on a fast network.
            .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
            // A peer-reflexive pair may be nominated at once (webrtc-rs waits 1 s, counted from
            // the agent's (re)start, for a better one to turn up). After an ICE restart the
            // offerer's sockets are new and the answerer meets them as peer-reflexive: the wait
            // was the whole 1 s the restarted connection took. Our candidates are host
            // candidates on both sides; there is nothing better to wait for.
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO));
        if let Some(ip) = self.advertised_ip.clone() {
            settings = settings.with_nat_1to1_ips(vec![ip], RTCIceCandidateType::Host);
        }
        if self.shared_sdp.is_some() {
            settings = settings.with_multicast_dns_mode(MulticastDnsMode::Disabled);
        }
        Ok((me, registry, settings.build()))
    }
}

impl Pc {
    /// Creates an ordered, reliable data channel labelled `label`, opened in-band (DCEP) once
    /// the connection's SCTP association is up; adding it needs a renegotiation (an
    /// `m=application` section) when the connection has none yet.
    pub async fn create_data_channel(&self, label: &str) -> webrtc::error::Result<Arc<dyn DataChannel>> {
        self.pc.create_data_channel(label, Some(RTCDataChannelInit { ordered: true, ..Default::default() })).await
    }

    /// Creates an offer that restarts ICE (new credentials, sockets re-bound, candidates
    /// gathered again) and applies it; [`Pc::local_sdp`] then waits for the new candidates.
    /// The other side applies it as an ordinary renegotiation; DTLS, SRTP and the tracks stay.
    pub async fn offer_ice_restart(&self) -> webrtc::error::Result<()> {
        let offer = self.pc.create_offer(Some(RTCOfferOptions { ice_restart: true })).await?;
        self.gathered_tx.send_replace(false);
        self.pc.set_local_description(offer).await
    }

    /// The local SDP once candidates are gathered (waits at most 3 s).
    pub async fn local_sdp(&self) -> Option<String> {
        let mut g = self.gathered.clone();
        let _ = tokio::time::timeout(Duration::from_secs(3), g.wait_for(|v| *v)).await;
        let sdp = self.pc.local_description().await.map(|d| d.sdp)?;
        Some(match &self.sdp_filter {
            Some(filter) => filter(sdp),
            None => sdp,
        })
    }

    /// ICE over TCP, active side: connects to every passive TCP candidate of the remote
    /// description `sdp` (once each). webrtc-rs dials a passive candidate only when it comes
    /// through `add_ice_candidate` (trickle), not in a description, so a connection built
    /// with [`PcBuilder::tcp_bind`] calls this after applying the remote's description.
    /// Returns how many candidates were handed over.
    pub async fn dial_tcp_candidates(&self, sdp: &str) -> webrtc::error::Result<usize> {
        let mut mid = None;
        let mut seen = std::collections::HashSet::new();
        for line in sdp.lines() {
            if line.starts_with("m=") {
                mid = None;
            } else if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.trim().to_owned());
            } else if let Some(c) = line.strip_prefix("a=") {
                let fields: Vec<&str> = c.split(' ').collect();
                let passive_tcp = fields.len() >= 6
                    && c.starts_with("candidate:")
                    && fields.get(2).is_some_and(|t| t.eq_ignore_ascii_case("tcp"))
                    && fields.windows(2).any(|w| w == ["tcptype", "passive"]);
                // Address and port: one dial per listening socket, whichever m-line lists it.
                if passive_tcp && seen.insert((fields[4].to_owned(), fields[5].to_owned())) {
                    let init = webrtc::peer_connection::RTCIceCandidateInit {
                        candidate: c.trim().to_owned(),
                        sdp_mid: mid.clone(),
                        ..Default::default()
                    };
                    self.pc.add_ice_candidate(init).await?;
                }
            }
        }
        Ok(seen.len())
    }

    /// The mid of the transceiver whose receiver carries `track`.
    pub async fn mid_of_remote(&self, track: &Arc<dyn TrackRemote>) -> Option<String> {
        for t in self.pc.get_transceivers().await {
            if let Ok(Some(r)) = t.receiver().await
                && Arc::ptr_eq(r.track(), track)
            {
                return t.mid().await.ok().flatten();
            }
        }
        None
    }

    /// The mid of the transceiver whose sender has id `sender_id`.
    pub async fn mid_of_sender(&self, sender_id: webrtc::rtp_transceiver::RTCRtpSenderId) -> Option<String> {
        for t in self.pc.get_transceivers().await {
            if let (Ok(Some(s)), Ok(mid)) = (t.sender().await, t.mid().await)
                && s.id() == sender_id
            {
                return mid;
            }
        }
        None
    }
}
