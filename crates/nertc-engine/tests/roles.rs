//! Roles reach the server: two engines in the live profile through the embedded room server.
//! An audience member is not seen by the broadcaster, publishes nothing and still receives;
//! `setClientRole` makes it appear (onUserJoined, its audio starts) and disappear
//! (onUserLeft normal, nothing published any more) on the other side.

mod common;

use common::{collect, engine};

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::event::UserLeftReason;
use nertc_engine::{EngineEvent, error};

fn about_uid(e: &EngineEvent, uid: u64) -> bool {
    match e {
        EngineEvent::UserJoined { uid: u, .. }
        | EngineEvent::UserLeft { uid: u, .. }
        | EngineEvent::UserAudioStart { uid: u }
        | EngineEvent::UserVideoStart { uid: u, .. } => *u == uid,
        _ => false,
    }
}

#[test]
fn audience_is_invisible_and_set_client_role_switches_it() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let wait =
        |rx: &Receiver<EngineEvent>, what: &str, pred: &dyn Fn(&EngineEvent) -> bool| common::wait(rx, what, Duration::from_secs(15), pred);

    let (a, a_rx) = engine(&url);
    assert_eq!(a.set_channel_profile(1), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, "engine-roles", 1), error::OK);
    wait(&a_rx, "A joined", &|e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));

    let (b, b_rx) = engine(&url);
    assert_eq!(b.set_channel_profile(1), error::OK);
    assert_eq!(b.set_client_role(1), error::OK);
    assert_eq!(b.enable_local_video(true), error::OK);
    assert_eq!(b.join_channel(None, "engine-roles", 2), error::OK);
    wait(&b_rx, "B joined", &|e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    // The audience receives: A's video decodes at B.
    wait(&b_rx, "B sees A's video", &|e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(&b_rx, "B decodes A", &|e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    // A never hears of B (B's audio and video are on, but an audience member publishes none).
    let seen: Vec<_> = collect(&a_rx, Duration::from_millis(1500)).into_iter().filter(|e| about_uid(e, 2)).collect();
    assert!(seen.is_empty(), "A was told about the audience member: {seen:?}");

    // Broadcaster: B appears at A and its audio and video start.
    assert_eq!(b.set_client_role(0), error::OK);
    wait(&b_rx, "B's role changed", &|e| matches!(e, EngineEvent::ClientRoleChanged { old_role: 1, new_role: 0 }));
    wait(&a_rx, "A sees B join", &|e| matches!(e, EngineEvent::UserJoined { uid: 2, .. }));
    let mut a_log = Vec::new();
    for what in ["audio", "video"] {
        let deadline = Instant::now() + Duration::from_secs(15);
        let started = |e: &EngineEvent| {
            matches!((what, e), ("audio", EngineEvent::UserAudioStart { uid: 2 }) | ("video", EngineEvent::UserVideoStart { uid: 2, .. }))
        };
        while !a_log.iter().any(started) {
            let left = deadline.checked_duration_since(Instant::now()).unwrap_or_else(|| panic!("B's {what} never started at A"));
            a_log.push(a_rx.recv_timeout(left).unwrap_or_else(|_| panic!("B's {what} never started at A")));
        }
    }

    // Audience again: B leaves A's view normally; nothing of B is published any more.
    assert_eq!(b.set_client_role(1), error::OK);
    wait(&b_rx, "B's role changed back", &|e| matches!(e, EngineEvent::ClientRoleChanged { old_role: 0, new_role: 1 }));
    let mut a_log = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !a_log.iter().any(|e| matches!(e, EngineEvent::UserLeft { uid: 2, .. })) {
        let left = deadline.checked_duration_since(Instant::now()).expect("A sees B leave in time");
        a_log.push(a_rx.recv_timeout(left).expect("A sees B leave in time"));
    }
    assert!(a_log.contains(&EngineEvent::UserLeft { uid: 2, reason: UserLeftReason::Normal }), "{a_log:?}");

    // Leaving as audience is not announced; B's own leave completes.
    assert_eq!(b.leave_channel(), error::OK);
    wait(&b_rx, "B left", &|e| matches!(e, EngineEvent::LeaveChannel { result: 0 }));
    let seen: Vec<_> = collect(&a_rx, Duration::from_millis(1000)).into_iter().filter(|e| about_uid(e, 2)).collect();
    assert!(seen.is_empty(), "A was told about the audience member leaving: {seen:?}");
    b.release();
    a.release();
    rt.block_on(server.shutdown());
}
