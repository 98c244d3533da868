//! NERTC's volume indications and stats through the embedded server, on the synthetic tone:
//! volumes on the 0-100 scale, the local user as uid 0 among the speakers, the local level 0
//! while muted, and no remote stats events with empty lists while nothing is received; the
//! audio subscription controls and the per-user / per-channel playback volumes.

mod common;

use common::{collect, engine};

use std::time::Duration;

use nertc_engine::{EngineEvent, error};

/// (local volumes, uid 0's speaker volumes, `uid`'s speaker volumes, total volumes).
fn volumes(events: &[EngineEvent], uid: u64) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>) {
    let (mut local, mut us, mut them, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in events {
        match e {
            EngineEvent::LocalAudioVolumeIndication { volume } => local.push(*volume),
            EngineEvent::RemoteAudioVolumeIndication { speakers, total_volume } => {
                us.extend(speakers.iter().filter(|(u, _)| *u == 0).map(|(_, v)| *v));
                them.extend(speakers.iter().filter(|(u, _)| *u == uid).map(|(_, v)| *v));
                total.push(*total_volume);
            }
            _ => {}
        }
    }
    (local, us, them, total)
}

#[test]
fn volumes_are_nertc_scale_local_is_uid_0_and_0_when_muted() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();

    // A alone for two stats periods: stats, but no remote stats with empty lists.
    let (a, a_rx) = engine(&url);
    assert_eq!(a.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(a.join_channel(None, "engine-volume", 1), error::OK);
    common::wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    let alone = collect(&a_rx, Duration::from_millis(4500));
    assert!(alone.iter().filter(|e| matches!(e, EngineEvent::RtcStats(_))).count() >= 2, "two stats periods");
    let empty: Vec<_> = alone
        .iter()
        .filter(|e| matches!(e, EngineEvent::RemoteAudioStats(_) | EngineEvent::RemoteVideoStats(_)))
        .map(|e| e.name())
        .collect();
    assert!(empty.is_empty(), "remote stats while nothing is received: {empty:?}");
    // A sends its tone: it hears itself as uid 0, at the same level as its local indication.
    let (local, us, _, _) = volumes(&alone[alone.len() / 2..], 2);
    println!("A alone: local {local:?}, uid 0 {us:?}");
    assert!(!local.is_empty() && local.iter().all(|v| (25..=60).contains(v)), "the tone (RMS 0.21 of full scale) is 42: {local:?}");
    assert!(!us.is_empty() && us.iter().all(|v| (25..=60).contains(v)), "uid 0 among the speakers is the local level: {us:?}");

    let (b, b_rx) = engine(&url);
    assert_eq!(b.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(b.enable_local_audio(false), error::OK);
    assert_eq!(b.join_channel(None, "engine-volume", 2), error::OK);
    common::wait(&b_rx, "A's audio decoded at B", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));
    let heard = collect(&b_rx, Duration::from_secs(3));
    let (b_local, b_us, a_at_b, total) = volumes(&heard, 1);
    println!("B: A's volume {a_at_b:?}, total {total:?}");
    assert!(b_local.iter().all(|v| *v == 0), "B sends nothing: {b_local:?}");
    assert!(b_us.is_empty(), "B sends no audio, so it is not among its speakers");
    assert!(a_at_b.iter().filter(|v| (25..=60).contains(*v)).count() >= 5, "A's tone heard at about 42 of 100: {a_at_b:?}");
    assert!(total.iter().all(|v| *v <= 100), "{total:?}");
    let audio_stats: Vec<u32> = heard
        .iter()
        .filter_map(|e| match e {
            EngineEvent::RemoteAudioStats(list) => list.iter().find(|s| s.uid == 1).map(|s| s.volume),
            _ => None,
        })
        .collect();
    assert!(!audio_stats.is_empty() && audio_stats.iter().all(|v| *v <= 100), "remote audio stats volumes: {audio_stats:?}");
    assert!(!heard.iter().any(|e| matches!(e, EngineEvent::RemoteVideoStats(_))), "no video is received: no onRemoteVideoStats(0, [])");

    // A mutes: its local level and uid 0 go to 0 at once; B hears silence from A.
    assert_eq!(a.mute_local_audio_stream(true), error::OK);
    let _ = collect(&a_rx, Duration::from_millis(300));
    let muted = collect(&a_rx, Duration::from_millis(1500));
    let (local, us, _, _) = volumes(&muted, 2);
    assert!(!local.is_empty() && local.iter().all(|v| *v == 0), "muted: {local:?}");
    assert!(!us.is_empty() && us.iter().all(|v| *v == 0), "muted uid 0: {us:?}");
    let _ = collect(&b_rx, Duration::from_millis(500));
    let (_, _, a_at_b, _) = volumes(&collect(&b_rx, Duration::from_millis(1500)), 1);
    assert!(a_at_b.iter().all(|v| *v <= 1), "A muted is silent at B: {a_at_b:?}");

    b.release();
    a.release();
    rt.block_on(server.shutdown());
}

/// `setParameters({auto_subscribe_audio: false})`: a remote user's audio is not subscribed
/// until the app asks (`subscribeRemoteAudioStream`).
#[test]
fn auto_subscribe_audio_false_waits_for_the_app() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let (a, a_rx) = engine(&url);
    assert_eq!(a.join_channel(None, "engine-autosub", 1), error::OK);
    common::wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    let (b, b_rx) = engine(&url);
    assert_eq!(b.set_parameters(r#"{"auto_subscribe_audio": false}"#), error::OK);
    assert_eq!(b.join_channel(None, "engine-autosub", 2), error::OK);
    common::wait(&b_rx, "A's audio starts", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserAudioStart { uid: 1 }));
    let early: Vec<_> = collect(&b_rx, Duration::from_secs(3))
        .into_iter()
        .filter(|e| matches!(e, EngineEvent::FirstAudioDataReceived { .. } | EngineEvent::FirstAudioFrameDecoded { .. }))
        .collect();
    assert!(early.is_empty(), "audio arrived without a subscription: {early:?}");
    assert_eq!(b.subscribe_remote_audio_stream(1, true), error::OK);
    common::wait(&b_rx, "A's audio once subscribed", Duration::from_secs(10), |e| {
        matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 })
    });
    b.release();
    a.release();
    rt.block_on(server.shutdown());
}

/// `uid`'s speaker volume in an indication (0 when it is not among the speakers: nothing of it
/// is received).
fn speaker(speakers: &[(u64, u32)], uid: u64) -> u32 {
    speakers.iter().find(|(u, _)| *u == uid).map_or(0, |(_, v)| *v)
}

/// Waits (up to 10 s) until the last 3 volume indications all satisfy `pred` (A's volume, B's
/// volume, total); returns the volumes of those 3.
fn until_heard(rx: &crossbeam_channel::Receiver<EngineEvent>, what: &str, pred: impl Fn(u32, u32, u32) -> bool) -> Vec<(u32, u32, u32)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last: Vec<(u32, u32, u32)> = Vec::new();
    while let Ok(e) = rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        if let EngineEvent::RemoteAudioVolumeIndication { speakers, total_volume } = e {
            last.push((speaker(&speakers, 1), speaker(&speakers, 2), total_volume));
            if last.len() > 3 {
                last.remove(0);
            }
            if last.len() == 3 && last.iter().all(|(a, b, t)| pred(*a, *b, *t)) {
                println!("{what}: (A, B, total) {last:?}");
                return last;
            }
        }
    }
    panic!("{what}: not within 10 s; last (A, B, total) {last:?}");
}

/// The audio subscription controls on a real call: A (1) and B (2) send their tones, C (3)
/// listens. `adjustUserPlaybackSignalVolume(A, 0)` silences A only; the blocklist and the
/// allowlist, `subscribeAllRemoteAudioStream`, A's `setAudioSubscribeOnlyBy` (enforced by the
/// server) and `adjustChannelPlaybackSignalVolume` each change what C hears, and undoing them
/// brings it back.
#[test]
fn audio_subscription_controls_and_playback_volumes() {
    // RUST_LOG=nertc_server::sfu::peer=debug,nertc_engine::transport::subscriber=debug shows the sub offers.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let ch = "engine-audio-lists";
    let (c, c_rx) = engine(&url);
    assert_eq!(c.set_subscribe_audio_blocklist(0, &[2]), error::ERR_NOT_JOINED, "in a channel only");
    assert_eq!(c.adjust_user_playback_signal_volume(1, 0), error::ERR_NOT_JOINED);
    assert_eq!(c.enable_audio_volume_indication(true, 200), error::OK);
    assert_eq!(c.enable_local_audio(false), error::OK);
    assert_eq!(c.join_channel(None, ch, 3), error::OK);
    let (a, _a_rx) = engine(&url);
    assert_eq!(a.join_channel(None, ch, 1), error::OK);
    let (b, _b_rx) = engine(&url);
    assert_eq!(b.join_channel(None, ch, 2), error::OK);
    let heard = |v: u32| (20..=70).contains(&v);
    until_heard(&c_rx, "both heard", |a, b, _| heard(a) && heard(b));

    assert_eq!(c.adjust_user_playback_signal_volume(1, 101), error::ERR_INVALID_PARAM);
    assert_eq!(c.adjust_user_playback_signal_volume(1, 0), error::OK);
    until_heard(&c_rx, "A at volume 0", |a, b, _| a == 0 && heard(b));
    assert_eq!(c.adjust_user_playback_signal_volume(1, 100), error::OK);
    until_heard(&c_rx, "A back at 100", |a, b, _| heard(a) && heard(b));

    assert_eq!(c.set_subscribe_audio_blocklist(1, &[2]), error::ERR_NOT_SUPPORTED, "no audio substream");
    assert_eq!(c.set_subscribe_audio_blocklist(0, &[2]), error::OK);
    until_heard(&c_rx, "B blocked", |a, b, _| heard(a) && b == 0);
    assert_eq!(c.set_subscribe_audio_blocklist(0, &[]), error::OK);
    assert_eq!(c.set_subscribe_audio_allowlist(&[2, 99]), error::OK);
    until_heard(&c_rx, "only B allowed", |a, b, _| a == 0 && heard(b));
    assert_eq!(c.set_subscribe_audio_allowlist(&[]), error::OK);
    until_heard(&c_rx, "allowlist ended", |a, b, _| heard(a) && heard(b));

    assert_eq!(c.subscribe_all_remote_audio_stream(false), error::OK);
    until_heard(&c_rx, "all off", |a, b, t| a == 0 && b == 0 && t == 0);
    assert_eq!(c.subscribe_all_remote_audio_stream(true), error::OK);
    until_heard(&c_rx, "all on", |a, b, _| heard(a) && heard(b));

    // A lets only B hear it: C gets nothing of A (its subscription stays, without audio).
    assert_eq!(a.set_audio_subscribe_only_by(&[2]), error::OK);
    until_heard(&c_rx, "A heard by B only", |a, b, _| a == 0 && heard(b));
    assert_eq!(a.set_audio_subscribe_only_by(&[]), error::OK);
    until_heard(&c_rx, "A heard by all again", |a, b, _| heard(a) && heard(b));

    assert_eq!(c.adjust_channel_playback_signal_volume(401), error::ERR_INVALID_PARAM);
    assert_eq!(c.adjust_channel_playback_signal_volume(0), error::OK);
    until_heard(&c_rx, "channel at volume 0", |a, b, t| heard(a) && heard(b) && t == 0);

    // Per-call settings: a new call starts at 100 (the channel volume) and unmuted.
    assert_eq!(c.adjust_user_playback_signal_volume(1, 0), error::OK);
    assert_eq!(c.leave_channel(), error::OK);
    common::wait(&c_rx, "C left", Duration::from_secs(5), |e| matches!(e, EngineEvent::LeaveChannel { .. }));
    assert_eq!(c.join_channel(None, ch, 3), error::OK);
    until_heard(&c_rx, "a new call", |a, b, t| heard(a) && heard(b) && t > 0);

    for e in [c, b, a] {
        e.release();
    }
    rt.block_on(server.shutdown());
}
