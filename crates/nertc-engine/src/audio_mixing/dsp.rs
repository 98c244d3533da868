//! Voice and music DSP at 48 kHz mono: a pitch shifter (two crossfaded read heads sweeping a
//! delay line, so pitch moves and tempo does not), NERTC's 10-band equalizer (peaking biquads,
//! RBJ cookbook formulas) and a small reverb (four damped feedback combs into two all-passes,
//! after a pre-delay). Each processes blocks in place and keeps its state across blocks.

use std::f32::consts::PI;

const RATE: f32 = 48_000.0;

/// Pitch shift by a frequency ratio (1 = unchanged, 2 = an octave up, 0.5 = down).
pub struct PitchShifter {
    buf: Vec<f32>,
    write: usize,
    /// Position of the first head in its sweep, 0..1 (the second is half a sweep later).
    phase: f32,
    window: f32,
    ratio: f32,
}

impl PitchShifter {
    /// Longest sweep: 100 ms.
    const MAX_WINDOW: usize = 4800;

    /// The heads cross-fade every `window / |1 - ratio|` samples, which splits a tone into
    /// lines that many Hz apart; the sweep is sized so that this is about 4 Hz (20..=100 ms):
    /// the strongest line then lies within 2 Hz (5 Hz at an octave) of the exact ratio.
    fn window_for(ratio: f32) -> f32 {
        ((1.0 - ratio).abs() * RATE / 4.0).clamp(960.0, Self::MAX_WINDOW as f32)
    }

    pub fn new(ratio: f32) -> Self {
        PitchShifter { buf: vec![0.0; Self::MAX_WINDOW * 2], write: 0, phase: 0.0, window: Self::window_for(ratio), ratio }
    }

    pub fn set_ratio(&mut self, ratio: f32) {
        self.ratio = ratio;
        self.window = Self::window_for(ratio);
    }

    pub fn ratio(&self) -> f32 {
        self.ratio
    }

    fn read(&self, delay: f32) -> f32 {
        let n = self.buf.len();
        let pos = self.write as f32 - delay;
        let pos = if pos < 0.0 { pos + n as f32 } else { pos };
        let i = pos as usize % n;
        let frac = pos - pos.floor();
        let a = self.buf[i];
        let b = self.buf[(i + 1) % n];
        a + (b - a) * frac
    }

    pub fn process(&mut self, pcm: &mut [i16]) {
        if (self.ratio - 1.0).abs() < 1e-4 {
            return;
        }
        let n = self.buf.len();
        for s in pcm.iter_mut() {
            self.buf[self.write] = f32::from(*s);
            // The delay changes by (1 - ratio) per sample, so each head reads at `ratio` speed.
            self.phase = (self.phase + (1.0 - self.ratio) / self.window).rem_euclid(1.0);
            let p2 = (self.phase + 0.5) % 1.0;
            // sin² windows half a sweep apart sum to 1.
            let (g1, g2) = ((PI * self.phase).sin().powi(2), (PI * p2).sin().powi(2));
            let y = g1 * self.read(self.phase * self.window) + g2 * self.read(p2 * self.window);
            *s = y.clamp(-32768.0, 32767.0) as i16;
            self.write = (self.write + 1) % n;
        }
    }
}

/// A biquad filter (direct form I).
#[derive(Clone, Copy, Default)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    x: [f32; 2],
    y: [f32; 2],
}

impl Biquad {
    /// A peaking EQ at `freq` with `gain_db` and quality `q`.
    fn peaking(freq: f32, gain_db: f32, q: f32) -> Self {
        let a = 10f32.powf(gain_db / 40.0);
        let w = 2.0 * PI * freq.min(RATE * 0.45) / RATE;
        let alpha = w.sin() / (2.0 * q);
        let a0 = 1.0 + alpha / a;
        Biquad {
            b: [(1.0 + alpha * a) / a0, -2.0 * w.cos() / a0, (1.0 - alpha * a) / a0],
            a: [-2.0 * w.cos() / a0, (1.0 - alpha / a) / a0],
            ..Default::default()
        }
    }

    fn run(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1] - self.a[0] * self.y[0] - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// NERTC's equalizer bands (`NERtcVoiceEqualizationBand` 0..=9), Hz.
pub const EQ_BANDS: [f32; 10] = [31.0, 62.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0];

/// Ten peaking filters, one octave wide each; gains -15..=15 dB.
#[derive(Default)]
pub struct Equalizer {
    gains: [i32; 10],
    filters: Vec<(usize, Biquad)>,
}

impl Equalizer {
    pub fn set_gain(&mut self, band: usize, gain_db: i32) {
        if band < 10 && self.gains[band] != gain_db {
            self.gains[band] = gain_db;
            self.filters.retain(|(b, _)| *b != band);
            if gain_db != 0 {
                self.filters.push((band, Biquad::peaking(EQ_BANDS[band], gain_db as f32, 1.41)));
            }
        }
    }

    pub fn gains(&self) -> [i32; 10] {
        self.gains
    }

    pub fn process(&mut self, pcm: &mut [i16]) {
        if self.filters.is_empty() {
            return;
        }
        for s in pcm.iter_mut() {
            let mut x = f32::from(*s);
            for (_, f) in &mut self.filters {
                x = f.run(x);
            }
            *s = x.clamp(-32768.0, 32767.0) as i16;
        }
    }
}

/// `NERtcReverbParam`: gains linear 0..=1, damping 0..=1, room size 0..=1 (scales the comb
/// lengths), decay time (s, 0.1..=20) and pre-delay (s, 0..=1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReverbParam {
    pub wet_gain: f32,
    pub dry_gain: f32,
    pub damping: f32,
    pub room_size: f32,
    pub decay_time: f32,
    pub pre_delay: f32,
}

impl Default for ReverbParam {
    /// No reverb: dry only.
    fn default() -> Self {
        ReverbParam { wet_gain: 0.0, dry_gain: 1.0, damping: 1.0, room_size: 0.1, decay_time: 0.1, pre_delay: 0.0 }
    }
}

struct Comb {
    buf: Vec<f32>,
    i: usize,
    feedback: f32,
    damp: f32,
    lp: f32,
}

struct AllPass {
    buf: Vec<f32>,
    i: usize,
}

pub struct Reverb {
    param: ReverbParam,
    pre: Vec<f32>,
    pre_i: usize,
    combs: Vec<Comb>,
    allpasses: Vec<AllPass>,
}

impl Reverb {
    pub fn new(param: ReverbParam) -> Self {
        // Mutually prime comb lengths (ms at room size 1), scaled by the room size.
        let room = param.room_size.clamp(0.05, 1.0);
        let combs = [29.7f32, 37.1, 41.1, 43.7]
            .iter()
            .map(|ms| {
                let len = ((ms * room * 2.0) * RATE / 1000.0).max(16.0) as usize;
                // Feedback that decays by 60 dB over `decay_time`.
                let loops = param.decay_time.clamp(0.1, 20.0) * RATE / len as f32;
                Comb { buf: vec![0.0; len], i: 0, feedback: 10f32.powf(-3.0 / loops), damp: param.damping.clamp(0.0, 0.95), lp: 0.0 }
            })
            .collect();
        let allpasses = [5.0f32, 1.7].iter().map(|ms| AllPass { buf: vec![0.0; (ms * RATE / 1000.0) as usize], i: 0 }).collect();
        let pre_len = (param.pre_delay.clamp(0.0, 1.0) * RATE) as usize + 1;
        Reverb { param, pre: vec![0.0; pre_len], pre_i: 0, combs, allpasses }
    }

    pub fn param(&self) -> ReverbParam {
        self.param
    }

    pub fn process(&mut self, pcm: &mut [i16]) {
        let (wet, dry) = (self.param.wet_gain.clamp(0.0, 1.0), self.param.dry_gain.clamp(0.0, 1.0));
        if wet == 0.0 && dry == 1.0 {
            return;
        }
        for s in pcm.iter_mut() {
            let x = f32::from(*s);
            let delayed = self.pre[self.pre_i];
            self.pre[self.pre_i] = x;
            self.pre_i = (self.pre_i + 1) % self.pre.len();
            let mut acc = 0.0;
            for c in &mut self.combs {
                let out = c.buf[c.i];
                c.lp = out * (1.0 - c.damp) + c.lp * c.damp;
                c.buf[c.i] = delayed + c.lp * c.feedback;
                c.i = (c.i + 1) % c.buf.len();
                acc += out;
            }
            let mut y = acc * 0.25;
            for a in &mut self.allpasses {
                let b = a.buf[a.i];
                let v = y + b * 0.5;
                a.buf[a.i] = v;
                a.i = (a.i + 1) % a.buf.len();
                y = b - v * 0.5;
            }
            *s = (x * dry + y * wet).clamp(-32768.0, 32767.0) as i16;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tone::{Tone, dominant_freq, tone_power};

    fn tone(freq: f32, secs: f32) -> Vec<i16> {
        Tone::new(freq, 48_000, 1, 0.05).next_frame((48_000.0 * secs) as usize)
    }

    /// Strongest frequency near `around`, to 1 Hz.
    fn peak(pcm: &[i16], around: f32) -> f32 {
        let tail = &pcm[4_800..];
        ((around * 0.8) as i32..=(around * 1.2) as i32)
            .map(|f| (f as f32, tone_power(tail, 48_000, 1, f as f32)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, _)| f)
            .unwrap_or(0.0)
    }

    #[test]
    fn pitch_shift_moves_a_tone_by_the_ratio() {
        for (semitones, expect) in [(4i32, 440.0 * 2f32.powf(4.0 / 12.0)), (-5, 440.0 * 2f32.powf(-5.0 / 12.0)), (12, 880.0)] {
            let mut pcm = tone(440.0, 2.0);
            let mut p = PitchShifter::new(2f32.powf(semitones as f32 / 12.0));
            for block in pcm.chunks_mut(480) {
                p.process(block);
            }
            let got = peak(&pcm, expect);
            println!("pitch {semitones:+} semitones: 440 Hz -> {got} Hz (exact {expect:.1})");
            // The heads' crossfades split a tone into lines ~4 Hz apart (10 Hz at an octave); the
            // strongest is within half that of the exact ratio: ≤ 1 % (a sixth of a semitone).
            assert!((got / expect - 1.0).abs() <= 0.01, "{semitones} semitones: {got} Hz, want {expect}");
            let (shifted, left) = (tone_power(&pcm[4_800..], 48_000, 1, got), tone_power(&pcm[4_800..], 48_000, 1, 440.0));
            assert!(left < shifted - 20.0, "the original 440 Hz is gone: {left} dB vs {shifted} dB");
            assert_eq!(dominant_freq(&pcm, 48_000, 1).map(|f| (f - expect).abs() <= 10.0), Some(true));
        }
        let mut pcm = tone(440.0, 0.5);
        let before = pcm.clone();
        PitchShifter::new(1.0).process(&mut pcm);
        assert_eq!(pcm, before, "ratio 1 leaves the audio alone");
    }

    #[test]
    fn equalizer_boosts_and_cuts_its_band_only() {
        let level = |freq: f32, band: usize, gain: i32| {
            let mut pcm = tone(freq, 0.5);
            let mut eq = Equalizer::default();
            eq.set_gain(band, gain);
            eq.process(&mut pcm);
            tone_power(&pcm[12_000..], 48_000, 1, freq) - tone_power(&tone(freq, 0.5)[12_000..], 48_000, 1, freq)
        };
        let boost = level(1000.0, 5, 12);
        assert!((boost - 12.0).abs() < 0.5, "1 kHz band +12 dB: {boost}");
        let cut = level(250.0, 3, -15);
        assert!((cut + 15.0).abs() < 0.5, "250 Hz band -15 dB: {cut}");
        let far = level(4000.0, 3, -15);
        assert!(far.abs() < 0.5, "4 kHz untouched by the 250 Hz band: {far}");
    }

    #[test]
    fn reverb_leaves_a_tail_that_decays() {
        let mut pcm = vec![0i16; 48_000];
        pcm[..480].copy_from_slice(&tone(1000.0, 0.01));
        let param = ReverbParam { wet_gain: 0.8, dry_gain: 1.0, damping: 0.3, room_size: 0.8, decay_time: 1.0, pre_delay: 0.02 };
        let mut r = Reverb::new(param);
        r.process(&mut pcm);
        let rms = |s: &[i16]| (s.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
        let (early, late) = (rms(&pcm[4_800..9_600]), rms(&pcm[38_400..43_200]));
        assert!(early > 30.0, "a tail after the burst: {early}");
        assert!(late < early / 10.0, "decaying: {early} then {late}");
        let mut dry = tone(1000.0, 0.1);
        let before = dry.clone();
        Reverb::new(ReverbParam::default()).process(&mut dry);
        assert_eq!(dry, before, "the default is dry");
    }
}
