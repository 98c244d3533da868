//! Helpers shared by the engine's integration tests.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, VideoConfig, error};

/// Waits for the first event matching `pred` (earlier ones are dropped); panics after `within`.
pub fn wait(rx: &Receiver<EngineEvent>, what: &str, within: Duration, pred: impl Fn(&EngineEvent) -> bool) {
    let deadline = Instant::now() + within;
    while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if pred(&ev) {
            return;
        }
    }
    panic!("timed out waiting for {what}");
}

/// Engine A (uid 1) publishes the test pattern at 640x480, 15 fps in `channel` on `server_url`;
/// engine B (uid 2) joins, subscribes to A's video and has decoded a first frame.
pub fn video_call(server_url: &str, channel: &str) -> ((Engine, Receiver<EngineEvent>), (Engine, Receiver<EngineEvent>)) {
    let opts = || EngineOptions { app_key: channel.into(), server_url: server_url.into() };
    let (a, a_rx) = Engine::new(opts()).expect("engine A");
    let (b, b_rx) = Engine::new(opts()).expect("engine B");
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, channel, 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.join_channel(None, channel, 2), error::OK);
    wait(&b_rx, "A's video", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(&b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    ((a, a_rx), (b, b_rx))
}

/// True inside a private namespace whose only interface is loopback.
pub fn in_private_netns() -> bool {
    // /proc/net/dev lists the interfaces of the reading process's namespace.
    let only_lo = std::fs::read_to_string("/proc/net/dev")
        .map(|t| t.lines().skip(2).all(|l| l.split(':').next().map(str::trim) == Some("lo")))
        .unwrap_or(false);
    std::env::var("NERTC_IN_NETNS").as_deref() == Ok("1") && only_lo
}

/// Random loss on `lo` while alive.
pub struct Loss;

impl Loss {
    pub fn apply(percent: u32) -> Loss {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lossy-lo.sh");
        let out = std::process::Command::new(&script).arg(percent.to_string()).output().expect("run lossy-lo.sh");
        assert!(out.status.success(), "lossy-lo.sh: {}", String::from_utf8_lossy(&out.stderr));
        Loss
    }
}

impl Drop for Loss {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/lossy-lo.sh");
        let _ = std::process::Command::new(script).arg("off").status();
    }
}

/// When each new frame of `uid` appeared in B's slot (polled every 5 ms), for `window`.
pub fn frame_times(engine: &Engine, uid: u64, window: Duration) -> Vec<Instant> {
    let slot = engine.slot(StreamKey::Remote(uid));
    let start = Instant::now();
    let mut seen = slot.count();
    let mut times = Vec::new();
    while start.elapsed() < window {
        std::thread::sleep(Duration::from_millis(5));
        let n = slot.count();
        if n != seen {
            times.extend(std::iter::repeat_n(Instant::now(), (n - seen) as usize));
            seen = n;
        }
    }
    times
}

/// Frames per whole second of `window` from `start`, and the longest gap between frames
/// (counting the window's edges).
pub fn rate(times: &[Instant], start: Instant, window: Duration) -> (Vec<u32>, Duration) {
    let mut per_second = vec![0u32; window.as_secs() as usize];
    for t in times {
        if let Some(c) = per_second.get_mut(t.duration_since(start).as_secs() as usize) {
            *c += 1;
        }
    }
    let mut edges = vec![start];
    edges.extend_from_slice(times);
    edges.push(start + window);
    let longest = edges.windows(2).map(|w| w[1].saturating_duration_since(w[0])).max().unwrap_or(window);
    (per_second, longest)
}
