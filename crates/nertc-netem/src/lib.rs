//! A userspace network emulator for tests and benchmarks.
//!
//! The `nertc-netem` binary joins the namespace it runs in ("near", 10.77.0.1 on TUN `nlnk0`)
//! to a new network namespace ("far", 10.77.0.2 on TUN `nlnk1`) and forwards IP packets
//! between the two TUN devices, applying per direction: random loss, delay and jitter, a rate
//! cap with a tail-drop queue, and blackouts. It needs no `sch_netem`, iptables or nft — only
//! `/dev/net/tun`, `ip` and the right to create a network namespace (root, e.g. inside
//! `scripts/netns.sh`). See `docs/netem.md`.
//!
//! This library holds:
//! - [`model`]: the impairment model (pure, no I/O; fake-clock tested);
//! - [`protocol`]: the control protocol spoken on the binary's stdin/stdout;
//! - [`Link`] and [`binary_path`]: starting and driving the binary from tests and benchmarks.
//!
//! ```no_run
//! use nertc_netem::{Link, Params, binary_path};
//! use std::time::Duration;
//!
//! let bin = binary_path()?;
//! let params = Params { delay_ms: 50.0, loss_pct: 5.0, ..Params::default() };
//! let link = Link::start(&bin, &params, Some(&["/path/to/server", "--port", "9000"]))?;
//! // Clients here (near side) reach the server at link.far_ip():9000.
//! link.blackout(Duration::from_secs(2))?;
//! println!("{:?}", link.stats()?);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod client;
pub mod model;
pub mod protocol;

pub use client::{Link, binary_path};
pub use model::{DirStats, Params, Stats};

/// The near side's address.
pub const NEAR_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 0, 1);
/// The far side's address.
pub const FAR_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 0, 2);
/// The TUN device in the near namespace.
pub const NEAR_DEV: &str = "nlnk0";
/// The TUN device in the far namespace.
pub const FAR_DEV: &str = "nlnk1";
