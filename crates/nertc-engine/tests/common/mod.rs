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

/// A `nertc-server` process on the far side of a `nertc-netem` link (impairments per
/// direction set later through the returned [`nertc_netem::Link`]), listening on `port`; with
/// its `ws://` URL once it accepts connections. None, with the reason printed, where the test
/// cannot run: outside `scripts/netns.sh`, or without `/dev/net/tun`.
pub fn server_behind_link(test: &str, port: u16) -> Option<(nertc_netem::Link, String)> {
    if !in_private_netns() {
        eprintln!("{test}: skipped (run it inside scripts/netns.sh)");
        return None;
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun").is_err() {
        eprintln!("{test}: skipped (/dev/net/tun cannot be opened: needs root in the namespace)");
        return None;
    }
    let netem = nertc_netem::binary_path().expect("nertc-netem built (cargo build --workspace --bins)");
    let server_bin = netem.with_file_name("nertc-server");
    assert!(server_bin.is_file(), "{} missing: cargo build --workspace --bins", server_bin.display());
    let far = nertc_netem::FAR_IP;
    let config = std::env::temp_dir().join(format!("nertc-{test}-test-{}.toml", std::process::id()));
    std::fs::write(&config, format!("listen = \"{far}:{port}\"\n[rtc]\nbind_ip = \"{far}\"\n")).expect("server config");
    let args = [server_bin.to_str().expect("UTF-8 path"), "--config", config.to_str().expect("temp path is UTF-8")];
    let link = nertc_netem::Link::start(&netem, &nertc_netem::Params::default(), Some(&args)).expect("link up");
    // The server starts after the link's ready line: wait until it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((far, port)).is_err() {
        assert!(Instant::now() < deadline, "the server on the far side never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(&config); // read at start-up
    Some((link, format!("ws://{far}:{port}")))
}

/// An engine of app key "test" on `url`, with its event queue.
pub fn engine(url: &str) -> (Engine, Receiver<EngineEvent>) {
    Engine::new(EngineOptions { app_key: "test".into(), server_url: url.into() }).expect("engine starts")
}

/// Every event within `window`.
pub fn collect(rx: &Receiver<EngineEvent>, window: Duration) -> Vec<EngineEvent> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(e) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        out.push(e);
    }
    out
}
