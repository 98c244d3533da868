//! Signaling behaviour against a real server on loopback: presence, leave and drop reasons,
//! replacement, resume with exact replay, ping.

mod support;

use std::time::Duration;

use nertc_protocol::*;
use nertc_server::ServerConfig;
use nertc_server::config::Timeouts;
use support::*;

fn quick_timeouts(resume_window_ms: u64) -> ServerConfig {
    ServerConfig {
        timeouts: Timeouts { join_ms: 500, ping_interval_ms: 200, ping_timeout_ms: 1_000, resume_window_ms },
        ..ServerConfig::embedded()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_and_socket_drop_give_the_right_reasons() {
    let server = server_with(quick_timeouts(400)).await;
    let mut a = Client::joined(&server, "reasons", 1).await;
    let mut b = Client::joined(&server, "reasons", 2).await;
    let c = Client::joined(&server, "reasons", 3).await;
    a.wait_event("user_joined 3", |e| matches!(e, RoomEvent::UserJoined { uid: 3, .. })).await;

    // Graceful leave: response, socket closed normally, others see reason leave.
    b.request(ClientMsg::Leave(Empty {})).await.expect("leave answered");
    let (code, _) = b.wait_closed().await;
    assert_eq!(code, 1000);
    a.wait_event("user_left 2 leave", |e| matches!(e, RoomEvent::UserLeft { uid: 2, reason: LeaveReason::Leave })).await;

    // Socket drop: nobody is told until the resume window passes, then reason timeout.
    let dropped_at = std::time::Instant::now();
    c.kill();
    let (_, ev) = a.wait_event("user_left 3", |e| matches!(e, RoomEvent::UserLeft { uid: 3, .. })).await;
    assert_eq!(ev, RoomEvent::UserLeft { uid: 3, reason: LeaveReason::Timeout });
    assert!(dropped_at.elapsed() >= Duration::from_millis(350), "left only after the window");
    let page = http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_users 1\n"), "{page}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_join_with_same_uid_replaces_the_first() {
    let server = server().await;
    let mut a = Client::joined(&server, "replace", 1).await;
    let mut old = Client::joined(&server, "replace", 2).await;
    let _new = Client::joined(&server, "replace", 2).await;
    let leave = old.wait_frame("leave replaced", |f| matches!(f, ServerFrame::Transport(TransportMsg::Leave { .. }))).await;
    assert_eq!(leave, ServerFrame::Transport(TransportMsg::Leave { reason: LeaveReason::Replaced }));
    assert_eq!(old.wait_closed().await.0, 1000);
    a.wait_event("user_left replaced", |e| matches!(e, RoomEvent::UserLeft { uid: 2, reason: LeaveReason::Replaced })).await;
    let (_, ev) = a.wait_event("user_joined again", |e| matches!(e, RoomEvent::UserJoined { uid: 2, .. })).await;
    assert_eq!(ev, RoomEvent::UserJoined { uid: 2, name: "user2".into() });
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_exactly_the_missed_events() {
    let server = server_with(quick_timeouts(5_000)).await;
    let ch = "resume";
    let mut b = Client::joined(&server, ch, 2).await;
    let mut a = Client::joined(&server, ch, 1).await;
    b.wait_event("user_joined 1", |e| matches!(e, RoomEvent::UserJoined { uid: 1, .. })).await;
    let before = b.drain_events(Duration::from_millis(100)).await;
    assert!(before.is_empty(), "nothing else pending: {before:?}");
    let join = b.join.clone().unwrap();
    let last_seq = b.last_seq;
    assert_eq!(last_seq, 1);

    // b's socket drops; meanwhile 3 joins and leaves, 1 publishes (pending, not live: no event)
    // and 4 joins.
    b.kill();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = Client::joined(&server, ch, 3).await;
    c.request(ClientMsg::Leave(Empty {})).await.unwrap();
    let _d = Client::joined(&server, ch, 4).await;
    a.wait_event("user_joined 4", |e| matches!(e, RoomEvent::UserJoined { uid: 4, .. })).await;

    // Resume on a new socket.
    let mut b2 = Client::connect(&server, 2).await;
    let mut req = join_req(ch, 2);
    req.resume = Some(Resume { session_id: join.session_id.clone(), resume_token: join.resume_token.clone(), last_seq });
    let r = b2.join(req).await.expect("resume accepted");
    assert_eq!(r.session_id, join.session_id);
    assert_eq!(r.resumed, Some(Resumed { from: 2, to: 4 }));
    let replayed = b2.drain_events(Duration::from_millis(200)).await;
    assert_eq!(
        replayed,
        vec![
            (2, RoomEvent::UserJoined { uid: 3, name: "user3".into() }),
            (3, RoomEvent::UserLeft { uid: 3, reason: LeaveReason::Leave }),
            (4, RoomEvent::UserJoined { uid: 4, name: "user4".into() }),
        ]
    );
    // Others noticed nothing of the drop.
    let seen_by_a = a.drain_events(Duration::from_millis(100)).await;
    assert!(!seen_by_a.iter().any(|(_, e)| matches!(e, RoomEvent::UserLeft { uid: 2, .. })), "{seen_by_a:?}");
    // And the resumed session keeps working: new events continue the sequence.
    let _e = Client::joined(&server, ch, 5).await;
    let (seq, _) = b2.wait_event("user_joined 5", |e| matches!(e, RoomEvent::UserJoined { uid: 5, .. })).await;
    assert_eq!(seq, 5);

    // A wrong resume token, and a resume after the session is gone, both fail cleanly.
    let mut bad = Client::connect(&server, 2).await;
    let mut req = join_req(ch, 2);
    req.resume = Some(Resume { session_id: join.session_id.clone(), resume_token: "nope".into(), last_seq: 0 });
    assert_eq!(bad.join(req).await.unwrap_err().code, ErrorCode::ResumeFailed);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_the_window_fails_and_a_fresh_join_works() {
    let server = server_with(quick_timeouts(300)).await;
    let mut b = Client::joined(&server, "late", 2).await;
    let _a = Client::joined(&server, "late", 1).await;
    b.wait_event("user_joined 1", |e| matches!(e, RoomEvent::UserJoined { uid: 1, .. })).await;
    let join = b.join.clone().unwrap();
    b.kill();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut b2 = Client::connect(&server, 2).await;
    let mut req = join_req("late", 2);
    req.resume = Some(Resume { session_id: join.session_id, resume_token: join.resume_token, last_seq: 1 });
    assert_eq!(b2.join(req).await.unwrap_err().code, ErrorCode::ResumeFailed);
    let fresh = b2.join(join_req("late", 2)).await.expect("fresh join after a failed resume");
    assert_eq!(fresh.users.iter().map(|u| u.uid).collect::<Vec<_>>(), vec![1]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_and_ping_timeout() {
    let server = server_with(quick_timeouts(200)).await;
    let mut a = Client::joined(&server, "ping", 1).await;
    a.send_raw(r#"{"t":"ping","d":{"ts":1234}}"#).await;
    let pong = a.wait_frame("pong", |f| matches!(f, ServerFrame::Transport(TransportMsg::Pong(_)))).await;
    assert_eq!(pong, ServerFrame::Transport(TransportMsg::Pong(Ping { ts: 1234 })));
    // Silence longer than ping_timeout_ms (1 s here) closes the socket.
    let (code, reason) = a.wait_closed().await;
    assert_eq!((code, reason.as_str()), (1001, "ping timeout"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_endpoints() {
    let server = server().await;
    assert_eq!(http_get(server.addr, "/healthz").await, "ok");
    let _a = Client::joined(&server, "metrics", 1).await;
    let page = http_get(server.addr, "/metrics").await;
    for name in [
        "nertc_rooms 1",
        "nertc_users 1",
        "nertc_joins_total 1",
        "nertc_rtp_forwarded_packets_total",
        "nertc_nacks_total",
        "nertc_keyframe_requests_sent_total",
    ] {
        assert!(page.contains(name), "{name} missing in\n{page}");
    }
    server.shutdown().await;
}
