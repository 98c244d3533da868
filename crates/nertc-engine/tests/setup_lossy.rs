//! Calls set up through 20 % random loss each way (`scripts/lossy-lo.sh` on the namespace's
//! loopback: signaling, ICE, DTLS and media all lose packets). webrtc-rs 0.21's DTLS handshake
//! can stall for good under loss: a side whose flight was lost stops retransmitting it once it
//! hears the peer repeat its own previous flight (its retransmit timer is cleared on any
//! handshake packet, and a repeated flight is not answered; RFC 6347 §4.2.4 asks for a resend),
//! so the peer gives up after 7 retries. Before connections that never came up were replaced
//! (`fresh` offers, docs/protocol.md §8.8b), about 1 call in 3 never showed video; a join could
//! also fail outright when the first WebSocket connect lost its SYN twice. Now every call must
//! set up: A publishes, B sees A's video start, subscribes and decodes a frame.
//!
//! Runs only inside `scripts/netns.sh` (it changes lo); elsewhere it says so and passes.

mod common;

use std::time::{Duration, Instant};

use common::{Loss, in_private_netns, wait};
use nertc_engine::{Engine, EngineEvent, EngineOptions, VideoConfig, error};

/// Calls set up in a row; with 1 in 3 failing before, all 4 succeeding by chance is ~20 %.
const CALLS: usize = 4;
/// Join to first decoded frame, per call. A stalled connection is replaced 10 s after its
/// offer, and a replacement can stall too (each about 1 in 4 here, two in a row seen on a quiet
/// machine); `pub` and then `sub` set up in turn, a few seconds each. This allows about seven
/// stalls in one call (a CI run on a slow machine failed this test at 60 s).
const WITHIN: Duration = Duration::from_secs(90);

#[test]
fn calls_set_up_through_20_percent_loss() {
    if !in_private_netns() {
        eprintln!("setup_lossy: skipped (run it inside scripts/netns.sh; it changes lo)");
        return;
    }
    // RUST_LOG=nertc_engine=info,nertc_server=info shows the replaced connections.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let _loss = Loss::apply(20);
    let mut took = Vec::new();
    for i in 0..CALLS {
        let channel = format!("setup{i}");
        let opts = || EngineOptions { app_key: "setup".into(), server_url: server.url() };
        let (a, _a_rx) = Engine::new(opts()).expect("engine A");
        let (b, b_rx) = Engine::new(opts()).expect("engine B");
        let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, ..Default::default() };
        assert_eq!(a.set_video_config(&cfg), error::OK);
        assert_eq!(a.enable_local_video(true), error::OK);
        let started = Instant::now();
        assert_eq!(a.join_channel(None, &channel, 1), error::OK);
        assert_eq!(b.join_channel(None, &channel, 2), error::OK);
        wait(&b_rx, &format!("call {i}: A's video"), WITHIN, |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
        let left = WITHIN.saturating_sub(started.elapsed());
        wait(&b_rx, &format!("call {i}: B decodes A"), left, |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
        took.push(started.elapsed());
        a.release();
        b.release();
    }
    println!("setup_lossy: join to first decoded frame per call at 20 % loss: {took:?}");
}
