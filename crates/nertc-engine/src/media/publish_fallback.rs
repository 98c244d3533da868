//! `setLocalPublishFallbackOption(2)`: the camera's video stops while the uplink cannot carry
//! even the least video next to the audio, and is tried again later.
//!
//! The uplink estimate ([`nertc_rtc::cc`]) decides. Under [`FALLBACK_BELOW_BPS`] (the
//! audio as it goes on the wire plus the encoder's floor, [`MIN_VIDEO_KBPS`], at its
//! [`VIDEO_SHARE`]) for [`FALLBACK_AFTER`], the encoder stops (audio only): the estimator sees
//! the audio alone then, so it cannot tell when the link got better. The video is tried again
//! after [`FIRST_RETRY`], then after twice as long each time a try fails (up to [`MAX_RETRY`]):
//! a try fails when the video stops again within [`RESUME_GRACE`] plus [`FALLBACK_AFTER`]
//! (and a second) of it (the grace lets the estimate climb from where the audio alone left it). Each change
//! is `onLocalPublishFallbackToAudioOnly(is_fallback, 0)`.

use std::time::{Duration, Instant};

use super::video_send::{MIN_VIDEO_KBPS, VIDEO_SHARE};

/// Our audio on the wire, kbit/s: Opus at 32 kbit/s in 50 packets a second, each with about
/// 62 bytes of IPv4, UDP, RTP, header extension and SRTP tag.
const AUDIO_ON_WIRE_KBPS: u64 = 32 + 50 * 62 * 8 / 1000;
/// Under this estimate the least video the encoder makes does not fit next to the audio.
pub const FALLBACK_BELOW_BPS: u64 = (AUDIO_ON_WIRE_KBPS + (MIN_VIDEO_KBPS as f64 / VIDEO_SHARE) as u64) * 1000;
/// How long the estimate stays under [`FALLBACK_BELOW_BPS`] before the video stops.
pub const FALLBACK_AFTER: Duration = Duration::from_secs(2);
/// After a resume the estimate is not judged for this long.
pub const RESUME_GRACE: Duration = Duration::from_secs(3);
/// The first try after a fallback comes this long after it.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
pub const MAX_RETRY: Duration = Duration::from_secs(40);
/// A fallback this soon after a resume means the try failed.
const PROBATION: Duration = Duration::from_secs(RESUME_GRACE.as_secs() + FALLBACK_AFTER.as_secs() + 1);

#[derive(Debug, Default)]
pub struct PublishFallback {
    audio_only: bool,
    /// Since when the estimate is low (video on).
    low_since: Option<Instant>,
    /// The last resume, while it is on probation.
    resumed_at: Option<Instant>,
    /// Audio only: when to try the video again.
    retry_at: Option<Instant>,
    /// The wait before the next try.
    backoff: Duration,
}

impl PublishFallback {
    pub fn audio_only(&self) -> bool {
        self.audio_only
    }

    /// Called often (every 100 ms): `enabled` is option 2 with the camera's video published,
    /// `estimate_bps` the uplink estimate. Returns the new state when it changes (true: audio
    /// only).
    pub fn tick(&mut self, now: Instant, enabled: bool, estimate_bps: Option<u64>) -> Option<bool> {
        if !enabled {
            let was = self.audio_only;
            *self = PublishFallback::default();
            return was.then_some(false);
        }
        if self.audio_only {
            if self.retry_at.is_some_and(|t| now >= t) {
                self.audio_only = false;
                self.retry_at = None;
                self.resumed_at = Some(now);
                self.low_since = None;
                return Some(false);
            }
            return None;
        }
        let on_probation = self.resumed_at.is_some_and(|t| now < t + PROBATION);
        if self.resumed_at.is_some_and(|t| now < t + RESUME_GRACE) {
            return None;
        }
        if !on_probation {
            // The last try held (or there was none): the next fallback starts over.
            self.resumed_at = None;
        }
        if estimate_bps.is_none_or(|b| b >= FALLBACK_BELOW_BPS) {
            self.low_since = None;
            return None;
        }
        let since = *self.low_since.get_or_insert(now);
        if now.duration_since(since) < FALLBACK_AFTER {
            return None;
        }
        self.backoff = if on_probation { (self.backoff * 2).clamp(FIRST_RETRY, MAX_RETRY) } else { FIRST_RETRY };
        self.audio_only = true;
        self.low_since = None;
        self.retry_at = Some(now + self.backoff);
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` every 100 ms from `t` for `d`, collecting the changes with their times.
    fn run(fb: &mut PublishFallback, t: &mut Instant, d: Duration, estimate: Option<u64>) -> Vec<(Duration, bool)> {
        let (start, end) = (*t, *t + d);
        let mut out = Vec::new();
        while *t < end {
            if let Some(c) = fb.tick(*t, true, estimate) {
                out.push((t.duration_since(start), c));
            }
            *t += Duration::from_millis(100);
        }
        out
    }

    #[test]
    fn a_low_estimate_stops_the_video_after_two_seconds_and_a_good_one_never_does() {
        let (mut fb, mut t) = (PublishFallback::default(), Instant::now());
        assert!(run(&mut fb, &mut t, Duration::from_secs(30), Some(300_000)).is_empty());
        assert!(run(&mut fb, &mut t, Duration::from_secs(30), None).is_empty(), "no estimate yet: nothing to judge");
        let changes = run(&mut fb, &mut t, Duration::from_secs(3), Some(80_000));
        assert_eq!(changes, [(Duration::from_secs(2), true)]);
        assert!(fb.audio_only);
    }

    #[test]
    fn failed_tries_back_off_and_a_held_one_starts_over() {
        let (mut fb, mut t) = (PublishFallback::default(), Instant::now());
        let ms = |v: u64| Duration::from_millis(v);
        // Still capped: each try fails 5 s after it (3 s grace, 2 s low); waits 5, 10, 20, 40, 40 s.
        let changes = run(&mut fb, &mut t, Duration::from_secs(150), Some(80_000));
        let tries: Vec<Duration> = changes.windows(2).filter(|w| w[0].1 && !w[1].1).map(|w| w[1].0 - w[0].0).collect();
        assert_eq!(tries, [ms(5000), ms(10_000), ms(20_000), ms(40_000), ms(40_000)], "{changes:?}");
        // The link is good again: the next try holds, and a later fallback waits 5 s again.
        while fb.audio_only {
            fb.tick(t, true, Some(500_000));
            t += ms(100);
        }
        assert!(run(&mut fb, &mut t, Duration::from_secs(10), Some(500_000)).is_empty());
        let changes = run(&mut fb, &mut t, Duration::from_secs(10), Some(80_000));
        assert_eq!(changes.iter().map(|c| c.1).collect::<Vec<_>>(), [true, false]);
        assert_eq!(changes[1].0 - changes[0].0, ms(5000));
    }

    #[test]
    fn turning_the_option_off_resumes_the_video() {
        let (mut fb, mut t) = (PublishFallback::default(), Instant::now());
        run(&mut fb, &mut t, Duration::from_secs(3), Some(80_000));
        assert!(fb.audio_only);
        assert_eq!(fb.tick(t, false, Some(80_000)), Some(false));
        assert_eq!(fb.tick(t, false, Some(80_000)), None);
    }
}
