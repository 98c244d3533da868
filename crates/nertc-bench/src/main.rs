//! `nertc-bench`: the SDK and its server measured side by side with Chromium and Janus on this
//! machine.
//!
//! ```text
//! nertc-bench [all|join|latency|cpu|network|streams|fanout|cluster|cap] [--smoke] [--seconds S]
//!             [--n 10,50,100,200] [--sfu nertc,janus] [--out results.json]
//! ```
//! Run it inside a loopback-only network namespace (`scripts/netns.sh`). It prints Markdown
//! tables; `--out` writes a JSON file with every figure, the machine and the git commit.
//!
//! Threads and processes: the bench process runs a tokio runtime (the embedded server for the
//! engine parts, the load generator's peer connections) plus engines on their own threads.
//! Whatever's CPU is measured runs in its own process: engines as child "roles" of this binary
//! (`publish`, `subscribe`, `subscribe-all`), Chromium as `node bench/chromium/run.mjs`, the
//! SFUs under load as `nertc-server` / `janus` processes. CPU and memory come from `/proc`.

mod cap;
mod chromium;
mod clip;
mod cluster;
mod engine_parts;
mod janus;
mod loadgen;
mod measure;
mod nertc_client;
mod network;
mod servers;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use measure::{fmt, median, ratio};

/// Rows of the main table: part, figure, ours, peer, ours/peer.
#[derive(Default)]
struct Report {
    rows: Vec<[String; 5]>,
    json: Map<String, Value>,
}

impl Report {
    fn row(&mut self, part: &str, figure: &str, ours: &Value, peer: Option<(&str, &Value)>) {
        let (peer_text, r) = match peer {
            Some((name, v)) => (format!("{name}: {}", fmt(v)), ratio(median(ours), median(v))),
            None => ("—".into(), Value::Null),
        };
        let r = if r.is_null() { "—".into() } else { r.to_string() };
        let row = [part.into(), figure.into(), fmt(ours), peer_text, r];
        eprintln!("bench: {}", row.join(" | "));
        self.rows.push(row);
        if ours.is_null() || peer.is_some_and(|(_, v)| v.is_null()) {
            self.note_error(format!("{part}: {figure}: no measurement"));
        }
    }

    fn note_error(&mut self, e: String) {
        let errors = self.json.entry("errors").or_insert_with(|| json!([]));
        if let Some(a) = errors.as_array_mut() {
            a.push(json!(e));
        }
    }

    fn error(&mut self, part: &str, e: String) {
        eprintln!("bench: {part}: {e}");
        self.note_error(format!("{part}: {e}"));
        self.rows.push([part.into(), format!("error: {e}"), String::new(), String::new(), String::new()]);
    }
}

struct Options {
    seconds: u64,
    ns: Vec<usize>,
    sfus: Vec<String>,
}

fn main() {
    // NERTC_BENCH_LOG=<dir>: the engines' debug log (estimates, encoder shapes) in <dir>/nertc.log.
    if let Some(dir) = std::env::var_os("NERTC_BENCH_LOG") {
        nertc_engine::logging::configure(Some(std::path::Path::new(&dir)), 4, 0);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let part = args.first().cloned().unwrap_or_else(|| "all".into());
    match part.as_str() {
        "publish" | "subscribe" | "subscribe-all" => return engine_parts::run_role(&part, &args[1..]),
        "serve" => return servers::serve(&args[1..]),
        _ => {}
    }
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let smoke = args.iter().any(|a| a == "--smoke");
    let opts = Options {
        seconds: flag("--seconds").and_then(|s| s.parse().ok()).unwrap_or(if smoke { 2 } else { 10 }),
        ns: flag("--n")
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| if smoke { vec![4] } else { vec![10, 50, 100, 200] }),
        sfus: flag("--sfu")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["nertc".into(), "nertc-1port".into(), "janus".into()]),
    };
    let known = ["all", "join", "latency", "cpu", "network", "streams", "fanout", "cluster", "cap"];
    if !known.contains(&part.as_str()) {
        eprintln!("nertc-bench: unknown part {part:?}; one of {known:?}");
        std::process::exit(2);
    }
    let wants = |p: &str| part == "all" || part == p;
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime can be built at start-up");
    let server = rt.block_on(nertc_server::start(nertc_server::ServerConfig::embedded())).expect("the embedded server starts on loopback");
    let url = server.url();
    let mut rep = Report::default();
    rep.json.insert("machine".into(), measure::machine());
    rep.json.insert("options".into(), json!({ "part": part, "smoke": smoke, "seconds": opts.seconds, "n": opts.ns, "sfu": opts.sfus }));
    let started = std::time::Instant::now();
    let sizes: &[(u32, u32)] = if smoke { &[(640, 480)] } else { &[(640, 480), (1280, 720)] };

    if wants("join") {
        match engine_parts::join(&url, if smoke { 2 } else { 10 }) {
            Ok(r) => {
                rep.row("join", "joinChannel → onJoinChannel (ms)", &r["join_to_onJoinChannel_ms"], None);
                rep.row(
                    "join",
                    "joinChannel → onFirstVideoFrameDecoded, publisher already in (ms)",
                    &r["join_to_onFirstVideoFrameDecoded_ms"],
                    None,
                );
                rep.json.insert("join".into(), r);
            }
            Err(e) => rep.error("join", e),
        }
    }
    if wants("latency") {
        for &(w, h) in sizes {
            let ours = engine_parts::latency(&url, w, h, opts.seconds).unwrap_or_else(|e| json!({ "error": e }));
            let peer = chromium::run("latency", &url, video(w, h), opts.seconds, &[]).unwrap_or_else(|e| json!({ "error": e }));
            let figure = format!("glass-to-glass {w}x{h}@30, {} kbps, through our server (ms)", engine_parts::bitrate_kbps(w));
            rep.row("latency", &figure, &ours["glass_to_glass_ms"], Some(("Chromium", &peer["glass_to_glass_ms"])));
            if let Some(e) = peer.get("error") {
                rep.error("latency/chromium", e.to_string());
            }
            rep.json.insert(format!("latency_{w}x{h}"), json!({ "engine": ours, "chromium": peer }));
        }
    }
    if wants("cpu") {
        for &(w, h) in sizes {
            let ours = engine_parts::cpu(&url, w, h, opts.seconds).unwrap_or_else(|e| json!({ "error": e }));
            let peer = chromium::run("cpu", &url, video(w, h), opts.seconds, &[]).unwrap_or_else(|e| json!({ "error": e }));
            let k = engine_parts::bitrate_kbps(w);
            rep.row(
                "cpu",
                &format!("publishing {w}x{h}@30 H.264 {k} kbps (% of one core)"),
                &ours["publisher_cpu_pct"],
                Some(("Chromium", &peer["publisher_cpu_pct"])),
            );
            rep.row(
                "cpu",
                &format!("subscribing {w}x{h}@30 (% of one core)"),
                &ours["subscriber_cpu_pct"],
                Some(("Chromium", &peer["subscriber_cpu_pct"])),
            );
            rep.row(
                "cpu",
                &format!("video bitrate on the wire {w}x{h} (kbps)"),
                &ours["received_kbps"],
                Some(("Chromium", &peer["sent_kbps"])),
            );
            if let Some(e) = peer.get("error") {
                rep.error("cpu/chromium", e.to_string());
            }
            rep.json.insert(format!("cpu_{w}x{h}"), json!({ "engine": ours, "chromium": peer }));
        }
    }
    if wants("network") {
        match network::run(opts.seconds, smoke) {
            Ok(conds) => {
                for c in &conds {
                    let name = c["condition"].as_str().unwrap_or("?");
                    let (ours, peer) = (&c["engine"], &c["chromium"]);
                    for (who, v) in [("network/engine", ours), ("network/chromium", peer)] {
                        if let Some(e) = v.get("error") {
                            rep.error(&format!("{who} {name}"), e.to_string());
                        }
                    }
                    if ours.get("error").is_some() || peer.get("error").is_some() {
                        continue;
                    }
                    let rows = [
                        ("fps", format!("{name}: frames delivered per second (of 15), 640x480")),
                        ("longest_gap_ms", format!("{name}: longest gap between frames (ms)")),
                        ("frozen_ms", format!("{name}: frozen time in {} s (ms)", opts.seconds)),
                        ("glass_to_glass_ms", format!("{name}: glass-to-glass (ms)")),
                    ];
                    for (key, figure) in rows {
                        rep.row("network", &figure, &ours[key], Some(("Chromium", &peer[key])));
                    }
                }
                rep.json.insert("network".into(), Value::Array(conds));
            }
            Err(e) => rep.error("network", e),
        }
    }
    // The load parts share one pre-encoded clip: 640x360@30 H.264 (500 kbps target, ~230 as coded) + 32 kbps Opus.
    let clip = (wants("streams") || wants("fanout") || wants("cluster") || wants("cap"))
        .then(|| clip::Clip::encode(640, 360, 30, 500, 2).map(Arc::new));
    let clip = match clip {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            rep.error("clip", e);
            None
        }
        None => None,
    };
    if let (true, Some(clip)) = (wants("streams"), &clip) {
        let mut curve = Vec::new();
        for k in if smoke { vec![1, 2] } else { vec![1, 4, 9] } {
            match rt.block_on(engine_parts::streams(&url, clip.clone(), k, opts.seconds)) {
                Ok(r) => {
                    rep.row("streams", &format!("engine subscribed to {k} × 640x360@30 (% of one core)"), &r["engine_cpu_pct"], None);
                    curve.push(r);
                }
                Err(e) => rep.error("streams", e),
            }
        }
        rep.json.insert("streams".into(), Value::Array(curve));
    }
    let mut fanout_rows = Vec::new();
    if let (true, Some(clip)) = (wants("fanout"), &clip) {
        rep.json.insert("fanout_clip".into(), json!({ "video": "640x360@30 H.264", "video_kbps": clip.video_kbps().round(), "audio": "Opus 32 kbps mono, 20 ms", "packets_per_sec_per_subscriber": clip.packets_per_sec().round() }));
        let mut all = Map::new();
        for sfu in &opts.sfus {
            let run = rt.block_on(fanout_sfu(sfu, clip.clone(), &opts));
            match run {
                Ok((what, steps)) => {
                    for s in &steps {
                        let broken = s.get("error").is_some() || s["subscribers_ready"] != s["n"] || s["corrupt_packets"] != 0;
                        if broken {
                            rep.error(&format!("fanout/{sfu}"), format!("not every subscriber received intact media: {s}"));
                        }
                        fanout_rows.push((sfu.clone(), s.clone()));
                    }
                    all.insert(sfu.clone(), json!({ "server": what, "steps": steps }));
                }
                Err(e) => rep.error(&format!("fanout/{sfu}"), e),
            }
        }
        rep.json.insert("fanout".into(), Value::Object(all));
    }
    if let (true, Some(clip)) = (wants("cluster"), &clip) {
        let mut steps = Vec::new();
        for r in rt.block_on(cluster::run(clip.clone(), smoke, opts.seconds)) {
            match r {
                Ok(s) => {
                    if s["subscribers_ready"] != s["subscribers"] || s["corrupt_packets"] != 0 {
                        rep.error("cluster", format!("not every subscriber received intact media: {s}"));
                    }
                    let figure = format!(
                        "{} node(s), {} rooms x {} subs: aggregate forwarded pkt/s (rooms per node {}; nodes' CPU {} %, {} pkt/s per core; 2 shared cores: clustering overhead, not a speed-up)",
                        s["nodes"],
                        s["rooms"],
                        s["subscribers"].as_u64().unwrap_or(0) / s["rooms"].as_u64().unwrap_or(1).max(1),
                        s["rooms_per_node"],
                        s["servers_cpu_pct"],
                        s["pps_per_server_core"]
                    );
                    rep.row("cluster", &figure, &s["forwarded_pps"], None);
                    steps.push(s);
                }
                Err(e) => rep.error("cluster", e),
            }
        }
        rep.json.insert("cluster".into(), Value::Array(steps));
    }
    let cap_started = std::time::Instant::now();
    if wants("cap") {
        cap_part(&mut rep, smoke);
    }
    if let (true, Some(clip)) = (wants("cap"), &clip) {
        // Full: 50 subscribers, off/on twice; smoke: 4, once, 1 s windows.
        let (n, rounds, secs) = if smoke { (4, 1, 1) } else { (50, 2, opts.seconds) };
        match rt.block_on(cap::simulcast_cpu(clip.clone(), n, secs, rounds)) {
            Ok(r) => {
                let figure = format!("fan-out to {n}: server CPU per forwarded packet, simulcast on (µs); peer: simulcast off");
                rep.row("cap", &figure, &r["on_us_per_packet"], Some(("simulcast off", &r["off_us_per_packet"])));
                rep.json.insert("simulcast_cpu".into(), r);
            }
            Err(e) => rep.error("cap/simulcast", e),
        }
    }
    if wants("cap") {
        eprintln!("bench: the cap part took {:.1} s", cap_started.elapsed().as_secs_f64());
    }
    rt.block_on(server.shutdown());
    rep.json.insert("elapsed_s".into(), json!(started.elapsed().as_secs()));

    println!("\n| part | figure | ours | peer | ours / peer |\n|---|---|---|---|---|");
    for r in &rep.rows {
        println!("| {} |", r.join(" | "));
    }
    if !fanout_rows.is_empty() {
        println!("\n{}", fanout_table(&fanout_rows));
    }
    println!("\nelapsed: {} s", started.elapsed().as_secs());
    let failed = rep.json.contains_key("errors");
    if let Some(path) = flag("--out") {
        let text = serde_json::to_string_pretty(&Value::Object(rep.json)).expect("JSON values always serialise");
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("nertc-bench: cannot write {path}: {e}");
        }
    }
    if failed {
        // Timings never fail a run; a part that could not measure at all does.
        eprintln!("nertc-bench: some parts failed (see `errors` above)");
        std::process::exit(1);
    }
}

/// The `cap` part's rows: the engine pair and the Chromium pair through the same capped link.
fn cap_part(rep: &mut Report, smoke: bool) {
    let r = match cap::run(smoke) {
        Ok(r) => r,
        Err(e) => return rep.error("cap", e),
    };
    let (ours, peer) = (&r["engine"], &r["chromium"]);
    for (who, v) in [("cap/engine", ours), ("cap/chromium", peer)] {
        if let Some(e) = v.get("error") {
            rep.error(who, e.to_string());
        }
    }
    if ours.get("error").is_none() && peer.get("error").is_none() {
        let k = cap::CAP_KBPS;
        let settle = ours["settle_s"].as_f64().unwrap_or(5.0);
        let capped = ours["phases_s"][1].as_f64().unwrap_or(0.0);
        let lifted = ours["phases_s"][2].as_f64().unwrap_or(0.0);
        let rows = [
            ("adapt_s", format!("{k} kbps cap: time until the sent rate (1 s at the link) is under the cap (s)")),
            ("utilisation_pct", format!("{k} kbps cap: link utilisation from {settle} s on (%)")),
            ("loss_adapting_pct", format!("{k} kbps cap: packets lost in the first {settle} s (%)")),
            ("loss_settled_pct", format!("{k} kbps cap: packets lost from {settle} s on (%)")),
            ("fps_capped", format!("{k} kbps cap: frames shown per second (of 15), 640x480")),
            ("frozen_ms_capped", format!("{k} kbps cap: frozen time in {capped} s (ms)")),
            ("climb_s", format!("cap lifted: time until the sent rate is over {} kbps (s)", 2 * k)),
        ];
        for (key, figure) in rows {
            let (o, p) = (&ours[key], &peer[key]);
            if (!o.is_null() && !p.is_null()) || !matches!(key, "adapt_s" | "climb_s") {
                rep.row("cap", &figure, o, Some(("Chromium", p)));
                continue;
            }
            // Never adapting (or climbing back) within the phase is a result, not a failed
            // measurement.
            let phase = if key == "adapt_s" { capped } else { lifted };
            let text = |v: &Value| if v.is_null() { format!("none within {phase} s") } else { fmt(v) };
            let row = ["cap".into(), figure, text(o), format!("Chromium: {}", text(p)), "—".into()];
            eprintln!("bench: {}", row.join(" | "));
            rep.rows.push(row);
        }
    }
    rep.json.insert("cap".into(), r);
}

/// The 30 fps stream of the latency and CPU parts at `w` x `h`.
fn video(w: u32, h: u32) -> chromium::Video {
    chromium::Video { width: w, height: h, fps: 30, kbps: engine_parts::bitrate_kbps(w) }
}

/// All fan-out steps against one SFU process: (what ran, one JSON per N).
async fn fanout_sfu(sfu: &str, clip: Arc<clip::Clip>, opts: &Options) -> Result<(String, Vec<Value>), String> {
    // Keep the process handle alive for the whole run (dropping it kills the server).
    let (target, pid, what, _guard): (loadgen::Target, u32, String, Box<dyn std::any::Any>) = match sfu {
        "nertc" | "nertc-1port" => {
            let s = servers::ServerProcess::nertc((sfu == "nertc-1port").then_some(18_300))?;
            (loadgen::Target::Nertc { url: s.url.clone() }, s.pid(), s.what.clone(), Box::new(s))
        }
        "janus" => {
            let (j, what) = servers::ServerProcess::janus(18_188)?;
            (loadgen::Target::Janus { url: j.url() }, j.pid(), what, Box::new(j))
        }
        other => return Err(format!("unknown SFU {other:?} (nertc, nertc-1port or janus)")),
    };
    let mut steps = Vec::new();
    for &n in &opts.ns {
        let r = loadgen::fanout(&target, pid, clip.clone(), n, opts.seconds, loadgen::simulcast_from_env()).await;
        eprintln!("bench: fanout {sfu} {r}");
        steps.push(r);
    }
    Ok((what, steps))
}

fn fanout_table(rows: &[(String, Value)]) -> String {
    let mut t = String::from(
        "| SFU | N | ready | forwarded pkt/s (of expected) | loss % | corrupt | added latency ms (median / p99) | server CPU % | pkt/s per server core | server RSS MiB | load-gen CPU % |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mib = |v: &Value| v.as_f64().map(|k| format!("{:.1}", k / 1024.0)).unwrap_or_else(|| "n/a".into());
    for (sfu, s) in rows {
        t += &format!(
            "| {sfu} | {} | {} | {} ({}) | {} | {} | {} / {} | {} | {} | {} | {} |\n",
            s["n"],
            s["subscribers_ready"],
            s["forwarded_pps"],
            s["expected_pps"],
            s["loss_pct"],
            s["corrupt_packets"],
            s["latency_ms"]["median"],
            s["latency_ms"]["p99"],
            s["server_cpu_pct"],
            s["pps_per_server_core"],
            mib(&s["server_rss_kb"]),
            s["loadgen_cpu_pct"]
        );
    }
    // Ours / Janus at each N for the figures where both ran.
    let by = |sfu: &str, n: &Value| rows.iter().find(|(s, v)| s == sfu && &v["n"] == n).map(|(_, v)| v);
    let mut ratios = String::new();
    for (sfu, s) in rows.iter().filter(|(sfu, _)| sfu != "janus") {
        if let Some(j) = by("janus", &s["n"]) {
            let f = |a: &Value, b: &Value| ratio(a.as_f64(), b.as_f64());
            ratios += &format!(
                "| {sfu} | {} | {} | {} | {} | {} |\n",
                s["n"],
                f(&s["pps_per_server_core"], &j["pps_per_server_core"]),
                f(&s["server_cpu_pct"], &j["server_cpu_pct"]),
                f(&s["server_rss_kb"], &j["server_rss_kb"]),
                f(&s["latency_ms"]["median"], &j["latency_ms"]["median"]),
            );
        }
    }
    if !ratios.is_empty() {
        t += "\n| SFU | N | pkt/s per core, ours / Janus | server CPU, ours / Janus | RSS, ours / Janus | latency median, ours / Janus |\n|---|---|---|---|---|---|\n";
        t += &ratios;
    }
    t
}
