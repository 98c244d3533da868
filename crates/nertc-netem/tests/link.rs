//! The emulated link end to end: the `nertc-netem` binary with its own `--echo` server in the
//! far namespace, measured from the near side over UDP and TCP — delay, jitter and ordering,
//! loss, the rate cap, blackouts — and its `stats` checked against what the test counted.
//!
//! Runs only as root inside `scripts/netns.sh` (it creates interfaces and a namespace);
//! elsewhere it says so and passes:
//!
//! ```sh
//! ./scripts/netns.sh cargo test -p nertc-netem --test link -- --nocapture
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nertc_netem::{DirStats, Link, Params, Stats};

const ECHO_PORT: u16 = 7777;
/// IPv4 + UDP headers: what the rate cap counts on top of the payload.
const UDP_OVERHEAD: usize = 28;

/// True as root inside `scripts/netns.sh`'s namespace.
fn in_private_netns_as_root() -> bool {
    std::env::var("NERTC_IN_NETNS").as_deref() == Ok("1") && nix::unistd::Uid::effective().is_root()
}

/// Distinguishes the echoes of one [`probe`] run from late ones of an earlier run.
static RUN: AtomicU32 = AtomicU32::new(1);

/// What one [`probe`] run saw.
struct Probe {
    /// Probes sent.
    sent: usize,
    /// When each probe was sent.
    sent_at: Vec<Instant>,
    /// (seq, arrival time) of each echo, in arrival order.
    echoes: Vec<(usize, Instant)>,
}

impl Probe {
    fn received(&self) -> usize {
        self.echoes.len()
    }

    fn rtts_ms(&self) -> Vec<f64> {
        self.echoes.iter().map(|&(seq, at)| at.duration_since(self.sent_at[seq]).as_secs_f64() * 1000.0).collect()
    }

    /// Echoes that arrived after one with a higher sequence number.
    fn inversions(&self) -> usize {
        self.echoes.windows(2).filter(|w| w[1].0 < w[0].0).count()
    }
}

/// Sends `n` UDP probes of `size` bytes to `dst`, `gap` apart (on a fixed schedule, catching up
/// after a stall), and collects the echoes until `linger` after the last send.
fn probe(sock: &UdpSocket, dst: SocketAddr, n: usize, gap: Duration, size: usize, linger: Duration) -> Probe {
    assert!(size >= 8);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    sock.set_read_timeout(Some(Duration::from_millis(20))).expect("set_read_timeout");
    std::thread::scope(|s| {
        let sender = s.spawn(move || {
            let mut buf = vec![0u8; size];
            buf[..4].copy_from_slice(&run.to_be_bytes());
            let t0 = Instant::now();
            let mut sent_at = Vec::with_capacity(n);
            for seq in 0..n {
                let slot = t0 + gap * seq as u32;
                if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                buf[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
                sent_at.push(Instant::now());
                sock.send_to(&buf, dst).expect("send probe");
            }
            sent_at
        });
        let mut echoes = Vec::new();
        let mut buf = vec![0u8; 65536];
        let mut last_send = None;
        loop {
            if last_send.is_none() && sender.is_finished() {
                last_send = Some(Instant::now());
            }
            if last_send.is_some_and(|t| t.elapsed() > linger) {
                break;
            }
            if let Ok((len, _)) = sock.recv_from(&mut buf) {
                let at = Instant::now();
                let id = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
                let seq = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
                if len == size && id == run && seq < n {
                    echoes.push((seq, at));
                }
            }
        }
        let sent_at = sender.join().expect("sender thread");
        Probe { sent: n, sent_at, echoes }
    })
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn stdev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn sub(a: DirStats, b: DirStats) -> DirStats {
    DirStats {
        packets_in: a.packets_in - b.packets_in,
        forwarded: a.forwarded - b.forwarded,
        dropped_loss: a.dropped_loss - b.dropped_loss,
        dropped_blackout: a.dropped_blackout - b.dropped_blackout,
        dropped_queue: a.dropped_queue - b.dropped_queue,
        bytes_in: a.bytes_in - b.bytes_in,
        bytes_forwarded: a.bytes_forwarded - b.bytes_forwarded,
        queued: a.queued,
    }
}

/// A UDP probe run with the link's counters before and after it.
fn measured(link: &Link, run: impl FnOnce() -> Probe) -> (Probe, DirStats, DirStats) {
    let before: Stats = link.stats().expect("stats");
    assert_eq!((before.near_to_far.queued, before.far_to_near.queued), (0, 0), "packets of an earlier phase still in flight");
    let p = run();
    let after = link.stats().expect("stats");
    let (up, down) = (sub(after.near_to_far, before.near_to_far), sub(after.far_to_near, before.far_to_near));
    // The link saw exactly the test's traffic: every probe went in; every one that crossed was
    // echoed; every echo that crossed was received.
    assert_eq!(up.queued + down.queued, 0, "still in flight after the linger: {up:?} {down:?}");
    assert_eq!(up.packets_in as usize, p.sent, "near->far in vs sent: {up:?}");
    for d in [&up, &down] {
        assert_eq!(d.packets_in, d.forwarded + d.dropped_loss + d.dropped_blackout + d.dropped_queue, "{d:?}");
    }
    assert_eq!(down.packets_in, up.forwarded, "far->near in vs near->far forwarded: {up:?} {down:?}");
    assert_eq!(down.forwarded as usize, p.received(), "far->near forwarded vs received: {down:?}");
    (p, up, down)
}

fn params(f: impl FnOnce(&mut Params)) -> Params {
    let mut p = Params::default();
    f(&mut p);
    p
}

#[test]
fn emulated_link() {
    if !in_private_netns_as_root() {
        eprintln!("link: skipped: needs scripts/netns.sh (root in a private network namespace)");
        return;
    }
    let started = Instant::now();
    let bin = Path::new(env!("CARGO_BIN_EXE_nertc-netem"));
    let port = ECHO_PORT.to_string();
    let link = Link::start_seeded(bin, &Params::default(), 7, Some(&[bin.to_str().expect("utf-8 path"), "--echo", &port]))
        .expect("start the link");
    assert_eq!(link.near_ip().to_string(), "10.77.0.1");
    assert_eq!(link.far_ip().to_string(), "10.77.0.2");
    let far_ns = std::fs::read_link(link.far_ns()).expect("far namespace path");
    assert_ne!(far_ns, std::fs::read_link("/proc/self/ns/net").expect("own namespace"), "far namespace is ours");

    let sock = UdpSocket::bind((link.near_ip(), 0)).expect("bind near socket");
    let echo = SocketAddr::from((link.far_ip(), ECHO_PORT));
    // The echo server needs a moment to start.
    let deadline = Instant::now() + Duration::from_secs(15);
    while probe(&sock, echo, 1, Duration::ZERO, 16, Duration::from_millis(100)).received() == 0 {
        assert!(Instant::now() < deadline, "no echo from the far side");
    }
    let linger = Duration::from_millis(600);

    // Delay: 50 ms each way, so every round trip takes at least 100 ms.
    link.set(&params(|p| p.delay_ms = 50.0)).expect("set");
    let (p, _, _) = measured(&link, || probe(&sock, echo, 50, Duration::from_millis(20), 16, linger));
    let rtt = p.rtts_ms();
    let (lo, hi) = min_max(&rtt);
    let mut sorted = rtt.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    println!("delay 50: rtt mean {:.1} median {median:.1} min {lo:.1} max {hi:.1} ms ({} echoes)", mean(&rtt), rtt.len());
    assert_eq!(p.received(), 50, "lost probes without loss");
    assert!(lo >= 99.5, "a round trip shorter than 2 × 50 ms: {lo:.1} ms");
    assert!(median < 125.0, "median rtt {median:.1} ms");
    assert!(mean(&rtt) < 150.0, "mean rtt {:.1} ms", mean(&rtt));

    // Jitter: 50 ± 30 ms each way; the spread shows, but the order is kept.
    link.set(&params(|p| {
        p.delay_ms = 50.0;
        p.jitter_ms = 30.0;
    }))
    .expect("set");
    let (p, _, _) = measured(&link, || probe(&sock, echo, 150, Duration::from_millis(10), 16, linger));
    let rtt = p.rtts_ms();
    let (lo, hi) = min_max(&rtt);
    println!(
        "delay 50 jitter 30: rtt mean {:.1} sd {:.1} min {lo:.1} max {hi:.1} ms, {} inversions",
        mean(&rtt),
        stdev(&rtt),
        p.inversions()
    );
    assert_eq!(p.received(), 150, "lost probes without loss");
    assert_eq!(p.inversions(), 0, "reordered although reordering is off");
    assert!(lo >= 39.5, "a round trip shorter than 2 × 20 ms: {lo:.1} ms");
    assert!(hi - lo >= 30.0 && stdev(&rtt) >= 8.0, "no visible jitter: {lo:.1}..{hi:.1} ms, sd {:.1}", stdev(&rtt));

    // ... and with reordering allowed, packets 5 ms apart overtake each other.
    link.set(&params(|p| {
        p.delay_ms = 50.0;
        p.jitter_ms = 30.0;
        p.allow_reorder = true;
    }))
    .expect("set");
    let (p, _, _) = measured(&link, || probe(&sock, echo, 150, Duration::from_millis(5), 16, linger));
    println!("delay 50 jitter 30 reorder: {} inversions in {} echoes", p.inversions(), p.received());
    assert_eq!(p.received(), 150, "lost probes without loss");
    assert!(p.inversions() >= 5, "only {} inversions with reordering allowed", p.inversions());

    // Loss: 20 % each way, so 1 - 0.8² = 36 % of the echoes are missing.
    link.set(&params(|p| p.loss_pct = 20.0)).expect("set");
    let (p, up, down) = measured(&link, || probe(&sock, echo, 2000, Duration::from_millis(1), 16, linger));
    let echo_loss = 100.0 * (1.0 - p.received() as f64 / p.sent as f64);
    let up_loss = 100.0 * up.dropped_loss as f64 / up.packets_in as f64;
    let down_loss = 100.0 * down.dropped_loss as f64 / down.packets_in as f64;
    println!("loss 20: echo loss {echo_loss:.1} % over {} probes; near->far {up_loss:.1} %, far->near {down_loss:.1} %", p.sent);
    // σ is about 1.1 % for the echo loss and 0.9–1.1 % for each direction.
    assert!((echo_loss - 36.0).abs() < 5.0, "echo loss {echo_loss:.1} %");
    assert!((up_loss - 20.0).abs() < 4.0 && (down_loss - 20.0).abs() < 4.5, "{up_loss:.1} % / {down_loss:.1} %");

    // Rate cap: 1000-byte probes offered at 3 × 2000 kbit/s; what comes back is ~2000 kbit/s.
    link.set(&params(|p| {
        p.rate_kbps = 2000;
        p.queue_ms = 300.0;
    }))
    .expect("set");
    let size = 1000;
    let gap = Duration::from_secs_f64((size + UDP_OVERHEAD) as f64 * 8.0 / 6_000_000.0);
    let (p, up, _) = measured(&link, || probe(&sock, echo, 1800, gap, size, Duration::from_millis(900)));
    let first = p.echoes.first().expect("some echoes").1;
    let last = p.echoes.last().expect("some echoes").1;
    let kbps = (p.received() - 1) as f64 * ((size + UDP_OVERHEAD) * 8) as f64 / last.duration_since(first).as_secs_f64() / 1000.0;
    println!(
        "rate 2000: {kbps:.0} kbit/s of IP packets over {:.2} s; {} of {} dropped by the queue",
        last.duration_since(first).as_secs_f64(),
        up.dropped_queue,
        p.sent
    );
    assert!((1500.0..=2500.0).contains(&kbps), "{kbps:.0} kbit/s through a 2000 kbit/s cap");
    assert!(up.dropped_queue > 0, "offered 3 × the cap and nothing was tail-dropped");

    // Timed blackout: nothing passes for 1 s, then traffic resumes by itself.
    link.set(&Params::default()).expect("set");
    let (p, up, down) = measured(&link, || {
        link.blackout(Duration::from_millis(1000)).expect("blackout");
        probe(&sock, echo, 200, Duration::from_millis(10), 16, linger)
    });
    let t0 = p.sent_at[0];
    let at = |seq: usize| p.sent_at[seq].duration_since(t0);
    let through_early = p.echoes.iter().filter(|&&(seq, _)| at(seq) < Duration::from_millis(700)).count();
    let late: Vec<usize> = (0..p.sent).filter(|&seq| at(seq) > Duration::from_millis(1300)).collect();
    let through_late = p.echoes.iter().filter(|&&(seq, _)| at(seq) > Duration::from_millis(1300)).count();
    let first_through = p.echoes.iter().map(|&(seq, _)| at(seq)).min().expect("traffic resumed");
    println!(
        "blackout 1000 ms: first echo of a probe sent {} ms in; dropped {} + {}",
        first_through.as_millis(),
        up.dropped_blackout,
        down.dropped_blackout
    );
    assert_eq!(through_early, 0, "echoes during the blackout");
    assert!(through_late * 10 >= late.len() * 9, "{through_late} of {} echoes after the blackout", late.len());
    assert!(up.dropped_blackout >= 70, "{up:?}");

    // Blackout on / off.
    link.blackout_on().expect("blackout on");
    let (p, up, _) = measured(&link, || probe(&sock, echo, 30, Duration::from_millis(10), 16, Duration::from_millis(300)));
    assert_eq!(p.received(), 0, "echoes during the blackout");
    assert_eq!(up.dropped_blackout, 30);
    link.blackout_off().expect("blackout off");
    let (p, _, _) = measured(&link, || probe(&sock, echo, 30, Duration::from_millis(10), 16, Duration::from_millis(300)));
    assert_eq!(p.received(), 30, "lost probes after the blackout");

    // TCP across a delayed, slightly lossy link: 256 KiB echoed intact.
    link.set(&params(|p| {
        p.delay_ms = 10.0;
        p.loss_pct = 1.0;
    }))
    .expect("set");
    let t = Instant::now();
    let stream = TcpStream::connect_timeout(&echo, Duration::from_secs(10)).expect("tcp connect across the link");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("set_read_timeout");
    let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut back = vec![0u8; data.len()];
    std::thread::scope(|s| {
        let mut writer = stream.try_clone().expect("clone stream");
        let data = &data;
        s.spawn(move || writer.write_all(data).expect("tcp write"));
        (&stream).read_exact(&mut back).expect("tcp read back");
    });
    assert!(back == data, "tcp echo differs");
    println!("tcp: 256 KiB echoed in {:.2} s (delay 10 ms, loss 1 %)", t.elapsed().as_secs_f64());
    drop(stream);

    // Spawning in the far namespace at run time.
    link.set(&Params::default()).expect("set");
    let pid = link.spawn(&[bin.to_str().expect("utf-8 path"), "--echo", "7778"]).expect("spawn");
    assert!(pid > 0);
    let echo2 = SocketAddr::from((link.far_ip(), 7778));
    let deadline = Instant::now() + Duration::from_secs(15);
    while probe(&sock, echo2, 1, Duration::ZERO, 16, Duration::from_millis(100)).received() == 0 {
        assert!(Instant::now() < deadline, "no echo from the spawned server");
    }
    assert!(link.command("set loss=101").is_err(), "invalid loss accepted");
    assert!(link.command("frobnicate").is_err(), "unknown command accepted");

    // Quitting stops the link and what it started.
    let status = link.quit().expect("quit");
    assert!(status.success(), "{status}");
    let gone = Instant::now() + Duration::from_secs(5);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < gone, "spawned pid {pid} outlived the link");
        std::thread::sleep(Duration::from_millis(20));
    }
    // /proc/net/dev lists the interfaces of the reader's namespace.
    let devices = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    assert!(!devices.contains("nlnk0"), "nlnk0 outlived the link");
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}
