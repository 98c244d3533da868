//! Local audio: capture (microphone, tone or PCM pushed from JS) -> 48 kHz mono -> audio
//! processing (microphone only: AEC/NS/AGC, [`crate::audio_processing`]) -> volume -> Opus (20 ms
//! frames) -> the published track.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rtc::media::Sample;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

use crate::audio_mixing::SendHook;
use crate::audio_processing::Apm;
use crate::codec::opus::{DEFAULT_PACKET_LOSS_PERC, OpusEncoder};
use crate::device::audio::{AudioConverter, DeviceGain};
use crate::frame::AudioFrame;

pub const SAMPLE_RATE: u32 = 48_000;
/// Samples per 20 ms Opus frame at 48 kHz, mono.
pub const FRAME_SAMPLES: usize = 960;

#[derive(Clone)]
pub struct AudioSink {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub rt: tokio::runtime::Handle,
    /// `enableEncryption`'s key: each Opus packet is sealed before it is packetised.
    pub key: Option<Arc<crate::crypto::MediaKey>>,
}

pub struct AudioCtl {
    pub sink: Mutex<Option<AudioSink>>,
    pub muted: AtomicBool,
    /// `adjustRecordingSignalVolume`, 0-400 (100 = unity).
    pub volume: AtomicU32,
    /// Level of the last captured frame (0-255), for onLocalAudioVolumeIndication.
    pub level: AtomicU32,
    pub sent_bytes: AtomicU64,
    pub frames: AtomicU64,
    /// Packet loss (percent, 0-100) the Opus encoder should expect: the higher, the more bits
    /// its in-band FEC copy of the previous frame gets (0: none). Store the loss the receivers
    /// report (RTCP receiver reports); the encoder picks a change up at its next frame.
    pub expected_loss_perc: AtomicU32,
    /// Echo cancellation, noise suppression, gain control; its render side is fed by playout.
    pub apm: Apm,
    /// `setRecordDeviceVolume` / `setRecordDeviceMute`: kept here, handed to every microphone.
    pub record_gain: DeviceGain,
    /// `setPlayoutDeviceVolume` / `setPlayoutDeviceMute`: handed to every speaker.
    pub playout_gain: DeviceGain,
    /// Level (0-255) of the microphone's last 10 ms, whoever uses it (the device tests report it).
    pub mic_level: AtomicU32,
    /// The loopback device test: microphone PCM (48 kHz mono) on its way to the speaker; `None`
    /// while the test is off. Bounded to [`LOOPBACK_MAX`] samples (oldest dropped).
    pub loopback: Mutex<Option<std::collections::VecDeque<i16>>>,
    /// The playout device test: the file's PCM (48 kHz stereo) and the next sample to play.
    pub playout_test: Mutex<Option<(Vec<i16>, usize)>>,
}

/// At most 200 ms of microphone audio wait for the speaker in the loopback test.
pub const LOOPBACK_MAX: usize = SAMPLE_RATE as usize / 5;

impl Default for AudioCtl {
    fn default() -> Self {
        AudioCtl {
            sink: Mutex::new(None),
            muted: AtomicBool::new(false),
            volume: AtomicU32::new(100),
            level: AtomicU32::new(0),
            sent_bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            expected_loss_perc: AtomicU32::new(u32::from(DEFAULT_PACKET_LOSS_PERC)),
            apm: Apm::new(),
            record_gain: DeviceGain::new(),
            playout_gain: DeviceGain::new(),
            mic_level: AtomicU32::new(0),
            loopback: Mutex::new(None),
            playout_test: Mutex::new(None),
        }
    }
}

/// A running encoder thread (1 s of 20 ms frames queued at most). Dropping it stops the
/// thread once every input sender is gone.
pub struct AudioSender(super::Worker<AudioFrame>);

impl AudioSender {
    /// `hook` processes each captured frame before it is encoded (effects, mixing, recording).
    pub fn start(ctl: Arc<AudioCtl>, hook: Arc<dyn SendHook>) -> std::io::Result<Self> {
        super::Worker::spawn("nertc-audio-enc", 50, move |rx| encode_loop(rx, ctl, hook)).map(AudioSender)
    }

    pub fn input(&self) -> Sender<AudioFrame> {
        self.0.input().clone()
    }
}

impl AudioCtl {
    /// Taps a microphone frame (48 kHz mono) for the device tests: its level, and the loopback.
    pub fn tap_mic(&self, samples: &[i16]) {
        self.mic_level.store(super::level_0_255(samples), Relaxed);
        let mut loopback = self.loopback.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = loopback.as_mut() {
            q.extend(samples.iter().copied());
            let excess = q.len().saturating_sub(LOOPBACK_MAX);
            q.drain(..excess);
        }
    }

    /// Adds the playout test's sound (looped) to `out` (interleaved stereo).
    pub fn mix_playout_test(&self, out: &mut [i16]) {
        let mut test = self.playout_test.lock().unwrap_or_else(|p| p.into_inner());
        let Some((pcm, pos)) = test.as_mut() else { return };
        if pcm.is_empty() {
            return;
        }
        for o in out.iter_mut() {
            *o = o.saturating_add(pcm[*pos]);
            *pos = (*pos + 1) % pcm.len();
        }
    }

    /// Adds the loopback test's microphone audio to `out` (interleaved, `channels`); silence
    /// where the microphone has not delivered yet.
    pub fn mix_loopback(&self, out: &mut [i16], channels: usize) {
        let mut loopback = self.loopback.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = loopback.as_mut() else { return };
        for frame in out.chunks_exact_mut(channels.max(1)) {
            let Some(s) = q.pop_front() else { break };
            frame.iter_mut().for_each(|o| *o = o.saturating_add(s));
        }
    }
}

/// Pushes a frame, dropping it when the encoder is 1 s behind.
pub fn push(input: &Sender<AudioFrame>, frame: AudioFrame) {
    if let Err(TrySendError::Full(_)) = input.try_send(frame) {
        tracing::trace!("audio encoder behind; frame dropped");
    }
}

/// Hands `ctl`'s expected loss to the encoder (nothing to do when unchanged).
fn apply_expected_loss(encoder: &mut OpusEncoder, ctl: &AudioCtl) {
    let want = ctl.expected_loss_perc.load(Relaxed).min(100) as u8;
    if want != encoder.packet_loss_perc()
        && let Err(e) = encoder.set_packet_loss_perc(want)
    {
        tracing::warn!("opus expected loss {want} %: {e}");
    }
}

fn encode_loop(rx: Receiver<AudioFrame>, ctl: Arc<AudioCtl>, hook: Arc<dyn SendHook>) {
    let mut encoder = match OpusEncoder::new(SAMPLE_RATE, 1, 32_000) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot create the Opus encoder: {e}");
            return;
        }
    };
    let mut pending: Vec<i16> = Vec::with_capacity(FRAME_SAMPLES * 4);
    // Input format -> 48 kHz mono, continuous across frames; rebuilt if the format changes.
    let mut converter: Option<((u32, u16), AudioConverter)> = None;
    while let Ok(frame) = rx.recv() {
        let format = (frame.sample_rate.max(1), frame.channels.max(1));
        if converter.as_ref().is_none_or(|(f, _)| *f != format) {
            converter = Some((format, AudioConverter::new(format.0, format.1, SAMPLE_RATE, 1)));
        }
        let (_, conv) = converter.as_mut().expect("set just above");
        conv.push_i16(&frame.samples);
        pending.extend(conv.take_i16());
        while pending.len() >= FRAME_SAMPLES {
            let mut pcm: Vec<i16> = pending.drain(..FRAME_SAMPLES).collect();
            ctl.apm.process_capture(&mut pcm);
            super::apply_gain(&mut pcm, super::gain(ctl.volume.load(Relaxed)));
            ctl.level.store(super::level_0_255(&pcm), Relaxed);
            hook.process(&mut pcm);
            let sink = ctl.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let Some(sink) = sink else { continue };
            if ctl.muted.load(Relaxed) {
                pcm.iter_mut().for_each(|s| *s = 0);
            }
            apply_expected_loss(&mut encoder, &ctl);
            let packet = match encoder.encode(&pcm) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("opus encode failed: {e}");
                    continue;
                }
            };
            let packet = match &sink.key {
                Some(key) => key.seal_audio(&packet),
                None => packet,
            };
            let bytes = packet.len() as u64;
            let sample = Sample {
                data: packet.into(),
                timestamp: Instant::now(),
                duration: Duration::from_millis(20),
                packet_timestamp: 0,
                prev_dropped_packets: 0,
                prev_padding_packets: 0,
            };
            let write = sink.track.write_sample(sink.ssrc, nertc_rtc::codecs::PT_OPUS, &sample, &[]);
            if sink.rt.block_on(write).is_ok() {
                ctl.sent_bytes.fetch_add(bytes, Relaxed);
                ctl.frames.fetch_add(1, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoder_follows_the_expected_loss() {
        let ctl = AudioCtl::default();
        let mut enc = OpusEncoder::new(SAMPLE_RATE, 1, 32_000).expect("encoder");
        apply_expected_loss(&mut enc, &ctl);
        assert_eq!(enc.packet_loss_perc(), DEFAULT_PACKET_LOSS_PERC);
        ctl.expected_loss_perc.store(20, Relaxed);
        apply_expected_loss(&mut enc, &ctl);
        assert_eq!(enc.packet_loss_perc(), 20);
        ctl.expected_loss_perc.store(1000, Relaxed);
        apply_expected_loss(&mut enc, &ctl);
        assert_eq!(enc.packet_loss_perc(), 100);
        assert!(enc.inband_fec(), "FEC stays on");
    }
}
