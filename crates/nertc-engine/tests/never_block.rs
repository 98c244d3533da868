//! The engine never blocks on the network: with a room server that accepts the WebSocket and
//! never answers, the join hangs (the signaling client waits up to 10 s for the join response),
//! yet every call returns at once and `leaveChannel` ends the session right away.

use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::event::ConnectionState;
use nertc_engine::{Engine, EngineEvent, EngineOptions, error};

/// A WebSocket server that accepts connections and never sends anything.
fn silent_server(rt: &tokio::runtime::Runtime) -> String {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("bound address");
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await {
                    use futures_util::StreamExt;
                    while ws.next().await.is_some() {}
                }
            });
        }
    });
    format!("ws://{addr}")
}

fn wait_for(rx: &Receiver<EngineEvent>, within: Duration, pred: impl Fn(&EngineEvent) -> bool) -> Option<EngineEvent> {
    let deadline = Instant::now() + within;
    while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if pred(&ev) {
            return Some(ev);
        }
    }
    None
}

#[test]
fn leave_while_the_join_hangs_ends_at_once_and_a_new_join_works() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let silent = silent_server(&rt);
    let (e, rx) = Engine::new(EngineOptions { app_key: "test".into(), server_url: silent }).expect("engine starts");
    assert_eq!(e.join_channel(None, "hang", 7), error::OK);
    wait_for(&rx, Duration::from_secs(5), |ev| matches!(ev, EngineEvent::ConnectionStateChange { state: ConnectionState::Connecting, .. }))
        .expect("connecting");
    // The join is stuck waiting for a response; commands still go through and are answered.
    assert_eq!(e.enable_local_video(true), error::OK);
    assert_eq!(e.mute_local_audio_stream(true), error::OK);
    assert_eq!(e.leave_channel(), error::OK);
    // 10 s is the join's own timeout: leaving must not wait for it.
    let left = Instant::now();
    wait_for(&rx, Duration::from_secs(5), |ev| matches!(ev, EngineEvent::LeaveChannel { result: 0 }))
        .expect("onLeaveChannel while the join still hangs");
    assert!(left.elapsed() < Duration::from_secs(5));
    assert_eq!(e.connection_state(), ConnectionState::Disconnected as i32);
    // No stale join result arrives later for the abandoned join.
    assert!(wait_for(&rx, Duration::from_millis(500), |ev| matches!(ev, EngineEvent::JoinChannel { .. })).is_none());

    // A real server now: the same engine joins.
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server");
    assert_eq!(e.set_parameters(&format!(r#"{{"server_url":"{}"}}"#, server.url())), error::OK);
    assert_eq!(e.join_channel(None, "real", 8), error::OK);
    let joined = wait_for(&rx, Duration::from_secs(10), |ev| matches!(ev, EngineEvent::JoinChannel { .. })).expect("joined");
    assert!(matches!(joined, EngineEvent::JoinChannel { uid: 8, result: 0, .. }), "{joined:?}");
    e.release();
}
