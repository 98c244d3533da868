//! Audio mixing (one music file), sound effects (several at once), voice effects and earback.
//!
//! ```text
//!  startAudioMixing / playEffect ─▶ loader thread: decode the whole file (decode.rs) to
//!      48 kHz mono ─▶ a Source in State (generation-checked: a stop or a newer start wins)
//!  "nertc-mixing" ticker (runs while any source exists), every 10 ms:
//!      each unpaused source gives 480 samples (pitch-shifted per source) ─▶ × send volume
//!      into the send FIFO, × playback volume into the playout FIFO; ends, loops, progress
//!      events (onAudioMixingTimestampUpdate, onAudioEffectFinished, …)
//!  audio encoder thread (media/audio_send.rs, one call per 20 ms frame): [`SendHook`]
//!      mic ─▶ voice chain (pitch, EQ, reverb) ─▶ earback FIFO; + send FIFO ─▶ Opus
//!  playout pull (local.rs): remote mix ─▶ recorder tap ─▶ + playout FIFO + earback FIFO
//! ```
//! FIFOs hold at most [`FIFO_MAX`] samples (the oldest drop): the ticker, the encoder and the
//! speaker run on three clocks; a consumer that stops (no encoder while an audience member)
//! costs nothing and the position keeps advancing in real time, as in NERTC.

pub mod decode;
pub mod dsp;
pub mod presets;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::event::{EngineEvent, Events};
use crate::shared::lock;
use dsp::{Equalizer, PitchShifter, Reverb, ReverbParam};

/// Samples per ticker block (10 ms at 48 kHz).
pub const BLOCK: usize = 480;
/// Most samples a FIFO keeps (60 ms).
pub const FIFO_MAX: usize = 2880;

/// NERTC's `NERtcAudioMixingState`.
pub mod mixing_state {
    pub const FINISHED: i32 = 0;
    pub const FAILED: i32 = 1;
}

/// The options of `startAudioMixing` / `playEffect` (NERTC's `NERtcCreateAudioMixingOption`
/// and `NERtcCreateAudioEffectOption`). Volumes 0..=100.
#[derive(Debug, Clone, PartialEq)]
pub struct MixOptions {
    pub path: String,
    /// Plays this many times; ≤ 0 loops until stopped.
    pub loop_count: i32,
    pub send_enabled: bool,
    pub send_volume: u32,
    pub playback_enabled: bool,
    pub playback_volume: u32,
    /// Where to start, ms into the file.
    pub start_timestamp_ms: u64,
    /// Timestamp events every this many ms (0: the default, 1000).
    pub progress_interval_ms: u32,
}

impl Default for MixOptions {
    fn default() -> Self {
        MixOptions {
            path: String::new(),
            loop_count: 1,
            send_enabled: true,
            send_volume: 100,
            playback_enabled: true,
            playback_volume: 100,
            start_timestamp_ms: 0,
            progress_interval_ms: 0,
        }
    }
}

/// Why a call is refused (the API maps these to NERTC codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixError {
    InvalidParam(String),
    /// Nothing to act on (no mixing, no such effect).
    NotPlaying,
}

/// What a loader thread decodes for (with the generation it was started under).
#[derive(Clone, Copy)]
enum Target {
    Mixing(u64),
    Effect(u32, u64),
}

/// One playing file.
struct Source {
    pcm: Arc<Vec<i16>>,
    pos: usize,
    /// Plays left, counting the current one; None loops forever.
    plays_left: Option<u32>,
    opts: MixOptions,
    paused: bool,
    /// Its file is still being decoded: silent, duration 0; settings made meanwhile are kept.
    loading: bool,
    /// Semitones, -12..=12.
    pitch: i32,
    shifter: PitchShifter,
    since_progress_ms: u32,
}

impl Source {
    fn new(pcm: Arc<Vec<i16>>, opts: MixOptions) -> Self {
        let pos = ((opts.start_timestamp_ms as usize).saturating_mul(48)).min(pcm.len());
        let plays_left = (opts.loop_count > 0).then_some(opts.loop_count as u32);
        Source {
            pcm,
            pos,
            plays_left,
            opts,
            paused: false,
            loading: false,
            pitch: 0,
            shifter: PitchShifter::new(1.0),
            since_progress_ms: 0,
        }
    }

    /// A source whose file is being decoded.
    fn loading(opts: MixOptions) -> Self {
        Source { loading: true, ..Source::new(Arc::new(Vec::new()), opts) }
    }

    /// The decoded file arrives: starts at the option's start time.
    fn loaded(&mut self, pcm: Arc<Vec<i16>>) {
        self.pos = ((self.opts.start_timestamp_ms as usize).saturating_mul(48)).min(pcm.len());
        self.pcm = pcm;
        self.loading = false;
    }

    fn duration_ms(&self) -> u64 {
        self.pcm.len() as u64 / 48
    }

    fn position_ms(&self) -> u64 {
        self.pos as u64 / 48
    }

    /// The next block; false when the source has finished (its last samples are in `out`).
    fn next(&mut self, out: &mut [i16]) -> bool {
        let mut filled = 0;
        let mut alive = true;
        while filled < out.len() {
            if self.pos >= self.pcm.len() {
                match &mut self.plays_left {
                    Some(n) if *n <= 1 => {
                        alive = false;
                        break;
                    }
                    Some(n) => *n -= 1,
                    None => {}
                }
                self.pos = 0;
                if self.pcm.is_empty() {
                    alive = false;
                    break;
                }
            }
            let n = (out.len() - filled).min(self.pcm.len() - self.pos);
            out[filled..filled + n].copy_from_slice(&self.pcm[self.pos..self.pos + n]);
            filled += n;
            self.pos += n;
        }
        out[filled..].fill(0);
        self.shifter.process(out);
        alive
    }

    fn progress_due(&mut self) -> bool {
        let every = if self.opts.progress_interval_ms == 0 { 1000 } else { self.opts.progress_interval_ms.max(100) };
        self.since_progress_ms += 10;
        if self.since_progress_ms >= every {
            self.since_progress_ms = 0;
            return true;
        }
        false
    }
}

/// The microphone's voice effects.
struct Voice {
    pitch: PitchShifter,
    eq: Equalizer,
    reverb: Reverb,
}

#[derive(Default)]
struct State {
    mixing: Option<Source>,
    /// Bumped by every start/stop of the mixing, so a late loader result is dropped.
    mixing_gen: u64,
    effects: BTreeMap<u32, Source>,
    effect_gens: BTreeMap<u32, u64>,
    next_gen: u64,
    ticking: bool,
    /// Earback on (its volume 0..=100) or off.
    earback_volume: Option<u32>,
}

#[derive(Default)]
struct Fifo(Mutex<VecDeque<i16>>);

impl Fifo {
    fn push(&self, pcm: &[i16]) {
        let mut q = lock(&self.0);
        q.extend(pcm.iter().copied());
        let over = q.len().saturating_sub(FIFO_MAX);
        q.drain(..over);
    }

    /// Adds up to `frames` queued samples onto `out` (interleaved `channels`).
    fn add_into(&self, out: &mut [i16], channels: usize, volume: f32) {
        let mut q = lock(&self.0);
        let channels = channels.max(1);
        for frame in out.chunks_mut(channels) {
            let Some(v) = q.pop_front() else { break };
            let v = f32::from(v) * volume;
            for s in frame {
                *s = (f32::from(*s) + v).clamp(-32768.0, 32767.0) as i16;
            }
        }
    }

    fn clear(&self) {
        lock(&self.0).clear();
    }
}

pub struct LocalMix {
    state: Mutex<State>,
    voice: Mutex<Voice>,
    send: Fifo,
    playout: Fifo,
    earback: Fifo,
    events: Events,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
    released: AtomicBool,
    me: Weak<LocalMix>,
}

impl LocalMix {
    pub fn new(events: Events) -> Arc<Self> {
        Arc::new_cyclic(|me| LocalMix {
            state: Mutex::new(State::default()),
            voice: Mutex::new(Voice {
                pitch: PitchShifter::new(1.0),
                eq: Equalizer::default(),
                reverb: Reverb::new(ReverbParam::default()),
            }),
            send: Fifo::default(),
            playout: Fifo::default(),
            earback: Fifo::default(),
            events,
            ticker: Mutex::new(None),
            released: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    fn check(opts: &MixOptions) -> Result<(), MixError> {
        if opts.path.is_empty() || opts.path.len() >= 256 {
            return Err(MixError::InvalidParam("path empty or 256 characters or more".into()));
        }
        if opts.send_volume > 100 || opts.playback_volume > 100 {
            return Err(MixError::InvalidParam("volume above 100".into()));
        }
        Ok(())
    }

    /// `startAudioMixing`: replaces a running mixing. The file is decoded on its own thread;
    /// a file that cannot be played fires `onAudioMixingStateChanged(1, code)`.
    pub fn start_mixing(&self, opts: MixOptions) -> Result<(), MixError> {
        Self::check(&opts)?;
        let generation = {
            let mut st = lock(&self.state);
            st.next_gen += 1;
            st.mixing_gen = st.next_gen;
            st.mixing = Some(Source::loading(opts.clone()));
            st.mixing_gen
        };
        self.load(opts, Target::Mixing(generation))
    }

    /// `playEffect`: a running effect with the same id is replaced.
    pub fn play_effect(&self, id: u32, opts: MixOptions) -> Result<(), MixError> {
        Self::check(&opts)?;
        let generation = {
            let mut st = lock(&self.state);
            st.next_gen += 1;
            let g = st.next_gen;
            st.effect_gens.insert(id, g);
            st.effects.insert(id, Source::loading(opts.clone()));
            g
        };
        self.load(opts, Target::Effect(id, generation))
    }

    fn load(&self, opts: MixOptions, target: Target) -> Result<(), MixError> {
        let me = self.me.clone();
        let spawned = std::thread::Builder::new().name("nertc-mix-load".into()).spawn(move || {
            let started = Instant::now();
            // A decoder panicking on a malformed file must not leave the source loading forever.
            let path = std::path::Path::new(&opts.path);
            let decoded = std::panic::catch_unwind(|| decode::decode_file(path)).unwrap_or_else(|_| {
                Err(decode::DecodeError { code: decode::mixing_error::DECODE, msg: format!("{}: the decoder panicked", path.display()) })
            });
            let Some(mix) = me.upgrade() else { return };
            let mut st = lock(&mix.state);
            let current = match target {
                Target::Mixing(g) => st.mixing_gen == g,
                Target::Effect(id, g) => st.effect_gens.get(&id) == Some(&g),
            };
            if !current || mix.released.load(Relaxed) {
                return;
            }
            match decoded {
                Ok(pcm) => {
                    tracing::info!("mixing: {} decoded ({} ms of audio) in {:?}", opts.path, pcm.len() / 48, started.elapsed());
                    let pcm = Arc::new(pcm);
                    let src = match target {
                        Target::Mixing(_) => st.mixing.as_mut(),
                        Target::Effect(id, _) => st.effects.get_mut(&id),
                    };
                    if let Some(src) = src {
                        src.loaded(pcm);
                    }
                    drop(st);
                    mix.ensure_ticker();
                }
                Err(e) => {
                    tracing::error!("mixing: {}", e.msg);
                    match target {
                        Target::Mixing(_) => {
                            st.mixing = None;
                            drop(st);
                            mix.events.send(EngineEvent::AudioMixingStateChanged { state: mixing_state::FAILED, error_code: e.code });
                        }
                        // NERTC has no failure event for effects: the log says why.
                        Target::Effect(id, _) => {
                            st.effect_gens.remove(&id);
                            st.effects.remove(&id);
                        }
                    }
                }
            }
        });
        spawned.map(|_| ()).map_err(|e| MixError::InvalidParam(format!("cannot start the loader thread: {e}")))
    }

    fn ensure_ticker(&self) {
        if self.released.load(Relaxed) {
            return;
        }
        let mut st = lock(&self.state);
        if st.ticking {
            return;
        }
        st.ticking = true;
        drop(st);
        let me = self.me.clone();
        let mut ticker = lock(&self.ticker);
        if let Some(old) = ticker.take() {
            // It has set `ticking` false and is returning.
            let _ = old.join();
        }
        match std::thread::Builder::new().name("nertc-mixing".into()).spawn(move || tick_loop(me)) {
            Ok(h) => *ticker = Some(h),
            Err(e) => {
                tracing::error!("cannot start the mixing thread: {e}");
                lock(&self.state).ticking = false;
            }
        }
    }

    /// One 10 ms step; false when nothing is left to play.
    fn tick(&self) -> bool {
        let mut send = [0i32; BLOCK];
        let mut play = [0i32; BLOCK];
        let mut block = [0i16; BLOCK];
        let mut events = Vec::new();
        let alive = {
            let mut st = lock(&self.state);
            let mut add = |src: &mut Source, block: &mut [i16; BLOCK]| -> bool {
                if src.paused || src.loading {
                    return true;
                }
                let alive = src.next(block);
                let (sv, pv) = (src.opts.send_volume as i32, src.opts.playback_volume as i32);
                for (i, v) in block.iter().enumerate() {
                    if src.opts.send_enabled {
                        send[i] += i32::from(*v) * sv / 100;
                    }
                    if src.opts.playback_enabled {
                        play[i] += i32::from(*v) * pv / 100;
                    }
                }
                alive
            };
            if let Some(m) = st.mixing.as_mut() {
                if !add(m, &mut block) {
                    st.mixing = None;
                    events.push(EngineEvent::AudioMixingStateChanged { state: mixing_state::FINISHED, error_code: 0 });
                } else if !m.paused && !m.loading && m.progress_due() {
                    events.push(EngineEvent::AudioMixingTimestampUpdate { timestamp_ms: m.position_ms() });
                }
            }
            let mut finished = Vec::new();
            for (id, e) in st.effects.iter_mut() {
                if !add(e, &mut block) {
                    finished.push(*id);
                } else if !e.paused && !e.loading && e.progress_due() {
                    events.push(EngineEvent::AudioEffectTimestampUpdate { effect_id: *id, timestamp_ms: e.position_ms() });
                }
            }
            for id in finished {
                st.effects.remove(&id);
                events.push(EngineEvent::AudioEffectFinished { effect_id: id });
            }
            let alive = st.mixing.is_some() || !st.effects.is_empty();
            if !alive {
                st.ticking = false;
            }
            alive
        };
        let clamp = |v: &i32| (*v).clamp(-32768, 32767) as i16;
        self.send.push(&send.iter().map(clamp).collect::<Vec<_>>());
        self.playout.push(&play.iter().map(clamp).collect::<Vec<_>>());
        for ev in events {
            self.events.send(ev);
        }
        alive
    }

    // ---- mixing controls ----

    fn with_mixing<T>(&self, f: impl FnOnce(&mut Source) -> Result<T, MixError>) -> Result<T, MixError> {
        let mut st = lock(&self.state);
        st.mixing.as_mut().map_or(Err(MixError::NotPlaying), f)
    }

    fn with_effect<T>(&self, id: u32, f: impl FnOnce(&mut Source) -> Result<T, MixError>) -> Result<T, MixError> {
        let mut st = lock(&self.state);
        st.effects.get_mut(&id).map_or(Err(MixError::NotPlaying), f)
    }

    pub fn stop_mixing(&self) -> Result<(), MixError> {
        let mut st = lock(&self.state);
        st.next_gen += 1;
        st.mixing_gen = st.next_gen;
        st.mixing.take().map(|_| ()).ok_or(MixError::NotPlaying)
    }

    pub fn pause_mixing(&self, paused: bool) -> Result<(), MixError> {
        self.with_mixing(|m| {
            m.paused = paused;
            Ok(())
        })
    }

    pub fn set_mixing_send_volume(&self, v: u32) -> Result<(), MixError> {
        check_volume(v)?;
        self.with_mixing(|m| {
            m.opts.send_volume = v;
            Ok(())
        })
    }

    pub fn set_mixing_playback_volume(&self, v: u32) -> Result<(), MixError> {
        check_volume(v)?;
        self.with_mixing(|m| {
            m.opts.playback_volume = v;
            Ok(())
        })
    }

    pub fn mixing_send_volume(&self) -> Result<u32, MixError> {
        self.with_mixing(|m| Ok(m.opts.send_volume))
    }

    pub fn mixing_playback_volume(&self) -> Result<u32, MixError> {
        self.with_mixing(|m| Ok(m.opts.playback_volume))
    }

    pub fn mixing_duration_ms(&self) -> Result<u64, MixError> {
        self.with_mixing(|m| Ok(m.duration_ms()))
    }

    pub fn mixing_position_ms(&self) -> Result<u64, MixError> {
        self.with_mixing(|m| Ok(m.position_ms()))
    }

    pub fn set_mixing_position_ms(&self, ms: u64) -> Result<(), MixError> {
        self.with_mixing(|m| set_position(m, ms))
    }

    /// Semitones, -12..=12.
    pub fn set_mixing_pitch(&self, pitch: i32) -> Result<(), MixError> {
        check_pitch(pitch)?;
        self.with_mixing(|m| {
            set_pitch(m, pitch);
            Ok(())
        })
    }

    pub fn mixing_pitch(&self) -> Result<i32, MixError> {
        self.with_mixing(|m| Ok(m.pitch))
    }

    // ---- effects ----

    pub fn stop_effect(&self, id: u32) -> Result<(), MixError> {
        let mut st = lock(&self.state);
        st.effect_gens.remove(&id);
        st.effects.remove(&id).map(|_| ()).ok_or(MixError::NotPlaying)
    }

    pub fn stop_all_effects(&self) {
        let mut st = lock(&self.state);
        st.effect_gens.clear();
        st.effects.clear();
    }

    pub fn pause_effect(&self, id: u32, paused: bool) -> Result<(), MixError> {
        self.with_effect(id, |e| {
            e.paused = paused;
            Ok(())
        })
    }

    pub fn pause_all_effects(&self, paused: bool) {
        lock(&self.state).effects.values_mut().for_each(|e| e.paused = paused);
    }

    pub fn set_effect_send_volume(&self, id: u32, v: u32) -> Result<(), MixError> {
        check_volume(v)?;
        self.with_effect(id, |e| {
            e.opts.send_volume = v;
            Ok(())
        })
    }

    pub fn set_effect_playback_volume(&self, id: u32, v: u32) -> Result<(), MixError> {
        check_volume(v)?;
        self.with_effect(id, |e| {
            e.opts.playback_volume = v;
            Ok(())
        })
    }

    pub fn effect_send_volume(&self, id: u32) -> Result<u32, MixError> {
        self.with_effect(id, |e| Ok(e.opts.send_volume))
    }

    pub fn effect_playback_volume(&self, id: u32) -> Result<u32, MixError> {
        self.with_effect(id, |e| Ok(e.opts.playback_volume))
    }

    pub fn effect_duration_ms(&self, id: u32) -> Result<u64, MixError> {
        self.with_effect(id, |e| Ok(e.duration_ms()))
    }

    pub fn effect_position_ms(&self, id: u32) -> Result<u64, MixError> {
        self.with_effect(id, |e| Ok(e.position_ms()))
    }

    pub fn set_effect_position_ms(&self, id: u32, ms: u64) -> Result<(), MixError> {
        self.with_effect(id, |e| set_position(e, ms))
    }

    pub fn set_effect_pitch(&self, id: u32, pitch: i32) -> Result<(), MixError> {
        check_pitch(pitch)?;
        self.with_effect(id, |e| {
            set_pitch(e, pitch);
            Ok(())
        })
    }

    pub fn effect_pitch(&self, id: u32) -> Result<i32, MixError> {
        self.with_effect(id, |e| Ok(e.pitch))
    }

    // ---- voice effects and earback ----

    /// `setLocalVoicePitch`: a frequency ratio, 0.5..=2.0.
    pub fn set_voice_pitch(&self, ratio: f64) -> Result<(), MixError> {
        if !(0.5..=2.0).contains(&ratio) {
            return Err(MixError::InvalidParam(format!("voice pitch {ratio} (0.5..=2.0)")));
        }
        lock(&self.voice).pitch.set_ratio(ratio as f32);
        Ok(())
    }

    pub fn voice_pitch(&self) -> f32 {
        lock(&self.voice).pitch.ratio()
    }

    /// `setLocalVoiceEqualization`: band 0..=9, gain -15..=15 dB.
    pub fn set_voice_equalization(&self, band: i32, gain_db: i32) -> Result<(), MixError> {
        if !(0..=9).contains(&band) || !(-15..=15).contains(&gain_db) {
            return Err(MixError::InvalidParam(format!("band {band} (0..=9), gain {gain_db} (-15..=15)")));
        }
        lock(&self.voice).eq.set_gain(band as usize, gain_db);
        Ok(())
    }

    pub fn set_voice_reverb(&self, p: ReverbParam) -> Result<(), MixError> {
        let ok = (0.0..=1.0).contains(&p.wet_gain)
            && (0.0..=1.0).contains(&p.dry_gain)
            && (0.0..=1.0).contains(&p.damping)
            && (0.0..=1.0).contains(&p.room_size)
            && (0.1..=20.0).contains(&p.decay_time)
            && (0.0..=1.0).contains(&p.pre_delay);
        if !ok {
            return Err(MixError::InvalidParam(format!("reverb {p:?}")));
        }
        lock(&self.voice).reverb = Reverb::new(p);
        Ok(())
    }

    /// A preset: pitch ratio, EQ gains per band, reverb (replaces all three).
    pub fn set_voice_preset(&self, ratio: f32, eq: [i32; 10], reverb: ReverbParam) {
        let mut v = lock(&self.voice);
        v.pitch.set_ratio(ratio);
        for (band, g) in eq.iter().enumerate() {
            v.eq.set_gain(band, *g);
        }
        v.reverb = Reverb::new(reverb);
    }

    /// `enableEarback(enabled, volume)`: volume 0..=100.
    pub fn set_earback(&self, volume: Option<u32>) -> Result<(), MixError> {
        if let Some(v) = volume {
            check_volume(v)?;
        }
        lock(&self.state).earback_volume = volume;
        if volume.is_none() {
            self.earback.clear();
        }
        Ok(())
    }

    pub fn set_earback_volume(&self, v: u32) -> Result<(), MixError> {
        check_volume(v)?;
        let mut st = lock(&self.state);
        match &mut st.earback_volume {
            Some(vol) => {
                *vol = v;
                Ok(())
            }
            None => Err(MixError::NotPlaying),
        }
    }

    /// Stops the mixing and every effect (leaving the channel); voice effects and earback stay.
    pub fn stop_all(&self) {
        let mut st = lock(&self.state);
        st.next_gen += 1;
        st.mixing_gen = st.next_gen;
        st.mixing = None;
        st.effect_gens.clear();
        st.effects.clear();
        drop(st);
        self.send.clear();
        self.playout.clear();
    }

    /// Stops everything (release): no thread runs after this returns.
    pub fn release(&self) {
        self.released.store(true, Relaxed);
        {
            let mut st = lock(&self.state);
            st.mixing = None;
            st.effects.clear();
            st.mixing_gen += 1;
            st.effect_gens.clear();
        }
        if let Some(t) = lock(&self.ticker).take() {
            let _ = t.join();
        }
    }
}

fn check_volume(v: u32) -> Result<(), MixError> {
    if v > 100 { Err(MixError::InvalidParam(format!("volume {v} (0..=100)"))) } else { Ok(()) }
}

fn check_pitch(p: i32) -> Result<(), MixError> {
    if (-12..=12).contains(&p) { Ok(()) } else { Err(MixError::InvalidParam(format!("pitch {p} (-12..=12 semitones)"))) }
}

fn set_pitch(s: &mut Source, pitch: i32) {
    s.pitch = pitch;
    s.shifter.set_ratio(2f32.powf(pitch as f32 / 12.0));
}

fn set_position(s: &mut Source, ms: u64) -> Result<(), MixError> {
    if ms > s.duration_ms() {
        return Err(MixError::InvalidParam(format!("position {ms} ms beyond {} ms", s.duration_ms())));
    }
    s.pos = (ms as usize * 48).min(s.pcm.len());
    Ok(())
}

fn tick_loop(me: Weak<LocalMix>) {
    let mut next = Instant::now();
    loop {
        next += Duration::from_millis(10);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_millis(100) {
            // Far behind (a suspended machine): do not catch up in a burst.
            next = now;
        }
        let Some(mix) = me.upgrade() else { return };
        if mix.released.load(Relaxed) || !mix.tick() {
            return;
        }
    }
}

/// What the audio encoder thread calls on each 20 ms frame of captured audio (after the
/// recording volume, before mute and encoding).
pub trait SendHook: Send + Sync {
    fn process(&self, pcm: &mut [i16]);
}

/// The engine's hook: voice effects, earback, the mixing and effects, the local recording tap.
pub struct LocalAudioHook {
    pub mix: Arc<LocalMix>,
    pub recording: Arc<crate::recording::Recording>,
    /// `startAudioDump(WithType)`: the WAV and the raw PCM dump.
    pub dumps: [Arc<crate::recording::Recording>; 2],
    /// Live stream tasks (what is sent; the remote users come from the mixer).
    pub live: Arc<crate::live::LiveStreams>,
}

impl SendHook for LocalAudioHook {
    fn process(&self, pcm: &mut [i16]) {
        {
            let mut v = lock(&self.mix.voice);
            v.pitch.process(pcm);
            v.eq.process(pcm);
            v.reverb.process(pcm);
        }
        if lock(&self.mix.state).earback_volume.is_some() {
            self.mix.earback.push(pcm);
        }
        self.mix.send.add_into(pcm, 1, 1.0);
        self.recording.tap_local(pcm);
        self.dumps.iter().for_each(|d| d.tap_local(pcm));
        self.live.tap_local(pcm);
    }
}

impl LocalAudioHook {
    /// Called by the speaker after the remote mix is in `out`.
    pub fn playout(&self, out: &mut [i16], channels: usize) {
        self.recording.tap_remote(out, channels);
        self.dumps.iter().for_each(|d| d.tap_remote(out, channels));
        self.mix.playout.add_into(out, channels, 1.0);
        let earback = lock(&self.mix.state).earback_volume;
        if let Some(v) = earback {
            self.mix.earback.add_into(out, channels, v as f32 / 100.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tone::{Tone, tone_power};
    use crate::recording::Recording;

    fn hook() -> (LocalAudioHook, crossbeam_channel::Receiver<EngineEvent>) {
        let (events, rx) = Events::channel();
        let mix = LocalMix::new(events);
        (
            LocalAudioHook {
                mix,
                recording: Arc::new(Recording::new(None)),
                dumps: [Arc::new(Recording::new(None)), Arc::new(Recording::new(None))],
                live: Arc::default(),
            },
            rx,
        )
    }

    fn tone_file(name: &str, freq: f32, secs: f32) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("nertc-mix-unit-{name}-{}.wav", std::process::id()));
        let spec = hound::WavSpec { channels: 1, sample_rate: 48_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&path, spec).expect("create");
        for s in Tone::new(freq, 48_000, 1, 0.4).next_frame((48_000.0 * secs) as usize) {
            w.write_sample(s).expect("write");
        }
        w.finalize().expect("finalize");
        path
    }

    fn wait_for(rx: &crossbeam_channel::Receiver<EngineEvent>, pred: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ev = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("event in time");
            if pred(&ev) {
                return ev;
            }
        }
    }

    /// Levels (dBFS) at `freq` of what is sent (a silent microphone) and what is played
    /// (silent remote users, stereo) over 100 ms, after the FIFOs have settled.
    fn sent_and_played(h: &LocalAudioHook, freq: f32) -> (f32, f32) {
        std::thread::sleep(Duration::from_millis(80));
        let (mut sent, mut played) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let mut pcm = vec![0i16; 960];
            h.process(&mut pcm);
            sent.extend(pcm);
            let mut out = vec![0i16; 1920];
            h.playout(&mut out, 2);
            played.extend(out.chunks_exact(2).map(|f| f[0]));
            std::thread::sleep(Duration::from_millis(20));
        }
        (tone_power(&sent, 48_000, 1, freq), tone_power(&played, 48_000, 1, freq))
    }

    #[test]
    fn mixing_reaches_send_and_playout_at_their_volumes_and_ends() {
        let (h, rx) = hook();
        let file = tone_file("volumes", 600.0, 0.6);
        let opts = MixOptions {
            path: file.to_string_lossy().into_owned(),
            send_volume: 100,
            playback_volume: 25,
            progress_interval_ms: 100,
            ..Default::default()
        };
        h.mix.start_mixing(opts).expect("start");
        wait_for(&rx, |e| matches!(e, EngineEvent::AudioMixingTimestampUpdate { .. }));
        let (sent, played) = sent_and_played(&h, 600.0);
        // 0.4 full scale = -11.0 dBFS RMS; 25 % is 12.0 dB lower.
        assert!((sent + 11.0).abs() < 1.5, "sent at {sent} dBFS");
        assert!((played - (sent - 12.04)).abs() < 1.5, "played at {played} dBFS vs sent {sent}");
        wait_for(&rx, |e| matches!(e, EngineEvent::AudioMixingStateChanged { state: mixing_state::FINISHED, error_code: 0 }));
        assert_eq!(h.mix.mixing_duration_ms(), Err(MixError::NotPlaying));
        // What was queued (≤ 60 ms) plays out, then silence.
        let _ = sent_and_played(&h, 600.0);
        let (sent, played) = sent_and_played(&h, 600.0);
        assert!(sent < -90.0 && played < -90.0, "silent after the end: {sent} / {played}");
        let _ = std::fs::remove_file(file);
        h.mix.release();
    }

    #[test]
    fn pause_silences_and_keeps_the_position_send_disabled_stays_local() {
        let (h, rx) = hook();
        let file = tone_file("pause", 500.0, 5.0);
        let opts =
            MixOptions { path: file.to_string_lossy().into_owned(), send_enabled: false, progress_interval_ms: 100, ..Default::default() };
        h.mix.start_mixing(opts).expect("start");
        wait_for(&rx, |e| matches!(e, EngineEvent::AudioMixingTimestampUpdate { .. }));
        let (sent, played) = sent_and_played(&h, 500.0);
        assert!(sent < -90.0, "send disabled: {sent}");
        assert!(played > -14.0, "played locally: {played}");
        h.mix.pause_mixing(true).expect("pause");
        let at = h.mix.mixing_position_ms().expect("position");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(h.mix.mixing_position_ms(), Ok(at), "paused: the position holds");
        let _ = sent_and_played(&h, 500.0);
        let (_, played) = sent_and_played(&h, 500.0);
        assert!(played < -90.0, "paused: silent ({played})");
        h.mix.pause_mixing(false).expect("resume");
        std::thread::sleep(Duration::from_millis(300));
        assert!(h.mix.mixing_position_ms().expect("position") > at, "resumed: it moves again");
        h.mix.set_mixing_position_ms(4_000).expect("seek");
        assert!((4_000..4_200).contains(&h.mix.mixing_position_ms().expect("position")));
        h.mix.stop_all();
        assert_eq!(h.mix.stop_mixing(), Err(MixError::NotPlaying));
        let _ = std::fs::remove_file(file);
        h.mix.release();
    }

    #[test]
    fn settings_made_while_decoding_are_kept() {
        let (h, _rx) = hook();
        let opts = MixOptions { path: "x.wav".into(), start_timestamp_ms: 100, ..Default::default() };
        lock(&h.mix.state).mixing = Some(Source::loading(opts));
        assert_eq!(h.mix.mixing_duration_ms(), Ok(0), "duration 0 while decoding, not an error");
        h.mix.set_mixing_send_volume(30).expect("volume while decoding");
        h.mix.set_mixing_pitch(-2).expect("pitch while decoding");
        h.mix.pause_mixing(true).expect("pause while decoding");
        lock(&h.mix.state).mixing.as_mut().expect("still there").loaded(Arc::new(vec![1; 48_000]));
        assert_eq!(h.mix.mixing_duration_ms(), Ok(1000));
        assert_eq!(h.mix.mixing_position_ms(), Ok(100), "starts at start_timestamp");
        assert_eq!((h.mix.mixing_send_volume(), h.mix.mixing_pitch()), (Ok(30), Ok(-2)));
        assert!(lock(&h.mix.state).mixing.as_ref().is_some_and(|m| m.paused && !m.loading));
    }

    #[test]
    fn earback_plays_the_processed_microphone_locally() {
        let (h, _rx) = hook();
        h.mix.set_voice_pitch(2.0).expect("pitch");
        h.mix.set_earback(Some(50)).expect("earback");
        let mut mic = Tone::new(440.0, 48_000, 1, 0.4);
        let mut played = Vec::new();
        for _ in 0..50 {
            let mut pcm = mic.next_frame(960);
            h.process(&mut pcm);
            let mut out = vec![0i16; 1920];
            h.playout(&mut out, 2);
            played.extend(out.chunks_exact(2).map(|f| f[0]));
        }
        let tail = &played[played.len() / 2..];
        let (octave, dry) = (tone_power(tail, 48_000, 1, 880.0), tone_power(tail, 48_000, 1, 440.0));
        // 0.4 full scale = -11.0 dBFS; at volume 50, -6 dB.
        assert!((octave + 17.0).abs() < 2.0, "the pitched voice at half volume: {octave} dBFS");
        assert!(dry < octave - 20.0, "not the dry voice: {dry}");
        h.mix.set_earback(None).expect("off");
        let mut out = vec![0i16; 1920];
        let mut pcm = mic.next_frame(960);
        h.process(&mut pcm);
        h.playout(&mut out, 2);
        assert!(out.iter().all(|s| *s == 0), "earback off: nothing played");
        assert_eq!(h.mix.set_earback_volume(10), Err(MixError::NotPlaying));
    }
}
