//! Fan-out of one published track to its subscribers.
//!
//! One task per published track reads the publisher's RTP (`TrackRemote::poll`) and, for each
//! packet, every subscription's `Writer` rewrites it for its subscriber ([`Munger`]) and
//! writes it to the subscriber's peer connection without waiting: no task hop per packet and
//! subscriber. On a connection driven in place ([`nertc_rtc::direct`], the default) the write
//! goes through the connection's interceptors and SRTP onto the socket there and then. On one
//! driven by webrtc-rs's task it goes into that task's queue; when the queue is full (a burst
//! such as a cached keyframe, or a connection behind), the packets wait in the writer's
//! backlog, which a task of the down track drains; a full backlog loses packets (a slow
//! subscriber never slows the publisher or the others). The connection's NACK responder keeps
//! the send cache that retransmissions are served from. Keyframe requests travel the other
//! way: subscriber RTCP -> down track -> forwarder, which throttles them to one PLI per
//! [`KEYFRAME_MIN_INTERVAL`] and layer towards the publisher.
//!
//! Simulcast ([`super::simulcast`]): a video track may have a high and a low layer, each from
//! its own m-line (a `TrackRemote` per layer) or as rids of one. Each subscription has a wanted
//! layer (set by its down track: what the subscriber asked for, lowered while its downlink
//! cannot carry it); it is switched only at the first packet of a keyframe of the new layer
//! (asked for with a PLI on that layer), and keeps the old layer until then. A wanted layer
//! that is not flowing (the publisher paused it) is stood in for by the other one. A
//! subscription fallen back to audio only gets no video: the picture being sent is finished,
//! and the resume waits for a keyframe that starts a new run ([`Out::resync`]). The layers
//! someone wants are reported to the room ([`MediaEvent::LayerDemand`]), which tells the
//! publisher to pause the others.
//!
//! First frame: each video layer keeps its latest complete keyframe (the packets of one
//! picture). A new video subscription gets nothing until its subscriber can receive (the peer
//! asks for its first keyframe once the subscriber's transport is connected and the m-line
//! negotiated); then it gets that cached keyframe at once, and the live stream from the
//! layer's next keyframe on (asked for at the same moment), so that the subscriber decodes a
//! picture without waiting for the publisher's encoder, and never a picture whose references
//! it lacks. The munger numbers the cached picture and the live stream after it as two runs
//! of one continuous stream ([`Out::resync`]).

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use nertc_rtc::direct::DirectTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::{MediaKind, TrackId};

use crate::metrics::Metrics;
use crate::sfu::munger::Munger;
use crate::sfu::peer::{MediaEvent, SessionKey};
use crate::sfu::simulcast::{self, Downlink, DownlinkMeter, Fallback, HIGH, LAYERS, LOW, LayerChoice, PACKET_OVERHEAD};
use nertc_rtc::tap::is_keyframe_request;

/// Packets a subscription's writer holds while its connection's queue is full; more are lost.
const BACKLOG_MAX: usize = 512;
/// At most one keyframe request per this interval reaches a publisher (per layer).
pub const KEYFRAME_MIN_INTERVAL: Duration = Duration::from_millis(100);
/// A layer with no packet for this long counts as paused.
const LAYER_IDLE: Duration = Duration::from_millis(1000);
/// A layer nobody has wanted for this long is reported unwanted (paused by the publisher).
const LAYER_LINGER: Duration = Duration::from_secs(2);
/// A subscription waiting to switch layers asks for a keyframe again this often (libwebrtc's
/// encoders ignore a request within 300 ms of their last keyframe: a layer the publisher has
/// just turned on answers a later one).
const SWITCH_RETRY: Duration = Duration::from_millis(500);
/// Housekeeping: throttled PLIs, switch retries, the layer demand.
const TICK: Duration = Duration::from_millis(250);
/// A subscription gets the cached keyframe this long after its first keyframe request: the
/// peer asks when its side of the `sub` connection is up, and the subscriber's side (the DTLS
/// client, which installs its SRTP keys on the server's last handshake flight) is up a moment
/// later; a packet sent at once is lost. A live keyframe that comes first starts it instead.
const CACHE_START_DELAY: Duration = Duration::from_millis(10);
/// A subscription that got the cached keyframe and waits for a live one asks again this often:
/// libwebrtc's encoders ignore a keyframe request that comes within 300 ms of their last
/// keyframe, which the first request usually does (the cached picture was often the answer to
/// the request that filled the cache).
const AWAIT_KEY_RETRY: Duration = Duration::from_millis(400);
/// A keyframe of more packets than this is not cached (about 1.2 MB of payload).
const KEY_CACHE_MAX_PACKETS: usize = 1024;

/// What a subscription's writer gets from its forwarder: a packet, and whether it starts a new run of the
/// stream (a cached keyframe, or the live stream after one): the munger then numbers it right
/// after what it sent last instead of keeping the source's offsets.
#[derive(Debug)]
pub(crate) struct Out {
    pub pkt: rtc::rtp::Packet,
    pub resync: bool,
}

/// The packets of one keyframe picture of one layer (one SSRC, one timestamp, consecutive
/// sequence numbers, the last one with the marker bit).
struct KeyPicture {
    ssrc: u32,
    timestamp: u32,
    pkts: Vec<rtc::rtp::Packet>,
}

/// What a subscription wants: a layer, and whether its video is paused (fallen back to audio
/// only; the layer is then the one it resumes with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    layer: usize,
    paused: bool,
}

impl Want {
    fn of(c: &LayerChoice) -> Self {
        Want { layer: c.layer(), paused: c.paused() }
    }
}

enum FwdCmd {
    /// A subscription: its writer, its wanted layer (and whether its video is paused), and
    /// whether it is started (video subscriptions start at their first keyframe request, see
    /// [`Sink::started`]).
    AddSink(u64, SinkOut, Want, bool),
    RemoveSink(u64),
    /// A subscription's wanted layer, or its pause.
    SetLayer(u64, Want),
    /// A keyframe for one subscription (the layer it gets, and the one it waits for; the
    /// first one starts the subscription), or for every layer someone gets.
    Keyframe(Option<u64>),
    /// Another layer's track of this publication (`None`: layers by rid).
    AddTrack(Option<usize>, Arc<dyn TrackRemote>),
    /// A subscription that has not started yet gets the cached keyframe (see
    /// [`CACHE_START_DELAY`]).
    Start(u64),
    Close,
}

/// Commands into a forwarder; cheap to clone.
#[derive(Clone, Debug)]
pub struct ForwarderHandle {
    ctl: mpsc::UnboundedSender<FwdCmd>,
    pub kind: MediaKind,
    /// Mime type of the publisher's codec, e.g. `video/H264`.
    pub codec: String,
    pub clock_rate: u32,
    /// The track has a low layer: a subscription's layer choice matters.
    simulcast: Arc<std::sync::atomic::AtomicBool>,
    /// Bytes received per layer (payload + [`PACKET_OVERHEAD`]): each layer's bitrate.
    layer_bytes: Arc<[AtomicU64; LAYERS]>,
}

impl std::fmt::Debug for FwdCmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FwdCmd::AddSink(..) => "AddSink",
            FwdCmd::RemoveSink(_) => "RemoveSink",
            FwdCmd::SetLayer(..) => "SetLayer",
            FwdCmd::Keyframe(_) => "Keyframe",
            FwdCmd::AddTrack(..) => "AddTrack",
            FwdCmd::Start(_) => "Start",
            FwdCmd::Close => "Close",
        })
    }
}

impl ForwarderHandle {
    /// Whether both handles lead to the same forwarder.
    pub fn same(&self, other: &ForwarderHandle) -> bool {
        self.ctl.same_channel(&other.ctl)
    }
    /// Asks for a keyframe on every layer someone receives.
    pub fn request_keyframe(&self) {
        let _ = self.ctl.send(FwdCmd::Keyframe(None));
    }
    pub fn close(&self) {
        let _ = self.ctl.send(FwdCmd::Close);
    }
    fn add_sink(&self, id: u64, out: SinkOut, want: Want, started: bool) {
        let _ = self.ctl.send(FwdCmd::AddSink(id, out, want, started));
    }
    fn remove_sink(&self, id: u64) {
        let _ = self.ctl.send(FwdCmd::RemoveSink(id));
    }
    fn set_layer(&self, id: u64, want: Want) {
        let _ = self.ctl.send(FwdCmd::SetLayer(id, want));
    }
    fn simulcast(&self) -> bool {
        self.simulcast.load(Relaxed)
    }
    fn layer_bytes(&self) -> [u64; LAYERS] {
        std::array::from_fn(|l| self.layer_bytes[l].load(Relaxed))
    }
    fn keyframe_for(&self, id: u64) {
        let _ = self.ctl.send(FwdCmd::Keyframe(Some(id)));
    }
    fn start(&self, id: u64) {
        let _ = self.ctl.send(FwdCmd::Start(id));
    }
}

/// Hands further layer tracks of a publication to its forwarder task.
#[derive(Clone, Debug)]
pub struct LayerFeed(mpsc::UnboundedSender<FwdCmd>);

impl LayerFeed {
    /// Adds `track` as `layer` (`None`: its SSRCs' rids say). False when the task has ended.
    pub fn add_track(&self, layer: Option<usize>, track: Arc<dyn TrackRemote>) -> bool {
        self.0.send(FwdCmd::AddTrack(layer, track)).is_ok()
    }
}

/// One layer of the publication.
#[derive(Default)]
struct LayerState {
    /// The SSRC carrying it (0: none yet) and which input it arrives on.
    ssrc: u32,
    rank: u8,
    input: usize,
    last_at: Option<Instant>,
    pli_pending: bool,
    last_pli: Option<Instant>,
    /// Last time a subscription got or wanted it.
    wanted_at: Option<Instant>,
    /// A keyframe was asked for to fill the cache (once per SSRC: the publisher's first
    /// keyframe usually went out before its connection was up).
    cache_asked: u32,
}

/// Where a subscription's packets go.
enum SinkOut {
    /// Its down track's writer (gone with the down track).
    Writer(Weak<Mutex<Writer>>),
    /// A queue the tests read.
    #[cfg(test)]
    Queue(mpsc::Sender<Out>),
}

/// Rewrites a subscription's packets and writes them to its subscriber's connection. Owned by
/// its down track, so that the numbering continues when the down track moves to another
/// forwarder ([`DownTrack::rebind`]).
pub(crate) struct Writer {
    out: DownOut,
    munger: Munger,
    downlink: Arc<Downlink>,
    /// Bytes this subscription sent (its share of the downlink).
    mine: Arc<AtomicU64>,
    sink_id: u64,
    /// Rewritten packets waiting for room in the connection's queue, in order.
    backlog: VecDeque<rtc::rtp::Packet>,
    /// The drain task has taken a packet of the backlog and is writing it: later packets
    /// queue behind it.
    draining: bool,
    /// Wakes the drain task ([`DownTrack::spawn`]).
    drain: Arc<tokio::sync::Notify>,
}

/// Where a down track's writer puts its packets: the subscriber's connection, as its driver
/// takes them.
pub enum DownOut {
    /// webrtc-rs's driver: into the connection's queue, for its task.
    Webrtc(Arc<TrackLocalStaticRTP>),
    /// Through the connection's interceptors and SRTP onto its socket, here and now
    /// ([`nertc_rtc::direct`]).
    Direct(DirectTrack),
}

impl Writer {
    fn write(&mut self, Out { mut pkt, resync }: Out, now: Instant, metrics: &Metrics) {
        if resync {
            self.munger.resync();
        }
        self.munger.rewrite(&mut pkt.header, now);
        let local = match &mut self.out {
            DownOut::Direct(track) => {
                let bytes = pkt.payload.len();
                let written = track.write(now, pkt);
                return self.written(written, bytes, metrics);
            }
            DownOut::Webrtc(local) => local,
        };
        if self.backlog.is_empty() && !self.draining {
            // The write takes the track's lock and puts the packet in the connection's queue:
            // both free at once unless the connection is far behind or being negotiated. The
            // clone is cheap (the payload is shared, the rewrite emptied the extensions) and
            // goes to the backlog when the write would have to wait.
            if let Some(written) = local.write_rtp(pkt.clone()).now_or_never() {
                self.written(written, pkt.payload.len(), metrics);
                return;
            }
        }
        if self.backlog.len() >= BACKLOG_MAX {
            metrics.rtp_dropped.fetch_add(1, Relaxed);
            return;
        }
        self.backlog.push_back(pkt);
        self.drain.notify_one();
    }

    fn written<E: std::fmt::Display>(&self, result: Result<(), E>, bytes: usize, metrics: &Metrics) {
        match result {
            Ok(()) => {
                self.downlink.sent(bytes);
                self.mine.fetch_add(bytes as u64 + PACKET_OVERHEAD, Relaxed);
                metrics.rtp_forwarded.fetch_add(1, Relaxed);
                metrics.rtp_forwarded_bytes.fetch_add(bytes as u64, Relaxed);
            }
            // Not yet bound (negotiation in flight) or closing.
            Err(e) => {
                tracing::trace!(sink_id = self.sink_id, "packet not written: {e}");
                metrics.rtp_dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// The drain task of a writer's backlog: writes its packets in order, waiting for room.
async fn drain_backlog(writer: Weak<Mutex<Writer>>, notify: Arc<tokio::sync::Notify>, metrics: Arc<Metrics>) {
    loop {
        notify.notified().await;
        loop {
            let Some(w) = writer.upgrade() else { return };
            let (pkt, local) = {
                let mut g = lock_writer(&w);
                let local = match &g.out {
                    DownOut::Webrtc(local) => local.clone(),
                    // Written at once: never a backlog.
                    DownOut::Direct(_) => break,
                };
                match g.backlog.pop_front() {
                    Some(p) => {
                        g.draining = true;
                        (p, local)
                    }
                    None => {
                        g.draining = false;
                        break;
                    }
                }
            };
            let bytes = pkt.payload.len();
            let written = local.write_rtp(pkt).await;
            lock_writer(&w).written(written, bytes, &metrics);
        }
    }
}

fn lock_writer(w: &Mutex<Writer>) -> std::sync::MutexGuard<'_, Writer> {
    w.lock().unwrap_or_else(|p| p.into_inner())
}

/// One subscription as the forwarder sees it.
struct Sink {
    out: SinkOut,
    /// Packets go out. A video subscription starts with its first keyframe request, which the
    /// peer makes once the subscriber can receive: what would go out before is lost (the
    /// track is not negotiated or its transport not up), and its first picture should be a
    /// keyframe ([`Fwd::start`]).
    started: bool,
    /// Its first keyframe was asked for: a live keyframe starts it (before the cached one).
    armed: bool,
    /// It got a cached keyframe: the live stream resumes at the next keyframe (the pictures
    /// in between refer to ones the subscriber never got).
    await_key: bool,
    /// The next packet starts a new run ([`Out::resync`]).
    resync_next: bool,
    want: usize,
    /// The layer it gets now (None: nothing yet, waiting for a keyframe).
    cur: Option<usize>,
    asked_at: Option<Instant>,
    /// The last packet forwarded did not end its picture.
    open: bool,
    /// A switch waiting for the current picture to end: the new layer's packets from its
    /// keyframe on, held meanwhile (a decoder must not get half a picture of the old layer
    /// glued to the new one's keyframe: the subscriber sees continuous sequence numbers).
    switch_to: Option<(usize, Instant)>,
    held: Vec<rtc::rtp::Packet>,
    /// No video goes out (fallen back to audio only); the picture being sent is finished.
    paused: bool,
    /// Back from a pause: nothing goes out until a keyframe of the wanted layer, which starts
    /// a new run ([`Out::resync`]: the subscriber sees no gap in sequence numbers).
    resuming: bool,
}

/// Packets held for one switch at most; more (the old layer stalled mid-picture) switch at once.
const HELD_MAX: usize = 256;
/// A switch waits this long at most for the old layer's picture to end.
const HELD_WAIT: Duration = Duration::from_millis(150);

impl Sink {
    fn new(out: SinkOut, want: usize, started: bool) -> Self {
        Sink {
            out,
            started,
            armed: false,
            await_key: false,
            resync_next: false,
            want,
            cur: None,
            asked_at: None,
            open: false,
            switch_to: None,
            held: Vec::new(),
            paused: false,
            resuming: false,
        }
    }

    /// Applies a new want. Returns whether the wanted layer changed or the video resumed (a
    /// keyframe is to be asked for).
    fn set_want(&mut self, want: Want) -> bool {
        let resumed = self.paused && !want.paused;
        if want.paused && !self.paused {
            // A held switch is dropped; the current picture is finished in `offer`.
            self.switch_to = None;
            self.held.clear();
        }
        if resumed {
            self.cur = None;
            self.resuming = true;
            self.resync_next = true;
        }
        self.paused = want.paused;
        let changed = self.want != want.layer;
        self.want = want.layer;
        changed || resumed
    }

    /// The layer to ask for a keyframe again, if any (`target`: the layer it should get, `live`:
    /// whether that one flows). Waiting to switch to a flowing layer, or to resume after a
    /// pause: the target, every [`SWITCH_RETRY`] (a paused subscription keeps wanting its
    /// layer, so that the publisher keeps it ready for the resume, but asks for nothing).
    /// Otherwise, started at the cached keyframe and waiting for a live one: the current layer,
    /// every [`AWAIT_KEY_RETRY`] (a switch ends that wait too, so it is not asked for then:
    /// its requests would hold back the switch's).
    fn ask_again(&mut self, target: usize, live: bool, now: Instant) -> Option<usize> {
        let due = |every| self.asked_at.is_none_or(|t| now.duration_since(t) >= every);
        let waits = self.cur.is_some_and(|c| c != target) || (self.resuming && self.cur.is_none());
        let layer = if waits {
            (!self.paused && live && due(SWITCH_RETRY)).then_some(target)
        } else if self.await_key {
            self.cur.filter(|_| due(AWAIT_KEY_RETRY))
        } else {
            None
        };
        if layer.is_some() {
            self.asked_at = Some(now);
        }
        layer
    }

    /// Sends `pkt` to the subscriber; false when the subscription is gone.
    fn send(&mut self, pkt: rtc::rtp::Packet, metrics: &Metrics) -> bool {
        self.open = !pkt.header.marker;
        let out = Out { pkt, resync: std::mem::take(&mut self.resync_next) };
        match &self.out {
            SinkOut::Writer(w) => match w.upgrade() {
                Some(w) => {
                    lock_writer(&w).write(out, Instant::now(), metrics);
                    true
                }
                None => false,
            },
            #[cfg(test)]
            SinkOut::Queue(tx) => {
                tx.try_send(out).expect("the test's queue has room");
                true
            }
        }
    }

    /// Completes a held switch: the new layer's packets go out, it becomes the current one.
    fn finish_switch(&mut self, metrics: &Metrics) -> bool {
        let Some((to, _)) = self.switch_to.take() else { return true };
        self.cur = Some(to);
        let mut alive = true;
        for p in std::mem::take(&mut self.held) {
            alive &= self.send(p, metrics);
        }
        alive
    }

    /// Offers a packet of `layer`; `target` is the layer it should get, `keyframe` tells
    /// whether the packet starts a keyframe. False when the subscription is gone.
    fn offer(
        &mut self,
        layer: usize,
        pkt: &rtc::rtp::Packet,
        target: usize,
        keyframe: &mut dyn FnMut() -> bool,
        single: bool,
        metrics: &Metrics,
    ) -> bool {
        if !self.started {
            if !(self.armed && target == layer && keyframe()) {
                return true;
            }
            self.started = true;
        }
        if self.paused {
            // Audio only: the picture being sent is finished, then nothing.
            if self.cur == Some(layer) && self.open {
                return self.send(pkt.clone(), metrics);
            }
            if !self.open {
                self.cur = None;
            }
            return true;
        }
        if self.cur == Some(layer) {
            if self.await_key {
                if !keyframe() {
                    return true;
                }
                self.await_key = false;
                self.resync_next = true;
            }
            let alive = self.send(pkt.clone(), metrics);
            // The old layer's picture ended: the held switch goes ahead.
            if !self.open && self.switch_to.is_some() {
                return self.finish_switch(metrics) && alive;
            }
            return alive;
        }
        if let Some((to, _)) = self.switch_to {
            if to == layer {
                self.held.push(pkt.clone());
                if self.held.len() >= HELD_MAX {
                    return self.finish_switch(metrics);
                }
            }
            return true;
        }
        if target == layer && keyframe() {
            if self.cur.is_some() && self.open {
                self.switch_to = Some((layer, Instant::now()));
                self.held.push(pkt.clone());
                return true;
            }
            self.cur = Some(layer);
            self.resuming = false;
            if std::mem::take(&mut self.await_key) {
                self.resync_next = true;
            }
            return self.send(pkt.clone(), metrics);
        }
        // Before its first keyframe a subscription of a single-layer track takes what comes
        // (the decoder asks for a keyframe itself), as without simulcast; not on a resume
        // (the subscriber's decoder has a picture, and waits for the keyframe).
        if single && self.cur.is_none() && !self.resuming {
            self.cur = Some(layer);
            return self.send(pkt.clone(), metrics);
        }
        true
    }
}

/// A publisher's track as read: its fixed layer (None: by rid) and the layer of each SSRC seen.
struct Input {
    track: Arc<dyn TrackRemote>,
    layer: Option<usize>,
    ssrcs: Vec<(u32, Option<(usize, u8)>)>,
}

struct Fwd {
    track_id: TrackId,
    owner: SessionKey,
    kind: MediaKind,
    events: mpsc::UnboundedSender<MediaEvent>,
    metrics: Arc<Metrics>,
    ctl_tx: mpsc::UnboundedSender<FwdCmd>,
    inputs: Vec<Input>,
    layers: [LayerState; LAYERS],
    sinks: HashMap<u64, Sink>,
    codec: String,
    announced: bool,
    /// Both layers seen: the demand is reported (and the handle says so).
    simulcast: bool,
    simulcast_flag: Arc<std::sync::atomic::AtomicBool>,
    layer_bytes: Arc<[AtomicU64; LAYERS]>,
    ever_had_sink: bool,
    reported: Option<[bool; LAYERS]>,
    /// Per layer: its latest complete keyframe, and the one being received.
    keyframe: [Option<KeyPicture>; LAYERS],
    keyframe_in: [Option<KeyPicture>; LAYERS],
}

async fn poll_input(t: Option<&Arc<dyn TrackRemote>>) -> Option<TrackRemoteEvent> {
    match t {
        Some(t) => t.poll().await,
        None => std::future::pending().await,
    }
}

enum Step {
    Cmd(Option<FwdCmd>),
    Tick,
    Input(usize, Option<TrackRemoteEvent>),
}

/// Starts forwarding `track` (as `layer`, or by rid when None; more layers come through the
/// returned [`LayerFeed`]). The room hears `TrackLive` with the handle once the first RTP
/// packet arrives (tracks are announced only when media flows) and `TrackEnded` when every
/// input has stopped.
pub fn spawn(
    track: Arc<dyn TrackRemote>,
    layer: Option<usize>,
    track_id: TrackId,
    owner: SessionKey,
    kind: MediaKind,
    events: mpsc::UnboundedSender<MediaEvent>,
    metrics: Arc<Metrics>,
) -> (tokio::task::JoinHandle<()>, LayerFeed) {
    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
    let feed = LayerFeed(ctl_tx.clone());
    let task = tokio::spawn(async move {
        let mut f = Fwd {
            track_id,
            owner,
            kind,
            events,
            metrics,
            ctl_tx,
            inputs: vec![Input { track, layer, ssrcs: Vec::new() }],
            layers: Default::default(),
            sinks: HashMap::new(),
            codec: String::new(),
            announced: false,
            simulcast: false,
            simulcast_flag: Arc::default(),
            layer_bytes: Arc::default(),
            ever_had_sink: false,
            reported: None,
            keyframe: Default::default(),
            keyframe_in: Default::default(),
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let step = {
                let (t0, t1) = (f.inputs.first().map(|i| &i.track), f.inputs.get(1).map(|i| &i.track));
                tokio::select! {
                    biased;
                    cmd = ctl_rx.recv() => Step::Cmd(cmd),
                    _ = tick.tick() => Step::Tick,
                    ev = poll_input(t0) => Step::Input(0, ev),
                    ev = poll_input(t1) => Step::Input(1, ev),
                }
            };
            match step {
                Step::Cmd(None) | Step::Cmd(Some(FwdCmd::Close)) => break,
                Step::Cmd(Some(cmd)) => f.command(cmd),
                Step::Tick => f.tick(Instant::now()),
                Step::Input(i, Some(TrackRemoteEvent::OnRtpPacket(pkt))) => f.packet(i, pkt).await,
                Step::Input(i, Some(TrackRemoteEvent::OnEnded) | Some(TrackRemoteEvent::OnError) | None) => {
                    f.inputs.remove(i);
                    if f.inputs.is_empty() {
                        break;
                    }
                    for l in &mut f.layers {
                        if l.input == i {
                            *l = LayerState { wanted_at: l.wanted_at, ..Default::default() };
                        } else if l.input > i {
                            l.input -= 1;
                        }
                    }
                }
                Step::Input(_, Some(_)) => {}
            }
            f.send_plis().await;
        }
        if f.announced {
            let _ = f.events.send(MediaEvent::TrackEnded { key: f.owner, track_id: f.track_id });
        }
    });
    (task, feed)
}

impl Fwd {
    fn command(&mut self, cmd: FwdCmd) {
        match cmd {
            // No keyframe request here: the subscriber's transport is not up yet, so it
            // would be lost and start the throttle window. The peer asks once the
            // subscriber can receive (transport connected, or its answer applied on a
            // connected transport).
            FwdCmd::AddSink(id, out, want, started) => {
                let mut sink = Sink::new(out, want.layer, started || self.kind != MediaKind::Video);
                sink.paused = want.paused;
                self.sinks.insert(id, sink);
                self.ever_had_sink = true;
            }
            FwdCmd::RemoveSink(id) => {
                self.sinks.remove(&id);
            }
            FwdCmd::SetLayer(id, want) => {
                if let Some(s) = self.sinks.get_mut(&id)
                    && s.set_want(want)
                {
                    s.asked_at = None;
                    self.layers[want.layer].wanted_at = Some(Instant::now());
                    self.tick(Instant::now());
                }
            }
            FwdCmd::Keyframe(Some(id)) => {
                let live = self.live(Instant::now());
                // Audio only: nothing to ask for (the subscriber's decoder may ask).
                let Some(s) = self.sinks.get(&id).filter(|s| !s.paused) else { return };
                let target = effective(s.want, live);
                self.layers[target].pli_pending = true;
                if let Some(cur) = s.cur {
                    self.layers[cur].pli_pending = true;
                }
                if let Some(s) = self.sinks.get_mut(&id) {
                    s.armed = true;
                }
            }
            FwdCmd::Keyframe(None) => {
                let live = self.live(Instant::now());
                let mut any = false;
                for s in self.sinks.values().filter(|s| !s.paused) {
                    self.layers[effective(s.want, live)].pli_pending = true;
                    any = true;
                }
                if !any {
                    self.layers[HIGH].pli_pending = true;
                }
            }
            FwdCmd::AddTrack(layer, track) => {
                if self.inputs.len() < LAYERS {
                    self.inputs.push(Input { track, layer, ssrcs: Vec::new() });
                } else {
                    tracing::warn!(track_id = %self.track_id, "a third layer track; ignored");
                }
            }
            FwdCmd::Start(id) => {
                let live = self.live(Instant::now());
                if let Some(s) = self.sinks.get(&id).filter(|s| !s.started) {
                    let target = effective(s.want, live);
                    self.start(id, target);
                }
            }
            FwdCmd::Close => {}
        }
    }

    /// Starts subscription `id` (its subscriber can receive now): it gets the cached keyframe
    /// of `layer`, if any, at once, and the live stream from that layer's next keyframe on.
    fn start(&mut self, id: u64, layer: usize) {
        let Some(s) = self.sinks.get_mut(&id) else { return };
        s.started = true;
        let Some(key) = self.keyframe[layer].as_ref().filter(|k| k.ssrc == self.layers[layer].ssrc) else {
            tracing::debug!(track_id = %self.track_id, sink = id, layer, "subscription started; no keyframe cached");
            return;
        };
        tracing::debug!(track_id = %self.track_id, sink = id, layer, packets = key.pkts.len(), "subscription started with the cached keyframe");
        s.cur = Some(layer);
        s.await_key = true;
        s.asked_at = Some(Instant::now());
        s.resync_next = true;
        self.metrics.keyframes_from_cache.fetch_add(1, Relaxed);
        for p in &key.pkts {
            if !s.send(p.clone(), &self.metrics) {
                self.sinks.remove(&id);
                return;
            }
        }
    }

    /// Keeps the latest complete keyframe picture of `layer` (`starts`: `pkt` is its first
    /// packet). A picture with a gap, reordering or too many packets is not kept.
    fn cache_keyframe(&mut self, layer: usize, pkt: &rtc::rtp::Packet, starts: bool) {
        let h = &pkt.header;
        let slot = &mut self.keyframe_in[layer];
        if starts {
            *slot = Some(KeyPicture { ssrc: h.ssrc, timestamp: h.timestamp, pkts: Vec::new() });
        }
        let Some(k) = slot.as_mut() else { return };
        let follows = k.pkts.last().is_none_or(|p| p.header.sequence_number.wrapping_add(1) == h.sequence_number);
        if k.ssrc != h.ssrc || k.timestamp != h.timestamp || !follows || k.pkts.len() >= KEY_CACHE_MAX_PACKETS {
            *slot = None;
            return;
        }
        k.pkts.push(pkt.clone());
        if h.marker {
            self.keyframe[layer] = slot.take();
        }
    }

    fn live(&self, now: Instant) -> [bool; LAYERS] {
        std::array::from_fn(|l| self.layers[l].last_at.is_some_and(|t| now.duration_since(t) < LAYER_IDLE))
    }

    /// The layer of a packet from input `i` with `ssrc` (None: dropped, e.g. a middle rid).
    async fn layer_of(&mut self, i: usize, ssrc: u32) -> Option<usize> {
        let input = &mut self.inputs[i];
        let found = match input.ssrcs.iter().find(|(s, _)| *s == ssrc) {
            Some((_, found)) => *found,
            None => {
                let found = match input.layer {
                    Some(l) => Some((l, 0)),
                    None => simulcast::layer_of_rid(input.track.rid(ssrc).await.as_deref().unwrap_or("")),
                };
                tracing::debug!(track_id = %self.track_id, ssrc, ?found, "layer source");
                input.ssrcs.push((ssrc, found));
                found
            }
        };
        let (layer, rank) = found?;
        let now = Instant::now();
        let l = &mut self.layers[layer];
        if l.ssrc != ssrc {
            let stale = l.last_at.is_none_or(|t| now.duration_since(t) >= LAYER_IDLE);
            if l.ssrc != 0 && !stale && rank <= l.rank {
                return None;
            }
            l.ssrc = ssrc;
            l.rank = rank;
            l.input = i;
        }
        l.last_at = Some(now);
        if layer == LOW && !self.simulcast {
            self.simulcast = true;
            self.simulcast_flag.store(true, Relaxed);
        }
        Some(layer)
    }

    async fn packet(&mut self, i: usize, pkt: rtc::rtp::Packet) {
        self.metrics.rtp_received.fetch_add(1, Relaxed);
        let Some(layer) = self.layer_of(i, pkt.header.ssrc).await else { return };
        self.layer_bytes[layer].fetch_add(pkt.payload.len() as u64 + PACKET_OVERHEAD, Relaxed);
        if !self.announced {
            self.announced = true;
            let codec = self.inputs[i].track.codec(pkt.header.ssrc).await;
            let (codec, clock_rate) = codec.map(|c| (c.mime_type, c.clock_rate)).unwrap_or_default();
            tracing::debug!(track_id = %self.track_id, %codec, "track live");
            self.codec = codec.clone();
            let handle = ForwarderHandle {
                ctl: self.ctl_tx.clone(),
                kind: self.kind,
                codec,
                clock_rate,
                simulcast: self.simulcast_flag.clone(),
                layer_bytes: self.layer_bytes.clone(),
            };
            let _ = self.events.send(MediaEvent::TrackLive { key: self.owner.clone(), track_id: self.track_id.clone(), forwarder: handle });
        }
        let live = if self.simulcast { self.live(Instant::now()) } else { [true, false] };
        let single = !live[LOW] && layer == HIGH;
        let starts = self.kind == MediaKind::Video && simulcast::starts_keyframe(&self.codec, &pkt.payload);
        if self.kind == MediaKind::Video {
            self.cache_keyframe(layer, &pkt, starts);
            let l = &mut self.layers[layer];
            if !starts && self.keyframe[layer].is_none() && l.cache_asked != pkt.header.ssrc {
                // Nothing cached yet: ask now, so that a subscriber has a picture at once.
                l.cache_asked = pkt.header.ssrc;
                l.pli_pending = true;
            }
        }
        let metrics = &self.metrics;
        let mut keyframe = || starts;
        self.sinks.retain(|_, s| s.offer(layer, &pkt, effective(s.want, live), &mut keyframe, single, metrics));
    }

    /// Switch retries and the layer demand.
    fn tick(&mut self, now: Instant) {
        let live = self.live(now);
        let metrics = &self.metrics;
        self.sinks.retain(|_, s| s.switch_to.is_none_or(|(_, at)| now.duration_since(at) < HELD_WAIT) || s.finish_switch(metrics));
        for s in self.sinks.values_mut() {
            let target = effective(s.want, live);
            if let Some(cur) = s.cur {
                self.layers[cur].wanted_at = Some(now);
            }
            self.layers[s.want].wanted_at = Some(now);
            if let Some(layer) = s.ask_again(target, live[target], now) {
                self.layers[layer].pli_pending = true;
            }
        }
        if !self.simulcast || !self.ever_had_sink {
            return;
        }
        let mut active: [bool; LAYERS] =
            std::array::from_fn(|l| self.layers[l].wanted_at.is_some_and(|t| now.duration_since(t) < LAYER_LINGER));
        if self.sinks.is_empty() || !active.iter().any(|a| *a) {
            active[HIGH] = true; // the main stream is always sent
        }
        if self.reported != Some(active) {
            self.reported = Some(active);
            let active = (0..LAYERS).filter(|l| active[*l]).map(|l| simulcast::rid_of_layer(l).to_owned()).collect();
            let _ = self.events.send(MediaEvent::LayerDemand { key: self.owner.clone(), track_id: self.track_id.clone(), active });
        }
    }

    /// Throttled keyframe requests towards the publisher, one per layer.
    async fn send_plis(&mut self) {
        if !self.announced {
            return;
        }
        let now = Instant::now();
        for l in 0..LAYERS {
            let st = &mut self.layers[l];
            if !st.pli_pending || st.ssrc == 0 {
                continue;
            }
            if st.last_pli.is_some_and(|t| now < t + KEYFRAME_MIN_INTERVAL) {
                continue; // retried at the next tick
            }
            st.pli_pending = false;
            st.last_pli = Some(now);
            self.metrics.keyframe_requests_out.fetch_add(1, Relaxed);
            let pli = PictureLossIndication { sender_ssrc: 0, media_ssrc: st.ssrc };
            if let Some(input) = self.inputs.get(st.input)
                && let Err(e) = input.track.write_rtcp(vec![Box::new(pli)]).await
            {
                tracing::debug!(track_id = %self.track_id, "PLI to publisher failed: {e}");
            }
        }
    }
}

/// The layer a subscription wanting `want` gets while `live` layers flow: `want`, else the
/// other one if it flows.
fn effective(want: usize, live: [bool; LAYERS]) -> usize {
    if live[want] {
        want
    } else if live[1 - want] {
        1 - want
    } else {
        want
    }
}

/// One subscription: rewrites and writes packets from the forwarder into `local`, and relays
/// the subscriber's keyframe requests. Dropping it stops both tasks and unhooks the forwarder.
/// It can be moved to another forwarder of the same track ([`DownTrack::rebind`]: the
/// publisher's connection was replaced); the subscriber sees one continuous stream.
///
/// Its layer ([`LayerChoice`]): what the subscriber asked for, lowered while the subscriber's
/// downlink estimate ([`Downlink`]) or the receiver reports of `local`'s stream say the
/// downlink cannot carry it, down to no video at all with [`Fallback::AudioOnly`] (the
/// subscriber is told through `notice`).
pub struct DownTrack {
    sink_id: u64,
    /// This subscription's writer, kept here so that it outlives a forwarder.
    writer: Arc<Mutex<Writer>>,
    forwarder: Arc<tokio::sync::watch::Sender<ForwarderHandle>>,
    choice: Arc<Mutex<LayerChoice>>,
    notice: FallbackNotice,
    /// A keyframe was asked for it: the subscriber can receive (see [`Sink::started`]).
    started: std::sync::atomic::AtomicBool,
    /// The backlog's drain task and the feedback task.
    tasks: [tokio::task::AbortHandle; 2],
}

fn lock(c: &Mutex<LayerChoice>) -> std::sync::MutexGuard<'_, LayerChoice> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a down track hears the RTCP its subscriber sends about it.
enum RtcpIn {
    Webrtc(Arc<TrackLocalStaticRTP>),
    Direct(mpsc::Receiver<nertc_rtc::direct::Rtcp>),
    None,
}

impl RtcpIn {
    /// The next RTCP compound about the track; never, once its connection is gone.
    async fn next(&mut self) -> nertc_rtc::direct::Rtcp {
        match self {
            RtcpIn::Webrtc(local) => loop {
                match local.poll().await {
                    Some(TrackLocalEvent::OnRtcpPacket(pkts)) => return pkts,
                    Some(_) => {}
                    // Unbound until the subscriber's answer is applied.
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            },
            RtcpIn::Direct(rx) => match rx.recv().await {
                Some(pkts) => pkts,
                None => std::future::pending().await,
            },
            RtcpIn::None => std::future::pending().await,
        }
    }
}

/// How often a down track looks whether a pause (audio only) has lasted long enough.
const PAUSE_TICK: Duration = Duration::from_millis(250);

/// What a down track learns about its subscriber's downlink: the receiver reports' fraction
/// lost for its stream, and the subscriber's downlink estimate.
pub struct DownlinkSignals {
    pub reports: mpsc::UnboundedReceiver<u8>,
    pub downlink: Arc<Downlink>,
}

/// Where a down track tells that its video stopped (audio only) or resumed: the subscriber's
/// session, through the room ([`MediaEvent::SubFallback`]).
#[derive(Clone, Debug)]
pub struct FallbackNotice {
    pub events: mpsc::UnboundedSender<MediaEvent>,
    pub key: SessionKey,
    pub track_id: TrackId,
}

impl FallbackNotice {
    fn tell(&self, audio_only: bool) {
        tracing::info!(uid = self.key.uid, track_id = %self.track_id, audio_only, "downlink: subscription's video fallback");
        let _ = self.events.send(MediaEvent::SubFallback { key: self.key.clone(), track_id: self.track_id.clone(), audio_only });
    }
}

impl DownTrack {
    pub fn spawn(
        out: DownOut,
        munger: Munger,
        forwarder: ForwarderHandle,
        choice: LayerChoice,
        signals: DownlinkSignals,
        metrics: Arc<Metrics>,
        notice: FallbackNotice,
    ) -> Self {
        let DownlinkSignals { mut reports, downlink } = signals;
        static NEXT_SINK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let sink_id = NEXT_SINK.fetch_add(1, Relaxed);
        let mine = Arc::new(AtomicU64::new(0));
        let drain = Arc::new(tokio::sync::Notify::new());
        let (out, mut rtcp) = match out {
            DownOut::Webrtc(local) => (DownOut::Webrtc(local.clone()), RtcpIn::Webrtc(local)),
            DownOut::Direct(mut track) => {
                let rtcp = track.take_rtcp().map_or(RtcpIn::None, RtcpIn::Direct);
                (DownOut::Direct(track), rtcp)
            }
        };
        let writer = Arc::new(Mutex::new(Writer {
            out,
            munger,
            downlink: downlink.clone(),
            mine: mine.clone(),
            sink_id,
            backlog: VecDeque::new(),
            draining: false,
            drain: drain.clone(),
        }));
        let drainer = tokio::spawn(drain_backlog(Arc::downgrade(&writer), drain, metrics.clone())).abort_handle();
        forwarder.add_sink(sink_id, SinkOut::Writer(Arc::downgrade(&writer)), Want::of(&choice), false);
        let forwarder = Arc::new(tokio::sync::watch::channel(forwarder).0);
        let choice = Arc::new(Mutex::new(choice));
        let feedback = {
            let (fwd, choice, notice) = (forwarder.clone(), choice.clone(), notice.clone());
            tokio::spawn(async move {
                let mut pause_tick = tokio::time::interval(PAUSE_TICK);
                pause_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut estimate_tick = tokio::time::interval(simulcast::ESTIMATE_EVERY);
                estimate_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut meter = DownlinkMeter::default();
                // This subscription reads the downlink estimate: the `sub` connection numbers
                // packets (and the subscriber reports on them) only while some subscription does.
                let mut demand = None;
                // Applies a changed choice: the forwarder's want, and the subscriber hears of
                // a pause or a resume.
                let apply = |c: &LayerChoice, was_paused: bool, why: &str| {
                    tracing::info!(sink_id, layer = c.layer(), paused = c.paused(), why, "downlink: subscription switches layer");
                    fwd.borrow().set_layer(sink_id, Want::of(c));
                    if c.paused() != was_paused {
                        notice.tell(c.paused());
                    }
                };
                loop {
                    tokio::select! {
                        pkts = rtcp.next() => {
                            if pkts.iter().any(|p| is_keyframe_request(p.as_ref())) {
                                fwd.borrow().keyframe_for(sink_id);
                            }
                        }
                        // Only a track with a low layer has another layer to fall back to; any video
                        // track can fall back to audio only.
                        Some(lost) = reports.recv() => {
                            let (has_low, video) = { let f = fwd.borrow(); (f.simulcast(), f.kind == MediaKind::Video) };
                            let mut c = lock(&choice);
                            if !video || !(has_low || c.fallback() == Fallback::AudioOnly) {
                                continue;
                            }
                            let was_paused = c.paused();
                            if c.report(lost, has_low, Instant::now()) {
                                apply(&c, was_paused, "receiver reports");
                            }
                        }
                        _ = estimate_tick.tick() => {
                            let now = Instant::now();
                            let (has_low, video, layers) = { let f = fwd.borrow(); (f.simulcast(), f.kind == MediaKind::Video, f.layer_bytes()) };
                            let view = meter.view(now, downlink.bwe.snapshot(), downlink.sent_bytes(), mine.load(Relaxed), layers);
                            let mut c = lock(&choice);
                            // Only a video subscription with a layer to choose, or one that may fall
                            // back to audio only, has a use for the estimate.
                            let needs = video && (has_low || c.fallback() == Fallback::AudioOnly);
                            if needs != demand.is_some() {
                                demand = needs.then(|| downlink.bwe.demand());
                            }
                            let Some(view) = view.filter(|_| needs) else { continue };
                            let was_paused = c.paused();
                            let was_layer = c.layer();
                            if c.estimate(&view, has_low, now) {
                                if c.paused() || c.layer() > was_layer {
                                    metrics.downlink_downgrades.fetch_add(1, Relaxed);
                                    metrics.downlink_downgrade_estimate_bps.store(view.estimate_bps as u64, Relaxed);
                                    metrics.downlink_downgrade_need_bps.store(view.layer_bps[was_layer] as u64, Relaxed);
                                }
                                tracing::info!(
                                    sink_id,
                                    estimate_bps = view.estimate_bps as u64,
                                    budget_bps = view.budget_bps as u64,
                                    high_bps = view.layer_bps[HIGH] as u64,
                                    low_bps = view.layer_bps[LOW] as u64,
                                    loss = view.loss,
                                    queue = view.queue,
                                    under_delivered = view.under_delivered,
                                    "downlink estimate"
                                );
                                apply(&c, was_paused, "downlink estimate");
                            }
                        }
                        _ = pause_tick.tick() => {
                            let has_low = fwd.borrow().simulcast();
                            let mut c = lock(&choice);
                            if c.tick(has_low, Instant::now()) {
                                apply(&c, true, "retry after audio only");
                            }
                        }
                    }
                }
            })
        };
        DownTrack { sink_id, writer, forwarder, choice, notice, started: false.into(), tasks: [drainer, feedback.abort_handle()] }
    }

    pub fn forwarder(&self) -> ForwarderHandle {
        self.forwarder.borrow().clone()
    }

    /// Asks the publisher for a keyframe of the layer this subscription gets (or waits for).
    /// The first call starts a video subscription (call it once the subscriber can receive):
    /// it gets the layer's cached keyframe at once.
    pub fn request_keyframe(&self) {
        self.forwarder.borrow().keyframe_for(self.sink_id);
        if !self.started.swap(true, Relaxed) {
            let (fwd, id) = (self.forwarder.clone(), self.sink_id);
            tokio::spawn(async move {
                tokio::time::sleep(CACHE_START_DELAY).await;
                fwd.borrow().start(id);
            });
        }
    }

    /// The subscriber asked for another layer or fallback option.
    pub fn request_layer(&self, layer: usize, fallback: Fallback) {
        let mut c = lock(&self.choice);
        let was_paused = c.paused();
        c.request(layer, fallback);
        self.forwarder.borrow().set_layer(self.sink_id, Want::of(&c));
        if c.paused() != was_paused {
            self.notice.tell(c.paused());
        }
    }

    /// What the subscriber asked for.
    pub fn choice(&self) -> (usize, Fallback) {
        let c = lock(&self.choice);
        (c.requested(), c.fallback())
    }

    /// Takes packets from `to` instead of the current forwarder (a no-op when it is the same).
    /// The munger sees a new source SSRC and keeps sequence numbers and timestamps continuous.
    pub fn rebind(&self, to: ForwarderHandle) {
        if self.forwarder.borrow().same(&to) {
            return;
        }
        // A started subscription continues at once on the new forwarder (from its first
        // keyframe, asked for by the peer); one not started yet waits for its start there.
        to.add_sink(self.sink_id, SinkOut::Writer(Arc::downgrade(&self.writer)), Want::of(&lock(&self.choice)), self.started.load(Relaxed));
        self.forwarder.send_replace(to).remove_sink(self.sink_id);
    }
}

impl Drop for DownTrack {
    fn drop(&mut self) {
        self.forwarder.borrow().remove_sink(self.sink_id);
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16, ts: u32, marker: bool) -> rtc::rtp::Packet {
        let header = rtc::rtp::header::Header { ssrc: 5, sequence_number: seq, timestamp: ts, marker, ..Default::default() };
        rtc::rtp::Packet { header, ..Default::default() }
    }

    /// Offers packets `seqs` (3 per picture, the last with the marker; `key`: the pictures
    /// starting at these sequence numbers are keyframes) of the high layer to `s`.
    fn offer(s: &mut Sink, seqs: std::ops::Range<u16>, key: &[u16], metrics: &Metrics) {
        for seq in seqs {
            let p = pkt(seq, u32::from(seq / 3) * 6000, seq % 3 == 2);
            let starts = key.contains(&seq);
            assert!(s.offer(HIGH, &p, HIGH, &mut || starts, true, metrics));
        }
    }

    fn drain(rx: &mut mpsc::Receiver<Out>) -> Vec<(u16, bool)> {
        std::iter::from_fn(|| rx.try_recv().ok()).map(|o| (o.pkt.header.sequence_number, o.resync)).collect()
    }

    /// A subscription that started at the cached keyframe of the high layer and is asked to
    /// switch before a live keyframe came: the switch's requests go on (they were held back
    /// for good by the ones for the live keyframe, which shared their clock, so a switch whose
    /// first request the encoder ignored never happened while the high layer sent none).
    #[test]
    fn a_switch_asks_again_while_a_live_keyframe_is_awaited() {
        let (tx, _rx) = mpsc::channel(64);
        let mut s = Sink::new(SinkOut::Queue(tx), HIGH, true);
        s.cur = Some(HIGH);
        s.await_key = true;
        let t0 = Instant::now();
        assert_eq!(s.ask_again(HIGH, true, t0), Some(HIGH));
        assert_eq!(s.ask_again(HIGH, true, t0 + AWAIT_KEY_RETRY / 2), None);
        assert_eq!(s.ask_again(HIGH, true, t0 + AWAIT_KEY_RETRY), Some(HIGH));
        // The low layer is wanted now; it asks for nothing until the layer flows.
        assert!(s.set_want(Want { layer: LOW, paused: false }));
        s.asked_at = None;
        let t1 = t0 + AWAIT_KEY_RETRY;
        assert_eq!(s.ask_again(LOW, false, t1), None);
        let asks: Vec<_> = (1..=40).filter_map(|i| s.ask_again(LOW, true, t1 + TICK * i)).collect();
        assert_eq!(asks, vec![LOW; (40 * TICK.as_millis() / SWITCH_RETRY.as_millis()) as usize]);
        // Paused (audio only): nothing is asked for.
        s.set_want(Want { layer: LOW, paused: true });
        assert_eq!(s.ask_again(LOW, true, t1 + TICK * 100), None);
    }

    #[test]
    fn a_paused_subscription_finishes_its_picture_and_resumes_at_a_keyframe_as_a_new_run() {
        let metrics = Metrics::default();
        let (tx, mut rx) = mpsc::channel(64);
        let mut s = Sink::new(SinkOut::Queue(tx), HIGH, true);
        offer(&mut s, 0..4, &[0], &metrics);
        assert_eq!(drain(&mut rx).len(), 4);
        // Paused in the middle of the picture 3..6: it is finished, then nothing goes out.
        assert!(!s.set_want(Want { layer: HIGH, paused: true }));
        offer(&mut s, 4..12, &[6], &metrics);
        assert_eq!(drain(&mut rx), vec![(4, false), (5, false)]);
        // Resumed: nothing until a keyframe, which starts a new run.
        assert!(s.set_want(Want { layer: HIGH, paused: false }));
        offer(&mut s, 12..18, &[15], &metrics);
        assert_eq!(drain(&mut rx), vec![(15, true), (16, false), (17, false)]);
        offer(&mut s, 18..19, &[], &metrics);
        assert_eq!(drain(&mut rx), vec![(18, false)]);
    }
}
