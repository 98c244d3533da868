//! Two engines in one channel through the embedded room server, on synthetic devices:
//! events in order, the test pattern arrives decodable (stamps read back), the tone is heard.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::device::test_pattern;
use nertc_engine::event::{ConnectionState, UserLeftReason};
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, error};

fn engine(url: &str) -> (Engine, Receiver<EngineEvent>) {
    Engine::new(EngineOptions { app_key: "test".into(), server_url: url.into() }).expect("engine starts")
}

/// Waits for the first event matching `pred`, keeping a log of everything seen.
fn wait(rx: &Receiver<EngineEvent>, log: &mut Vec<EngineEvent>, what: &str, pred: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
    let deadline = Instant::now() + Duration::from_secs(15);
    if let Some(e) = log.iter().find(|e| pred(e)) {
        return e.clone();
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => {
                log.push(e.clone());
                if pred(&e) {
                    return e;
                }
            }
            Err(_) => panic!("timed out waiting for {what}; saw {:?}", log.iter().map(|e| e.name()).collect::<Vec<_>>()),
        }
    }
}

#[test]
fn two_engines_call_with_video_and_audio() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).unwrap();
    let url = server.url();

    let (a, a_rx) = engine(&url);
    let (b, b_rx) = engine(&url);
    let (mut a_log, mut b_log) = (Vec::new(), Vec::new());
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, "engine-call", 1), error::OK);
    assert_eq!(a.join_channel(None, "engine-call", 1), error::ERR_ALREADY_JOINED);
    let ev = wait(&a_rx, &mut a_log, "A joined", |e| matches!(e, EngineEvent::JoinChannel { .. }));
    let EngineEvent::JoinChannel { cid, uid, result, .. } = ev else { unreachable!() };
    assert_eq!((uid, result), (1, 0));
    assert!(cid > 0);
    assert_eq!(a.connection_state(), ConnectionState::Connected as i32);

    assert_eq!(b.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(b.join_channel(None, "engine-call", 2), error::OK);
    wait(&b_rx, &mut b_log, "B joined", |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    wait(&b_rx, &mut b_log, "B sees A", |e| matches!(e, EngineEvent::UserJoined { uid: 1, .. }));
    wait(&a_rx, &mut a_log, "A sees B", |e| matches!(e, EngineEvent::UserJoined { uid: 2, .. }));
    wait(&b_rx, &mut b_log, "A's video starts", |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    let ev = wait(&b_rx, &mut b_log, "first frame", |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    assert_eq!(ev, EngineEvent::FirstVideoFrameDecoded { uid: 1, width: 640, height: 480, stream_type: 0 });
    wait(&b_rx, &mut b_log, "audio decoded", |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));

    // The frames carry A's test pattern with increasing frame numbers.
    let slot = b.slot(StreamKey::Remote(1));
    let mut seen = 0;
    let mut stamps = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stamps.len() < 10 && Instant::now() < deadline {
        if let Some((seq, f)) = slot.newer_than(seen) {
            seen = seq;
            if let Some(st) = test_pattern::read_stamp(&f) {
                stamps.push(st);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stamps.len() >= 10, "readable stamps: {}", stamps.len());
    assert!(stamps.windows(2).all(|w| w[1].frame_no > w[0].frame_no), "{stamps:?}");

    // The tone is heard: B's volume indication for uid 1 rises above silence.
    let ev = wait(
        &b_rx,
        &mut b_log,
        "remote volume",
        |e| matches!(e, EngineEvent::RemoteAudioVolumeIndication { speakers, .. } if speakers.iter().any(|(u, v)| *u == 1 && *v > 20)),
    );
    println!("{ev:?}");

    // Leave: A gets onLeaveChannel(0), B gets onUserLeft(1, normal).
    assert_eq!(a.leave_channel(), error::OK);
    assert_eq!(a.leave_channel(), error::ERR_NOT_JOINED);
    wait(&a_rx, &mut a_log, "A left", |e| matches!(e, EngineEvent::LeaveChannel { result: 0 }));
    wait(&b_rx, &mut b_log, "B sees A leave", |e| matches!(e, EngineEvent::UserLeft { uid: 1, reason: UserLeftReason::Normal }));
    b.release();
    wait(&b_rx, &mut b_log, "B left on release", |e| matches!(e, EngineEvent::LeaveChannel { .. }));
    b.release();
    a.release();
    assert_eq!(a.join_channel(None, "x", 1), error::ERR_INVALID_STATE);
    rt.block_on(server.shutdown());
}

/// A join keeps trying a server it cannot reach yet (as on a network that loses the first
/// SYNs): the server comes up 2 s after `joinChannel`, and the join succeeds.
#[test]
fn join_keeps_trying_a_server_that_is_not_up_yet() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A free port, closed again: connecting is refused until the server binds it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (a, a_rx) = engine(&format!("ws://{addr}"));
    let started = Instant::now();
    assert_eq!(a.join_channel(None, "late-server", 1), error::OK);
    std::thread::sleep(Duration::from_secs(2));
    let config = nertc_server::ServerConfig { listen: addr.to_string(), ..nertc_server::ServerConfig::embedded() };
    let _server = rt.block_on(nertc_server::start(config)).unwrap();
    let mut log = Vec::new();
    let ev = wait(&a_rx, &mut log, "A joined", |e| matches!(e, EngineEvent::JoinChannel { .. }));
    assert!(matches!(ev, EngineEvent::JoinChannel { result: 0, .. }), "{ev:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    a.release();
}
