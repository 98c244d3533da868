//! H.264 via openh264 (built from source by the `openh264` crate).
//!
//! The encoder produces what browsers decode: **constrained baseline** (profile_idc 66 with
//! constraint_set0/1 flags, i.e. `profile-level-id` 42c0xx; level ≥ 3.1, raised by openh264 for
//! larger pictures), one slice per picture, SPS/PPS in front of every IDR, bitrate-mode rate
//! control without frame skipping, an IDR every [`KEYFRAME_INTERVAL_S`] seconds, and output as
//! an Annex-B byte stream (`00 00 00 01` start codes) ready for RFC 6184 packetization-mode 1.
//!
//! Sizes: H.264 4:2:0 cannot code odd widths or heights, so an odd input is cropped to the even
//! size below it (321x241 is sent as 320x240; the last column/row is dropped, no copy is
//! made). A change of input size rebuilds the encoder and starts with an IDR.
//!
//! The decoder takes one access unit (Annex-B, as produced by the depacketizer) per call and
//! returns a tightly packed I420 [`VideoFrame`], copied out of openh264's strided planes.

use ::openh264::OpenH264API;
use ::openh264::Timestamp;
use ::openh264::decoder::{Decoder, DecoderConfig};
use ::openh264::encoder::{
    BitRate, Complexity, Encoder, FrameRate, FrameType, IntraFramePeriod, Level, Profile, RateControlMode, SpsPpsStrategy, UsageType,
};
use ::openh264::formats::YUVSource;

use super::CodecError;
use crate::frame::{VideoFrame, now_us};

/// Seconds between periodic IDR frames (PLI/FIR-forced keyframes come on top).
pub const KEYFRAME_INTERVAL_S: u32 = 3;
/// Largest picture openh264 encodes (its own limit: 3840x2160 either way round).
pub const MAX_DIMENSION: u32 = 3840;

/// What to encode: the starting size (the real size follows the frames), frame rate and
/// target bitrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVideo {
    /// Annex-B byte stream: every NAL unit prefixed by a start code; an IDR carries SPS + PPS.
    pub data: Vec<u8>,
    /// True for IDR / I pictures (a decoder can start here).
    pub keyframe: bool,
    /// The input frame's `timestamp_us`.
    pub timestamp_us: u64,
}

/// A borrowed I420 picture with explicit strides, cropped to even dimensions.
struct I420View<'a> {
    width: usize,
    height: usize,
    y_stride: usize,
    c_stride: usize,
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
}

impl YUVSource for I420View<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.y_stride, self.c_stride, self.c_stride)
    }

    fn y(&self) -> &[u8] {
        self.y
    }

    fn u(&self) -> &[u8] {
        self.u
    }

    fn v(&self) -> &[u8] {
        self.v
    }
}

/// The size actually coded for a `width` x `height` input (even, never 0 for inputs ≥ 2).
pub fn coded_size(width: u32, height: u32) -> (u32, u32) {
    (width & !1, height & !1)
}

fn check_size(width: u32, height: u32) -> Result<(), CodecError> {
    let (w, h) = coded_size(width, height);
    if w < 2 || h < 2 || w.max(h) > MAX_DIMENSION || w.min(h) > 2160 {
        return Err(CodecError::InvalidInput(format!("cannot encode a {width}x{height} picture")));
    }
    Ok(())
}

/// An H.264 encoder (constrained baseline, Annex-B output). Not thread-safe to share, but `Send`.
pub struct H264Encoder {
    /// Current settings; `width`/`height` are the coded (even) size of the current encoder.
    config: EncoderConfig,
    inner: Encoder,
    /// True once `inner` has encoded a frame (openh264 initialises itself on the first frame,
    /// and only an initialised encoder takes option changes).
    started: bool,
    /// Timestamp of the first frame, so openh264 sees small, increasing millisecond stamps.
    first_ts_us: Option<u64>,
    /// Let openh264 drop frames to hold the bitrate (off by default).
    frame_skipping: bool,
}

impl H264Encoder {
    /// Creates an encoder. `fps` is clamped to 1..=120; `bitrate_kbps` must be > 0.
    pub fn new(config: EncoderConfig) -> Result<Self, CodecError> {
        check_size(config.width, config.height)?;
        if config.bitrate_kbps == 0 {
            return Err(CodecError::InvalidInput("bitrate must be > 0".into()));
        }
        let (w, h) = coded_size(config.width, config.height);
        let config = EncoderConfig { width: w, height: h, fps: config.fps.clamp(1, 120), ..config };
        let inner = Self::build(&config, false)?;
        Ok(H264Encoder { config, inner, started: false, first_ts_us: None, frame_skipping: false })
    }

    fn build(c: &EncoderConfig, skip_frames: bool) -> Result<Encoder, CodecError> {
        let cfg = ::openh264::encoder::EncoderConfig::new()
            .bitrate(BitRate::from_bps(c.bitrate_kbps.saturating_mul(1000)))
            .max_frame_rate(FrameRate::from_hz(c.fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .skip_frames(skip_frames)
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .level(Level::Level_3_1)
            .complexity(Complexity::Low)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .intra_frame_period(IntraFramePeriod::from_num_frames(c.fps * KEYFRAME_INTERVAL_S))
            .num_threads(1);
        Ok(Encoder::with_api_config(OpenH264API::from_source(), cfg)?)
    }

    /// The current settings (coded size, fps, bitrate).
    pub fn config(&self) -> EncoderConfig {
        self.config
    }

    /// Lets openh264 skip frames (`encode` returns `Ok(None)`) when a picture would exceed
    /// the bitrate. Off by default: every frame is coded, and on content that is hard to
    /// compress the output can overshoot the target many times over (noise at 640x480 and
    /// 500 kbps: ~11 Mbps unskipped vs ~1 Mbps with skipping, which codes 1 frame in 20).
    /// Changing it rebuilds the encoder; the next picture is an IDR.
    pub fn set_frame_skipping(&mut self, on: bool) -> Result<(), CodecError> {
        if on == self.frame_skipping {
            return Ok(());
        }
        self.inner = Self::build(&self.config, on)?;
        self.frame_skipping = on;
        self.started = false;
        Ok(())
    }

    /// Changes the target bitrate without a new keyframe.
    pub fn set_bitrate(&mut self, kbps: u32) {
        let kbps = kbps.max(1);
        if kbps == self.config.bitrate_kbps {
            return;
        }
        let old = self.config.bitrate_kbps;
        self.config.bitrate_kbps = kbps;
        if !self.started {
            // Not initialised yet: a fresh encoder with the new settings costs nothing.
            match Self::build(&self.config, self.frame_skipping) {
                Ok(e) => self.inner = e,
                Err(e) => tracing::warn!("cannot rebuild the H.264 encoder for {kbps} kbps: {e}"),
            }
            return;
        }
        let bps = kbps.saturating_mul(1000).min(i32::MAX as u32) as i32;
        // openh264 rejects a target above the maximum, so raise the maximum first when going
        // up and lower it last when going down.
        use openh264_sys2::{ENCODER_OPTION_BITRATE, ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0, SPATIAL_LAYER_ALL};
        let max = (ENCODER_OPTION_MAX_BITRATE, SPATIAL_LAYER_0);
        let target = (ENCODER_OPTION_BITRATE, SPATIAL_LAYER_ALL);
        let order = if kbps > old { [max, target] } else { [target, max] };
        let ok = order.into_iter().all(|(option, layer)| self.set_rate_option(option, layer, bps));
        if !ok {
            tracing::warn!(kbps, "openh264 refused the new bitrate");
        }
    }

    fn set_rate_option(&mut self, option: openh264_sys2::ENCODER_OPTION, layer: openh264_sys2::LAYER_NUM, bps: i32) -> bool {
        let mut info = openh264_sys2::SBitrateInfo { iLayer: layer, iBitrate: bps };
        // SAFETY: the encoder is initialised (`started`), `info` is a valid SBitrateInfo that
        // outlives the call, and ENCODER_OPTION_{MAX_,}BITRATE only read it.
        let rc = unsafe { self.inner.raw_api().set_option(option, (&raw mut info).cast()) };
        rc == 0
    }

    /// The target bitrate openh264 is using (bps), read back from the encoder.
    #[cfg(test)]
    fn effective_bitrate_bps(&mut self) -> Option<i32> {
        let mut info = openh264_sys2::SBitrateInfo { iLayer: openh264_sys2::SPATIAL_LAYER_ALL, iBitrate: 0 };
        // SAFETY: GetOption(ENCODER_OPTION_BITRATE) writes one SBitrateInfo we own.
        let rc = unsafe { self.inner.raw_api().get_option(openh264_sys2::ENCODER_OPTION_BITRATE, (&raw mut info).cast()) };
        (rc == 0).then_some(info.iBitrate)
    }

    /// Encodes one frame. Returns `Ok(None)` when the encoder produced nothing for it.
    pub fn encode(&mut self, frame: &VideoFrame, force_keyframe: bool) -> Result<Option<EncodedVideo>, CodecError> {
        if !frame.is_consistent() {
            return Err(CodecError::InvalidInput(format!(
                "inconsistent {}x{} frame (planes {}/{}/{})",
                frame.width,
                frame.height,
                frame.y.len(),
                frame.u.len(),
                frame.v.len()
            )));
        }
        check_size(frame.width, frame.height)?;
        let (w, h) = coded_size(frame.width, frame.height);
        let mut force = force_keyframe;
        if (w, h) != (self.config.width, self.config.height) {
            let config = EncoderConfig { width: w, height: h, ..self.config };
            self.inner = Self::build(&config, self.frame_skipping)?;
            self.config = config;
            self.started = false;
            force = true;
        }
        if force && self.started {
            self.inner.force_intra_frame();
        }
        let first = *self.first_ts_us.get_or_insert(frame.timestamp_us);
        let ts_ms = frame.timestamp_us.saturating_sub(first) / 1000;
        let (cw, _) = VideoFrame::chroma_size(frame.width, frame.height);
        let view = I420View {
            width: w as usize,
            height: h as usize,
            y_stride: frame.width as usize,
            c_stride: cw as usize,
            y: &frame.y,
            u: &frame.u,
            v: &frame.v,
        };
        let bitstream = self.inner.encode_at(&view, Timestamp::from_millis(ts_ms))?;
        self.started = true;
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let data = bitstream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedVideo { data, keyframe: matches!(frame_type, FrameType::IDR | FrameType::I), timestamp_us: frame.timestamp_us }))
    }
}

/// An H.264 decoder producing tightly packed I420.
pub struct H264Decoder {
    inner: Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self, CodecError> {
        let inner = Decoder::with_api_config(OpenH264API::from_source(), DecoderConfig::new())?;
        Ok(H264Decoder { inner })
    }

    /// Decodes one access unit (Annex-B). `Ok(None)`: no picture yet (e.g. parameter sets
    /// only). Errors are per access unit; decoding goes on with the next one (a lost reference
    /// makes errors until the next IDR). The frame's `timestamp_us` is the decode time.
    pub fn decode(&mut self, annexb: &[u8]) -> Result<Option<VideoFrame>, CodecError> {
        if annexb.is_empty() {
            return Ok(None);
        }
        let Some(yuv) = self.inner.decode(annexb)? else {
            return Ok(None);
        };
        let (w, h) = yuv.dimensions();
        let (ys, us, vs) = yuv.strides();
        if w == 0 || h == 0 {
            return Ok(None);
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let y = copy_plane(yuv.y(), ys, w, h).ok_or_else(|| short_plane("Y"))?;
        let u = copy_plane(yuv.u(), us, cw, ch).ok_or_else(|| short_plane("U"))?;
        let v = copy_plane(yuv.v(), vs, cw, ch).ok_or_else(|| short_plane("V"))?;
        Ok(Some(VideoFrame { width: w as u32, height: h as u32, y, u, v, timestamp_us: now_us() }))
    }
}

fn short_plane(which: &str) -> CodecError {
    CodecError::H264(format!("decoded {which} plane is smaller than its size says"))
}

/// Copies `rows` rows of `width` bytes out of a plane with `stride`; None if it is too short.
fn copy_plane(src: &[u8], stride: usize, width: usize, rows: usize) -> Option<Vec<u8>> {
    if stride < width {
        return None;
    }
    let mut out = Vec::with_capacity(width * rows);
    for r in 0..rows {
        out.extend_from_slice(src.get(r * stride..r * stride + width)?);
    }
    Some(out)
}

/// H.264 emulation prevention (§7.4.1): a 3 goes in before any byte 0-3 that follows two
/// zeros, so that no start code appears inside a NAL unit.
pub fn escape(rbsp: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// Undoes [`escape`].
pub fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// Splits an Annex-B byte stream into NAL units (without start codes).
pub fn nal_units(annexb: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= annexb.len() {
        if annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = match starts.get(k + 1) {
            Some(&next) => next - 3,
            None => annexb.len(),
        };
        // A four-byte start code leaves one zero at the end of the previous unit.
        while end > s && annexb[end - 1] == 0 && starts.get(k + 1).is_some() {
            end -= 1;
        }
        if end > s {
            out.push(&annexb[s..end]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_pattern::{TestPattern, read_stamp};

    fn round_trip(w: u32, h: u32, kbps: u32, frames: u32) -> (u32, u32, usize) {
        let mut enc = H264Encoder::new(EncoderConfig { width: w, height: h, fps: 15, bitrate_kbps: kbps }).expect("encoder");
        let mut dec = H264Decoder::new().expect("decoder");
        let mut pat = TestPattern::new();
        let mut read = 0;
        let mut bytes = 0;
        let mut last = (0, 0);
        for n in 0..frames {
            let ts = 1_700_000_000_000_000 + u64::from(n) * 66_666;
            let f = pat.render(w, h, n, ts);
            let e = enc.encode(&f, false).expect("encode").expect("a picture per frame (no skipping)");
            assert_eq!(e.keyframe, n == 0, "frame {n}");
            assert_eq!(e.timestamp_us, ts);
            bytes += e.data.len();
            let d = dec.decode(&e.data).expect("decode").expect("a picture per access unit");
            last = (d.width, d.height);
            assert!(d.is_consistent());
            let st = read_stamp(&d).unwrap_or_else(|| panic!("stamp unreadable at {w}x{h} frame {n}"));
            assert_eq!(st.frame_no, n);
            assert_eq!(st.capture_time_ms, ts / 1000);
            read += 1;
        }
        assert_eq!(read, frames);
        (last.0, last.1, bytes)
    }

    #[test]
    fn stamp_survives_round_trip_at_several_sizes() {
        for (w, h, kbps) in [(160, 90, 100), (640, 480, 500), (1280, 720, 1200)] {
            let (dw, dh, bytes) = round_trip(w, h, kbps, 12);
            assert_eq!((dw, dh), (w, h));
            // 12 frames at 15 fps = 0.8 s; the first is an IDR, so allow generous headroom.
            let kbits = bytes as f64 * 8.0 / 1000.0;
            assert!(kbits < f64::from(kbps) * 0.8 * 4.0, "{w}x{h}: {kbits} kbit in 0.8 s at {kbps} kbps");
        }
    }

    #[test]
    fn odd_size_is_cropped_to_even() {
        let (dw, dh, _) = round_trip(321, 241, 400, 4);
        assert_eq!((dw, dh), (320, 240));
    }

    #[test]
    fn sps_is_constrained_baseline_and_keyframes_can_be_forced() {
        let mut enc = H264Encoder::new(EncoderConfig { width: 320, height: 240, fps: 30, bitrate_kbps: 300 }).expect("encoder");
        let mut pat = TestPattern::new();
        let e = enc.encode(&pat.render(320, 240, 0, 0), false).expect("encode").expect("idr");
        assert!(e.data.starts_with(&[0, 0, 0, 1]) || e.data.starts_with(&[0, 0, 1]));
        let nals = nal_units(&e.data);
        let types: Vec<u8> = nals.iter().map(|n| n[0] & 0x1f).collect();
        assert!(types.contains(&7) && types.contains(&8) && types.contains(&5), "{types:?}");
        let sps = nals.iter().find(|n| n[0] & 0x1f == 7).expect("sps");
        assert_eq!(sps[1], 66, "profile_idc baseline");
        assert_eq!(sps[2] & 0xc0, 0xc0, "constraint_set0 and set1: constrained baseline");
        assert!(sps[3] >= 31, "level {}", sps[3]);
        let p = enc.encode(&pat.render(320, 240, 1, 33_000), false).expect("encode").expect("p");
        assert!(!p.keyframe);
        assert!(nal_units(&p.data).iter().all(|n| n[0] & 0x1f == 1));
        let k = enc.encode(&pat.render(320, 240, 2, 66_000), true).expect("encode").expect("forced");
        assert!(k.keyframe);
        assert!(nal_units(&k.data).iter().any(|n| n[0] & 0x1f == 5));
        // Periodic IDR: fps * KEYFRAME_INTERVAL_S frames after the last one.
        let mut next_idr = None;
        for n in 3..(3 + 30 * KEYFRAME_INTERVAL_S + 2) {
            let e = enc.encode(&pat.render(320, 240, n, u64::from(n) * 33_333), false).expect("encode").expect("frame");
            if e.keyframe {
                next_idr = Some(n);
                break;
            }
        }
        let n = next_idr.expect("a periodic IDR");
        assert!((2 + 30 * KEYFRAME_INTERVAL_S - 2..=2 + 30 * KEYFRAME_INTERVAL_S + 1).contains(&n), "IDR at {n}");
    }

    #[test]
    fn size_change_and_bitrate_change() {
        let mut enc = H264Encoder::new(EncoderConfig { width: 320, height: 240, fps: 15, bitrate_kbps: 300 }).expect("encoder");
        let mut dec = H264Decoder::new().expect("decoder");
        let mut pat = TestPattern::new();
        let mut n = 0;
        let mut step = |enc: &mut H264Encoder, w: u32, h: u32| {
            let e = enc.encode(&pat.render(w, h, n, u64::from(n) * 66_000), false).expect("encode").expect("frame");
            let d = dec.decode(&e.data).expect("decode").expect("picture");
            n += 1;
            (e, d)
        };
        step(&mut enc, 320, 240);
        enc.set_bitrate(800);
        assert_eq!(enc.effective_bitrate_bps(), Some(800_000), "raised above the old maximum");
        let (e, _) = step(&mut enc, 320, 240);
        assert!(!e.keyframe);
        enc.set_bitrate(150);
        assert_eq!(enc.effective_bitrate_bps(), Some(150_000));
        step(&mut enc, 320, 240);
        let (e, d) = step(&mut enc, 640, 360);
        assert!(e.keyframe, "a new size starts with an IDR");
        assert_eq!((d.width, d.height), (640, 360));
        assert_eq!(enc.config().bitrate_kbps, 150);
        assert_eq!((enc.config().width, enc.config().height), (640, 360));
    }

    #[test]
    fn frame_skipping_is_opt_in() {
        // Noise is the hardest content: without skipping every frame is still coded.
        let noise = |seed: &mut u32, n: u64| {
            let mut f = VideoFrame::black(160, 90);
            for p in f.y.iter_mut() {
                *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                *p = (*seed >> 24) as u8;
            }
            f.timestamp_us = n * 66_666;
            f
        };
        let mut seed = 1;
        let mut enc = H264Encoder::new(EncoderConfig { width: 160, height: 90, fps: 15, bitrate_kbps: 100 }).expect("encoder");
        let coded = (0..15).filter(|&n| enc.encode(&noise(&mut seed, n), false).expect("encode").is_some()).count();
        assert_eq!(coded, 15);
        enc.set_frame_skipping(true).expect("rebuild");
        let first = enc.encode(&noise(&mut seed, 15), false).expect("encode").expect("first frame after a rebuild");
        assert!(first.keyframe);
        let coded = (16..46).filter(|&n| enc.encode(&noise(&mut seed, n), false).expect("encode").is_some()).count();
        assert!(coded < 30, "skipping holds the rate by dropping frames: {coded}/30 coded");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(H264Encoder::new(EncoderConfig { width: 0, height: 240, fps: 15, bitrate_kbps: 300 }).is_err());
        assert!(H264Encoder::new(EncoderConfig { width: 320, height: 240, fps: 15, bitrate_kbps: 0 }).is_err());
        let mut enc = H264Encoder::new(EncoderConfig { width: 320, height: 240, fps: 15, bitrate_kbps: 300 }).expect("encoder");
        let mut f = VideoFrame::black(320, 240);
        f.y.truncate(10);
        assert!(enc.encode(&f, false).is_err());
        let mut dec = H264Decoder::new().expect("decoder");
        assert!(matches!(dec.decode(&[]), Ok(None)));
        let _ = dec.decode(&[0, 0, 0, 1, 0x65, 0xff, 0x00, 0x12]); // garbage: error or nothing
    }

    #[test]
    fn copy_plane_handles_strides() {
        let src = [1, 2, 3, 9, 4, 5, 6, 9];
        assert_eq!(copy_plane(&src, 4, 3, 2), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(copy_plane(&src, 4, 3, 3), None);
        assert_eq!(copy_plane(&src, 2, 3, 1), None);
    }

    /// Prints encode/decode speed; `cargo test -p nertc-engine --lib codec_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn codec_speed() {
        for (w, h, kbps) in [(640, 480, 500), (1280, 720, 1200)] {
            let mut enc = H264Encoder::new(EncoderConfig { width: w, height: h, fps: 30, bitrate_kbps: kbps }).expect("encoder");
            let mut dec = H264Decoder::new().expect("decoder");
            let mut pat = TestPattern::new();
            let frames: Vec<_> = (0..60).map(|n| pat.render(w, h, n, u64::from(n) * 33_333)).collect();
            let (mut te, mut td, mut bytes) = (0.0, 0.0, 0);
            for f in &frames {
                let t = std::time::Instant::now();
                let e = enc.encode(f, false).expect("encode").expect("frame");
                te += t.elapsed().as_secs_f64();
                bytes += e.data.len();
                let t = std::time::Instant::now();
                dec.decode(&e.data).expect("decode").expect("picture");
                td += t.elapsed().as_secs_f64();
            }
            println!(
                "{w}x{h}@{kbps}kbps: encode {:.2} ms/frame, decode {:.2} ms/frame, {:.0} kbps actual",
                te * 1000.0 / 60.0,
                td * 1000.0 / 60.0,
                bytes as f64 * 8.0 / 2.0 / 1000.0
            );
        }
    }
}
