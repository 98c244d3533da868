//! Helpers shared by the engine's integration tests.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
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
