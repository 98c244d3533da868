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

use std::sync::Arc;

use nertc_protocol::{MediaKind, MidInfo, PcKind, TrackId, Uid};
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
        kind: MediaKind,
        track_id: TrackId,
        track: Arc<TrackLocalStaticSample>,
        ssrc: u32,
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
}

/// How often the tasks read their connection's round trip.
const RTT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The media round trip of each connection in ms (from ICE consent checks); `u32::MAX` = not
/// measured yet. Written by the transport tasks, read by the stats report.
#[derive(Debug)]
pub(crate) struct MediaRtt {
    pub publisher: std::sync::atomic::AtomicU32,
    pub subscriber: std::sync::atomic::AtomicU32,
}

impl MediaRtt {
    fn new() -> Arc<Self> {
        Arc::new(MediaRtt { publisher: u32::MAX.into(), subscriber: u32::MAX.into() })
    }

    fn get(v: &std::sync::atomic::AtomicU32) -> Option<u32> {
        Some(v.load(std::sync::atomic::Ordering::Relaxed)).filter(|v| *v != u32::MAX)
    }

    pub fn up_ms(&self) -> Option<u32> {
        Self::get(&self.publisher)
    }

    pub fn down_ms(&self) -> Option<u32> {
        Self::get(&self.subscriber)
    }
}

/// Reads `pc`'s round trip into `into` (kept when there is no connection or no answer yet).
async fn measure_rtt(pc: Option<&nertc_rtc::pc::Pc>, into: &std::sync::atomic::AtomicU32) {
    if let Some(ms) = match pc {
        Some(pc) => pc.ice_rtt_ms().await,
        None => None,
    } {
        into.store(ms, std::sync::atomic::Ordering::Relaxed);
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
    pub rtt: Arc<MediaRtt>,
}

/// Where the tasks' media sockets bind: loopback for a loopback server, else every interface.
fn bind_ip(url: &str) -> std::net::IpAddr {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or("");
    match host {
        "127.0.0.1" | "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        _ => std::net::IpAddr::from([0, 0, 0, 0]),
    }
}

impl Transport {
    pub fn start(
        rt: &tokio::runtime::Handle,
        signal: nertc_signal::Signal,
        server_url: &str,
        uid: Uid,
        video: Arc<VideoCtl>,
    ) -> (Transport, mpsc::Receiver<TransportEvent>) {
        let bind = std::net::SocketAddr::new(bind_ip(server_url), 0);
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let (pub_tx, pub_rx) = mpsc::channel(CMD_QUEUE);
        let (sub_tx, sub_rx) = mpsc::channel(CMD_QUEUE);
        let rtt = MediaRtt::new();
        let tasks = vec![
            rt.spawn(publisher::run(pub_rx, events.clone(), signal.clone(), bind, uid, video, rtt.clone())),
            rt.spawn(subscriber::run(sub_rx, events, signal, bind, rtt.clone())),
        ];
        (Transport { publisher: pub_tx, subscriber: sub_tx, tasks, rtt }, rx)
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
