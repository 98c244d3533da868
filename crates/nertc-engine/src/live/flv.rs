//! FLV tag bodies for RTMP's video (type 9) and audio (type 8) messages: what an RTMP
//! message carries is an FLV tag's body, without the tag header.
//!
//! Video (E.4.3.1 of Adobe's FLV spec, AVC): one byte `frame type << 4 | codec 7`, the
//! `AVCPacketType` (0 sequence header, 1 NAL units), a 24-bit composition time (0: no
//! B-frames), then either an `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 5.2.4.1, built
//! from the SPS and PPS) or the picture's NAL units each behind a 4-byte big-endian length.
//! Audio (E.4.2.1, AAC): `0xAF` (AAC, "44 kHz", 16-bit, stereo: the values the spec fixes for
//! AAC whatever the real format), the `AACPacketType` (0 sequence header, 1 raw), then the
//! `AudioSpecificConfig` or one raw access unit.

use crate::codec::h264::nal_units;

/// `frame type` 1 (keyframe) / 2 (inter frame) with codec id 7 (AVC).
const VIDEO_KEY: u8 = 0x17;
const VIDEO_INTER: u8 = 0x27;
/// AAC, with the fixed rate/size/type bits.
const AUDIO_AAC: u8 = 0xAF;

const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;

/// The SPS and PPS of an Annex-B access unit (the first of each), if it has both.
pub fn parameter_sets(annexb: &[u8]) -> Option<(&[u8], &[u8])> {
    let nals = nal_units(annexb);
    let find = |t: u8| nals.iter().copied().find(|n| n.first().is_some_and(|b| b & 0x1f == t));
    Some((find(NAL_SPS)?, find(NAL_PPS)?))
}

/// The AVC sequence header tag body for this SPS/PPS; None if the SPS is too short to carry
/// profile and level (4 bytes) or a set is longer than its 16-bit length field.
pub fn avc_sequence_header(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || sps.len() > 0xffff || pps.is_empty() || pps.len() > 0xffff {
        return None;
    }
    let mut out = vec![VIDEO_KEY, 0, 0, 0, 0];
    // configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication.
    out.extend_from_slice(&[1, sps[1], sps[2], sps[3]]);
    // 6 reserved bits + lengthSizeMinusOne = 3; 3 reserved bits + one SPS.
    out.extend_from_slice(&[0xfc | 3, 0xe0 | 1]);
    out.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    out.extend_from_slice(sps);
    out.push(1);
    out.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    out.extend_from_slice(pps);
    Some(out)
}

/// A picture's tag body: its NAL units (SPS, PPS and access unit delimiters left out: the
/// sequence header carries the parameter sets) in length-prefixed form. None when nothing
/// is left.
pub fn avc_nalus(annexb: &[u8], keyframe: bool) -> Option<Vec<u8>> {
    let mut out = vec![if keyframe { VIDEO_KEY } else { VIDEO_INTER }, 1, 0, 0, 0];
    let mut any = false;
    for nal in nal_units(annexb) {
        let Some(&h) = nal.first() else { continue };
        if matches!(h & 0x1f, NAL_SPS | NAL_PPS | NAL_AUD) {
            continue;
        }
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
        any = true;
    }
    any.then_some(out)
}

/// The AAC sequence header tag body for an `AudioSpecificConfig`.
pub fn aac_sequence_header(asc: &[u8]) -> Vec<u8> {
    let mut out = vec![AUDIO_AAC, 0];
    out.extend_from_slice(asc);
    out
}

/// One raw AAC access unit's tag body.
pub fn aac_raw(au: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(au.len() + 2);
    out.extend_from_slice(&[AUDIO_AAC, 1]);
    out.extend_from_slice(au);
    out
}

/// The 2-byte AAC-LC `AudioSpecificConfig` (ISO/IEC 14496-3 1.6.2.1): object type 2 (5
/// bits), sampling frequency index (4), channel configuration (4), 3 zero bits (frame length
/// 1024, no core coder, no extension). None for a rate without an index.
pub fn aac_lc_config(sample_rate: u32, channels: u8) -> Option<[u8; 2]> {
    const RATES: [u32; 13] = [96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000, 7_350];
    let sfi = RATES.iter().position(|&r| r == sample_rate)? as u8;
    if channels == 0 || channels > 7 {
        return None;
    }
    let bits: u16 = (2 << 11) | (u16::from(sfi) << 7) | (u16::from(channels) << 3);
    Some(bits.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::h264::{EncoderConfig, H264Encoder};
    use crate::frame::VideoFrame;

    #[test]
    fn avc_sequence_header_is_a_decoder_configuration_record() {
        let sps = [0x67, 0x42, 0xc0, 0x1f, 0xaa, 0xbb];
        let pps = [0x68, 0xce, 0x3c, 0x80];
        let h = avc_sequence_header(&sps, &pps).expect("a header");
        assert_eq!(&h[..5], &[0x17, 0, 0, 0, 0], "keyframe, AVC, sequence header, cts 0");
        assert_eq!(&h[5..11], &[1, 0x42, 0xc0, 0x1f, 0xff, 0xe1], "version, profile 66, constraints, level 3.1, 4-byte lengths, 1 SPS");
        assert_eq!(&h[11..13], &[0, 6]);
        assert_eq!(&h[13..19], &sps);
        assert_eq!(&h[19..22], &[1, 0, 4]);
        assert_eq!(&h[22..], &pps);
        assert_eq!(avc_sequence_header(&sps[..3], &pps), None, "an SPS without its level");
        assert_eq!(avc_sequence_header(&sps, &[]), None);
    }

    /// A real openh264 IDR: the sequence header takes its SPS/PPS, the NALU body holds the
    /// rest, length-prefixed, and the lengths add up.
    #[test]
    fn a_real_idr_splits_into_header_and_length_prefixed_nalus() {
        let mut enc = H264Encoder::new(EncoderConfig { width: 64, height: 48, fps: 15, bitrate_kbps: 300 }).expect("encoder");
        let idr = enc.encode(&VideoFrame::black(64, 48), true).expect("encode").expect("a picture");
        assert!(idr.keyframe);
        let (sps, pps) = parameter_sets(&idr.data).expect("SPS and PPS in an IDR");
        assert_eq!((sps[0] & 0x1f, pps[0] & 0x1f), (7, 8));
        let h = avc_sequence_header(sps, pps).expect("header");
        assert_eq!(h[6], 66, "constrained baseline");
        let body = avc_nalus(&idr.data, true).expect("NAL units");
        assert_eq!(&body[..5], &[0x17, 1, 0, 0, 0]);
        let mut at = 5;
        let mut types = Vec::new();
        while at < body.len() {
            let len = u32::from_be_bytes(body[at..at + 4].try_into().expect("4 bytes")) as usize;
            types.push(body[at + 4] & 0x1f);
            at += 4 + len;
        }
        assert_eq!(at, body.len(), "the lengths cover the body exactly");
        assert!(types.contains(&5) && !types.contains(&7) && !types.contains(&8), "IDR slice, no parameter sets: {types:?}");
        let p = enc.encode(&VideoFrame::black(64, 48), false).expect("encode").expect("a picture");
        assert_eq!(avc_nalus(&p.data, false).expect("P")[..2], [0x27, 1]);
        assert_eq!(avc_nalus(&[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce], true), None, "parameter sets only");
    }

    #[test]
    fn aac_bodies_and_config() {
        assert_eq!(aac_lc_config(44_100, 2), Some([0x12, 0x10]));
        assert_eq!(aac_lc_config(48_000, 2), Some([0x11, 0x90]));
        assert_eq!(aac_lc_config(32_000, 1), Some([0x12, 0x88]));
        assert_eq!(aac_lc_config(22_000, 1), None);
        assert_eq!(aac_sequence_header(&[0x12, 0x10]), vec![0xaf, 0, 0x12, 0x10]);
        assert_eq!(aac_raw(&[1, 2, 3]), vec![0xaf, 1, 1, 2, 3]);
    }
}
