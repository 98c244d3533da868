//! The SFU load generator: one publisher sending a pre-encoded clip and N subscribers, each a
//! real webrtc-rs peer connection (ICE, DTLS, SRTP) to the SFU under test: our room server or
//! Janus VideoRoom. Subscribers check every payload against the clip and time it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nertc_protocol::{MediaKind, PcKind, SdpType, TrackSource, TransportMsg, Uid};
use nertc_rtc::pc::{Pc, PcBuilder, PcEvent};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::RTCSessionDescription;

use crate::clip::{Clip, PublisherTracks, SendTimes};
use crate::janus::JanusClient;
use crate::measure::{CpuWindow, rss_kb, summary};
use crate::nertc_client;
use nertc_signal::{Signal, SignalEvent};

/// The SFU under test.
#[derive(Clone)]
pub enum Target {
    /// Our room server at `ws://host:port`.
    Nertc { url: String },
    /// Janus with the WebSocket transport at `ws://host:port`.
    Janus { url: String },
}

impl Target {
    /// Peer connections for this SFU: Janus can only reach its own veth address
    /// (see `janus.rs`), our server is reached on 127.0.0.1.
    fn pc(&self) -> PcBuilder {
        match self {
            Target::Nertc { .. } => PcBuilder::default(),
            Target::Janus { .. } => PcBuilder { bind: Some((crate::janus::ICE_IP, 0).into()), ..PcBuilder::default() },
        }
    }
}

/// What a subscriber needs to find the publisher's media.
#[derive(Clone)]
pub enum Feed {
    Nertc { channel: String, audio: String, video: String },
    Janus { room: u64, feed: u64 },
}

enum Signaling {
    Nertc(Signal),
    Janus(JanusClient),
}

/// One peer connection to the SFU with its signaling session.
pub struct Peer {
    pc: Arc<Pc>,
    sig: Signaling,
    tasks: Vec<JoinHandle<()>>,
}

impl Peer {
    pub async fn close(self) {
        // Leave first: the tasks read the signaling events, and the socket closes without a
        // reader.
        match self.sig {
            Signaling::Nertc(s) => nertc_client::leave(&s).await,
            Signaling::Janus(j) => j.close().await,
        }
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.pc.pc.close().await;
    }
}

pub struct Publisher {
    pub peer: Peer,
    pub feed: Feed,
    stop: watch::Sender<bool>,
}

impl Publisher {
    pub async fn close(self) {
        let _ = self.stop.send(true);
        self.peer.close().await;
    }
}

fn local_track(kind: RtpCodecKind, mime: &str, ssrc: u32, id: &str) -> Result<Arc<TrackLocalStaticRTP>, String> {
    let (codec, _, _) = nertc_rtc::codecs::canonical(mime).ok_or_else(|| format!("unknown codec {mime}"))?;
    Ok(Arc::new(TrackLocalStaticRTP::new(nertc_rtc::codecs::media_track("bench".into(), id, kind, codec, ssrc))))
}

/// `NERTC_BENCH_SIMULCAST=1`: the load parts' publishers send simulcast (see [`PublisherThread::start`]).
pub fn simulcast_from_env() -> bool {
    std::env::var("NERTC_BENCH_SIMULCAST").is_ok_and(|v| v == "1")
}

/// Starts a publisher of `clip` on `target` in room `room` (as `uid` on our server).
async fn publish(
    target: &Target,
    room: &str,
    uid: Uid,
    clip: Arc<Clip>,
    times: Arc<SendTimes>,
    simulcast: bool,
) -> Result<Publisher, String> {
    let e = |e: webrtc::error::Error| e.to_string();
    let (pc, _events) = target.pc().build().await.map_err(e)?;
    let (audio_ssrc, video_ssrc) = (rand::random(), rand::random());
    let tracks = PublisherTracks {
        audio: local_track(RtpCodecKind::Audio, "audio/opus", audio_ssrc, "audio")?,
        video: local_track(RtpCodecKind::Video, "video/H264", video_ssrc, "video")?,
        audio_ssrc,
        video_ssrc,
        low: None,
    };
    // Simulcast on our server: a second video m-line as the low layer (the same packets).
    let simulcast = simulcast && matches!(target, Target::Nertc { .. });
    let mut tracks = tracks;
    if simulcast {
        let ssrc = rand::random();
        tracks.low = Some((local_track(RtpCodecKind::Video, "video/H264", ssrc, "video-l")?, ssrc));
    }
    let a_sender = pc.pc.add_track(tracks.audio.clone() as Arc<dyn TrackLocal>).await.map_err(e)?;
    let v_sender = pc.pc.add_track(tracks.video.clone() as Arc<dyn TrackLocal>).await.map_err(e)?;
    let l_sender = match &tracks.low {
        Some((low, _)) => Some(pc.pc.add_track(low.clone() as Arc<dyn TrackLocal>).await.map_err(e)?),
        None => None,
    };
    let offer = pc.pc.create_offer(None).await.map_err(e)?;
    pc.pc.set_local_description(offer).await.map_err(e)?;
    let sdp = pc.local_sdp().await.ok_or("no local offer")?;
    let mut tasks = Vec::new();
    let (sig, answer, feed) = match target {
        Target::Nertc { url } => {
            let mut s = nertc_client::join(url, room, uid).await?;
            // The publisher subscribes to nothing: its events (pongs, presence) are read and
            // dropped, so that the driver keeps the socket.
            tasks.push(tokio::spawn(async move { while s.events.recv().await.is_some() {} }));
            let audio = nertc_client::publish(&s.signal, MediaKind::Audio, TrackSource::Mic).await?;
            let video = nertc_client::publish(&s.signal, MediaKind::Video, TrackSource::Camera).await?;
            let mut mids = BTreeMap::new();
            mids.insert(pc.mid_of_sender(a_sender.id()).await.ok_or("audio sender without mid")?, audio.clone());
            let vmid = pc.mid_of_sender(v_sender.id()).await.ok_or("video sender without mid")?;
            mids.insert(vmid.clone(), video.clone());
            let mut rids = BTreeMap::new();
            if let Some(l) = &l_sender {
                let lmid = pc.mid_of_sender(l.id()).await.ok_or("low layer sender without mid")?;
                mids.insert(lmid.clone(), video.clone());
                rids.insert(vmid, nertc_protocol::RID_HIGH.to_owned());
                rids.insert(lmid, nertc_protocol::RID_LOW.to_owned());
            }
            let answer = nertc_client::pub_offer(&s.signal, sdp, mids, rids).await?;
            (Signaling::Nertc(s.signal), answer, Feed::Nertc { channel: room.into(), audio, video })
        }
        Target::Janus { url } => {
            let j = JanusClient::connect(url).await?;
            let room_id = janus_room(room);
            j.create_room(room_id).await?;
            let (feed, answer) = j.publish(room_id, "bench-publisher", &sdp).await?;
            (Signaling::Janus(j), answer, Feed::Janus { room: room_id, feed })
        }
    };
    pc.pc.set_remote_description(RTCSessionDescription::answer(answer).map_err(e)?).await.map_err(e)?;
    if let Signaling::Janus(j) = &sig {
        // Janus accepts subscribers only once the publisher's connection is up.
        j.wait_for("webrtcup", Duration::from_secs(10)).await?;
    }
    let (stop, stop_rx) = watch::channel(false);
    tasks.push(tokio::spawn(crate::clip::publish(clip, times, tracks, stop_rx)));
    Ok(Publisher { peer: Peer { pc: Arc::new(pc), sig, tasks }, feed, stop })
}

/// A publisher on its own thread and runtime, so that subscribers loading the load
/// generator's runtime cannot delay its packets (the offered load stays what the clip says).
pub struct PublisherThread {
    pub feed: Feed,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PublisherThread {
    /// `simulcast`: on our server, the publisher also sends a low layer (rid `l`, the same
    /// packets on a second SSRC), as a dual-stream engine does.
    pub async fn start(
        target: &Target,
        room: &str,
        uid: Uid,
        clip: Arc<Clip>,
        times: Arc<SendTimes>,
        simulcast: bool,
    ) -> Result<PublisherThread, String> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (target, room) = (target.clone(), room.to_owned());
        let thread = std::thread::Builder::new()
            .name("bench-publisher".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(e.to_string()))),
                };
                rt.block_on(async move {
                    match publish(&target, &room, uid, clip, times, simulcast).await {
                        Ok(p) => {
                            let _ = ready_tx.send(Ok(p.feed.clone()));
                            let _ = stop_rx.await;
                            p.close().await;
                        }
                        Err(e) => drop(ready_tx.send(Err(e))),
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        let feed = ready_rx.await.map_err(|_| "publisher thread ended".to_owned())??;
        Ok(PublisherThread { feed, stop: Some(stop), thread: Some(thread) })
    }

    pub async fn close(mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// A stable Janus room number for a room name.
fn janus_room(name: &str) -> u64 {
    name.bytes().fold(1_000_u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b))) % 1_000_000_000 + 1000
}

/// Packet counters of one received track.
#[derive(Default)]
pub struct TrackCounters {
    pub received: AtomicU64,
    /// Highest extended sequence number seen (-1: none yet).
    pub highest: AtomicI64,
    pub corrupt: AtomicU64,
}

/// What one subscriber received.
#[derive(Default)]
pub struct SubStats {
    pub audio: TrackCounters,
    pub video: TrackCounters,
    /// Publisher send -> subscriber receive, ms, of packets received while recording.
    pub latency_ms: Mutex<Vec<f32>>,
}

impl SubStats {
    fn new() -> Arc<SubStats> {
        let s = SubStats::default();
        s.audio.highest.store(-1, Relaxed);
        s.video.highest.store(-1, Relaxed);
        Arc::new(s)
    }

    fn ready(&self) -> bool {
        self.audio.received.load(Relaxed) > 0 && self.video.received.load(Relaxed) > 0
    }

    /// (received, highest, corrupt) of audio then video.
    fn snapshot(&self) -> [(u64, i64, u64); 2] {
        [&self.audio, &self.video].map(|t| (t.received.load(Relaxed), t.highest.load(Relaxed), t.corrupt.load(Relaxed)))
    }
}

/// Shared by the receivers of one run.
#[derive(Clone)]
pub struct RxContext {
    pub clip: Arc<Clip>,
    pub times: Arc<SendTimes>,
    pub recording: Arc<AtomicBool>,
}

/// The highest extended sequence number after receiving `seq`, given the highest so far
/// (-1: none): 16-bit numbers are unwrapped around it, and late packets do not lower it.
fn extend_seq(highest: i64, seq: u16) -> i64 {
    if highest < 0 {
        return i64::from(seq);
    }
    let d = (i64::from(seq) - (highest & 0xffff) + 0x8000).rem_euclid(0x10000) - 0x8000;
    highest.max(highest + d)
}

async fn receive(track: Arc<dyn TrackRemote>, ctx: RxContext, stats: Arc<SubStats>) {
    let video = track.kind().await == RtpCodecKind::Video;
    let c = if video { &stats.video } else { &stats.audio };
    let mut ext: i64 = -1;
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(p) = ev else { continue };
        let now = Instant::now();
        ext = extend_seq(ext, p.header.sequence_number);
        c.highest.store(ext, Relaxed);
        c.received.fetch_add(1, Relaxed);
        match ctx.clip.slot_of(&p.payload) {
            None => {
                c.corrupt.fetch_add(1, Relaxed);
            }
            Some(slot) if ctx.recording.load(Relaxed) => {
                if let Some(ms) = ctx.times.age_ms(slot, now) {
                    stats.latency_ms.lock().expect("latency lock never poisoned: pushes cannot panic").push(ms as f32);
                }
            }
            Some(_) => {}
        }
    }
}

async fn answer(pc: &Pc, offer: String) -> Result<String, String> {
    let e = |e: webrtc::error::Error| e.to_string();
    pc.pc.set_remote_description(RTCSessionDescription::offer(offer).map_err(e)?).await.map_err(e)?;
    let answer = pc.pc.create_answer(None).await.map_err(e)?;
    pc.pc.set_local_description(answer).await.map_err(e)?;
    pc.local_sdp().await.ok_or_else(|| "no local answer".into())
}

/// Subscribes a new participant (`uid` on our server) to the publisher's audio and video.
pub async fn subscribe(target: &Target, feed: &Feed, uid: Uid, ctx: RxContext) -> Result<(Peer, Arc<SubStats>), String> {
    let (pc, mut events) = target.pc().build().await.map_err(|e| e.to_string())?;
    let pc = Arc::new(pc);
    let stats = SubStats::new();
    let (st, c) = (stats.clone(), ctx.clone());
    let mut tasks = vec![tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let PcEvent::Track(t) = ev {
                tokio::spawn(receive(t, c.clone(), st.clone()));
            }
        }
    })];
    let sig = match (target, feed) {
        (Target::Nertc { url }, Feed::Nertc { channel, audio, video }) => {
            let nertc_signal::Connected { signal, mut events, .. } = nertc_client::join(url, channel, uid).await?;
            let (s, p) = (signal.clone(), pc.clone());
            // The server offers on the first subscription and again for each later one.
            tasks.push(tokio::spawn(async move {
                while let Some(ev) = events.recv().await {
                    let offer = match ev {
                        SignalEvent::Transport(TransportMsg::Sdp(o)) if o.pc == PcKind::Sub && o.kind == SdpType::Offer => o,
                        _ => continue,
                    };
                    let res = match answer(&p, offer.sdp).await {
                        Ok(sdp) => nertc_client::answer_sub(&s, sdp, offer.neg).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = res {
                        eprintln!("loadgen: subscriber {uid}: {e}");
                    }
                }
            }));
            nertc_client::subscribe(&signal, audio).await?;
            nertc_client::subscribe(&signal, video).await?;
            Signaling::Nertc(signal)
        }
        (Target::Janus { url }, Feed::Janus { room, feed }) => {
            let j = JanusClient::connect(url).await?;
            let offer = j.subscribe(*room, *feed).await?;
            let sdp = answer(&pc, offer).await?;
            j.start(&sdp).await?;
            Signaling::Janus(j)
        }
        _ => return Err("feed from another kind of server".into()),
    };
    Ok((Peer { pc, sig, tasks }, stats))
}

/// Counters from one read of our server's Prometheus page (`/metrics`), in the order of
/// `names`; None for Janus or on failure, and for a counter the page lacks.
async fn server_counters<const N: usize>(target: &Target, names: [&str; N]) -> [Option<u64>; N] {
    let page = metrics_page(target).await;
    names.map(|name| page.as_deref()?.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()))
}

async fn metrics_page(target: &Target) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Target::Nertc { url } = target else { return None };
    let addr = url.strip_prefix("ws://")?;
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).await.ok()?;
    Some(page)
}

/// One step of the fan-out test: a fresh room, one publisher, `n` subscribers; after they all
/// receive, a `secs` window measures the SFU process `server_pid` and this process. `simulcast`:
/// see [`PublisherThread::start`].
pub async fn fanout(target: &Target, server_pid: u32, clip: Arc<Clip>, n: usize, secs: u64, simulcast: bool) -> Value {
    let room = format!("fanout-{n}-{}", rand::random::<u32>());
    let times = SendTimes::new(&clip);
    let rss_idle = rss_kb(server_pid);
    let publisher = match PublisherThread::start(target, &room, 1, clip.clone(), times.clone(), simulcast).await {
        Ok(p) => p,
        Err(e) => return json!({ "n": n, "error": format!("publisher: {e}") }),
    };
    tokio::time::sleep(Duration::from_millis(800)).await; // its tracks go live with the first packets
    let ctx = RxContext { clip: clip.clone(), times: times.clone(), recording: Arc::new(AtomicBool::new(false)) };
    let setup = Instant::now();
    let gate = Arc::new(Semaphore::new(8));
    let mut joins = Vec::new();
    for i in 0..n {
        let (t, f, c, g) = (target.clone(), publisher.feed.clone(), ctx.clone(), gate.clone());
        joins.push(tokio::spawn(async move {
            let _permit = g.acquire().await;
            tokio::time::timeout(Duration::from_secs(30), subscribe(&t, &f, 100 + i as Uid, c))
                .await
                .unwrap_or_else(|_| Err("setup timed out".into()))
        }));
    }
    let mut subs = Vec::new();
    let mut errors = Vec::new();
    for j in joins {
        match j.await {
            Ok(Ok(s)) => subs.push(s),
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !subs.iter().all(|(_, s)| s.ready()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = subs.iter().filter(|(_, s)| s.ready()).count();
    let setup_s = setup.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await; // settle: keyframe requests, NACKs
    let before: Vec<_> = subs.iter().map(|(_, s)| s.snapshot()).collect();
    let (server_cpu, own_cpu) = (CpuWindow::start(server_pid), CpuWindow::start(std::process::id()));
    ctx.recording.store(true, Relaxed);
    let sent0 = times.sent.load(Relaxed);
    // Packets dropped towards subscribers; on one shared UDP port, datagrams sent and the
    // sendmmsg calls that sent them.
    let counters = ["nertc_rtp_dropped_packets_total", r#"nertc_udp_datagrams_total{dir="out"}"#, r#"nertc_udp_syscalls_total{dir="out"}"#];
    let [dropped0, datagrams0, calls0] = server_counters(target, counters).await;
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    ctx.recording.store(false, Relaxed);
    let window = t0.elapsed().as_secs_f64();
    let sent = times.sent.load(Relaxed) - sent0;
    let [dropped1, datagrams1, calls1] = server_counters(target, counters).await;
    let dropped = dropped1.zip(dropped0).map(|(b, a)| b - a);
    let datagrams_per_send = datagrams1
        .zip(datagrams0)
        .zip(calls1.zip(calls0))
        .filter(|(_, (c1, c0))| c1 > c0)
        .map(|((d1, d0), (c1, c0))| ((d1 - d0) as f64 / (c1 - c0) as f64 * 10.0).round() / 10.0);
    let (server_pct, own_pct) = (server_cpu.percent(), own_cpu.percent());
    let rss_loaded = rss_kb(server_pid);
    let (mut received, mut expected, mut corrupt) = (0u64, 0u64, 0u64);
    let mut latency = Vec::new();
    for ((_, s), b) in subs.iter().zip(&before) {
        for (now, then) in s.snapshot().iter().zip(b) {
            received += now.0 - then.0;
            corrupt += now.2 - then.2;
            if then.1 >= 0 {
                expected += (now.1 - then.1).max(0) as u64;
            }
        }
        latency.extend(s.latency_ms.lock().expect("latency lock never poisoned").drain(..).map(f64::from));
    }
    let pps = received as f64 / window;
    // Delivery: what every ready subscriber should have got of what the publisher sent (this
    // also catches drops an SFU hides by renumbering), and sequence gaps per subscriber.
    let should = sent * ready as u64;
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let result = json!({
        "n": n,
        "subscribers_ready": ready,
        "setup_errors": errors.len(),
        "first_error": errors.first(),
        "setup_s": r1(setup_s),
        "window_s": r1(window),
        "published_pps": r1(sent as f64 / window),
        "expected_pps": r1(sent as f64 * ready as f64 / window),
        "forwarded_pps": r1(pps),
        "loss_pct": if should > 0 { json!((should.saturating_sub(received) as f64 / should as f64 * 1e4).round() / 100.0) } else { Value::Null },
        "seq_gap_pct": if expected > 0 { json!((expected.saturating_sub(received) as f64 / expected as f64 * 1e4).round() / 100.0) } else { Value::Null },
        "corrupt_packets": corrupt,
        "server_dropped_packets": dropped,
        "server_datagrams_per_sendmmsg": datagrams_per_send,
        "latency_ms": summary(latency),
        "server_cpu_pct": server_pct,
        "pps_per_server_core": server_pct.filter(|p| *p > 0.0).map(|p| (pps / (p / 100.0)).round()),
        "server_rss_kb_idle": rss_idle,
        "server_rss_kb": rss_loaded,
        "loadgen_cpu_pct": own_pct,
    });
    let closing: Vec<_> = subs.into_iter().map(|(p, _)| tokio::spawn(p.close())).collect();
    for c in closing {
        let _ = c.await;
    }
    publisher.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    result
}

#[cfg(test)]
mod tests {
    use super::extend_seq;

    #[test]
    fn sequence_numbers_unwrap_and_late_packets_do_not_count_twice() {
        assert_eq!(extend_seq(-1, 65_530), 65_530);
        assert_eq!(extend_seq(65_530, 65_535), 65_535);
        assert_eq!(extend_seq(65_535, 2), 65_538);
        assert_eq!(extend_seq(65_538, 65_534), 65_538, "a late packet from before the wrap");
        assert_eq!(extend_seq(131_072 + 10, 5), 131_072 + 10);
        assert_eq!(extend_seq(100, 400), 400, "a gap (loss) moves the highest on");
    }
}
