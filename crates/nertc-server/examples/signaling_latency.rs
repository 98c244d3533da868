//! Measures, on loopback, the join round trip (WebSocket connect -> join result) and the time
//! from a subscribe request until the first forwarded video packet arrives, median of N runs.
//!
//! `cargo run --release -p nertc-server --example signaling_latency -- 20`
//! Prints one JSON object; run it inside a loopback-only network namespace (see README).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use nertc_protocol::{RoomEvent, SubscriptionState};
use support::*;

fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.total_cmp(b));
    serde_json::json!({ "median_ms": v[v.len() / 2], "min_ms": v[0], "max_ms": v[v.len() - 1], "n": v.len() })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let server = nertc_server::start(nertc_server::ServerConfig::embedded()).await.expect("server");
    let mut join_ms = Vec::new();
    let mut first_video_ms = Vec::new();
    let mut publish_to_subscribed_ms = Vec::new();
    for i in 0..runs {
        let ch = format!("lat-{i}");
        let t0 = Instant::now();
        let mut publisher = Client::joined(&server, &ch, 1).await;
        join_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let mut viewer = Client::joined(&server, &ch, 2).await;
        let (_, video) = publisher.publish_av().await;
        let v = video.clone();
        viewer.wait_event("live", move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == v)).await;
        let t1 = Instant::now();
        viewer.subscribe(&video).await.expect("subscribe");
        viewer.wait_event("active", |e| matches!(e, RoomEvent::Subscription { state: SubscriptionState::Active, .. })).await;
        publish_to_subscribed_ms.push(t1.elapsed().as_secs_f64() * 1e3);
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if let Some(at) = viewer.received(&video).await.first_at {
                break at;
            }
            assert!(Instant::now() < deadline, "no video within 10 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        first_video_ms.push(first.duration_since(t1).as_secs_f64() * 1e3);
    }
    let out = serde_json::json!({
        "join_round_trip": stats(join_ms),
        "subscribe_to_active": stats(publish_to_subscribed_ms),
        "subscribe_to_first_video_packet": stats(first_video_ms),
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    server.shutdown().await;
}
