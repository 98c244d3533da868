//! Two engines through a cluster of three room-server nodes sharing a real `redis-server`
//! (started here on a free port, persistence off). The engines enter through different nodes:
//! the redirect is followed without any event the app would see, and B decodes A's video. Then
//! the node that owns the room dies (its runtime is dropped: sockets close without a `leave`
//! and its heartbeat stops, as with `kill -9`); B entered through that very node, so it has to
//! reconnect through another node that its join result listed. Both rejoin on a live node and
//! B decodes A's video again within 5 s of the crash.
//!
//! `./scripts/netns.sh cargo test -p nertc-engine --test cluster -- --nocapture`

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait;
use nertc_engine::{Engine, EngineEvent, EngineOptions, VideoConfig, error};
use nertc_server::{ClusterConfig, ServerConfig};

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis() -> (Redis, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (scripts/setup.sh installs it)");
    let guard = Redis(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "redis-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (guard, format!("redis://127.0.0.1:{port}"))
}

/// A node in its own runtime (dropping the runtime is the crash).
fn node(redis_url: &str, id: &str) -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Runtime::new().expect("node runtime");
    let cluster = ClusterConfig { redis_url: redis_url.into(), node_id: Some(id.into()), ..Default::default() };
    let config = ServerConfig { cluster: Some(cluster), ..ServerConfig::embedded() };
    let server = rt.block_on(nertc_server::start(config)).expect("node starts");
    let url = server.url();
    std::mem::forget(server);
    (rt, url)
}

fn nodes_seen(url: &str) -> u32 {
    let addr = url.trim_start_matches("ws://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return 0 };
    use std::io::{Read, Write};
    let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut page = String::new();
    let _ = s.read_to_string(&mut page);
    page.lines().find_map(|l| l.strip_prefix("nertc_cluster_nodes ")).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Engine B (uid 2) joins through `url`, subscribes to A's video and decodes a first frame.
fn b_decodes_a(url: &str, channel: &str, how: &str) -> (Engine, crossbeam_channel::Receiver<EngineEvent>) {
    let (b, b_rx) = Engine::new(EngineOptions { app_key: "test".into(), server_url: url.into() }).expect("engine B");
    assert_eq!(b.join_channel(None, channel, 2), error::OK);
    wait(&b_rx, &format!("B joined {how}"), Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    wait(&b_rx, "A's video", Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. }));
    assert_eq!(b.subscribe_remote_video_stream(1, 0, true), error::OK);
    wait(&b_rx, "B decodes A", Duration::from_secs(15), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    (b, b_rx)
}

#[test]
fn engines_follow_redirects_and_survive_the_owner_dying() {
    let (_redis, redis_url) = redis();
    let mut nodes: Vec<Option<(tokio::runtime::Runtime, String)>> = (0..3).map(|i| Some(node(&redis_url, &format!("e{i}")))).collect();
    let urls: Vec<String> = nodes.iter().map(|n| n.as_ref().expect("started").1.clone()).collect();
    let until = Instant::now() + Duration::from_secs(10);
    while urls.iter().any(|u| nodes_seen(u) != 3) {
        assert!(Instant::now() < until, "the nodes did not see each other");
        std::thread::sleep(Duration::from_millis(50));
    }
    let channel = "engine-cluster";
    let (a, a_rx) = Engine::new(EngineOptions { app_key: "test".into(), server_url: urls[0].clone() }).expect("engine A");
    let cfg = VideoConfig { max_profile: -1, width: 640, height: 480, framerate: 15, ..Default::default() };
    assert_eq!(a.set_video_config(&cfg), error::OK);
    assert_eq!(a.enable_local_video(true), error::OK);
    assert_eq!(a.join_channel(None, channel, 1), error::OK);
    wait(&a_rx, "A joined", Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. }));
    // The room's node, from Redis's point of view: B enters through it, A may not have.
    let owner = (0..3)
        .find(|i| {
            let page = std::process::Command::new("redis-cli")
                .args(["-u", &redis_url, "GET", &format!("nertc:room:4:test:{channel}")])
                .output()
                .expect("redis-cli runs");
            String::from_utf8_lossy(&page.stdout).trim() == format!("e{i}")
        })
        .expect("the room has an owner in Redis");
    let b_entry = urls[owner].clone();
    let b_other = urls[(owner + 1) % 3].clone();
    let (b, _b_rx) = b_decodes_a(&b_other, channel, "through a redirect");
    b.release();
    // B again, this time entering through the owner itself (so the owner's death takes its
    // server URL away too).
    let (b, b_rx) = b_decodes_a(&b_entry, channel, "at the owner");

    let (rt, _) = nodes[owner].take().expect("running");
    let crashed = Instant::now();
    rt.shutdown_background();
    wait(&b_rx, "B reconnecting", Duration::from_secs(5), |e| matches!(e, EngineEvent::ReconnectingStart { .. }));
    wait(&b_rx, "B rejoined on a live node", Duration::from_secs(10), |e| matches!(e, EngineEvent::RejoinChannel { result: 0, .. }));
    let rejoined = crashed.elapsed();
    wait(&b_rx, "B decodes A again", Duration::from_secs(10), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { uid: 1, .. }));
    let back = crashed.elapsed();
    println!("owner crash: B rejoined after {rejoined:?}, decodes A's video again after {back:?}");
    assert!(back < Duration::from_secs(5), "video back only {back:?} after the owner died");
    a.release();
    b.release();
    for n in nodes.into_iter().flatten() {
        n.0.shutdown_background();
    }
}
