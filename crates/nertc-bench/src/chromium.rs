//! The Chromium side of the comparisons: `bench/chromium/run.mjs` (Node + playwright-core)
//! drives Chromium pages that publish and subscribe through the same server.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::measure::summary;
use crate::servers::repo_root;

/// Runs `node bench/chromium/run.mjs <part> --url URL --width W --height H --fps F --kbps K
/// --seconds S [extra...]`; returns its JSON (the last stdout line).
/// The stream a Chromium pair sends.
#[derive(Debug, Clone, Copy)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

pub fn run(part: &str, url: &str, v: Video, seconds: u64, extra: &[&str]) -> Result<Value, String> {
    let Video { width: w, height: h, fps, kbps } = v;
    let root = repo_root();
    let script = root.join("bench/chromium/run.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(part)
        .args(["--url", url, "--width", &w.to_string(), "--height", &h.to_string(), "--fps", &fps.to_string()])
        .args(["--kbps", &kbps.to_string(), "--seconds", &seconds.to_string()])
        .args(extra)
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("node {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    match (out.status.success(), last.and_then(|l| serde_json::from_str::<Value>(l).ok())) {
        (true, Some(mut v)) => {
            // Raw samples -> a summary like ours.
            if let Some(samples) = v.get("glass_to_glass_ms").and_then(Value::as_array).cloned() {
                v["glass_to_glass_ms"] = summary(samples.iter().filter_map(Value::as_f64));
            }
            Ok(v)
        }
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(8).collect();
            Err(format!("chromium {part} {w}x{h} failed ({}): {}", out.status, tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
        }
    }
}
