//! Two engines in one channel through the embedded room server, on synthetic devices:
//! events in order, the test pattern arrives decodable (stamps read back), the tone is heard.
//! With `enableEncryption`: members with the same key see and hear each other; one with
//! another key, and one without encryption, decode nothing of them and get 30113.

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

/// ICE over TCP, for networks that let no UDP through: the server offers media only on its
/// one TCP port (`rtc.tcp_port` with `rtc.tcp_only`: it holds no UDP socket and advertises no
/// UDP candidate), and the engines' connections reach it there: B decodes A's video and hears
/// A's tone.
#[test]
fn a_call_crosses_a_server_that_offers_media_over_tcp_only() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback");
    let port = probe.local_addr().expect("bound").port();
    drop(probe);
    let mut config = nertc_server::ServerConfig::embedded();
    config.rtc.tcp_port = port;
    config.rtc.tcp_only = true;
    let server = rt.block_on(nertc_server::start(config)).expect("server starts");
    let url = server.url();
    let (a, a_rx) = engine(&url);
    let (b, b_rx) = engine(&url);
    let (mut a_log, mut b_log) = (Vec::new(), Vec::new());
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, "engine-tcp", 1), error::OK);
    wait(&a_rx, &mut a_log, "A joined", |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(b.join_channel(None, "engine-tcp", 2), error::OK);
    wait(&b_rx, &mut b_log, "A's video starts", |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(&b_rx, &mut b_log, "first frame over TCP", |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, width: 640, .. }));
    wait(
        &b_rx,
        &mut b_log,
        "A heard over TCP",
        |e| matches!(e, EngineEvent::RemoteAudioVolumeIndication { speakers, .. } if speakers.iter().any(|(u, v)| *u == 1 && *v > 20)),
    );
    for e in [a, b] {
        e.release();
    }
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

/// The 30113 (`onError`) messages among `log`.
fn not_suitable(log: &[EngineEvent]) -> Vec<String> {
    log.iter()
        .filter_map(|e| match e {
            EngineEvent::Error { code: error::ERR_ENCRYPT_NOT_SUITABLE, msg } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

/// Four engines in a channel: A and B encrypt with one key, C with another, D not at all. B
/// sees A's test pattern (stamps read back) and hears its tone; C and D decode none of A's
/// video or audio, drop it and report 30113 once per stream (D's report says the stream is
/// sealed: what the server forwarded was ciphertext). The rules: before joining only, custom
/// mode 30004, an empty key 30003, off after leaving.
#[test]
fn encrypted_call_only_members_with_the_key_see_and_hear() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let channel = "engine-encrypted";
    let ((a, a_rx), (b, b_rx), (c, c_rx), (d, d_rx)) = (engine(&url), engine(&url), engine(&url), engine(&url));
    let (mut a_log, mut b_log, mut c_log, mut d_log) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());

    assert_eq!(a.enable_encryption(true, 1, "k"), error::ERR_NOT_SUPPORTED, "custom mode");
    assert_eq!(a.enable_encryption(true, 2, "k"), error::ERR_INVALID_PARAM);
    assert_eq!(a.enable_encryption(true, 0, ""), error::ERR_INVALID_PARAM, "an empty key");
    assert!(!a.encryption_enabled());
    assert_eq!(a.enable_encryption(true, 0, "our channel key"), error::OK);
    assert_eq!(b.enable_encryption(true, 0, "our channel key"), error::OK);
    assert_eq!(c.enable_encryption(true, 0, "a wrong key"), error::OK);

    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, channel, 1), error::OK);
    wait(&a_rx, &mut a_log, "A joined", |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(a.enable_encryption(false, 0, ""), error::ERR_INVALID_STATE, "not in a channel");
    assert_eq!(a.enable_encryption(true, 0, "another"), error::ERR_INVALID_STATE, "not in a channel");
    assert_eq!(b.enable_audio_volume_indication(true, 200), error::OK);
    for (member, rx, log, uid) in [(&b, &b_rx, &mut b_log, 2), (&c, &c_rx, &mut c_log, 3), (&d, &d_rx, &mut d_log, 4)] {
        assert_eq!(member.join_channel(None, channel, uid), error::OK);
        wait(rx, log, "A's video starts", |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
        assert_eq!(member.subscribe_remote_video_stream(1, 0, true), error::OK);
    }
    let started = Instant::now();

    // B: A's pictures, decoded and intact.
    wait(&b_rx, &mut b_log, "B decodes A", |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    println!("B decoded A's first encrypted picture {:?} after subscribing", started.elapsed());
    let slot = b.slot(StreamKey::Remote(1));
    let (mut seen, mut stamps) = (0, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(10);
    while stamps.len() < 10 && Instant::now() < deadline {
        if let Some((seq, f)) = slot.newer_than(seen) {
            seen = seq;
            stamps.extend(test_pattern::read_stamp(&f));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(stamps.len() >= 10 && stamps.windows(2).all(|w| w[1].frame_no > w[0].frame_no), "B's stamps: {stamps:?}");
    // B hears A's tone.
    wait(
        &b_rx,
        &mut b_log,
        "A's tone at B",
        |e| matches!(e, EngineEvent::RemoteAudioVolumeIndication { speakers, .. } if speakers.iter().any(|(u, v)| *u == 1 && *v > 20)),
    );

    // C (another key) and D (no encryption): a report per stream of A, and nothing decoded.
    for (who, rx, log, why) in [("C", &c_rx, &mut c_log, "another key"), ("D", &d_rx, &mut d_log, "encryption is off here")] {
        for kind in ["video", "audio"] {
            let prefix = format!("{kind} of user 1 ");
            wait(
                rx,
                log,
                &format!("{who}: 30113 for A's {kind}"),
                |e| matches!(e, EngineEvent::Error { code: error::ERR_ENCRYPT_NOT_SUITABLE, msg } if msg.starts_with(&prefix)),
            );
        }
        log.extend(collect_for(rx, Duration::from_secs(2)));
        let reports = not_suitable(log);
        println!("{who}: {reports:?}");
        assert!(reports.iter().filter(|m| m.contains("user 1 ")).all(|m| m.contains(why)), "{who}: {reports:?}");
        assert_eq!(reports.iter().filter(|m| m.starts_with("video of user 1 ")).count(), 1, "{who}: once per stream");
        assert!(
            !log.iter()
                .any(|e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. } | EngineEvent::FirstAudioFrameDecoded { uid: 1 })),
            "{who} decoded A's media"
        );
    }
    assert_eq!(c.slot(StreamKey::Remote(1)).count(), 0, "no picture of A reached C's slot");
    assert_eq!(d.slot(StreamKey::Remote(1)).count(), 0, "no picture of A reached D's slot");
    // B and A drop C's and D's audio (they send it with another key, or in the clear), never A's.
    b_log.extend(collect_for(&b_rx, Duration::from_millis(500)));
    let at_b = not_suitable(&b_log);
    assert!(at_b.iter().any(|m| m.starts_with("audio of user 3 ")) && at_b.iter().any(|m| m.starts_with("audio of user 4 ")), "{at_b:?}");
    assert!(!at_b.iter().any(|m| m.contains("user 1 ")), "B dropped A's media: {at_b:?}");

    // Leaving turns encryption off, as in NERTC.
    assert!(a.encryption_enabled());
    assert_eq!(a.leave_channel(), error::OK);
    assert!(!a.encryption_enabled());
    wait(&a_rx, &mut a_log, "A left", |e| matches!(e, EngineEvent::LeaveChannel { result: 0 }));
    for e in [d, c, b, a] {
        e.release();
    }
    rt.block_on(server.shutdown());
}

/// Every event within `window`.
fn collect_for(rx: &Receiver<EngineEvent>, window: Duration) -> Vec<EngineEvent> {
    let until = Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(e) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        out.push(e);
    }
    out
}
