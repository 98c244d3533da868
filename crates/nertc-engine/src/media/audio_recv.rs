//! Remote audio: RTP (one tokio task per remote audio track) -> that user's jitter buffer in
//! the mixer ([`super::audio_jitter`]) -> decoded at playout time, when the playout device (a
//! real device or the paced null speaker) pulls the mix every 10 ms.
//!
//! The receive task only files packets (a brief lock of its own user's stream); Opus decoding,
//! FEC, concealment and time-stretching run in [`Mixer::pull`], on the device's thread: one
//! Opus decode per user per 20 ms frame (two and a correlation search when time-stretching),
//! into reused buffers, never waiting on the network. Nothing is decoded while no device pulls
//! (the buffer keeps the newest 2.5 s and flushes down to its target delay once pulling
//! starts).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use nertc_protocol::Uid;

use super::EventSink;
use super::audio_jitter::{JitterBuffer, JitterConfig, JitterStats};
use crate::codec::opus::OpusDecoder;
use crate::event::EngineEvent;

/// Playout is mono 48 kHz; at most this much pushed PCM is buffered per user (older is dropped).
#[cfg_attr(not(test), allow(dead_code))] // with `push`
const MAX_QUEUE: usize = 48_000 / 5; // 200 ms
/// Pushed PCM starts playing once it holds this much (jitter cushion).
const START_THRESHOLD: usize = 48_000 / 25; // 40 ms

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A remote user's RTP audio: jitter buffer + decoder, and where its numbers go.
struct RtpAudio {
    jb: JitterBuffer<OpusDecoder>,
    stats: Arc<AudioRecvStats>,
    events: EventSink,
    announced: bool,
    /// The jitter buffer's dry-frame count at the last pull.
    dry: u64,
}

/// One user's audio in the mix: RTP through a jitter buffer, or PCM pushed as is.
#[derive(Default)]
struct Stream {
    /// PCM pushed with [`Mixer::push`], not yet played.
    queue: VecDeque<i16>,
    playing: bool,
    /// Level of what this user contributed to the last pull (0-255).
    level: u32,
    rtp: Option<RtpAudio>,
}

impl Stream {
    /// Fills `user` (mono) with this user's next block; false if it has nothing to play yet.
    /// Counts a dry jitter buffer or an empty queue in `underruns`.
    fn fill(&mut self, uid: Uid, user: &mut [i16], underruns: &AtomicU64) -> bool {
        if let Some(rtp) = &mut self.rtp {
            let active = rtp.jb.fill(user);
            let st = rtp.jb.stats();
            if st.ran_dry > rtp.dry {
                rtp.dry = st.ran_dry;
                underruns.fetch_add(1, Relaxed);
            }
            if !rtp.announced && st.decoded_frames > 0 {
                rtp.announced = true;
                rtp.events.send(EngineEvent::FirstAudioFrameDecoded { uid });
            }
            rtp.stats.publish(&st);
            return active;
        }
        let frames = user.len();
        if !self.playing {
            if self.queue.len() < START_THRESHOLD {
                return false;
            }
            self.playing = true;
        }
        if self.queue.len() < frames {
            underruns.fetch_add(1, Relaxed);
            self.playing = false;
        }
        let n = frames.min(self.queue.len());
        for (u, v) in user.iter_mut().zip(self.queue.drain(..n)) {
            *u = v;
        }
        user[n..].fill(0);
        true
    }
}

type StreamRef = Arc<Mutex<Stream>>;

#[derive(Default)]
struct Streams {
    by_uid: HashMap<Uid, StreamRef>,
    /// `adjustUserPlaybackSignalVolume`: per-user volume (0-100) where it is not 100; kept
    /// while the user is away (NERTC keeps it for a user who leaves and comes back).
    user_volume: HashMap<Uid, u32>,
    /// Scratch for `pull` (kept: no allocation per pull).
    mix: Vec<i32>,
    user: Vec<i16>,
}

/// The playout mix of every remote user. Locks: the stream map, then a user's stream; the
/// receive tasks lock only their own stream, briefly.
#[derive(Default)]
pub struct Mixer {
    streams: Mutex<Streams>,
    /// `adjustPlaybackSignalVolume`, 0-400.
    pub volume: AtomicU32,
    /// `adjustChannelPlaybackSignalVolume`, 0-400: the channel's remote users, on top of
    /// `volume`; back to 100 when the call ends.
    pub channel_volume: AtomicU32,
    /// Level of the last mixed block (0-255).
    pub mixed_level: AtomicU32,
    /// Blocks a playing user could not fill from real audio: its jitter buffer was empty (the
    /// frame was concealed) or its pushed PCM ran out.
    pub underruns: AtomicU64,
    /// Live stream tasks: each user's block, as mixed (set once, by `Shared`).
    pub live: std::sync::OnceLock<Arc<crate::live::LiveStreams>>,
}

impl Mixer {
    pub fn new() -> Arc<Self> {
        let m = Mixer::default();
        m.volume.store(100, Relaxed);
        m.channel_volume.store(100, Relaxed);
        Arc::new(m)
    }

    /// Queues decoded PCM (mono 48 kHz) for `uid`, played once 40 ms have gathered; at most
    /// 200 ms are kept. For audio that needs no jitter buffer; RTP goes through [`run`].
    // Kept for PCM sources that bypass RTP; only the tests use it today.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn push(&self, uid: Uid, pcm: &[i16]) {
        let s = lock(&self.streams).by_uid.entry(uid).or_default().clone();
        let mut s = lock(&s);
        s.rtp = None;
        s.queue.extend(pcm.iter().copied());
        let excess = s.queue.len().saturating_sub(MAX_QUEUE);
        s.queue.drain(..excess);
    }

    pub fn remove(&self, uid: Uid) {
        lock(&self.streams).by_uid.remove(&uid);
    }

    /// `adjustUserPlaybackSignalVolume`: `uid`'s audio at `volume` (0 mutes, 100 as received).
    pub fn set_user_volume(&self, uid: Uid, volume: u32) {
        let mut streams = lock(&self.streams);
        if volume == 100 {
            streams.user_volume.remove(&uid);
        } else {
            streams.user_volume.insert(uid, volume.min(100));
        }
    }

    /// The call ended: the per-user and channel playback volumes are NERTC's per-call settings.
    pub fn reset_call_volumes(&self) {
        lock(&self.streams).user_volume.clear();
        self.channel_volume.store(100, Relaxed);
    }

    /// Puts `uid`'s RTP audio in the mix (replacing what it had) and returns its stream.
    fn attach(&self, uid: Uid, rtp: RtpAudio) -> StreamRef {
        let s = Arc::new(Mutex::new(Stream { rtp: Some(rtp), ..Stream::default() }));
        lock(&self.streams).by_uid.insert(uid, s.clone());
        s
    }

    /// Takes `stream` out of the mix if it is still `uid`'s.
    fn detach(&self, uid: Uid, stream: &StreamRef) {
        let mut streams = lock(&self.streams);
        if streams.by_uid.get(&uid).is_some_and(|s| Arc::ptr_eq(s, stream)) {
            streams.by_uid.remove(&uid);
        }
    }

    /// Per-user levels of the audio each contributed to the last pull.
    pub fn levels(&self) -> Vec<(Uid, u32)> {
        let streams = lock(&self.streams);
        let mut v: Vec<(Uid, u32)> = streams.by_uid.iter().map(|(u, s)| (*u, lock(s).level)).collect();
        v.sort();
        v
    }

    /// Fills `out` (interleaved, `channels`) with the mix of every user. Called by the playout
    /// device every 10 ms: decodes what is due, never waits on the network.
    pub fn pull(&self, out: &mut [i16], channels: usize) {
        let channels = channels.max(1);
        let frames = out.len() / channels;
        let gain = super::gain(self.volume.load(Relaxed)) * super::gain(self.channel_volume.load(Relaxed));
        let mut guard = lock(&self.streams);
        let Streams { by_uid, user_volume, mix, user } = &mut *guard;
        mix.clear();
        mix.resize(frames, 0);
        user.resize(frames, 0);
        for (uid, s) in by_uid.iter() {
            let mut s = lock(s);
            if s.fill(*uid, user, &self.underruns) {
                if let Some(v) = user_volume.get(uid) {
                    super::apply_gain(user, super::gain(*v));
                }
                s.level = super::level_0_255(user);
                if let Some(live) = self.live.get() {
                    live.tap_user(*uid, user);
                }
                for (m, v) in mix.iter_mut().zip(user.iter()) {
                    *m += i32::from(*v);
                }
            } else {
                s.level = 0;
            }
        }
        for (i, m) in mix.iter().enumerate() {
            let v = (*m as f32 * gain).clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16;
            out[i * channels..(i + 1) * channels].fill(v);
            user[i] = v;
        }
        out[frames * channels..].fill(0);
        self.mixed_level.store(super::level_0_255(user), Relaxed);
    }
}

/// One remote audio track's receive statistics: totals since it started, and gauges. The
/// jitter-buffer fields are refreshed on every packet and every 10 ms pull (definitions in
/// [`super::audio_jitter`]; see its "Frozen audio" section for `frozen_*`).
#[derive(Debug, Default)]
pub struct AudioRecvStats {
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// RTP packets received (duplicates included).
    pub packets: AtomicU64,
    /// Packets lost on the network, before FEC or concealment: expected (from sequence
    /// numbers) minus received, RFC 3550 style (a late or reordered packet is not lost).
    pub lost: AtomicU64,
    /// Packets discarded because they arrived after their playout time.
    pub late_discarded: AtomicU64,
    /// Packets discarded as duplicates.
    pub duplicate_discarded: AtomicU64,
    /// Packets discarded to bound the delay (buffer full, or flushed far above target).
    pub overflow_discarded: AtomicU64,
    /// 20 ms (packet-duration) frames decoded from received packets and played.
    pub decoded_frames: AtomicU64,
    /// Missing frames rebuilt from the next packet's in-band FEC.
    pub fec_recovered: AtomicU64,
    /// Missing frames synthesised by Opus PLC (full level or fading out).
    pub plc_frames: AtomicU64,
    /// Missing frames played as silence: a loss run past its 160 ms fade-out.
    pub muted_frames: AtomicU64,
    /// Concealment events: runs of consecutive concealed frames (PLC or silence) started.
    pub concealment_events: AtomicU64,
    /// Audio freezes: loss runs (consecutive concealed frames, dry buffer included, FEC not)
    /// that reached 200 ms; each counts once.
    pub frozen_count: AtomicU64,
    /// Total length of those runs in ms, each from its first concealed frame.
    pub frozen_ms: AtomicU64,
    /// Time-stretch operations that shortened / lengthened the audio to track the target.
    pub accelerated: AtomicU64,
    pub expanded: AtomicU64,
    /// Gauge: audio buffered ahead of playout (packets + decoded), ms.
    pub jitter_buffer_ms: AtomicU32,
    /// Gauge: the delay the jitter buffer steers to, ms.
    pub target_delay_ms: AtomicU32,
    /// Gauge: arrival jitter, the 95th percentile of the relative arrival delay over 2 s, ms.
    pub jitter_ms: AtomicU32,
}

impl AudioRecvStats {
    /// Audio played so far for this stream, ms: every 20 ms frame decoded, recovered or
    /// concealed.
    pub fn played_ms(&self) -> u64 {
        let frames = [&self.decoded_frames, &self.fec_recovered, &self.plc_frames, &self.muted_frames];
        frames.iter().map(|c| c.load(Relaxed)).sum::<u64>() * 20
    }

    fn publish(&self, s: &JitterStats) {
        self.lost.store(s.lost, Relaxed);
        self.late_discarded.store(s.late, Relaxed);
        self.duplicate_discarded.store(s.duplicate, Relaxed);
        self.overflow_discarded.store(s.overflow, Relaxed);
        self.decoded_frames.store(s.decoded_frames, Relaxed);
        self.fec_recovered.store(s.fec_frames, Relaxed);
        self.plc_frames.store(s.plc_frames, Relaxed);
        self.muted_frames.store(s.muted_frames, Relaxed);
        self.concealment_events.store(s.concealment_events, Relaxed);
        self.frozen_count.store(s.frozen_count, Relaxed);
        self.frozen_ms.store(s.frozen_ms, Relaxed);
        self.accelerated.store(s.accelerated, Relaxed);
        self.expanded.store(s.expanded, Relaxed);
        self.jitter_buffer_ms.store(s.delay_ms, Relaxed);
        self.target_delay_ms.store(s.target_ms, Relaxed);
        self.jitter_ms.store(s.jitter_ms, Relaxed);
    }
}

/// Takes the stream out of the mix when the receive task ends or is aborted.
struct Detach {
    mixer: Arc<Mixer>,
    uid: Uid,
    stream: StreamRef,
}

impl Drop for Detach {
    fn drop(&mut self) {
        self.mixer.detach(self.uid, &self.stream);
    }
}

/// Receives until the track ends; spawn it on the engine runtime.
///
/// With `key` (enableEncryption) packets are opened before they are filed; without one sealed
/// packets are dropped. What cannot be opened is dropped and reported ([`crate::crypto`]).
pub async fn run(
    track: Arc<dyn TrackRemote>,
    uid: Uid,
    mixer: Arc<Mixer>,
    events: EventSink,
    stats: Arc<AudioRecvStats>,
    key: Option<Arc<crate::crypto::MediaKey>>,
) {
    let decoder = match OpusDecoder::new(super::audio_send::SAMPLE_RATE, 1) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("cannot create the Opus decoder: {e}");
            return;
        }
    };
    let jb = JitterBuffer::new(JitterConfig::default(), decoder);
    let stream = mixer.attach(uid, RtpAudio { jb, stats: stats.clone(), events: events.clone(), announced: false, dry: 0 });
    let _detach = Detach { mixer, uid, stream: stream.clone() };
    let mut first_packet = true;
    let mut ssrc = None;
    let mut mismatch = crate::crypto::Mismatch::default();
    while let Some(ev) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let arrival = Instant::now();
        if first_packet {
            first_packet = false;
            events.send(EngineEvent::FirstAudioDataReceived { uid });
        }
        stats.packets.fetch_add(1, Relaxed);
        stats.bytes.fetch_add(pkt.payload.len() as u64, Relaxed);
        let payload = match crate::crypto::open_audio(key.as_deref(), &pkt.payload) {
            Ok(p) => p,
            Err(why) => {
                mismatch.dropped(uid, "audio", why, &events);
                continue;
            }
        };
        let mut s = lock(&stream);
        let Some(rtp) = s.rtp.as_mut() else { break };
        if ssrc.replace(pkt.header.ssrc).is_some_and(|old| old != pkt.header.ssrc) {
            rtp.jb.reset();
        }
        rtp.jb.insert(pkt.header.sequence_number, pkt.header.timestamp, &payload, arrival);
        stats.publish(&rtp.jb.stats());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::opus::OpusEncoder;
    use crate::device::tone::{Tone, tone_power};
    use std::time::Duration;

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
        assert_eq!(m.levels().len(), 2);
        m.remove(1);
        assert_eq!(m.levels().iter().map(|(u, _)| *u).collect::<Vec<_>>(), vec![2]);
    }

    /// `adjustUserPlaybackSignalVolume` scales one user (0 silences it, its level too),
    /// `adjustChannelPlaybackSignalVolume` the whole mix; both end with the call.
    #[test]
    fn user_and_channel_volumes() {
        let m = Mixer::new();
        m.push(1, &[1000; 4800]);
        m.push(2, &[400; 4800]);
        let mut out = vec![0i16; 480];
        m.set_user_volume(1, 0);
        m.pull(&mut out, 1);
        assert!(out.iter().all(|s| *s == 400), "user 1 muted: {}", out[0]);
        assert_eq!(m.levels().iter().find(|(u, _)| *u == 1).map(|(_, l)| *l), Some(0), "a muted user's level is 0");
        m.set_user_volume(1, 50);
        m.channel_volume.store(200, Relaxed);
        m.pull(&mut out, 1);
        assert_eq!(out[0], 1800, "(1000 * 0.5 + 400) * 2");
        m.reset_call_volumes();
        m.pull(&mut out, 1);
        assert_eq!(out[0], 1400);
    }

    /// RTP audio in the mix: buffered to the target delay, decoded at pull time (10 ms pulls
    /// of 20 ms packets), with stats published and one FirstAudioFrameDecoded; a dry buffer
    /// counts as an underrun; detaching removes only the stream attached.
    #[test]
    fn mixer_plays_rtp_through_the_jitter_buffer() {
        let m = Mixer::new();
        let (events, rx) = crate::event::Events::channel();
        let stats = Arc::new(AudioRecvStats::default());
        let jb = JitterBuffer::new(JitterConfig::default(), OpusDecoder::new(48_000, 1).expect("decoder"));
        let stream = m.attach(7, RtpAudio { jb, stats: stats.clone(), events, announced: false, dry: 0 });
        let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
        let mut tone = Tone::new(440.0, 48_000, 1, 0.3);
        let t0 = Instant::now();
        let mut out = vec![0i16; 960];
        let mut played = Vec::new();
        for k in 0..100u16 {
            let pkt = enc.encode(&tone.next_frame(960)).expect("encode");
            if let Some(rtp) = lock(&stream).rtp.as_mut() {
                rtp.jb.insert(k, u32::from(k) * 960, &pkt, t0 + Duration::from_millis(20 * u64::from(k)));
            }
            for _ in 0..2 {
                m.pull(&mut out, 2);
                played.extend(out.iter().step_by(2).copied());
            }
        }
        let tail = &played[played.len() - 48_000..];
        assert!(tone_power(tail, 48_000, 1, 440.0) > -16.0, "the tone plays");
        assert!(m.levels().iter().any(|(u, l)| *u == 7 && *l > 20));
        assert_eq!(rx.try_iter().filter(|e| matches!(e, EngineEvent::FirstAudioFrameDecoded { uid: 7 })).count(), 1);
        assert!(stats.decoded_frames.load(Relaxed) > 90);
        assert_eq!(stats.lost.load(Relaxed), 0);
        let delay = stats.jitter_buffer_ms.load(Relaxed);
        assert!((10..=80).contains(&delay), "{delay} ms buffered");
        // The sender stops: the buffer runs dry, conceals, then fades to silence.
        let before = m.underruns.load(Relaxed);
        for _ in 0..40 {
            m.pull(&mut out, 2);
        }
        assert!(m.underruns.load(Relaxed) > before);
        assert!(out.iter().all(|s| *s == 0), "faded out");
        assert_eq!(stats.frozen_count.load(Relaxed), 1);

        let other = Arc::new(Mutex::new(Stream::default()));
        m.detach(7, &other);
        assert_eq!(m.levels().len(), 1, "not the stream attached: kept");
        m.detach(7, &stream);
        assert!(m.levels().is_empty());
    }
}
