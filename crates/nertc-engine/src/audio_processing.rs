//! Audio processing on the captured signal: acoustic echo cancellation, noise suppression and
//! automatic gain control, by WebRTC's AudioProcessing module through the
//! `webrtc-audio-processing` crate (0.5: the PulseAudio packaging of the module, 0.3 — the
//! library the distributions ship; apt `libwebrtc-audio-processing-dev`, found by pkg-config).
//! The crate's 2.x line (AEC3) needs abseil ≥ 20240722, which its meson build downloads and no
//! package here provides, so it cannot build offline; the `apm-bundled` feature builds the 0.3
//! sources the crate ships (autotools) for systems without the package.
//!
//! ```text
//!  playout thread: mixer.pull ─▶ speaker
//!                              └─▶ Apm::analyze_render (far-end reference, 10 ms chunks)
//!  mic ─▶ encoder thread: 48 kHz mono ─▶ Apm::process_capture (10 ms chunks) ─▶ volume ─▶ Opus
//! ```
//! The far-end reference is exactly what the engine plays out (the mixer's output, downmixed to
//! mono); the canceller runs in its delay-agnostic, extended-filter mode (it estimates the
//! delay between the two paths itself, so no device latency is needed). Capture is processed only while a real microphone feeds the encoder
//! ([`Apm::set_capture_active`]): the synthetic tone and JS-pushed PCM carry no acoustic echo.
//!
//! Measured: on a simulated echo path (tests/apm_echo.rs) ERLE 21.5 dB for the canceller alone
//! and 31.8 dB for the default processing after convergence; on a real echo path through
//! PulseAudio (tests/pulse_audio.rs: an engine's speaker recorded back by its own microphone)
//! 18.7-27.2 dB alone and 25.1-33.2 dB by default over runs on a loaded 2-core machine.
//!
//! On by default as in NERTC (AEC, NS, AGC). `setAudioProfile`'s scenario picks a preset
//! ([`ApmConfig::for_scenario`]); `setParameters` switches each part
//! (`audio_processing_aec_enable`, `audio_processing_ns_enable`, `audio_processing_agc_enable`,
//! `audio_processing_earphone`: no echo to cancel with headphones). A change is applied by the
//! encoder thread before its next chunk, so the JS thread never waits on the processor's locks.
//!
//! Built behind the default-on cargo feature `apm`; without it the processing is a no-op (the
//! configuration is still kept). Build cost measured on this 2-core machine: the crate and its
//! build dependencies from nothing (bindgen, clang-sys, regex...: 51 units) take 17 s wall,
//! linking the system library (no C++ is compiled); the workspace already builds several of
//! those units (syn, cc, libc).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The processing rate: the engine's capture and playout rate.
pub const RATE: u32 = 48_000;
/// One processing chunk: 10 ms at [`RATE`], mono (AudioProcessing works on 10 ms frames).
pub const CHUNK: usize = (RATE / 100) as usize;

/// Which parts run. `Default` is NERTC's default: everything on, loudspeaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApmConfig {
    /// Echo cancellation (`audio_processing_aec_enable`).
    pub aec: bool,
    /// Noise suppression (`audio_processing_ns_enable`).
    pub ns: bool,
    /// Automatic gain control (`audio_processing_agc_enable`).
    pub agc: bool,
    /// Headphones in use (`audio_processing_earphone`): nothing to cancel, AEC stays off.
    pub earphone: bool,
}

impl Default for ApmConfig {
    fn default() -> Self {
        ApmConfig { aec: true, ns: true, agc: true, earphone: false }
    }
}

impl ApmConfig {
    /// The preset for NERTC's `NERtcAudioScenarioType`: 0 default and 1 speech process fully;
    /// 2 music keeps echo cancellation but neither suppresses "noise" (sustained notes are
    /// stationary and would be eaten) nor rides the gain (dynamics are the music's). `None` for
    /// an unknown scenario. `earphone` is kept: it describes the hardware, not the scenario.
    pub fn for_scenario(self, scenario: i32) -> Option<Self> {
        match scenario {
            0 | 1 => Some(ApmConfig { aec: true, ns: true, agc: true, ..self }),
            2 => Some(ApmConfig { aec: true, ns: false, agc: false, ..self }),
            _ => None,
        }
    }

    /// Whether echo cancellation runs (on, and not on headphones).
    pub fn cancels_echo(&self) -> bool {
        self.aec && !self.earphone
    }

    /// Whether anything runs on the capture path.
    pub fn active(&self) -> bool {
        self.cancels_echo() || self.ns || self.agc
    }
}

/// Echo statistics of the last processed chunk, as the processor reports them (dB / ms).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ApmStats {
    pub echo_return_loss_db: Option<f64>,
    pub echo_return_loss_enhancement_db: Option<f64>,
    pub delay_ms: Option<i32>,
}

/// One engine's audio processor. `Sync`: the playout thread feeds the render side, the encoder
/// thread processes the capture side, the API changes the configuration.
pub struct Apm {
    #[cfg(feature = "apm")]
    processor: Option<webrtc_audio_processing::AudioProcessing>,
    /// The native frames: one channel of exactly [`CHUNK`] samples each (the library reads
    /// that many through a raw pointer, so these never change length).
    #[cfg(feature = "apm")]
    capture_frame: Mutex<Vec<Vec<f32>>>,
    #[cfg(feature = "apm")]
    render_frame: Mutex<Vec<Vec<f32>>>,
    /// Wanted configuration; `dirty` until the capture side applied it.
    config: Mutex<ApmConfig>,
    dirty: AtomicBool,
    /// Mirrors of the applied configuration for the render side (no lock on the audio path).
    aec_on: AtomicBool,
    /// A real microphone feeds the encoder: capture is processed, the render side is fed.
    capture_active: AtomicBool,
    /// Far-end samples (mono, -1..1) waiting for a whole chunk.
    render: Mutex<Vec<f32>>,
}

impl Default for Apm {
    fn default() -> Self {
        Apm::new()
    }
}

impl Apm {
    /// A processor at [`RATE`] with the default configuration. When the processor cannot be
    /// created (or the `apm` feature is off) audio passes unprocessed and an error is logged.
    pub fn new() -> Self {
        #[cfg(feature = "apm")]
        let init = webrtc_audio_processing::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            enable_experimental_agc: false,
            enable_intelligibility_enhancer: false,
        };
        #[cfg(feature = "apm")]
        let processor = match webrtc_audio_processing::AudioProcessing::new(&init) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!("audio processing unavailable, capture goes unprocessed: {e}");
                None
            }
        };
        Apm {
            #[cfg(feature = "apm")]
            processor,
            #[cfg(feature = "apm")]
            capture_frame: Mutex::new(vec![vec![0.0; CHUNK]]),
            #[cfg(feature = "apm")]
            render_frame: Mutex::new(vec![vec![0.0; CHUNK]]),
            config: Mutex::new(ApmConfig::default()),
            dirty: AtomicBool::new(true),
            aec_on: AtomicBool::new(false),
            capture_active: AtomicBool::new(false),
            render: Mutex::new(Vec::with_capacity(CHUNK * 8)),
        }
    }

    /// Whether the native processor exists (built with `apm` and created).
    pub fn available(&self) -> bool {
        #[cfg(feature = "apm")]
        return self.processor.is_some();
        #[cfg(not(feature = "apm"))]
        false
    }

    pub fn config(&self) -> ApmConfig {
        *self.config.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the configuration; the capture side applies it before its next chunk.
    pub fn set_config(&self, config: ApmConfig) {
        let mut c = self.config.lock().unwrap_or_else(|p| p.into_inner());
        if *c != config {
            tracing::info!(?config, "audio processing configuration");
            *c = config;
            self.dirty.store(true, Relaxed);
        }
    }

    /// Changes the configuration through `f`.
    pub fn update(&self, f: impl FnOnce(&mut ApmConfig)) {
        let mut c = self.config();
        f(&mut c);
        self.set_config(c);
    }

    /// Whether capture is processed (a real microphone is the source).
    pub fn set_capture_active(&self, active: bool) {
        if self.capture_active.swap(active, Relaxed) != active {
            tracing::debug!(active, "audio processing of the microphone");
            self.render.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }

    pub fn capture_active(&self) -> bool {
        self.capture_active.load(Relaxed)
    }

    /// Feeds what is played out (interleaved i16, `channels` channels, [`RATE`]) as the echo
    /// reference. Cheap when echo cancellation is off or no microphone is processed.
    pub fn analyze_render(&self, out: &[i16], channels: usize) {
        if !self.capture_active.load(Relaxed) || !self.aec_on.load(Relaxed) || channels == 0 {
            return;
        }
        let mut pending = self.render.lock().unwrap_or_else(|p| p.into_inner());
        let scale = 1.0 / (32768.0 * channels as f32);
        pending.extend(out.chunks_exact(channels).map(|f| f.iter().map(|&s| f32::from(s)).sum::<f32>() * scale));
        let whole = pending.len() / CHUNK * CHUNK;
        for chunk in pending[..whole].chunks_exact(CHUNK) {
            self.analyze_render_chunk(chunk);
        }
        pending.drain(..whole);
    }

    /// Feeds one 10 ms far-end chunk (mono, -1..1). For callers that keep their own framing.
    pub fn analyze_render_f32(&self, chunk: &[f32; CHUNK]) {
        if self.aec_on.load(Relaxed) {
            self.analyze_render_chunk(chunk);
        }
    }

    #[cfg_attr(not(feature = "apm"), allow(unused_variables))]
    fn analyze_render_chunk(&self, chunk: &[f32]) {
        #[cfg(feature = "apm")]
        if let Some(p) = &self.processor {
            let mut frame = self.render_frame.lock().unwrap_or_else(|e| e.into_inner());
            // Render processing may modify its frame: it gets a copy, the speaker keeps its own.
            frame[0].copy_from_slice(chunk);
            if let Err(e) = p.process_render_frame(&mut frame) {
                tracing::warn!("audio processing (render): {e}");
            }
        }
    }

    /// Processes captured audio in place: 48 kHz mono, a whole number of 10 ms chunks (the
    /// encoder's 20 ms frames). Does nothing unless a real microphone is the source. A length
    /// that is not a whole number of chunks is left unprocessed (logged once per call).
    pub fn process_capture(&self, pcm: &mut [i16]) {
        if !self.capture_active.load(Relaxed) {
            return;
        }
        if !pcm.len().is_multiple_of(CHUNK) {
            tracing::warn!(len = pcm.len(), "audio processing skipped: not whole 10 ms chunks");
            return;
        }
        let active = self.apply_config();
        if !active {
            return;
        }
        let mut buf = [0f32; CHUNK];
        for chunk in pcm.chunks_exact_mut(CHUNK) {
            for (f, &s) in buf.iter_mut().zip(chunk.iter()) {
                *f = f32::from(s) / 32768.0;
            }
            self.process_capture_f32(&mut buf);
            for (s, &f) in chunk.iter_mut().zip(buf.iter()) {
                *s = (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            }
        }
    }

    /// Processes one 10 ms capture chunk (mono, -1..1) in place, whatever the source. Applies a
    /// pending configuration first.
    pub fn process_capture_f32(&self, chunk: &mut [f32; CHUNK]) {
        if !self.apply_config() {
            return;
        }
        #[cfg(feature = "apm")]
        if let Some(p) = &self.processor {
            let mut frame = self.capture_frame.lock().unwrap_or_else(|e| e.into_inner());
            frame[0].copy_from_slice(chunk);
            match p.process_capture_frame(&mut frame) {
                Ok(()) => chunk.copy_from_slice(&frame[0]),
                Err(e) => tracing::warn!("audio processing (capture): {e}"),
            }
        }
        #[cfg(not(feature = "apm"))]
        let _ = chunk;
    }

    /// Applies a changed configuration to the processor; returns whether anything runs.
    fn apply_config(&self) -> bool {
        let config = self.config();
        if self.dirty.swap(false, Relaxed) {
            self.aec_on.store(config.cancels_echo(), Relaxed);
            #[cfg(feature = "apm")]
            if let Some(p) = &self.processor {
                p.set_config(native_config(config));
            }
        }
        config.active()
    }

    /// The processor's own echo statistics (None without the native processor).
    pub fn stats(&self) -> ApmStats {
        #[cfg(feature = "apm")]
        if let Some(p) = &self.processor {
            let s = p.get_stats();
            return ApmStats {
                echo_return_loss_db: s.echo_return_loss,
                echo_return_loss_enhancement_db: s.echo_return_loss_enhancement,
                delay_ms: s.delay_median_ms,
            };
        }
        ApmStats::default()
    }
}

/// Our switches as the native configuration: the echo canceller at its high suppression level
/// with the extended filter and delay-agnostic mode (device latencies are unknown and drift), NS
/// at "high", the adaptive digital AGC at WebRTC's defaults (-3 dBFS target, 9 dB compression,
/// limiter), and the high-pass filter whenever anything runs (it removes the DC and rumble the
/// other parts would otherwise adapt to).
#[cfg(feature = "apm")]
fn native_config(c: ApmConfig) -> webrtc_audio_processing::Config {
    use webrtc_audio_processing::{
        EchoCancellation, EchoCancellationSuppressionLevel, GainControl, GainControlMode, NoiseSuppression, NoiseSuppressionLevel,
    };
    webrtc_audio_processing::Config {
        echo_cancellation: c.cancels_echo().then_some(EchoCancellation {
            suppression_level: EchoCancellationSuppressionLevel::High,
            enable_extended_filter: true,
            enable_delay_agnostic: true,
            stream_delay_ms: None,
        }),
        gain_control: c.agc.then_some(GainControl {
            mode: GainControlMode::AdaptiveDigital,
            target_level_dbfs: 3,
            compression_gain_db: 9,
            enable_limiter: true,
        }),
        noise_suppression: c.ns.then_some(NoiseSuppression { suppression_level: NoiseSuppressionLevel::High }),
        voice_detection: None,
        enable_transient_suppressor: false,
        enable_high_pass_filter: c.active(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_pick_presets_and_keep_the_earphone_switch() {
        let base = ApmConfig { earphone: true, ..ApmConfig::default() };
        let music = base.for_scenario(2).expect("music");
        assert!(music.aec && !music.ns && !music.agc && music.earphone);
        assert!(!music.cancels_echo(), "no echo on headphones");
        let speech = music.for_scenario(1).expect("speech");
        assert!(speech.aec && speech.ns && speech.agc);
        assert_eq!(base.for_scenario(0), Some(base));
        assert_eq!(base.for_scenario(3), None);
        assert_eq!(base.for_scenario(-1), None);
    }

    #[test]
    fn nothing_is_processed_without_a_microphone_or_with_everything_off() {
        let apm = Apm::new();
        let orig: Vec<i16> = (0..CHUNK * 2).map(|i| ((i * 37 % 2000) as i16) - 1000).collect();
        let mut pcm = orig.clone();
        apm.process_capture(&mut pcm);
        assert_eq!(pcm, orig, "inactive: untouched");
        apm.set_capture_active(true);
        apm.set_config(ApmConfig { aec: false, ns: false, agc: false, earphone: false });
        apm.process_capture(&mut pcm);
        assert_eq!(pcm, orig, "everything off: untouched");
        let mut odd = orig[..CHUNK + 1].to_vec();
        apm.set_config(ApmConfig::default());
        apm.process_capture(&mut odd);
        assert_eq!(odd, orig[..CHUNK + 1], "not whole chunks: left alone, no panic");
    }

    #[cfg(feature = "apm")]
    #[test]
    fn the_default_configuration_changes_the_signal() {
        let apm = Apm::new();
        assert!(apm.available());
        apm.set_capture_active(true);
        // Low-level white-ish noise: NS and the high-pass filter must alter it.
        let mut x: u32 = 1;
        let orig: Vec<i16> = (0..CHUNK * 100)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((x >> 16) as i16) / 64
            })
            .collect();
        let mut pcm = orig.clone();
        for c in pcm.chunks_mut(CHUNK * 2) {
            apm.process_capture(c);
        }
        assert_ne!(pcm, orig);
    }
}
