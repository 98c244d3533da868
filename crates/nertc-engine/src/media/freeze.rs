//! Freezes of a received video stream: a freeze is a gap between two decoded frames longer
//! than max(500 ms, 3 × the stream's recent frame interval) (NERTC counts a stall over 500 ms;
//! the relative part keeps a 2 fps stream from freezing all the time). Frozen time adds up the
//! whole length of those gaps, and is counted when the next frame arrives.

use std::time::{Duration, Instant};

/// Gaps at least this long are freezes whatever the frame rate.
pub const MIN_FREEZE: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct FreezeMeter {
    last: Option<Instant>,
    /// Moving average of the intervals that were not freezes.
    avg: Option<Duration>,
    pub freezes: u64,
    pub frozen: Duration,
}

impl FreezeMeter {
    /// A frame was decoded at `now`.
    pub fn frame(&mut self, now: Instant) {
        let Some(last) = self.last.replace(now) else { return };
        let gap = now.saturating_duration_since(last);
        let threshold = self.avg.map_or(MIN_FREEZE, |a| MIN_FREEZE.max(a * 3));
        if gap > threshold {
            self.freezes += 1;
            self.frozen += gap;
        } else {
            // Exponential average, weight 1/8 for the newest interval.
            self.avg = Some(self.avg.map_or(gap, |a| (a * 7 + gap) / 8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        // A fixed origin keeps the arithmetic exact.
        static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *ORIGIN.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn steady_frames_do_not_freeze() {
        let mut m = FreezeMeter::default();
        for i in 0..100 {
            m.frame(at(i * 66));
        }
        assert_eq!((m.freezes, m.frozen), (0, Duration::ZERO));
    }

    #[test]
    fn a_stall_is_one_freeze_of_its_whole_length() {
        let mut m = FreezeMeter::default();
        for i in 0..30 {
            m.frame(at(i * 66));
        }
        m.frame(at(29 * 66 + 2300));
        m.frame(at(29 * 66 + 2366));
        assert_eq!(m.freezes, 1);
        assert_eq!(m.frozen, Duration::from_millis(2300));
        // Just under the floor is not a freeze at 15 fps.
        m.frame(at(29 * 66 + 2366 + 499));
        assert_eq!(m.freezes, 1);
    }

    #[test]
    fn a_slow_stream_freezes_relative_to_its_own_rate() {
        let mut m = FreezeMeter::default();
        for i in 0..20 {
            m.frame(at(i * 500)); // 2 fps
        }
        m.frame(at(19 * 500 + 1400));
        assert_eq!(m.freezes, 0, "1.4 s is under 3 x 500 ms");
        m.frame(at(19 * 500 + 1400 + 2000)); // the average is now 612 ms: threshold 1.84 s
        assert_eq!(m.freezes, 1);
    }
}
