//! The impairment model: which packet is dropped and when each one departs. No I/O and no
//! clock of its own — the caller passes `now` — so it is tested with a fake clock and a seeded
//! PRNG.
//!
//! A packet arriving in one direction goes through, in this order:
//!
//! 1. **blackout** — while a blackout is on, every packet is dropped (`dropped_blackout`).
//! 2. **loss** — dropped with probability `loss_pct / 100` (`dropped_loss`), independently of
//!    every other packet (Bernoulli, no bursts).
//! 3. **rate cap** — if `rate_kbps > 0`, the packet is serialized after the ones queued ahead of
//!    it, taking `len * 8 / rate` seconds. If, when it arrives, the data queued ahead of it takes
//!    longer than `queue_ms` to send, it is tail-dropped (`dropped_queue`).
//! 4. **delay + jitter** — it then spends `delay_ms + U(-jitter_ms, +jitter_ms)` on the wire
//!    (uniform, clamped at 0; the mean is `delay_ms` as long as `jitter_ms <= delay_ms`).
//! 5. **order** — unless `allow_reorder` is set, a packet never departs before the previous one
//!    of its direction: its departure time is raised to the previous one's if needed. (So with
//!    jitter and packets closer together than the jitter, delays skew upwards, as on a real FIFO
//!    path.)
//!
//! At departure the caller asks again ([`Direction::depart`]): a packet whose departure falls in
//! a blackout is dropped too, so nothing at all crosses while one is on.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Impairments of one link. Both directions use the same parameters, each with its own state
/// and PRNG.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// One-way delay in milliseconds.
    pub delay_ms: f64,
    /// Jitter in milliseconds: each packet's delay is `delay_ms + U(-jitter_ms, +jitter_ms)`.
    pub jitter_ms: f64,
    /// Random loss in percent (0–100).
    pub loss_pct: f64,
    /// Rate cap in kbit/s (1 kbit = 1000 bit) counted on whole IP packets; 0 = unlimited.
    pub rate_kbps: u64,
    /// With a rate cap: how much data (in milliseconds of sending at the cap) may wait ahead of
    /// an arriving packet before it is tail-dropped.
    pub queue_ms: f64,
    /// Let jitter reorder packets (off: a packet never departs before the previous one).
    pub allow_reorder: bool,
}

impl Default for Params {
    fn default() -> Params {
        Params { delay_ms: 0.0, jitter_ms: 0.0, loss_pct: 0.0, rate_kbps: 0, queue_ms: 200.0, allow_reorder: false }
    }
}

/// The longest delay, jitter or queue accepted, in milliseconds (ten minutes).
const MAX_MS: f64 = 600_000.0;

impl Params {
    /// Checks that every value is finite and in range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [("delay", self.delay_ms), ("jitter", self.jitter_ms), ("queue", self.queue_ms)] {
            if !v.is_finite() || !(0.0..=MAX_MS).contains(&v) {
                return Err(format!("{name} must be between 0 and {MAX_MS} ms, not {v}"));
            }
        }
        if !self.loss_pct.is_finite() || !(0.0..=100.0).contains(&self.loss_pct) {
            return Err(format!("loss must be between 0 and 100 %, not {}", self.loss_pct));
        }
        Ok(())
    }
}

/// Milliseconds as a duration, rounded to the nanosecond. Callers validated `ms` (finite, ≥ 0).
fn ms(ms: f64) -> Duration {
    Duration::from_nanos((ms * 1e6).round() as u64)
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirStats {
    /// Packets read from the sending side's TUN.
    pub packets_in: u64,
    /// Packets written to the receiving side's TUN.
    pub forwarded: u64,
    pub dropped_loss: u64,
    pub dropped_blackout: u64,
    pub dropped_queue: u64,
    /// Bytes (whole IP packets) of `packets_in`.
    pub bytes_in: u64,
    /// Bytes (whole IP packets) of `forwarded`.
    pub bytes_forwarded: u64,
    /// Packets accepted and not yet departed (in the rate queue or "on the wire").
    pub queued: u64,
}

/// Counters of both directions, as the `stats` command reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Near namespace (10.77.0.1) to far namespace (10.77.0.2).
    pub near_to_far: DirStats,
    /// Far namespace to near namespace.
    pub far_to_near: DirStats,
}

/// What happens to an arriving packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Forward it at this time (then call [`Direction::depart`]).
    Deliver(Instant),
    DropBlackout,
    DropLoss,
    DropQueue,
}

/// The state of one direction of the link.
#[derive(Debug)]
pub struct Direction {
    params: Params,
    rng: ChaCha8Rng,
    /// When the rate limiter finishes sending what it has accepted so far.
    link_free_at: Option<Instant>,
    /// Departure time of the last accepted packet.
    last_due: Option<Instant>,
    stats: DirStats,
}

impl Direction {
    /// A direction with its own PRNG seeded with `seed` (ChaCha8, so a seed gives the same
    /// decisions on every platform and `rand` version). `params` must be valid.
    pub fn new(params: Params, seed: u64) -> Direction {
        Direction { params, rng: ChaCha8Rng::seed_from_u64(seed), link_free_at: None, last_due: None, stats: DirStats::default() }
    }

    /// New parameters for packets arriving from now on (queued ones keep their schedule).
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn stats(&self) -> DirStats {
        self.stats
    }

    /// A packet of `len` bytes arrives at `now`; `blackout` says whether a blackout is on.
    pub fn arrive(&mut self, now: Instant, len: usize, blackout: bool) -> Verdict {
        self.stats.packets_in += 1;
        self.stats.bytes_in += len as u64;
        if blackout {
            self.stats.dropped_blackout += 1;
            return Verdict::DropBlackout;
        }
        let p = &self.params;
        if p.loss_pct > 0.0 && self.rng.random_bool(p.loss_pct / 100.0) {
            self.stats.dropped_loss += 1;
            return Verdict::DropLoss;
        }
        let mut ready = now;
        // bits / (kbit/s * 1000) seconds = len * 8 * 1e6 / kbps nanoseconds; no cap if 0.
        if let Some(serialize_ns) = (len as u64).saturating_mul(8_000_000).checked_div(p.rate_kbps) {
            let start = self.link_free_at.map_or(now, |free| free.max(now));
            if start.duration_since(now) > ms(p.queue_ms) {
                self.stats.dropped_queue += 1;
                return Verdict::DropQueue;
            }
            ready = start + Duration::from_nanos(serialize_ns);
            self.link_free_at = Some(ready);
        }
        let mut delay = p.delay_ms;
        if p.jitter_ms > 0.0 {
            delay += self.rng.random_range(-p.jitter_ms..=p.jitter_ms);
        }
        let mut due = ready + ms(delay.max(0.0));
        if !p.allow_reorder
            && let Some(last) = self.last_due
        {
            due = due.max(last);
        }
        self.last_due = Some(due);
        self.stats.queued += 1;
        Verdict::Deliver(due)
    }

    /// A packet that [`arrive`](Self::arrive) accepted is due now. Returns whether to send it:
    /// false if a blackout is on (then it counts as `dropped_blackout`).
    pub fn depart(&mut self, len: usize, blackout: bool) -> bool {
        self.stats.queued = self.stats.queued.saturating_sub(1);
        if blackout {
            self.stats.dropped_blackout += 1;
            false
        } else {
            self.stats.forwarded += 1;
            self.stats.bytes_forwarded += len as u64;
            true
        }
    }
}

/// The seeds of the two directions, derived from the link's seed.
pub fn direction_seeds(seed: u64) -> (u64, u64) {
    (seed, seed ^ 0x9e37_79b9_7f4a_7c15)
}

/// Blackout state, shared by both directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Blackout {
    #[default]
    Off,
    /// On until turned off.
    On,
    /// On until this time.
    Until(Instant),
}

impl Blackout {
    /// Whether everything is dropped at `now`.
    pub fn active(&self, now: Instant) -> bool {
        match *self {
            Blackout::Off => false,
            Blackout::On => true,
            Blackout::Until(end) => now < end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(f: impl FnOnce(&mut Params)) -> Params {
        let mut p = Params::default();
        f(&mut p);
        p.validate().expect("test parameters are valid");
        p
    }

    /// Delivers `n` packets of `len` bytes, `gap` apart from `t0`; returns (arrival, verdict).
    fn run(d: &mut Direction, t0: Instant, n: usize, gap: Duration, len: usize) -> Vec<(Instant, Verdict)> {
        (0..n)
            .map(|i| {
                let now = t0 + gap * i as u32;
                (now, d.arrive(now, len, false))
            })
            .collect()
    }

    fn delays_ms(out: &[(Instant, Verdict)]) -> Vec<f64> {
        out.iter()
            .filter_map(|(at, v)| match v {
                Verdict::Deliver(due) => Some(due.duration_since(*at).as_secs_f64() * 1000.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn no_impairment_forwards_at_once() {
        let mut d = Direction::new(Params::default(), 1);
        let t0 = Instant::now();
        for (at, v) in run(&mut d, t0, 100, Duration::from_millis(1), 1200) {
            assert_eq!(v, Verdict::Deliver(at));
        }
        assert_eq!(d.stats().packets_in, 100);
        assert_eq!(d.stats().queued, 100);
        assert!(d.depart(1200, false));
        assert_eq!(d.stats().forwarded, 1);
        assert_eq!(d.stats().bytes_forwarded, 1200);
        assert_eq!(d.stats().queued, 99);
    }

    #[test]
    fn loss_ratio_over_10k_packets() {
        for (pct, seed) in [(20.0, 1), (20.0, 2), (5.0, 3), (50.0, 4)] {
            let mut d = Direction::new(params(|p| p.loss_pct = pct), seed);
            let out = run(&mut d, Instant::now(), 10_000, Duration::from_micros(100), 100);
            let lost = out.iter().filter(|(_, v)| *v == Verdict::DropLoss).count();
            let ratio = lost as f64 / 100.0; // percent
            // σ of the ratio is at most 0.5 % here; 2 % is four σ and more.
            assert!((ratio - pct).abs() < 2.0, "loss {pct} %: measured {ratio} %");
            assert_eq!(d.stats().dropped_loss, lost as u64);
            assert_eq!(d.stats().packets_in, 10_000);
        }
        // 0 and 100 are exact.
        let mut none = Direction::new(params(|p| p.loss_pct = 0.0), 5);
        assert!(run(&mut none, Instant::now(), 1000, Duration::ZERO, 10).iter().all(|(_, v)| matches!(v, Verdict::Deliver(_))));
        let mut all = Direction::new(params(|p| p.loss_pct = 100.0), 5);
        assert!(run(&mut all, Instant::now(), 1000, Duration::ZERO, 10).iter().all(|(_, v)| *v == Verdict::DropLoss));
    }

    #[test]
    fn same_seed_same_decisions() {
        let p = params(|p| {
            p.loss_pct = 30.0;
            p.jitter_ms = 10.0;
            p.delay_ms = 20.0;
            p.allow_reorder = true;
        });
        let t0 = Instant::now();
        let a = run(&mut Direction::new(p.clone(), 42), t0, 1000, Duration::from_millis(1), 100);
        let b = run(&mut Direction::new(p.clone(), 42), t0, 1000, Duration::from_millis(1), 100);
        let c = run(&mut Direction::new(p, 43), t0, 1000, Duration::from_millis(1), 100);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let (s1, s2) = direction_seeds(42);
        assert_ne!(s1, s2);
    }

    #[test]
    fn fixed_delay() {
        let mut d = Direction::new(params(|p| p.delay_ms = 50.0), 1);
        let delays = delays_ms(&run(&mut d, Instant::now(), 100, Duration::from_millis(3), 100));
        assert_eq!(delays.len(), 100);
        assert!(delays.iter().all(|&ms| ms == 50.0), "{delays:?}");
    }

    #[test]
    fn jitter_bounds_and_mean() {
        // Packets far apart, so ordering never interferes: the delays are the raw samples.
        for reorder in [false, true] {
            let mut d = Direction::new(
                params(|p| {
                    p.delay_ms = 50.0;
                    p.jitter_ms = 30.0;
                    p.allow_reorder = reorder;
                }),
                7,
            );
            let delays = delays_ms(&run(&mut d, Instant::now(), 10_000, Duration::from_millis(100), 100));
            let min = delays.iter().cloned().fold(f64::MAX, f64::min);
            let max = delays.iter().cloned().fold(f64::MIN, f64::max);
            let mean = delays.iter().sum::<f64>() / delays.len() as f64;
            assert!((20.0..21.0).contains(&min), "min {min}");
            assert!((79.0..=80.0).contains(&max), "max {max}");
            // Uniform on [20, 80]: σ = 60/√12 ≈ 17.3 ms, σ of the mean of 10k ≈ 0.17 ms.
            assert!((mean - 50.0).abs() < 1.0, "mean {mean}");
            // Roughly flat: each sixth of the range holds about 1/6 of the samples.
            for k in 0..6 {
                let lo = 20.0 + 10.0 * k as f64;
                let n = delays.iter().filter(|&&ms| ms >= lo && ms < lo + 10.0).count();
                assert!((1400..1940).contains(&n), "bucket {lo}: {n}");
            }
        }
        // Jitter larger than the delay clamps at zero.
        let mut d = Direction::new(
            params(|p| {
                p.delay_ms = 5.0;
                p.jitter_ms = 20.0;
                p.allow_reorder = true;
            }),
            8,
        );
        let delays = delays_ms(&run(&mut d, Instant::now(), 1000, Duration::from_millis(100), 100));
        assert!(delays.iter().all(|&ms| (0.0..=25.0).contains(&ms)));
        assert!(delays.iter().filter(|&&ms| ms == 0.0).count() > 200);
    }

    #[test]
    fn order_is_preserved_unless_reordering_is_allowed() {
        let p = params(|p| {
            p.delay_ms = 50.0;
            p.jitter_ms = 30.0;
        });
        let t0 = Instant::now();
        let dues = |d: &mut Direction| -> Vec<Instant> {
            run(d, t0, 2000, Duration::from_millis(1), 100)
                .into_iter()
                .map(|(_, v)| match v {
                    Verdict::Deliver(due) => due,
                    other => panic!("unexpected {other:?}"),
                })
                .collect()
        };
        let kept = dues(&mut Direction::new(p.clone(), 9));
        assert!(kept.windows(2).all(|w| w[0] <= w[1]), "a packet departs before its predecessor");
        let reordered = dues(&mut Direction::new(Params { allow_reorder: true, ..p }, 9));
        let inversions = reordered.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 500, "only {inversions} inversions with reordering allowed");
        // Preserving order only ever delays packets: never earlier than the raw sample.
        let raw = reordered;
        assert!(kept.iter().zip(&raw).all(|(k, r)| k >= r));
    }

    #[test]
    fn rate_cap_throughput() {
        // 1000-byte packets offered at 4 Mbit/s (one every 2 ms) for 10 s, capped at 2 Mbit/s.
        let mut d = Direction::new(
            params(|p| {
                p.rate_kbps = 2000;
                p.queue_ms = 100.0;
            }),
            1,
        );
        let out = run(&mut d, Instant::now(), 5000, Duration::from_millis(2), 1000);
        let dues: Vec<Instant> = out
            .iter()
            .filter_map(|(_, v)| match v {
                Verdict::Deliver(due) => Some(*due),
                _ => None,
            })
            .collect();
        // Back to back, each 1000 bytes takes exactly 4 ms at 2000 kbit/s.
        let span = dues.last().expect("some delivered").duration_since(dues[0]);
        let kbps = (dues.len() - 1) as f64 * 8000.0 / span.as_secs_f64() / 1000.0;
        assert!((kbps - 2000.0).abs() < 20.0, "{kbps} kbit/s");
        assert!(dues.windows(2).all(|w| w[1].duration_since(w[0]) >= Duration::from_millis(4)));
        // About half is tail-dropped.
        let dropped = d.stats().dropped_queue;
        assert!((2400..2600).contains(&dropped), "dropped {dropped}");
        // Below the cap nothing waits and nothing drops.
        let mut d = Direction::new(params(|p| p.rate_kbps = 2000), 1);
        for (at, v) in run(&mut d, Instant::now(), 1000, Duration::from_millis(5), 1000) {
            assert_eq!(v, Verdict::Deliver(at + Duration::from_millis(4)));
        }
    }

    #[test]
    fn queue_tail_drop() {
        // A burst of 100 packets at one instant; each takes 4 ms; at most 100 ms may wait ahead.
        let mut d = Direction::new(
            params(|p| {
                p.rate_kbps = 2000;
                p.queue_ms = 100.0;
                p.delay_ms = 10.0;
            }),
            1,
        );
        let t0 = Instant::now();
        let out = run(&mut d, t0, 100, Duration::ZERO, 1000);
        // Packet k waits 4k ms: k = 0..=25 fit (25 waits exactly 100 ms), the rest are dropped.
        for (k, (_, v)) in out.iter().enumerate() {
            if k <= 25 {
                assert_eq!(*v, Verdict::Deliver(t0 + Duration::from_millis(4 * (k as u64 + 1) + 10)), "packet {k}");
            } else {
                assert_eq!(*v, Verdict::DropQueue, "packet {k}");
            }
        }
        assert_eq!(d.stats().dropped_queue, 74);
        // Once the queue has drained (104 ms later) packets are accepted again, without waiting.
        let later = t0 + Duration::from_millis(104);
        assert_eq!(d.arrive(later, 1000, false), Verdict::Deliver(later + Duration::from_millis(14)));
        // A zero-length queue holds nothing but the packet being sent.
        let mut d = Direction::new(
            params(|p| {
                p.rate_kbps = 2000;
                p.queue_ms = 0.0;
            }),
            1,
        );
        let out = run(&mut d, t0, 10, Duration::ZERO, 1000);
        assert!(matches!(out[0].1, Verdict::Deliver(_)));
        assert!(out[1..].iter().all(|(_, v)| *v == Verdict::DropQueue));
    }

    #[test]
    fn blackout_drops_everything() {
        let t0 = Instant::now();
        let b = Blackout::Until(t0 + Duration::from_millis(500));
        assert!(b.active(t0));
        assert!(b.active(t0 + Duration::from_millis(499)));
        assert!(!b.active(t0 + Duration::from_millis(500)));
        assert!(Blackout::On.active(t0 + Duration::from_secs(3600)));
        assert!(!Blackout::Off.active(t0));

        let mut d = Direction::new(params(|p| p.delay_ms = 100.0), 1);
        let mut forwarded = 0;
        let mut pending = Vec::new();
        for i in 0..1000u32 {
            let now = t0 + Duration::from_millis(i as u64);
            if let Verdict::Deliver(due) = d.arrive(now, 100, b.active(now)) {
                pending.push(due);
            }
        }
        for due in pending {
            // Those in flight when it starts, or due inside it, are dropped at departure.
            if d.depart(100, b.active(due)) {
                forwarded += 1;
            }
        }
        // Arrivals in [0, 500) dropped on arrival; arrivals in [500, 1000) depart after it.
        let s = d.stats();
        assert_eq!(s.dropped_blackout, 500);
        assert_eq!(forwarded, 500);
        assert_eq!(s.forwarded, 500);
        assert_eq!(s.queued, 0);
        // In-flight packets caught by a blackout starting later are dropped at departure.
        let mut d = Direction::new(params(|p| p.delay_ms = 100.0), 1);
        let Verdict::Deliver(due) = d.arrive(t0, 100, false) else { panic!("no impairment but delay") };
        assert!(!d.depart(100, Blackout::On.active(due)));
        assert_eq!(d.stats().dropped_blackout, 1);
        assert_eq!(d.stats().forwarded, 0);
    }

    #[test]
    fn params_validation() {
        assert!(Params::default().validate().is_ok());
        assert!(params(|p| p.loss_pct = 100.0).validate().is_ok());
        for bad in [
            Params { loss_pct: 100.1, ..Params::default() },
            Params { loss_pct: -1.0, ..Params::default() },
            Params { delay_ms: f64::NAN, ..Params::default() },
            Params { jitter_ms: -0.5, ..Params::default() },
            Params { queue_ms: f64::INFINITY, ..Params::default() },
            Params { delay_ms: 1e9, ..Params::default() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
