//! JS → engine conversions, in one place: every value the addon receives from JS is checked and
//! turned into the engine's type here, so [`crate::engine`] only calls a conversion and then an
//! engine method. ([`crate::events`] is the other direction, engine → JS.)
//!
//! The split with index.js: napi checks JS *types* (the addon is built with napi's strict
//! argument checks, and index.js never passes a value of the wrong type, so no call throws);
//! this module checks *values*: integral numbers, ranges, uids, timestamps, pixel formats,
//! frame sizes, sample counts. A conversion returns the engine's value or the NERTC code the
//! call returns instead (always [`error::ERR_INVALID_PARAM`]); the few used by functions that
//! throw (tokens) return a napi error instead. Nothing here panics.
//!
//! Numbers arrive as `f64` (a JS number) so that `1.5`, `NaN` or `2**40` are refused here
//! instead of being truncated or wrapped by napi's integer conversions.

use napi::bindgen_prelude::{BigInt, Either};
use napi_derive::napi;

use nertc_engine::api::frame_len;
use nertc_engine::audio_mixing::MixOptions;
use nertc_engine::audio_mixing::dsp::ReverbParam;
use nertc_engine::device::screen::Rect;
use nertc_engine::error::{self, Code};
use nertc_engine::recording::RecordingConfig;
use nertc_engine::render::StreamKey;
use nertc_engine::{ExternalVideoFrame, PixelFormat, ScreenCaptureParams, VideoConfig};

/// The engine's value, or the NERTC code the call returns instead.
pub type Converted<T> = Result<T, Code>;

/// A uid as JS passes it: a number or a BigInt.
pub type JsUid = Either<f64, BigInt>;

/// A pixel format as JS passes it: `'I420'` / `'RGBA'` (any case) or `0` / `1`.
pub type JsPixelFormat = Either<String, f64>;

const INVALID: Code = error::ERR_INVALID_PARAM;

/// 2^64 as f64: every integral f64 below it fits in a u64.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

fn is_integral(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0
}

/// An integral number in `0 .. 2^64` as u64.
fn whole_u64(v: f64) -> Option<u64> {
    (is_integral(v) && (0.0..TWO_POW_64).contains(&v)).then_some(v as u64)
}

/// A uid (number or BigInt): 1 ..= 2^64-1 and integral.
/// NERTC's `(uids, size)`: the first `size` uids (30003 when `size` is not an integer from 0
/// to `uids.length`, or a uid is invalid).
pub fn uid_list(uids: &[JsUid], size: f64) -> Converted<Vec<u64>> {
    if !is_integral(size) || size < 0.0 || size > uids.len() as f64 {
        return Err(INVALID);
    }
    uids[..size as usize].iter().map(uid).collect()
}

pub fn uid(v: &JsUid) -> Converted<u64> {
    match v {
        Either::A(n) if is_integral(*n) && *n >= 1.0 && *n < TWO_POW_64 => Ok(*n as u64),
        Either::A(_) => Err(INVALID),
        Either::B(b) => {
            let lossless = !b.sign_bit && b.words.len() <= 1;
            match b.words.first().copied() {
                Some(value) if lossless && value != 0 => Ok(value),
                _ => Err(INVALID),
            }
        }
    }
}

/// The stream a frame is pulled from: `None` is the local preview, a uid a remote user; `sub`
/// their substream (screen share).
pub fn stream_key(v: Option<&JsUid>, sub: bool) -> Converted<StreamKey> {
    match (v, sub) {
        (None, false) => Ok(StreamKey::Local),
        (None, true) => Ok(StreamKey::LocalSub),
        (Some(u), false) => uid(u).map(StreamKey::Remote),
        (Some(u), true) => uid(u).map(StreamKey::RemoteSub),
    }
}

/// NERTC's `NERtcRectangle`; missing fields are 0 (an all-zero region: the whole source).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct RectArgs {
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
}

/// Integral fields; x and y may be negative (monitors left of or above the primary one).
pub fn rect(r: Option<&RectArgs>) -> Converted<Rect> {
    let Some(r) = r else { return Ok(Rect::default()) };
    Ok(Rect { x: r.x.map_or(Ok(0), int32)?, y: r.y.map_or(Ok(0), int32)?, width: u32_or(r.width, 0)?, height: u32_or(r.height, 0)? })
}

/// `NERtcVideoDimensions`.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct DimensionsArgs {
    pub width: Option<f64>,
    pub height: Option<f64>,
}

/// NERTC's `NERtcScreenCaptureParameters` (`window_focus` and `excluded_window_count` are
/// accepted and not needed: the list's length is its count).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct ScreenCaptureParamsArgs {
    pub profile: Option<f64>,
    pub dimensions: Option<DimensionsArgs>,
    #[napi(js_name = "frame_rate")]
    pub frame_rate: Option<f64>,
    pub bitrate: Option<f64>,
    #[napi(js_name = "capture_mouse_cursor")]
    pub capture_mouse_cursor: Option<bool>,
    #[napi(js_name = "window_focus")]
    pub window_focus: Option<bool>,
    #[napi(js_name = "excluded_window_list")]
    pub excluded_window_list: Option<Vec<f64>>,
    #[napi(js_name = "excluded_window_count")]
    pub excluded_window_count: Option<f64>,
    pub prefer: Option<f64>,
}

/// Window ids: integral, 0 ..= 2^53.
pub fn window_ids(list: Option<&[f64]>) -> Converted<Vec<u64>> {
    list.unwrap_or_default().iter().map(|v| whole_u64(*v).ok_or(INVALID)).collect()
}

/// A display or window id (integral, not negative).
pub fn source_id(v: f64) -> Converted<u64> {
    whole_u64(v).ok_or(INVALID)
}

/// Missing fields take NERTC's defaults (1080p profile, 5 fps, bitrate from the size, cursor
/// captured); the engine checks the ranges.
pub fn screen_params(p: Option<&ScreenCaptureParamsArgs>) -> Converted<ScreenCaptureParams> {
    let d = ScreenCaptureParams::default();
    let Some(p) = p else { return Ok(d) };
    let dims = p.dimensions.clone().unwrap_or_default();
    Ok(ScreenCaptureParams {
        profile: p.profile.map_or(Ok(d.profile), int32)?,
        width: u32_or(dims.width, 0)?,
        height: u32_or(dims.height, 0)?,
        frame_rate: p.frame_rate.map_or(Ok(d.frame_rate), int32)?,
        bitrate: p.bitrate.map_or(Ok(0), int32)?,
        capture_mouse_cursor: p.capture_mouse_cursor.unwrap_or(d.capture_mouse_cursor),
        excluded_windows: window_ids(p.excluded_window_list.as_deref())?,
        prefer: p.prefer.map_or(Ok(0), int32)?,
    })
}

/// An integral number in `-(2^31-1) ..= 2^31-1` (NERTC's int arguments: profiles, roles, modes,
/// volumes, intervals; the engine checks each one's own range).
pub fn int32(v: f64) -> Converted<i32> {
    if is_integral(v) && v.abs() <= f64::from(i32::MAX) { Ok(v as i32) } else { Err(INVALID) }
}

/// [`int32`], and not negative.
pub fn non_negative_i32(v: f64) -> Converted<i32> {
    match int32(v) {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(INVALID),
    }
}

/// [`non_negative_i32`] as the engine's u32, `default` when JS passed null/undefined.
fn u32_or(v: Option<f64>, default: u32) -> Converted<u32> {
    match v {
        None => Ok(default),
        Some(v) => non_negative_i32(v).map(|n| n.unsigned_abs()),
    }
}

/// A timestamp in ms: finite and not negative; fractions are dropped.
pub fn timestamp_ms(v: f64) -> Converted<u64> {
    whole_u64(v.floor()).ok_or(INVALID)
}

/// `'I420'` / `'RGBA'` (case-insensitive), or NERTC's numbers `0` (I420) / `1` (RGBA).
pub fn pixel_format(v: &JsPixelFormat) -> Converted<PixelFormat> {
    match v {
        Either::A(s) if s.eq_ignore_ascii_case("I420") => Ok(PixelFormat::I420),
        Either::A(s) if s.eq_ignore_ascii_case("RGBA") => Ok(PixelFormat::Rgba),
        Either::B(n) if *n == 0.0 => Ok(PixelFormat::I420),
        Either::B(n) if *n == 1.0 => Ok(PixelFormat::Rgba),
        _ => Err(INVALID),
    }
}

/// `pushExternalVideoFrame`: format, integral size, `data` exactly the engine's
/// [`frame_len`] (which also bounds the size; checked here so a bad frame is never copied),
/// timestamp.
pub fn external_video_frame(format: &JsPixelFormat, width: f64, height: f64, data: &[u8], ts_ms: f64) -> Converted<ExternalVideoFrame> {
    let format = pixel_format(format)?;
    let width = non_negative_i32(width)?.unsigned_abs();
    let height = non_negative_i32(height)?.unsigned_abs();
    if frame_len(format, width, height) != Some(data.len()) {
        return Err(INVALID);
    }
    let timestamp_ms = timestamp_ms(ts_ms)?;
    Ok(ExternalVideoFrame { format, width, height, data: data.to_vec(), timestamp_ms })
}

/// `pushExternalAudioFrame`'s numbers, checked against the sample count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioFrameArgs {
    pub sample_rate: i32,
    pub channels: i32,
    pub timestamp_ms: u64,
}

/// `pushExternalAudioFrame`: positive rate and channel count, `samples` interleaved samples
/// (not empty, whole frames, `samples_per_channel * channels` when given), timestamp. Whether
/// rate and channels match `setExternalAudioSource` is the engine's check.
pub fn external_audio_frame(
    samples: usize,
    sample_rate: f64,
    channels: f64,
    samples_per_channel: Option<f64>,
    ts_ms: f64,
) -> Converted<AudioFrameArgs> {
    let sample_rate = non_negative_i32(sample_rate)?;
    let channels = non_negative_i32(channels)?;
    if sample_rate == 0 || channels == 0 {
        return Err(INVALID);
    }
    let timestamp_ms = timestamp_ms(ts_ms)?;
    if samples == 0 || !samples.is_multiple_of(channels.unsigned_abs() as usize) {
        return Err(INVALID);
    }
    if let Some(per_channel) = samples_per_channel
        && per_channel * f64::from(channels) != samples as f64
    {
        return Err(INVALID);
    }
    Ok(AudioFrameArgs { sample_rate, channels, timestamp_ms })
}

/// `setExternalAudioSource(enabled, sampleRate = 48000, channels = 1)`: non-negative ints (the
/// engine checks the supported rates and channel counts when enabling).
pub fn external_audio_format(sample_rate: Option<f64>, channels: Option<f64>) -> Converted<(i32, i32)> {
    Ok((non_negative_i32(sample_rate.unwrap_or(48_000.0))?, non_negative_i32(channels.unwrap_or(1.0))?))
}

/// `setVideoConfig(config)` with NERTC's field names; fields null/undefined keep their default
/// (`max_profile` -1: unset; others 0: unset).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct VideoConfigArgs {
    #[napi(js_name = "max_profile")]
    pub max_profile: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
    pub framerate: Option<f64>,
    #[napi(js_name = "min_framerate")]
    pub min_framerate: Option<f64>,
    pub bitrate: Option<f64>,
    #[napi(js_name = "min_bitrate")]
    pub min_bitrate: Option<f64>,
    #[napi(js_name = "mirror_mode")]
    pub mirror_mode: Option<f64>,
    #[napi(js_name = "crop_mode")]
    pub crop_mode: Option<f64>,
    #[napi(js_name = "degradation_preference")]
    pub degradation_preference: Option<f64>,
    #[napi(js_name = "orientation_mode")]
    pub orientation_mode: Option<f64>,
}

/// Every field an integral number, all but `max_profile` non-negative, none above 2^31-1. The
/// engine checks the combination (known profile, even size up to 3840x2160, fps up to 60, ...).
pub fn video_config(args: &VideoConfigArgs) -> Converted<VideoConfig> {
    Ok(VideoConfig {
        max_profile: args.max_profile.map_or(Ok(-1), int32)?,
        width: u32_or(args.width, 0)?,
        height: u32_or(args.height, 0)?,
        framerate: u32_or(args.framerate, 0)?,
        min_framerate: u32_or(args.min_framerate, 0)?,
        bitrate_kbps: u32_or(args.bitrate, 0)?,
        min_bitrate_kbps: u32_or(args.min_bitrate, 0)?,
        mirror_mode: args.mirror_mode.map_or(Ok(0), non_negative_i32)?,
        crop_mode: args.crop_mode.map_or(Ok(0), non_negative_i32)?,
        degradation_preference: args.degradation_preference.map_or(Ok(0), non_negative_i32)?,
        orientation_mode: args.orientation_mode.map_or(Ok(0), non_negative_i32)?,
    })
}

/// `enableAudioVolumeIndication(enable, interval = 0)`.
pub fn interval_ms(v: Option<f64>) -> Converted<i32> {
    int32(v.unwrap_or(0.0))
}

/// A device id: not empty (whether it exists is the engine's check: 30008).
pub fn device_id(id: &str) -> Converted<&str> {
    if id.is_empty() { Err(INVALID) } else { Ok(id) }
}

/// `log_level` of `initialize` (the engine maps any int: below 0 fatal, 7 and above off).
pub fn log_level(v: f64) -> Converted<i32> {
    int32(v)
}

/// `log_file_max_size_KBytes`: an integral number of KB, 0 = the engine's default.
pub fn log_file_kb(v: f64) -> Converted<u64> {
    whole_u64(v).ok_or(INVALID)
}

/// The sequence number a frame target has seen (`target.seq`, -1 or absent: none).
pub fn seen_seq(v: Option<f64>) -> u64 {
    match v {
        Some(s) if (0.0..TWO_POW_64).contains(&s) => s as u64,
        // Never a slot's sequence number: whatever the slot holds is new.
        _ => u64::MAX,
    }
}

/// A JS exception for a bad argument of a throwing function (`createToken`).
pub fn invalid_arg(msg: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, msg.into())
}

/// `createToken`'s uid, as a JS exception when it is not one.
pub fn token_uid(v: &JsUid) -> napi::Result<u64> {
    uid(v).map_err(|_| invalid_arg("uid must be a positive integer below 2^64"))
}

/// `createToken`'s channel: the protocol's channel-name rules.
pub fn token_channel(name: &str) -> napi::Result<&str> {
    nertc_protocol::validate::channel_name(name).map(|()| name).map_err(|e| invalid_arg(format!("invalid channel name: {e}")))
}

/// `createToken`'s lifetime in seconds: an integral number, not negative.
pub fn ttl_secs(v: f64) -> napi::Result<u64> {
    whole_u64(v).ok_or_else(|| invalid_arg("ttlSecs must be a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(sign_bit: bool, words: Vec<u64>) -> JsUid {
        Either::B(BigInt { sign_bit, words })
    }

    #[test]
    fn uids_are_one_to_two_pow_64_minus_one() {
        assert_eq!(uid(&Either::A(42.0)), Ok(42));
        assert_eq!(uid(&Either::A(1.0)), Ok(1));
        // The largest f64 below 2^64.
        assert_eq!(uid(&Either::A(18_446_744_073_709_549_568.0)), Ok(18_446_744_073_709_549_568));
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, TWO_POW_64, -0.0] {
            assert_eq!(uid(&Either::A(bad)), Err(INVALID), "{bad}");
        }
        assert_eq!(uid(&big(false, vec![u64::MAX])), Ok(u64::MAX));
        assert_eq!(uid(&big(false, vec![7])), Ok(7));
        assert_eq!(uid(&big(false, vec![0])), Err(INVALID));
        assert_eq!(uid(&big(false, vec![])), Err(INVALID), "0n has no words");
        assert_eq!(uid(&big(true, vec![5])), Err(INVALID), "negative");
        assert_eq!(uid(&big(false, vec![1, 1])), Err(INVALID), "2^64 + 1 does not fit");
    }

    #[test]
    fn stream_keys() {
        assert_eq!(stream_key(None, false), Ok(StreamKey::Local));
        assert_eq!(stream_key(Some(&Either::A(9.0)), false), Ok(StreamKey::Remote(9)));
        assert_eq!(stream_key(None, true), Ok(StreamKey::LocalSub));
        assert_eq!(stream_key(Some(&Either::A(9.0)), true), Ok(StreamKey::RemoteSub(9)));
        assert_eq!(stream_key(Some(&Either::A(0.0)), false), Err(INVALID));
    }

    #[test]
    fn int32_is_integral_and_symmetric() {
        assert_eq!(int32(0.0), Ok(0));
        assert_eq!(int32(-0.0), Ok(0));
        assert_eq!(int32(-1.0), Ok(-1));
        assert_eq!(int32(2_147_483_647.0), Ok(i32::MAX));
        assert_eq!(int32(-2_147_483_647.0), Ok(-i32::MAX));
        for bad in [2_147_483_648.0, -2_147_483_648.0, 1.5, -0.5, f64::NAN, f64::INFINITY, 1e300] {
            assert_eq!(int32(bad), Err(INVALID), "{bad}");
        }
        assert_eq!(non_negative_i32(0.0), Ok(0));
        assert_eq!(non_negative_i32(400.0), Ok(400));
        assert_eq!(non_negative_i32(-1.0), Err(INVALID));
        assert_eq!(non_negative_i32(2.5), Err(INVALID));
    }

    #[test]
    fn timestamps_are_finite_and_not_negative() {
        assert_eq!(timestamp_ms(0.0), Ok(0));
        assert_eq!(timestamp_ms(1_700_000_000_123.9), Ok(1_700_000_000_123), "fractions are dropped");
        for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY, TWO_POW_64] {
            assert_eq!(timestamp_ms(bad), Err(INVALID), "{bad}");
        }
    }

    #[test]
    fn pixel_formats_by_name_or_number() {
        assert_eq!(pixel_format(&Either::A("I420".into())), Ok(PixelFormat::I420));
        assert_eq!(pixel_format(&Either::A("rgba".into())), Ok(PixelFormat::Rgba));
        assert_eq!(pixel_format(&Either::B(0.0)), Ok(PixelFormat::I420));
        assert_eq!(pixel_format(&Either::B(1.0)), Ok(PixelFormat::Rgba));
        for bad in [Either::A("NV12".into()), Either::A(String::new()), Either::B(2.0), Either::B(0.5), Either::B(f64::NAN)] {
            assert_eq!(pixel_format(&bad), Err(INVALID), "{bad:?}");
        }
    }

    #[test]
    fn external_video_frames() {
        let i420 = Either::A("I420".to_owned());
        let ok = external_video_frame(&i420, 4.0, 2.0, &[7; 12], 1234.5).expect("a well-formed 4x2 I420 frame converts");
        assert_eq!((ok.format, ok.width, ok.height, ok.timestamp_ms), (PixelFormat::I420, 4, 2, 1234));
        assert_eq!(ok.data, vec![7; 12], "data is copied as is");
        let rgba = external_video_frame(&Either::B(1.0), 2.0, 2.0, &[0; 16], 0.0).expect("a well-formed 2x2 RGBA frame converts");
        assert_eq!(rgba.format, PixelFormat::Rgba);

        let bad = |f: &JsPixelFormat, w: f64, h: f64, len: usize, ts: f64| external_video_frame(f, w, h, &vec![0; len], ts).err();
        assert_eq!(bad(&i420, 4.0, 2.0, 11, 0.0), Some(INVALID), "too short");
        assert_eq!(bad(&i420, 4.0, 2.0, 13, 0.0), Some(INVALID), "too long");
        assert_eq!(bad(&Either::A("RGBA".into()), 4.0, 2.0, 12, 0.0), Some(INVALID), "RGBA size");
        assert_eq!(bad(&Either::A("NV12".into()), 4.0, 2.0, 12, 0.0), Some(INVALID), "format");
        assert_eq!(bad(&i420, 0.0, 2.0, 0, 0.0), Some(INVALID), "zero width");
        assert_eq!(bad(&i420, 4.0, -2.0, 12, 0.0), Some(INVALID), "negative height");
        assert_eq!(bad(&i420, 4.5, 2.0, 12, 0.0), Some(INVALID), "fractional width");
        assert_eq!(bad(&i420, 7682.0, 2.0, 7682 * 2 * 3 / 2, 0.0), Some(INVALID), "wider than 8K");
        assert_eq!(bad(&i420, 2.0, 4322.0, 2 * 4322 * 3 / 2, 0.0), Some(INVALID), "taller than 8K");
        assert_eq!(bad(&i420, 4.0, 2.0, 12, -1.0), Some(INVALID), "negative timestamp");
        assert_eq!(bad(&i420, 4.0, 2.0, 12, f64::NAN), Some(INVALID), "NaN timestamp");
    }

    #[test]
    fn external_audio_frames() {
        assert_eq!(
            external_audio_frame(960, 48_000.0, 2.0, Some(480.0), 5.0),
            Ok(AudioFrameArgs { sample_rate: 48_000, channels: 2, timestamp_ms: 5 })
        );
        assert_eq!(external_audio_frame(480, 16_000.0, 1.0, None, 0.0).map(|a| a.channels), Ok(1));
        assert_eq!(external_audio_frame(481, 48_000.0, 2.0, None, 0.0), Err(INVALID), "odd sample count for stereo");
        assert_eq!(external_audio_frame(0, 48_000.0, 2.0, None, 0.0), Err(INVALID), "empty");
        assert_eq!(external_audio_frame(960, 48_000.0, 2.0, Some(100.0), 0.0), Err(INVALID), "samples_per_channel mismatch");
        assert_eq!(external_audio_frame(960, 0.0, 2.0, None, 0.0), Err(INVALID), "zero rate");
        assert_eq!(external_audio_frame(960, 48_000.0, 0.0, None, 0.0), Err(INVALID), "zero channels");
        assert_eq!(external_audio_frame(960, 48_000.5, 2.0, None, 0.0), Err(INVALID), "fractional rate");
        assert_eq!(external_audio_frame(960, 48_000.0, 2.0, None, -5.0), Err(INVALID), "negative timestamp");

        assert_eq!(external_audio_format(None, None), Ok((48_000, 1)), "defaults");
        assert_eq!(external_audio_format(Some(12_345.0), Some(3.0)), Ok((12_345, 3)), "the engine checks supported values");
        assert_eq!(external_audio_format(Some(-1.0), None), Err(INVALID));
        assert_eq!(external_audio_format(None, Some(1.5)), Err(INVALID));
    }

    #[test]
    fn video_configs() {
        let cfg = video_config(&VideoConfigArgs::default()).expect("an empty config converts to the defaults");
        assert_eq!(
            cfg,
            VideoConfig {
                max_profile: -1,
                width: 0,
                height: 0,
                framerate: 0,
                min_framerate: 0,
                bitrate_kbps: 0,
                min_bitrate_kbps: 0,
                mirror_mode: 0,
                crop_mode: 0,
                degradation_preference: 0,
                orientation_mode: 0
            }
        );
        let args = VideoConfigArgs {
            max_profile: Some(3.0),
            width: Some(320.0),
            height: Some(240.0),
            framerate: Some(15.0),
            min_framerate: Some(5.0),
            bitrate: Some(800.0),
            min_bitrate: Some(100.0),
            mirror_mode: Some(2.0),
            crop_mode: Some(1.0),
            degradation_preference: Some(2.0),
            orientation_mode: Some(2.0),
        };
        let cfg = video_config(&args).expect("a config of integral numbers converts");
        assert_eq!((cfg.crop_mode, cfg.orientation_mode), (1, 2));
        assert_eq!((cfg.max_profile, cfg.width, cfg.height, cfg.framerate), (3, 320, 240, 15));
        assert_eq!((cfg.min_framerate, cfg.bitrate_kbps, cfg.min_bitrate_kbps, cfg.mirror_mode), (5, 800, 100, 2));
        assert_eq!(cfg.crop_mode, 1);
        assert_eq!(cfg.degradation_preference, 2);

        let with = |f: fn(&mut VideoConfigArgs)| {
            let mut a = VideoConfigArgs::default();
            f(&mut a);
            video_config(&a)
        };
        assert_eq!(with(|a| a.width = Some(-2.0)), Err(INVALID), "negative width");
        assert_eq!(with(|a| a.height = Some(240.5)), Err(INVALID), "fractional height");
        assert_eq!(with(|a| a.bitrate = Some(f64::NAN)), Err(INVALID), "NaN bitrate");
        assert_eq!(with(|a| a.framerate = Some(2_147_483_648.0)), Err(INVALID), "above 2^31-1");
        assert_eq!(with(|a| a.mirror_mode = Some(-1.0)), Err(INVALID), "negative mirror mode");
        // Range checks belong to the engine: a profile of 9 converts (and the engine refuses it).
        assert_eq!(with(|a| a.max_profile = Some(9.0)).map(|c| c.max_profile), Ok(9));
        assert_eq!(with(|a| a.max_profile = Some(-1.5)), Err(INVALID), "fractional profile");
    }

    #[test]
    fn small_ones() {
        assert_eq!(interval_ms(None), Ok(0));
        assert_eq!(interval_ms(Some(200.0)), Ok(200));
        assert_eq!(interval_ms(Some(0.5)), Err(INVALID));
        assert_eq!(device_id("nertc-tone"), Ok("nertc-tone"));
        assert_eq!(device_id(""), Err(INVALID));
        assert_eq!(log_level(3.0), Ok(3));
        assert_eq!(log_level(f64::NAN), Err(INVALID));
        assert_eq!(log_file_kb(0.0), Ok(0));
        assert_eq!(log_file_kb(1024.0), Ok(1024));
        assert_eq!(log_file_kb(-1.0), Err(INVALID));
        assert_eq!(log_file_kb(1.5), Err(INVALID));
        assert_eq!(seen_seq(Some(7.0)), 7);
        assert_eq!(seen_seq(Some(-1.0)), u64::MAX, "-1: nothing seen");
        assert_eq!(seen_seq(None), u64::MAX);
        assert_eq!(seen_seq(Some(f64::NAN)), u64::MAX);
    }

    #[test]
    fn token_arguments_throw() {
        assert_eq!(token_uid(&Either::A(42.0)).ok(), Some(42));
        assert!(token_uid(&Either::A(0.0)).is_err_and(|e| e.status == napi::Status::InvalidArg));
        assert_eq!(token_channel("room 1").ok(), Some("room 1"));
        assert!(token_channel("").is_err_and(|e| e.status == napi::Status::InvalidArg));
        assert!(token_channel("café").is_err_and(|e| e.reason.contains("channel")));
        assert_eq!(ttl_secs(3600.0).ok(), Some(3600));
        assert_eq!(ttl_secs(0.0).ok(), Some(0));
        assert!(ttl_secs(-1.0).is_err());
        assert!(ttl_secs(1.5).is_err());
    }
}

/// `NERtcCreateAudioMixingOption` / `NERtcCreateAudioEffectOption` with NERTC's field names;
/// absent fields take NERTC's defaults (loop 1, send and playback on at volume 100).
/// `send_type` (main or substream audio) is accepted and ignored: there is one audio stream.
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct MixOptionArgs {
    pub path: Option<String>,
    #[napi(js_name = "loop_count")]
    pub loop_count: Option<f64>,
    #[napi(js_name = "send_enabled")]
    pub send_enabled: Option<bool>,
    #[napi(js_name = "send_volume")]
    pub send_volume: Option<f64>,
    #[napi(js_name = "playback_enabled")]
    pub playback_enabled: Option<bool>,
    #[napi(js_name = "playback_volume")]
    pub playback_volume: Option<f64>,
    #[napi(js_name = "start_timestamp")]
    pub start_timestamp: Option<f64>,
    #[napi(js_name = "progress_interval")]
    pub progress_interval: Option<f64>,
    #[napi(js_name = "send_type")]
    pub send_type: Option<f64>,
}

pub fn mix_options(a: &MixOptionArgs) -> Converted<MixOptions> {
    let d = MixOptions::default();
    Ok(MixOptions {
        path: a.path.clone().ok_or(INVALID)?,
        loop_count: a.loop_count.map_or(Ok(d.loop_count), int32)?,
        send_enabled: a.send_enabled.unwrap_or(d.send_enabled),
        send_volume: u32_or(a.send_volume, d.send_volume)?,
        playback_enabled: a.playback_enabled.unwrap_or(d.playback_enabled),
        playback_volume: u32_or(a.playback_volume, d.playback_volume)?,
        start_timestamp_ms: a.start_timestamp.map_or(Ok(0), timestamp_ms)?,
        progress_interval_ms: u32_or(a.progress_interval, 0)?,
    })
}

/// `NERtcReverbParam` (NERTC's camelCase names; snake_case accepted too).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct ReverbArgs {
    pub wet_gain: Option<f64>,
    pub dry_gain: Option<f64>,
    pub damping: Option<f64>,
    pub room_size: Option<f64>,
    pub decay_time: Option<f64>,
    pub pre_delay: Option<f64>,
    #[napi(js_name = "wet_gain")]
    pub wet_gain_snake: Option<f64>,
    #[napi(js_name = "dry_gain")]
    pub dry_gain_snake: Option<f64>,
    #[napi(js_name = "room_size")]
    pub room_size_snake: Option<f64>,
    #[napi(js_name = "decay_time")]
    pub decay_time_snake: Option<f64>,
    #[napi(js_name = "pre_delay")]
    pub pre_delay_snake: Option<f64>,
}

pub fn reverb(a: &ReverbArgs) -> Converted<ReverbParam> {
    let d = ReverbParam::default();
    let f = |v: Option<f64>, alt: Option<f64>, def: f32| -> Converted<f32> {
        match v.or(alt) {
            None => Ok(def),
            Some(x) if x.is_finite() => Ok(x as f32),
            Some(_) => Err(INVALID),
        }
    };
    Ok(ReverbParam {
        wet_gain: f(a.wet_gain, a.wet_gain_snake, d.wet_gain)?,
        dry_gain: f(a.dry_gain, a.dry_gain_snake, d.dry_gain)?,
        damping: f(a.damping, None, d.damping)?,
        room_size: f(a.room_size, a.room_size_snake, d.room_size)?,
        decay_time: f(a.decay_time, a.decay_time_snake, d.decay_time)?,
        pre_delay: f(a.pre_delay, a.pre_delay_snake, d.pre_delay)?,
    })
}

/// `NERtcEncryptionConfig`: `{mode, key}` (absent mode: 0, SM4; absent key: empty).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct EncryptionConfigArgs {
    pub mode: Option<f64>,
    pub key: Option<String>,
}

/// `(mode, key)` of an [`EncryptionConfigArgs`].
pub fn encryption_config(a: &EncryptionConfigArgs) -> Converted<(i32, String)> {
    Ok((a.mode.map_or(Ok(0), int32)?, a.key.clone().unwrap_or_default()))
}

/// `NERtcAudioRecordingConfiguration` (NERTC's camelCase names; snake_case accepted too).
#[napi(object)]
#[derive(Debug, Clone, Default)]
pub struct RecordingConfigArgs {
    pub file_path: Option<String>,
    pub sample_rate: Option<f64>,
    pub quality: Option<f64>,
    pub position: Option<f64>,
    pub cycle_time: Option<f64>,
    #[napi(js_name = "file_path")]
    pub file_path_snake: Option<String>,
    #[napi(js_name = "sample_rate")]
    pub sample_rate_snake: Option<f64>,
    #[napi(js_name = "cycle_time")]
    pub cycle_time_snake: Option<f64>,
}

pub fn recording_config(a: &RecordingConfigArgs) -> Converted<RecordingConfig> {
    Ok(RecordingConfig {
        file_path: a.file_path.clone().or_else(|| a.file_path_snake.clone()).ok_or(INVALID)?,
        sample_rate: u32_or(a.sample_rate.or(a.sample_rate_snake), 32_000)?,
        quality: a.quality.map_or(Ok(1), int32)?,
        position: a.position.map_or(Ok(0), int32)?,
        cycle_time: a.cycle_time.or(a.cycle_time_snake).map_or(Ok(0), int32)?,
    })
}

/// `startAudioRecording(filePath, sampleRate, quality)`: both mixed.
pub fn recording_simple(path: String, sample_rate: f64, quality: f64) -> Converted<RecordingConfig> {
    Ok(RecordingConfig {
        file_path: path,
        sample_rate: u32_or(Some(sample_rate), 0)?,
        quality: int32(quality)?,
        position: 0,
        cycle_time: 0,
    })
}

/// A volume / effect id / position argument: an integral number ≥ 0.
pub fn u32_arg(v: f64) -> Converted<u32> {
    u32_or(Some(v), 0)
}

// ---- live streaming: NERTC's NERtcLiveStreamTaskInfo (snake_case, as NERTC's defs.ts) ----

/// `NERtcLiveStreamUserTranscoding`.
#[napi(object)]
pub struct LiveStreamUserArgs {
    pub uid: Option<JsUid>,
    #[napi(js_name = "video_push")]
    pub video_push: Option<bool>,
    pub adaption: Option<f64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
    #[napi(js_name = "audio_push")]
    pub audio_push: Option<bool>,
}

/// `NERtcLiveStreamImageInfo`.
#[napi(object)]
pub struct LiveStreamImageArgs {
    pub url: Option<String>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub width: Option<f64>,
    pub height: Option<f64>,
}

/// `NERtcLiveStreamLayout` (`user_count`, when given, takes the first that many users).
#[napi(object)]
pub struct LiveStreamLayoutArgs {
    pub width: Option<f64>,
    pub height: Option<f64>,
    #[napi(js_name = "background_color")]
    pub background_color: Option<f64>,
    #[napi(js_name = "user_count")]
    pub user_count: Option<f64>,
    pub users: Option<Vec<LiveStreamUserArgs>>,
    #[napi(js_name = "bg_image")]
    pub bg_image: Option<LiveStreamImageArgs>,
}

/// `NERtcLiveConfig`.
#[napi(object)]
pub struct LiveConfigArgs {
    #[napi(js_name = "single_video_passthrough")]
    pub single_video_passthrough: Option<bool>,
    #[napi(js_name = "audio_bitrate")]
    pub audio_bitrate: Option<f64>,
    #[napi(js_name = "sample_rate")]
    pub sample_rate: Option<f64>,
    pub channels: Option<f64>,
    #[napi(js_name = "audio_codec_profile")]
    pub audio_codec_profile: Option<f64>,
}

/// `NERtcLiveStreamTaskInfo`.
#[napi(object)]
pub struct LiveStreamTaskArgs {
    #[napi(js_name = "task_id")]
    pub task_id: Option<String>,
    #[napi(js_name = "stream_url")]
    pub stream_url: Option<String>,
    #[napi(js_name = "server_record_enabled")]
    pub server_record_enabled: Option<bool>,
    #[napi(js_name = "ls_mode")]
    pub ls_mode: Option<f64>,
    pub layout: Option<LiveStreamLayoutArgs>,
    pub config: Option<LiveConfigArgs>,
}

/// An integral coordinate or size (may be negative: the engine says where it falls out).
fn coord(v: Option<f64>) -> Converted<i64> {
    match v {
        None => Ok(0),
        Some(v) if is_integral(v) && v.abs() < 1e9 => Ok(v as i64),
        Some(_) => Err(INVALID),
    }
}

pub fn live_task(a: &LiveStreamTaskArgs) -> Converted<nertc_engine::live::LiveTaskInfo> {
    use nertc_engine::live::{LiveConfig, LiveImage, LiveLayout, LiveTaskInfo, LiveUser};
    let layout = match &a.layout {
        None => LiveLayout::default(),
        Some(l) => {
            let users = l.users.as_deref().unwrap_or_default();
            let count = match l.user_count {
                None => users.len(),
                Some(n) if is_integral(n) && (0.0..=users.len() as f64).contains(&n) => n as usize,
                Some(_) => return Err(INVALID),
            };
            LiveLayout {
                width: u32_or(l.width, 0)?,
                height: u32_or(l.height, 0)?,
                background_color: u32_or(l.background_color, 0)?,
                users: users[..count]
                    .iter()
                    .map(|u| {
                        Ok(LiveUser {
                            uid: uid(u.uid.as_ref().ok_or(INVALID)?)?,
                            video_push: u.video_push.unwrap_or(true),
                            adaption: u.adaption.map_or(Ok(0), int32)?,
                            x: coord(u.x)?,
                            y: coord(u.y)?,
                            width: coord(u.width)?,
                            height: coord(u.height)?,
                            audio_push: u.audio_push.unwrap_or(true),
                        })
                    })
                    .collect::<Converted<Vec<_>>>()?,
                bg_image: match &l.bg_image {
                    None => None,
                    Some(i) => Some(LiveImage {
                        url: i.url.clone().unwrap_or_default(),
                        x: coord(i.x)?,
                        y: coord(i.y)?,
                        width: coord(i.width)?,
                        height: coord(i.height)?,
                    }),
                },
            }
        }
    };
    let d = LiveConfig::default();
    let config = match &a.config {
        None => d,
        Some(c) => LiveConfig {
            single_video_passthrough: c.single_video_passthrough.unwrap_or(false),
            audio_bitrate: u32_or(c.audio_bitrate, d.audio_bitrate)?,
            sample_rate: u32_or(c.sample_rate, d.sample_rate)?,
            channels: u32_or(c.channels, d.channels)?,
            audio_codec_profile: c.audio_codec_profile.map_or(Ok(0), int32)?,
        },
    };
    Ok(LiveTaskInfo {
        task_id: a.task_id.clone().unwrap_or_default(),
        stream_url: a.stream_url.clone().unwrap_or_default(),
        server_record_enabled: a.server_record_enabled.unwrap_or(false),
        ls_mode: a.ls_mode.map_or(Ok(0), int32)?,
        layout,
        config,
    })
}
