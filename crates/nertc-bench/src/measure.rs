//! Measuring helpers: summaries of samples, process CPU and memory from `/proc`, the machine.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// `{median, min, max, p99, n}` of the samples (null when there are none).
pub fn summary(v: impl IntoIterator<Item = f64>) -> Value {
    let mut v: Vec<f64> = v.into_iter().collect();
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let r = |x: f64| (x * 100.0).round() / 100.0;
    json!({ "median": r(at(0.5)), "min": r(v[0]), "max": r(v[v.len() - 1]), "p99": r(at(0.99)), "n": v.len() })
}

/// A summary or a number as table text.
pub fn fmt(v: &Value) -> String {
    match v.get("median") {
        Some(m) => format!(
            "{:.1} (min {:.1}, max {:.1}, n {})",
            m.as_f64().unwrap_or(0.0),
            v["min"].as_f64().unwrap_or(0.0),
            v["max"].as_f64().unwrap_or(0.0),
            v["n"]
        ),
        None if v.is_number() => format!("{:.1}", v.as_f64().unwrap_or(0.0)),
        None => "n/a".into(),
    }
}

/// The median of a summary (or the number itself).
pub fn median(v: &Value) -> Option<f64> {
    v.get("median").and_then(Value::as_f64).or_else(|| v.as_f64())
}

/// `a / b` rounded to 2 decimals, as JSON (null when either is missing or b is 0).
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => json!((a / b * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

/// CPU time (user + system) of a process and all its threads, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit(')').next()?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0) // Linux USER_HZ
}

/// Resident set size of a process, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU use of a process over a window, as % of one core.
pub struct CpuWindow {
    pid: u32,
    cpu0: Option<f64>,
    t0: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> Self {
        CpuWindow { pid, cpu0: cpu_seconds(pid), t0: Instant::now() }
    }

    pub fn percent(&self) -> Option<f64> {
        let used = cpu_seconds(self.pid)? - self.cpu0?;
        let wall = self.t0.elapsed().max(Duration::from_millis(1)).as_secs_f64();
        Some((used / wall * 1000.0).round() / 10.0)
    }
}

pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model =
        cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).unwrap_or("unknown").trim().to_owned();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()));
    let git = |args: &[&str]| Command::new("git").args(args).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    json!({
        "cpu": model,
        "cores": cores,
        "mem_gib": mem_kb.map(|k| (k as f64 / 1048576.0 * 10.0).round() / 10.0),
        "commit": git(&["rev-parse", "--short", "HEAD"]),
        "dirty": dirty,
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
    })
}
