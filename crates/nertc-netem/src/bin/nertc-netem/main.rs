//! `nertc-netem`: a userspace network emulator. See `docs/netem.md` and `--help`.

/// Like `eprintln!`, but one `write` per line, so that lines of the link and of the processes
/// it started (which share its stderr) do not interleave mid-line.
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log_line(&format!($($arg)*))
    };
}

mod echo;
mod far;
mod forward;
mod sys;
mod tun;

use std::io::{self, BufRead, Write};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nertc_netem::model::{Blackout, Params};
use nertc_netem::protocol::{Command, Ready, format_params, parse_command};
use nertc_netem::{FAR_IP, NEAR_DEV, NEAR_IP};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

const USAGE: &str = "\
usage: nertc-netem [OPTIONS] [-- FAR_CMD ARGS...]
       nertc-netem --echo PORT

Joins this network namespace (10.77.0.1 on TUN nlnk0) to a new one (10.77.0.2 on TUN nlnk1)
through a forwarder that applies, in each direction independently:

  --delay-ms N       one-way delay (default 0)
  --jitter-ms N      plus a uniform random U(-N, +N) ms per packet (default 0)
  --loss PCT         random loss in percent (default 0)
  --rate-kbps N      rate cap in kbit/s on whole IP packets, 0 = none (default 0)
  --queue-ms N       with a rate cap: tail-drop a packet when more than N ms of data wait
                     ahead of it (default 200)
  --allow-reorder    let jitter reorder packets (default: order is kept)
  --seed N           PRNG seed (default 1)
  --exit-with-child  exit when FAR_CMD exits, with its status
  --echo PORT        instead: run a UDP+TCP echo server on PORT (for tests)

FAR_CMD runs in the far namespace. Once the link is up, prints
  netem ready near=10.77.0.1 far=10.77.0.2 farns=/proc/PID/task/TID/ns/net
then takes commands on stdin, one per line, each answered by one line `ok ...` or `err ...`:
  set loss=PCT delay=MS jitter=MS rate=KBPS queue=MS reorder=0|1   (any subset)
  blackout on | blackout off | blackout MS
  spawn CMD ARGS...          (in the far namespace; answers `ok pid=N`)
  stats                      (answers `ok {json}`)
  params
  quit
Stops on quit, SIGTERM or SIGINT (not on end of stdin), killing what it started.
";

#[derive(Debug, PartialEq)]
struct Config {
    params: Params,
    seed: u64,
    exit_with_child: bool,
    far_cmd: Vec<String>,
}

#[derive(Debug, PartialEq)]
enum Mode {
    Link(Config),
    Echo(u16),
    Help,
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let mut cfg = Config { params: Params::default(), seed: 1, exit_with_child: false, far_cmd: Vec::new() };
    let mut echo = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            cfg.far_cmd = args[i..].to_vec();
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args.get(i).cloned().ok_or_else(|| format!("{name} needs a value"))?;
            i += 1;
            Ok(v)
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: bad value {v:?}"))
        }
        match name {
            "--delay-ms" => cfg.params.delay_ms = num(name, value()?)?,
            "--jitter-ms" => cfg.params.jitter_ms = num(name, value()?)?,
            "--loss" => cfg.params.loss_pct = num(name, value()?)?,
            "--rate-kbps" => cfg.params.rate_kbps = num(name, value()?)?,
            "--queue-ms" => cfg.params.queue_ms = num(name, value()?)?,
            "--seed" => cfg.seed = num(name, value()?)?,
            "--echo" | "--udp-echo" => echo = Some(num(name, value()?)?),
            "--allow-reorder" if inline.is_none() => cfg.params.allow_reorder = true,
            "--exit-with-child" if inline.is_none() => cfg.exit_with_child = true,
            "-h" | "--help" => return Ok(Mode::Help),
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if let Some(port) = echo {
        return Ok(Mode::Echo(port));
    }
    cfg.params.validate()?;
    if cfg.exit_with_child && cfg.far_cmd.is_empty() {
        return Err("--exit-with-child needs a FAR_CMD".into());
    }
    Ok(Mode::Link(cfg))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match parse_args(&args) {
        Ok(Mode::Help) => {
            print!("{USAGE}");
            0
        }
        Ok(Mode::Echo(port)) => match echo::run(port) {
            Ok(()) => 0,
            Err(e) => {
                log!("netem echo: {e}");
                1
            }
        },
        Ok(Mode::Link(cfg)) => match run_link(cfg) {
            Ok(code) => code,
            Err(e) => {
                log!("netem: {e}");
                1
            }
        },
        Err(e) => {
            log!("netem: {e}\n\n{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

/// Processes started in the far namespace.
#[derive(Default)]
struct Children {
    /// (child, whether it is FAR_CMD). Only code holding this lock reaps, so a pid in here is
    /// never reused while it is in here.
    list: Mutex<Vec<(Child, bool)>>,
}

impl Children {
    fn add(&self, child: Child, main: bool) {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).push((child, main));
    }

    /// Reaps those that exited; returns FAR_CMD's status if it was among them.
    fn reap(&self) -> Option<ExitStatus> {
        let mut main_status = None;
        self.list.lock().unwrap_or_else(|p| p.into_inner()).retain_mut(|(child, main)| match child.try_wait() {
            Ok(Some(status)) => {
                log!("netem: far pid {} exited: {status}", child.id());
                if *main {
                    main_status = Some(status);
                }
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
        main_status
    }

    /// SIGTERM to all, up to a second to exit, then SIGKILL.
    fn terminate_all(&self) {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        for (child, _) in list.iter_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && list.iter_mut().any(|(c, _)| matches!(c.try_wait(), Ok(None))) {
            std::thread::sleep(Duration::from_millis(10));
        }
        for (child, _) in list.iter_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        list.clear();
    }
}

fn log_line(msg: &str) {
    let _ = io::stderr().lock().write_all(format!("{msg}\n").as_bytes());
}

/// Writes one line to stdout and flushes it; the reader may be gone, which is not our problem.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn run_link(cfg: Config) -> io::Result<i32> {
    // SIGTERM and SIGINT are taken by a thread that waits for them; block them before any
    // thread starts so that every thread inherits the mask (children get a clean one from std).
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.thread_block().map_err(io::Error::other)?;

    let near_tun = tun::open(NEAR_DEV)?;
    sys::configure_tun(NEAR_DEV, NEAR_IP, FAR_IP)?;
    let far = far::start()?;
    let shared = forward::Shared::new(cfg.params.clone(), cfg.seed);
    forward::start(&shared, near_tun, far.tun)?;

    let children = Arc::new(Children::default());
    if !cfg.far_cmd.is_empty() {
        children.add(far.spawner.spawn(cfg.far_cmd.clone())?, true);
    }
    let (stop_tx, stop_rx) = mpsc::channel::<i32>();

    let stop = stop_tx.clone();
    std::thread::Builder::new().name("netem-signals".into()).spawn(move || {
        if let Ok(sig) = signals.wait() {
            log!("netem: {sig}, stopping");
        }
        let _ = stop.send(0);
    })?;

    let (stop, reaped, exit_with_child) = (stop_tx.clone(), children.clone(), cfg.exit_with_child);
    std::thread::Builder::new().name("netem-reaper".into()).spawn(move || {
        loop {
            if let Some(status) = reaped.reap()
                && exit_with_child
            {
                let code = status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
                let _ = stop.send(code);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })?;

    say(&Ready { near: NEAR_IP, far: FAR_IP, far_ns: far.ns_path.clone() }.format());
    log!("netem: up, {} seed={}", format_params(&cfg.params), cfg.seed);

    let (shared2, children2, spawner) = (shared.clone(), children.clone(), far.spawner.clone());
    std::thread::Builder::new().name("netem-control".into()).spawn(move || control(&shared2, &children2, &spawner, &stop_tx))?;

    let code = stop_rx.recv().unwrap_or(0);
    children.terminate_all();
    Ok(code)
}

/// Serves control commands from stdin until `quit` or end of input (which does not stop the
/// link).
fn control(shared: &forward::Shared, children: &Children, spawner: &far::Spawner, stop: &Sender<i32>) {
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let command = match parse_command(&line) {
            Ok(c) => c,
            Err(e) => {
                say(&format!("err {e}"));
                continue;
            }
        };
        let answer = match command {
            Command::Set(update) => {
                let params = update.apply(&shared.params());
                match params.validate() {
                    Ok(()) => {
                        shared.set_params(&params);
                        format!("ok {}", format_params(&params))
                    }
                    Err(e) => format!("err {e}"),
                }
            }
            Command::BlackoutOn => {
                shared.set_blackout(Blackout::On);
                "ok blackout on".into()
            }
            Command::BlackoutOff => {
                shared.set_blackout(Blackout::Off);
                "ok blackout off".into()
            }
            Command::BlackoutFor(d) => {
                shared.set_blackout(Blackout::Until(Instant::now() + d));
                format!("ok blackout {}ms", d.as_millis())
            }
            Command::Spawn(argv) => match spawner.spawn(argv) {
                Ok(child) => {
                    let pid = child.id();
                    children.add(child, false);
                    format!("ok pid={pid}")
                }
                Err(e) => format!("err {e}"),
            },
            Command::Stats => match serde_json::to_string(&shared.stats()) {
                Ok(json) => format!("ok {json}"),
                Err(e) => format!("err {e}"),
            },
            Command::Params => format!("ok {}", format_params(&shared.params())),
            Command::Quit => {
                say("ok bye");
                let _ = stop.send(0);
                return;
            }
        };
        say(&answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Mode, String> {
        parse_args(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn cli() {
        let Ok(Mode::Link(cfg)) =
            parse("--delay-ms 50 --jitter-ms=10 --loss 2.5 --rate-kbps 2000 --queue-ms 100 --seed 9 --allow-reorder -- srv --port 1")
        else {
            panic!("does not parse")
        };
        assert_eq!(
            cfg,
            Config {
                params: Params { delay_ms: 50.0, jitter_ms: 10.0, loss_pct: 2.5, rate_kbps: 2000, queue_ms: 100.0, allow_reorder: true },
                seed: 9,
                exit_with_child: false,
                far_cmd: vec!["srv".into(), "--port".into(), "1".into()],
            }
        );
        assert_eq!(parse(""), Ok(Mode::Link(Config { params: Params::default(), seed: 1, exit_with_child: false, far_cmd: vec![] })));
        assert_eq!(parse("--echo 7"), Ok(Mode::Echo(7)));
        assert_eq!(parse("--udp-echo 7"), Ok(Mode::Echo(7)));
        assert_eq!(parse("--help"), Ok(Mode::Help));
        for bad in ["--loss 101", "--loss", "--delay-ms x", "--frobnicate", "--exit-with-child", "--allow-reorder=1", "--echo 70000"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(parse("--exit-with-child -- true"), Ok(Mode::Link(Config { exit_with_child: true, .. }))));
    }
}
