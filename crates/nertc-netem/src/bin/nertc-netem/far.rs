//! The far namespace: a thread that moves itself into a new network namespace, sets it up, and
//! stays there for the link's lifetime to start commands in it (a child starts in the namespace
//! of the thread that spawns it). The namespace lives as long as that thread, and is reachable
//! as `/proc/<pid>/task/<tid>/ns/net`.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Sender};

use nertc_netem::{FAR_DEV, FAR_IP, NEAR_IP};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::Signal;

use crate::sys;
use crate::tun;

type SpawnRequest = (Vec<String>, Sender<io::Result<Child>>);

/// Starts commands in the far namespace.
#[derive(Clone)]
pub struct Spawner {
    requests: Sender<SpawnRequest>,
}

impl Spawner {
    pub fn spawn(&self, argv: Vec<String>) -> io::Result<Child> {
        let (reply, answer) = mpsc::channel();
        self.requests.send((argv, reply)).map_err(|_| io::Error::other("far namespace thread is gone"))?;
        answer.recv().map_err(|_| io::Error::other("far namespace thread is gone"))?
    }
}

pub struct Far {
    /// The far TUN's queue.
    pub tun: File,
    /// `/proc/<pid>/task/<tid>/ns/net` of the far thread.
    pub ns_path: PathBuf,
    pub spawner: Spawner,
}

/// Creates the far namespace, with `lo` up, a multicast route on `lo` (as `scripts/netns.sh`
/// sets up) and TUN `nlnk1` at 10.77.0.2 with 10.77.0.1 at the other end.
pub fn start() -> io::Result<Far> {
    let (setup_tx, setup_rx) = mpsc::channel();
    let (requests, incoming) = mpsc::channel::<SpawnRequest>();
    std::thread::Builder::new().name("netem-far".into()).spawn(move || {
        let setup = (|| -> io::Result<(File, PathBuf)> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| io::Error::other(format!("unshare(CLONE_NEWNET): {e}")))?;
            sys::ip(&["link", "set", "lo", "up"])?;
            sys::ip(&["route", "add", "224.0.0.0/4", "dev", "lo"])?;
            let tun = tun::open(FAR_DEV)?;
            sys::configure_tun(FAR_DEV, FAR_IP, NEAR_IP)?;
            let path = PathBuf::from(format!("/proc/{}/task/{}/ns/net", std::process::id(), nix::unistd::gettid()));
            Ok((tun, path))
        })();
        let ok = setup.is_ok();
        if setup_tx.send(setup).is_err() || !ok {
            return;
        }
        for (argv, reply) in incoming {
            let _ = reply.send(spawn_here(&argv));
        }
        // Every Spawner is gone: the link is exiting. Keep the namespace until it does.
        loop {
            std::thread::park();
        }
    })?;
    let (tun, ns_path) = setup_rx.recv().map_err(|_| io::Error::other("far namespace thread died during setup"))??;
    Ok(Far { tun, ns_path, spawner: Spawner { requests } })
}

/// Spawns `argv` from the calling thread (so in its namespace), with stdin from /dev/null and
/// stdout sent to our stderr (our stdout carries the control protocol). It gets SIGKILL when
/// the spawning thread — the far thread, which lives as long as the link — ends.
fn spawn_here(argv: &[String]) -> io::Result<Child> {
    let (program, args) = argv.split_first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let stdout = io::stderr().as_fd().try_clone_to_owned()?;
    let parent = std::process::id();
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::from(stdout));
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // work is allowed: it makes two system calls, prctl(2) and getppid(2), through nix's thin
    // wrappers, and builds an io::Error from a raw errno — no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // If the link died before the prctl took effect, we were already reparented.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| io::Error::new(e.kind(), format!("spawn {program}: {e}")))
}
