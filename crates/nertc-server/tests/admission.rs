//! Join admission (app keys, tokens, channel names, uids) and bad input: every case gets its
//! own error code and nobody else in the room notices.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use nertc_protocol::token::{self, Claims, Permissions};
use nertc_protocol::*;
use nertc_server::config::{Limits, Timeouts};
use nertc_server::{AppConfig, ServerConfig};
use support::*;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "s3cret-for-tests";

fn apps_config() -> ServerConfig {
    let mut apps = BTreeMap::new();
    apps.insert("strict".to_string(), AppConfig { secret: SECRET.into(), debug: false });
    apps.insert("debug".to_string(), AppConfig { secret: "other".into(), debug: true });
    ServerConfig { apps, ..ServerConfig::embedded() }
}

fn req(app: &str, channel: &str, uid: u64, token: Option<String>) -> JoinRequest {
    JoinRequest { app_key: app.into(), token, ..join_req(channel, uid) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_token_case_has_its_own_code() {
    let server = server_with(apps_config()).await;
    let now = token::now_secs();
    let good = token::mint("strict", SECRET, "room", 7, now, 600);
    let cases: Vec<(&str, JoinRequest, Option<ErrorCode>)> = vec![
        ("valid token", req("strict", "room", 7, Some(good.clone())), None),
        ("missing token", req("strict", "room", 8, None), Some(ErrorCode::TokenMissing)),
        ("empty token", req("strict", "room", 8, Some(String::new())), Some(ErrorCode::TokenMissing)),
        ("malformed", req("strict", "room", 8, Some("not-a-jwt".into())), Some(ErrorCode::TokenMalformed)),
        (
            "bad signature",
            req("strict", "room", 8, Some(token::mint("strict", "wrong", "room", 8, now, 600))),
            Some(ErrorCode::TokenBadSignature),
        ),
        ("expired", req("strict", "room", 8, Some(token::mint("strict", SECRET, "room", 8, now - 100, 10))), Some(ErrorCode::TokenExpired)),
        ("other channel", req("strict", "hall", 7, Some(good.clone())), Some(ErrorCode::TokenWrongChannel)),
        ("other uid", req("strict", "room", 9, Some(good.clone())), Some(ErrorCode::TokenWrongUid)),
        ("other app", req("strict", "room", 8, Some(token::mint("debug", SECRET, "room", 8, now, 600))), Some(ErrorCode::TokenWrongApp)),
        ("unknown app", req("nope", "room", 8, None), Some(ErrorCode::InvalidAppKey)),
        ("debug app, null token", req("debug", "room", 8, None), None),
        ("debug app, wrong token", req("debug", "room", 10, Some("x.y.z".into())), Some(ErrorCode::TokenMalformed)),
        ("empty channel", req("debug", "", 8, None), Some(ErrorCode::InvalidChannel)),
        ("65-byte channel", req("debug", &"a".repeat(65), 8, None), Some(ErrorCode::InvalidChannel)),
        ("bad character", req("debug", "room/1", 8, None), Some(ErrorCode::InvalidChannel)),
        ("uid 0", req("debug", "room", 0, None), Some(ErrorCode::InvalidUid)),
        ("old protocol", JoinRequest { protocol: 0, ..req("debug", "room", 8, None) }, Some(ErrorCode::UnsupportedProtocol)),
    ];
    for (name, r, want) in cases {
        let mut c = Client::connect(&server, r.uid).await;
        let got = c.join(r).await;
        match want {
            None => assert!(got.is_ok(), "{name}: {got:?}"),
            Some(code) => assert_eq!(got.map(|_| ()).unwrap_err().code, code, "{name}"),
        }
    }
    let page = http_get(server.addr, "/metrics").await;
    assert!(page.contains(r#"nertc_joins_failed_total{reason="token_expired"} 1"#), "{page}");
    assert!(page.contains(r#"nertc_joins_failed_total{reason="invalid_channel"} 3"#), "{page}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_permissions_are_enforced() {
    let server = server_with(apps_config()).await;
    let claims = Claims {
        app_key: "strict".into(),
        channel: "perm".into(),
        uid: 5,
        iat: 0,
        exp: token::now_secs() + 60,
        perms: Permissions { publish: false, subscribe: true },
    };
    let mut c = Client::connect(&server, 5).await;
    let r = c.join(req("strict", "perm", 5, Some(token::sign(&claims, SECRET)))).await.unwrap();
    assert!(!r.can_publish && r.can_subscribe);
    let err = c
        .request(ClientMsg::Publish(PublishRequest {
            kind: MediaKind::Audio,
            source: TrackSource::Mic,
            codec: None,
            layers: vec![],
            muted: false,
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::PermissionDenied);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors_and_the_room_lives_on() {
    let config = ServerConfig {
        timeouts: Timeouts { join_ms: 400, ..Timeouts::default() },
        limits: Limits { max_frames_per_sec: 50, ..Limits::default() },
        ..ServerConfig::embedded()
    };
    let server = server_with(config).await;
    let mut bystander = Client::joined(&server, "bad", 1).await;

    // Requests before join.
    let mut c = Client::connect(&server, 2).await;
    let e = c.request(ClientMsg::Subscribe(SubscribeRequest { track_id: "1-1".into(), layer: None, fallback: None })).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotJoined);
    c.join(join_req("bad", 2)).await.unwrap();
    // A second join on the same socket.
    assert_eq!(c.join(join_req("bad", 2)).await.unwrap_err().code, ErrorCode::AlreadyJoined);

    // Malformed JSON (no id: transport error), unknown type and bad payload (with id).
    c.send_raw("{this is not json").await;
    let f = c.wait_frame("malformed error", |f| matches!(f, ServerFrame::Transport(TransportMsg::Error(_)))).await;
    let ServerFrame::Transport(TransportMsg::Error(e)) = f else { unreachable!() };
    assert_eq!(e.code, ErrorCode::Malformed);
    c.send_raw(r#"{"id":900,"t":"dance","d":{}}"#).await;
    let f = c.wait_frame("unknown type", |f| matches!(f, ServerFrame::Response { re: 900, .. })).await;
    assert_eq!(f, ServerFrame::err(900, ErrorCode::UnknownType, "unknown message type \"dance\""));
    c.send_raw(r#"{"id":901,"t":"publish","d":{"kind":"smell"}}"#).await;
    let f = c.wait_frame("bad payload", |f| matches!(f, ServerFrame::Response { re: 901, .. })).await;
    assert!(matches!(f, ServerFrame::Response { result: Err(ErrorBody { code: ErrorCode::BadRequest, .. }), .. }), "{f:?}");

    // Subscribing to a track that does not exist; SDP that does not parse; pub_mids naming a
    // track that is not ours; an offer on the sub connection.
    assert_eq!(c.subscribe("99-1").await.unwrap_err().code, ErrorCode::TrackNotFound);
    let sdp = |pc, kind, sdp: &str, pub_mids: BTreeMap<String, TrackId>| {
        ClientMsg::Sdp(SdpMsg {
            pc,
            kind,
            sdp: sdp.into(),
            neg: 1,
            pub_mids,
            sub_mids: BTreeMap::new(),
            pub_rids: BTreeMap::new(),
            fresh: false,
        })
    };
    let e = c.request(sdp(PcKind::Pub, SdpType::Offer, "v=0 garbage", BTreeMap::new())).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::BadSdp);
    let mids = BTreeMap::from([("0".to_string(), "1-1".to_string())]);
    assert_eq!(c.request(sdp(PcKind::Pub, SdpType::Offer, "v=0", mids)).await.unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(c.request(sdp(PcKind::Sub, SdpType::Offer, "v=0", BTreeMap::new())).await.unwrap_err().code, ErrorCode::BadRequest);
    assert_eq!(c.request(sdp(PcKind::Sub, SdpType::Answer, "v=0", BTreeMap::new())).await.unwrap_err().code, ErrorCode::BadRequest);

    // Binary frames are refused, the socket stays usable.
    c.send_message(Message::Binary(vec![1, 2, 3].into())).await;
    c.wait_frame("binary refused", |f| {
        matches!(f, ServerFrame::Transport(TransportMsg::Error(ErrorBody { code: ErrorCode::Malformed, .. })))
    })
    .await;
    c.request(ClientMsg::Mute(MuteRequest { track_id: "2-1".into(), muted: true })).await.unwrap_err();

    // An oversized frame closes that socket with 1009.
    let mut big = Client::joined(&server, "bad", 3).await;
    big.send_raw(format!(r#"{{"t":"ping","d":{{"ts":1}},"pad":"{}"}}"#, "x".repeat(70_000))).await;
    assert_eq!(big.wait_closed().await.0, 1009);

    // A client that never joins is closed after the join timeout.
    let mut idle = Client::connect(&server, 4).await;
    let (code, reason) = idle.wait_closed().await;
    assert_eq!((code, reason.as_str()), (1008, "join timeout"));

    // A flood of frames: that client is dropped, nobody else notices.
    let mut flood = Client::joined(&server, "bad", 5).await;
    for i in 0..500 {
        flood.send_raw(format!(r#"{{"t":"ping","d":{{"ts":{i}}}}}"#)).await;
    }
    let (code, reason) = flood.wait_closed().await;
    assert_eq!((code, reason.as_str()), (1008, "rate limited"));

    // The bystander saw only joins (and the timeout-free room still serves it).
    let events = bystander.drain_events(Duration::from_millis(200)).await;
    assert!(events.iter().all(|(_, e)| matches!(e, RoomEvent::UserJoined { .. })), "{events:?}");
    bystander.send_raw(r#"{"t":"ping","d":{"ts":7}}"#).await;
    bystander.wait_frame("pong", |f| matches!(f, ServerFrame::Transport(TransportMsg::Pong(Ping { ts: 7 })))).await;
    let r = Client::joined(&server, "bad", 6).await;
    assert!(r.join.as_ref().unwrap().users.iter().any(|u| u.uid == 1));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_tells_everyone() {
    let server = server().await;
    let mut a = Client::joined(&server, "bye", 1).await;
    server.shutdown().await;
    let f = a.wait_frame("leave", |f| matches!(f, ServerFrame::Transport(TransportMsg::Leave { .. }))).await;
    assert_eq!(f, ServerFrame::Transport(TransportMsg::Leave { reason: LeaveReason::ServerShutdown }));
}
