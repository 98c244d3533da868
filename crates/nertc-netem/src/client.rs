//! Driving the `nertc-netem` binary from tests and benchmarks.

use std::io::{self, BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::model::{Params, Stats};
use crate::protocol::{Ready, quote_arg, set_line};

/// How long to wait for the ready line and for each command's answer. Generous: the link has to
/// run `ip` a few times, and test machines are often busy.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The binary's name.
pub const BINARY_NAME: &str = "nertc-netem";

/// Finds the `nertc-netem` binary:
///
/// 1. `$NERTC_NETEM_BIN`, if set;
/// 2. `$CARGO_BIN_EXE_nertc-netem`, if set at run time (Cargo sets it at *compile* time for this
///    crate's own integration tests, which use `env!("CARGO_BIN_EXE_nertc-netem")` directly);
/// 3. otherwise `nertc-netem` next to the running executable or up to three directories above
///    it: for a test or bench executable in `target/<profile>/deps/`, that is
///    `target/<profile>/nertc-netem` — the same profile the test was built with.
///
/// Cargo builds the binary only for this crate's own tests; a test in another crate needs
/// `cargo build -p nertc-netem` (same profile) first. The error says so.
pub fn binary_path() -> io::Result<PathBuf> {
    for var in ["NERTC_NETEM_BIN", "CARGO_BIN_EXE_nertc-netem"] {
        if let Some(path) = std::env::var_os(var) {
            return Ok(PathBuf::from(path));
        }
    }
    let exe = std::env::current_exe()?;
    for dir in exe.ancestors().skip(1).take(4) {
        let candidate = dir.join(BINARY_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{BINARY_NAME} not found near {}: build it with `cargo build -p nertc-netem` (same profile)", exe.display()),
    ))
}

struct Control {
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// A running link: the `nertc-netem` process, its far namespace and its control channel.
/// Dropping it stops the link (and so everything spawned in the far namespace).
///
/// The methods take `&self` and may be called from several threads; commands are serialized.
pub struct Link {
    child: Child,
    control: Mutex<Control>,
    ready: Ready,
}

impl Link {
    /// Starts `binary` with `params` (seed 1) and, if given, `far_cmd` run in the far namespace,
    /// and waits until the link is up.
    pub fn start(binary: &Path, params: &Params, far_cmd: Option<&[&str]>) -> io::Result<Link> {
        Link::start_seeded(binary, params, 1, far_cmd)
    }

    /// [`Link::start`] with the PRNG seed given.
    pub fn start_seeded(binary: &Path, params: &Params, seed: u64, far_cmd: Option<&[&str]>) -> io::Result<Link> {
        params.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut cmd = Command::new(binary);
        cmd.args(["--delay-ms", &params.delay_ms.to_string()])
            .args(["--jitter-ms", &params.jitter_ms.to_string()])
            .args(["--loss", &params.loss_pct.to_string()])
            .args(["--rate-kbps", &params.rate_kbps.to_string()])
            .args(["--queue-ms", &params.queue_ms.to_string()])
            .args(["--seed", &seed.to_string()]);
        if params.allow_reorder {
            cmd.arg("--allow-reorder");
        }
        if let Some(far) = far_cmd {
            cmd.arg("--").args(far);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("spawn {}: {e}", binary.display())))?;
        let stdin = child.stdin.take().expect("stdin was set to piped just above");
        let stdout = child.stdout.take().expect("stdout was set to piped just above");
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new().name("netem-client".into()).spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })?;
        let mut link = Link {
            child,
            control: Mutex::new(Control { stdin, lines }),
            ready: Ready { near: Ipv4Addr::UNSPECIFIED, far: Ipv4Addr::UNSPECIFIED, far_ns: PathBuf::new() },
        };
        let line = {
            let control = link.control.get_mut().expect("no other thread has seen this mutex yet");
            recv(&control.lines, "the ready line")?
        };
        link.ready = Ready::parse(&line).map_err(io::Error::other)?;
        Ok(link)
    }

    /// Sends one command line; returns the answer after `ok` (trimmed), or the `err` as an error.
    pub fn command(&self, line: &str) -> io::Result<String> {
        let mut control = self.control.lock().map_err(|_| io::Error::other("netem control poisoned"))?;
        // Drop answers left over from a command that timed out.
        while control.lines.try_recv().is_ok() {}
        writeln!(control.stdin, "{line}")?;
        control.stdin.flush()?;
        let answer = recv(&control.lines, line)?;
        if let Some(rest) = answer.strip_prefix("ok") {
            Ok(rest.trim().to_string())
        } else {
            Err(io::Error::other(format!("netem: {line}: {answer}")))
        }
    }

    /// Sets every parameter to `params`' (for packets arriving from now on).
    pub fn set(&self, params: &Params) -> io::Result<()> {
        params.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.command(&set_line(params)).map(drop)
    }

    /// Drops everything both ways from now for `duration`, then resumes by itself.
    pub fn blackout(&self, duration: Duration) -> io::Result<()> {
        self.command(&format!("blackout {}", duration.as_millis())).map(drop)
    }

    /// Drops everything both ways until [`blackout_off`](Self::blackout_off).
    pub fn blackout_on(&self) -> io::Result<()> {
        self.command("blackout on").map(drop)
    }

    pub fn blackout_off(&self) -> io::Result<()> {
        self.command("blackout off").map(drop)
    }

    /// Runs `argv` in the far namespace (it dies with the link); returns its pid. Its stdout and
    /// stderr go to the link's stderr.
    pub fn spawn(&self, argv: &[&str]) -> io::Result<u32> {
        if argv.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "spawn: empty command"));
        }
        let line = format!("spawn {}", argv.iter().map(|a| quote_arg(a)).collect::<Vec<_>>().join(" "));
        let answer = self.command(&line)?;
        answer
            .strip_prefix("pid=")
            .and_then(|pid| pid.parse().ok())
            .ok_or_else(|| io::Error::other(format!("netem: unexpected answer to spawn: {answer:?}")))
    }

    /// Counters of both directions.
    pub fn stats(&self) -> io::Result<Stats> {
        let answer = self.command("stats")?;
        serde_json::from_str(&answer).map_err(|e| io::Error::other(format!("netem: bad stats {answer:?}: {e}")))
    }

    /// The far namespace, for `nsenter --net=PATH` (valid while the link runs).
    pub fn far_ns(&self) -> &Path {
        &self.ready.far_ns
    }

    /// The near side's address (10.77.0.1): what the far side sees near peers as.
    pub fn near_ip(&self) -> Ipv4Addr {
        self.ready.near
    }

    /// The far side's address (10.77.0.2): where near clients reach far servers.
    pub fn far_ip(&self) -> Ipv4Addr {
        self.ready.far
    }

    /// The link process's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the link (and everything in its far namespace) and waits for it to exit.
    pub fn quit(mut self) -> io::Result<ExitStatus> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        if let Ok(mut control) = self.control.lock() {
            let _ = writeln!(control.stdin, "quit").and_then(|()| control.stdin.flush());
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Its far children have PR_SET_PDEATHSIG, so they die with it.
        self.child.kill()?;
        self.child.wait()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn recv(lines: &Receiver<String>, what: &str) -> io::Result<String> {
    match lines.recv_timeout(TIMEOUT) {
        Ok(line) => Ok(line),
        Err(RecvTimeoutError::Timeout) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("netem: no answer to {what:?}"))),
        Err(RecvTimeoutError::Disconnected) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("netem exited before {what:?}"))),
    }
}
