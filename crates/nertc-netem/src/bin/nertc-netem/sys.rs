//! Interface configuration through `ip(8)`, run from the calling thread (so in its network
//! namespace: a child starts in the namespace of the thread that spawns it).

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `ip` from `$PATH`, else from the sbin directories a non-login root shell may lack in `$PATH`.
fn ip_binary() -> &'static Path {
    static IP: OnceLock<PathBuf> = OnceLock::new();
    IP.get_or_init(|| {
        let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
        path_dirs
            .into_iter()
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
            .map(|d| d.join("ip"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("ip"))
    })
}

/// Runs `ip ARGS`; an error carries its stderr.
pub fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new(ip_binary()).args(args).output().map_err(|e| io::Error::new(e.kind(), format!("run ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Gives TUN `dev` address `local` with `peer` at the other end (a /32 route to it), MTU 1500,
/// no IPv6 (so the kernel sends no router solicitations or MLD reports across the link, and the
/// counters hold only the traffic of the programs using it), and brings it up.
pub fn configure_tun(dev: &str, local: Ipv4Addr, peer: Ipv4Addr) -> io::Result<()> {
    // /proc/sys/net is the namespace of the thread that opens it.
    match std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {} // kernel without IPv6
        Err(e) => log!("netem: cannot disable IPv6 on {dev}: {e}"),
    }
    ip(&["addr", "add", &local.to_string(), "peer", &peer.to_string(), "dev", dev])?;
    ip(&["link", "set", "dev", dev, "mtu", "1500", "up"])
}
