//! Peer connections, one task each. The publisher task owns the `pub` connection (adds and
//! removes our tracks, offers, awaits the server's answer); the subscriber task owns the `sub`
//! connection (answers the server's offers, maps arriving tracks to their publishers). They do
//! the awaiting — ICE gathering, SDP, signaling round trips — so the actor never does; the
//! actor sends them commands and hears back [`TransportEvent`]s on its session's queue.
//!
//! Queues: commands are `try_send` into bounded queues of [`CMD_QUEUE`] (a full queue is an
//! engine bug or a stuck connection, logged and reported as an error); events are awaited into
//! the session's bounded queue (back-pressure on the task).

mod publisher;
mod subscriber;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use nertc_protocol::{MidInfo, PcKind, TrackId, TrackSource, Uid};
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCPeerConnectionState;

pub(crate) use publisher::PubCmd;
pub(crate) use subscriber::SubCmd;

use crate::error::EngineError;
use crate::media::video_send::VideoCtl;

/// Commands a transport task may be behind.
pub const CMD_QUEUE: usize = 32;
/// Transport events the actor may be behind before a task waits.
pub const EVENT_QUEUE: usize = 64;

/// What the transport tasks report to the actor.
pub(crate) enum TransportEvent {
    /// Our track is on the `pub` connection: encoded media can flow into it.
    TrackAdded {
        source: TrackSource,
        track_id: TrackId,
        track: Arc<TrackLocalStaticSample>,
        ssrc: u32,
        /// The low layer's track (dual stream).
        low: Option<crate::media::video_send::LowSink>,
    },
    /// A `pub` negotiation finished (answer applied); `restart` when it restarted ICE.
    PubNegotiated {
        restart: bool,
    },
    /// A remote track arrived on the `sub` connection.
    RemoteTrack {
        info: MidInfo,
        track: Arc<dyn TrackRemote>,
    },
    State {
        pc: PcKind,
        state: RTCPeerConnectionState,
    },
    Failed {
        pc: PcKind,
        error: EngineError,
    },
    /// An ICE restart could not be negotiated (signaling down, usually); retried later.
    RestartFailed {
        pc: PcKind,
        error: EngineError,
    },
    /// The server's data channel on `sub` opened, brought a message, or closed.
    Data(nertc_rtc::pc::DataEvent),
}

/// What the transport tasks measure of the media paths, read by the stats report: each
/// connection's round trip in ms (from ICE consent checks; `u32::MAX` = not measured yet), and
/// the uplink's loss as the server sees it — the distinct packets of our streams it NACKed,
/// against the packets we sent (the server asks for every packet it misses, so a packet it
/// NACKed was lost or badly late on the way to it).
#[derive(Debug)]
pub(crate) struct PathStats {
    pub publisher_rtt: AtomicU32,
    pub subscriber_rtt: AtomicU32,
    uplink: std::sync::Mutex<Uplink>,
}

#[derive(Debug, Default)]
struct Uplink {
    /// NACKed (ssrc, seq) seen in this and the previous rotation (a receiver asks for a packet
    /// again every 40 ms for up to 400 ms: one loss is counted once).
    recent: HashSet<(u32, u16)>,
    older: HashSet<(u32, u16)>,
    /// Per ssrc: distinct packets NACKed, and packets sent again (the NACK responder answers
    /// a repeated request within a round trip, or over its budget, with nothing).
    lost: HashMap<u32, u64>,
    resent: HashMap<u32, u64>,
    /// Per ssrc at the last measurement: (original packets sent, distinct packets NACKed),
    /// read together so that a rate between two of them compares like with like.
    snapshot: HashMap<u32, (u64, u64)>,
}

impl PathStats {
    fn new() -> Arc<Self> {
        Arc::new(PathStats { publisher_rtt: u32::MAX.into(), subscriber_rtt: u32::MAX.into(), uplink: Default::default() })
    }

    fn get(v: &AtomicU32) -> Option<u32> {
        Some(v.load(Relaxed)).filter(|v| *v != u32::MAX)
    }

    pub fn up_rtt_ms(&self) -> Option<u32> {
        Self::get(&self.publisher_rtt)
    }

    pub fn down_rtt_ms(&self) -> Option<u32> {
        Self::get(&self.subscriber_rtt)
    }

    fn uplink(&self) -> std::sync::MutexGuard<'_, Uplink> {
        self.uplink.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server NACKed `seq` of our stream `ssrc` (called on the connection's thread).
    fn nacked(&self, ssrc: u32, seq: u16) {
        let mut u = self.uplink();
        if !u.older.contains(&(ssrc, seq)) && u.recent.insert((ssrc, seq)) {
            *u.lost.entry(ssrc).or_default() += 1;
        }
    }

    /// Our NACK responder sent a packet of our stream `ssrc` again.
    fn resent(&self, ssrc: u32) {
        *self.uplink().resent.entry(ssrc).or_default() += 1;
    }

    /// Original packets sent and distinct packets the server NACKed, of our stream `ssrc`, at
    /// the last measurement (every [`MEASURE_EVERY`]).
    pub fn uplink_counts(&self, ssrc: u32) -> (u64, u64) {
        self.uplink().snapshot.get(&ssrc).copied().unwrap_or((0, 0))
    }
}

/// How often the tasks read their connection's statistics.
const MEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads `pc`'s round trip into `rtt` (kept when there is no connection or no answer yet); for
/// the publisher also the packets sent per stream, and ages the NACK window.
async fn measure(pc: Option<&nertc_rtc::pc::Pc>, rtt: &AtomicU32, uplink: Option<&PathStats>) {
    let Some(pc) = pc else { return };
    let report = pc.pc.get_stats(std::time::Instant::now(), webrtc::peer_connection::StatsSelector::None).await;
    if let Some(ms) = nertc_rtc::pc::ice_rtt_ms(&report) {
        rtt.store(ms, Relaxed);
    }
    if let Some(path) = uplink {
        let mut u = path.uplink();
        for o in report.outbound_rtp_streams() {
            let ssrc = o.sent_rtp_stream_stats.rtp_stream_stats.ssrc;
            // webrtc-rs counts the NACK responder's resends in packets_sent and (without RTX)
            // not in retransmitted_packets_sent: take them out.
            let resent = o.retransmitted_packets_sent.max(u.resent.get(&ssrc).copied().unwrap_or(0));
            let lost = u.lost.get(&ssrc).copied().unwrap_or(0);
            u.snapshot.insert(ssrc, (o.sent_rtp_stream_stats.packets_sent.saturating_sub(resent), lost));
        }
        u.older = std::mem::take(&mut u.recent);
    }
}

/// The next event of a peer connection that may not exist yet; pending while it does not.
async fn next_pc_event(rx: &mut Option<mpsc::Receiver<nertc_rtc::pc::PcEvent>>) -> Option<nertc_rtc::pc::PcEvent> {
    match rx.as_mut() {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A task aborted when this handle is dropped.
pub(crate) struct TaskGuard(tokio::task::JoinHandle<()>);

impl TaskGuard {
    pub fn spawn(rt: &tokio::runtime::Handle, f: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        TaskGuard(rt.spawn(f))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The two peer-connection tasks of one session. They end, closing their connections, once
/// their command queues close ([`Transport::close`]).
pub(crate) struct Transport {
    publisher: mpsc::Sender<PubCmd>,
    subscriber: mpsc::Sender<SubCmd>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub path: Arc<PathStats>,
}

/// Where the tasks' media sockets bind: loopback for a loopback server, else every interface.
fn bind_ip(url: &str) -> std::net::IpAddr {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or("");
    match host {
        "127.0.0.1" | "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        _ => std::net::IpAddr::from([0, 0, 0, 0]),
    }
}

/// ICE over TCP, the fallback for networks that let no UDP through: every connection also
/// gathers TCP candidates, and connects to the server's passive TCP candidate (a server with
/// `[rtc] tcp_port`) once per remote ICE session. ICE prefers the UDP pair where UDP works.
#[derive(Default)]
struct TcpDialer {
    /// The remote ICE username fragment last dialed for.
    ufrag: Option<String>,
}

impl TcpDialer {
    /// After a remote description `sdp` and our local one are applied.
    async fn dial(&mut self, pc: &nertc_rtc::pc::Pc, sdp: &str) {
        let ufrag = sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).map(|u| u.trim().to_owned());
        if ufrag.is_none() || ufrag == self.ufrag {
            return;
        }
        match pc.dial_tcp_candidates(sdp).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(candidates = n, "ICE over TCP: dialing the server's passive candidates"),
            Err(e) => tracing::warn!("ICE over TCP: the server's candidates were refused: {e}"),
        }
        self.ufrag = ufrag;
    }
}

impl Transport {
    pub fn start(
        rt: &tokio::runtime::Handle,
        signal: nertc_signal::Signal,
        server_url: &str,
        uid: Uid,
        video: [Arc<VideoCtl>; 2],
    ) -> (Transport, mpsc::Receiver<TransportEvent>) {
        let bind = std::net::SocketAddr::new(bind_ip(server_url), 0);
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let (pub_tx, pub_rx) = mpsc::channel(CMD_QUEUE);
        let (sub_tx, sub_rx) = mpsc::channel(CMD_QUEUE);
        let path = PathStats::new();
        let tasks = vec![
            rt.spawn(publisher::run(pub_rx, events.clone(), signal.clone(), bind, uid, video, path.clone())),
            rt.spawn(subscriber::run(sub_rx, events, signal, bind, path.clone())),
        ];
        (Transport { publisher: pub_tx, subscriber: sub_tx, tasks, path }, rx)
    }

    /// Closes both connections; the tasks end once they finish what they are doing.
    pub fn close(self) -> Vec<tokio::task::JoinHandle<()>> {
        self.tasks
    }

    /// Points both tasks at a new signaling connection (after a resume).
    pub fn set_signal(&self, signal: &nertc_signal::Signal) {
        self.publish(PubCmd::Signal(signal.clone()));
        self.subscribe(SubCmd::Signal(signal.clone()));
    }

    pub fn publish(&self, cmd: PubCmd) {
        if let Err(e) = self.publisher.try_send(cmd) {
            tracing::error!("publisher task not taking commands: {e}");
        }
    }

    pub fn subscribe(&self, cmd: SubCmd) {
        if let Err(e) = self.subscriber.try_send(cmd) {
            tracing::error!("subscriber task not taking commands: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn media_binds_to_loopback_only_for_a_loopback_server() {
        assert_eq!(super::bind_ip("ws://127.0.0.1:4000"), std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(super::bind_ip("ws://localhost:4000/rtc/v1"), std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(super::bind_ip("wss://rtc.example.org"), std::net::IpAddr::from([0, 0, 0, 0]));
    }
}
