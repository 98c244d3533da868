//! The SFUs under test as separate processes, so their CPU and memory are theirs alone.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed on drop.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    /// What runs (binary path and arguments), for the report.
    pub what: String,
}

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Our room server: the `nertc-server` binary next to this one (build both:
    /// `cargo build --release -p nertc-server -p nertc-bench`), else this binary's `serve` role
    /// (the same server library and default configuration, in its own process). With
    /// `udp_port`, every peer connection shares that one UDP port on 127.0.0.1
    /// (`rtc.udp_port`); without, each has its own (the default).
    pub fn nertc(udp_port: Option<u16>) -> Result<ServerProcess, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let sibling = me.with_file_name("nertc-server");
        let mut rtc = String::new();
        for (var, key) in [("NERTC_BENCH_DOWNLINK_ESTIMATE", "downlink_estimate"), ("NERTC_BENCH_DIRECT_SUB", "direct_sub")] {
            if let Some(on) = switch_from_env(var) {
                rtc += &format!("{key} = {on}\n");
            }
        }
        if let Some(port) = udp_port {
            rtc += &format!("bind_ip = \"127.0.0.1\"\nudp_port = {port}\n");
        }
        let mut config_file = None;
        let mut cmd = if sibling.exists() {
            let mut c = Command::new(&sibling);
            c.args(["--listen", "127.0.0.1:0"]);
            if !rtc.is_empty() {
                // The binary reads its configuration from a file only.
                let path = std::env::temp_dir().join(format!("nertc-bench-server-{}.toml", std::process::id()));
                std::fs::write(&path, format!("[rtc]\n{rtc}")).map_err(|e| format!("{}: {e}", path.display()))?;
                c.arg("--config").arg(&path);
                config_file = Some(path);
            }
            c
        } else {
            let mut c = Command::new(&me);
            c.arg("serve");
            if let Some(port) = udp_port {
                c.args(["--bind", "127.0.0.1", "--udp-port", &port.to_string()]);
            }
            c
        };
        let what = format!("{cmd:?}").replace('"', "");
        let mut child =
            cmd.env("RUST_LOG", "warn").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(|e| format!("{what}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("nertc-server listening on http://") {
                    let _ = tx.send(addr.to_owned());
                }
            }
        });
        let listening = rx.recv_timeout(Duration::from_secs(15));
        if let Some(path) = config_file {
            let _ = std::fs::remove_file(path); // read at start-up
        }
        match listening {
            Ok(addr) => Ok(ServerProcess { child, url: format!("ws://{addr}"), what }),
            Err(_) => {
                let _ = child.kill();
                Err(format!("{what}: no listen line within 15 s"))
            }
        }
    }

    /// Janus with the benchmark's configuration (`bench/janus`), WebSocket transport on
    /// 127.0.0.1:`ws_port`.
    pub fn janus(ws_port: u16) -> Result<(crate::janus::JanusProcess, String), String> {
        let dir = repo_root().join("bench/janus");
        let j = crate::janus::JanusProcess::start(&dir, ws_port, (20_000, 40_000)).map_err(|e| format!("janus: {e}"))?;
        let what = format!("janus -F {}", dir.display());
        Ok((j, what))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server switch from the environment, `0` or `1`, to price it in the fan-out part:
/// `NERTC_BENCH_DOWNLINK_ESTIMATE` (`rtc.downlink_estimate`, the per-subscriber downlink
/// estimate) and `NERTC_BENCH_DIRECT_SUB` (`rtc.direct_sub`, the `sub` connections' driver),
/// both on by default.
fn switch_from_env(var: &str) -> Option<bool> {
    match std::env::var(var).ok()?.as_str() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

/// The repository root (this crate lives in `crates/nertc-bench`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

/// The `serve` role: our server library in this process until it is killed.
/// `serve [--listen ADDR] [--bind IP] [--udp-port PORT]` (defaults 127.0.0.1:0, the default
/// media address, a UDP port per connection).
pub fn serve(args: &[String]) {
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let mut config = nertc_server::ServerConfig {
        listen: flag("--listen").unwrap_or_else(|| "127.0.0.1:0".into()),
        ..nertc_server::ServerConfig::default()
    };
    if let Some(ip) = flag("--bind").and_then(|ip| ip.parse().ok()) {
        config.rtc.bind_ip = ip;
    }
    if let Some(port) = flag("--udp-port").and_then(|p| p.parse().ok()) {
        config.rtc.udp_port = port;
    }
    if let Some(on) = switch_from_env("NERTC_BENCH_DOWNLINK_ESTIMATE") {
        config.rtc.downlink_estimate = on;
    }
    if let Some(on) = switch_from_env("NERTC_BENCH_DIRECT_SUB") {
        config.rtc.direct_sub = on;
    }
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime can be built at start-up");
    rt.block_on(async {
        match nertc_server::start(config).await {
            Ok(s) => {
                println!("nertc-server listening on http://{}", s.addr);
                std::future::pending::<()>().await;
            }
            Err(e) => eprintln!("serve: {e}"),
        }
    });
}
