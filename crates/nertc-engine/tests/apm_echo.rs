//! Audio processing on a simulated echo path: the far-end signal (what the engine would play)
//! reaches the microphone again after a delay, through a room-like impulse response with gain;
//! the processor gets both streams exactly as the engine hands them over (10 ms chunks of
//! 48 kHz i16: `analyze_render` with the played signal, `process_capture` with the microphone).
//!
//! Measured, not assumed: echo return loss enhancement (ERLE) = 10·log10(P_mic / P_out) over the
//! seconds after convergence, with no near-end talker. Checked that it cannot pass by muting: a
//! near-end talker alone afterwards keeps its level; noise suppression lowers stationary noise;
//! gain control lifts a quiet talker. Run: `cargo test -p nertc-engine --test apm_echo -- --nocapture`.
//!
//! Measured here (webrtc-audio-processing 0.3 as Debian ships it): AEC alone 21.5 dB over
//! 5-10 s, the default processing (AEC+NS+AGC) 31.8 dB. Over longer runs AEC alone drifts down
//! (about 17 dB at 30 s on this signal; the default processing about 24-27 dB): the bound is the
//! issue's ≥ 20 dB after convergence, checked where it is measured, and the drift is reported.

#![cfg(feature = "apm")]

use nertc_engine::audio_processing::{Apm, ApmConfig, CHUNK, RATE};

/// A deterministic speech-like signal: noise low-passed twice (most energy below 1 kHz, little
/// above 8 kHz, like a voice) shaped into syllables (about 4 a second, each with its own
/// loudness, short pauses between), at roughly `rms` of full scale.
struct Talker {
    seed: u32,
    lp: f32,
    lp2: f32,
    n: u64,
    syllable_gain: f32,
    rms: f32,
}

impl Talker {
    fn new(seed: u32, rms: f32) -> Talker {
        Talker { seed, lp: 0.0, lp2: 0.0, n: 0, syllable_gain: 1.0, rms }
    }

    fn white(&mut self) -> f32 {
        self.seed = self.seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (self.seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
    }

    fn next(&mut self) -> f32 {
        let syllable = RATE as u64 / 4;
        let pos = self.n % syllable;
        if pos == 0 {
            self.syllable_gain = 0.4 + 0.6 * (self.white() * 0.5 + 0.5);
        }
        self.n += 1;
        let w = self.white();
        self.lp += 0.12 * (w - self.lp);
        self.lp2 += 0.12 * (self.lp - self.lp2);
        // 200 ms voiced with a smooth envelope, 50 ms pause.
        let voiced = syllable * 4 / 5;
        let env = if pos < voiced { (std::f32::consts::PI * pos as f32 / voiced as f32).sin() } else { 0.0 };
        // Scaled so that the voiced parts come out at about `rms`.
        self.lp2 * env * self.syllable_gain * self.rms * 8.0
    }

    fn chunk(&mut self) -> Vec<f32> {
        (0..CHUNK).map(|_| self.next()).collect()
    }
}

/// The room: the played signal comes back `DELAY` later through a few reflections.
const DELAY: usize = 48 * 40;
const TAPS: [(usize, f32); 4] = [(0, 0.5), (37, 0.25), (101, -0.12), (240, 0.06)];

struct EchoPath {
    history: Vec<f32>,
}

impl EchoPath {
    fn new() -> EchoPath {
        EchoPath { history: vec![0.0; DELAY + 300] }
    }

    /// Pushes the played chunk, returns the echo the microphone hears at the same time.
    fn echo(&mut self, played: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(played.len());
        for &x in played {
            self.history.rotate_left(1);
            *self.history.last_mut().expect("non-empty history") = x;
            let last = self.history.len() - 1;
            out.push(TAPS.iter().map(|&(k, g)| g * self.history[last - DELAY - k]).sum());
        }
        out
    }
}

fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter().map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16).collect()
}

fn power(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

fn dbfs(x: &[i16]) -> f64 {
    db(power(x) / (32768.0 * 32768.0))
}

fn apm(config: ApmConfig) -> Apm {
    let apm = Apm::new();
    assert!(apm.available(), "the native audio processor was not created");
    apm.set_config(config);
    apm.set_capture_active(true);
    apm
}

/// Runs `seconds` of far-end speech through the echo path (plus a faint noise floor at the
/// microphone); returns (mic, processed) of every chunk.
fn run_echo(apm: &Apm, far: &mut Talker, path: &mut EchoPath, floor: &mut Talker, seconds: usize) -> Vec<(Vec<i16>, Vec<i16>)> {
    (0..seconds * 100)
        .map(|_| {
            let played = far.chunk();
            apm.analyze_render(&to_i16(&played), 1);
            let echo = path.echo(&played);
            let mic: Vec<f32> = echo.iter().map(|e| e + floor.white() * 0.0005).collect();
            let mic = to_i16(&mic);
            let mut out = mic.clone();
            apm.process_capture(&mut out);
            (mic, out)
        })
        .collect()
}

fn erle(chunks: &[(Vec<i16>, Vec<i16>)]) -> f64 {
    let mic: f64 = chunks.iter().map(|(m, _)| power(m)).sum();
    let out: f64 = chunks.iter().map(|(_, o)| power(o)).sum();
    db(mic / out.max(1e-9))
}

#[test]
fn echo_is_cancelled_and_the_near_end_talker_is_not() {
    let aec_only = ApmConfig { aec: true, ns: false, agc: false, earphone: false };
    let apm = apm(aec_only);
    let (mut far, mut path, mut floor) = (Talker::new(7, 0.1), EchoPath::new(), Talker::new(99, 1.0));
    let chunks = run_echo(&apm, &mut far, &mut path, &mut floor, 10);
    let echo_dbfs = dbfs(&chunks.iter().flat_map(|(m, _)| m.iter().copied()).collect::<Vec<_>>());
    let per_second: Vec<String> = chunks.chunks(100).map(|s| format!("{:.1}", erle(s))).collect();
    let converged = erle(&chunks[500..]);
    let stats = apm.stats();
    println!(
        "apm_echo: AEC only, echo at the mic {echo_dbfs:.1} dBFS, ERLE per second [{}] dB; after convergence (5-10 s) {converged:.1} dB; processor reports {stats:?}",
        per_second.join(", ")
    );
    assert!(converged >= 20.0, "ERLE after convergence {converged:.1} dB < 20 dB");

    // The near-end talker alone (the far end is silent, the room quiet): it must come through.
    let mut near = Talker::new(1234, 0.05);
    let talk: Vec<(Vec<i16>, Vec<i16>)> = (0..300)
        .map(|_| {
            apm.analyze_render(&[0i16; CHUNK], 1);
            let _ = path.echo(&[0.0; CHUNK]);
            let mic = to_i16(&near.chunk());
            let mut out = mic.clone();
            apm.process_capture(&mut out);
            (mic, out)
        })
        .collect();
    let kept = -erle(&talk[100..]);
    println!("apm_echo: near-end talker alone after convergence: output/input {kept:.1} dB");
    assert!(kept > -6.0, "the near-end talker is suppressed by {:.1} dB", -kept);
}

#[test]
fn echo_is_cancelled_with_the_default_processing() {
    let apm = apm(ApmConfig::default());
    let (mut far, mut path, mut floor) = (Talker::new(11, 0.1), EchoPath::new(), Talker::new(5, 1.0));
    let chunks = run_echo(&apm, &mut far, &mut path, &mut floor, 10);
    let per_second: Vec<String> = chunks.chunks(100).map(|s| format!("{:.1}", erle(s))).collect();
    let converged = erle(&chunks[500..]);
    println!("apm_echo: default (AEC+NS+AGC) echo reduction per second [{}] dB; 5-10 s {converged:.1} dB", per_second.join(", "));
    assert!(converged >= 20.0, "echo reduction with the default processing {converged:.1} dB < 20 dB");
}

#[test]
fn stationary_noise_is_suppressed() {
    let apm = apm(ApmConfig { aec: false, ns: true, agc: false, earphone: false });
    let mut noise = Talker::new(3, 1.0);
    let chunks: Vec<(Vec<i16>, Vec<i16>)> = (0..500)
        .map(|_| {
            let mic = to_i16(&(0..CHUNK).map(|_| noise.white() * 0.02).collect::<Vec<_>>());
            let mut out = mic.clone();
            apm.process_capture(&mut out);
            (mic, out)
        })
        .collect();
    let reduction = erle(&chunks[200..]);
    println!("apm_echo: NS on white noise at {:.1} dBFS: {reduction:.1} dB lower after 2 s", dbfs(&chunks[0].0));
    assert!(reduction >= 10.0, "noise reduced by only {reduction:.1} dB");
}

#[test]
fn a_quiet_talker_is_raised() {
    let apm = apm(ApmConfig { aec: false, ns: false, agc: true, earphone: false });
    let mut quiet = Talker::new(42, 0.01);
    let chunks: Vec<(Vec<i16>, Vec<i16>)> = (0..800)
        .map(|_| {
            let mic = to_i16(&quiet.chunk());
            let mut out = mic.clone();
            apm.process_capture(&mut out);
            (mic, out)
        })
        .collect();
    let gain = -erle(&chunks[400..]);
    let level = dbfs(&chunks[400..].iter().flat_map(|(m, _)| m.iter().copied()).collect::<Vec<_>>());
    println!("apm_echo: AGC on a talker at {level:.1} dBFS: +{gain:.1} dB after 4 s");
    assert!(gain >= 6.0, "a quiet talker raised by only {gain:.1} dB");
}
