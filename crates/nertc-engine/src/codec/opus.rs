//! Opus via libopus (the `opus` crate, libopus built from source).
//!
//! The engine sends 48 kHz, 20 ms frames (960 samples per channel), VoIP application, VBR,
//! in-band FEC on (browsers negotiate `useinbandfec=1`). Any Opus frame duration (2.5 to 60 ms)
//! is accepted by [`OpusEncoder::encode`]; [`OpusDecoder::decode_lost`] conceals exactly one
//! 20 ms frame.
//!
//! In-band FEC (LBRR): with FEC on and an expected loss above zero
//! ([`OpusEncoder::set_packet_loss_perc`]), each SILK or hybrid packet also carries a
//! low-bitrate copy of the *previous* frame. A receiver missing packet `n` but holding `n + 1`
//! rebuilds `n` from it ([`OpusDecoder::decode_fec_into`]); [`packet_has_fec`] tells whether a
//! packet carries such a copy (CELT-only packets never do).

use ::opus::{Application, Bitrate, Channels, Decoder, Encoder};

use super::CodecError;

/// Samples per channel in one 20 ms frame at `sample_rate`.
pub fn frame_samples_20ms(sample_rate: u32) -> usize {
    sample_rate as usize / 50
}

/// Expected loss the encoder starts with (percent), until the engine feeds it measured loss.
pub const DEFAULT_PACKET_LOSS_PERC: u8 = 5;

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
    loss_perc: u8,
}

impl OpusEncoder {
    /// `sample_rate` one of 8/12/16/24/48 kHz, `channels` 1 or 2, `bitrate_bps` 6000..=510000.
    pub fn new(sample_rate: u32, channels: u16, bitrate_bps: u32) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        let mut inner = Encoder::new(sample_rate, channels_of(channels)?, Application::Voip)?;
        inner.set_bitrate(Bitrate::Bits(bitrate_bps.clamp(6_000, 510_000) as i32))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(i32::from(DEFAULT_PACKET_LOSS_PERC))?;
        Ok(OpusEncoder { inner, sample_rate, channels, out: vec![0; MAX_PACKET], loss_perc: DEFAULT_PACKET_LOSS_PERC })
    }

    /// Sets the packet loss (percent, clamped to 0..=100) the encoder should expect: the higher,
    /// the more bits go to the in-band FEC copy of the previous frame (0 sends none). Feed it
    /// the loss the receivers report. Cheap when the value does not change.
    pub fn set_packet_loss_perc(&mut self, percent: u8) -> Result<(), CodecError> {
        let percent = percent.min(100);
        if percent != self.loss_perc {
            self.inner.set_packet_loss_perc(i32::from(percent))?;
            self.loss_perc = percent;
        }
        Ok(())
    }

    /// The expected loss (percent) the encoder currently works with.
    pub fn packet_loss_perc(&self) -> u8 {
        self.loss_perc
    }

    /// Whether in-band FEC is on (always, in this engine).
    pub fn inband_fec(&mut self) -> bool {
        self.inner.get_inband_fec().unwrap_or(false)
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

    /// Decodes one packet, appending its PCM (interleaved) to `out`; returns the samples per
    /// channel decoded. No allocation once `out` has grown.
    pub fn decode_into(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, CodecError> {
        if packet.is_empty() {
            return Err(CodecError::InvalidInput("empty Opus packet (use decode_lost)".into()));
        }
        let n = self.inner.decode(packet, &mut self.buf, false)?;
        out.extend_from_slice(&self.buf[..n * usize::from(self.channels)]);
        Ok(n)
    }

    /// Packet loss concealment for `samples` per channel (rounded down to whole 2.5 ms steps,
    /// at most 120 ms), appended to `out` (silence if the decoder cannot conceal). Appends
    /// exactly `samples` x channels samples.
    pub fn decode_lost_into(&mut self, samples: usize, out: &mut Vec<i16>) {
        let ch = usize::from(self.channels);
        let step = self.sample_rate as usize / 400;
        let max = self.buf.len() / ch;
        let want = (samples.min(max) / step * step).max(step.min(max));
        let start = out.len();
        match self.inner.decode(&[], &mut self.buf[..want * ch], false) {
            Ok(n) => out.extend_from_slice(&self.buf[..n.min(want) * ch]),
            Err(e) => tracing::trace!("opus PLC failed: {e}"),
        }
        out.resize(start + samples * ch, 0);
    }

    /// Rebuilds the `samples` (per channel; the lost packet's duration) lost just before
    /// `next_packet` from the in-band FEC copy that packet carries, appending them to `out`.
    /// False (and nothing appended) when `next_packet` carries no FEC copy or the decoder
    /// rejects it: conceal instead. Decode `next_packet` normally afterwards.
    pub fn decode_fec_into(&mut self, next_packet: &[u8], samples: usize, out: &mut Vec<i16>) -> bool {
        let ch = usize::from(self.channels);
        let step = self.sample_rate as usize / 400;
        if !packet_has_fec(next_packet) || samples == 0 || !samples.is_multiple_of(step) || samples * ch > self.buf.len() {
            return false;
        }
        match self.inner.decode(next_packet, &mut self.buf[..samples * ch], true) {
            Ok(n) => {
                let start = out.len();
                out.extend_from_slice(&self.buf[..n.min(samples) * ch]);
                out.resize(start + samples * ch, 0);
                true
            }
            Err(e) => {
                tracing::trace!("opus FEC decode failed: {e}");
                false
            }
        }
    }

    /// Forgets all history (as freshly created): for a clean restart after a long gap.
    pub fn reset(&mut self) {
        if let Err(e) = self.inner.reset_state() {
            tracing::debug!("opus decoder reset failed: {e}");
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

/// Samples per channel in `packet` at `sample_rate` (None for a malformed packet).
pub fn packet_samples(packet: &[u8], sample_rate: u32) -> Option<usize> {
    if packet.is_empty() {
        return None;
    }
    ::opus::packet::get_nb_samples(packet, sample_rate).ok().filter(|n| *n > 0)
}

/// Whether `packet` carries an in-band FEC (LBRR) copy of the frame before it.
///
/// From the packet layout (RFC 6716): TOC configurations 0-15 are SILK-only or hybrid, 16-31
/// CELT-only (no LBRR). The SILK layer of the first Opus frame starts with header bits coded
/// at probability 1/2, which the range coder leaves as the top bits of the frame's first byte:
/// one VAD flag per 20 ms SILK frame (1 for a 10 or 20 ms Opus frame, 2 for 40 ms, 3 for
/// 60 ms), then the LBRR flag; in stereo the side channel's VAD flags and LBRR flag follow.
pub fn packet_has_fec(packet: &[u8]) -> bool {
    let Some(&toc) = packet.first() else { return false };
    if toc >> 3 >= 16 {
        return false;
    }
    let Ok(per_frame) = ::opus::packet::get_samples_per_frame(packet, 48_000) else { return false };
    let silk_frames = (per_frame / 960).clamp(1, 3) as u32;
    let stereo = toc & 0x04 != 0;
    let Ok(parsed) = ::opus::packet::parse(packet) else { return false };
    let Some(&first) = parsed.frames.first().and_then(|f| f.first()) else { return false };
    let mid = (first >> (7 - silk_frames)) & 1 == 1;
    let side = stereo && (first >> (6 - 2 * silk_frames)) & 1 == 1;
    mid || side
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

    /// 440 Hz plus a 1.5 kHz tone gated 150 ms on / 150 ms off: speech-like enough that the
    /// encoder's voice activity detector stays on (a steady tone alone soon reads as
    /// background noise, and the encoder sends no FEC copy of background noise).
    fn syllables(frames: usize, channels: u16) -> Vec<Vec<i16>> {
        let mut base = Tone::new(440.0, 48_000, channels, 0.3);
        let mut gated = Tone::new(1500.0, 48_000, channels, 0.1);
        (0..frames)
            .map(|k| {
                let mut pcm = base.next_frame(960);
                let g = gated.next_frame(960);
                if (k / 15).is_multiple_of(2) {
                    pcm.iter_mut().zip(g).for_each(|(s, g)| *s = s.saturating_add(g));
                }
                pcm
            })
            .collect()
    }

    /// Packet-loss expectation: a setter that clamps and sticks, and that switches the FEC copy
    /// on and off (0 % sends none; at 5 % this tonal signal is still coded as CELT, no FEC).
    #[test]
    fn expected_loss_drives_the_fec_copy() {
        let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
        assert!(enc.inband_fec());
        assert_eq!(enc.packet_loss_perc(), DEFAULT_PACKET_LOSS_PERC);
        enc.set_packet_loss_perc(150).expect("set");
        assert_eq!(enc.packet_loss_perc(), 100);
        let input = syllables(300, 1);
        let with_fec = |perc: u8| {
            let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
            enc.set_packet_loss_perc(perc).expect("set");
            assert_eq!(enc.packet_loss_perc(), perc);
            input.iter().map(|pcm| enc.encode(pcm).expect("encode")).skip(50).filter(|p| packet_has_fec(p)).count()
        };
        let (none, twenty) = (with_fec(0), with_fec(20));
        assert_eq!(none, 0);
        assert!(twenty >= 100, "{twenty} of 250 packets carry FEC at 20 % expected loss");

        // The copy rebuilds a lost frame; a packet without one says so instead of concealing.
        let mut enc = OpusEncoder::new(48_000, 1, 32_000).expect("encoder");
        enc.set_packet_loss_perc(20).expect("set");
        let packets: Vec<Vec<u8>> = input.iter().map(|pcm| enc.encode(pcm).expect("encode")).collect();
        let k = (40..packets.len()).find(|&k| packet_has_fec(&packets[k])).expect("a packet with FEC");
        let mut dec = OpusDecoder::new(48_000, 1).expect("decoder");
        for p in &packets[..k - 1] {
            dec.decode(p).expect("decode");
        }
        let mut out = vec![7];
        assert!(dec.decode_fec_into(&packets[k], 960, &mut out));
        assert_eq!(out.len(), 961);
        let p440 = tone_power(&out[1..], 48_000, 1, 440.0);
        assert!(p440 > -17.0, "the rebuilt frame carries the tone: {p440} dBFS");
        assert!(!packet_has_fec(&packets[0]), "the first packet has nothing before it");
        assert!(!dec.decode_fec_into(&packets[0], 960, &mut out));
        assert_eq!(out.len(), 961);
        dec.decode_lost_into(480, &mut out);
        assert_eq!(out.len(), 961 + 480);
        assert_eq!(packet_samples(&packets[k], 48_000), Some(960));
        assert_eq!(packet_samples(&[], 48_000), None);
        dec.reset();
        assert_eq!(dec.decode(&packets[k]).expect("decode after reset").len(), 960);
    }

    /// [`packet_has_fec`] reads the LBRR flag as libopus's own `opus_packet_has_lbrr` does, in
    /// mono and stereo, for 10 to 60 ms frames.
    #[test]
    fn fec_flag_matches_libopus() {
        // The opus crate links libopus (1.5 or later), which exports this.
        unsafe extern "C" {
            fn opus_packet_has_lbrr(packet: *const u8, len: i32) -> i32;
        }
        let mut checked = 0;
        for channels in [1u16, 2] {
            for frame in [480usize, 960, 1920, 2880] {
                let mut enc = OpusEncoder::new(48_000, channels, 24_000 * u32::from(channels)).expect("encoder");
                enc.set_packet_loss_perc(25).expect("set");
                let input = syllables(120, channels).concat();
                let mut flagged = 0;
                for pcm in input.chunks_exact(frame * usize::from(channels)) {
                    let p = enc.encode(pcm).expect("encode");
                    // SAFETY: `p` is a live, initialised buffer of `p.len()` bytes (< 4000, fits
                    // i32) for the duration of the call; libopus only reads it.
                    let lib = unsafe { opus_packet_has_lbrr(p.as_ptr(), p.len() as i32) } == 1;
                    assert_eq!(packet_has_fec(&p), lib, "{channels} ch, {frame} samples, toc {:#x}", p[0]);
                    flagged += usize::from(lib);
                    checked += 1;
                }
                assert!(flagged > 0, "{channels} ch, {frame} samples: some packets carry FEC");
            }
        }
        assert!(checked > 500);
    }
}
