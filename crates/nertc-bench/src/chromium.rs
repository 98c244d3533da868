//! The Chromium side of the comparisons: `bench/chromium/run.mjs` (Node + playwright-core)
//! drives Chromium pages that publish and subscribe through the same server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

use crate::measure::summary;
use crate::servers::repo_root;

/// The stream a Chromium pair sends.
#[derive(Debug, Clone, Copy)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

/// `node bench/chromium/run.mjs <part> --url URL --width W --height H --fps F --kbps K
/// --seconds S [extra...]`, run from the repository's root.
fn command(part: &str, url: &str, v: Video, seconds: u64, extra: &[&str]) -> Command {
    let Video { width: w, height: h, fps, kbps } = v;
    let root = repo_root();
    let mut cmd = Command::new("node");
    cmd.arg(root.join("bench/chromium/run.mjs"))
        .arg(part)
        .args(["--url", url, "--width", &w.to_string(), "--height", &h.to_string(), "--fps", &fps.to_string()])
        .args(["--kbps", &kbps.to_string(), "--seconds", &seconds.to_string()])
        .args(extra)
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// run.mjs's JSON (its last stdout line) when it succeeded, else an error with its stderr's tail.
fn result(part: &str, v: Video, status: ExitStatus, stdout: &str, stderr_tail: &[String]) -> Result<Value, String> {
    let last = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    match (status.success(), last.and_then(|l| serde_json::from_str::<Value>(l).ok())) {
        (true, Some(mut v)) => {
            // Raw samples -> a summary like ours.
            if let Some(samples) = v.get("glass_to_glass_ms").and_then(Value::as_array).cloned() {
                v["glass_to_glass_ms"] = summary(samples.iter().filter_map(Value::as_f64));
            }
            Ok(v)
        }
        _ => Err(format!("chromium {part} {}x{} failed ({status}): {}", v.width, v.height, stderr_tail.join(" | "))),
    }
}

/// Runs run.mjs to its end; returns its JSON.
pub fn run(part: &str, url: &str, v: Video, seconds: u64, extra: &[&str]) -> Result<Value, String> {
    let out = command(part, url, v, seconds, extra).output().map_err(|e| format!("node bench/chromium/run.mjs: {e}"))?;
    let err = String::from_utf8_lossy(&out.stderr);
    let mut tail: Vec<String> = err.lines().rev().take(8).map(str::to_owned).collect();
    tail.reverse();
    result(part, v, out.status, &String::from_utf8_lossy(&out.stdout), &tail)
}

/// run.mjs running in the background, for parts that change the network during its window.
pub struct Running {
    child: Child,
    part: String,
    video: Video,
    window_started: mpsc::Receiver<()>,
    tail: Arc<Mutex<Vec<String>>>,
}

/// The stderr line run.mjs logs as its measurement window opens.
const WINDOW_START: &str = "[chromium-bench] window start";

impl Running {
    pub fn start(part: &str, url: &str, v: Video, seconds: u64, extra: &[&str]) -> Result<Running, String> {
        let mut child = command(part, url, v, seconds, extra).spawn().map_err(|e| format!("node bench/chromium/run.mjs: {e}"))?;
        let stderr = child.stderr.take().ok_or("run.mjs without stderr")?;
        let (tx, window_started) = mpsc::channel();
        let tail = Arc::new(Mutex::new(Vec::new()));
        let t = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.starts_with(WINDOW_START) {
                    let _ = tx.send(());
                }
                let mut t = t.lock().expect("stderr tail lock never poisoned: pushes cannot panic");
                t.push(line);
                let n = t.len();
                t.drain(..n.saturating_sub(8));
            }
        });
        Ok(Running { child, part: part.into(), video: v, window_started, tail })
    }

    /// Waits until the window opens (the call is up and warmed), or fails with run.mjs's error.
    pub fn wait_for_window(&mut self, timeout: Duration) -> Result<(), String> {
        match self.window_started.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(_) => {
                let _ = self.child.kill();
                let status = self.child.wait().map_err(|e| e.to_string())?;
                let tail = self.tail.lock().expect("stderr tail lock never poisoned").clone();
                Err(format!("chromium {}: no window within {timeout:?} ({status}): {}", self.part, tail.join(" | ")))
            }
        }
    }

    /// Waits for run.mjs to end; its JSON.
    pub fn finish(self) -> Result<Value, String> {
        let Running { child, part, video, tail, .. } = self;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        // The stderr reader ends with the process; give it a moment to take the last lines.
        std::thread::sleep(Duration::from_millis(50));
        let tail = tail.lock().expect("stderr tail lock never poisoned").clone();
        result(&part, video, out.status, &String::from_utf8_lossy(&out.stdout), &tail)
    }
}
