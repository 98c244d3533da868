//! The `cap` part: congestion control under a 300 kbps cap, our engine and Chromium side by
//! side; and the SFU's CPU per forwarded packet with simulcast on and off.
//!
//! **Cap.** The room server runs on the far side of a `nertc-netem` link (as in the `network`
//! part); each pair (engine A → engine B, then Chromium → Chromium) sends the same 640x480@15
//! film-grain picture asking for 800 kbps and goes through three phases on the same link: clean,
//! a 300 kbps cap with a 200 ms tail-drop queue (netem caps both directions: the publisher's
//! uplink and the subscriber's downlink), and the cap lifted. Every 250 ms the link's near → far
//! counters are read: what enters that direction is what the publisher sends (plus the
//! subscriber's RTCP; neither subscriber publishes audio), measured at the link, not taken from
//! either sender's own statistics. The subscriber's new frames are timed (engine: its frame slot;
//! Chromium: the page's frame times, `bench/chromium/run.mjs latency`, whose window opens when
//! it logs `window start`). Figures per pair:
//! - time to adapt: from the cap to the end of the first second whose sent rate is under the cap;
//! - utilisation: what the link carried from 5 s after the cap to its lifting, over the cap;
//! - loss: packets the queue dropped over packets sent, the first 5 s (adaptation) and after;
//! - fps, frozen time and longest gap at the subscriber during the capped phase (freezes by
//!   NERTC's rule, see [`crate::network::smoothness`]);
//! - time to climb back: from the lifting to the end of the first second over twice the cap.
//!
//! `--smoke` shortens the phases (1 s, 2 s, 1 s; "5 s" becomes half the capped phase) and skips
//! the warm-up: it checks the plumbing, its figures are not comparable.
//!
//! **Simulcast.** A fan-out step (one publisher of the shared clip, N load-generator
//! subscribers, our server as its own process) with the publisher sending one layer, then two
//! (`rid` `h` and `l`, the same packets under two SSRCs: the SFU receives twice the video and
//! forwards one layer to each subscriber), alternated; the figure is the server's CPU time per
//! forwarded packet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nertc_engine::render::StreamKey;
use nertc_netem::{DirStats, Link, Params};
use serde_json::{Value, json};

use crate::chromium::{Running, Video};
use crate::clip::Clip;
use crate::engine_parts::EnginePair;
use crate::loadgen::{self, Target};
use crate::measure::summary;
use crate::network::{server_behind_link, smoothness};
use crate::servers::ServerProcess;

pub const CAP_KBPS: u64 = 300;
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const FPS: u32 = 15;
const KBPS: u32 = 800;
/// Not the `network` part's port: its link may still be going away.
const PORT: u16 = 18491;
/// How often the link's counters are read.
const SAMPLE: Duration = Duration::from_millis(250);
/// Samples per second.
const PER_S: usize = 4;

/// How long each phase lasts.
#[derive(Debug, Clone, Copy)]
pub struct Phases {
    pub clean: Duration,
    pub cap: Duration,
    pub lifted: Duration,
}

impl Phases {
    pub fn new(smoke: bool) -> Phases {
        let s = Duration::from_secs;
        if smoke { Phases { clean: s(1), cap: s(2), lifted: s(1) } } else { Phases { clean: s(8), cap: s(20), lifted: s(12) } }
    }

    pub fn total(&self) -> Duration {
        self.clean + self.cap + self.lifted
    }

    /// When adaptation is over: 5 s into the cap (half the capped phase when shorter than 10 s).
    pub fn settle(&self) -> Duration {
        Duration::from_secs(5).min(self.cap / 2)
    }
}

/// One reading of the near → far direction, ms since the clean phase began.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t_ms: f64,
    pub up: DirStats,
}

/// The link's readings over the phases: the cap was set just before sample `cap_i` and lifted
/// just before sample `lift_i`.
#[derive(Debug)]
pub struct Trace {
    pub samples: Vec<Sample>,
    pub cap_i: usize,
    pub lift_i: usize,
}

fn capped() -> Params {
    Params { rate_kbps: CAP_KBPS, queue_ms: 200.0, ..Params::default() }
}

/// Runs the phases on `link` from `t0` (clean, capped, lifted), reading its counters every
/// [`SAMPLE`] and calling `poll` every 5 ms in between. The link is clean again at the end, also
/// on an error.
fn drive(link: &Link, phases: &Phases, t0: Instant, mut poll: impl FnMut(Instant)) -> Result<Trace, String> {
    let ticks = |d: Duration| (d.as_millis() / SAMPLE.as_millis()) as usize;
    let (cap_i, lift_i) = (ticks(phases.clean), ticks(phases.clean + phases.cap));
    let last = ticks(phases.total());
    let mut samples = Vec::with_capacity(last + 1);
    let mut run = || -> Result<(), String> {
        for k in 0..=last {
            let at = t0 + SAMPLE * k as u32;
            while Instant::now() < at {
                poll(t0);
                std::thread::sleep(Duration::from_millis(5).min(at.saturating_duration_since(Instant::now())));
            }
            if k == cap_i {
                link.set(&capped()).map_err(|e| format!("netem: set the cap: {e}"))?;
            } else if k == lift_i {
                link.set(&Params::default()).map_err(|e| format!("netem: lift the cap: {e}"))?;
            }
            let up = link.stats().map_err(|e| format!("netem stats: {e}"))?.near_to_far;
            samples.push(Sample { t_ms: t0.elapsed().as_secs_f64() * 1000.0, up });
        }
        Ok(())
    };
    let r = run();
    let reset = link.set(&Params::default()).map_err(|e| format!("netem: reset: {e}"));
    r.and(reset)?;
    Ok(Trace { samples, cap_i, lift_i })
}

/// kbit/s of `bytes` over `ms`.
fn kbps(bytes: u64, ms: f64) -> f64 {
    bytes as f64 * 8.0 / ms.max(1.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The figures of one pair from its trace and its subscriber's frame times (ms since the clean
/// phase began).
pub fn figures(trace: &Trace, frames_ms: &[f64], phases: &Phases) -> Value {
    let s = &trace.samples;
    let (cap_i, lift_i) = (trace.cap_i, trace.lift_i);
    let end_i = s.len().saturating_sub(1);
    if s.len() < PER_S + 1 || lift_i > end_i || cap_i >= lift_i {
        return json!({ "error": format!("too few link samples ({})", s.len()) });
    }
    let settle_i = (cap_i + (phases.settle().as_millis() / SAMPLE.as_millis()) as usize).min(lift_i);
    // Sent rate over each second, as (first sample, last sample, kbps).
    let rates: Vec<(usize, usize, f64)> = (0..s.len() - PER_S)
        .map(|i| (i, i + PER_S, kbps(s[i + PER_S].up.bytes_in - s[i].up.bytes_in, s[i + PER_S].t_ms - s[i].t_ms)))
        .collect();
    let within = |from: usize, to: usize| rates.iter().filter(move |r| r.0 >= from && r.1 <= to);
    let since = |i: usize, j: usize| round1((s[j].t_ms - s[i].t_ms) / 1000.0);
    let adapt_s = within(cap_i, lift_i).find(|r| r.2 <= CAP_KBPS as f64).map(|r| since(cap_i, r.1));
    let climb_s = within(lift_i, end_i).find(|r| r.2 >= 2.0 * CAP_KBPS as f64).map(|r| since(lift_i, r.1));
    // Carried (forwarded) rate and the queue's losses between two samples.
    let carried = |i: usize, j: usize| kbps(s[j].up.bytes_forwarded - s[i].up.bytes_forwarded, s[j].t_ms - s[i].t_ms);
    let loss_pct = |i: usize, j: usize| {
        let sent = s[j].up.packets_in - s[i].up.packets_in;
        let dropped = (s[j].up.dropped_queue + s[j].up.dropped_loss) - (s[i].up.dropped_queue + s[i].up.dropped_loss);
        if sent == 0 { Value::Null } else { json!((dropped as f64 / sent as f64 * 1e4).round() / 100.0) }
    };
    let rates_of = |from: usize, to: usize| within(from, to).map(|r| r.2.round()).collect::<Vec<f64>>();
    let clean = rates_of(0, cap_i);
    // The subscriber's frames in [from, to) of the trace, relative to `from`.
    let smooth = |from: usize, to: usize| {
        let (a, b) = (s[from].t_ms, s[to].t_ms);
        let t: Vec<f64> = frames_ms.iter().filter(|t| **t >= a && **t < b).map(|t| t - a).collect();
        smoothness(&t, b - a, FPS)
    };
    let under = smooth(cap_i, lift_i);
    json!({
        "cap_kbps": CAP_KBPS,
        "phases_s": [phases.clean.as_secs_f64(), phases.cap.as_secs_f64(), phases.lifted.as_secs_f64()],
        "settle_s": phases.settle().as_secs_f64(),
        "clean_sent_kbps": summary(clean.iter().copied()),
        "adapt_s": adapt_s,
        "utilisation_pct": round1(carried(settle_i, lift_i) / CAP_KBPS as f64 * 100.0),
        "carried_kbps_after_settle": carried(settle_i, lift_i).round(),
        "loss_adapting_pct": loss_pct(cap_i, settle_i),
        "loss_settled_pct": loss_pct(settle_i, lift_i),
        "fps_capped": under["fps"],
        "frozen_ms_capped": under["frozen_ms"],
        "longest_gap_ms_capped": under["longest_gap_ms"],
        "freezes_capped": under["freezes"],
        "after_settle": smooth(settle_i, lift_i),
        "lifted": smooth(lift_i, end_i),
        "climb_s": climb_s,
        "sent_kbps_per_s": {
            "clean": clean,
            "capped": rates_of(cap_i, lift_i),
            "lifted": rates_of(lift_i, end_i),
        },
    })
}

/// The engine pair through `url` (behind `link`).
fn engine_pair(link: &Link, url: &str, phases: &Phases, warmup: Duration) -> Result<Value, String> {
    let pair = EnginePair::start(url, "bench-cap", WIDTH, HEIGHT, FPS)?;
    // As the Chromium subscriber: no audio of its own on the uplink.
    pair.viewer.enable_local_audio(false);
    std::thread::sleep(warmup);
    let slot = pair.viewer.slot(StreamKey::Remote(1));
    let mut seen = slot.newer_than(0).map_or(0, |(seq, _)| seq);
    let mut frames = Vec::new();
    let trace = drive(link, phases, Instant::now(), |t0| {
        if let Some((seq, _)) = slot.newer_than(seen) {
            seen = seq;
            frames.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        while pair.viewer_events.try_recv().is_ok() {}
    })?;
    Ok(figures(&trace, &frames, phases))
}

/// The Chromium pair through `url` (behind `link`): run.mjs's window covers the phases.
fn chromium_pair(link: &Link, url: &str, phases: &Phases, warmup: Duration) -> Result<Value, String> {
    let video = Video { width: WIDTH, height: HEIGHT, fps: FPS, kbps: KBPS };
    let seconds = phases.total().as_secs() + 1;
    let warmup = warmup.as_secs().to_string();
    // `--capture request`: see the network part (captureStream(15) sent ~12 frames per second).
    // `--bwe free`: the other parts pin Chromium's estimate at the target; here it must adapt.
    let extra = ["--capture", "request", "--warmup", &warmup, "--bwe", "free"];
    let mut run = Running::start("latency", url, video, seconds, &extra)?;
    run.wait_for_window(Duration::from_secs(90))?;
    let trace = drive(link, phases, Instant::now(), |_| {});
    let v = run.finish()?;
    let trace = trace?;
    let frames: Vec<f64> = v["frame_times_ms"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    let mut out = figures(&trace, &frames, phases);
    out["chromium"] = json!({
        "sent_kbps_window": v["sent_kbps"],
        "fps_sent_window": v["fps_sent"],
        "encoder": v["encoder"],
        "received_sizes": v["received_sizes"],
    });
    Ok(out)
}

/// Both pairs through the same server and link: `{engine, chromium}`.
pub fn run(smoke: bool) -> Result<Value, String> {
    let phases = Phases::new(smoke);
    let warmup = Duration::from_secs(if smoke { 0 } else { 2 });
    let (link, url) = server_behind_link(PORT)?;
    let t = Instant::now();
    let ours = engine_pair(&link, &url, &phases, warmup).unwrap_or_else(|e| json!({ "error": e }));
    eprintln!("bench: cap engine ({:.1} s) {ours}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let peer = chromium_pair(&link, &url, &phases, warmup).unwrap_or_else(|e| json!({ "error": e }));
    eprintln!("bench: cap chromium ({:.1} s) {peer}", t.elapsed().as_secs_f64());
    Ok(json!({ "engine": ours, "chromium": peer }))
}

/// Server CPU time per forwarded packet (µs) of a fan-out step, if it measured.
fn us_per_packet(step: &Value) -> Option<f64> {
    let (cpu, pps) = (step["server_cpu_pct"].as_f64()?, step["forwarded_pps"].as_f64()?);
    (pps > 0.0).then(|| (cpu / 100.0 * 1e6 / pps * 100.0).round() / 100.0)
}

/// Fan-out steps of `n` subscribers against one `nertc-server` process, simulcast off then on,
/// `rounds` times: `{n, off_us_per_packet, on_us_per_packet, steps}`.
pub async fn simulcast_cpu(clip: Arc<Clip>, n: usize, secs: u64, rounds: usize) -> Result<Value, String> {
    let server = ServerProcess::nertc(None)?;
    let target = Target::Nertc { url: server.url.clone() };
    let (mut off, mut on, mut steps) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        for simulcast in [false, true] {
            let mut step = loadgen::fanout(&target, server.pid(), clip.clone(), n, secs, simulcast).await;
            let intact = step.get("error").is_none() && step["subscribers_ready"] == n && step["corrupt_packets"] == 0;
            if !intact {
                return Err(format!("simulcast {simulcast}: not every subscriber received intact media: {step}"));
            }
            let us = us_per_packet(&step).ok_or_else(|| format!("simulcast {simulcast}: no CPU figure: {step}"))?;
            eprintln!("bench: cap simulcast {simulcast}: {us} µs of server CPU per forwarded packet ({step})");
            step["simulcast"] = json!(simulcast);
            step["server_us_per_forwarded_packet"] = json!(us);
            if simulcast {
                on.push(us)
            } else {
                off.push(us)
            }
            steps.push(step);
        }
    }
    Ok(json!({ "n": n, "server": server.what, "off_us_per_packet": summary(off), "on_us_per_packet": summary(on), "steps": steps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace at 4 samples/s: `rate(k)` kbps offered over the quarter ending at sample k, of
    /// which `carry(k)` is carried; 1,000-byte packets, the rest dropped by the queue.
    fn trace(n: usize, cap_i: usize, lift_i: usize, rate: impl Fn(usize) -> f64, carry: impl Fn(usize) -> f64) -> Trace {
        let mut up = DirStats::default();
        let mut samples = vec![Sample { t_ms: 0.0, up }];
        for k in 1..n {
            let (sent, kept) = ((rate(k) * 250.0 / 8.0) as u64, (carry(k).min(rate(k)) * 250.0 / 8.0) as u64);
            up.bytes_in += sent;
            up.packets_in += sent / 1000;
            up.bytes_forwarded += kept;
            up.dropped_queue += (sent - kept) / 1000;
            samples.push(Sample { t_ms: k as f64 * 250.0, up });
        }
        Trace { samples, cap_i, lift_i }
    }

    #[test]
    fn figures_of_a_synthetic_trace() {
        let phases = Phases { clean: Duration::from_secs(2), cap: Duration::from_secs(10), lifted: Duration::from_secs(5) };
        // 800 kbps clean; at the cap 800 for 2 s (the link carries 300), then 280; lifted: 400 for
        // 2 s, then 800.
        let rate = |k: usize| match k {
            0..=8 => 800.0,
            9..=16 => 800.0,
            17..=48 => 280.0,
            49..=56 => 400.0,
            _ => 800.0,
        };
        let carry = |k: usize| if (9..=48).contains(&k) { 300.0 } else { 1e9 };
        let t = trace(69, 8, 48, rate, carry);
        // 15 fps, except a 1.5 s hole 1 s into the cap.
        let frames: Vec<f64> = (0..17 * 15).map(|i| f64::from(i) * 1000.0 / 15.0).filter(|t| !(3000.0..4500.0).contains(t)).collect();
        let f = figures(&t, &frames, &phases);
        // The first second wholly under the cap ends 3 s after it (samples 13..=16 still at 800).
        assert_eq!(f["adapt_s"], 3.0, "{f}");
        // From 5 s on only 280 kbps is offered, all carried.
        assert_eq!(f["utilisation_pct"], 93.3, "{f}");
        // First 5 s: 8 quarters at 800 offered / 300 carried, 12 at 280 (all carried).
        let lost = f["loss_adapting_pct"].as_f64().unwrap();
        assert!((lost - 100.0 * (8.0 * 500.0) / (8.0 * 800.0 + 12.0 * 280.0)).abs() < 1.0, "{f}");
        assert_eq!(f["loss_settled_pct"], 0.0);
        assert_eq!(f["freezes_capped"], 1);
        // From the frame at 2,933 ms to the one at 4,533 ms.
        assert!((f["longest_gap_ms_capped"].as_f64().unwrap() - 1600.0).abs() < 0.2, "{f}");
        assert!(f["fps_capped"].as_f64().unwrap() < 15.0);
        // Back at 600 kbps: the second of two quarters at 400 and two at 800 ends 2.5 s after it.
        assert_eq!(f["climb_s"], 2.5, "{f}");
        assert_eq!(f["clean_sent_kbps"]["median"], 800.0);
    }

    #[test]
    fn a_sender_that_never_adapts_has_no_adapt_time() {
        let phases = Phases { clean: Duration::from_secs(1), cap: Duration::from_secs(4), lifted: Duration::from_secs(2) };
        let t = trace(29, 4, 20, |_| 800.0, |k| if (5..=20).contains(&k) { 300.0 } else { 1e9 });
        let f = figures(&t, &[], &phases);
        assert!(f["adapt_s"].is_null(), "{f}");
        assert_eq!(f["climb_s"], 1.0);
        assert_eq!(f["fps_capped"], 0.0);
        assert_eq!(f["utilisation_pct"], 100.0);
        assert!(f["loss_settled_pct"].as_f64().unwrap() > 50.0);
    }
}
