//! Media pipelines. Threads and data flow:
//!
//! ```text
//! camera / test pattern / JS push -> [bounded 2, drop oldest] -> video encoder thread
//!      -> local preview slot, openh264 -> H.264 samples -> publish track (webrtc-rs)
//! mic / tone / JS push -> [bounded] -> audio encoder thread -> Opus -> publish track
//! remote video RTP (tokio task) -> H.264 depacketizer -> [bounded] -> decoder thread -> slot
//! remote audio RTP (tokio task) -> jitter buffer per user <- mixer (Opus decode, FEC, PLC,
//!     time-stretch to the adaptive delay) <- playout thread
//! ```
//! Encoder and decoder threads are plain OS threads (codec work never runs on the async
//! runtime); they write into webrtc-rs through the runtime handle.

pub mod audio_jitter;
pub mod audio_recv;
pub mod audio_send;
pub mod freeze;
pub mod publish_fallback;
pub mod reorder;
pub mod video_playout;
pub mod video_recv;
pub mod video_send;

/// A codec thread fed through a bounded queue. Dropping it closes the queue (the thread ends
/// once every other sender, e.g. a capture callback's, is gone too, after at most the item it
/// is working on) and joins the thread: no codec thread outlives its owner.
pub(crate) struct Worker<T> {
    input: crossbeam_channel::Sender<T>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    pub fn spawn(name: &str, capacity: usize, run: impl FnOnce(crossbeam_channel::Receiver<T>) + Send + 'static) -> std::io::Result<Self> {
        let (input, rx) = crossbeam_channel::bounded(capacity);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || run(rx))?;
        Ok(Worker { input, thread: Some(thread) })
    }

    pub fn input(&self) -> &crossbeam_channel::Sender<T> {
        &self.input
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        let (closed, _) = crossbeam_channel::bounded(1);
        drop(std::mem::replace(&mut self.input, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where pipeline threads report events (bounded, never blocks).
pub type EventSink = crate::event::Events;

/// Clamp `v` into 0..=400 and return the linear gain (100 = unity).
pub fn gain(volume_0_400: u32) -> f32 {
    volume_0_400.min(400) as f32 / 100.0
}

/// Applies `gain` to PCM in place, saturating.
pub fn apply_gain(pcm: &mut [i16], gain: f32) {
    if (gain - 1.0).abs() < f32::EPSILON {
        return;
    }
    for s in pcm {
        *s = (*s as f32 * gain).clamp(i16::MIN as f32, i16::MAX as f32) as i16;
    }
}

/// Level of a PCM block on NERTC's 0-255 volume scale (RMS, linear).
pub fn level_0_255(pcm: &[i16]) -> u32 {
    if pcm.is_empty() {
        return 0;
    }
    let sum: f64 = pcm.iter().map(|s| (*s as f64) * (*s as f64)).sum();
    let rms = (sum / pcm.len() as f64).sqrt() / i16::MAX as f64;
    ((rms * 2.0).min(1.0) * 255.0).round() as u32
}

/// Tracks RTP sequence numbers of one stream.
#[derive(Debug, Default)]
pub struct SeqTracker {
    last: Option<u16>,
}

impl SeqTracker {
    /// None for a duplicate or a late (reordered) packet, which the caller drops; otherwise the
    /// number of packets lost just before this one (0 when in order).
    pub fn next(&mut self, seq: u16) -> Option<u16> {
        let lost = match self.last {
            None => 0,
            Some(prev) => {
                let gap = seq.wrapping_sub(prev);
                if gap == 0 || gap > 0x8000 {
                    return None;
                }
                gap - 1
            }
        };
        self.last = Some(seq);
        Some(lost)
    }
}

/// Interarrival jitter of an RTP stream, RFC 3550 §6.4.1: the mean deviation of the spacing
/// of arrivals from the spacing of RTP timestamps, smoothed with gain 1/16 (what an RTCP
/// receiver report carries). Packets of one video frame share a timestamp, so their arrival
/// spread counts too, as in every RTCP implementation.
#[derive(Debug, Default)]
pub struct ArrivalJitter {
    last: Option<(u32, std::time::Instant)>,
    /// In RTP clock units.
    jitter: f64,
}

impl ArrivalJitter {
    /// A packet with RTP timestamp `ts` arrived at `at`; the stream's clock runs at `clock_hz`.
    pub fn packet(&mut self, ts: u32, at: std::time::Instant, clock_hz: u32) {
        if let Some((last_ts, last_at)) = self.last.replace((ts, at)) {
            let arrival = at.saturating_duration_since(last_at).as_secs_f64() * f64::from(clock_hz);
            let sent = f64::from(ts.wrapping_sub(last_ts) as i32);
            self.jitter += ((arrival - sent).abs() - self.jitter) / 16.0;
        }
    }

    /// The current estimate in ms.
    pub fn ms(&self, clock_hz: u32) -> u32 {
        (self.jitter * 1000.0 / f64::from(clock_hz.max(1))).round() as u32
    }
}

#[cfg(test)]
mod jitter_tests {
    use std::time::{Duration, Instant};

    use super::ArrivalJitter;

    #[test]
    fn steady_arrivals_have_no_jitter_and_alternating_delays_do() {
        let t0 = Instant::now();
        let mut steady = ArrivalJitter::default();
        for i in 0..100u32 {
            steady.packet(i * 3000, t0 + Duration::from_millis(u64::from(i) * 1000 / 30), 90_000);
        }
        assert!(steady.ms(90_000) <= 1, "{}", steady.ms(90_000));
        // Every other packet 20 ms late: each spacing is off by 20 ms.
        let mut bumpy = ArrivalJitter::default();
        for i in 0..200u32 {
            let late = if i % 2 == 1 { 20 } else { 0 };
            bumpy.packet(
                i.wrapping_mul(3000).wrapping_add(u32::MAX - 50_000),
                t0 + Duration::from_millis(u64::from(i) * 1000 / 30 + late),
                90_000,
            );
        }
        assert!((18..=21).contains(&bumpy.ms(90_000)), "{}", bumpy.ms(90_000));
    }
}

#[cfg(test)]
mod seq_tests {
    use super::SeqTracker;

    #[test]
    fn gaps_duplicates_and_wraparound() {
        let mut s = SeqTracker::default();
        assert_eq!(s.next(65534), Some(0));
        assert_eq!(s.next(65535), Some(0));
        assert_eq!(s.next(65535), None);
        assert_eq!(s.next(2), Some(2));
        assert_eq!(s.next(1), None);
    }
}
