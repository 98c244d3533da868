//! Network partitions: everything on the namespace's loopback is dropped (`scripts/lossy-lo.sh
//! 100`: media, RTCP, signaling, TCP handshakes) for 5 s, then for 25 s, while engine A
//! publishes video to engine B through the room server.
//!
//! 25 s is longer than ICE's failure timeout (15 s) and the signaling silence limit (11 s):
//! both engines see their signaling drop and their peer connections fail. When the network
//! returns they resume their sessions (the server keeps them for 30 s after it notices), the
//! failed connections are restarted (ICE restart: `pub` by the engine, `sub` by the server), and
//! video must be back within 2 s. Nobody sees the other leave or join, nobody re-subscribes, and
//! each engine reports `onReconnectingStart` then `onRejoinChannel` once, in that order.
//!
//! Runs only inside `scripts/netns.sh` (it changes `lo`); elsewhere it says so and passes.

mod common;

use std::time::{Duration, Instant};

use common::{Loss, frame_times, in_private_netns, rate, video_call};
use crossbeam_channel::Receiver;
use nertc_engine::EngineEvent;
use nertc_engine::event::{ConnectionState, StateReason};

/// The recovery-related events among those received so far, as short names in order.
fn recovery_events(rx: &Receiver<EngineEvent>) -> Vec<String> {
    rx.try_iter()
        .filter_map(|e| match e {
            EngineEvent::ReconnectingStart { .. } => Some("reconnecting".into()),
            EngineEvent::RejoinChannel { result, .. } => Some(format!("rejoin({result})")),
            EngineEvent::ConnectionStateChange { state, reason } => Some(format!("state({},{})", state as i32, reason as i32)),
            EngineEvent::UserLeft { uid, .. } => Some(format!("left({uid})")),
            EngineEvent::UserJoined { uid, .. } => Some(format!("joined({uid})")),
            EngineEvent::Disconnect { reason } => Some(format!("disconnect({reason})")),
            EngineEvent::LeaveChannel { .. } => Some("leave".into()),
            _ => None,
        })
        .collect()
}

/// Blacks the network out for `outage` while B's frames are timed; returns the frame counts per
/// second after the outage, and how long after the network returned the first frame came.
fn blackout(b: &nertc_engine::Engine, outage: Duration, after: Duration) -> (Vec<u32>, Duration) {
    let window = outage + after;
    let start = Instant::now();
    let times = std::thread::scope(|s| {
        let h = s.spawn(|| frame_times(b, 1, window));
        let loss = Loss::apply(100);
        std::thread::sleep(outage);
        drop(loss);
        h.join().expect("sampler thread")
    });
    let back = start + outage;
    let first = times.iter().find(|t| **t > back).map_or(after, |t| t.duration_since(back));
    let (per_second, _) = rate(&times, start, window);
    (per_second[outage.as_secs() as usize..].to_vec(), first)
}

#[test]
fn video_is_back_within_2_s_of_5_s_and_25_s_partitions() {
    if !in_private_netns() {
        eprintln!("partition: skipped (run it inside scripts/netns.sh; it changes lo)");
        return;
    }
    // RUST_LOG=nertc_engine=info,nertc_server=info shows the recovery step by step.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    let ((a, a_rx), (b, b_rx)) = video_call(&server.url(), "partition");
    std::thread::sleep(Duration::from_secs(1));
    let _ = (recovery_events(&a_rx), recovery_events(&b_rx));

    // 5 s: TCP and ICE ride it out (ICE may report disconnected; no failure, no restart needed).
    let (after, first) = blackout(&b, Duration::from_secs(5), Duration::from_secs(5));
    let (ev_a, ev_b) = (recovery_events(&a_rx), recovery_events(&b_rx));
    println!("partition 5 s: first frame {first:?} after the network returned; fps after {after:?}; A {ev_a:?}; B {ev_b:?}");
    assert!(first <= Duration::from_secs(2), "video back {first:?} after a 5 s partition");
    assert!(after[2..].iter().all(|n| *n >= 10), "steady video after a 5 s partition: {after:?}");
    for ev in [&ev_a, &ev_b] {
        assert!(!ev.iter().any(|e| e.starts_with("left") || e.starts_with("joined") || e.starts_with("disconnect")), "{ev:?}");
    }

    // 25 s: signaling and both peer connections fail; resume + ICE restarts bring video back.
    let (after, first) = blackout(&b, Duration::from_secs(25), Duration::from_secs(8));
    let (ev_a, ev_b) = (recovery_events(&a_rx), recovery_events(&b_rx));
    println!("partition 25 s: first frame {first:?} after the network returned; fps after {after:?}; A {ev_a:?}; B {ev_b:?}");
    assert!(first <= Duration::from_secs(2), "video back {first:?} after a 25 s partition");
    assert!(after[3..].iter().all(|n| *n >= 10), "steady video after a 25 s partition: {after:?}");
    let signal_down = format!("state({},{})", ConnectionState::Reconnecting as i32, StateReason::SignalDisconnected as i32);
    let media_down = format!("state({},{})", ConnectionState::Reconnecting as i32, StateReason::MediaDisconnected as i32);
    let back_up = format!("state({},{})", ConnectionState::Connected as i32, StateReason::RejoinSucceed as i32);
    for ev in [&ev_a, &ev_b] {
        // Within the server's resume window nothing is visible to the others.
        assert!(!ev.iter().any(|e| e.starts_with("left") || e.starts_with("joined") || e.starts_with("disconnect")), "{ev:?}");
        let pos = |name: &str| ev.iter().position(|e| e == name);
        let down = ev.iter().position(|e| *e == signal_down || *e == media_down);
        assert_eq!(ev.iter().filter(|e| *e == "reconnecting").count(), 1, "one onReconnectingStart: {ev:?}");
        assert_eq!(ev.iter().filter(|e| *e == "rejoin(0)").count(), 1, "one onRejoinChannel: {ev:?}");
        assert!(pos("reconnecting") < pos("rejoin(0)"), "reconnecting, then rejoined: {ev:?}");
        assert!(down.is_some() && pos(&back_up) > down, "states: reconnecting (signal or media), then connected: {ev:?}");
    }
    a.release();
    b.release();
}
