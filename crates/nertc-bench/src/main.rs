//! `nertc-bench`: measurements of the engine and the room server on this machine.
//!
//! ```text
//! cargo run --release -p nertc-bench -- all [--smoke] [--out bench/results.json]
//! cargo run --release -p nertc-bench -- join | latency | cpu
//! ```
//! Each part prints Markdown rows; `all` also writes a JSON file with every figure, the machine
//! (CPU model, cores) and the git commit. Parts that compare against a peer (Chromium) are run
//! by `bench/run.sh`. Roles (`publish`, `subscribe`) run one engine in a child process so its CPU
//! can be measured alone.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use nertc_engine::device::test_pattern;
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, VideoConfig};
use serde_json::{json, Value};

fn engine(url: &str) -> (Engine, Receiver<EngineEvent>) {
    Engine::new(EngineOptions { app_key: "bench".into(), server_url: url.into() }).expect("engine starts")
}

fn wait_for(rx: &Receiver<EngineEvent>, timeout: Duration, pred: impl Fn(&EngineEvent) -> bool) -> Option<EngineEvent> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(e) if pred(&e) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn summary(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort_by(f64::total_cmp);
    json!({ "median": v[v.len() / 2], "min": v[0], "max": v[v.len() - 1], "n": v.len() })
}

fn fmt(v: &Value) -> String {
    match v.get("median") {
        Some(m) => format!("{:.1} (min {:.1}, max {:.1}, n {})", m.as_f64().unwrap_or(0.0), v["min"].as_f64().unwrap_or(0.0), v["max"].as_f64().unwrap_or(0.0), v["n"]),
        None => "n/a".into(),
    }
}

fn video_config(w: u32, h: u32, fps: u32, kbps: u32) -> VideoConfig {
    VideoConfig { max_profile: -1, width: w, height: h, framerate: fps, bitrate_kbps: kbps, ..Default::default() }
}

/// joinChannel -> onJoinChannel, and joinChannel -> onFirstVideoFrameDecoded of a user already
/// publishing (the subscriber subscribes on onUserVideoStart, as NERTC apps do).
fn bench_join(url: &str, runs: usize) -> Value {
    let (publisher, prx) = engine(url);
    publisher.enable_local_video(true);
    let mut join_ms = Vec::new();
    let mut first_frame_ms = Vec::new();
    for i in 0..runs {
        let ch = format!("bench-join-{i}");
        publisher.join_channel(None, &ch, 1);
        wait_for(&prx, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { .. }));
        std::thread::sleep(Duration::from_millis(300)); // publisher's media is flowing
        let (viewer, vrx) = engine(url);
        let t0 = Instant::now();
        viewer.join_channel(None, &ch, 2);
        if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { result: 0, .. })).is_some() {
            join_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { uid: 1, .. })).is_some() {
            viewer.subscribe_remote_video_stream(1, 0, true);
            if wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { .. })).is_some() {
                first_frame_ms.push(t0.elapsed().as_secs_f64() * 1e3);
            }
        }
        viewer.release();
        publisher.leave_channel();
        wait_for(&prx, Duration::from_secs(5), |e| matches!(e, EngineEvent::LeaveChannel { .. }));
    }
    publisher.release();
    json!({ "join_to_onJoinChannel_ms": summary(join_ms), "join_to_onFirstVideoFrameDecoded_ms": summary(first_frame_ms) })
}

/// Glass-to-glass on loopback: capture time (stamped in the test pattern's pixels) to the
/// moment the decoded frame is in the receiver's slot, engine -> server -> engine.
fn bench_latency(url: &str, w: u32, h: u32, seconds: u64) -> Value {
    let (publisher, prx) = engine(url);
    publisher.set_video_config(&video_config(w, h, 30, if w >= 1280 { 1500 } else { 800 }));
    publisher.enable_local_video(true);
    publisher.enable_local_audio(false);
    let ch = format!("bench-latency-{w}");
    publisher.join_channel(None, &ch, 1);
    wait_for(&prx, Duration::from_secs(10), |e| matches!(e, EngineEvent::JoinChannel { .. }));
    let (viewer, vrx) = engine(url);
    viewer.join_channel(None, &ch, 2);
    wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::UserVideoStart { .. }));
    viewer.subscribe_remote_video_stream(1, 0, true);
    wait_for(&vrx, Duration::from_secs(10), |e| matches!(e, EngineEvent::FirstVideoFrameDecoded { .. }));
    let slot = viewer.slot(StreamKey::Remote(1));
    let mut seen = 0;
    let mut lat = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        if let Some((seq, f)) = slot.newer_than(seen) {
            seen = seq;
            let now_ms = nertc_engine::frame::now_us() as f64 / 1000.0;
            if let Some(st) = test_pattern::read_stamp(&f) {
                lat.push(now_ms - st.capture_time_ms as f64);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    viewer.release();
    publisher.release();
    json!({ "glass_to_glass_ms": summary(lat) })
}

/// CPU time (user + system, in clock ticks) of a process.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn ticks_per_sec() -> f64 {
    100.0 // Linux USER_HZ
}

fn spawn_role(role: &str, url: &str, w: u32, h: u32, seconds: u64) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args([role, url, &w.to_string(), &h.to_string(), &seconds.to_string()])
        .stdout(Stdio::null())
        .spawn()
}

/// CPU of one engine publishing w x h @ 30 (its own process) and of one subscribing to it.
fn bench_cpu(url: &str, w: u32, h: u32, seconds: u64) -> Value {
    let warmup = 3;
    let (Ok(mut p), Ok(mut s)) = (spawn_role("publish", url, w, h, seconds + warmup + 2), spawn_role("subscribe", url, w, h, seconds + warmup + 2)) else {
        return json!(null);
    };
    std::thread::sleep(Duration::from_secs(warmup));
    let (p0, s0) = (cpu_ticks(p.id()), cpu_ticks(s.id()));
    std::thread::sleep(Duration::from_secs(seconds));
    let (p1, s1) = (cpu_ticks(p.id()), cpu_ticks(s.id()));
    let (prss, srss) = (rss_kb(p.id()), rss_kb(s.id()));
    let _ = p.wait();
    let _ = s.wait();
    let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => json!(((b - a) as f64 / ticks_per_sec() / seconds as f64 * 100.0 * 10.0).round() / 10.0),
        _ => json!(null),
    };
    json!({ "publisher_cpu_pct": pct(p0, p1), "subscriber_cpu_pct": pct(s0, s1), "publisher_rss_kb": prss, "subscriber_rss_kb": srss })
}

/// Child roles for `cpu`.
fn run_role(role: &str, args: &[String]) {
    let url = &args[0];
    let w: u32 = args[1].parse().unwrap_or(640);
    let h: u32 = args[2].parse().unwrap_or(480);
    let seconds: u64 = args[3].parse().unwrap_or(10);
    let (e, rx) = engine(url);
    let ch = format!("bench-cpu-{w}");
    if role == "publish" {
        e.set_video_config(&video_config(w, h, 30, if w >= 1280 { 1500 } else { 800 }));
        e.enable_local_video(true);
        e.join_channel(None, &ch, 1);
    } else {
        e.enable_local_audio(false);
        e.join_channel(None, &ch, 2);
        if wait_for(&rx, Duration::from_secs(10), |ev| matches!(ev, EngineEvent::UserVideoStart { .. })).is_some() {
            e.subscribe_remote_video_stream(1, 0, true);
        }
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let _ = rx.recv_timeout(Duration::from_millis(200));
    }
    e.release();
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("unknown").trim().to_owned();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let commit = Command::new("git").args(["rev-parse", "--short", "HEAD"]).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({ "cpu": model, "cores": cores, "commit": commit })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let part = args.first().cloned().unwrap_or_else(|| "all".into());
    if part == "publish" || part == "subscribe" {
        run_role(&part, &args[1..]);
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).cloned();
    let (runs, secs) = if smoke { (2, 2) } else { (10, 10) };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("server starts");
    let url = server.url();
    let mut results = serde_json::Map::new();
    results.insert("machine".into(), machine());
    println!("| part | figure | value (ms or %) |\n|---|---|---|");
    let row = |part: &str, name: &str, v: &Value| println!("| {part} | {name} | {} |", if v.is_number() { v.to_string() } else { fmt(v) });
    if part == "all" || part == "join" {
        let r = bench_join(&url, runs);
        row("join", "joinChannel → onJoinChannel (ms)", &r["join_to_onJoinChannel_ms"]);
        row("join", "joinChannel → onFirstVideoFrameDecoded (ms)", &r["join_to_onFirstVideoFrameDecoded_ms"]);
        results.insert("join".into(), r);
    }
    if part == "all" || part == "latency" {
        for (w, h) in [(640, 480), (1280, 720)] {
            let r = bench_latency(&url, w, h, secs);
            row("latency", &format!("engine→engine glass-to-glass {w}x{h}@30 (ms)"), &r["glass_to_glass_ms"]);
            results.insert(format!("latency_{w}x{h}"), r);
        }
    }
    if part == "all" || part == "cpu" {
        for (w, h) in [(640, 480), (1280, 720)] {
            let r = bench_cpu(&url, w, h, secs);
            row("cpu", &format!("engine publishing {w}x{h}@30 (% of one core)"), &r["publisher_cpu_pct"]);
            row("cpu", &format!("engine subscribing {w}x{h}@30 (% of one core)"), &r["subscriber_cpu_pct"]);
            results.insert(format!("cpu_{w}x{h}"), r);
        }
    }
    let json = serde_json::to_string_pretty(&Value::Object(results)).expect("json");
    if let Some(path) = out {
        if let Err(e) = std::fs::write(&path, &json) {
            eprintln!("cannot write {path}: {e}");
        }
    }
    rt.block_on(server.shutdown());
}
