//! When each decoded picture is shown: at its capture time (RTP timestamp) on this machine's
//! clock, plus a playout delay that covers how late pictures have been completing.
//!
//! A picture's *offset* is when it completed here minus its capture time (both in ms from a
//! first picture): the transit, up to a constant. Pictures are shown at a target offset, the
//! 95th percentile of the offsets over the last [`WINDOW`] (rising at once, decaying slowly),
//! at most [`MAX_DELAY`] above the fastest: early ones wait, late ones go at once; the first
//! [`WARMUP`] is shown as it comes. On a clean link lateness is ~0 and nothing waits; with network jitter pictures keep
//! their capture rhythm instead of arriving in clumps. (Chromium's renderer does the same with
//! its jitter-based target delay.) Pure: the caller passes the times.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back lateness and the fastest transit are looked at.
pub const WINDOW: Duration = Duration::from_secs(3);
/// The playout delay never exceeds this: later pictures are shown as they come.
pub const MAX_DELAY: Duration = Duration::from_millis(300);
/// A picture this much earlier than the fastest (ms) starts a new timeline (the sender's
/// timestamps jumped, or the stream moved to a new source): the history starts again.
const RESYNC: f64 = 2_000.0;
/// So do this many pictures in a row that are all far later than the rest.
const RESYNC_AFTER: u32 = 30;
/// Per picture, the delay moves this fraction of the way down towards a lower target.
const DECAY: f64 = 1.0 / 64.0;
/// Pictures completing this soon after the first one are shown at once and kept out of the
/// statistics: a call's first keyframe leaves the sender's pacer at its starting rate and the
/// pictures behind it follow late, a lateness of the start that the path does not repeat
/// (kept, it held every picture of the next seconds back by as much: 120 ms at 640x480).
pub const WARMUP: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Playout {
    /// When the first picture completed: the origin of offsets.
    origin: Option<Instant>,
    /// The previous picture's RTP timestamp, and its capture time in ms from the first one
    /// (unwrapped step by step: timestamps wrap every ~13 h at 90 kHz).
    last_ts: u32,
    capture_ms: f64,
    /// (completed at, offset ms) of recent pictures, and the least offset among them.
    recent: VecDeque<(Instant, f64)>,
    fastest_ms: f64,
    /// Pictures in a row far later than the rest.
    outliers: u32,
    /// The offset pictures are shown at: the 95th percentile of recent offsets, capped at the
    /// fastest plus [`MAX_DELAY`]; rises at once, decays slowly.
    target_ms: Option<f64>,
}

impl Playout {
    /// A picture with RTP timestamp `ts` (90 kHz) completed at `now`: when to show it.
    /// `repaired`: it waited for a retransmission or a reordered packet; it is shown against
    /// the target but kept out of the statistics, so that repairing losses does not add its
    /// delay to every picture (libwebrtc leaves retransmitted frames out of its jitter
    /// estimate for the same reason).
    pub fn show_at(&mut self, ts: u32, now: Instant, repaired: bool) -> Instant {
        let t0 = *self.origin.get_or_insert_with(|| {
            self.last_ts = ts;
            now
        });
        let capture_ms = self.capture_ms + f64::from(ts.wrapping_sub(self.last_ts) as i32) / 90.0;
        (self.last_ts, self.capture_ms) = (ts, capture_ms);
        // Signed: a picture can complete before the first one did (that one was late).
        let since_origin = if now >= t0 { now.duration_since(t0).as_secs_f64() } else { -t0.duration_since(now).as_secs_f64() };
        let offset = since_origin * 1e3 - capture_ms;
        while self.recent.front().is_some_and(|(at, _)| now.duration_since(*at) > WINDOW) {
            self.recent.pop_front();
        }
        if since_origin < WARMUP.as_secs_f64() {
            return now;
        }
        let max_delay = MAX_DELAY.as_secs_f64() * 1e3;
        if repaired {
            let wait = self.target_ms.map_or(0.0, |t| (t.min(self.fastest_ms + max_delay) - offset).max(0.0));
            return now + Duration::from_secs_f64(wait / 1e3);
        }
        if let Some(fastest) = self.recent.iter().map(|(_, o)| *o).reduce(f64::min) {
            if offset < fastest - RESYNC || self.outliers >= RESYNC_AFTER {
                // A new timeline (the timestamps jumped, or every picture is far off).
                *self = Playout::default();
                return self.show_at(ts, now, false);
            }
            if offset > fastest + max_delay {
                // Far later than the rest (an outage's retransmissions): shown at once, and
                // kept out of the statistics so that it does not delay what comes next.
                self.outliers += 1;
                return now;
            }
        }
        self.outliers = 0;
        self.recent.push_back((now, offset));
        let mut offsets: Vec<f64> = self.recent.iter().map(|(_, o)| *o).collect();
        offsets.sort_by(f64::total_cmp);
        self.fastest_ms = offsets[0];
        let target = offsets[(offsets.len() - 1) * 95 / 100];
        // The target offset moves smoothly (not the delay above the fastest transit, which
        // would jump whenever the fastest picture leaves the window), and never beyond the
        // cap.
        let smoothed = match self.target_ms {
            Some(t) if target < t => t - (t - target) * DECAY,
            _ => target,
        };
        self.target_ms = Some(smoothed.min(self.fastest_ms + max_delay));
        let wait = (smoothed.min(self.fastest_ms + max_delay) - offset).max(0.0);
        now + Duration::from_secs_f64(wait / 1e3)
    }

    /// The current playout delay.
    #[cfg(test)]
    pub fn delay(&self) -> Duration {
        Duration::from_secs_f64((self.target_ms.unwrap_or(0.0) - self.fastest_ms).max(0.0) / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_micros(66_667);
    const TICKS: u32 = 6_000;

    /// Shows 15 fps pictures whose network transit is `transit(i)`; returns the gaps between
    /// the show times, in ms.
    fn gaps(n: u32, transit: impl Fn(u32) -> Duration) -> (Vec<f64>, Playout) {
        let t0 = Instant::now();
        let mut p = Playout::default();
        let mut arrivals: Vec<(Instant, u32)> = (0..n).map(|i| (t0 + FRAME * i + transit(i), 1_000u32.wrapping_add(i * TICKS))).collect();
        // The decoder sees them in order (the reorder buffer holds later packets back).
        for i in 1..arrivals.len() {
            arrivals[i].0 = arrivals[i].0.max(arrivals[i - 1].0);
        }
        let shown: Vec<Instant> = arrivals.iter().map(|(at, ts)| p.show_at(*ts, *at, false)).collect();
        (shown.windows(2).map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1e3).collect(), p)
    }

    #[test]
    fn a_clean_link_adds_no_delay() {
        let (g, p) = gaps(100, |_| Duration::from_millis(5));
        assert!(p.delay() < Duration::from_millis(1), "{:?}", p.delay());
        assert!(g.iter().all(|g| (g - 66.7).abs() < 1.0), "{g:?}");
    }

    #[test]
    fn jitter_is_absorbed_and_pictures_keep_their_rhythm() {
        // 100 ms +- 30 ms transit (a pseudo-random walk over the range).
        let jitter = |i: u32| Duration::from_millis(70 + u64::from(i.wrapping_mul(2_654_435_761) >> 26) % 61);
        let (g, p) = gaps(300, jitter);
        let steady = &g[100..];
        let worst = steady.iter().map(|g| (g - 66.7).abs()).fold(0.0, f64::max);
        assert!(p.delay() >= Duration::from_millis(45) && p.delay() <= Duration::from_millis(61), "{:?}", p.delay());
        assert!(worst < 10.0, "gaps after the first second: {steady:?}");
        // Without playout the gaps are what the network made them.
        let raw: Vec<f64> =
            (1..300).map(|i| ((FRAME * i + jitter(i)).as_secs_f64() - (FRAME * (i - 1) + jitter(i - 1)).as_secs_f64()) * 1e3).collect();
        assert!(raw.iter().any(|g| (g - 66.7).abs() > 30.0), "the trace has jitter to absorb");
    }

    #[test]
    fn the_delay_is_capped_and_decays_after_a_burst_of_lateness() {
        let (_, p) = gaps(60, |i| Duration::from_millis(if i == 30 { 900 } else { 10 }));
        assert!(p.delay() <= MAX_DELAY, "{:?}", p.delay());
        let (_, p) = gaps(400, |i| Duration::from_millis(if (30..40).contains(&i) { 150 } else { 10 }));
        assert!(p.delay() < Duration::from_millis(20), "back down after the window: {:?}", p.delay());
    }

    #[test]
    fn an_outages_late_pictures_are_shown_at_once_and_do_not_delay_the_live_ones() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        for i in 0..30u32 {
            p.show_at(i * TICKS, t0 + FRAME * i + Duration::from_millis(5), false);
        }
        // A 2 s outage: pictures 30..39 come late all at once (retransmitted), then live ones.
        let back = t0 + FRAME * 60;
        for i in 30..40u32 {
            assert_eq!(p.show_at(i * TICKS, back, false), back, "stale picture {i} shown at once");
        }
        for i in 60..70u32 {
            let at = t0 + FRAME * i + Duration::from_millis(5);
            assert!(p.show_at(i * TICKS, at, false) <= at + Duration::from_millis(1), "live picture {i} not held");
        }
    }

    #[test]
    fn repaired_pictures_do_not_add_their_delay_to_the_others() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        for i in 0..200u32 {
            // Every third picture waited ~80 ms for a retransmission.
            let repaired = i % 3 == 0;
            let at = t0 + FRAME * i + Duration::from_millis(if repaired { 85 } else { 5 });
            let shown = p.show_at(i * TICKS, at, repaired);
            assert!(shown <= at + Duration::from_millis(1), "picture {i} held {:?}", shown.duration_since(at));
        }
        assert!(p.delay() < Duration::from_millis(1), "{:?}", p.delay());
    }

    #[test]
    fn a_late_start_does_not_hold_the_pictures_after_it() {
        // The first keyframe and the pictures queued behind it come 150 ms late, draining to
        // the path's 5 ms within half a second.
        let late = |i: u32| Duration::from_millis(5 + 150u64.saturating_sub(u64::from(i) * 20));
        let t0 = Instant::now();
        let mut p = Playout::default();
        for i in 0..90u32 {
            let at = t0 + FRAME * i + late(i);
            let shown = p.show_at(i * TICKS, at, false);
            assert!(shown <= at + Duration::from_millis(1), "picture {i} held {:?}", shown.duration_since(at));
        }
        assert!(p.delay() < Duration::from_millis(1), "{:?}", p.delay());
    }

    #[test]
    fn a_timestamp_jump_starts_a_new_timeline() {
        let t0 = Instant::now();
        let mut p = Playout::default();
        for i in 0..30u32 {
            p.show_at(i * TICKS, t0 + FRAME * i, false);
        }
        // The source changed: unrelated timestamps; shown at once, no huge wait.
        let at = t0 + FRAME * 30;
        assert!(p.show_at(3_000_000_000, at, false) <= at + Duration::from_millis(1));
        assert!(p.show_at(3_000_000_000 + TICKS, at + FRAME, false) <= at + FRAME + Duration::from_millis(1));
    }
}
