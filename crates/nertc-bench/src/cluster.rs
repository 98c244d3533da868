//! The cluster row: aggregate forwarded packets/s of 1, 2 and 3 `nertc-server` nodes sharing a
//! private `redis-server`, with the rooms spread over them by the cluster's own placement.
//!
//! Each step starts Redis (free port, no persistence) and `k` nodes (the `nertc-server`
//! binary next to this one, in cluster mode), then `rooms` rooms, each with one publisher
//! sending the fan-out clip and `subs` subscribers. Clients enter through the nodes in turn,
//! so most joins are redirected to the room's node, as in a deployment behind a plain load
//! balancer. After every subscriber receives, a window measures the nodes' summed forwarding
//! rate (`nertc_rtp_forwarded_packets_total`), their summed CPU, and what the subscribers got.
//!
//! On this 2-core machine the load generator and every node share the same two cores, so more
//! nodes cannot forward more: the row shows what clustering costs (heartbeats, redirects, one
//! more process per node), not a speed-up. On separate machines each node brings its cores.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::clip::{Clip, SendTimes};
use crate::loadgen::{self, PublisherThread, RxContext, Target};
use crate::measure::CpuWindow;

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn redis() -> Result<(Proc, String), String> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server (scripts/setup.sh installs it): {e}"))?;
    let proc = Proc(child);
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > until {
            return Err("redis-server did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((proc, format!("redis://127.0.0.1:{port}")))
}

/// One node: the `nertc-server` binary next to this one, in cluster mode.
fn node(redis_url: &str, id: &str) -> Result<(Proc, String), String> {
    let bin = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("nertc-server");
    if !bin.exists() {
        return Err(format!("{} not found: build it with the bench (cargo build --release -p nertc-server -p nertc-bench)", bin.display()));
    }
    let mut child = Command::new(&bin)
        .args(["--listen", "127.0.0.1:0", "--redis-url", redis_url, "--node-id", id])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("nertc-server listening on http://") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(15)).map_err(|_| format!("node {id}: no listen line within 15 s"))?;
    Ok((proc, format!("ws://{addr}")))
}

/// One metric of a node's `/metrics` page.
async fn metric(url: &str, name: &str) -> Option<f64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.strip_prefix("ws://")?;
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).await.ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).await.ok()?;
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn sum_metric(urls: &[String], name: &str) -> f64 {
    let mut total = 0.0;
    for u in urls {
        total += metric(u, name).await.unwrap_or(0.0);
    }
    total
}

/// One step: `k` nodes, `rooms` rooms of one publisher and `subs` subscribers each.
pub async fn step(clip: Arc<Clip>, k: usize, rooms: usize, subs: usize, secs: u64) -> Result<Value, String> {
    let (_redis, redis_url) = redis()?;
    let mut procs = Vec::new();
    let mut urls = Vec::new();
    for i in 0..k {
        let (p, url) = node(&redis_url, &format!("bench-{i}"))?;
        procs.push(p);
        urls.push(url);
    }
    let until = Instant::now() + Duration::from_secs(10);
    for u in &urls {
        while metric(u, "nertc_cluster_nodes").await != Some(k as f64) {
            if Instant::now() > until {
                return Err(format!("node {u} did not see the {k} nodes"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let ctx = RxContext { clip: clip.clone(), times: SendTimes::new(&clip), recording: Arc::new(AtomicBool::new(false)) };
    let mut publishers = Vec::new();
    let mut peers = Vec::new();
    let mut stats = Vec::new();
    let setup = Instant::now();
    for r in 0..rooms {
        let room = format!("cluster-{k}-{r}-{}", rand::random::<u32>());
        let entry = Target::Nertc { url: urls[r % k].clone() };
        let p = PublisherThread::start(&entry, &room, 1, clip.clone(), ctx.times.clone(), loadgen::simulcast_from_env())
            .await
            .map_err(|e| format!("publisher {r}: {e}"))?;
        publishers.push(p);
    }
    tokio::time::sleep(Duration::from_millis(800)).await; // tracks go live with their first packets
    for (r, p) in publishers.iter().enumerate() {
        for s in 0..subs {
            let entry = Target::Nertc { url: urls[(r + s + 1) % k].clone() };
            let (peer, st) =
                loadgen::subscribe(&entry, &p.feed, 100 + s as u64, ctx.clone()).await.map_err(|e| format!("subscriber {r}/{s}: {e}"))?;
            peers.push(peer);
            stats.push(st);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = |stats: &[Arc<loadgen::SubStats>]| {
        stats.iter().filter(|s| s.video.received.load(Relaxed) > 0 && s.audio.received.load(Relaxed) > 0).count()
    };
    while ready(&stats) < stats.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup_s = setup.elapsed().as_secs_f64();
    let ready_n = ready(&stats);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut rooms_per_node = Vec::new();
    for u in &urls {
        rooms_per_node.push(metric(u, "nertc_cluster_rooms_owned").await.unwrap_or(0.0) as u64);
    }
    let received = |stats: &[Arc<loadgen::SubStats>]| {
        stats.iter().map(|s| s.video.received.load(Relaxed) + s.audio.received.load(Relaxed)).sum::<u64>()
    };
    let corrupt =
        |stats: &[Arc<loadgen::SubStats>]| stats.iter().map(|s| s.video.corrupt.load(Relaxed) + s.audio.corrupt.load(Relaxed)).sum::<u64>();
    let cpus: Vec<CpuWindow> = procs.iter().map(|p| CpuWindow::start(p.0.id())).collect();
    let (fwd0, rx0, bad0) = (sum_metric(&urls, "nertc_rtp_forwarded_packets_total").await, received(&stats), corrupt(&stats));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let window = t0.elapsed().as_secs_f64();
    let fwd = sum_metric(&urls, "nertc_rtp_forwarded_packets_total").await - fwd0;
    let (rx, bad) = (received(&stats) - rx0, corrupt(&stats) - bad0);
    let cpu: f64 = cpus.iter().filter_map(|c| c.percent()).sum();
    let redirects = sum_metric(&urls, "nertc_cluster_redirects_total").await;
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let result = json!({
        "nodes": k,
        "rooms": rooms,
        "subscribers": stats.len(),
        "subscribers_ready": ready_n,
        "setup_s": r1(setup_s),
        "window_s": r1(window),
        "rooms_per_node": rooms_per_node,
        "redirects": redirects,
        "forwarded_pps": r1(fwd / window),
        "received_pps": r1(rx as f64 / window),
        "corrupt_packets": bad,
        "servers_cpu_pct": r1(cpu),
        "pps_per_server_core": if cpu > 0.0 { json!((fwd / window / (cpu / 100.0)).round()) } else { Value::Null },
    });
    let closing: Vec<_> = peers.into_iter().map(|p| tokio::spawn(p.close())).collect();
    for c in closing {
        let _ = c.await;
    }
    for p in publishers {
        p.close().await;
    }
    Ok(result)
}

/// The row for 1, 2 and 3 nodes (smoke: fewer rooms, shorter windows).
pub async fn run(clip: Arc<Clip>, smoke: bool, secs: u64) -> Vec<Result<Value, String>> {
    let (rooms, subs) = if smoke { (3, 2) } else { (6, 10) };
    let mut out = Vec::new();
    for k in 1..=3 {
        let r = step(clip.clone(), k, rooms, subs, secs).await;
        eprintln!("bench: cluster {k} node(s): {r:?}");
        out.push(r);
    }
    out
}
