//! A two-party call on the embedded server, printed as a timeline: two webrtc-rs clients join,
//! publish synthetic Opus + H.264 RTP, subscribe to each other and exchange media for a while.
//!
//! `cargo run -p nertc-server --example call -- [seconds]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use nertc_protocol::RoomEvent;
use support::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let t0 = Instant::now();
    let at = || format!("{:>7.1} ms", t0.elapsed().as_secs_f64() * 1e3);
    let server = nertc_server::start(nertc_server::ServerConfig::embedded()).await.expect("server starts");
    println!("{} server listening on {}", at(), server.url());
    let mut alice = Client::joined(&server, "demo", 1001).await;
    println!("{} alice (1001) joined", at());
    let mut bob = Client::joined(&server, "demo", 1002).await;
    println!("{} bob (1002) joined; room had {:?}", at(), bob.join.as_ref().map(|j| j.users.iter().map(|u| u.uid).collect::<Vec<_>>()));
    alice.wait_event("bob joined", |e| matches!(e, RoomEvent::UserJoined { uid: 1002, .. })).await;
    println!("{} alice saw user_joined 1002", at());
    let a_tracks = alice.publish_av().await;
    let b_tracks = bob.publish_av().await;
    println!("{} both published audio + video", at());
    for (me, theirs) in [(&mut alice, &b_tracks), (&mut bob, &a_tracks)] {
        for tid in [&theirs.0, &theirs.1] {
            let t = tid.clone();
            let (_, ev) = me
                .wait_event("track_published", move |e| matches!(e, RoomEvent::TrackPublished { track, .. } if track.track_id == t))
                .await;
            if let RoomEvent::TrackPublished { uid, track } = ev {
                println!("{} {} saw track_published {} from {uid} ({})", at(), me.uid, track.track_id, track.codec);
            }
            me.subscribe(tid).await.expect("subscribe");
        }
    }
    println!("{} exchanging media for {secs} s ...", at());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    for (me, theirs) in [(&alice, &b_tracks), (&bob, &a_tracks)] {
        for tid in [&theirs.0, &theirs.1] {
            let r = me.received(tid).await;
            println!("{} {} received {tid}: {} packets, {} intact", at(), me.uid, r.packets, r.intact);
        }
    }
    bob.request(nertc_protocol::ClientMsg::Leave(Default::default())).await.expect("leave");
    let (_, ev) = alice.wait_event("bob left", |e| matches!(e, RoomEvent::UserLeft { uid: 1002, .. })).await;
    println!("{} alice saw {ev:?}", at());
    println!("--- server metrics ---\n{}", server.metrics.render().lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n"));
    server.shutdown().await;
}
