//! Send-side congestion control across a rate-capped path (`nertc-netem`, see docs/netem.md).
//! The room server runs as its own process on the far side (10.77.0.2); engine A publishes the
//! 640x480, 15 fps test pattern asking for 800 kbps, engine B subscribes; both are on the near
//! side, so A's media crosses the link to the server (A's uplink) and back to B.
//!
//! A's pictures are the engine's test pattern with ±3 levels of per-pixel noise on the luma
//! (a camera sensor's), pushed as an external source at 15 fps: the bare pattern compresses to
//! ~150 kbps whatever the encoder is asked for, with the noise openh264 makes the rate it is
//! asked for (150, 250 or 800 kbps within 1 %), so the encoder, not the picture, is the
//! limit.
//!
//! Phases: a clean link (A's estimate climbs); a 300 kbps cap with a 200 ms tail-drop queue
//! (netem caps both directions: A's uplink and B's downlink) — A's sent rate must fall under
//! the cap within 5 s and from 5 s on use ≥ 70 % of it with < 2 % loss while B keeps ≥ 10 fps
//! with no freeze over 1 s (the freeze at the switch is printed); the cap lifted — A's sent rate must climb back over twice the cap within
//! 10 s. What A sends is measured at the link (bytes entering the near → far direction, which
//! also carries B's audio and RTCP), not taken from the engine's own counters.
//!
//! Then `degradation_preference` under the cap again: 1 halves the picture (B decodes 320x240
//! at full rate), 2 keeps the size and lowers the frame rate.
//!
//! The dual-stream tests cap a subscriber's downlink with `tc` on `lo` instead (they run
//! one after the other, as all tests here do: [`one_at_a_time`]).
//!
//! Runs only inside `scripts/netns.sh` with the `nertc-netem` and `nertc-server` binaries built
//! (`cargo build --workspace --bins`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::{server_behind_link, wait};
use nertc_engine::device::test_pattern::TestPattern;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, ExternalVideoFrame, PixelFormat, VideoConfig, error};
use nertc_netem::{DirStats, Link, Params};

const PORT: u16 = 18490;
const CAP_KBPS: u64 = 300;
/// How often the link's counters are read.
const SAMPLE: Duration = Duration::from_millis(250);

/// The tests here measure the rates and frame timings of real encoders and estimators, and two
/// of them shape `lo` (each installs the root qdisc and removes it at its end): one at a time
/// (two at once on two cores starve each other, and a starved receiver's late packets read as
/// queueing delay).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    // The server's layer decisions, printed with a failing test's output (RUST_LOG overrides).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("nertc_server::sfu=info,nertc_engine::transport=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The embedded server with its peer connections on ports from `base` on, handed out in order.
fn server_on_ports(base: u16) -> (tokio::runtime::Runtime, nertc_server::RunningServer) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut config = nertc_server::ServerConfig::embedded();
    config.rtc.downlink_estimate = true; // the dual-stream test checks the estimate's decisions
    config.rtc.udp_port_min = base;
    config.rtc.udp_port_max = base + 40;
    let server = rt.block_on(nertc_server::start(config)).expect("server");
    (rt, server)
}

/// The dual-stream tests' publisher: 640x480 at 15 fps and 800 kbps from an external source
/// ([`camera`]), with the low stream.
fn dual_stream_publisher(url: &str) -> (Engine, crossbeam_channel::Receiver<EngineEvent>) {
    let (a, a_rx) = common::engine(url);
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, bitrate_kbps: 800, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.set_external_video_source(true), error::OK);
    assert_eq!(a.enable_dual_stream_mode(true), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    (a, a_rx)
}

/// Pushes the noisy test pattern into `engine` at 15 fps until `stop`.
fn camera(engine: &Engine, stop: &AtomicBool) {
    let (w, h) = (640u32, 480u32);
    let mut pattern = TestPattern::new();
    let mut seed = 0x2545_f491_u32;
    let started = Instant::now();
    let mut n = 0u32;
    while !stop.load(Relaxed) {
        let f = pattern.render(w, h, n, nertc_engine::frame::now_us());
        let mut data = f.y;
        for p in data.iter_mut() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *p = (i32::from(*p) + (seed >> 24) as i32 % 7 - 3).clamp(16, 235) as u8;
        }
        data.extend_from_slice(&f.u);
        data.extend_from_slice(&f.v);
        let frame = ExternalVideoFrame { format: PixelFormat::I420, width: w, height: h, data, timestamp_ms: f.timestamp_us / 1000 };
        // Refused until the device thread has opened the encoder's input (just after enabling).
        let _ = engine.push_external_video_frame(frame);
        n += 1;
        let next = started + Duration::from_micros(u64::from(n) * 66_667);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

/// One reading of the near → far direction and of B's frame counter.
struct Sample {
    at: Instant,
    up: DirStats,
    frames: u64,
}

/// Reads the link and B's frames every [`SAMPLE`] for `window`, noting each new frame's time
/// (polled every 5 ms).
fn record(link: &Link, b: &Engine, window: Duration) -> (Vec<Sample>, Vec<Instant>) {
    let slot = b.slot(StreamKey::Remote(1));
    let start = Instant::now();
    let (mut samples, mut frames) = (Vec::new(), Vec::new());
    let mut seen = slot.count();
    let mut next_sample = start;
    while start.elapsed() < window {
        let n = slot.count();
        if n != seen {
            frames.extend(std::iter::repeat_n(Instant::now(), (n - seen) as usize));
            seen = n;
        }
        if Instant::now() >= next_sample {
            let up = link.stats().expect("link stats").near_to_far;
            samples.push(Sample { at: Instant::now(), up, frames: n });
            next_sample += SAMPLE;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (samples, frames)
}

/// kbit/s offered to the uplink (entering it) over the second ending at each sample.
fn offered_kbps(samples: &[Sample]) -> Vec<(Duration, f64)> {
    let per_s = (Duration::from_secs(1).as_millis() / SAMPLE.as_millis()) as usize;
    let t0 = samples[0].at;
    samples
        .windows(per_s + 1)
        .map(|w| {
            let (a, b) = (&w[0], &w[per_s]);
            let kbps = (b.up.bytes_in - a.up.bytes_in) as f64 * 8.0 / b.at.duration_since(a.at).as_secs_f64() / 1000.0;
            (b.at.duration_since(t0), kbps)
        })
        .collect()
}

/// Between samples `from` and `to`: (kbit/s forwarded, share of packets the queue dropped).
fn carried(samples: &[Sample], from: usize, to: usize) -> (f64, f64) {
    let (a, b) = (&samples[from], &samples[to]);
    let kbps = (b.up.bytes_forwarded - a.up.bytes_forwarded) as f64 * 8.0 / b.at.duration_since(a.at).as_secs_f64() / 1000.0;
    let dropped = (b.up.dropped_queue - a.up.dropped_queue) as f64;
    let offered = (b.up.packets_in - a.up.packets_in).max(1) as f64;
    (kbps, dropped / offered)
}

/// B's frames per whole second from `start` and the longest gap between frames (the window's
/// edges count).
fn smoothness(frames: &[Instant], start: Instant, end: Instant) -> (Vec<u32>, Duration) {
    let secs = end.duration_since(start).as_secs() as usize;
    let mut per_s = vec![0u32; secs];
    let mut edges = vec![start];
    for t in frames.iter().filter(|t| **t >= start && **t <= end) {
        if let Some(c) = per_s.get_mut(t.duration_since(start).as_secs() as usize) {
            *c += 1;
        }
        edges.push(*t);
    }
    edges.push(end);
    let longest = edges.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max().unwrap_or_default();
    (per_s, longest)
}

fn local_video_stats(rx: &crossbeam_channel::Receiver<EngineEvent>) -> Vec<(u32, u32, u32, u32, u32)> {
    rx.try_iter()
        .filter_map(|e| match e {
            EngineEvent::LocalVideoStats(s) => {
                Some((s.estimated_uplink_kbps, s.target_bitrate_kbps, s.sent_bitrate_kbps, s.encoder_output_frame_rate, s.width))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_sender_adapts_to_a_300_kbps_uplink_and_recovers() {
    let _serial = one_at_a_time();
    let Some((link, url)) = server_behind_link("bandwidth", PORT) else { return };
    let opts = || EngineOptions { app_key: "bandwidth".into(), server_url: url.clone() };
    let (a, a_rx) = Engine::new(opts()).expect("engine A");
    let (b, b_rx) = Engine::new(opts()).expect("engine B");
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, bitrate_kbps: 800, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.set_external_video_source(true), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| camera(&a, &stop));
        let _stop = StopOnDrop(&stop);
        phases(&link, &a, &a_rx, &b, &b_rx);
    });
    a.release();
    b.release();
}

/// Stops the camera thread when the phases end, panicking or not.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

fn phases(
    link: &Link,
    a: &Engine,
    a_rx: &crossbeam_channel::Receiver<EngineEvent>,
    b: &Engine,
    b_rx: &crossbeam_channel::Receiver<EngineEvent>,
) {
    assert_eq!(a.join_channel(None, "bandwidth", 1), error::OK);
    wait(a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, "bandwidth", 2), error::OK);
    wait(b_rx, "A's video", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));

    // Clean: the estimate climbs from its 300 kbps start.
    let (clean, _) = record(link, b, Duration::from_secs(8));
    let clean_rate = offered_kbps(&clean);
    println!("bandwidth: clean, A's uplink kbps per second: {:?}", clean_rate.iter().map(|r| r.1 as u32).collect::<Vec<_>>());
    println!("bandwidth: A's (estimate, encoder target, sent video, fps, width): {:?}", local_video_stats(a_rx));
    let clean_peak = clean_rate.iter().map(|r| r.1).fold(0.0, f64::max);
    assert!(clean_peak > 2.0 * CAP_KBPS as f64, "A never sent over {} kbps on a clean link ({clean_peak:.0})", 2 * CAP_KBPS);

    // The cap.
    link.set(&Params { rate_kbps: CAP_KBPS, queue_ms: 200.0, ..Params::default() }).expect("set the cap");
    let capped_at = Instant::now();
    let (capped, frames) = record(link, b, Duration::from_secs(20));
    let rate = offered_kbps(&capped);
    println!(
        "bandwidth: {CAP_KBPS} kbps cap, A's uplink kbps per second: {:?}",
        rate.iter().map(|r| (r.0.as_millis() as u32 / 250 * 250, r.1 as u32)).collect::<Vec<_>>()
    );
    println!("bandwidth: A's (estimate, encoder target, sent video, fps, width): {:?}", local_video_stats(a_rx));
    let under = rate.iter().find(|r| r.1 <= CAP_KBPS as f64).map(|r| r.0).expect("A's rate never fell under the cap");
    println!("bandwidth: under the cap after {under:?}");
    assert!(under <= Duration::from_secs(5), "A's rate fell under {CAP_KBPS} kbps only after {under:?}");
    // From 5 s on: utilisation and loss at the cap.
    let five = (Duration::from_secs(5).as_millis() / SAMPLE.as_millis()) as usize;
    let (kbps, loss) = carried(&capped, five, capped.len() - 1);
    println!(
        "bandwidth: after 5 s: {kbps:.0} kbps carried ({:.0} % of the cap), {:.2} % dropped by the queue",
        kbps / CAP_KBPS as f64 * 100.0,
        loss * 100.0
    );
    let end = capped.last().expect("sampled").at;
    let (per_s, longest) = smoothness(&frames, capped_at, end);
    println!("bandwidth: B's fps per second under the cap: {per_s:?}, longest gap {longest:?}");
    // The switch itself (a 1 Mbit/s stream meeting a 300 kbps link with 200 ms of buffer) loses
    // packets until the estimate follows: its freeze is reported, and is what the benchmark
    // compares with Chromium on the same cap. From 5 s on the call must be smooth.
    let settled = capped[five].at;
    let (per_s_settled, longest_settled) = smoothness(&frames, settled, end);
    println!("bandwidth: freeze at the switch {longest:?}; from 5 s on: {per_s_settled:?} fps, longest gap {longest_settled:?}");
    // Measured 79-89 % on a loaded machine since the estimator backs off to the link's busy
    // rate, not the received rate (was 74-80 %; bench part `cap`: 81.8 %, Chromium 84.1 %);
    // B's audio shares the link. The bound catches a regression without failing on a busy CI
    // machine (57 % once at load average 14, when this process's own samples stalled for 1 s).
    assert!(kbps >= 0.7 * CAP_KBPS as f64, "{kbps:.0} kbps carried is under 70 % of the {CAP_KBPS} kbps cap");
    assert!(loss < 0.02, "{:.2} % of A's uplink packets dropped at the cap", loss * 100.0);
    assert!(per_s_settled.iter().all(|f| *f >= 10), "B's frame rate fell under 10 fps after 5 s under the cap: {per_s_settled:?}");
    assert!(longest_settled <= Duration::from_secs(1), "B froze for {longest_settled:?} after 5 s under the cap");
    assert!(capped.last().expect("sampled").frames > capped[0].frames, "B shows no frames under the cap");

    // The cap lifted: the rate climbs back.
    link.set(&Params::default()).expect("lift the cap");
    let (lifted, lifted_frames) = record(link, b, Duration::from_secs(12));
    let (per_s, longest) = smoothness(&lifted_frames, lifted[0].at, lifted.last().expect("sampled").at);
    println!("bandwidth: B's fps per second after the cap: {per_s:?}, longest gap {longest:?}");
    let rate = offered_kbps(&lifted);
    println!("bandwidth: cap lifted, A's uplink kbps per second: {:?}", rate.iter().map(|r| r.1 as u32).collect::<Vec<_>>());
    println!("bandwidth: A's (estimate, encoder target, sent video, fps, width): {:?}", local_video_stats(a_rx));
    let back = rate.iter().find(|r| r.1 >= 2.0 * CAP_KBPS as f64).map(|r| r.0);
    println!("bandwidth: over twice the cap again after {back:?}");
    assert!(back.is_some_and(|t| t <= Duration::from_secs(10)), "A's rate did not climb over {} kbps within 10 s", 2 * CAP_KBPS);

    // setVideoConfig's degradation_preference under the cap: 1 (maintain frame rate) sends the
    // picture at half its size, 2 (maintain quality) at a lower frame rate.
    let size = || b.slot(StreamKey::Remote(1)).newer_than(0).map(|(_, f)| (f.width, f.height));
    let cfg = |degradation_preference| VideoConfig {
        max_profile: -1,
        width: 640,
        height: 480,
        framerate: 15,
        bitrate_kbps: 800,
        degradation_preference,
        ..Default::default()
    };
    assert_eq!(a.set_video_config(&cfg(1)), error::OK);
    link.set(&Params { rate_kbps: CAP_KBPS, queue_ms: 200.0, ..Params::default() }).expect("set the cap");
    std::thread::sleep(Duration::from_secs(6));
    let (_, frames) = record(link, b, Duration::from_secs(5));
    let (per_s, longest) = smoothness(&frames, frames.first().copied().unwrap_or_else(Instant::now), Instant::now());
    println!("bandwidth: maintain frame rate under the cap: B shows {:?} at {per_s:?} fps, longest gap {longest:?}", size());
    println!("bandwidth: A's (estimate, encoder target, sent video, fps, width): {:?}", local_video_stats(a_rx));
    assert_eq!(size(), Some((320, 240)), "maintain frame rate: the picture is halved under the cap");
    assert!(per_s.iter().all(|f| *f >= 13), "maintain frame rate: {per_s:?} fps");

    assert_eq!(a.set_video_config(&cfg(2)), error::OK);
    std::thread::sleep(Duration::from_secs(3));
    let (_, frames) = record(link, b, Duration::from_secs(5));
    let (per_s, longest) = smoothness(&frames, frames.first().copied().unwrap_or_else(Instant::now), Instant::now());
    println!("bandwidth: maintain quality under the cap: B shows {:?} at {per_s:?} fps, longest gap {longest:?}", size());
    println!("bandwidth: A's (estimate, encoder target, sent video, fps, width): {:?}", local_video_stats(a_rx));
    // The frame rate gives way first (to 7, then 5); the size only once it is at 5.
    let mean = per_s.iter().sum::<u32>() as f64 / per_s.len().max(1) as f64;
    assert!(per_s.iter().all(|f| (4..=10).contains(f)), "maintain quality: the frame rate falls to 5-7, {per_s:?} fps");
    assert!(
        size() == Some((640, 480)) || mean <= 6.0,
        "maintain quality: {:?} at {per_s:?} fps: halved before the frame rate fell",
        size()
    );
    assert!(longest <= Duration::from_millis(400), "maintain quality: a {longest:?} gap");
}

/// `setLocalPublishFallbackOption(2)`: A's uplink capped at 100 kbps (netem, 200 ms of queue),
/// room for A's audio (~57 kbps on the wire) and not for the least video next to it. With the default
/// option 0 A keeps sending video for 6 s; with 2 (set in the call) A gets
/// `onLocalPublishFallbackToAudioOnly(true, 0)`, B sees no new picture and still hears A. The
/// cap lifted, A's next try (5 s after the fallback) holds: `(false, 0)`, and B decodes the
/// picture again.
#[test]
fn the_publisher_falls_back_to_audio_only_and_back() {
    const NARROW_KBPS: u64 = 100;
    let _serial = one_at_a_time();
    let Some((link, url)) = server_behind_link("publish_fallback", PORT + 1) else { return };
    let (a, a_rx) = common::engine(&url);
    let (b, b_rx) = common::engine(&url);
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, bitrate_kbps: 800, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.set_external_video_source(true), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.set_local_publish_fallback_option(1), error::ERR_INVALID_PARAM, "NERTC's publish options are 0 and 2");
    assert_eq!(b.enable_local_audio(false), error::OK);
    assert_eq!(b.enable_audio_volume_indication(true, 100), error::OK);
    let stop = AtomicBool::new(false);
    let fallback = |e: &EngineEvent| match e {
        EngineEvent::LocalPublishFallbackToAudioOnly { is_fallback, stream_type: 0 } => Some(*is_fallback),
        _ => None,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| camera(&a, &stop));
        let _stop = StopOnDrop(&stop);
        assert_eq!(a.join_channel(None, "publish-fallback", 1), error::OK);
        wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
        assert_eq!(b.join_channel(None, "publish-fallback", 2), error::OK);
        wait(&b_rx, "A's video", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
        wait(&b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));

        link.set(&Params { rate_kbps: NARROW_KBPS, queue_ms: 200.0, ..Params::default() }).expect("set the cap");
        let off = until(&a_rx, Duration::from_secs(6), |e| fallback(e).is_some());
        assert!(off.iter().all(|(_, e)| fallback(e).is_none()), "option 0 fell back");
        let frames = watch(&b, Duration::from_secs(1));
        let before: Vec<u32> = b_rx.try_iter().filter_map(|e| heard(&e)).collect();
        println!(
            "publish_fallback: option 0 under a {NARROW_KBPS} kbps cap: B gets {} frames a second, hears A at {before:?}",
            frames.len()
        );

        assert_eq!(a.set_local_publish_fallback_option(2), error::OK);
        let set_at = Instant::now();
        let events = until(&a_rx, Duration::from_secs(10), |e| fallback(e).is_some());
        let (fell_at, _) = events.iter().find(|(_, e)| fallback(e) == Some(true)).expect("onLocalPublishFallbackToAudioOnly(true, 0)");
        println!("publish_fallback: option 2: fell back after {:?}", fell_at.duration_since(set_at));
        // What was queued drains within the link's 200 ms (and B's jitter buffer); then no
        // picture taken after the fallback, and A's audio comes through whole. (A picture taken
        // before it may still complete later: its lost packets resent from the server's cache
        // on B's NACKs, across the same 200 ms queue, each round.)
        std::thread::sleep(Duration::from_millis(800));
        let _ = b_rx.try_iter().count();
        let frames = watch(&b, Duration::from_millis(3000));
        let levels: Vec<u32> = b_rx.try_iter().filter_map(|e| heard(&e)).collect();
        println!("publish_fallback: audio only: B got {} frames in 3 s, heard A at {levels:?}", frames.len());
        let fell_ms = (nertc_engine::frame::now_us() / 1000).saturating_sub(fell_at.elapsed().as_millis() as u64);
        // (shown at, taken at) against the fallback, ms.
        let late: Vec<(u128, Option<i64>)> =
            frames.iter().map(|f| (f.at.duration_since(*fell_at).as_millis(), f.captured_ms.map(|c| c as i64 - fell_ms as i64))).collect();
        println!("publish_fallback: pictures after the fallback (shown, taken; ms from it): {late:?}");
        assert!(
            frames.iter().all(|f| f.captured_ms.is_some_and(|c| c < fell_ms)),
            "B got pictures of A taken after the fallback (shown, taken; ms from it): {late:?}"
        );
        // (Most of the last second: a busy machine's late packets are a gap too.)
        let last_second = &levels[levels.len().saturating_sub(10)..];
        let heard_last = last_second.iter().filter(|v| **v >= HEARD).count();
        assert!(last_second.len() == 10 && heard_last >= 8, "B does not hear A on audio alone: {levels:?}");

        link.set(&Params::default()).expect("lift the cap");
        let events = until(&a_rx, Duration::from_secs(10), |e| fallback(e) == Some(false));
        let (back_at, _) = events.iter().find(|(_, e)| fallback(e) == Some(false)).expect("onLocalPublishFallbackToAudioOnly(false, 0)");
        println!("publish_fallback: resumed {:?} after the fallback", back_at.duration_since(*fell_at));
        let frames = watch(&b, Duration::from_secs(3));
        println!("publish_fallback: B decodes {} frames in the 3 s after the resume", frames.len());
        assert!(frames.len() >= 20 && frames.iter().all(|f| f.pattern), "B did not get A's picture back: {} frames", frames.len());
        let again = until(&a_rx, Duration::from_secs(6), |e| fallback(e).is_some());
        assert!(again.iter().all(|(_, e)| fallback(e).is_none()), "fell back again on a clear link");
    });
    a.release();
    b.release();
}

/// Dual stream through the embedded server on loopback. A publishes the noisy test pattern at
/// 640x480 with `enableDualStreamMode(true)`; B subscribes to the low stream, C to the high one:
/// each decodes its layer's size. B then asks for the high stream: it switches (at a keyframe,
/// every frame the pattern, no gap over 400 ms), and with nobody wanting the low layer A stops
/// encoding it. Then B's downlink (the server's port of B's subscribe connection) is capped at
/// 300 kbps with an `htb` class on `lo` (200 ms of queue): the server falls B back to the low
/// layer because B's downlink estimate (from B's TWCC feedback; the server's metrics say what it
/// was) cannot carry the high one, A encodes the low layer again, and C keeps the high one.
#[test]
fn dual_stream_gives_each_subscriber_its_layer() {
    let _serial = one_at_a_time();
    if !common::in_private_netns() {
        eprintln!("dual_stream: skipped (run it inside scripts/netns.sh)");
        return;
    }
    // The server's peer connections (each user's subscribe connection, built when it joins,
    // and A's publish one) take ports from BASE on. Each port is shaped on its own from the
    // start (unshaped until capped), and B's is found by what it carries: the low stream, less
    // than C's high stream and more than A's RTCP (whatever order the connections were built).
    const BASE: u16 = 41_200;
    const PORTS: u16 = 5;
    let (_rt, server) = server_on_ports(BASE);
    let url = server.url();
    let (a, a_rx) = dual_stream_publisher(&url);
    let (b, b_rx) = common::engine(&url);
    let (c, c_rx) = common::engine(&url);
    for e in [&b, &c] {
        assert_eq!(e.enable_local_audio(false), error::OK);
    }
    let stop = AtomicBool::new(false);
    let _uncap = Uncap;
    shape_each_sport(BASE..BASE + PORTS, None, CAP_KBPS);
    std::thread::scope(|scope| {
        scope.spawn(|| camera(&a, &stop));
        let _stop = StopOnDrop(&stop);
        assert_eq!(b.join_channel(None, "dual", 2), error::OK);
        wait(&b_rx, "B joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
        assert_eq!(a.join_channel(None, "dual", 1), error::OK);
        wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
        wait(&b_rx, "A's video at B", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(b.subscribe_remote_video_stream(1, 1, true), error::OK);
        wait(&b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
        assert_eq!(c.join_channel(None, "dual", 3), error::OK);
        wait(&c_rx, "A's video at C", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(c.subscribe_remote_video_stream(1, 0, true), error::OK);
        wait(&c_rx, "C decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));

        // Each gets its layer.
        let before = shaped_bytes();
        let (bf, cf) = std::thread::scope(|s| {
            let bf = s.spawn(|| watch(&b, Duration::from_secs(3)));
            (bf.join().expect("watch B"), watch(&c, Duration::from_secs(3)))
        });
        let mut sent: Vec<(u64, usize)> =
            shaped_bytes().into_iter().map(|(i, n)| (n.saturating_sub(before.get(&i).copied().unwrap_or(0)), i)).collect();
        sent.sort_unstable();
        let b_port = sent.iter().rev().nth(1).map(|s| s.1).expect("the server's ports are shaped");
        println!("dual_stream: bytes per server port over 3 s (bytes, index): {sent:?}; B's is {}", BASE as usize + b_port);
        println!("dual_stream: B (low) sizes {:?}, C (high) sizes {:?}", sizes(&bf), sizes(&cf));
        assert!(bf.len() >= 20 && bf.iter().all(|f| (f.w, f.h) == (320, 240) && f.pattern), "B's low stream: {:?}", sizes(&bf));
        assert!(cf.len() >= 20 && cf.iter().all(|f| (f.w, f.h) == (640, 480) && f.pattern), "C's high stream: {:?}", sizes(&cf));
        let low = last_low_stats(&a_rx).expect("A reports its low layer");
        println!("dual_stream: A's low layer (w, h, fps, sent kbps, target kbps): {low:?}");
        assert!(low.0 == 320 && low.2 >= 10 && low.4 > 0, "A encodes the low layer while B receives it: {low:?}");

        // B asks for the high stream: a clean switch.
        let _ = b_rx.try_iter().count();
        assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
        let asked = Instant::now();
        let bf = watch(&b, Duration::from_secs(4));
        let switched = bf.iter().find(|f| (f.w, f.h) == (640, 480)).map(|f| f.at.duration_since(asked));
        let gap = longest_gap(&bf, asked);
        println!("dual_stream: B to high: switched after {switched:?}, longest gap {gap:?}, sizes {:?}", sizes(&bf));
        assert!(switched.is_some_and(|t| t < Duration::from_secs(2)), "B did not get the high stream within 2 s: {:?}", sizes(&bf));
        assert!(bf.iter().all(|f| f.pattern), "a frame that is not the picture (gray or broken) around the switch");
        let after = bf.iter().skip_while(|f| (f.w, f.h) != (640, 480));
        assert!(after.clone().all(|f| (f.w, f.h) == (640, 480)), "B went back to the low stream: {:?}", sizes(&bf));
        assert!(gap <= Duration::from_millis(400), "a {gap:?} gap in B's pictures at the switch");
        assert!(
            b_rx.try_iter().any(|e| matches!(e, EngineEvent::RemoteVideoReceiveSizeChanged { uid: 1, width: 640, height: 480, .. })),
            "B was not told of the new size"
        );
        // Nobody wants the low layer now: A stops encoding it.
        std::thread::sleep(Duration::from_secs(4));
        let _ = a_rx.try_iter().count();
        let low = last_low_stats(&a_rx).expect("A reports its low layer");
        println!("dual_stream: A's low layer with nobody receiving it: {low:?}");
        assert!(low.2 == 0 && low.4 == 0, "A still encodes the low layer nobody receives: {low:?}");

        // B's downlink capped: B falls back to the low layer, C keeps the high one.
        cap_shaped(b_port, CAP_KBPS);
        let capped = Instant::now();
        let (bf, cf) = std::thread::scope(|s| {
            let bf = s.spawn(|| watch(&b, Duration::from_secs(10)));
            (bf.join().expect("watch B"), watch(&c, Duration::from_secs(10)))
        });
        let fell = bf.iter().find(|f| (f.w, f.h) == (320, 240)).map(|f| f.at.duration_since(capped));
        println!("dual_stream: B capped at {CAP_KBPS} kbps: low stream after {fell:?}; B sizes {:?}", sizes(&bf));
        println!("dual_stream: C meanwhile: {:?}", sizes(&cf));
        assert!(fell.is_some_and(|t| t < Duration::from_secs(8)), "B never fell back to the low stream: {:?}", sizes(&bf));
        // Because of B's downlink estimate (the server's estimator on B's TWCC feedback), not
        // only its receiver reports: the estimate was under the high layer's bitrate, near the cap.
        let m = &server.metrics;
        let (downgrades, estimate, need) = (
            m.downlink_downgrades.load(Relaxed),
            m.downlink_downgrade_estimate_bps.load(Relaxed),
            m.downlink_downgrade_need_bps.load(Relaxed),
        );
        println!("dual_stream: downgrades by the downlink estimate: {downgrades}, at the last one {estimate} bps for a {need} bps layer");
        assert!(downgrades >= 1, "B fell back, but not on its downlink estimate");
        assert!(estimate < need, "the estimate {estimate} bps could carry the {need} bps high layer");
        assert!(estimate as f64 <= 1.5 * CAP_KBPS as f64 * 1000.0, "the estimate {estimate} bps is far over the {CAP_KBPS} kbps cap");
        let fell_at = capped + fell.expect("checked above");
        let settled: Vec<&Seen> = bf.iter().filter(|f| f.at > fell_at).collect();
        assert!(settled.len() >= 10, "B shows {} frames after falling back", settled.len());
        assert!(settled.iter().all(|f| (f.w, f.h) == (320, 240) && f.pattern), "B after the fallback: {:?}", sizes(&bf));
        assert!(cf.len() >= 100 && cf.iter().all(|f| (f.w, f.h) == (640, 480) && f.pattern), "C lost the high stream: {:?}", sizes(&cf));
        let low = last_low_stats(&a_rx).expect("A reports its low layer");
        assert!(low.2 >= 10, "A encodes the low layer again for B: {low:?}");

        // The cap lifted: B gets the high stream back. The estimate cannot show room for a
        // layer that is not sent, so this is the timed try (after 10 s of clean receiver
        // reports), which must hold although the acknowledged rate trails the new one at first.
        uncap();
        let lifted = Instant::now();
        let mut seen = Vec::new();
        let back = loop {
            let chunk = watch(&b, Duration::from_secs(1));
            let hit = chunk.iter().find(|f| (f.w, f.h) == (640, 480)).map(|f| f.at.duration_since(lifted));
            seen.extend(chunk);
            if hit.is_some() || lifted.elapsed() > Duration::from_secs(25) {
                break hit;
            }
        };
        println!("dual_stream: cap lifted: B back on the high stream after {back:?}");
        assert!(back.is_some(), "B never got the high stream back: {:?}", sizes(&seen));
        let held = watch(&b, Duration::from_secs(8));
        assert!(
            held.len() >= 50 && held.iter().all(|f| (f.w, f.h) == (640, 480) && f.pattern),
            "B's try of the high stream did not hold: {:?}",
            sizes(&held)
        );
    });
    for e in [a, b, c] {
        e.release();
    }
    drop(server);
}

/// `setRemoteSubscribeFallbackOption(2)` through the embedded server on loopback. A publishes
/// the noisy test pattern (640x480, 800 kbps, with the low stream) and its tone microphone; B
/// (fallback option 2, volume indication on) subscribes to the high stream. B's downlink is
/// capped at 100 kbps (`htb` on `lo`, 200 ms of queue): room for A's audio, not for the low
/// stream. The server falls B back to the low stream, then to audio only: B gets
/// `onRemoteSubscribeFallbackToAudioOnly(1, true, 0)`, shows no new video frame while it
/// keeps hearing A. The cap lifted, the server's next try (5 s after the pause) holds: B gets
/// `(1, false, 0)` and the picture again.
#[test]
fn audio_only_fallback_stops_the_video_and_resumes_it() {
    let _serial = one_at_a_time();
    if !common::in_private_netns() {
        eprintln!("audio_only_fallback: skipped (run it inside scripts/netns.sh)");
        return;
    }
    // The server's peer connections (A's and B's subscribe connections, A's publish one; B
    // publishes nothing) take ports from BASE on. Each is capped on its own: B's subscribe
    // connection carries A's media to B, A's carry only RTCP (and nothing else goes through
    // those ports).
    const BASE: u16 = 41_300;
    const NARROW_KBPS: u64 = 100;
    let (_rt, server) = server_on_ports(BASE);
    let url = server.url();
    let (a, a_rx) = dual_stream_publisher(&url);
    let (b, b_rx) = common::engine(&url);
    assert_eq!(b.enable_local_audio(false), error::OK);
    assert_eq!(b.set_remote_subscribe_fallback_option(2), error::OK);
    assert_eq!(b.enable_audio_volume_indication(true, 100), error::OK);
    let stop = AtomicBool::new(false);
    let _uncap = Uncap;
    let fallback = |is: bool| move |e: &EngineEvent| matches!(e, EngineEvent::RemoteSubscribeFallbackToAudioOnly { uid: 1, is_fallback, stream_type: 0 } if *is_fallback == is);
    std::thread::scope(|scope| {
        scope.spawn(|| camera(&a, &stop));
        let _stop = StopOnDrop(&stop);
        assert_eq!(a.join_channel(None, "fallback", 1), error::OK);
        wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
        assert_eq!(b.join_channel(None, "fallback", 2), error::OK);
        wait(&b_rx, "A's video at B", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
        wait(&b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
        wait(&b_rx, "B hears A", Duration::from_secs(5), |e| heard(e).is_some_and(|v| v > HEARD));

        // The narrow cap: low stream, then audio only.
        shape_each_sport(BASE..BASE + 4, Some(NARROW_KBPS), NARROW_KBPS);
        let capped = Instant::now();
        let events = until(&b_rx, Duration::from_secs(12), fallback(true));
        let fell_at = events.last().filter(|e| fallback(true)(&e.1)).map(|e| e.0);
        println!("audio_only_fallback: {NARROW_KBPS} kbps cap: audio only after {:?}", fell_at.map(|t| t.duration_since(capped)));
        let fell_at = fell_at.expect("B never got onRemoteSubscribeFallbackToAudioOnly(1, true, 0) under the cap");
        assert!(!events.iter().any(|e| fallback(false)(&e.1)), "B was told of a resume before the fallback");

        // Audio only: no picture (after what was queued or being retransmitted at the pause,
        // and decoded late on a busy machine), A still heard. The cap is lifted before the
        // server's first try, 5 s after the pause; on a machine so slow that the try comes
        // first (and fails: paused again), only the time before it counts.
        std::thread::sleep(Duration::from_secs(1));
        let (bf, events) = std::thread::scope(|s| {
            let bf = s.spawn(|| watch(&b, Duration::from_millis(2500)));
            let events = until(&b_rx, Duration::from_millis(2500), fallback(false));
            (bf.join().expect("watch B"), events)
        });
        let tried = events.last().filter(|e| fallback(false)(&e.1)).map(|e| e.0);
        let bf: Vec<&Seen> = bf.iter().filter(|f| tried.is_none_or(|t| f.at < t)).collect();
        let levels: Vec<u32> = events.iter().filter_map(|e| heard(&e.1)).collect();
        let heard_share = levels.iter().filter(|v| **v > HEARD).count() as f64 / levels.len().max(1) as f64;
        println!(
            "audio_only_fallback: audio only, from 1 s after the pause (a try under the cap after {:?}): {} video frames, A heard in {:.0} % of {} reports: {levels:?}",
            tried.map(|t| t.duration_since(fell_at)),
            bf.len(),
            heard_share * 100.0,
            levels.len()
        );
        assert!(bf.is_empty(), "B got {} video frames while fallen back to audio only", bf.len());
        // The queue and the NACKed retransmissions of the last pictures take up to about a
        // second to drain (the audio may break up meanwhile); from then on A is heard.
        let tail = &levels[levels.len().saturating_sub(10)..];
        assert!(
            levels.len() >= 10 && heard_share >= 0.75 && tail.iter().all(|v| *v > HEARD),
            "B stopped hearing A while audio only: {levels:?}"
        );

        // The cap lifted: the next try holds (the first one after the cap, or the one after a
        // try that failed under it).
        uncap();
        let lifted = Instant::now();
        let done = AtomicBool::new(false);
        let (bf, events) = std::thread::scope(|s| {
            let bf = s.spawn(|| watch_until(&b, &done, Duration::from_secs(16)));
            let _done = StopOnDrop(&done);
            // Until the video has been back for 3 s.
            let end = Instant::now() + Duration::from_secs(16);
            let mut events: Vec<(Instant, EngineEvent)> = Vec::new();
            while let Ok(e) = b_rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
                events.push((Instant::now(), e));
                let back = events.iter().rev().find(|e| fallback(true)(&e.1) || fallback(false)(&e.1));
                if back.is_some_and(|e| fallback(false)(&e.1) && e.0.elapsed() >= Duration::from_secs(3)) {
                    break;
                }
            }
            drop(_done);
            (bf.join().expect("watch B"), events)
        });
        let resumed_at = events.iter().rev().find(|e| fallback(false)(&e.1)).map(|e| e.0);
        let after: Vec<&Seen> = bf.iter().filter(|f| resumed_at.is_some_and(|t| f.at >= t)).collect();
        let gap = after.first().map(|f| longest_gap(&bf, f.at));
        println!(
            "audio_only_fallback: cap lifted: resumed {:?} after it ({:?} after the fallback), first frame {:?} after the resume, sizes {:?}, longest gap {gap:?}",
            resumed_at.map(|t| t.duration_since(lifted)),
            resumed_at.map(|t| t.duration_since(fell_at)),
            resumed_at.and_then(|t| after.first().map(|f| f.at.duration_since(t))),
            sizes(&bf)
        );
        let resumed_at = resumed_at.expect("B never got onRemoteSubscribeFallbackToAudioOnly(1, false, 0) after the cap");
        assert!(!events.iter().any(|e| fallback(true)(&e.1) && e.0 > resumed_at), "B fell back again on a clear link");
        assert!(after.len() >= 20, "B shows {} frames after the resume: {:?}", after.len(), sizes(&bf));
        assert!(bf.iter().all(|f| f.pattern), "a frame that is not the picture (gray or broken) at the resume");
        assert!(gap.is_some_and(|g| g <= Duration::from_millis(400)), "a {gap:?} gap in B's pictures after the resume");
    });
    for e in [a, b] {
        e.release();
    }
    drop(server);
}

/// Level above which A's tone counts as heard in B's volume indication (0-100; it plays at
/// about 35).
const HEARD: u32 = 8;

/// A's level in a volume indication.
fn heard(e: &EngineEvent) -> Option<u32> {
    match e {
        EngineEvent::RemoteAudioVolumeIndication { speakers, .. } => Some(speakers.iter().find(|(u, _)| *u == 1).map_or(0, |(_, v)| *v)),
        _ => None,
    }
}

/// Events (with their arrival time) for `window`, or until one matches `stop`.
fn until(
    rx: &crossbeam_channel::Receiver<EngineEvent>,
    window: Duration,
    stop: impl Fn(&EngineEvent) -> bool,
) -> Vec<(Instant, EngineEvent)> {
    let end = Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(e) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        let done = stop(&e);
        out.push((Instant::now(), e));
        if done {
            break;
        }
    }
    out
}

/// A frame seen in a remote slot: when, its size, and whether it shows the test pattern.
struct Seen {
    at: Instant,
    w: u32,
    h: u32,
    pattern: bool,
    /// When the picture was captured (`frame::now_us` clock, ms), from its stamp.
    captured_ms: Option<u64>,
}

/// Every new frame of uid 1's main stream at `engine` for `window` (polled every 5 ms).
fn watch(engine: &Engine, window: Duration) -> Vec<Seen> {
    watch_until(engine, &AtomicBool::new(false), window)
}

/// [`watch`] until `done` (or `max`).
fn watch_until(engine: &Engine, done: &AtomicBool, max: Duration) -> Vec<Seen> {
    let slot = engine.slot(StreamKey::Remote(1));
    let start = Instant::now();
    let mut seen = slot.count();
    let mut out = Vec::new();
    while !done.load(Relaxed) && start.elapsed() < max {
        if let Some((n, f)) = slot.newer_than(seen) {
            seen = n;
            out.push(Seen {
                at: Instant::now(),
                w: f.width,
                h: f.height,
                pattern: nertc_engine::device::test_pattern::looks_like_pattern(&f),
                captured_ms: nertc_engine::device::test_pattern::read_stamp(&f).map(|s| s.capture_time_ms),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    out
}

/// Runs of equal sizes: `[(w, h, frames)]`.
fn sizes(frames: &[Seen]) -> Vec<(u32, u32, usize)> {
    let mut runs: Vec<(u32, u32, usize)> = Vec::new();
    for f in frames {
        match runs.last_mut() {
            Some(r) if (r.0, r.1) == (f.w, f.h) => r.2 += 1,
            _ => runs.push((f.w, f.h, 1)),
        }
    }
    runs
}

fn longest_gap(frames: &[Seen], from: Instant) -> Duration {
    let mut last = from;
    let mut longest = Duration::ZERO;
    for f in frames {
        longest = longest.max(f.at.saturating_duration_since(last));
        last = f.at;
    }
    longest
}

/// The low layer of A's latest `onLocalVideoStats` within 3 s: (width, height, fps, sent kbps,
/// target kbps).
fn last_low_stats(rx: &crossbeam_channel::Receiver<EngineEvent>) -> Option<(u32, u32, u32, u32, u32)> {
    let until = Instant::now() + Duration::from_millis(2500);
    let mut last = None;
    while let Ok(e) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        if let EngineEvent::LocalVideoStats(s) = e
            && let Some(l) = s.low
        {
            last = Some((l.width, l.height, l.encoder_output_frame_rate, l.sent_bitrate_kbps, l.target_bitrate_kbps));
        }
    }
    last
}

fn tc(args: &str) -> bool {
    std::process::Command::new("tc").args(args.split_whitespace()).status().is_ok_and(|s| s.success())
}

/// Shapes UDP packets leaving `lo` from each source port of `sports` (the server's peer
/// connections), each port on its own: an htb class at `kbps` (None: unshaped, 10 Gbit/s)
/// with a 200 ms (at `queue_kbps`) tail-drop bfifo. Everything else passes unshaped.
fn shape_each_sport(sports: std::ops::Range<u16>, kbps: Option<u64>, queue_kbps: u64) {
    let queue_bytes = queue_kbps * 1000 / 8 / 5;
    let rate = kbps.map_or("10gbit".to_owned(), |k| format!("{k}kbit"));
    let mut cmds = vec![
        "qdisc add dev lo root handle 1: htb default 10 r2q 100".to_owned(),
        "class add dev lo parent 1: classid 1:10 htb rate 10gbit".to_owned(),
    ];
    for (i, sport) in sports.enumerate() {
        let (class, qdisc) = (0x100 + i, 0x200 + i);
        cmds.push(format!("class add dev lo parent 1: classid 1:{class:x} htb rate {rate} ceil {rate}"));
        cmds.push(format!("qdisc add dev lo parent 1:{class:x} handle {qdisc:x}: bfifo limit {queue_bytes}"));
        cmds.push(format!(
            "filter add dev lo parent 1: protocol ip u32 match ip protocol 17 0xff match ip sport {sport} 0xffff flowid 1:{class:x}"
        ));
    }
    for cmd in cmds {
        assert!(tc(&cmd), "tc {cmd}");
    }
}

/// Caps the `index`th port of [`shape_each_sport`]'s at `kbps`.
fn cap_shaped(index: usize, kbps: u64) {
    let cmd = format!("class change dev lo parent 1: classid 1:{:x} htb rate {kbps}kbit ceil {kbps}kbit", 0x100 + index);
    assert!(tc(&cmd), "tc {cmd}");
}

/// Bytes sent so far by each of [`shape_each_sport`]'s classes, by index.
fn shaped_bytes() -> std::collections::BTreeMap<usize, u64> {
    let out = std::process::Command::new("tc").args(["-s", "class", "show", "dev", "lo"]).output().expect("tc runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut bytes = std::collections::BTreeMap::new();
    let mut class = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["class", "htb", id, ..] => {
                class = id.strip_prefix("1:").and_then(|h| usize::from_str_radix(h, 16).ok()).and_then(|c| c.checked_sub(0x100));
            }
            ["Sent", n, "bytes", ..] => {
                if let (Some(c), Ok(n)) = (class.take(), n.parse()) {
                    bytes.insert(c, n);
                }
            }
            _ => {}
        }
    }
    bytes
}

/// Removes the cap (quietly: it may be gone already).
fn uncap() {
    let _ = std::process::Command::new("tc").args(["qdisc", "del", "dev", "lo", "root"]).stderr(std::process::Stdio::null()).status();
}

/// Removes the cap at the end, passing or failing.
struct Uncap;

impl Drop for Uncap {
    fn drop(&mut self) {
        uncap();
    }
}
