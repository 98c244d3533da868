//! The signaling client against a real room server (and against a silent socket for timeouts).

use std::time::Duration;

use nertc_protocol::{
    ClientMsg, ErrorCode, JoinRequest, MediaKind, PROTOCOL_VERSION, PublishRequest, Reply, RoomEvent, SubscribeRequest, TrackSource,
};
use nertc_server::ServerConfig;
use nertc_signal::{Options, SignalError, SignalEvent};
use tokio_tungstenite::tungstenite::Message;

fn join_req(channel: &str, uid: u64) -> JoinRequest {
    JoinRequest {
        token: None,
        app_key: "test".into(),
        channel: channel.into(),
        uid,
        name: format!("u{uid}"),
        protocol: PROTOCOL_VERSION,
        resume: None,
        role: Default::default(),
    }
}

async fn next(events: &mut tokio::sync::mpsc::Receiver<SignalEvent>) -> SignalEvent {
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("an event in time").expect("events until Closed")
}

#[tokio::test]
async fn requests_replies_events_and_close() {
    let server = nertc_server::start(ServerConfig { listen: "127.0.0.1:0".into(), ..ServerConfig::embedded() }).await.expect("server");
    let mut a = nertc_signal::connect(&server.url(), join_req("room", 1), Options::default()).await.expect("a joins");
    assert_eq!(a.join.uid, 1);
    let b = nertc_signal::connect(&server.url(), join_req("room", 2), Options::default()).await.expect("b joins");
    assert_eq!(b.join.users.len(), 1, "b sees a");

    // A room event reaches a.
    match next(&mut a.events).await {
        SignalEvent::Event { event: RoomEvent::UserJoined { uid: 2, .. }, .. } => {}
        other => panic!("expected user_joined, got {other:?}"),
    }

    // request(): the typed reply arrives as an event carrying the request's id.
    let publish =
        ClientMsg::Publish(PublishRequest { kind: MediaKind::Audio, source: TrackSource::Mic, codec: None, layers: vec![], muted: false });
    let id = a.signal.request(publish).expect("queued");
    let track_id = match next(&mut a.events).await {
        SignalEvent::Reply { id: got, result: Ok(Reply::Publish(p)) } if got == id => p.track_id,
        other => panic!("expected the publish reply, got {other:?}"),
    };
    assert!(track_id.starts_with("1-"), "{track_id}");

    // call(): a refusal is typed.
    let err =
        b.signal.call(ClientMsg::Subscribe(SubscribeRequest { track_id: "nope".into(), layer: None, fallback: None })).await.unwrap_err();
    assert!(matches!(&err, SignalError::Refused(e) if e.code == ErrorCode::TrackNotFound), "{err:?}");

    // A raw frame's response is handed over unmatched.
    a.signal.send_raw(Message::Text(r#"{"id":77,"t":"mute","d":{"track_id":"nope","muted":true}}"#.into())).expect("queued");
    loop {
        match next(&mut a.events).await {
            SignalEvent::Unmatched { re: 77, result: Err(e) } => {
                assert_eq!(e.code, ErrorCode::TrackNotFound);
                break;
            }
            SignalEvent::Event { .. } | SignalEvent::Transport(_) => {}
            other => panic!("expected the unmatched response, got {other:?}"),
        }
    }

    // close(): Closed is the last event, later requests fail.
    a.signal.close();
    loop {
        if let SignalEvent::Closed { code, .. } = next(&mut a.events).await {
            assert_eq!(code, 1000);
            break;
        }
    }
    assert!(a.events.recv().await.is_none(), "nothing after Closed");
    let err = a.signal.call(ClientMsg::Leave(nertc_protocol::Empty {})).await.unwrap_err();
    assert_eq!(err, SignalError::Closed);
}

#[tokio::test]
async fn unanswered_requests_time_out() {
    // A WebSocket peer that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("handshake");
        use futures_util::StreamExt;
        while ws.next().await.is_some() {}
    });
    let opts = Options { request_timeout: Duration::from_millis(400), ..Options::default() };
    let (signal, mut events) = nertc_signal::open(&format!("ws://{addr}"), opts).await.expect("opens");
    let id = signal.request(ClientMsg::Leave(nertc_protocol::Empty {})).expect("queued");
    match next(&mut events).await {
        SignalEvent::Reply { id: got, result: Err(SignalError::Timeout(_)) } => assert_eq!(got, id),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(matches!(signal.join(join_req("r", 1)).await, Err(SignalError::Timeout(_))));
}

#[tokio::test]
async fn unreachable_server_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    let err = nertc_signal::connect(&format!("ws://{addr}"), join_req("r", 1), Options::default()).await.err().expect("refused");
    assert!(matches!(err, SignalError::Connect { .. }), "{err:?}");
}

/// A WebSocket peer on loopback that runs `script` on the first connection.
async fn peer<F, Fut>(script: F) -> String
where
    F: FnOnce(tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        tcp.set_nodelay(true).expect("nodelay");
        script(tokio_tungstenite::accept_async(tcp).await.expect("handshake")).await;
    });
    format!("ws://{addr}")
}

fn close_frame(code: u16, reason: &str) -> Message {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    Message::Close(Some(CloseFrame { code: code.into(), reason: reason.to_owned().into() }))
}

async fn closed(events: &mut tokio::sync::mpsc::Receiver<SignalEvent>) -> (u16, String) {
    loop {
        if let SignalEvent::Closed { code, reason } = next(events).await {
            return (code, reason);
        }
    }
}

#[tokio::test]
async fn the_close_frame_is_reported_even_when_a_send_failed_first() {
    use futures_util::SinkExt;
    // The peer never reads: the client's big frame blocks in its send. The peer then closes
    // with a reason and resets the connection, which fails that send before the close frame
    // is read.
    let url = peer(|mut ws| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ws.send(close_frame(4001, "go away")).await.expect("close frame sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Dropped with the client's bytes unread: the kernel resets the connection.
        drop(ws);
    })
    .await;
    let (signal, mut events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    signal.send_raw(Message::Binary(vec![0u8; 64 << 20].into())).expect("queued");
    assert_eq!(closed(&mut events).await, (4001, "go away".to_string()));
}

#[tokio::test]
async fn the_servers_close_frame_is_answered() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let url = peer(|mut ws| async move {
        use futures_util::{SinkExt, StreamExt};
        ws.send(close_frame(4002, "bye")).await.expect("close frame sent");
        let _ = tx.send(tokio::time::timeout(Duration::from_secs(5), ws.next()).await);
    })
    .await;
    let (_signal, mut events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    assert_eq!(closed(&mut events).await, (4002, "bye".to_string()));
    match rx.await.expect("the peer reports") {
        Ok(Some(Ok(Message::Close(Some(c))))) => assert_eq!(u16::from(c.code), 4002, "the reply echoes the code"),
        other => panic!("expected the client's close reply, got {other:?}"),
    }
}

#[tokio::test]
async fn unparsable_frames_are_counted_and_skipped() {
    let url = peer(|mut ws| async move {
        use futures_util::{SinkExt, StreamExt};
        ws.send(Message::Text("not json".into())).await.expect("sent");
        ws.send(Message::Text(r#"{"t":"pong","d":{"ts":5}}"#.into())).await.expect("sent");
        while ws.next().await.is_some() {}
    })
    .await;
    let (signal, mut events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    match next(&mut events).await {
        SignalEvent::Transport(nertc_protocol::TransportMsg::Pong(p)) => assert_eq!(p.ts, 5),
        other => panic!("expected the pong after the garbage, got {other:?}"),
    }
    assert_eq!(signal.unparsable_frames(), 1);
}

#[tokio::test]
async fn requests_still_queued_at_close_get_their_reply() {
    let url = peer(|mut ws| async move {
        use futures_util::StreamExt;
        while ws.next().await.is_some() {}
    })
    .await;
    let (signal, mut events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    signal.close();
    // Queued behind the close: never sent, yet answered before Closed.
    let Ok(id) = signal.request(ClientMsg::Leave(nertc_protocol::Empty {})) else {
        panic!("the driver cannot run between close() and request() on this single-threaded runtime")
    };
    match next(&mut events).await {
        SignalEvent::Reply { id: got, result: Err(SignalError::Closed) } => assert_eq!(got, id),
        other => panic!("expected the request to fail as closed, got {other:?}"),
    }
    assert_eq!(closed(&mut events).await.0, 1000);
    assert_eq!(signal.request(ClientMsg::Leave(nertc_protocol::Empty {})).unwrap_err(), SignalError::Closed);
}

#[tokio::test]
async fn a_silent_server_is_dropped_after_the_silence_limit() {
    // Answers nothing (not even pings) but keeps the socket open, as a partition does.
    let url = peer(|mut ws| async move {
        use futures_util::StreamExt;
        while ws.next().await.is_some() {}
    })
    .await;
    let (signal, mut events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    let every = Duration::from_millis(200);
    let started = tokio::time::Instant::now();
    signal.start_pings(every);
    let (code, reason) = closed(&mut events).await;
    let took = started.elapsed();
    assert_eq!(code, 1006, "{reason}");
    assert!(reason.contains("nothing from the server"), "{reason}");
    let limit = nertc_signal::silence_limit(every);
    assert!(took >= limit && took < limit + Duration::from_secs(1), "dropped after {took:?} (limit {limit:?})");
}

#[tokio::test]
async fn closed_resolves_once_what_was_queued_is_written() {
    let server = nertc_server::start(ServerConfig { listen: "127.0.0.1:0".into(), ..ServerConfig::embedded() }).await.expect("server");
    let a = nertc_signal::connect(&server.url(), join_req("closing", 1), Options::default()).await.expect("a joins");
    let mut b = nertc_signal::connect(&server.url(), join_req("closing", 2), Options::default()).await.expect("b joins");
    // Queued, then closed at once: both are written before the driver ends.
    a.signal.request(ClientMsg::Leave(nertc_protocol::Empty {})).expect("queued");
    a.signal.close();
    tokio::time::timeout(Duration::from_secs(2), a.signal.closed()).await.expect("the driver ends");
    // The leave reached the server: b sees a leave (not a timeout later).
    loop {
        match next(&mut b.events).await {
            SignalEvent::Event { event: RoomEvent::UserLeft { uid: 1, reason }, .. } => {
                assert_eq!(reason, nertc_protocol::LeaveReason::Leave);
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn an_owner_that_stopped_listening_still_gets_its_leave_and_close_written() {
    use futures_util::{SinkExt, StreamExt};
    let (tx, rx) = tokio::sync::oneshot::channel();
    let url = peer(|mut ws| async move {
        // Something for the client to deliver after its owner stopped listening.
        ws.send(Message::Text(r#"{"t":"pong","d":{"ts":1}}"#.into())).await.expect("sent");
        let mut got = Vec::new();
        while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            let close = m.is_close();
            got.push(m);
            if close {
                break;
            }
        }
        let _ = tx.send(got);
    })
    .await;
    let (signal, events) = nertc_signal::open(&url, Options::default()).await.expect("opens");
    // A session being torn down drops its event queue first, then queues its leave and closes.
    drop(events);
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal.request(ClientMsg::Leave(nertc_protocol::Empty {})).expect("the connection is still up");
    signal.close();
    tokio::time::timeout(Duration::from_secs(2), signal.closed()).await.expect("the driver ends");
    let got = rx.await.expect("the peer reports");
    assert!(matches!(got.first(), Some(Message::Text(t)) if t.contains("\"leave\"")), "{got:?}");
    assert!(got.last().is_some_and(Message::is_close), "{got:?}");
}

#[tokio::test]
async fn an_oversized_token_is_refused_without_connecting() {
    // Nothing listens there: the refusal comes before any connection attempt.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let mut req = join_req("big-token", 1);
    req.token = Some("x".repeat(nertc_protocol::MAX_TOKEN_BYTES + 1));
    match nertc_signal::connect(&format!("ws://{addr}"), req, Options::default()).await {
        Err(SignalError::Refused(e)) => assert_eq!(e.code, ErrorCode::TokenMalformed, "{}", e.msg),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}
