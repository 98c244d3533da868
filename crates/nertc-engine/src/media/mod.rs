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
pub mod reorder;
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
