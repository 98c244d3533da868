//! A peer connection driven here, over webrtc-rs's sans-IO core (`rtc::RTCPeerConnection`),
//! for a side that mostly sends: the room server's `sub` connections.
//!
//! webrtc-rs's own driver ([`crate::pc::Pc`]) takes every RTP packet through a channel to the
//! connection's task, which wakes, locks the core four times, writes the packet, flushes and
//! arms a timer: per packet and subscriber, more work than the packet's own (interceptors and
//! SRTP). Here the writer does it in place instead ([`DirectTrack::write`]): it locks the core,
//! writes the packet through the interceptors and SRTP, and hands the datagrams to the socket
//! (the room server's shared one queues them for `sendmmsg`), with no task hop.
//!
//! Threads and data flow: one task per connection ([`drive`]) reads the socket (ICE, DTLS,
//! SCTP, RTCP), runs the core's timers and reports its events: connection state
//! ([`PcEvent::State`]), RTCP about a sent track (to that track's [`DirectTrack::take_rtcp`]), data
//! channel events (to the channel's [`DataEvent`] queue). Writers — forwarders and data
//! channel tasks — lock the core (a `std` mutex, held for one write and its flush) from their
//! own tasks. Sockets come from a webrtc-rs [`Runtime`], so the room server's shared UDP port
//! serves these connections as it serves webrtc-rs's. UDP only: no ICE over TCP (the room server
//! uses webrtc-rs's driver when it listens for ICE-TCP).

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelInit};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::{Notify, mpsc};
use webrtc::peer_connection::{
    RTCConfigurationBuilder, RTCDataChannelEvent, RTCIceCandidate, RTCIceCandidateInit, RTCPeerConnectionEvent, RTCSessionDescription,
};
use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Runtime, Transmit};

use crate::pc::{DATA_EVENT_QUEUE, DATA_SEND_QUEUE, DataEvent, DataSender, PC_EVENT_QUEUE, PcBuilder, PcEvent, SdpRewrite};

/// An RTCP compound the remote sent about a track.
pub type Rtcp = Vec<Box<dyn rtc::rtcp::Packet>>;

/// Errors of a direct connection: the core's, or one of its own.
pub type Error = rtc::shared::error::Error;
type Result<T> = std::result::Result<T, Error>;

/// RTCP messages a track's reader may be behind; more are dropped (keyframe requests are
/// repeated by the remote, and NACKs are answered inside the core).
pub const TRACK_RTCP_QUEUE: usize = 64;
/// Datagrams read from the socket at once (a sending connection receives little: RTCP,
/// consent checks, the data channel).
const RECV_BATCH: usize = 4;
/// Room for one datagram (the path MTU is at most 1500 on the networks we meet).
const DATAGRAM_MAX: usize = 2048;
/// An expired timeout is handled at most this often (the core may report the same past instant
/// until its clock moves).
const MIN_TIMEOUT_INTERVAL: Duration = Duration::from_millis(1);
/// With nothing scheduled, the driver looks at the core again this often anyway.
const IDLE_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection driven by [`drive`]; closed when dropped.
pub struct DirectPc {
    inner: Arc<Inner>,
    driver: tokio::task::AbortHandle,
}

struct Inner {
    core: Mutex<RTCPeerConnection>,
    socket: Arc<dyn AsyncUdpSocket>,
    /// A socket of the connection's own is written with plain non-blocking `sendto`s on a
    /// clone of it: the async socket's send waits for the reactor to have seen it writable,
    /// which a write from outside the driver cannot wait for (a fresh socket's first datagrams
    /// would be lost). None for a shared socket: its sends queue for the shared sender.
    send_fd: Option<std::net::UdpSocket>,
    /// The socket's address: the host candidate's, and the local side of every datagram.
    local: SocketAddr,
    /// Wakes the driver to look at the core again (a call changed its timers or events).
    kick: Notify,
    closed: AtomicBool,
    events: mpsc::Sender<PcEvent>,
    /// Track id -> its RTCP reader.
    rtcp: Mutex<HashMap<String, mpsc::Sender<Rtcp>>>,
    data: Mutex<HashMap<RTCDataChannelId, DataRoute>>,
    sdp_filter: Option<SdpRewrite>,
    /// Written into the host candidate of the descriptions that leave (1:1 NAT); the core
    /// knows the candidate by its bound address, which is where its datagrams arrive.
    advertised_ip: Option<String>,
}

struct DataRoute {
    events: mpsc::Sender<DataEvent>,
    /// Given to the owner with [`DataEvent::Open`].
    sender: Option<DataSender>,
    /// Dropped with the route (the channel or the connection closed): the channel's sending
    /// task then ends, and its [`DataSender`] refuses messages.
    _alive: tokio::sync::oneshot::Sender<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DirectPc {
    /// Builds a connection as [`PcBuilder::build`] would (same codecs, interceptors and
    /// settings), on one UDP socket bound at `b.bind` and wrapped by `b.runtime` (tokio's when
    /// None). The bound address must be a concrete one: it is the host candidate.
    pub fn build(b: PcBuilder) -> Result<(DirectPc, mpsc::Receiver<PcEvent>)> {
        let bind = b.bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        if bind.ip().is_unspecified() {
            return Err(Error::Other(format!("a direct connection needs a concrete address to bind, not {bind}")));
        }
        let (me, registry, settings) = b.parts().map_err(|e| Error::Other(e.to_string()))?;
        let std_socket = std::net::UdpSocket::bind(bind).map_err(|e| Error::Other(format!("bind {bind}: {e}")))?;
        std_socket.set_nonblocking(true).map_err(|e| Error::Other(e.to_string()))?;
        let bound = std_socket.local_addr().map_err(|e| Error::Other(e.to_string()))?;
        let send_fd = match b.shared_sdp {
            Some(_) => None,
            None => Some(std_socket.try_clone().map_err(|e| Error::Other(format!("clone {bound}: {e}")))?),
        };
        let runtime: Arc<dyn Runtime> = b.runtime.clone().unwrap_or_else(|| Arc::new(webrtc::runtime::TokioRuntime));
        let socket = runtime.wrap_udp_socket(std_socket).map_err(|e| Error::Other(format!("wrap {bound}: {e}")))?;
        let local = socket.local_addr().unwrap_or(bound);
        let mut core = RTCPeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(me)
            .with_interceptor_registry(registry)
            .with_setting_engine(settings)
            .build(Instant::now())?;
        add_host_candidate(&mut core, local)?;
        let (events, rx) = mpsc::channel(PC_EVENT_QUEUE);
        let inner = Arc::new(Inner {
            core: Mutex::new(core),
            socket,
            send_fd,
            local,
            kick: Notify::new(),
            closed: AtomicBool::new(false),
            events,
            rtcp: Mutex::default(),
            data: Mutex::default(),
            sdp_filter: b.shared_sdp,
            advertised_ip: b.advertised_ip,
        });
        let driver = tokio::spawn(drive(inner.clone())).abort_handle();
        Ok((DirectPc { inner, driver }, rx))
    }

    /// Creates an offer (restarting ICE: new credentials, when `ice_restart`) and applies it.
    pub fn offer(&self, ice_restart: bool) -> Result<()> {
        self.with_core(|core| {
            let offer = core.create_offer(ice_restart.then_some(RTCOfferOptions { ice_restart: true }))?;
            core.set_local_description(Instant::now(), offer)
        })
    }

    /// The local description, as it leaves (through [`PcBuilder::shared_sdp`]).
    pub fn local_sdp(&self) -> Option<String> {
        let sdp = lock(&self.inner.core).local_description()?.sdp;
        Some(match (&self.inner.sdp_filter, &self.inner.advertised_ip) {
            // The shared socket's rewrite writes the advertised address too.
            (Some(filter), _) => filter(sdp),
            (None, Some(ip)) => advertise(&sdp, self.inner.local, ip),
            (None, None) => sdp,
        })
    }

    /// Applies the remote's answer.
    pub fn set_remote_answer(&self, sdp: String) -> Result<()> {
        let answer = RTCSessionDescription::answer(sdp)?;
        self.with_core(|core| core.set_remote_description(Instant::now(), answer))
    }

    /// A candidate the remote trickled.
    pub fn add_ice_candidate(&self, candidate: RTCIceCandidateInit) -> Result<()> {
        self.with_core(|core| core.add_remote_candidate(candidate))
    }

    /// Adds a track to send (negotiated by the next offer).
    pub fn add_track(&self, track: MediaStreamTrack) -> Result<DirectTrack> {
        let track_id = track.track_id().to_owned();
        let sender = self.with_core(|core| core.add_track(track))?;
        let (tx, rtcp) = mpsc::channel(TRACK_RTCP_QUEUE);
        lock(&self.inner.rtcp).insert(track_id.clone(), tx);
        Ok(DirectTrack { pc: Arc::downgrade(&self.inner), sender, rtcp: Some(rtcp), first: true })
    }

    /// Stops sending the track of `sender` (the next offer says so).
    pub fn remove_track(&self, sender: RTCRtpSenderId) -> Result<()> {
        let track_id = self.with_core(|core| {
            let id = core.rtp_sender(sender).map(|s| s.track().track_id().to_owned());
            core.remove_track(sender).map(|()| id)
        })?;
        if let Some(id) = track_id {
            lock(&self.inner.rtcp).remove(&id);
        }
        Ok(())
    }

    /// The mid of the transceiver whose sender is `sender`.
    pub fn mid_of_sender(&self, sender: RTCRtpSenderId) -> Option<String> {
        let mut core = lock(&self.inner.core);
        let ids: Vec<_> = core.get_transceivers().collect();
        ids.into_iter().find_map(|id| {
            let t = core.rtp_transceiver(id)?;
            (t.sender() == Some(sender)).then(|| t.mid().clone()).flatten()
        })
    }

    /// Creates an ordered, reliable data channel (opened in-band once SCTP is up; a new
    /// `m=application` section needs an offer). Its events come in order on the receiver, the
    /// first being [`DataEvent::Open`] with the sender of its messages.
    pub fn create_data_channel(&self, label: &str) -> Result<mpsc::Receiver<DataEvent>> {
        let id = self.with_core(|core| {
            core.create_data_channel(label, Some(RTCDataChannelInit { ordered: true, ..Default::default() })).map(|dc| dc.id())
        })?;
        let (events, rx) = mpsc::channel(DATA_EVENT_QUEUE);
        let (out_tx, mut out_rx) = mpsc::channel::<bytes::Bytes>(DATA_SEND_QUEUE);
        let (alive, mut gone) = tokio::sync::oneshot::channel();
        lock(&self.inner.data).insert(id, DataRoute { events, sender: Some(DataSender(out_tx)), _alive: alive });
        let pc = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    msg = out_rx.recv() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    _ = &mut gone => break,
                };
                let Some(inner) = pc.upgrade() else { break };
                let sent = inner.with_core(|core| match core.data_channel(id) {
                    Some(mut dc) => dc.send(Instant::now(), BytesMut::from(&msg[..])),
                    None => Err(Error::Other("data channel gone".into())),
                });
                if let Err(e) = sent {
                    tracing::debug!("data channel send failed: {e}");
                    break;
                }
            }
            out_rx.close();
        });
        Ok(rx)
    }

    /// Closes the connection (the remote is told: DTLS close, SCTP abort); safe to repeat.
    pub fn close(&self) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.inner.with_core(|core| core.close());
        for (_, route) in lock(&self.inner.data).drain() {
            let _ = route.events.try_send(DataEvent::Closed);
        }
        self.driver.abort();
    }

    fn with_core<T>(&self, f: impl FnOnce(&mut RTCPeerConnection) -> Result<T>) -> Result<T> {
        self.inner.with_core(f)
    }
}

impl Drop for DirectPc {
    fn drop(&mut self) {
        self.close();
    }
}

impl Inner {
    /// Runs `f` on the core, sends what it wrote and wakes the driver (timers and events may
    /// have changed).
    fn with_core<T>(&self, f: impl FnOnce(&mut RTCPeerConnection) -> Result<T>) -> Result<T> {
        let result = {
            let mut core = lock(&self.core);
            let r = f(&mut core);
            self.flush(&mut core);
            r
        };
        self.kick.notify_one();
        result
    }

    /// Sends every datagram the core has ready. A socket that cannot take one now (its send
    /// buffer or the shared socket's queue is full) loses it, as a full network queue would.
    fn flush(&self, core: &mut RTCPeerConnection) {
        if let Some(fd) = &self.send_fd {
            while let Some(out) = core.poll_write() {
                if let Err(e) = fd.send_to(&out.message, out.transport.peer_addr) {
                    tracing::trace!(to = %out.transport.peer_addr, "send failed: {e}");
                }
            }
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        while let Some(out) = core.poll_write() {
            let transmit =
                Transmit { destination: out.transport.peer_addr, ecn: None, contents: &out.message, segment_size: None, src_ip: None };
            match self.socket.poll_send(&mut cx, &transmit) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => tracing::trace!(to = %transmit.destination, "send failed: {e}"),
                Poll::Pending => tracing::trace!(to = %transmit.destination, "socket full: datagram dropped"),
            }
        }
    }

    /// Everything the core has for its owner, then what it sends; returns its next timeout, and
    /// the data channel queue that is full, if one is: its messages wait in the core meanwhile
    /// (SCTP's receive window then slows the remote down), until the queue has room.
    fn service(&self, core: &mut RTCPeerConnection) -> (Option<Instant>, Option<mpsc::Sender<DataEvent>>) {
        loop {
            let mut any = false;
            while let Some(ev) = core.poll_event() {
                any = true;
                self.on_event(ev);
            }
            while let Some(msg) = core.poll_media_read() {
                any = true;
                self.on_read(msg);
            }
            let full = lock(&self.data).values().find(|r| r.events.capacity() == 0).map(|r| r.events.clone());
            if full.is_none()
                && let Some(msg) = core.poll_data_read()
            {
                any = true;
                self.on_read(msg);
            }
            self.flush(core);
            if !any {
                return (core.poll_timeout(), full);
            }
        }
    }

    fn on_event(&self, ev: RTCPeerConnectionEvent) {
        match ev {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => self.report(PcEvent::State(state)),
            RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(id)) => {
                let mut data = lock(&self.data);
                if let Some(route) = data.get_mut(&id)
                    && let Some(sender) = route.sender.take()
                {
                    let _ = route.events.try_send(DataEvent::Open(sender));
                }
            }
            RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnClose(id)) => {
                if let Some(route) = lock(&self.data).remove(&id) {
                    let _ = route.events.try_send(DataEvent::Closed);
                }
            }
            _ => {}
        }
    }

    fn on_read(&self, msg: TaggedRTCMessage) {
        match msg.message {
            RTCMessage::RtcpPacket(track_id, packets) => {
                if let Some(tx) = lock(&self.rtcp).get(&track_id) {
                    let _ = tx.try_send(packets);
                }
            }
            RTCMessage::DataChannelMessage(id, m) => {
                // Read only while the queue has room (`service`).
                if let Some(route) = lock(&self.data).get(&id) {
                    let _ = route.events.try_send(DataEvent::Message(m.data.freeze()));
                }
            }
            // Nothing is received on a sending connection's tracks.
            _ => {}
        }
    }

    fn report(&self, ev: PcEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(ev) {
            tracing::error!("peer connection owner {PC_EVENT_QUEUE} events behind; event dropped");
        }
    }
}

/// Writes `ip` as the address of the UDP candidates on `local` in `sdp`.
fn advertise(sdp: &str, local: SocketAddr, ip: &str) -> String {
    let (addr, port) = (local.ip().to_string(), local.port().to_string());
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let mut fields: Vec<&str> = body.split(' ').collect();
        if body.starts_with("a=candidate:")
            && fields.len() > 5
            && fields[2].eq_ignore_ascii_case("udp")
            && fields[4] == addr
            && fields[5] == port
        {
            fields[4] = ip;
            out.push_str(&fields.join(" "));
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The host candidate of the connection's socket, then the end of gathering.
fn add_host_candidate(core: &mut RTCPeerConnection, local: SocketAddr) -> Result<()> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: local.ip().to_string(),
            port: local.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    core.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    core.add_local_candidate(RTCIceCandidateInit::default())
}

/// The connection's task: reads the socket into the core, runs its timers, reports its events.
async fn drive(inner: Arc<Inner>) {
    let mut bufs = Box::new([[0u8; DATAGRAM_MAX]; RECV_BATCH]);
    let mut meta = [RecvMeta::default(); RECV_BATCH];
    let mut last_expired: Option<Instant> = None;
    loop {
        let (timeout, data_full) = inner.service(&mut lock(&inner.core));
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let mut at = timeout.unwrap_or(now + IDLE_TIMEOUT);
        if at <= now {
            match last_expired {
                Some(last) if now.duration_since(last) < MIN_TIMEOUT_INTERVAL => at = last + MIN_TIMEOUT_INTERVAL,
                _ => {
                    last_expired = Some(now);
                    let _ = lock(&inner.core).handle_timeout(now);
                    continue;
                }
            }
        }
        tokio::select! {
            received = std::future::poll_fn(|cx| {
                let mut slices = bufs.each_mut().map(|b| IoSliceMut::new(&mut b[..]));
                inner.socket.poll_recv(cx, &mut slices, &mut meta)
            }) => match received {
                Ok(n) => {
                    let now = Instant::now();
                    let mut core = lock(&inner.core);
                    for (buf, m) in bufs.iter().zip(&meta).take(n) {
                        let transport = TransportContext {
                            local_addr: inner.local,
                            peer_addr: m.addr,
                            ecn: None,
                            transport_protocol: TransportProtocol::UDP,
                        };
                        let message = BytesMut::from(&buf[..m.len.min(DATAGRAM_MAX)]);
                        if let Err(e) = core.handle_read(TaggedBytesMut { now, transport, message }) {
                            tracing::trace!("datagram not handled: {e}");
                        }
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    // Nothing more arrives: the owner's recovery replaces the connection.
                    tracing::warn!(local = %inner.local, "socket failed: {e}");
                    inner.report(PcEvent::State(webrtc::peer_connection::RTCPeerConnectionState::Failed));
                    return;
                }
            },
            _ = tokio::time::sleep_until(at.into()) => {
                let now = Instant::now();
                last_expired = Some(now);
                let _ = lock(&inner.core).handle_timeout(now);
            }
            _ = inner.kick.notified() => {}
            // The data channel's reader made room.
            Ok(permit) = async { data_full.as_ref().expect("polled only when full").reserve().await }, if data_full.is_some() => drop(permit),
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionReset | Interrupted | WouldBlock | TimedOut)
}

/// A track sent on a [`DirectPc`]: its packets are written from the caller's task.
pub struct DirectTrack {
    pc: Weak<Inner>,
    sender: RTCRtpSenderId,
    /// RTCP the remote sent about this track (keyframe requests, NACKs already answered).
    rtcp: Option<mpsc::Receiver<Rtcp>>,
    /// No packet written yet: the first wakes the driver (the interceptors start timers).
    first: bool,
}

impl DirectTrack {
    pub fn sender_id(&self) -> RTCRtpSenderId {
        self.sender
    }

    /// Takes the receiver of this track's RTCP (once).
    pub fn take_rtcp(&mut self) -> Option<mpsc::Receiver<Rtcp>> {
        self.rtcp.take()
    }

    /// Writes one RTP packet (its SSRC and payload type the track's) at `now`: through the
    /// interceptors and SRTP onto the socket.
    pub fn write(&mut self, now: Instant, packet: rtc::rtp::Packet) -> Result<()> {
        let inner = self.pc.upgrade().filter(|i| !i.closed.load(Ordering::Acquire)).ok_or(Error::ErrConnectionClosed)?;
        let result = {
            let mut core = lock(&inner.core);
            let r = match core.rtp_sender(self.sender) {
                Some(mut s) => s.write_rtp(now, packet),
                None => Err(Error::ErrRTPSenderNotExisted),
            };
            inner.flush(&mut core);
            r
        };
        if std::mem::take(&mut self.first) {
            inner.kick.notify_one();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codecs::{PT_VP8, all, media_track};
    use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
    use webrtc::media_stream::track_remote::TrackRemoteEvent;
    use webrtc::peer_connection::RTCPeerConnectionState;

    /// The first event `pick` takes (within 10 s).
    async fn next_event<T>(events: &mut mpsc::Receiver<PcEvent>, what: &str, pick: impl Fn(PcEvent) -> Option<T>) -> T {
        let wait = async {
            while let Some(ev) = events.recv().await {
                if let Some(t) = pick(ev) {
                    return t;
                }
            }
            panic!("events ended before {what}");
        };
        tokio::time::timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("no {what} within 10 s"))
    }

    async fn next_state(events: &mut mpsc::Receiver<PcEvent>, want: RTCPeerConnectionState) {
        next_event(events, &want.to_string(), |ev| matches!(ev, PcEvent::State(s) if s == want).then_some(())).await
    }

    fn track_of(ev: PcEvent) -> Option<Arc<dyn webrtc::media_stream::track_remote::TrackRemote>> {
        match ev {
            PcEvent::Track(t) => Some(t),
            _ => None,
        }
    }

    fn vp8_packet(ssrc: u32, seq: u16) -> rtc::rtp::Packet {
        let mut p = rtc::rtp::Packet::default();
        p.header.version = 2;
        p.header.payload_type = PT_VP8;
        p.header.ssrc = ssrc;
        p.header.sequence_number = seq;
        p.header.timestamp = u32::from(seq) * 3000;
        p.header.marker = true;
        // A VP8 payload descriptor (S bit, partition 0) and a few bytes.
        p.payload = bytes::Bytes::from(vec![0x10, 0, 0, 0, 1, 2, 3, 4]);
        p
    }

    /// Offers with the track and a data channel, answered by a webrtc-rs connection; returns
    /// once both report connected.
    async fn connected_pair()
    -> (DirectPc, mpsc::Receiver<PcEvent>, crate::pc::Pc, mpsc::Receiver<PcEvent>, DirectTrack, mpsc::Receiver<DataEvent>) {
        let (direct, mut events) = DirectPc::build(PcBuilder { send_only: true, ..Default::default() }).expect("build direct");
        let vp8 = all().into_iter().find(|(_, pt, _)| *pt == PT_VP8).expect("VP8 is one of our codecs");
        let track = direct.add_track(media_track("s".into(), "t1", vp8.2, vp8.0, 1234)).expect("add track");
        let data = direct.create_data_channel("nertc").expect("data channel");
        direct.offer(false).expect("offer");
        let offer = direct.local_sdp().expect("local description");
        assert!(offer.contains("a=candidate:"), "the offer lists the host candidate:\n{offer}");
        let (remote, mut remote_events) = PcBuilder::default().build().await.expect("build remote");
        remote.pc.set_remote_description(RTCSessionDescription::offer(offer).expect("offer parses")).await.expect("remote applies offer");
        let answer = remote.pc.create_answer(None).await.expect("answer");
        remote.pc.set_local_description(answer).await.expect("remote applies answer");
        direct.set_remote_answer(remote.local_sdp().await.expect("remote description")).expect("direct applies answer");
        next_state(&mut events, RTCPeerConnectionState::Connected).await;
        next_state(&mut remote_events, RTCPeerConnectionState::Connected).await;
        let _ = &mut remote_events;
        (direct, events, remote, remote_events, track, data)
    }

    #[tokio::test]
    async fn media_rtcp_and_data_flow_with_a_webrtc_rs_peer() {
        let (direct, _events, remote, mut remote_events, mut track, mut data) = connected_pair().await;
        // RTP: written in place, received (decrypted) by the remote.
        let mut rtcp = track.take_rtcp().expect("rtcp receiver");
        let writer = tokio::spawn(async move {
            for seq in 0..200u16 {
                track.write(Instant::now(), vp8_packet(1234, seq)).expect("write");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            track
        });
        let remote_track = next_event(&mut remote_events, "the remote's track", track_of).await;
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while got < 20 && Instant::now() < deadline {
            if let Ok(Some(TrackRemoteEvent::OnRtpPacket(p))) = tokio::time::timeout(Duration::from_secs(1), remote_track.poll()).await {
                assert_eq!(p.header.ssrc, 1234);
                assert_eq!(&p.payload[..], &[0x10, 0, 0, 0, 1, 2, 3, 4]);
                got += 1;
            }
        }
        assert!(got >= 20, "the remote decoded {got} packets");
        // RTCP: a keyframe request from the remote reaches the track's reader.
        remote_track.write_rtcp(vec![Box::new(PictureLossIndication { sender_ssrc: 1, media_ssrc: 1234 })]).await.expect("PLI");
        let pli = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let pkts = rtcp.recv().await.expect("rtcp open");
                if pkts.iter().any(|p| p.as_any().downcast_ref::<PictureLossIndication>().is_some()) {
                    return;
                }
            }
        })
        .await;
        assert!(pli.is_ok(), "the PLI reached the track");
        // Data: opened in-band, messages both ways.
        let sender = match tokio::time::timeout(Duration::from_secs(5), data.recv()).await {
            Ok(Some(DataEvent::Open(s))) => s,
            other => panic!("data channel not open: {other:?}"),
        };
        let remote_dc = next_event(&mut remote_events, "the remote's data channel", |ev| match ev {
            PcEvent::DataChannel(dc) => Some(dc),
            _ => None,
        })
        .await;
        let mut remote_data = crate::pc::DataLink::spawn(remote_dc);
        let remote_sender = match tokio::time::timeout(Duration::from_secs(5), remote_data.recv()).await {
            Ok(Some(DataEvent::Open(s))) => s,
            other => panic!("remote data channel not open: {other:?}"),
        };
        assert!(sender.send(bytes::Bytes::from_static(b"to remote")));
        match tokio::time::timeout(Duration::from_secs(5), remote_data.recv()).await {
            Ok(Some(DataEvent::Message(m))) => assert_eq!(&m[..], b"to remote"),
            other => panic!("remote got {other:?}"),
        }
        assert!(remote_sender.send(bytes::Bytes::from_static(b"from remote")));
        match tokio::time::timeout(Duration::from_secs(5), data.recv()).await {
            Ok(Some(DataEvent::Message(m))) => assert_eq!(&m[..], b"from remote"),
            other => panic!("direct got {other:?}"),
        }
        let track = writer.await.expect("writer");
        // Close: the remote learns at once (not after consent checks time out).
        direct.close();
        direct.close();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ev) = remote_events.recv().await {
                if matches!(
                    ev,
                    PcEvent::State(RTCPeerConnectionState::Closed | RTCPeerConnectionState::Failed | RTCPeerConnectionState::Disconnected)
                ) {
                    return;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the remote saw the close");
        let mut track = track;
        assert!(track.write(Instant::now(), vp8_packet(1234, 999)).is_err(), "writes after close fail");
        drop(remote);
    }

    /// Writes packets `seqs` on `track`, reading the remote's track after each; returns how
    /// many of them arrived.
    async fn count_arrivals(
        track: &mut DirectTrack,
        remote: &Arc<dyn webrtc::media_stream::track_remote::TrackRemote>,
        seqs: std::ops::Range<u16>,
    ) -> usize {
        let (first, n) = (seqs.start, seqs.len());
        let mut got = 0;
        let mut take = |p: rtc::rtp::Packet| {
            if p.header.sequence_number >= first {
                got += 1;
            }
        };
        for seq in seqs {
            track.write(Instant::now(), vp8_packet(1234, seq)).expect("write");
            // Read as they come (the remote track holds only a few).
            while let Ok(Some(TrackRemoteEvent::OnRtpPacket(p))) = tokio::time::timeout(Duration::from_millis(5), remote.poll()).await {
                take(p);
            }
        }
        while let Ok(Some(TrackRemoteEvent::OnRtpPacket(p))) = tokio::time::timeout(Duration::from_millis(200), remote.poll()).await {
            take(p);
        }
        got.min(n)
    }

    #[tokio::test]
    async fn media_flows_on_after_an_ice_restart() {
        let (direct, _events, remote, mut remote_events, mut track, _data) = connected_pair().await;
        track.write(Instant::now(), vp8_packet(1234, 0)).expect("write");
        let remote_track = next_event(&mut remote_events, "the remote's track", track_of).await;
        assert!(count_arrivals(&mut track, &remote_track, 1..50).await > 40, "packets arrive before the restart");
        let ufrag = |sdp: &str| sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).map(str::to_owned);
        let before = ufrag(&direct.local_sdp().expect("local description"));
        direct.offer(true).expect("restart offer");
        let offer = direct.local_sdp().expect("local description");
        assert_ne!(ufrag(&offer), before, "a restart offer has new ICE credentials");
        assert!(offer.contains("a=candidate:"), "the restart offer lists the host candidate:\n{offer}");
        remote.pc.set_remote_description(RTCSessionDescription::offer(offer).expect("offer parses")).await.expect("remote applies offer");
        let answer = remote.pc.create_answer(None).await.expect("answer");
        remote.pc.set_local_description(answer).await.expect("remote applies answer");
        direct.set_remote_answer(remote.local_sdp().await.expect("remote description")).expect("direct applies answer");
        // Both agents restarted: the remote's checks carry the new credentials, which only a
        // restarted agent here answers.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(count_arrivals(&mut track, &remote_track, 100..150).await > 40, "packets arrive after the restart");
    }

    #[test]
    fn the_advertised_address_replaces_the_bound_one_in_candidates() {
        let local: SocketAddr = "10.0.0.5:4000".parse().expect("address");
        let sdp =
            "v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.5 4000 typ host\r\na=candidate:2 1 udp 2130706431 10.0.0.5 4001 typ host\r\n";
        let out = advertise(sdp, local, "203.0.113.7");
        assert_eq!(
            out,
            "v=0\r\na=candidate:1 1 udp 2130706431 203.0.113.7 4000 typ host\r\na=candidate:2 1 udp 2130706431 10.0.0.5 4001 typ host\r\n"
        );
    }
}
