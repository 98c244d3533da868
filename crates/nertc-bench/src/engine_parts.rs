//! Parts that measure our engine: join times, glass-to-glass latency, CPU per stream, and CPU
//! as the number of subscribed streams grows. Engines whose CPU is measured run alone in a
//! child process (a "role" of this binary).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::device::test_pattern;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, ExternalVideoFrame, PixelFormat, VideoConfig};
use serde_json::{Value, json};

use crate::clip::{Clip, SendTimes};
use crate::loadgen::{self, Target};
use crate::measure::{CpuWindow, rss_kb, summary};

fn engine(url: &str) -> Result<(Engine, Receiver<EngineEvent>), String> {
    Engine::new(EngineOptions { app_key: "bench".into(), server_url: url.into() }).map_err(|e| format!("engine: {e:?}"))
}

fn wait_for(rx: &Receiver<EngineEvent>, timeout: Duration, pred: impl Fn(&EngineEvent) -> bool) -> Option<EngineEvent> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(e) if pred(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// The bitrate both the engine and Chromium are given for a resolution.
pub fn bitrate_kbps(w: u32) -> u32 {
    if w >= 1280 { 1500 } else { 800 }
}

fn video_config(w: u32, h: u32, fps: u32) -> VideoConfig {
    VideoConfig { max_profile: -1, width: w, height: h, framerate: fps, bitrate_kbps: bitrate_kbps(w), ..Default::default() }
}

/// joinChannel -> onJoinChannel, and joinChannel -> onFirstVideoFrameDecoded of a user already
/// publishing (the subscriber subscribes on onUserVideoStart, as NERTC apps do).
pub fn join(url: &str, runs: usize) -> Result<Value, String> {
    let (publisher, prx) = engine(url)?;
    publisher.enable_local_video(true);
    let mut join_ms = Vec::new();
    let mut first_frame_ms = Vec::new();
    for i in 0..runs {
        let ch = format!("bench-join-{i}");
        publisher.join_channel(None, &ch, 1);
        wait_for(&prx, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { .. }));
        std::thread::sleep(Duration::from_millis(300)); // the publisher's media is flowing
        let (viewer, vrx) = engine(url)?;
        let t0 = Instant::now();
        viewer.join_channel(None, &ch, 2);
        if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. })).is_some() {
            join_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. })).is_some() {
            viewer.subscribe_remote_video_stream(1, 0, true);
            if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { .. })).is_some() {
                first_frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        viewer.release();
        publisher.leave_channel();
        wait_for(&prx, Duration::from_secs(5), |e| matches!(e, EngineEvent::LeaveChannel { .. }));
    }
    publisher.release();
    Ok(json!({ "join_to_onJoinChannel_ms": summary(join_ms), "join_to_onFirstVideoFrameDecoded_ms": summary(first_frame_ms) }))
}

/// Engine A (uid 1) publishing the film-grain test pattern at `w` x `h` @ `fps` in `channel`,
/// engine B (uid 2) subscribed to it and past its first decoded frame.
pub(crate) struct EnginePair {
    // Dropped in this order: B, the source, then A.
    pub viewer: Engine,
    pub viewer_events: Receiver<EngineEvent>,
    _source: GrainSource,
    publisher: Arc<Engine>,
}

impl EnginePair {
    pub fn start(url: &str, channel: &str, w: u32, h: u32, fps: u32) -> Result<EnginePair, String> {
        let (publisher, prx) = engine(url)?;
        let publisher = Arc::new(publisher);
        publisher.set_video_config(&video_config(w, h, fps));
        publisher.enable_local_audio(false);
        let source = GrainSource::start(&publisher, w, h, fps);
        publisher.join_channel(None, channel, 1);
        // Generous: the network part sets calls up through 20 % loss each way.
        let within = Duration::from_secs(30);
        wait_for(&prx, within, |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. })).ok_or("the publisher never joined")?;
        let (viewer, vrx) = engine(url)?;
        viewer.join_channel(None, channel, 2);
        wait_for(&vrx, within, |e| matches!(e, EngineEvent::UserVideoStart { .. })).ok_or("no onUserVideoStart")?;
        viewer.subscribe_remote_video_stream(1, 0, true);
        wait_for(&vrx, within, |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { .. })).ok_or("no first decoded frame")?;
        Ok(EnginePair { viewer, viewer_events: vrx, _source: source, publisher })
    }

    /// B's new frames over `window`: when each arrived (ms from the start), the glass-to-glass
    /// latency of each whose stamp reads, and the last received bitrate B reported.
    pub fn watch(&self, window: Duration) -> Watched {
        let slot = self.viewer.slot(StreamKey::Remote(1));
        let mut seen = slot.newer_than(0).map_or(0, |(seq, _)| seq);
        let mut w = Watched::default();
        let start = Instant::now();
        while start.elapsed() < window {
            while let Ok(ev) = self.viewer_events.try_recv() {
                if let EngineEvent::RemoteVideoStats(v) = ev {
                    w.kbps = v.first().map(|s| s.received_bitrate_kbps).or(w.kbps);
                }
            }
            if let Some((seq, f)) = slot.newer_than(seen) {
                seen = seq;
                w.times_ms.push(start.elapsed().as_secs_f64() * 1000.0);
                let now_ms = nertc_engine::frame::now_us() as f64 / 1000.0;
                if let Some(st) = test_pattern::read_stamp(&f) {
                    w.latency_ms.push(now_ms - st.capture_time_ms as f64);
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        w
    }
}

impl Drop for EnginePair {
    fn drop(&mut self) {
        self.viewer.release();
        self.publisher.release();
    }
}

/// What [`EnginePair::watch`] saw.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    pub times_ms: Vec<f64>,
    pub latency_ms: Vec<f64>,
    pub kbps: Option<u32>,
}

/// Glass-to-glass on loopback: capture time (stamped in the test pattern's pixels) to the
/// moment the decoded frame is in the receiver's slot, engine -> server -> engine.
pub fn latency(url: &str, w: u32, h: u32, seconds: u64) -> Result<Value, String> {
    let pair = EnginePair::start(url, &format!("bench-latency-{w}"), w, h, 30)?;
    let seen = pair.watch(Duration::from_secs(seconds));
    let fps = (seen.times_ms.len() as f64 / seconds as f64).round();
    Ok(json!({ "glass_to_glass_ms": summary(seen.latency_ms), "fps_received": fps, "received_kbps": seen.kbps }))
}

/// A `fps` source for a publishing engine: the test pattern (capture time stamped in its
/// pixels) plus a little film grain (±4 grey levels, as the Chromium page adds), pushed as an
/// external video source. Without grain the pattern is so easy to code that openh264 spends a
/// third of the target bitrate, which would not compare with Chromium at the same bitrate.
struct GrainSource {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GrainSource {
    fn start(e: &Arc<Engine>, w: u32, h: u32, fps: u32) -> GrainSource {
        e.set_external_video_source(true);
        e.enable_local_video(true);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, e) = (stop.clone(), e.clone());
        let thread = std::thread::spawn(move || {
            let mut seed = 0x9e37_79b9_u32;
            let grain: Vec<i16> = (0..65_536)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    i16::from((seed >> 29) as u8) - 4
                })
                .collect();
            let mut pattern = test_pattern::TestPattern::new();
            let period = Duration::from_secs(1) / fps.max(1);
            let mut next = Instant::now();
            for n in 0u32.. {
                if st.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let now_us = nertc_engine::frame::now_us();
                let f = pattern.render(w, h, n, now_us);
                let off = (n as usize).wrapping_mul(7919);
                let mut data = Vec::with_capacity(f.y.len() + f.u.len() + f.v.len());
                data.extend(f.y.iter().enumerate().map(|(i, &y)| (i16::from(y) + grain[(i + off) & 0xffff]).clamp(0, 255) as u8));
                data.extend_from_slice(&f.u);
                data.extend_from_slice(&f.v);
                e.push_external_video_frame(ExternalVideoFrame {
                    format: PixelFormat::I420,
                    width: w,
                    height: h,
                    data,
                    timestamp_ms: now_us / 1000,
                });
                next += period;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        });
        GrainSource { stop, thread: Some(thread) }
    }
}

impl Drop for GrainSource {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn_role(args: &[String]) -> Result<Child, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(me).args(args).stdout(Stdio::piped()).spawn().map_err(|e| format!("role {args:?}: {e}"))
}

/// The JSON a role printed as its last stdout line.
fn role_output(child: Child) -> Value {
    let out = child.wait_with_output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    out.lines().last().and_then(|l| serde_json::from_str(l).ok()).unwrap_or(Value::Null)
}

/// CPU of one engine publishing w x h @ 30 (its own process) and of one subscribing to it.
pub fn cpu(url: &str, w: u32, h: u32, seconds: u64) -> Result<Value, String> {
    let warmup = 3;
    let life = (seconds + warmup + 2).to_string();
    let common = |role: &str| vec![role.to_owned(), url.to_owned(), w.to_string(), h.to_string(), life.clone()];
    let p = spawn_role(&common("publish"))?;
    let s = spawn_role(&common("subscribe"))?;
    std::thread::sleep(Duration::from_secs(warmup));
    let (pw, sw) = (CpuWindow::start(p.id()), CpuWindow::start(s.id()));
    std::thread::sleep(Duration::from_secs(seconds));
    let (ppct, spct) = (pw.percent(), sw.percent());
    let (prss, srss) = (rss_kb(p.id()), rss_kb(s.id()));
    let sub = role_output(s);
    let _ = role_output(p);
    Ok(json!({
        "publisher_cpu_pct": ppct,
        "subscriber_cpu_pct": spct,
        "publisher_rss_kb": prss,
        "subscriber_rss_kb": srss,
        "fps_received": sub["fps"],
        "received_kbps": sub["kbps"],
    }))
}

/// Engine CPU while subscribed to `k` remote streams: `k` pre-encoded publishers (no encoding
/// cost, in this process) and one engine in a child process that subscribes to all of them.
pub async fn streams(url: &str, clip: Arc<Clip>, k: usize, seconds: u64) -> Result<Value, String> {
    let room = format!("bench-streams-{k}-{}", rand::random::<u32>());
    let target = Target::Nertc { url: url.to_owned() };
    let mut publishers = Vec::new();
    for uid in 0..k {
        let times = SendTimes::new(&clip);
        publishers.push(
            loadgen::PublisherThread::start(&target, &room, 10 + uid as u64, clip.clone(), times, loadgen::simulcast_from_env()).await?,
        );
    }
    let warmup = 4;
    let child = spawn_role(&["subscribe-all".into(), url.into(), room, (seconds + warmup + 2).to_string()])?;
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let w = CpuWindow::start(child.id());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let pct = w.percent();
    let rss = rss_kb(child.id());
    let out = tokio::task::spawn_blocking(move || role_output(child)).await.unwrap_or(Value::Null);
    for p in publishers {
        p.close().await;
    }
    Ok(
        json!({ "streams": k, "engine_cpu_pct": pct, "engine_rss_kb": rss, "decoded_fps_per_stream": out["fps"], "streams_decoded": out["streams"] }),
    )
}

/// Child roles: `publish|subscribe URL W H SECS` (for `cpu`), `subscribe-all URL CHANNEL SECS`
/// (for `streams`). Each prints one JSON line of what it received.
pub fn run_role(role: &str, args: &[String]) {
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let url = arg(0);
    let Ok((e, rx)) = engine(&url) else { return };
    let e = Arc::new(e);
    let seconds: u64;
    let mut _source = None;
    match role {
        "publish" | "subscribe" => {
            let (w, h): (u32, u32) = (arg(1).parse().unwrap_or(640), arg(2).parse().unwrap_or(480));
            seconds = arg(3).parse().unwrap_or(10);
            let ch = format!("bench-cpu-{w}");
            if role == "publish" {
                e.set_video_config(&video_config(w, h, 30));
                _source = Some(GrainSource::start(&e, w, h, 30));
                e.join_channel(None, &ch, 1);
            } else {
                e.enable_local_audio(false);
                e.join_channel(None, &ch, 2);
                if wait_for(&rx, Duration::from_secs(10), |ev| matches!(ev, EngineEvent::UserVideoStart { .. })).is_some() {
                    e.subscribe_remote_video_stream(1, 0, true);
                }
            }
        }
        _ => {
            seconds = arg(2).parse().unwrap_or(10);
            e.enable_local_audio(false);
            e.set_parameters(r#"{"auto_subscribe_video":true}"#);
            e.join_channel(None, &arg(1), 1);
        }
    }
    // The last remote video stats seen per uid: decoded fps and received bitrate.
    let mut last = std::collections::HashMap::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if let Ok(EngineEvent::RemoteVideoStats(v)) = rx.recv_timeout(left) {
            for s in v {
                last.insert(s.uid, (s.decoder_output_frame_rate, s.received_bitrate_kbps));
            }
        }
    }
    drop(_source);
    e.release();
    let fps: Vec<f64> = last.values().map(|v| f64::from(v.0)).collect();
    let kbps: Vec<f64> = last.values().map(|v| f64::from(v.1)).collect();
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    println!("{}", json!({ "streams": last.len(), "fps": med(fps), "kbps": med(kbps) }));
}
