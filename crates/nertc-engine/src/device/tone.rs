//! A sine tone generator (the synthetic microphone) and level/frequency measurements that
//! tests use to check that a tone arrived.
//!
//! Levels are in dBFS relative to a full-scale *square* wave, the usual digital convention: a
//! full-scale sine has an RMS of -3.01 dBFS, so `Tone::new(440.0, 48000, 1, 0.3)` measures
//! 20·log10(0.3/√2) ≈ -13.5 dBFS with both [`rms_dbfs`] and [`tone_power`].

use std::f64::consts::TAU;

/// The quietest level the measurements report (digital silence).
pub const SILENCE_DBFS: f32 = -120.0;

/// A continuous-phase sine generator producing interleaved i16 PCM (same signal on every
/// channel).
#[derive(Debug, Clone)]
pub struct Tone {
    step: f64,
    phase: f64,
    channels: u16,
    amplitude: f64,
}

impl Tone {
    /// `amplitude` is a fraction of full scale, clamped to 0..=1; `channels` ≥ 1.
    pub fn new(freq_hz: f32, sample_rate: u32, channels: u16, amplitude: f32) -> Self {
        Tone {
            step: TAU * f64::from(freq_hz) / f64::from(sample_rate.max(1)),
            phase: 0.0,
            channels: channels.max(1),
            amplitude: f64::from(amplitude.clamp(0.0, 1.0)) * f64::from(i16::MAX),
        }
    }

    /// The next `samples_per_channel` samples, interleaved; the phase carries over between calls.
    pub fn next_frame(&mut self, samples_per_channel: usize) -> Vec<i16> {
        let ch = usize::from(self.channels);
        let mut out = Vec::with_capacity(samples_per_channel * ch);
        for _ in 0..samples_per_channel {
            let s = (self.phase.sin() * self.amplitude).round() as i16;
            out.extend(std::iter::repeat_n(s, ch));
            self.phase += self.step;
            if self.phase >= TAU {
                self.phase -= TAU;
            }
        }
        out
    }
}

fn to_dbfs(rms: f64) -> f32 {
    if rms <= 0.0 {
        return SILENCE_DBFS;
    }
    ((20.0 * (rms / 32768.0).log10()) as f32).max(SILENCE_DBFS)
}

/// RMS level of the samples (all channels together) in dBFS; [`SILENCE_DBFS`] for silence or
/// no samples.
pub fn rms_dbfs(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return SILENCE_DBFS;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    to_dbfs((sum / pcm.len() as f64).sqrt())
}

/// Level in dBFS of the sinusoidal component at `freq` (Goertzel over a Hann window of the
/// channel average). A pure tone at `freq` reads the same as its [`rms_dbfs`]; frequencies
/// further than a few bins (sample_rate / frames) away read far lower. Use ≥ 20 ms of audio.
pub fn tone_power(pcm: &[i16], sample_rate: u32, channels: u16, freq: f32) -> f32 {
    let ch = usize::from(channels.max(1));
    let n = pcm.len() / ch;
    if n < 2 || sample_rate == 0 {
        return SILENCE_DBFS;
    }
    let w = TAU * f64::from(freq) / f64::from(sample_rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut window_sum = 0.0;
    for (i, frame) in pcm.chunks_exact(ch).enumerate() {
        let x = frame.iter().map(|&s| f64::from(s)).sum::<f64>() / ch as f64;
        let hann = 0.5 - 0.5 * (TAU * i as f64 / (n - 1) as f64).cos();
        window_sum += hann;
        let s0 = x * hann + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let magnitude = (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt();
    // |X| = A * sum(window) / 2 for a sine of amplitude A; its RMS is A / sqrt(2).
    let amplitude = 2.0 * magnitude / window_sum;
    to_dbfs(amplitude / std::f64::consts::SQRT_2)
}

/// The strongest frequency between 50 Hz and min(5 kHz, Nyquist), to 10 Hz (a coarse Goertzel
/// scan over at most the last 200 ms); None for silence.
pub fn dominant_freq(pcm: &[i16], sample_rate: u32, channels: u16) -> Option<f32> {
    let ch = usize::from(channels.max(1));
    let max_frames = sample_rate as usize / 5;
    let frames = pcm.len() / ch;
    let tail = &pcm[frames.saturating_sub(max_frames) * ch..frames * ch];
    if rms_dbfs(tail) <= SILENCE_DBFS {
        return None;
    }
    let top = (sample_rate / 2).min(5000);
    (5..=top / 10)
        .map(|k| {
            let f = k as f32 * 10.0;
            (f, tone_power(tail, sample_rate, channels, f))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(f, _)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_is_continuous_and_measurable() {
        let mut t = Tone::new(440.0, 48_000, 2, 0.5);
        let a = t.next_frame(480);
        let b = t.next_frame(480);
        assert_eq!(a.len(), 960);
        assert!(a.chunks_exact(2).all(|f| f[0] == f[1]), "same on both channels");
        // Continuous phase: the step across the frame boundary is like any other step.
        let max_step = a.chunks_exact(2).zip(a.chunks_exact(2).skip(1)).map(|(x, y)| (x[0] - y[0]).abs()).max().unwrap_or(0);
        let boundary = (a[a.len() - 2] - b[0]).abs();
        assert!(boundary <= max_step + 1, "{boundary} vs {max_step}");
        let all: Vec<i16> = a.into_iter().chain(b).collect();
        let level = rms_dbfs(&all);
        assert!((level - (-9.03)).abs() < 0.2, "{level}");
        let p = tone_power(&all, 48_000, 2, 440.0);
        assert!((p - level).abs() < 0.5, "{p} vs {level}");
        assert!(tone_power(&all, 48_000, 2, 1000.0) < level - 40.0);
        assert_eq!(dominant_freq(&all, 48_000, 2), Some(440.0));
    }

    #[test]
    fn silence_and_edge_cases() {
        assert_eq!(rms_dbfs(&[]), SILENCE_DBFS);
        assert_eq!(rms_dbfs(&[0; 480]), SILENCE_DBFS);
        assert_eq!(tone_power(&[0; 480], 48_000, 1, 440.0), SILENCE_DBFS);
        assert_eq!(dominant_freq(&[0; 480], 48_000, 1), None);
        assert!(Tone::new(440.0, 48_000, 0, 2.0).next_frame(10).len() == 10);
        let full = Tone::new(1000.0, 48_000, 1, 1.0).next_frame(4800);
        assert!((rms_dbfs(&full) + 3.01).abs() < 0.1);
    }
}
