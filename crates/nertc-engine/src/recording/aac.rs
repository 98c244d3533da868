//! `.aac` recordings: mono AAC-LC in ADTS frames.
//!
//! Fraunhofer's FDK AAC encoder (the `fdk-aac` crate) makes raw access units (one per 1024
//! samples); each is written behind a 7-byte ADTS header built here ([`adts_header`]), so the
//! file is a plain ADTS stream that players, ffmpeg and symphonia read. Bit rate from NERTC's
//! `NERtcAudioRecordingQuality` ([`bitrate`]). The encoder holds back its look-ahead: at the end
//! it is fed silence until every sample given has come out in a frame.

use std::io::Write;

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

/// Samples per AAC-LC frame.
const FRAME: u64 = 1024;
/// The ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;
/// ADTS's 13-bit frame length (header included).
const ADTS_MAX_FRAME: usize = (1 << 13) - 1;

/// Mono AAC-LC bit rate for NERTC's quality: 0 low 32 kb/s (speech), 1 medium 64 kb/s (the
/// default; music is clean), 2 high 96 kb/s (transparent for mono). Never above what one
/// channel's frame can hold (6144 bits per 1024 samples: 96 kb/s at 16 kHz).
pub fn bitrate(quality: i32, sample_rate: u32) -> u32 {
    let want = match quality {
        0 => 32_000,
        1 => 64_000,
        _ => 96_000,
    };
    want.min(sample_rate * 6144 / 1024)
}

/// ADTS's sampling frequency index (ISO/IEC 14496-3 table 1.18); None for a rate it lacks.
pub fn sampling_frequency_index(rate: u32) -> Option<u8> {
    const RATES: [u32; 13] = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];
    RATES.iter().position(|&r| r == rate).map(|i| i as u8)
}

/// The 7-byte ADTS header (MPEG-4, no CRC, AAC-LC, one raw data block, VBR buffer fullness)
/// for an access unit of `payload_len` bytes; None if the rate has no index or the frame
/// would not fit ADTS's 13-bit length.
pub fn adts_header(sample_rate: u32, channels: u8, payload_len: usize) -> Option<[u8; ADTS_HEADER_LEN]> {
    let sfi = sampling_frequency_index(sample_rate)?;
    let len = payload_len + ADTS_HEADER_LEN;
    if len > ADTS_MAX_FRAME || channels == 0 || channels > 7 {
        return None;
    }
    // Profile: the audio object type minus one (AAC-LC = 2).
    let profile = 1u8;
    let fullness = 0x7ffu16;
    Some([
        0xff,
        // Sync word's last 4 bits, ID 0 (MPEG-4), layer 00, protection absent.
        0xf1,
        (profile << 6) | (sfi << 2) | (channels >> 2),
        ((channels & 3) << 6) | (len >> 11) as u8,
        (len >> 3) as u8,
        (((len & 7) as u8) << 5) | (fullness >> 6) as u8,
        // Fullness's low 6 bits, then 0: one raw data block in the frame.
        ((fullness & 0x3f) as u8) << 2,
    ])
}

/// An ADTS file being written.
pub struct AacWriter<W: Write> {
    out: W,
    enc: Encoder,
    sample_rate: u32,
    /// Samples given / frames written (for the flush).
    samples_in: u64,
    frames_out: u64,
    /// One access unit: at most 6144 bits per channel.
    buf: Vec<u8>,
}

impl<W: Write> AacWriter<W> {
    pub fn new(out: W, sample_rate: u32, quality: i32) -> Result<Self, String> {
        if sampling_frequency_index(sample_rate).is_none() {
            return Err(format!("no AAC sampling frequency index for {sample_rate} Hz"));
        }
        let enc = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(bitrate(quality, sample_rate)),
            sample_rate,
            transport: Transport::Raw,
            channels: ChannelMode::Mono,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| format!("AAC encoder: {e}"))?;
        Ok(AacWriter { out, enc, sample_rate, samples_in: 0, frames_out: 0, buf: vec![0; 8192] })
    }

    /// Encodes mono samples; whole frames are written as they come out.
    pub fn write(&mut self, pcm: &[i16]) -> Result<(), String> {
        self.samples_in += pcm.len() as u64;
        self.encode(pcm)
    }

    fn encode(&mut self, mut pcm: &[i16]) -> Result<(), String> {
        while !pcm.is_empty() {
            let info = self.enc.encode(pcm, &mut self.buf).map_err(|e| format!("AAC encoder: {e}"))?;
            if info.output_size > 0 {
                let au = &self.buf[..info.output_size];
                let header = adts_header(self.sample_rate, 1, au.len()).ok_or_else(|| format!("AAC frame of {} bytes", au.len()))?;
                self.out.write_all(&header).map_err(|e| e.to_string())?;
                self.out.write_all(au).map_err(|e| e.to_string())?;
                self.frames_out += 1;
            }
            if info.input_consumed == 0 && info.output_size == 0 {
                return Err("AAC encoder took no input".into());
            }
            pcm = &pcm[info.input_consumed.min(pcm.len())..];
        }
        Ok(())
    }

    /// Pushes the encoder's look-ahead out with silence (until every sample given is inside a
    /// written frame past the encoder's delay) and flushes the file.
    pub fn finish(mut self) -> Result<W, String> {
        let delay = self.enc.info().map(|i| u64::from(i.nDelay)).unwrap_or(2 * FRAME);
        let silence = [0i16; FRAME as usize];
        // Bounded: each round gives a frame of input, so a frame comes out at least every
        // other round once the encoder's buffer is full.
        for _ in 0..8 {
            // Nothing given (a recording stopped before any audio): an empty file.
            if self.samples_in == 0 || self.frames_out * FRAME >= self.samples_in + delay {
                break;
            }
            self.encode(&silence)?;
        }
        self.out.flush().map_err(|e| e.to_string())?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of an ADTS header, read back bit by bit.
    struct Adts {
        sync: u16,
        id: u8,
        layer: u8,
        protection_absent: u8,
        profile: u8,
        sfi: u8,
        channels: u8,
        frame_len: usize,
        fullness: u16,
        blocks: u8,
    }

    fn parse(h: &[u8]) -> Adts {
        let bits = h[..7].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let field = |from: u32, width: u32| ((bits >> (56 - from - width)) & ((1 << width) - 1)) as u32;
        Adts {
            sync: field(0, 12) as u16,
            id: field(12, 1) as u8,
            layer: field(13, 2) as u8,
            protection_absent: field(15, 1) as u8,
            profile: field(16, 2) as u8,
            sfi: field(18, 4) as u8,
            channels: field(23, 3) as u8,
            frame_len: field(30, 13) as usize,
            fullness: field(43, 11) as u16,
            blocks: field(54, 2) as u8,
        }
    }

    #[test]
    fn adts_header_fields() {
        // A known header: 48 kHz mono LC, 7 + 100 bytes.
        assert_eq!(adts_header(48_000, 1, 100), Some([0xff, 0xf1, 0x4c, 0x40, 0x0d, 0x7f, 0xfc]));
        for (rate, sfi) in [(16_000, 8), (32_000, 5), (44_100, 4), (48_000, 3)] {
            for (channels, len) in [(1u8, 0usize), (1, 371), (2, 1536), (7, 8184)] {
                let h = parse(&adts_header(rate, channels, len).expect("a valid header"));
                assert_eq!((h.sync, h.id, h.layer, h.protection_absent), (0xfff, 0, 0, 1));
                assert_eq!((h.profile, h.sfi, h.channels), (1, sfi, channels), "{rate} Hz");
                assert_eq!(h.frame_len, len + 7);
                assert_eq!((h.fullness, h.blocks), (0x7ff, 0));
            }
        }
        assert_eq!(adts_header(48_000, 1, 8185), None, "past the 13-bit length");
        assert_eq!(adts_header(22_000, 1, 10), None, "no index for 22 kHz");
        assert_eq!(adts_header(48_000, 0, 10), None);
    }

    #[test]
    fn bitrates_per_quality() {
        assert_eq!([0, 1, 2].map(|q| bitrate(q, 48_000)), [32_000, 64_000, 96_000]);
        assert_eq!(bitrate(2, 16_000), 96_000);
    }

    /// A 1 kHz tone through the writer; every frame's header is checked, and the file's
    /// length in frames covers the input.
    #[test]
    fn writes_adts_frames_that_cover_the_input() {
        for (rate, quality) in [(16_000u32, 0), (44_100, 1), (48_000, 2)] {
            let mut w = AacWriter::new(Vec::new(), rate, quality).expect("encoder");
            let n = rate as usize; // 1 s
            let tone: Vec<i16> =
                (0..n).map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * 1000.0 / f64::from(rate)).sin() * 8000.0) as i16).collect();
            for block in tone.chunks(480) {
                w.write(block).expect("encode");
            }
            let file = w.finish().expect("finish");
            let mut at = 0;
            let mut frames = 0;
            while at < file.len() {
                let h = parse(&file[at..]);
                assert_eq!((h.sync, h.profile, h.channels, Some(h.sfi)), (0xfff, 1, 1, sampling_frequency_index(rate)));
                assert!(h.frame_len > 7, "an empty frame");
                at += h.frame_len;
                frames += 1;
            }
            assert_eq!(at, file.len(), "the file ends with a whole frame");
            assert!(frames as usize * 1024 >= n + 1024, "{frames} frames for {n} samples");
            assert!(frames as usize * 1024 <= n + 4 * 1024, "{frames} frames: too many for {n} samples");
            // Roughly the asked bit rate (CBR): bytes over 1 s ± the flush's frames.
            let kbps = (file.len() * 8) as f64 / (frames as f64 * 1024.0 / f64::from(rate)) / 1000.0;
            let want = f64::from(bitrate(quality, rate)) / 1000.0;
            println!("{rate} Hz quality {quality}: {frames} frames for 1 s, {kbps:.1} kb/s (asked {want})");
            assert!((kbps - want).abs() < want * 0.25, "{rate} Hz q{quality}: {kbps:.1} kb/s for {want}");
        }
    }
}
