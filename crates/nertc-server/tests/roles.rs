//! Client roles (protocol 2) against a real server on loopback: an audience member is not
//! seen by the others (no `user_joined`/`user_left`, not in the join snapshot), cannot publish,
//! still receives the room's events; `set_role` makes it appear and disappear, and turning
//! audience unpublishes its tracks. A version 1 join is a broadcaster.

mod support;

use std::time::Duration;

use nertc_protocol::*;
use support::*;

fn as_role(channel: &str, uid: Uid, role: Role) -> JoinRequest {
    JoinRequest { role, ..join_req(channel, uid) }
}

fn about(uid: Uid) -> impl Fn(&(u64, RoomEvent)) -> bool {
    move |(_, e)| match e {
        RoomEvent::UserJoined { uid: u, .. } | RoomEvent::UserLeft { uid: u, .. } | RoomEvent::TrackPublished { uid: u, .. } => *u == uid,
        RoomEvent::TrackUnpublished { uid: u, .. } | RoomEvent::TrackMuted { uid: u, .. } => *u == uid,
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audience_is_invisible_cannot_publish_and_set_role_switches() {
    let server = server().await;
    let mut a = Client::joined(&server, "roles", 1).await;

    // The audience member sees the broadcaster; the broadcaster hears nothing about it.
    let mut b = Client::connect(&server, 2).await;
    let r = b.join(as_role("roles", 2, Role::Audience)).await.expect("an audience join is admitted");
    assert_eq!(r.users.iter().map(|u| u.uid).collect::<Vec<_>>(), vec![1]);
    assert_eq!(r.protocol, PROTOCOL_VERSION);
    let mut c = Client::joined(&server, "roles", 3).await;
    let snapshot = c.join.as_ref().expect("joined").users.iter().map(|u| u.uid).collect::<Vec<_>>();
    assert_eq!(snapshot, vec![1], "the join snapshot leaves the audience out");
    a.wait_event("user_joined 3", |e| matches!(e, RoomEvent::UserJoined { uid: 3, .. })).await;
    let seen: Vec<_> = a.drain_events(Duration::from_millis(200)).await.into_iter().filter(about(2)).collect();
    assert!(seen.is_empty(), "the broadcaster was told about the audience member: {seen:?}");
    b.wait_event("audience sees user_joined 3", |e| matches!(e, RoomEvent::UserJoined { uid: 3, .. })).await;

    // It may not publish.
    let e = b
        .request(ClientMsg::Publish(PublishRequest {
            kind: MediaKind::Audio,
            source: TrackSource::Mic,
            codec: None,
            layers: vec![],
            muted: false,
        }))
        .await
        .expect_err("an audience member's publish is refused");
    assert_eq!(e.code, ErrorCode::PermissionDenied, "{e:?}");

    // Broadcaster: it appears, with its name, and publishes.
    b.request(ClientMsg::SetRole(SetRoleRequest { role: Role::Broadcaster })).await.expect("set_role answered");
    let (_, ev) = a.wait_event("user_joined 2", |e| matches!(e, RoomEvent::UserJoined { uid: 2, .. })).await;
    assert_eq!(ev, RoomEvent::UserJoined { uid: 2, name: "user2".into() });
    c.wait_event("c sees user_joined 2", |e| matches!(e, RoomEvent::UserJoined { uid: 2, .. })).await;
    // Saying the same role again changes nothing.
    b.request(ClientMsg::SetRole(SetRoleRequest { role: Role::Broadcaster })).await.expect("set_role answered");
    let (audio, video) = b.publish_av().await;
    for t in [&audio, &video] {
        a.wait_event("b's track published", |e| matches!(e, RoomEvent::TrackPublished { uid: 2, track } if track.track_id == *t)).await;
    }
    let twice: Vec<_> = a
        .drain_events(Duration::from_millis(200))
        .await
        .into_iter()
        .filter(|(_, e)| matches!(e, RoomEvent::UserJoined { uid: 2, .. }))
        .collect();
    assert!(twice.is_empty(), "a repeated set_role announced the user again: {twice:?}");
    let r = c.subscribe(&video).await.expect("c subscribes to b's video");
    assert_eq!(r.state, SubscriptionState::Pending);

    // Audience again: its tracks go, it leaves the others' view, c's subscription ends.
    b.request(ClientMsg::SetRole(SetRoleRequest { role: Role::Audience })).await.expect("set_role answered");
    for t in [&audio, &video] {
        a.wait_event("b's track unpublished", |e| matches!(e, RoomEvent::TrackUnpublished { uid: 2, track_id } if track_id == t)).await;
    }
    let (_, ev) = a.wait_event("user_left 2", |e| matches!(e, RoomEvent::UserLeft { uid: 2, .. })).await;
    assert_eq!(ev, RoomEvent::UserLeft { uid: 2, reason: LeaveReason::Audience });
    c.wait_event(
        "c's subscription ended",
        |e| matches!(e, RoomEvent::Subscription { track_id, state: SubscriptionState::Ended } if *track_id == video),
    )
    .await;
    let mut d = Client::connect(&server, 4).await;
    let r = d.join(join_req("roles", 4)).await.expect("d joins");
    assert_eq!(r.users.iter().map(|u| u.uid).collect::<Vec<_>>(), vec![1, 3], "b is audience again");
    let _ = d.drain_events(Duration::ZERO).await;

    // Still receiving: a's publication reaches the audience member.
    let (a_audio, _) = a.publish_av().await;
    b.wait_event("audience sees a's track", |e| matches!(e, RoomEvent::TrackPublished { uid: 1, track } if track.track_id == a_audio))
        .await;
    assert!(b.subscribe(&a_audio).await.is_ok(), "an audience member subscribes");

    // An audience member leaving is not announced either.
    b.request(ClientMsg::Leave(Empty {})).await.expect("leave answered");
    b.wait_closed().await;
    let seen: Vec<_> = d.drain_events(Duration::from_millis(300)).await.into_iter().filter(about(2)).collect();
    assert!(seen.is_empty(), "d was told about the audience member: {seen:?}");
    let page = http_get(server.addr, "/metrics").await;
    assert!(page.contains("nertc_users 3\n"), "{page}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_clients_join_as_broadcasters_and_unknown_versions_are_refused() {
    let server = server().await;
    let mut a = Client::joined(&server, "v1", 1).await;
    // A version 1 join as such a client writes it: no role field.
    let mut old = Client::connect(&server, 2).await;
    old.send_raw(r#"{"id":1,"t":"join","d":{"app_key":"test","channel":"v1","uid":2,"name":"old","protocol":1}}"#).await;
    let f = old.wait_frame("join response", |f| matches!(f, ServerFrame::Response { re: 1, .. })).await;
    assert!(matches!(f, ServerFrame::Response { result: Ok(_), .. }), "{f:?}");
    let (_, ev) = a.wait_event("user_joined 2", |e| matches!(e, RoomEvent::UserJoined { uid: 2, .. })).await;
    assert_eq!(ev, RoomEvent::UserJoined { uid: 2, name: "old".into() });
    let mut future = Client::connect(&server, 3).await;
    let e = future.join(JoinRequest { protocol: PROTOCOL_VERSION + 1, ..join_req("v1", 3) }).await.expect_err("too new");
    assert_eq!(e.code, ErrorCode::UnsupportedProtocol);
    server.shutdown().await;
}
