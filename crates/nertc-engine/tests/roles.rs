//! Roles reach the server: two engines in the live profile through the embedded room server.
//! An audience member is not seen by the broadcaster, publishes nothing and still receives;
//! `setClientRole` makes it appear (onUserJoined, its audio starts) and disappear
//! (onUserLeft normal, nothing published any more) on the other side. `switchChannel` moves
//! an audience member to another channel.

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

/// `switchChannel`: an audience member of a live channel moves to another channel with the
/// same uid: onLeaveChannel(0), then onJoinChannel with the new channel's id, and it hears the
/// new channel's broadcaster; the codes for a broadcaster, outside a channel and for the
/// channel it is in; `switchChannelWithOptions`' `custom_info` is the name the others get
/// once it turns broadcaster there.
#[test]
fn switch_channel_moves_the_audience() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let wait =
        |rx: &Receiver<EngineEvent>, what: &str, pred: &dyn Fn(&EngineEvent) -> bool| common::wait(rx, what, Duration::from_secs(15), pred);
    let broadcaster = |channel: &str, uid: u64| {
        let (e, rx) = engine(&url);
        assert_eq!(e.set_channel_profile(1), error::OK);
        assert_eq!(e.join_channel(None, channel, uid), error::OK);
        wait(&rx, "a broadcaster joined", &|e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
        (e, rx)
    };
    let (a, a_rx) = broadcaster("engine-switch-1", 1);
    let (d, d_rx) = broadcaster("engine-switch-2", 4);
    assert_eq!(a.switch_channel(None, "engine-switch-2", None), error::ERR_INVALID_STATE, "a broadcaster cannot switch");

    let (b, b_rx) = engine(&url);
    assert_eq!(b.set_channel_profile(1), error::OK);
    assert_eq!(b.set_client_role(1), error::OK);
    assert_eq!(b.switch_channel(None, "engine-switch-2", None), error::ERR_NOT_JOINED);
    assert_eq!(b.join_channel(None, "engine-switch-1", 2), error::OK);
    let first_cid = match collect_until(&b_rx, |e| matches!(e, EngineEvent::JoinChannel { .. })) {
        EngineEvent::JoinChannel { cid, result: 0, .. } => cid,
        other => panic!("B's join: {other:?}"),
    };
    wait(&b_rx, "B hears A", &|e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 1 }));
    assert_eq!(b.switch_channel(None, "engine-switch-1", None), error::ERR_ALREADY_JOINED, "the channel it is in");

    let started = Instant::now();
    assert_eq!(b.switch_channel(None, "engine-switch-2", None), error::OK);
    let mut order = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !order.iter().any(|e| matches!(e, EngineEvent::JoinChannel { .. })) {
        let left = deadline.checked_duration_since(Instant::now()).expect("B joins the new channel in time");
        let e = b_rx.recv_timeout(left).expect("B joins the new channel in time");
        if matches!(e, EngineEvent::LeaveChannel { .. } | EngineEvent::JoinChannel { .. }) {
            order.push(e);
        }
    }
    println!("switched in {:?}", started.elapsed());
    assert!(
        matches!(order[..], [EngineEvent::LeaveChannel { result: 0 }, EngineEvent::JoinChannel { uid: 2, result: 0, cid, .. }] if cid != first_cid),
        "{order:?}"
    );
    wait(&b_rx, "B hears D", &|e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 4 }));
    assert_eq!(b.connection_state(), 3, "connected");

    // Back with a name, then on stage: A gets it in onUserJoined.
    assert_eq!(b.switch_channel(None, "engine-switch-1", Some("Bob")), error::OK);
    wait(&b_rx, "B back in channel 1", &|e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    assert_eq!(b.set_client_role(0), error::OK);
    wait(&a_rx, "A sees Bob", &|e| matches!(e, EngineEvent::UserJoined { uid: 2, name } if name == "Bob"));
    let at_d: Vec<_> = collect(&d_rx, Duration::from_millis(300)).into_iter().filter(|e| about_uid(e, 2)).collect();
    assert!(at_d.is_empty(), "D never saw the audience member: {at_d:?}");

    for e in [b, d, a] {
        e.release();
    }
    rt.block_on(server.shutdown());
}

/// The first event matching `pred` (15 s at most).
fn collect_until(rx: &Receiver<EngineEvent>, pred: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.checked_duration_since(Instant::now()).expect("the event in time");
        let e = rx.recv_timeout(left).expect("the event in time");
        if pred(&e) {
            return e;
        }
    }
}
