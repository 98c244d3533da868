//! The room server dies (its runtime is dropped: sockets close without a `leave`, as with
//! `kill -9`) and a new one starts on the same port 1 s later; then again with 10 s. Both
//! engines find it within a second, rejoin (the new server knows no session to resume),
//! republish, and B is subscribed to A's video again without the app asking: video is back
//! within 2 s of the server's return each time.

mod common;

use std::time::{Duration, Instant};

use common::{video_call, wait};
use nertc_engine::EngineEvent;
use nertc_engine::render::StreamKey;
use nertc_server::ServerConfig;

fn server_on(listen: &str) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Runtime::new().expect("server runtime");
    let server = rt.block_on(nertc_server::start(ServerConfig { listen: listen.into(), ..ServerConfig::embedded() })).expect("server");
    let url = server.url();
    // Lives as long as its runtime: dropping the runtime is the crash.
    std::mem::forget(server);
    (rt, url)
}

#[test]
fn video_is_back_within_2_s_of_a_server_restart() {
    let (mut rt, url) = server_on("127.0.0.1:0");
    let listen = url.trim_start_matches("ws://").to_owned();
    let ((a, _a_rx), (b, b_rx)) = video_call(&url, "restart");
    for outage in [Duration::from_secs(1), Duration::from_secs(10)] {
        rt.shutdown_background();
        wait(&b_rx, "B reconnecting", Duration::from_secs(10), |e| matches!(e, EngineEvent::ReconnectingStart { .. }));
        std::thread::sleep(outage);
        let (rt2, url2) = server_on(&listen);
        rt = rt2;
        assert_eq!(url2, url);
        let back = Instant::now();
        wait(&b_rx, "B rejoined", Duration::from_secs(5), |e| matches!(e, EngineEvent::RejoinChannel { result: 0, .. }));
        // The rejoined session's receive pipeline announces its first decoded frame again.
        wait(&b_rx, "B decodes A again", Duration::from_secs(10), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
        let took = back.elapsed();
        println!("restart: server down {outage:?}; video back {took:?} after it returned");
        assert!(took <= Duration::from_secs(2), "video back only {took:?} after a {outage:?} outage");
        // The decoder thread announces the frame just before it puts it into the slot.
        let drawn = Instant::now();
        // The rejoin replaced A's slot: the new one fills.
        while b.slot(StreamKey::Remote(1)).newer_than(0).is_none() && drawn.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(b.slot(StreamKey::Remote(1)).newer_than(0).is_some(), "and put into A's slot");
    }
    a.release();
    b.release();
}
