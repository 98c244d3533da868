//! The remote-audio jitter buffer ("NetEq-lite"): RTP packets go in as they arrive, 48 kHz mono
//! PCM comes out at the playout device's pace, decoded at playout time. Pure logic (no I/O, no
//! clock of its own: arrival times are passed in), generic over the decoder so that tests run
//! it with the real Opus codec and a fake clock.
//!
//! # Packets in ([`JitterBuffer::insert`])
//! RTP sequence numbers are unwrapped to 64 bits (nearest to the highest seen); timestamps
//! are compared with wrapping arithmetic. Discarded and counted: duplicates (a 128-packet
//! history of what arrived), packets whose playout time has passed ("late": their sequence
//! number is below the next one to play), and, past 128 held packets, the oldest
//! ("overflow"). A sequence number more than 500 packets ahead, or three in a row more than
//! 500 behind, means the sender restarted: the buffer starts over (as does an SSRC change,
//! through [`JitterBuffer::reset`]).
//!
//! # Jitter estimate and target delay
//! Every packet that is not a duplicate (late ones included: they are the evidence) gives a
//! transit time, arrival time minus RTP timestamp (constant offsets cancel). Its *relative
//! delay* is its transit minus the smallest transit of the last 2 s; the jitter estimate is
//! the 95th percentile of the relative delays of the last 2 s (at most 512 packets). The raw
//! target is `p95 + packet duration + 10 ms` (the packet being played must be there, plus a
//! margin for the 10 ms pull granularity), plus one more packet duration while losses are
//! being concealed (up to 10 s after the last miss) so that the packet after a lost one is
//! usually there in time for FEC. It is clamped to `min_delay_ms..=max_delay_ms` (20..=300 by
//! default). Fast attack, slow decay: a raw target above the current one is taken at once; a
//! lower one is approached exponentially with a 4 s time constant. Before the first packet the
//! target is `initial_delay_ms` (60).
//!
//! # Buffer level and convergence
//! The *level* (the reported jitter-buffer delay) is the audio held ahead of the playout
//! point: the timestamp span from the play cursor to the end of the newest packet (holes
//! included) plus decoded samples not yet pulled. Playout starts once the level reaches the
//! target. Each decoded frame updates a smoothed level (exponential, α = 0.1 per frame,
//! corrected at once by what time-stretching adds or removes), which converges to the target
//! by time-scale modification of decoded speech (a WSOLA-style single splice):
//! - more than one packet duration above target: *accelerate* — decode the next packet too
//!   and cut 10-20 ms out of the two frames at the lag (searched between half and one frame)
//!   where the waveform best matches itself (normalised cross-correlation over 10 ms, coarse
//!   search on every 2nd sample then refined), cross-fading over 10 ms;
//! - more than half a packet duration below target: *expand* — repeat 5-15 ms of the frame at
//!   its best self-matching lag, cross-fading over 5 ms.
//!
//! A splice is made only when the match is good (correlation ≥ 0.7: voiced speech, tones) or
//! the audio is near-silent (RMS below -40 dBFS), at most once every 2 frames; after 10
//! decisions in a row that wanted one but found no good match (noise-like audio) it is forced.
//! Periodic signals come out without a click (the cut or repeat is a whole number of pitch
//! periods), which is why this was chosen over dropping whole frames or inserting PLC frames.
//! A level more than 200 ms above target (no one pulled for a while) is flushed at once: the
//! oldest packets are dropped (counted as overflow) and playout resumes with a fade-in.
//!
//! Steering compares the level right after a frame is decoded (that frame included) with the
//! target; the delay reported between pulls therefore averages up to a packet below the
//! target. Cost per frame: one decode, on a splice one more decode and a ~30k multiply-add
//! correlation search. Once its buffers have grown, the pull side only frees played packets
//! and allocates a few bytes when it checks a packet for FEC.
//!
//! # Missing packets (at their playout time, never earlier)
//! - The packet right after it is here and carries in-band FEC: rebuild the frame from it
//!   (Opus LBRR). FEC-recovered frames count as received audio.
//! - Otherwise Opus PLC. Concealment runs at full level for 80 ms, then fades linearly to
//!   silence over the next 80 ms; from there on it is silence (PLC no longer called). The next
//!   real frame after silence restarts the decoder (no stale state) and fades in over 5 ms.
//! - The buffer ran dry (nothing held at all): concealed the same way, and the play cursor
//!   moves on. If the missing packet then arrives while the buffer is still dry, playout
//!   rewinds to it instead of discarding it as late (the network delay grew: playout delay
//!   grows with it, and the estimator raises the target).
//! - A timestamp jump with consecutive sequence numbers (the sender paused, e.g. DTX) is
//!   filled the same way but is not loss: not counted as concealment or frozen time. So is a
//!   dry run right after a DTX packet (≤ 2 bytes). Jumps over 1 s resync the cursor.
//!
//! # Frozen audio (NERTC's audio freeze)
//! A *loss run* is a stretch of consecutive output frames that stand in for missing audio
//! (PLC, faded or silent concealment, or a dry buffer) while playing; FEC-recovered, decoded
//! and time-stretched frames end it (as does a restart), nothing else does. A run that reaches 200 ms is a
//! freeze: `frozen_count` counts such runs once, `frozen_ms` adds the run's whole length
//! (from its first frame) and keeps adding while it lasts. Buffering before playout starts
//! (or after a restart) and sender pauses are not frozen time.

use std::collections::{BTreeMap, VecDeque};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use crate::codec::opus::{self as opus_codec, OpusDecoder};

/// RTP clock and output rate. Opus's RTP clock is 48 kHz whatever the coded bandwidth, and the
/// engine decodes at 48 kHz, so timestamps count output samples.
pub const RATE: u32 = 48_000;
const PER_MS: usize = RATE as usize / 1000;
/// Packet duration assumed until a packet tells (20 ms).
const DEFAULT_FRAME: usize = 960;
/// Opus packets are 2.5 to 120 ms long.
const MIN_FRAME: usize = RATE as usize / 400;
const MAX_FRAME: usize = RATE as usize / 1000 * 120;
/// Packets held at most (2.56 s of 20 ms packets); also the duplicate history's length.
const MAX_PACKETS: usize = 128;
/// A sequence number this far from the stream's means the sender restarted.
const MAX_SEQ_JUMP: u64 = 500;
/// Far-behind packets in a row that mean a restart.
const STRAY_RESTART: u32 = 3;
/// A timestamp jump larger than this (1 s) between consecutive packets resyncs the cursor.
const MAX_TS_GAP: usize = RATE as usize;
/// The level is never read as more than 10 s (a timestamp jump the cursor has not reached).
const MAX_SPAN: i32 = 10 * RATE as i32;
/// Concealment at full level, then a linear fade to silence.
const CONCEAL_FULL: usize = 80 * PER_MS;
const CONCEAL_FADE: usize = 80 * PER_MS;
/// Fade-in of real audio after silence or a cut.
const RAMP: usize = 5 * PER_MS;
/// A loss run this long is a freeze.
pub const FROZEN_MIN_MS: u64 = 200;
/// Above target by more than this, the buffer is flushed down to it.
const FLUSH_EXCESS: usize = 200 * PER_MS;
/// Arrival history for the jitter estimate.
const ARRIVAL_WINDOW: Duration = Duration::from_secs(2);
const ARRIVAL_WINDOW_MAX: usize = 512;
const PERCENTILE: f64 = 0.95;
const MARGIN_MS: f64 = 10.0;
/// A transit change this large is a timestamp discontinuity, not jitter.
const TRANSIT_JUMP_MS: f64 = 2000.0;
const DECAY_TAU_S: f64 = 4.0;
/// The FEC lookahead stays on this many frames (10 s) after the last playout miss.
const LOOKAHEAD_HOLD: u32 = 500;
const LEVEL_ALPHA: f64 = 0.1;
const TSM_MIN_INTERVAL: u32 = 2;
const TSM_FORCE_AFTER: u32 = 10;
const TSM_MIN_CORR: f32 = 0.7;
/// RMS of "near-silent" audio: -40 dBFS.
const QUIET_RMS: f64 = 327.7;

/// What the jitter buffer needs from a decoder (mono, [`RATE`]).
pub trait FrameDecoder {
    /// Decodes `payload`, appending its PCM to `out`; false (nothing appended) if it cannot.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> bool;
    /// Rebuilds the `samples` lost just before `next` from the FEC copy `next` carries,
    /// appending them; false (nothing appended) when there is none.
    fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool;
    /// Appends exactly `samples` of concealment.
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>);
    /// Forgets all history.
    fn reset(&mut self);
    /// Samples in `payload`, if it tells.
    fn samples(&self, payload: &[u8]) -> Option<usize>;
}

/// The engine's decoder; create it mono at [`RATE`].
impl FrameDecoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> bool {
        self.decode_into(payload, out).is_ok()
    }

    fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        self.decode_fec_into(next, samples, out)
    }

    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        self.decode_lost_into(samples, out)
    }

    fn reset(&mut self) {
        OpusDecoder::reset(self)
    }

    fn samples(&self, payload: &[u8]) -> Option<usize> {
        opus_codec::packet_samples(payload, RATE)
    }
}

#[derive(Debug, Clone)]
pub struct JitterConfig {
    /// Bounds of the target delay (a maximum below the minimum is raised to it).
    pub min_delay_ms: u32,
    pub max_delay_ms: u32,
    /// Target before anything is measured.
    pub initial_delay_ms: u32,
    /// Rebuild lost frames from the next packet's in-band FEC (else PLC only).
    pub use_fec: bool,
    /// Converge to the target by accelerating / expanding decoded audio (else only the start
    /// and flushes set the delay).
    pub time_stretch: bool,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig { min_delay_ms: 20, max_delay_ms: 300, initial_delay_ms: 60, use_fec: true, time_stretch: true }
    }
}

/// Totals since the buffer was created (counters survive restarts) and current gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Packets that arrived, duplicates excluded (late ones included).
    pub received: u64,
    /// Packets the network lost, before any repair: expected (from sequence numbers) minus
    /// received, as in RFC 3550 (a reordered packet is not lost).
    pub lost: u64,
    /// Discarded: arrived after their playout time.
    pub late: u64,
    /// Discarded: already received.
    pub duplicate: u64,
    /// Discarded: the buffer was full, or far above target (flush).
    pub overflow: u64,
    /// Frames decoded from packets and played (time-stretched or not).
    pub decoded_frames: u64,
    /// Missing frames rebuilt from the next packet's in-band FEC.
    pub fec_frames: u64,
    /// Missing frames synthesised by PLC (full level or fading).
    pub plc_frames: u64,
    /// Missing frames played as silence (a loss run past its fade-out).
    pub muted_frames: u64,
    /// Missing frames (any of the above) when nothing at all was buffered.
    pub ran_dry: u64,
    /// Loss runs started (a run of concealed frames counts once).
    pub concealment_events: u64,
    /// Loss runs that reached [`FROZEN_MIN_MS`], and their total length.
    pub frozen_count: u64,
    pub frozen_ms: u64,
    /// Time-stretch operations and the audio they removed / inserted.
    pub accelerated: u64,
    pub accelerated_ms: u64,
    pub expanded: u64,
    pub expanded_ms: u64,
    /// Times the buffer started over (sender restart, SSRC change).
    pub restarts: u64,
    /// Audio buffered ahead of playout now.
    pub delay_ms: u32,
    /// The delay the buffer steers to.
    pub target_ms: u32,
    /// The jitter estimate: 95th percentile of the relative arrival delay over 2 s.
    pub jitter_ms: u32,
}

struct Packet {
    ts: u32,
    dur: usize,
    payload: Vec<u8>,
}

/// Unwrapped sequence numbers and which of the last 128 arrived.
struct SeqState {
    highest: u64,
    first: u64,
    seen: u128,
    received: u64,
}

impl SeqState {
    fn new(seq: u16) -> Self {
        // Start high enough that unwrapping backwards never goes below zero.
        let ext = (1 << 32) | u64::from(seq);
        SeqState { highest: ext, first: ext, seen: 1, received: 1 }
    }

    /// `seq` as the 64-bit number nearest to the highest seen.
    fn extend(&self, seq: u16) -> u64 {
        let base = self.highest & !0xffff;
        let seq = u64::from(seq);
        [base - (1 << 16), base, base + (1 << 16)]
            .into_iter()
            .map(|b| b | seq)
            .min_by_key(|c| c.abs_diff(self.highest))
            .unwrap_or(base | seq)
    }

    /// Records `ext` as received; false if it already was.
    fn mark(&mut self, ext: u64) -> bool {
        if ext > self.highest {
            let shift = ext - self.highest;
            self.seen = if shift >= 128 { 0 } else { self.seen << shift } | 1;
            self.highest = ext;
        } else {
            let age = self.highest - ext;
            if age < 128 {
                if self.seen & (1 << age) != 0 {
                    return false;
                }
                self.seen |= 1 << age;
            }
        }
        self.first = self.first.min(ext);
        self.received += 1;
        true
    }

    fn lost(&self) -> u64 {
        (self.highest - self.first + 1).saturating_sub(self.received)
    }
}

/// Relative arrival delays over a sliding window, and the target delay they give.
struct DelayEstimator {
    origin: Option<(Instant, u32)>,
    window: VecDeque<(Instant, f64)>,
    sorted: Vec<f64>,
    last_transit: f64,
    jitter_ms: f64,
    target_ms: f64,
    updated: Option<Instant>,
}

impl DelayEstimator {
    fn new(initial_ms: f64) -> Self {
        DelayEstimator {
            origin: None,
            window: VecDeque::new(),
            sorted: Vec::new(),
            last_transit: 0.0,
            jitter_ms: 0.0,
            target_ms: initial_ms,
            updated: None,
        }
    }

    /// Forgets the arrival history (timestamps start over), keeping the target.
    fn restart(&mut self) {
        self.origin = None;
        self.window.clear();
    }

    /// Adds one arrival; returns the jitter estimate (ms).
    fn observe(&mut self, arrival: Instant, ts: u32) -> f64 {
        let (t0, ts0) = *self.origin.get_or_insert((arrival, ts));
        let rtp = ts.wrapping_sub(ts0) as i32;
        let mut transit = arrival.saturating_duration_since(t0).as_secs_f64() * 1000.0 - f64::from(rtp) / PER_MS as f64;
        if !self.window.is_empty() && ((transit - self.last_transit).abs() > TRANSIT_JUMP_MS || rtp.unsigned_abs() > 1 << 30) {
            // A timestamp discontinuity, or the origin is getting old: measure afresh.
            self.window.clear();
            self.origin = Some((arrival, ts));
            transit = 0.0;
        }
        self.last_transit = transit;
        self.window.push_back((arrival, transit));
        while self.window.len() > ARRIVAL_WINDOW_MAX
            || self.window.front().is_some_and(|(t, _)| arrival.saturating_duration_since(*t) > ARRIVAL_WINDOW)
        {
            self.window.pop_front();
        }
        let min = self.window.iter().map(|(_, t)| *t).fold(f64::INFINITY, f64::min);
        self.sorted.clear();
        self.sorted.extend(self.window.iter().map(|(_, t)| t - min));
        self.sorted.sort_by(f64::total_cmp);
        let idx = ((self.sorted.len() as f64 * PERCENTILE).ceil() as usize).saturating_sub(1);
        self.jitter_ms = self.sorted.get(idx).copied().unwrap_or(0.0);
        self.jitter_ms
    }

    /// Fast attack, slow (exponential) decay towards `raw_ms`.
    fn steer(&mut self, now: Instant, raw_ms: f64) {
        if raw_ms >= self.target_ms {
            self.target_ms = raw_ms;
        } else if let Some(before) = self.updated {
            let k = (now.saturating_duration_since(before).as_secs_f64() / DECAY_TAU_S).min(1.0);
            self.target_ms -= (self.target_ms - raw_ms) * k;
        }
        self.updated = Some(now);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// Audio that should be there is missing.
    Loss,
    /// The sender sent nothing for this time (paused, DTX).
    Gap,
}

/// One remote audio stream's jitter buffer and decoder.
pub struct JitterBuffer<D> {
    cfg: JitterConfig,
    dec: D,
    packets: BTreeMap<u64, Packet>,
    seqs: Option<SeqState>,
    playing: bool,
    /// Extended sequence number and RTP timestamp of the next audio to play.
    next_seq: u64,
    play_ts: u32,
    /// Duration of the last packet played (samples).
    frame: usize,
    /// Decoded, not yet pulled.
    ready: VecDeque<i16>,
    work: Vec<i16>,
    tsm: Vec<i16>,
    est: DelayEstimator,
    /// Smoothed level (samples).
    filtered: f64,
    /// Samples concealed in a row (either cause): position in the fade.
    fade_pos: usize,
    /// Samples concealed in a row for loss: the current loss run.
    loss_run: usize,
    frozen: bool,
    frozen_samples: u64,
    /// Frames concealed on a dry buffer in the current run (how far a rewind may go).
    dry_frames: u64,
    /// Output gain at the end of the last frame (< 1 while fading).
    gain: f32,
    /// Faded out to silence: concealment is silence, the next real frame restarts the decoder.
    muted: bool,
    last_dtx: bool,
    above: u32,
    below: u32,
    since_tsm: u32,
    since_miss: u32,
    stray: u32,
    /// Loss counted in earlier epochs (before restarts).
    lost_before: u64,
    received_before: u64,
    stats: JitterStats,
}

impl<D: FrameDecoder> JitterBuffer<D> {
    pub fn new(mut cfg: JitterConfig, dec: D) -> Self {
        cfg.max_delay_ms = cfg.max_delay_ms.max(cfg.min_delay_ms);
        let initial = f64::from(cfg.initial_delay_ms.clamp(cfg.min_delay_ms, cfg.max_delay_ms));
        JitterBuffer {
            est: DelayEstimator::new(initial),
            cfg,
            dec,
            packets: BTreeMap::new(),
            seqs: None,
            playing: false,
            next_seq: 0,
            play_ts: 0,
            frame: DEFAULT_FRAME,
            ready: VecDeque::with_capacity(4 * DEFAULT_FRAME),
            work: Vec::with_capacity(3 * DEFAULT_FRAME),
            tsm: Vec::with_capacity(3 * DEFAULT_FRAME),
            filtered: 0.0,
            fade_pos: 0,
            loss_run: 0,
            frozen: false,
            frozen_samples: 0,
            dry_frames: 0,
            gain: 0.0,
            muted: false,
            last_dtx: false,
            above: 0,
            below: 0,
            since_tsm: 0,
            since_miss: LOOKAHEAD_HOLD,
            stray: 0,
            lost_before: 0,
            received_before: 0,
            stats: JitterStats::default(),
        }
    }

    /// Whether playout has started (false while buffering).
    #[cfg(test)]
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Counters and gauges as of now.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        let (lost, received) = self.seqs.as_ref().map(|q| (q.lost(), q.received)).unwrap_or((0, 0));
        s.lost = self.lost_before + lost;
        s.received = self.received_before + received;
        s.frozen_ms = self.frozen_samples / PER_MS as u64;
        s.delay_ms = (self.level() / PER_MS) as u32;
        s.target_ms = self.est.target_ms.round() as u32;
        s.jitter_ms = self.est.jitter_ms.round() as u32;
        s
    }

    /// Concealment is over (real audio again, or a restart): no loss run, no fade, no freeze.
    fn end_loss_run(&mut self) {
        self.muted = false;
        self.fade_pos = 0;
        self.loss_run = 0;
        self.frozen = false;
        self.dry_frames = 0;
    }

    /// Starts over as for a new stream (SSRC change); counters are kept.
    pub fn reset(&mut self) {
        if let Some(q) = self.seqs.take() {
            self.lost_before += q.lost();
            self.received_before += q.received;
        }
        self.stats.restarts += 1;
        self.packets.clear();
        self.playing = false;
        self.est.restart();
        self.dec.reset();
        self.gain = 0.0;
        self.end_loss_run();
        self.stray = 0;
        self.above = 0;
        self.below = 0;
    }

    /// One RTP packet (`payload` is the Opus packet) that arrived at `arrival`.
    pub fn insert(&mut self, seq: u16, ts: u32, payload: &[u8], arrival: Instant) {
        enum Seq {
            New(u64),
            Restart,
            Stray,
        }
        let verdict = match self.seqs.as_mut() {
            None => Seq::Restart,
            Some(q) => {
                let ext = q.extend(seq);
                if ext > q.highest + MAX_SEQ_JUMP {
                    Seq::Restart
                } else if ext + MAX_SEQ_JUMP < q.highest {
                    Seq::Stray
                } else if q.mark(ext) {
                    Seq::New(ext)
                } else {
                    self.stats.duplicate += 1;
                    return;
                }
            }
        };
        let ext = match verdict {
            Seq::New(ext) => ext,
            Seq::Stray if self.stray + 1 < STRAY_RESTART => {
                // Far behind: late, unless it keeps happening.
                self.stray += 1;
                self.stats.late += 1;
                return;
            }
            Seq::Restart | Seq::Stray => {
                // Far ahead, or far behind again and again: the sender restarted.
                if self.seqs.is_some() {
                    self.reset();
                }
                self.seqs.insert(SeqState::new(seq)).highest
            }
        };
        self.stray = 0;
        if payload.is_empty() {
            return; // padding only: received, nothing to play
        }
        self.observe(arrival, ts);
        if self.playing && ext < self.next_seq {
            if self.packets.is_empty() && self.next_seq - ext <= self.dry_frames {
                // Late while we are concealing a dry buffer: the network delay grew. Play it
                // now (the delay grows with it) instead of throwing it away.
                self.next_seq = ext;
                self.play_ts = ts;
                self.dry_frames = 0;
            } else {
                self.stats.late += 1;
                return;
            }
        }
        self.hold(ext, ts, payload);
    }

    fn hold(&mut self, ext: u64, ts: u32, payload: &[u8]) {
        if self.packets.len() >= MAX_PACKETS && self.packets.pop_first().is_some() {
            self.stats.overflow += 1;
        }
        let dur = self.dec.samples(payload).filter(|n| (MIN_FRAME..=MAX_FRAME).contains(n)).unwrap_or(self.frame);
        self.packets.insert(ext, Packet { ts, dur, payload: payload.to_vec() });
    }

    fn observe(&mut self, arrival: Instant, ts: u32) {
        let jitter = self.est.observe(arrival, ts);
        let frame_ms = (self.frame / PER_MS) as f64;
        let lookahead = if self.cfg.use_fec && self.since_miss < LOOKAHEAD_HOLD { frame_ms } else { 0.0 };
        let raw = (jitter + frame_ms + MARGIN_MS + lookahead).clamp(f64::from(self.cfg.min_delay_ms), f64::from(self.cfg.max_delay_ms));
        self.est.steer(arrival, raw);
    }

    /// Fills `out` with the next `out.len()` samples of playout. False while buffering (before
    /// playout starts or after a restart): `out` is then silence, apart from audio decoded
    /// before a restart.
    pub fn fill(&mut self, out: &mut [i16]) -> bool {
        let mut playing = self.playing;
        while self.ready.len() < out.len() {
            if !self.playing && !self.try_start() {
                break;
            }
            playing = true;
            let before = self.ready.len();
            self.produce_frame();
            if self.ready.len() == before {
                break; // cannot happen (every path plays something); never spin in a callback
            }
        }
        let n = self.ready.len().min(out.len());
        for (o, s) in out.iter_mut().zip(self.ready.drain(..n)) {
            *o = s;
        }
        out[n..].fill(0);
        playing || n > 0
    }

    fn target(&self) -> usize {
        (self.est.target_ms * PER_MS as f64) as usize
    }

    /// Samples buffered ahead of the playout point.
    fn level(&self) -> usize {
        let span = match (self.packets.first_key_value(), self.packets.last_key_value()) {
            (Some((_, first)), Some((_, last))) => {
                let from = if self.playing { self.play_ts } else { first.ts };
                let end = last.ts.wrapping_add(last.dur as u32);
                (end.wrapping_sub(from) as i32).clamp(0, MAX_SPAN) as usize
            }
            _ => 0,
        };
        span + self.ready.len()
    }

    fn try_start(&mut self) -> bool {
        let Some((&seq, first)) = self.packets.first_key_value() else { return false };
        let (ts, dur) = (first.ts, first.dur);
        let level = self.level();
        if level < self.target() {
            return false;
        }
        self.playing = true;
        self.next_seq = seq;
        self.play_ts = ts;
        self.frame = dur;
        self.filtered = level as f64;
        self.gain = 0.0;
        self.since_tsm = 0;
        true
    }

    /// Appends the next frame of playout to `ready`.
    fn produce_frame(&mut self) {
        self.since_miss = self.since_miss.saturating_add(1);
        self.since_tsm = self.since_tsm.saturating_add(1);
        let target = self.target();
        if self.level() > target + FLUSH_EXCESS {
            self.flush(target);
        }
        let frame = self.frame;
        let next_ts = self.packets.get(&self.next_seq).map(|p| p.ts);
        match next_ts {
            Some(ts) => {
                let mut ahead = ts.wrapping_sub(self.play_ts) as i32;
                if ahead.unsigned_abs() as usize > MAX_TS_GAP {
                    self.play_ts = ts;
                    ahead = 0;
                }
                if ahead >= (frame / 2) as i32 {
                    // Nothing was sent for this time (sender paused): fill it in.
                    let n = (ahead as usize).min(frame);
                    self.conceal(n, Cause::Gap);
                    self.play_ts = self.play_ts.wrapping_add(n as u32);
                } else if let Some(p) = self.packets.remove(&self.next_seq) {
                    self.next_seq += 1;
                    self.play_packet(p);
                }
            }
            None if self.packets.is_empty() => {
                self.stats.ran_dry += 1;
                self.dry_frames += 1;
                let cause = if self.last_dtx { Cause::Gap } else { Cause::Loss };
                if cause == Cause::Loss {
                    self.since_miss = 0;
                }
                self.conceal(frame, cause);
                self.next_seq += 1;
                self.play_ts = self.play_ts.wrapping_add(frame as u32);
            }
            None => {
                self.since_miss = 0;
                let after = self.packets.get(&(self.next_seq + 1)).filter(|p| p.ts == self.play_ts.wrapping_add(frame as u32));
                let mut recovered = false;
                if let (true, Some(p)) = (self.cfg.use_fec, after) {
                    if self.muted {
                        self.dec.reset();
                    }
                    self.work.clear();
                    recovered = self.dec.decode_fec(&p.payload, frame, &mut self.work);
                }
                if recovered {
                    self.stats.fec_frames += 1;
                    self.emit_real();
                } else {
                    self.conceal(frame, Cause::Loss);
                }
                self.next_seq += 1;
                self.play_ts = self.play_ts.wrapping_add(frame as u32);
            }
        }
    }

    fn play_packet(&mut self, p: Packet) {
        self.play_ts = p.ts.wrapping_add(p.dur as u32);
        self.frame = p.dur;
        self.last_dtx = p.payload.len() <= 2;
        if self.muted {
            self.dec.reset();
        }
        self.work.clear();
        if !self.dec.decode(&p.payload, &mut self.work) {
            // Undecodable: stands in like a lost packet.
            self.conceal(p.dur, Cause::Loss);
            return;
        }
        self.stats.decoded_frames += 1;
        self.time_stretch();
        self.emit_real();
    }

    /// Accelerates or expands the frame in `work` when the smoothed level is off target.
    fn time_stretch(&mut self) {
        let f = self.work.len();
        let level = (self.level() + f) as f64;
        self.filtered += (level - self.filtered) * LEVEL_ALPHA;
        if !self.cfg.time_stretch || f < 4 * MIN_FRAME {
            return;
        }
        let target = self.target() as f64;
        if self.filtered > target + f as f64 {
            self.above += 1;
            self.below = 0;
            if self.since_tsm < TSM_MIN_INTERVAL {
                return;
            }
            // The next packet, due right now, gives the second frame to cut from.
            let on_time = self.packets.get(&self.next_seq).is_some_and(|p| p.ts == self.play_ts && p.dur == f);
            let Some(p) = on_time.then(|| self.packets.remove(&self.next_seq)).flatten() else { return };
            self.next_seq += 1;
            self.play_ts = p.ts.wrapping_add(p.dur as u32);
            self.last_dtx = p.payload.len() <= 2;
            if self.dec.decode(&p.payload, &mut self.work) && self.work.len() == 2 * f {
                self.stats.decoded_frames += 1;
            } else {
                self.work.truncate(f);
                self.dec.conceal(f, &mut self.work);
                self.stats.plc_frames += 1;
            }
            let force = self.above >= TSM_FORCE_AFTER || is_quiet(&self.work);
            if let Some(removed) = accelerate(&mut self.work, f, force) {
                self.stats.accelerated += 1;
                self.stats.accelerated_ms += (removed / PER_MS) as u64;
                self.filtered -= removed as f64;
                self.since_tsm = 0;
                self.above = 0;
            }
        } else if self.filtered < target - (f / 2) as f64 {
            self.below += 1;
            self.above = 0;
            if self.since_tsm < TSM_MIN_INTERVAL {
                return;
            }
            let force = self.below >= TSM_FORCE_AFTER || is_quiet(&self.work);
            if let Some(added) = expand(&mut self.work, &mut self.tsm, force) {
                self.stats.expanded += 1;
                self.stats.expanded_ms += (added / PER_MS) as u64;
                self.filtered += added as f64;
                self.since_tsm = 0;
                self.below = 0;
            }
        } else {
            self.above = 0;
            self.below = 0;
        }
    }

    /// Plays `work` (real audio: decoded or FEC), fading in after silence or a cut.
    fn emit_real(&mut self) {
        if self.gain < 1.0 {
            let n = RAMP.min(self.work.len()).max(1);
            let from = self.gain.max(0.0);
            for (i, s) in self.work.iter_mut().take(n).enumerate() {
                let g = from + (1.0 - from) * (i + 1) as f32 / n as f32;
                *s = (f32::from(*s) * g) as i16;
            }
            self.gain = 1.0;
        }
        self.end_loss_run();
        self.ready.extend(self.work.iter().copied());
    }

    /// Plays `n` samples standing in for audio that is not there.
    fn conceal(&mut self, n: usize, cause: Cause) {
        if cause == Cause::Loss {
            if self.loss_run == 0 {
                self.stats.concealment_events += 1;
            }
            self.loss_run += n;
            if self.loss_run >= FROZEN_MIN_MS as usize * PER_MS {
                if self.frozen {
                    self.frozen_samples += n as u64;
                } else {
                    self.frozen = true;
                    self.stats.frozen_count += 1;
                    self.frozen_samples += self.loss_run as u64;
                }
            }
        }
        if self.muted {
            self.ready.extend(std::iter::repeat_n(0, n));
            if cause == Cause::Loss {
                self.stats.muted_frames += 1;
            }
        } else {
            self.work.clear();
            self.dec.conceal(n, &mut self.work);
            self.work.resize(n, 0);
            for (i, s) in self.work.iter_mut().enumerate() {
                *s = (f32::from(*s) * fade_gain(self.fade_pos + i + 1)) as i16;
            }
            self.gain = fade_gain(self.fade_pos + n);
            self.muted = self.gain <= 0.0;
            self.ready.extend(self.work.iter().copied());
            if cause == Cause::Loss {
                self.stats.plc_frames += 1;
            }
        }
        self.fade_pos += n;
    }

    /// Drops the oldest packets until the level is back at `target`; playout resumes with a
    /// fade-in.
    fn flush(&mut self, target: usize) {
        while self.level() > target {
            let Some((seq, p)) = self.packets.pop_first() else { break };
            self.stats.overflow += 1;
            self.next_seq = seq + 1;
            self.play_ts = p.ts.wrapping_add(p.dur as u32);
            self.frame = p.dur;
        }
        self.filtered = self.level() as f64;
        self.gain = 0.0;
    }
}

/// Concealment gain `pos` samples into a run: 1, then a linear fade to 0.
fn fade_gain(pos: usize) -> f32 {
    if pos <= CONCEAL_FULL {
        1.0
    } else if pos >= CONCEAL_FULL + CONCEAL_FADE {
        0.0
    } else {
        1.0 - (pos - CONCEAL_FULL) as f32 / CONCEAL_FADE as f32
    }
}

fn is_quiet(pcm: &[i16]) -> bool {
    if pcm.is_empty() {
        return true;
    }
    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (energy / pcm.len() as f64).sqrt() < QUIET_RMS
}

/// Normalised cross-correlation of `a` and `b` over every `step`-th sample (0 if either is
/// silent).
fn ncc(a: &[i16], b: &[i16], step: usize) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b).step_by(step.max(1)) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= 0.0 || bb <= 0.0 { 0.0 } else { (ab / (aa * bb).sqrt()) as f32 }
}

/// The lag in `lags` where `x[lag..lag + len]` best matches `x[..len]`, and its correlation:
/// a coarse search (every 2nd lag and sample) refined around the best. Longer lags win near
/// ties (they converge faster). None if `x` is too short for every lag.
fn best_lag(x: &[i16], lags: RangeInclusive<usize>, len: usize) -> Option<(usize, f32)> {
    let (lo, hi) = (*lags.start(), *lags.end());
    if lo > hi || len == 0 || hi + len > x.len() {
        return None;
    }
    let biased = |lag: usize, c: f32| c + 0.02 * lag as f32 / hi as f32;
    let mut best = (hi, f32::MIN);
    for lag in (lo..=hi).rev().step_by(2) {
        let c = biased(lag, ncc(&x[..len], &x[lag..lag + len], 2));
        if c > best.1 {
            best = (lag, c);
        }
    }
    let mut fine = (best.0, f32::MIN, 0.0);
    for lag in best.0.saturating_sub(2).max(lo)..=(best.0 + 2).min(hi) {
        let c = ncc(&x[..len], &x[lag..lag + len], 1);
        if biased(lag, c) > fine.1 {
            fine = (lag, biased(lag, c), c);
        }
    }
    Some((fine.0, fine.2))
}

/// Shortens `x`, two frames of `f` samples, by 10 to 20 ms worth (f/2..=f samples) at the
/// lag where the waveform repeats best: the first `f/2` samples cross-fade into the same
/// stretch one lag later, and what follows that is kept. Returns the samples removed; None
/// (x unchanged) when the match is poor and not `force`d.
fn accelerate(x: &mut Vec<i16>, f: usize, force: bool) -> Option<usize> {
    let len = f / 2;
    let (lag, corr) = best_lag(x, f / 2..=f, len)?;
    if corr < TSM_MIN_CORR && !force {
        return None;
    }
    for i in 0..len {
        let w = (i as f32 + 0.5) / len as f32;
        x[i] = (f32::from(x[i]) * (1.0 - w) + f32::from(x[lag + i]) * w).round() as i16;
    }
    x.drain(len..len + lag);
    Some(lag)
}

/// Lengthens `x`, one frame of `f` samples, by 5 to 15 ms worth (f/4..=3f/4 samples): the
/// frame plays up to the lag where it best repeats its own start, cross-fades back to that
/// start over f/4 samples and plays on from there. Returns the samples added; None (x
/// unchanged) when the match is poor and not `force`d.
fn expand(x: &mut Vec<i16>, scratch: &mut Vec<i16>, force: bool) -> Option<usize> {
    let f = x.len();
    let len = f / 4;
    let (lag, corr) = best_lag(x, len..=f - len, len)?;
    if corr < TSM_MIN_CORR && !force {
        return None;
    }
    scratch.clear();
    scratch.extend_from_slice(&x[..lag]);
    for i in 0..len {
        let w = (i as f32 + 0.5) / len as f32;
        scratch.push((f32::from(x[lag + i]) * (1.0 - w) + f32::from(x[i]) * w).round() as i16);
    }
    scratch.extend_from_slice(&x[len..]);
    std::mem::swap(x, scratch);
    Some(lag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::opus::OpusEncoder;
    use crate::device::tone::{SILENCE_DBFS, Tone, rms_dbfs, tone_power};

    /// Sequence numbers and timestamps start near their wrap so every run crosses it.
    const SEQ0: u16 = 65_300;
    const TS0: u32 = u32::MAX - 50 * 960;

    /// A small seeded PRNG (xorshift64*): reproducible channels.
    struct Rng(u64);

    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// 20 ms frames of a steady 440 Hz tone (0.3 FS: the one measured) over a quiet (0.03 FS)
    /// second tone that hops between 1.5 and 3 kHz every 300 ms, like formants. The hops keep
    /// the encoder's voice activity detector on, as speech does: with a steady tone alone it
    /// soon takes the tone for background noise, sends no FEC copy and conceals it as noise.
    fn speechlike(frames: usize) -> Vec<Vec<i16>> {
        let mut base = Tone::new(440.0, 48_000, 1, 0.3);
        let mut low = Tone::new(1500.0, 48_000, 1, 0.03);
        let mut high = Tone::new(3000.0, 48_000, 1, 0.03);
        (0..frames)
            .map(|k| {
                let mut pcm = base.next_frame(960);
                let (l, h) = (low.next_frame(960), high.next_frame(960));
                let hop = if (k / 15).is_multiple_of(2) { l } else { h };
                pcm.iter_mut().zip(hop).for_each(|(s, g)| *s = s.saturating_add(g));
                pcm
            })
            .collect()
    }

    fn encode(frames: &[Vec<i16>], loss_perc: u8) -> Vec<Vec<u8>> {
        let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
        enc.set_packet_loss_perc(loss_perc).expect("loss perc");
        frames.iter().map(|f| enc.encode(f).expect("encode")).collect()
    }

    struct Sim {
        blocks: Vec<Vec<i16>>,
        /// Stats after each pull.
        stats: Vec<JitterStats>,
    }

    impl Sim {
        /// Stats just before the stream ends (the last packets played, no tail concealment).
        fn during(&self) -> JitterStats {
            self.stats[STEADY.end]
        }
    }

    /// Packet `k` is sent at 20·k ms and arrives at `arrivals[k]` ms (None: lost); the
    /// buffer is pulled for 20 ms every 20 ms (at 7 + 20·b ms) until 0.5 s after the last send.
    fn simulate(cfg: JitterConfig, packets: &[Vec<u8>], arrivals: &[Option<f64>]) -> Sim {
        let t0 = Instant::now();
        let mut order: Vec<(f64, usize)> = arrivals.iter().enumerate().filter_map(|(k, a)| a.map(|a| (a, k))).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut jb = JitterBuffer::new(cfg, OpusDecoder::new(48_000, 1).expect("decoder"));
        let mut next = 0;
        let mut sim = Sim { blocks: Vec::new(), stats: Vec::new() };
        for b in 0..packets.len() + 25 {
            let now = 7.0 + 20.0 * b as f64;
            while let Some(&(at, k)) = order.get(next).filter(|(at, _)| *at <= now) {
                let arrival = t0 + Duration::from_micros((at * 1000.0) as u64);
                jb.insert(SEQ0.wrapping_add(k as u16), TS0.wrapping_add(k as u32 * 960), &packets[k], arrival);
                next += 1;
            }
            let mut block = vec![0i16; 960];
            jb.fill(&mut block);
            sim.blocks.push(block);
            sim.stats.push(jb.stats());
        }
        sim
    }

    /// The 440 Hz level of clean decoding (median over blocks), and the loudest block's RMS and
    /// peak.
    fn clean_reference(packets: &[Vec<u8>]) -> (f32, f32, i16) {
        let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
        let blocks: Vec<Vec<i16>> = packets.iter().map(|p| dec.decode(p).expect("decode")).collect();
        let mut p440: Vec<f32> = blocks[10..].iter().map(|b| tone_power(b, 48_000, 1, 440.0)).collect();
        p440.sort_by(f32::total_cmp);
        let rms = blocks.iter().map(|b| rms_dbfs(b)).fold(SILENCE_DBFS, f32::max);
        let peak = blocks.iter().flatten().map(|s| s.saturating_abs()).max().unwrap_or(0);
        (p440[p440.len() / 2], rms, peak)
    }

    fn has_tone(block: &[i16], clean: f32) -> bool {
        (tone_power(block, 48_000, 1, 440.0) - clean).abs() <= 3.0
    }

    /// Percent of blocks in `range` carrying the tone within 3 dB of the clean level.
    fn tone_percent(sim: &Sim, range: std::ops::Range<usize>, clean: f32) -> f64 {
        let n = range.len();
        100.0 * sim.blocks[range].iter().filter(|b| has_tone(b, clean)).count() as f64 / n as f64
    }

    /// No garbage: no block much louder than clean audio, no sample far beyond its peak. (Opus's
    /// SILK concealment, and the frame decoded right after it, can overshoot by up to ~3 dB
    /// and 1.4x the peak by themselves: decoding the same packets without any buffer does.)
    fn assert_sane(sim: &Sim, clean_rms: f32, clean_peak: i16) {
        for (i, b) in sim.blocks.iter().enumerate() {
            let (rms, peak) = (rms_dbfs(b), b.iter().map(|s| s.saturating_abs()).max().unwrap_or(0));
            assert!(rms <= clean_rms + 4.0, "block {i}: {rms:.1} dBFS vs clean {clean_rms:.1}");
            assert!(f32::from(peak) <= f32::from(clean_peak) * 1.6, "block {i}: peak {peak} vs clean {clean_peak}");
        }
    }

    const STEADY: std::ops::Range<usize> = 50..490;

    #[test]
    fn fec_and_plc_carry_the_tone_through_20_percent_loss() {
        let input = speechlike(500);
        let packets = encode(&input, 20);
        let (clean, clean_rms, clean_peak) = clean_reference(&packets);
        assert!((clean - (-13.5)).abs() < 2.0, "clean 440 Hz level {clean}");
        let mut rng = Rng(0x5eed_0001);
        let arrivals: Vec<Option<f64>> = (0..500).map(|k| (rng.next_f64() >= 0.2).then_some(20.0 * k as f64 + 40.0)).collect();
        let lost = arrivals.iter().filter(|a| a.is_none()).count();

        let no_loss = simulate(
            JitterConfig::default(),
            &packets,
            &vec![Some(0.0); 0].into_iter().chain((0..500).map(|k| Some(20.0 * k as f64 + 40.0))).collect::<Vec<_>>(),
        );
        let with_fec = simulate(JitterConfig::default(), &packets, &arrivals);
        let without = simulate(JitterConfig { use_fec: false, ..JitterConfig::default() }, &packets, &arrivals);
        // The engine's default encoder setting (5 % expected loss) codes this tone as CELT:
        // no FEC copy to use, as if FEC were off.
        let default_enc = encode(&input, crate::codec::opus::DEFAULT_PACKET_LOSS_PERC);
        let at_5 = simulate(JitterConfig::default(), &default_enc, &arrivals);
        let (clean5, _, _) = clean_reference(&default_enc);

        let (p_clean, p_fec, p_plc, p_5) = (
            tone_percent(&no_loss, STEADY, clean),
            tone_percent(&with_fec, STEADY, clean),
            tone_percent(&without, STEADY, clean),
            tone_percent(&at_5, STEADY, clean5),
        );
        let s = with_fec.during();
        println!(
            "20 % loss ({lost} of 500 lost): tone in {p_fec:.1} % of blocks with FEC ({} FEC, {} PLC frames), {p_plc:.1} % with PLC only \
             ({} PLC), {p_5:.1} % with the encoder at 5 % expected loss ({} FEC); clean {p_clean:.1} %; delay {} ms (target {})",
            s.fec_frames,
            s.plc_frames,
            without.during().plc_frames,
            at_5.during().fec_frames,
            s.delay_ms,
            s.target_ms
        );
        assert!(p_clean >= 99.0, "{p_clean}");
        assert_eq!(with_fec.stats.last().map(|s| s.lost), Some(lost as u64));
        assert!(s.fec_frames >= 50, "{s:?}");
        // Every loss played so far was repaired or concealed once (the last few are still ahead).
        let repaired = s.fec_frames + s.plc_frames + s.muted_frames;
        assert!(repaired <= s.lost && repaired + 5 >= s.lost, "{s:?}");
        assert_eq!(without.during().fec_frames, 0);
        assert!(p_fec >= 84.0, "with FEC: {p_fec:.1} %");
        assert!(p_plc >= 55.0, "PLC only: {p_plc:.1} %");
        assert!(p_fec >= p_plc + 15.0, "FEC gains: {p_fec:.1} vs {p_plc:.1} %");
        assert!(p_5 >= 90.0, "CELT PLC: {p_5:.1} %");
        assert_eq!(s.late + s.duplicate + s.overflow, 0);
        for sim in [&with_fec, &without, &no_loss] {
            assert_sane(sim, clean_rms, clean_peak);
        }
    }

    #[test]
    fn jitter_with_reordering_is_absorbed() {
        let input = speechlike(500);
        let packets = encode(&input, 20);
        let (clean, clean_rms, clean_peak) = clean_reference(&packets);
        let mut rng = Rng(0x5eed_0002);
        // 100 ± 30 ms (uniform), and every 50th packet a straggler 300 ms later still.
        let arrivals: Vec<Option<f64>> = (0..500)
            .map(|k| {
                let straggle = if k % 50 == 25 { 300.0 } else { 0.0 };
                Some(20.0 * k as f64 + 100.0 + 60.0 * (rng.next_f64() - 0.5) + straggle)
            })
            .collect();
        let reordered = arrivals.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(reordered > 50, "the channel reorders: {reordered}");
        let sim = simulate(JitterConfig::default(), &packets, &arrivals);
        let s = sim.during();
        let p = tone_percent(&sim, STEADY, clean);
        let settled: Vec<u32> = sim.stats[250..STEADY.end].iter().map(|s| s.delay_ms).collect();
        let mean = settled.iter().map(|d| f64::from(*d)).sum::<f64>() / settled.len() as f64;
        let (lo, hi) = (settled.iter().min().copied().unwrap_or(0), settled.iter().max().copied().unwrap_or(0));
        println!(
            "100 ± 30 ms jitter ({reordered} reorderings, 10 stragglers +300 ms): tone in {p:.1} % of blocks; buffer delay over the \
             last 5 s mean {mean:.0} ms ({lo}..{hi}), target {} ms, jitter estimate {} ms; {} late, {} FEC, {} PLC, {} accelerated, \
             {} expanded",
            s.target_ms, s.jitter_ms, s.late, s.fec_frames, s.plc_frames, s.accelerated, s.expanded
        );
        assert!(p >= 95.0, "{p:.1} %");
        assert!((45..=75).contains(&s.jitter_ms), "jitter estimate {} ms for a 60 ms spread", s.jitter_ms);
        assert!((50.0..=130.0).contains(&mean), "settled delay {mean:.0} ms");
        assert!((8..=20).contains(&s.late), "the stragglers (and few others) counted late: {}", s.late);
        assert!(s.fec_frames + s.plc_frames >= s.late, "each late packet repaired or concealed in time: {s:?}");
        assert_eq!(sim.stats.last().map(|s| s.lost), Some(0), "late is not lost");
        assert_sane(&sim, clean_rms, clean_peak);
    }

    #[test]
    fn long_burst_fades_to_silence_and_recovers() {
        let input = speechlike(500);
        let packets = encode(&input, 20);
        let (clean, clean_rms, clean_peak) = clean_reference(&packets);
        // Packets sent in [5.0 s, 5.5 s) are lost; the rest arrive 30 ms after sending.
        let arrivals: Vec<Option<f64>> = (0..500).map(|k| (!(250..275).contains(&k)).then_some(20.0 * k as f64 + 30.0)).collect();
        let sim = simulate(JitterConfig::default(), &packets, &arrivals);
        let s = sim.during();
        let gap: Vec<usize> = STEADY.filter(|&b| !has_tone(&sim.blocks[b], clean)).collect();
        let (first, last) = (gap.first().copied().unwrap_or(0), gap.last().copied().unwrap_or(0));
        let levels: Vec<String> = (first.saturating_sub(1)..=last + 2)
            .map(|b| format!("{:.0}/{:.0}", tone_power(&sim.blocks[b], 48_000, 1, 440.0), rms_dbfs(&sim.blocks[b])))
            .collect();
        println!("500 ms burst: blocks {first}..={last} without the tone ({} of them): {levels:?}; {s:?}", gap.len());
        assert_eq!(gap.len(), last - first + 1, "one contiguous gap: {gap:?}");
        // Concealed at first, silent from 200 ms into the gap on (the last block is the one the
        // tone comes back in, fading in).
        for b in first + 10..last {
            assert!(rms_dbfs(&sim.blocks[b]) < -60.0, "block {b} silent: {} dBFS", rms_dbfs(&sim.blocks[b]));
        }
        // The first packet after the burst arrives at 5.53 s; the tone is back within 100 ms.
        let back_at = 7.0 + 20.0 * last as f64;
        assert!(rms_dbfs(&sim.blocks[last]) > -30.0);
        assert!(back_at - 5530.0 <= 100.0, "tone back at {back_at} ms");
        assert_eq!((s.concealment_events, s.frozen_count), (1, 1));
        assert!((440..=520).contains(&s.frozen_ms), "frozen {} ms", s.frozen_ms);
        assert!(s.muted_frames > 10 && s.fec_frames <= 1, "{s:?}");
        assert_sane(&sim, clean_rms, clean_peak);
    }

    /// A decoder that says which packet it played: packet `[id, fec]` decodes to `dur`
    /// samples of `100 * id`, its FEC copy (if `fec` is 1) to `-100 * (id - 1)`, PLC to 1000.
    #[derive(Default)]
    struct Fake {
        resets: u32,
    }

    impl FrameDecoder for Fake {
        fn decode(&mut self, p: &[u8], out: &mut Vec<i16>) -> bool {
            out.extend(std::iter::repeat_n(100 * i16::from(p[0]), 960));
            true
        }
        fn decode_fec(&mut self, next: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
            if next.get(1) != Some(&1) {
                return false;
            }
            out.extend(std::iter::repeat_n(-100 * (i16::from(next[0]) - 1), samples));
            true
        }
        fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
            out.extend(std::iter::repeat_n(1000, samples));
        }
        fn reset(&mut self) {
            self.resets += 1;
        }
        fn samples(&self, _: &[u8]) -> Option<usize> {
            Some(960)
        }
    }

    fn fake(min_delay_ms: u32) -> JitterBuffer<Fake> {
        let cfg = JitterConfig { min_delay_ms, initial_delay_ms: min_delay_ms, time_stretch: false, ..JitterConfig::default() };
        JitterBuffer::new(cfg, Fake::default())
    }

    /// One 20 ms pull; the block's last sample (after any fade-in).
    fn pull(jb: &mut JitterBuffer<Fake>) -> i16 {
        let mut out = [0i16; 960];
        jb.fill(&mut out);
        out[959]
    }

    #[test]
    fn sequence_wrap_duplicates_late_and_loss_are_counted() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 65534, 65535, 0 (wrap) and 1; 1 again; 2 lost; 3 arrives.
        for (i, seq) in [65534u16, 65535, 0, 1, 1, 3].into_iter().enumerate() {
            let id = (seq.wrapping_add(10) % 256) as u8;
            jb.insert(seq, u32::from(seq.wrapping_sub(65534)) * 960, &[id, 1, 0], at(20 * i as u64));
        }
        let s = jb.stats();
        assert_eq!((s.received, s.duplicate, s.lost), (5, 1, 1));
        let played: Vec<i16> = (0..5).map(|_| pull(&mut jb)).collect();
        // 65534..=1 decoded, 2 rebuilt from 3's FEC copy, then 3.
        assert_eq!(played, vec![800, 900, 1000, 1100, -1200]);
        assert_eq!(pull(&mut jb), 1300);
        // 2 arrives now: too late.
        jb.insert(2, 4 * 960, &[12, 0, 0], at(200));
        let s = jb.stats();
        assert_eq!((s.late, s.fec_frames, s.plc_frames, s.decoded_frames, s.lost), (1, 1, 0, 5, 0));
    }

    #[test]
    fn concealment_fades_to_silence_counts_a_freeze_and_resumes_cleanly() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        for k in 0..3u16 {
            jb.insert(k, u32::from(k) * 960, &[1, 0, 0], t0 + Duration::from_millis(20 * u64::from(k)));
        }
        assert!(!jb.is_playing() || jb.stats().delay_ms >= 20);
        let played: Vec<i16> = (0..3).map(|_| pull(&mut jb)).collect();
        assert_eq!(played, vec![100; 3]);
        // Nothing more arrives: 80 ms of PLC at full level, a fade over 80 ms, then silence.
        let mut levels = Vec::new();
        for _ in 0..20 {
            let mut out = [0i16; 960];
            jb.fill(&mut out);
            levels.push((out[0], out[959]));
        }
        assert_eq!(&levels[..4], &[(1000, 1000); 4]);
        assert!(levels[4].1 < 1000 && levels[5].1 < levels[4].1 && levels[7].1 == 0, "{levels:?}");
        assert!(levels[8..].iter().all(|l| *l == (0, 0)));
        let s = jb.stats();
        assert_eq!((s.plc_frames, s.muted_frames, s.ran_dry, s.concealment_events, s.frozen_count), (8, 12, 20, 1, 1));
        assert_eq!(s.frozen_ms, 400);
        // Packets come back (2 s of sequence on, as if the sender kept going): they play after the
        // target delay, from a reset decoder, fading in.
        let resets = jb.dec.resets;
        for k in 23..26u16 {
            jb.insert(k, u32::from(k) * 960, &[5, 0, 0], t0 + Duration::from_millis(20 * u64::from(k)));
        }
        let mut out = [0i16; 960];
        jb.fill(&mut out);
        assert!(out[0] > 0 && out[0] < 500 && out[959] == 500, "fade-in: {} .. {}", out[0], out[959]);
        assert_eq!(jb.dec.resets, resets + 1);
        assert_eq!(jb.stats().frozen_ms, 400, "the freeze ended");
    }

    #[test]
    fn a_late_packet_on_a_dry_buffer_is_played_not_dropped() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        for k in 0..2u16 {
            jb.insert(k, u32::from(k) * 960, &[1, 0, 0], t0 + Duration::from_millis(20 * u64::from(k)));
        }
        assert_eq!((pull(&mut jb), pull(&mut jb)), (100, 100));
        assert_eq!(pull(&mut jb), 1000, "dry: concealed");
        // Packet 2 was only delayed: it plays now, and 3 after it.
        jb.insert(2, 2 * 960, &[2, 0, 0], t0 + Duration::from_millis(90));
        jb.insert(3, 3 * 960, &[3, 0, 0], t0 + Duration::from_millis(90));
        assert_eq!((pull(&mut jb), pull(&mut jb)), (200, 300));
        assert_eq!(jb.stats().late, 0);
    }

    #[test]
    fn sender_pauses_are_not_loss_and_restarts_rebuffer() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        jb.insert(10, 0, &[1, 0, 0], t0);
        jb.insert(11, 960, &[2, 0, 0], t0 + Duration::from_millis(20));
        // The sender paused for 40 ms: timestamps jump, sequence numbers do not.
        jb.insert(12, 4 * 960, &[3, 0, 0], t0 + Duration::from_millis(80));
        let played: Vec<i16> = (0..5).map(|_| pull(&mut jb)).collect();
        assert_eq!(played, vec![100, 200, 1000, 1000, 300]);
        let s = jb.stats();
        assert_eq!((s.plc_frames, s.concealment_events, s.lost), (0, 0, 0));

        // A jump of 1000 sequence numbers: the sender restarted; the buffer starts over and
        // waits for its target delay again.
        jb.insert(1012, 777, &[4, 0, 0], t0 + Duration::from_millis(200));
        assert_eq!(jb.stats().restarts, 1);
        assert_eq!(pull(&mut jb), 0);
        jb.insert(1013, 777 + 960, &[4, 0, 0], t0 + Duration::from_millis(220));
        jb.insert(1014, 777 + 2 * 960, &[4, 0, 0], t0 + Duration::from_millis(240));
        assert_eq!(pull(&mut jb), 400);
        // Three packets far behind in a row: restarted with lower numbers.
        for (i, seq) in [100u16, 101, 102, 103, 104, 105].into_iter().enumerate() {
            jb.insert(seq, 5000 + i as u32 * 960, &[5 + i as u8, 0, 0], t0 + Duration::from_millis(260 + 20 * i as u64));
        }
        assert_eq!((jb.stats().restarts, jb.stats().late, jb.stats().lost), (2, 2, 0));
        assert_eq!((pull(&mut jb), pull(&mut jb)), (700, 800));
    }

    #[test]
    fn target_follows_jitter_fast_up_slow_down() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        // Packet k sent at 20·k ms, delayed by `extra(k)`; pulled every 20 ms.
        let run = |jb: &mut JitterBuffer<Fake>, ks: std::ops::Range<u32>, extra: &dyn Fn(u32) -> f64| {
            let mut arrivals: Vec<(f64, u32)> = ks.clone().map(|k| (20.0 * f64::from(k) + extra(k), k)).collect();
            arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut next = 0;
            let mut targets = Vec::new();
            for k in ks {
                let now = 20.0 * f64::from(k) + 5.0;
                while let Some(&(at, seq)) = arrivals.get(next).filter(|(at, _)| *at <= now) {
                    jb.insert(seq as u16, seq * 960, &[1, 0, 0], t0 + Duration::from_micros((at * 1000.0) as u64));
                    next += 1;
                }
                pull(jb);
                targets.push(jb.stats().target_ms);
            }
            targets
        };
        run(&mut jb, 0..200, &|_| 0.0);
        let calm = jb.stats().target_ms;
        assert_eq!(calm, 30, "no jitter: one packet + 10 ms");
        // Every 4th packet 80 ms late: once they are over 5 % of the 2 s window (the 6th, after
        // 0.5 s), the target jumps up at once.
        let up = run(&mut jb, 200..240, &|k| if k % 4 == 0 { 80.0 } else { 0.0 });
        let jumpy = jb.stats();
        let when = up.iter().position(|t| *t >= 105).unwrap_or(up.len());
        assert!(jumpy.jitter_ms >= 75 && when <= 30, "{up:?} {jumpy:?}");
        // Calm again: the window forgets the late packets in 2 s, then the target decays
        // (4 s time constant) to 50 ms (one packet more while losses were being concealed),
        // and to 30 ms once none has been for 10 s.
        let down = run(&mut jb, 240..1040, &|_| 0.0);
        println!("target: calm {calm} ms, jittery {up:?}, calm again (every 0.5 s) {:?}", down.iter().step_by(25).collect::<Vec<_>>());
        assert!(down.windows(2).all(|w| w[1] <= w[0]), "no way up when calm");
        assert!(down[75] > 100, "after 1.5 s: {} ms", down[75]);
        assert!((55..=80).contains(&down[300]), "after 6 s: {} ms", down[300]);
        assert!(down[799] < 40, "after 16 s: {} ms", down[799]);
    }

    #[test]
    fn a_backlog_is_flushed_down_to_the_target() {
        let t0 = Instant::now();
        let mut jb = fake(20);
        // 1 s of packets while no one pulls (no speaker yet).
        for k in 0..50u16 {
            jb.insert(k, u32::from(k) * 960, &[1, 0, 0], t0 + Duration::from_millis(20 * u64::from(k)));
        }
        assert!(jb.stats().delay_ms >= 1000);
        pull(&mut jb);
        let s = jb.stats();
        assert!(s.delay_ms <= 60 && s.overflow > 40, "{s:?}");
    }

    /// A tone is shortened by 10-20 ms and lengthened by 5-15 ms without a click: the splice
    /// lands on whole periods, the waveform stays continuous, its level unchanged.
    #[test]
    fn time_stretch_splices_a_tone_cleanly() {
        let mut tone = Tone::new(440.0, 48_000, 1, 0.3);
        let x = tone.next_frame(1920);
        let max_step = |v: &[i16]| v.windows(2).map(|w| (i32::from(w[1]) - i32::from(w[0])).abs()).max().unwrap_or(0);
        let natural = max_step(&x);

        let mut a = x.clone();
        let removed = accelerate(&mut a, 960, false).expect("a tone repeats well");
        assert!((480..=960).contains(&removed) && a.len() == 1920 - removed);
        let periods = removed as f64 * 440.0 / 48_000.0;
        assert!((periods - periods.round()).abs() < 0.05, "{removed} samples = {periods:.3} periods");
        assert!(max_step(&a) <= natural * 11 / 10, "{} vs {natural}", max_step(&a));
        assert!((tone_power(&a, 48_000, 1, 440.0) - tone_power(&x, 48_000, 1, 440.0)).abs() < 0.5);

        let mut e = x[..960].to_vec();
        let mut scratch = Vec::new();
        let added = expand(&mut e, &mut scratch, false).expect("a tone repeats well");
        assert!((240..=720).contains(&added) && e.len() == 960 + added);
        assert!(max_step(&e) <= natural * 11 / 10, "{} vs {natural}", max_step(&e));
        assert!((tone_power(&e, 48_000, 1, 440.0) - tone_power(&x[..960], 48_000, 1, 440.0)).abs() < 0.5);

        // Noise does not repeat: no splice unless forced.
        let mut rng = Rng(7);
        let noise: Vec<i16> = (0..1920).map(|_| ((rng.next_f64() - 0.5) * 20_000.0) as i16).collect();
        let mut n = noise.clone();
        assert_eq!(accelerate(&mut n, 960, false), None);
        assert_eq!(n, noise);
        assert!(accelerate(&mut n, 960, true).is_some());
    }
}
