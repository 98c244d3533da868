//! Opus via libopus (the `opus` crate, libopus built from source).
//!
//! The engine sends 48 kHz, 20 ms frames (960 samples per channel), VoIP application, VBR,
//! in-band FEC on (browsers negotiate `useinbandfec=1`). Any Opus frame duration (2.5 to 60 ms)
//! is accepted by [`OpusEncoder::encode`]; [`OpusDecoder::decode_lost`] conceals exactly one
//! 20 ms frame.

use ::opus::{Application, Bitrate, Channels, Decoder, Encoder};

use super::CodecError;

/// Samples per channel in one 20 ms frame at `sample_rate`.
pub fn frame_samples_20ms(sample_rate: u32) -> usize {
    sample_rate as usize / 50
}

/// Largest Opus packet we produce (RFC 6716 allows 1275 bytes per frame, up to 3 frames).
const MAX_PACKET: usize = 4000;
/// Longest Opus packet: 120 ms.
const MAX_FRAME_MS: usize = 120;

fn channels_of(channels: u16) -> Result<Channels, CodecError> {
    match channels {
        1 => Ok(Channels::Mono),
        2 => Ok(Channels::Stereo),
        n => Err(CodecError::InvalidInput(format!("Opus takes 1 or 2 channels, not {n}"))),
    }
}

fn check_rate(sample_rate: u32) -> Result<(), CodecError> {
    match sample_rate {
        8000 | 12000 | 16000 | 24000 | 48000 => Ok(()),
        r => Err(CodecError::InvalidInput(format!("Opus does not run at {r} Hz"))),
    }
}

/// An Opus encoder for interleaved i16 PCM.
pub struct OpusEncoder {
    inner: Encoder,
    sample_rate: u32,
    channels: u16,
    out: Vec<u8>,
}

impl OpusEncoder {
    /// `sample_rate` one of 8/12/16/24/48 kHz, `channels` 1 or 2, `bitrate_bps` 6000..=510000.
    pub fn new(sample_rate: u32, channels: u16, bitrate_bps: u32) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        let mut inner = Encoder::new(sample_rate, channels_of(channels)?, Application::Voip)?;
        inner.set_bitrate(Bitrate::Bits(bitrate_bps.clamp(6_000, 510_000) as i32))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(5)?;
        Ok(OpusEncoder { inner, sample_rate, channels, out: vec![0; MAX_PACKET] })
    }

    /// Changes the target bitrate.
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), CodecError> {
        Ok(self.inner.set_bitrate(Bitrate::Bits(bitrate_bps.clamp(6_000, 510_000) as i32))?)
    }

    /// Encodes one frame of interleaved PCM (normally 20 ms: 960 x channels samples at 48 kHz).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, CodecError> {
        let ch = usize::from(self.channels);
        let per_channel = pcm.len() / ch;
        // Valid Opus durations: 2.5, 5, 10, 20, 40, 60 ms.
        let valid = [400, 200, 100, 50, 25].iter().any(|d| per_channel * d == self.sample_rate as usize)
            || per_channel * 50 == self.sample_rate as usize * 3;
        if !pcm.len().is_multiple_of(ch) || !valid {
            return Err(CodecError::InvalidInput(format!(
                "{} samples is not an Opus frame at {} Hz x {} channels",
                pcm.len(),
                self.sample_rate,
                self.channels
            )));
        }
        let n = self.inner.encode(pcm, &mut self.out)?;
        Ok(self.out[..n].to_vec())
    }
}

/// An Opus decoder producing interleaved i16 PCM.
pub struct OpusDecoder {
    inner: Decoder,
    sample_rate: u32,
    channels: u16,
    buf: Vec<i16>,
}

impl OpusDecoder {
    /// `sample_rate` one of 8/12/16/24/48 kHz (any packet decodes at any rate), `channels` 1 or 2.
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        let inner = Decoder::new(sample_rate, channels_of(channels)?)?;
        let max = sample_rate as usize * MAX_FRAME_MS / 1000 * usize::from(channels);
        Ok(OpusDecoder { inner, sample_rate, channels, buf: vec![0; max] })
    }

    /// Decodes one packet into interleaved PCM (as long as the packet: 20 ms normally).
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::InvalidInput("empty Opus packet (use decode_lost)".into()));
        }
        let n = self.inner.decode(packet, &mut self.buf, false)?;
        Ok(self.buf[..n * usize::from(self.channels)].to_vec())
    }

    /// Packet loss concealment: 20 ms of PCM standing in for a lost packet (silence if the
    /// decoder cannot conceal, e.g. before the first packet).
    pub fn decode_lost(&mut self) -> Vec<i16> {
        let len = frame_samples_20ms(self.sample_rate) * usize::from(self.channels);
        match self.inner.decode(&[], &mut self.buf[..len], false) {
            Ok(n) => {
                let mut out = self.buf[..(n * usize::from(self.channels)).min(len)].to_vec();
                out.resize(len, 0);
                out
            }
            Err(e) => {
                tracing::trace!("opus PLC failed: {e}");
                vec![0; len]
            }
        }
    }

    /// Recovers the 20 ms frame lost just before `next_packet` from its in-band FEC data (PLC
    /// when it has none). Decode `next_packet` normally afterwards.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> Vec<i16> {
        let len = frame_samples_20ms(self.sample_rate) * usize::from(self.channels);
        if next_packet.is_empty() {
            return self.decode_lost();
        }
        match self.inner.decode(next_packet, &mut self.buf[..len], true) {
            Ok(n) => {
                let mut out = self.buf[..(n * usize::from(self.channels)).min(len)].to_vec();
                out.resize(len, 0);
                out
            }
            Err(_) => self.decode_lost(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::tone::{Tone, rms_dbfs, tone_power};

    #[test]
    fn tone_round_trip_keeps_440_hz() {
        for channels in [1u16, 2] {
            let mut enc = OpusEncoder::new(48_000, channels, 32_000).expect("encoder");
            let mut dec = OpusDecoder::new(48_000, channels).expect("decoder");
            let mut tone = Tone::new(440.0, 48_000, channels, 0.3);
            let mut out = Vec::new();
            for _ in 0..50 {
                let pcm = tone.next_frame(960);
                let pkt = enc.encode(&pcm).expect("encode");
                assert!(!pkt.is_empty() && pkt.len() < 400, "{}", pkt.len());
                let d = dec.decode(&pkt).expect("decode");
                assert_eq!(d.len(), 960 * usize::from(channels));
                out.extend(d);
            }
            // Skip the codec's start-up (lookahead, first frames).
            let steady = &out[out.len() / 2..];
            let p440 = tone_power(steady, 48_000, channels, 440.0);
            let level = rms_dbfs(steady);
            assert!((level - (-13.5)).abs() < 3.0, "level {level} dBFS");
            assert!((p440 - level).abs() < 2.0, "440 Hz {p440} vs total {level}");
            for f in [220.0, 330.0, 600.0, 1000.0, 2000.0, 5000.0] {
                let p = tone_power(steady, 48_000, channels, f);
                assert!(p < p440 - 30.0, "{f} Hz: {p} dB vs 440 Hz: {p440} dB");
            }
        }
    }

    #[test]
    fn plc_and_fec_return_20ms() {
        let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
        let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
        assert_eq!(dec.decode_lost().len(), 960, "PLC before any packet");
        let mut tone = Tone::new(440.0, 48_000, 1, 0.3);
        let mut packets = Vec::new();
        for _ in 0..10 {
            packets.push(enc.encode(&tone.next_frame(960)).expect("encode"));
        }
        for p in &packets[..8] {
            dec.decode(p).expect("decode");
        }
        let lost = dec.decode_lost();
        assert_eq!(lost.len(), 960);
        assert!(rms_dbfs(&lost) > -40.0, "concealment continues the tone: {}", rms_dbfs(&lost));
        assert_eq!(dec.decode_fec(&packets[9]).len(), 960);
        assert_eq!(dec.decode(&packets[9]).expect("decode").len(), 960);

        let mut st = OpusDecoder::new(48_000, 2).expect("decoder");
        assert_eq!(st.decode_lost().len(), 1920);
    }

    #[test]
    fn invalid_arguments_are_errors() {
        assert!(OpusEncoder::new(44_100, 1, 32_000).is_err());
        assert!(OpusEncoder::new(48_000, 3, 32_000).is_err());
        assert!(OpusDecoder::new(48_000, 0).is_err());
        let mut enc = OpusEncoder::new(48_000, 2, 64_000).expect("encoder");
        assert!(enc.encode(&[0; 961]).is_err());
        assert!(enc.encode(&[0; 960]).is_ok(), "10 ms stereo is a valid frame");
        let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
        assert!(dec.decode(&[]).is_err());
        assert!(dec.decode(&[0xff; 3]).is_err());
    }
}
