//! Remote audio: RTP (tokio task) -> Opus decode -> a bounded queue per user -> the mixer,
//! which the playout device pulls every 10 ms (real device or the paced null speaker).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::Uid;

use super::EventSink;
use crate::codec::opus::OpusDecoder;
use crate::event::EngineEvent;

/// Playout is mono 48 kHz; at most this much audio is buffered per user (older is dropped).
const MAX_QUEUE: usize = 48_000 / 5; // 200 ms
/// A user's queue starts playing once it holds this much (jitter cushion).
const START_THRESHOLD: usize = 48_000 / 25; // 40 ms

#[derive(Default)]
struct Stream {
    queue: VecDeque<i16>,
    playing: bool,
    level: u32,
}

#[derive(Default)]
pub struct Mixer {
    streams: Mutex<HashMap<Uid, Stream>>,
    /// `adjustPlaybackSignalVolume`, 0-400.
    pub volume: AtomicU32,
    /// Level of the last mixed block (0-255).
    pub mixed_level: AtomicU32,
    pub underruns: AtomicU64,
}

impl Mixer {
    pub fn new() -> Arc<Self> {
        let m = Mixer::default();
        m.volume.store(100, Relaxed);
        Arc::new(m)
    }

    pub fn push(&self, uid: Uid, pcm: &[i16]) {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let s = streams.entry(uid).or_default();
        s.level = super::level_0_255(pcm);
        s.queue.extend(pcm.iter().copied());
        while s.queue.len() > MAX_QUEUE {
            s.queue.pop_front();
        }
    }

    pub fn remove(&self, uid: Uid) {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).remove(&uid);
    }

    /// Per-user levels of the most recent decoded audio.
    pub fn levels(&self) -> Vec<(Uid, u32)> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<(Uid, u32)> = streams.iter().map(|(u, s)| (*u, s.level)).collect();
        v.sort();
        v
    }

    /// Fills `out` (interleaved, `channels`) with the mix of every user.
    pub fn pull(&self, out: &mut [i16], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        let mut mix = vec![0i32; frames];
        {
            let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
            for s in streams.values_mut() {
                if !s.playing {
                    if s.queue.len() < START_THRESHOLD {
                        continue;
                    }
                    s.playing = true;
                }
                if s.queue.len() < frames {
                    self.underruns.fetch_add(1, Relaxed);
                    s.playing = false;
                }
                for (m, v) in mix.iter_mut().zip(s.queue.drain(..frames.min(s.queue.len()))) {
                    *m += v as i32;
                }
            }
        }
        let gain = super::gain(self.volume.load(Relaxed));
        let mut block = Vec::with_capacity(frames);
        for (i, m) in mix.iter().enumerate() {
            let v = (*m as f32 * gain).clamp(i16::MIN as f32, i16::MAX as f32) as i16;
            block.push(v);
            for c in 0..channels {
                out[i * channels + c] = v;
            }
        }
        self.mixed_level.store(super::level_0_255(&block), Relaxed);
    }
}

#[derive(Debug, Default)]
pub struct AudioRecvStats {
    pub bytes: AtomicU64,
    pub packets: AtomicU64,
    pub lost: AtomicU64,
}

/// Receives until the track ends; spawn it on the engine runtime.
pub async fn run(track: Arc<dyn TrackRemote>, uid: Uid, mixer: Arc<Mixer>, events: EventSink, stats: Arc<AudioRecvStats>) {
    let mut decoder = match OpusDecoder::new(super::audio_send::SAMPLE_RATE, 1) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("cannot create the Opus decoder: {e}");
            return;
        }
    };
    let mut first_packet = true;
    let mut first_decoded = true;
    let mut seqs = super::SeqTracker::default();
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        if first_packet {
            first_packet = false;
            events.send(EngineEvent::FirstAudioDataReceived { uid });
        }
        stats.packets.fetch_add(1, Relaxed);
        stats.bytes.fetch_add(pkt.payload.len() as u64, Relaxed);
        let Some(lost) = seqs.next(pkt.header.sequence_number) else { continue };
        stats.lost.fetch_add(u64::from(lost), Relaxed);
        // Conceal up to 5 lost frames.
        for _ in 0..lost.min(5) {
            mixer.push(uid, &decoder.decode_lost());
        }
        match decoder.decode(&pkt.payload) {
            Ok(pcm) => {
                if first_decoded {
                    first_decoded = false;
                    events.send(EngineEvent::FirstAudioFrameDecoded { uid });
                }
                mixer.push(uid, &pcm);
            }
            Err(e) => tracing::debug!(uid, "opus decode: {e}"),
        }
    }
    mixer.remove(uid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixer_sums_users_after_the_cushion() {
        let m = Mixer::new();
        m.push(1, &[1000; 480]);
        m.push(2, &[500; 2400]);
        let mut out = vec![0i16; 960];
        m.pull(&mut out, 2);
        // User 1 has only 10 ms (< 40 ms cushion): not yet playing; user 2 plays.
        assert!(out.iter().all(|s| *s == 500));
        m.push(1, &[1000; 2400]);
        m.pull(&mut out, 2);
        assert!(out.iter().all(|s| *s == 1500));
        m.volume.store(200, Relaxed);
        m.pull(&mut out, 1);
        assert_eq!(out[0], 3000);
    }
}
