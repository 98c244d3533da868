//! Local video: capture (camera, test pattern or frames pushed from JS) -> preview slot and
//! H.264 encoder -> the published track.
//!
//! Dual stream (`enableDualStreamMode`): the camera's track then has a second, low layer on its
//! own m-line ([`LowSink`]): the picture at half its width and height (a quarter of the
//! pixels, scaled with `fast_image_resize`), at most [`LOW_MAX_FPS`], at a fifth of the
//! configured bitrate, from a second openh264 encoder. Both layers share the uplink estimate,
//! the low one first. The server says which layers someone receives ([`VideoCtl::layer_paused`]);
//! a layer nobody receives is not encoded.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use rtc::media::Sample;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;

use crate::codec::h264::{EncoderConfig, H264Encoder};
use crate::frame::VideoFrame;
use crate::render::FrameSlot;

/// Where encoded video goes while published.
#[derive(Clone)]
pub struct VideoSink {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
    pub rt: tokio::runtime::Handle,
    /// The low layer's track, when published in dual stream mode.
    pub low: Option<LowSink>,
    /// `enableEncryption`'s key: each access unit is sealed before it is packetised.
    pub key: Option<Arc<crate::crypto::MediaKey>>,
}

/// The low layer's track (its own m-line).
#[derive(Clone)]
pub struct LowSink {
    pub track: Arc<TrackLocalStaticSample>,
    pub ssrc: u32,
}

/// The low layer's frame rate cap (NERTC's low stream is 15 fps at most).
pub const LOW_MAX_FPS: u32 = 15;

/// The low layer's configured bitrate for a high layer of `high_kbps`: a fifth, not under
/// [`MIN_VIDEO_KBPS`].
pub fn low_kbps(high_kbps: u32) -> u32 {
    (high_kbps / 5).max(MIN_VIDEO_KBPS)
}

/// How the uplink share `total_kbps` (already fitted by [`encoder_kbps`]) is split between the
/// layers: (high, low). The low layer is served first (it is what a subscriber on a bad
/// downlink, and everyone when the uplink is poor, falls back to); the high layer gets the rest,
/// never less than [`MIN_VIDEO_KBPS`].
pub fn split_kbps(total_kbps: u32, low_wanted_kbps: Option<u32>) -> (u32, u32) {
    match low_wanted_kbps {
        None => (total_kbps, 0),
        Some(low) => {
            let low = low.min(total_kbps).max(MIN_VIDEO_KBPS);
            (total_kbps.saturating_sub(low).max(MIN_VIDEO_KBPS), low)
        }
    }
}

/// Encoder parameters (from `setVideoConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeParams {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// `min_framerate`: frame rate is not lowered below it (0: no floor but 1 fps).
    pub min_fps: u32,
    pub degradation: Degradation,
}

impl Default for EncodeParams {
    fn default() -> Self {
        EncodeParams { width: 640, height: 480, fps: 15, bitrate_kbps: 800, min_fps: 0, degradation: Degradation::Default }
    }
}

/// NERTC's `NERtcDegradationPreference`: what gives way, after the bitrate, when the uplink
/// estimate leaves a picture starved of bits ([`STARVED_BPP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Degradation {
    /// Only the bitrate follows the estimate (NERTC leaves the default to the SDK; frame rate
    /// and size stay what the application configured).
    Default,
    /// Keep the frame rate: the picture is sent at half its width and height.
    MaintainFramerate,
    /// Keep each picture's quality: the frame rate falls (to half, then a third, not under
    /// `min_framerate`), then the size.
    MaintainQuality,
    /// Frame rate to two thirds first, then the size.
    Balanced,
}

impl Degradation {
    pub fn from_nertc(v: i32) -> Option<Self> {
        match v {
            0 => Some(Degradation::Default),
            1 => Some(Degradation::MaintainFramerate),
            2 => Some(Degradation::MaintainQuality),
            3 => Some(Degradation::Balanced),
            _ => None,
        }
    }
}

/// Bits per pixel and frame under which H.264 camera pictures turn visibly blocky: a
/// degradation starts here ...
pub const STARVED_BPP: f64 = 0.04;
/// ... and is undone only over this (hysteresis: each change of size or rate costs a keyframe).
pub const RESTORE_BPP: f64 = 0.06;

/// What is encoded: frame rate and whether the picture is halved in each dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub fps: u32,
    pub halved: bool,
}

/// The shape for `kbps` under `p`'s degradation preference, from the `current` one.
pub fn shape(p: &EncodeParams, kbps: u32, current: Shape) -> Shape {
    let full = Shape { fps: p.fps.max(1), halved: false };
    let bpp = |s: Shape| {
        let pixels = f64::from(p.width) * f64::from(p.height) / if s.halved { 4.0 } else { 1.0 };
        f64::from(kbps) * 1000.0 / (pixels * f64::from(s.fps)).max(1.0)
    };
    let full_bpp = bpp(full);
    if full_bpp >= RESTORE_BPP || (full_bpp >= STARVED_BPP && current == full) {
        return full;
    }
    if full_bpp >= STARVED_BPP {
        return current; // between the thresholds: stay as degraded
    }
    let floor = p.min_fps.clamp(1, full.fps);
    let at = |fps: u32| Shape { fps: fps.max(floor).min(full.fps), halved: false };
    let halve = |s: Shape| if bpp(s) < STARVED_BPP { Shape { halved: true, ..s } } else { s };
    let wanted = match p.degradation {
        Degradation::Default => full,
        Degradation::MaintainFramerate => Shape { halved: true, ..full },
        Degradation::MaintainQuality => {
            let steps = [at(full.fps / 2), at(full.fps / 3)];
            let s = steps.into_iter().find(|s| bpp(*s) >= STARVED_BPP).unwrap_or(steps[1]);
            halve(s)
        }
        Degradation::Balanced => halve(at(full.fps * 2 / 3)),
    };
    // Each step has the same hysteresis: further down only when the current shape starves,
    // back up (as far as `wanted`) only to a shape that would have bits to spare.
    let rate = |s: Shape| u64::from(s.fps) * if s.halved { 1 } else { 4 };
    if rate(wanted) < rate(current) {
        return if bpp(current) < STARVED_BPP { wanted } else { current };
    }
    let fps_steps = match p.degradation {
        Degradation::MaintainQuality => vec![at(full.fps / 3), at(full.fps / 2)],
        Degradation::Balanced => vec![at(full.fps * 2 / 3)],
        Degradation::Default | Degradation::MaintainFramerate => vec![full],
    };
    fps_steps
        .into_iter()
        .flat_map(|s| [Shape { halved: true, ..s }, s])
        .filter(|s| rate(*s) > rate(current) && rate(*s) <= rate(wanted) && bpp(*s) >= RESTORE_BPP)
        .max_by_key(|s| rate(*s))
        .unwrap_or(current)
}

/// `f` at half its width and height (each rounded down to even), each output pixel the mean of
/// a 2x2 block.
pub fn half_size(f: &VideoFrame) -> VideoFrame {
    let (w, h) = ((f.width / 2) & !1, (f.height / 2) & !1);
    let (w, h) = (w.max(2), h.max(2));
    let plane = |src: &[u8], sw: u32, dw: u32, dh: u32| {
        let mut out = Vec::with_capacity((dw * dh) as usize);
        for y in 0..dh {
            for x in 0..dw {
                let at = |dx: u32, dy: u32| {
                    let (sx, sy) = ((2 * x + dx).min(sw - 1), 2 * y + dy);
                    u16::from(src.get((sy * sw + sx) as usize).copied().unwrap_or(128))
                };
                out.push(((at(0, 0) + at(1, 0) + at(0, 1) + at(1, 1) + 2) / 4) as u8);
            }
        }
        out
    };
    let (scw, _) = VideoFrame::chroma_size(f.width, f.height);
    let (dcw, dch) = VideoFrame::chroma_size(w, h);
    VideoFrame {
        width: w,
        height: h,
        y: plane(&f.y, f.width, w, h),
        u: plane(&f.u, scw, dcw, dch),
        v: plane(&f.v, scw, dcw, dch),
        timestamp_us: f.timestamp_us,
    }
}

/// Kept out of the uplink estimate for audio (Opus at its default rate plus RTP/SRTP/UDP/IP
/// headers at 50 packets per second), kbps.
pub const AUDIO_RESERVE_KBPS: u32 = 40;
/// Of what the estimate leaves for video, the encoder is asked for this share: the rest covers
/// packet headers and rate-control overshoot.
pub const VIDEO_SHARE: f64 = 0.9;
/// The encoder is never asked for less.
pub const MIN_VIDEO_KBPS: u32 = 50;
/// A picture is not encoded while the pacer holds more video than this takes to leave: it
/// would only wait behind it, adding the backlog to everyone's latency. An encoder that
/// overshoots its target (openh264 on noisy pictures, a keyframe at a low rate) loses frames
/// instead of building a standing queue, as libwebrtc's frame dropper does.
pub const MAX_PACER_BACKLOG: std::time::Duration = std::time::Duration::from_millis(100);

/// The encoder's output is compared with its setting over this many encoded pictures.
const FOLLOW_FRAMES: usize = 30;
/// An encoder under its setting is set at most this much higher (see [`RateFollow`]).
const MAX_UNDERSHOOT_BOOST: f64 = 1.3;

/// How far the encoder's output follows its setting: openh264 makes ~80 % of its target at
/// 100-300 kbps on camera pictures, so an uplink estimate of 300 kbps became ~190 kbps of
/// video where it had room for 235. The setting is raised by setting / output over the last
/// [`FOLLOW_FRAMES`] pictures (1 to [`MAX_UNDERSHOOT_BOOST`]); an encoder over its setting is
/// not lowered here (the pacer's backlog drops its pictures, [`MAX_PACER_BACKLOG`]).
#[derive(Default)]
pub struct RateFollow {
    /// (bits the setting allowed for the picture, bits it took) per encoded picture.
    frames: std::collections::VecDeque<(f64, f64)>,
    allowed: f64,
    took: f64,
}

impl RateFollow {
    /// One encoded picture: `bytes` under a setting of `kbps` at one picture per `frame_us`.
    pub fn add(&mut self, kbps: u32, frame_us: u64, bytes: u64) {
        let allowed = f64::from(kbps) * frame_us as f64 / 1000.0;
        let took = (bytes * 8) as f64;
        self.frames.push_back((allowed, took));
        self.allowed += allowed;
        self.took += took;
        if self.frames.len() > FOLLOW_FRAMES
            && let Some((a, t)) = self.frames.pop_front()
        {
            self.allowed -= a;
            self.took -= t;
        }
    }

    /// The setting for a target of `kbps`.
    pub fn setting(&self, kbps: u32) -> u32 {
        let boost = if self.frames.len() < FOLLOW_FRAMES || self.took <= 0.0 {
            1.0
        } else {
            (self.allowed / self.took).clamp(1.0, MAX_UNDERSHOOT_BOOST)
        };
        (f64::from(kbps) * boost).round() as u32
    }

    /// A new encoder: its output is not the last one's.
    pub fn reset(&mut self) {
        *self = RateFollow::default();
    }
}

/// What the encoder is asked for: the configured bitrate, lowered to fit the uplink estimate
/// `bwe_bps` (None before any feedback: the configured one).
pub fn encoder_kbps(configured_kbps: u32, bwe_bps: Option<u64>) -> u32 {
    let fit = bwe_bps.map_or(u32::MAX, |b| {
        let video = (b / 1000).saturating_sub(u64::from(AUDIO_RESERVE_KBPS)) as f64 * VIDEO_SHARE;
        video.min(f64::from(u32::MAX)) as u32
    });
    configured_kbps.min(fit).max(MIN_VIDEO_KBPS)
}

/// The publish connection's uplink estimate ([`nertc_rtc::cc`]) and the video encoders that
/// share it: each encoder sending gets an equal part.
#[derive(Default)]
pub struct Uplink {
    pub bwe: Arc<nertc_rtc::cc::Bwe>,
    senders: AtomicU32,
}

impl Uplink {
    /// Whether the pacer's backlog is over [`MAX_PACER_BACKLOG`].
    fn backlogged(&self) -> bool {
        self.bwe.queue_delay() > MAX_PACER_BACKLOG
    }

    /// This encoder's part of the estimate (None before any feedback).
    fn share_bps(&self) -> Option<u64> {
        let senders = u64::from(self.senders.load(Relaxed).max(1));
        self.bwe.target_bps().map(|b| b / senders)
    }
}

/// Counts its encoder among the uplink's senders while it sends (until dropped).
struct Sending<'a> {
    uplink: &'a Uplink,
    on: bool,
}

impl Sending<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.on = on;
            if on {
                self.uplink.senders.fetch_add(1, Relaxed);
            } else {
                self.uplink.senders.fetch_sub(1, Relaxed);
            }
        }
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Shared between the engine and the encoder thread.
#[derive(Default)]
pub struct VideoCtl {
    pub sink: Mutex<Option<VideoSink>>,
    pub force_keyframe: AtomicBool,
    pub muted: AtomicBool,
    /// `setLocalPublishFallbackOption(2)` stopped the video: the uplink cannot carry it
    /// ([`super::publish_fallback`]). Nothing is encoded; the next picture after is a keyframe.
    pub audio_only: AtomicBool,
    /// Put captured frames into the local preview slot.
    pub preview: AtomicBool,
    pub params: Mutex<EncodeParams>,
    /// The publish connection's uplink, shared by the camera's and the screen's encoder.
    pub uplink: Arc<Uplink>,
    /// The bitrate the encoder is asked for now, kbps (0 before the first frame).
    pub target_kbps: AtomicU32,
    /// NERTC's `crop_mode` and `orientation_mode` (see [`crate::frame::crop_rect`]): applied to
    /// captured pictures before the preview and the encoder.
    pub crop_mode: std::sync::atomic::AtomicI32,
    pub orientation_mode: std::sync::atomic::AtomicI32,
    /// Mirror the encoded picture (`setVideoConfig`'s `mirror_mode` 1); the preview is not.
    pub mirror: AtomicBool,
    /// `sendSEIMsg` data waiting for the next encoded picture (one per picture, oldest first).
    pub sei: Mutex<std::collections::VecDeque<Vec<u8>>>,
    /// The next SEI message's sequence number (for the engine's life: a receiver keeps the
    /// last one it saw across a restart of the sending pipeline).
    pub sei_seq: AtomicU32,
    // Stats.
    pub captured: AtomicU64,
    pub encoded: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub encode_us_total: AtomicU64,
    pub last_width: AtomicU32,
    pub last_height: AtomicU32,
    /// Layers ([`nertc_protocol::RID_HIGH`], [`nertc_protocol::RID_LOW`]) the server says
    /// nobody receives: not encoded (none until told; reset at each publication).
    pub layer_paused: [AtomicBool; 2],
    pub low_force_keyframe: AtomicBool,
    /// The low layer's stats.
    pub low: LowStats,
}

/// Counters of the low layer.
#[derive(Default)]
pub struct LowStats {
    pub encoded: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub target_kbps: AtomicU32,
    pub width: AtomicU32,
    pub height: AtomicU32,
}

/// The low layer's encoder.
#[derive(Default)]
struct LowLayer {
    encoder: Option<(H264Encoder, EncoderConfig)>,
    sei: crate::codec::sei::Carrier,
    scaler: crate::device::convert::Converter,
    last_ts: Option<u64>,
}

impl LowLayer {
    /// Encodes `frame` (the full picture, already cropped and mirrored) into `sink` at `kbps`.
    fn encode(&mut self, frame: &VideoFrame, fps: u32, kbps: u32, sink: &LowSink, high: &VideoSink, ctl: &VideoCtl) {
        let fps = fps.clamp(1, LOW_MAX_FPS);
        if let Some(prev) = self.last_ts
            && frame.timestamp_us > prev
            && frame.timestamp_us - prev < 800_000 / u64::from(fps)
        {
            return;
        }
        let (w, h) = (((frame.width / 2) & !1).max(16), ((frame.height / 2) & !1).max(16));
        let want = EncoderConfig { width: w, height: h, fps, bitrate_kbps: kbps };
        match &mut self.encoder {
            Some((_, cfg)) if cfg.width == w && cfg.height == h && cfg.fps == fps => {}
            _ => match H264Encoder::new(want) {
                Ok(e) => {
                    self.encoder = Some((e, want));
                    ctl.low_force_keyframe.store(true, Relaxed);
                }
                Err(e) => return tracing::error!("cannot create the low layer's H.264 encoder: {e}"),
            },
        }
        let Some((enc, cfg)) = self.encoder.as_mut() else { return };
        if cfg.bitrate_kbps != kbps {
            enc.set_bitrate(kbps);
            cfg.bitrate_kbps = kbps;
        }
        let small = self.scaler.crop_scale(frame, w, h);
        let force = ctl.low_force_keyframe.swap(false, Relaxed);
        let encoded = match enc.encode(&small, force) {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => return tracing::warn!("low layer encode failed: {e}"),
        };
        let duration_us = match self.last_ts {
            Some(prev) if frame.timestamp_us > prev => (frame.timestamp_us - prev).min(1_000_000),
            _ => 1_000_000 / u64::from(fps),
        };
        self.last_ts = Some(frame.timestamp_us);
        ctl.low.encoded.fetch_add(1, Relaxed);
        ctl.low.width.store(w, Relaxed);
        ctl.low.height.store(h, Relaxed);
        let data = crate::codec::sei::insert(encoded.data, &self.sei.take(encoded.keyframe, Instant::now()));
        // enableEncryption: sealed with the high layer's key.
        let data = match &high.key {
            Some(key) => key.seal_video(&data),
            None => data,
        };
        let bytes = data.len() as u64;
        let sample = Sample {
            data: data.into(),
            timestamp: Instant::now(),
            duration: Duration::from_micros(duration_us),
            packet_timestamp: 0,
            prev_dropped_packets: 0,
            prev_padding_packets: 0,
        };
        match high.rt.block_on(sink.track.write_sample(sink.ssrc, nertc_rtc::codecs::PT_H264, &sample, &[])) {
            Ok(()) => {
                ctl.low.sent_bytes.fetch_add(bytes, Relaxed);
            }
            Err(e) => tracing::trace!("low layer sample not sent: {e}"),
        }
    }
}

/// A running encoder thread. Dropping it stops the thread (once every input sender is gone).
pub struct VideoSender {
    worker: super::Worker<VideoFrame>,
    ctl: Arc<VideoCtl>,
}

impl VideoSender {
    pub fn start(ctl: Arc<VideoCtl>, preview_slot: Arc<FrameSlot>) -> std::io::Result<Self> {
        let c = ctl.clone();
        let worker = super::Worker::spawn("nertc-video-enc", 2, move |rx| encode_loop(rx, c, preview_slot))?;
        Ok(VideoSender { worker, ctl })
    }

    /// A sender for capture callbacks; frames are dropped (latest wins) when the encoder lags.
    pub fn input(&self) -> FrameInput {
        FrameInput { tx: self.worker.input().clone(), ctl: self.ctl.clone() }
    }
}

/// Feeds frames into the encoder thread.
#[derive(Clone)]
pub struct FrameInput {
    tx: Sender<VideoFrame>,
    ctl: Arc<VideoCtl>,
}

impl FrameInput {
    pub fn push(&self, frame: VideoFrame) {
        self.ctl.captured.fetch_add(1, Relaxed);
        match self.tx.try_send(frame) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {} // the encoder is behind: drop this frame
        }
    }
}

fn encode_loop(rx: Receiver<VideoFrame>, ctl: Arc<VideoCtl>, preview: Arc<FrameSlot>) {
    let mut encoder: Option<(H264Encoder, EncoderConfig)> = None;
    let mut last_ts: Option<u64> = None;
    let mut current: Option<Shape> = None;
    let mut shaped_for: Option<EncodeParams> = None;
    let mut follow = RateFollow::default();
    let mut sending = Sending { uplink: &ctl.uplink, on: false };
    let mut low = LowLayer::default();
    let mut sei = crate::codec::sei::Carrier::default();
    let mut was_audio_only = false;
    while let Ok(frame) = rx.recv() {
        let frame =
            match crate::frame::crop_rect(frame.width, frame.height, ctl.crop_mode.load(Relaxed), ctl.orientation_mode.load(Relaxed)) {
                Some((x, y, w, h)) => frame.cropped(x, y, w, h),
                None => frame,
            };
        let frame = Arc::new(frame);
        if ctl.preview.load(Relaxed) {
            preview.put(frame.clone());
        }
        let sink = ctl.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let audio_only = ctl.audio_only.load(Relaxed);
        if audio_only != was_audio_only {
            was_audio_only = audio_only;
            if !audio_only {
                // The subscribers' decoders start again from a keyframe of each layer.
                ctl.force_keyframe.store(true, Relaxed);
                ctl.low_force_keyframe.store(true, Relaxed);
            }
        }
        sending.set(sink.is_some() && !ctl.muted.load(Relaxed) && !audio_only);
        let Some(sink) = sink else {
            last_ts = None;
            low.last_ts = None;
            // Not sent: SEI data waits for no later publication.
            ctl.sei.lock().unwrap_or_else(|p| p.into_inner()).clear();
            sei.clear();
            low.sei.clear();
            continue;
        };
        if !sending.on {
            continue;
        }
        // One `sendSEIMsg` message a picture, for both layers.
        if let Some(data) = ctl.sei.lock().unwrap_or_else(|p| p.into_inner()).pop_front() {
            let m: crate::codec::sei::Message = (ctl.sei_seq.fetch_add(1, Relaxed), data.into());
            low.sei.push(m.clone());
            sei.push(m);
        }
        let frame = if ctl.mirror.load(Relaxed) { Arc::new(frame.mirrored()) } else { frame };
        let params = *ctl.params.lock().unwrap_or_else(|p| p.into_inner());
        let low_sink = sink.low.as_ref().filter(|_| !ctl.layer_paused[1].load(Relaxed));
        let high_on = sink.low.is_none() || !ctl.layer_paused[0].load(Relaxed);
        let low_wanted = low_sink.map(|_| low_kbps(params.bitrate_kbps));
        let configured = if high_on { params.bitrate_kbps } else { 0 } + low_wanted.unwrap_or(0);
        let (kbps, low_kbps_now) = split_kbps(encoder_kbps(configured, ctl.uplink.share_bps()), low_wanted);
        ctl.low.target_kbps.store(low_kbps_now, Relaxed);
        if let Some(ls) = low_sink {
            low.encode(&frame, params.fps, low_kbps_now, ls, &sink, &ctl);
        } else {
            low.last_ts = None;
        }
        if !high_on {
            ctl.target_kbps.store(0, Relaxed);
            last_ts = None;
            continue;
        }
        ctl.target_kbps.store(kbps, Relaxed);
        let full = Shape { fps: params.fps.max(1), halved: false };
        // A new configuration starts from its full shape.
        if shaped_for != Some(params) {
            shaped_for = Some(params);
            current = None;
        }
        let now_shape = shape(&params, kbps, current.unwrap_or(full));
        if current != Some(now_shape) {
            tracing::debug!(?now_shape, kbps, "video shape");
            current = Some(now_shape);
        }
        // Frame rate: a frame goes when a 1/fps interval (less a fifth, for capture jitter)
        // passed since the last one encoded.
        if now_shape.fps < full.fps
            && let Some(prev) = last_ts
            && frame.timestamp_us.saturating_sub(prev) < 800_000 / u64::from(now_shape.fps)
        {
            continue;
        }
        let frame = if now_shape.halved { Arc::new(half_size(&frame)) } else { frame };
        let want = EncoderConfig { width: frame.width, height: frame.height, fps: now_shape.fps, bitrate_kbps: follow.setting(kbps) };
        let needs_new = match &encoder {
            Some((_, cfg)) => cfg.width != want.width || cfg.height != want.height || cfg.fps != want.fps,
            None => true,
        };
        if needs_new {
            follow.reset();
            match H264Encoder::new(want) {
                Ok(e) => encoder = Some((e, want)),
                Err(e) => {
                    tracing::error!("cannot create the H.264 encoder: {e}");
                    continue;
                }
            }
            ctl.force_keyframe.store(true, Relaxed);
        } else if let Some((enc, cfg)) = &mut encoder
            && cfg.bitrate_kbps != want.bitrate_kbps
        {
            enc.set_bitrate(want.bitrate_kbps);
            cfg.bitrate_kbps = want.bitrate_kbps;
        }
        let Some((enc, setting)) = encoder.as_mut() else { continue };
        let setting_kbps = setting.bitrate_kbps;
        if ctl.uplink.backlogged() {
            continue; // a requested keyframe stays requested for the next picture
        }
        let started = Instant::now();
        let force = ctl.force_keyframe.swap(false, Relaxed);
        let encoded = match enc.encode(&frame, force) {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!("encode failed: {e}");
                continue;
            }
        };
        ctl.encode_us_total.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        ctl.encoded.fetch_add(1, Relaxed);
        ctl.last_width.store(frame.width, Relaxed);
        ctl.last_height.store(frame.height, Relaxed);
        let frame_us = 1_000_000 / u64::from(want.fps);
        let duration_us = match last_ts {
            Some(prev) if frame.timestamp_us > prev => (frame.timestamp_us - prev).min(1_000_000),
            _ => frame_us,
        };
        last_ts = Some(frame.timestamp_us);
        // Per picture at the configured rate: pictures the backlog dropped do not count as room.
        follow.add(setting_kbps, frame_us, encoded.data.len() as u64);
        let data = crate::codec::sei::insert(encoded.data, &sei.take(encoded.keyframe, Instant::now()));
        // enableEncryption: sealed whole, SEI included.
        let data = match &sink.key {
            Some(key) => key.seal_video(&data),
            None => data,
        };
        let bytes = data.len() as u64;
        let sample = Sample {
            data: data.into(),
            timestamp: Instant::now(),
            duration: Duration::from_micros(duration_us),
            packet_timestamp: 0,
            prev_dropped_packets: 0,
            prev_padding_packets: 0,
        };
        let write = sink.track.write_sample(sink.ssrc, nertc_rtc::codecs::PT_H264, &sample, &[]);
        match sink.rt.block_on(write) {
            Ok(()) => {
                ctl.sent_bytes.fetch_add(bytes, Relaxed);
            }
            Err(e) => tracing::trace!("video sample not sent: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoder_under_its_setting_is_set_higher_up_to_a_bound() {
        let mut f = RateFollow::default();
        // 200 kbps at 15 fps allows 13 333 bits a picture; this encoder makes 80 % of that.
        for _ in 0..FOLLOW_FRAMES - 1 {
            f.add(200, 66_667, 1333);
        }
        assert_eq!(f.setting(200), 200, "too few pictures to judge");
        f.add(200, 66_667, 1333);
        assert_eq!(f.setting(200), 250, "80 % of its setting: set 1.25 x higher");
        // Making 50 %: bounded.
        for _ in 0..FOLLOW_FRAMES {
            f.add(200, 66_667, 833);
        }
        assert_eq!(f.setting(200), 260);
        // Over its setting (keyframes): not lowered here.
        for _ in 0..FOLLOW_FRAMES {
            f.add(200, 66_667, 2000);
        }
        assert_eq!(f.setting(200), 200);
        f.reset();
        assert_eq!(f.setting(300), 300);
    }

    fn params(degradation: Degradation) -> EncodeParams {
        EncodeParams { width: 640, height: 480, fps: 15, bitrate_kbps: 800, min_fps: 0, degradation }
    }

    const FULL: Shape = Shape { fps: 15, halved: false };

    #[test]
    fn the_low_layer_is_served_first() {
        assert_eq!(low_kbps(800), 160);
        assert_eq!(low_kbps(100), MIN_VIDEO_KBPS);
        assert_eq!(split_kbps(960, None), (960, 0));
        assert_eq!(split_kbps(960, Some(160)), (800, 160));
        // A poor uplink: the low layer keeps its rate, the high one gets what is left.
        assert_eq!(split_kbps(250, Some(160)), (90, 160));
        assert_eq!(split_kbps(120, Some(160)), (MIN_VIDEO_KBPS, 120));
    }

    #[test]
    fn the_encoder_bitrate_fits_the_estimate() {
        assert_eq!(encoder_kbps(800, None), 800, "no feedback yet: the configured rate");
        assert_eq!(encoder_kbps(800, Some(2_000_000)), 800, "never over the configured rate");
        assert_eq!(encoder_kbps(800, Some(300_000)), 234, "(300 - 40) x 0.9");
        assert_eq!(encoder_kbps(800, Some(60_000)), MIN_VIDEO_KBPS);
    }

    #[test]
    fn a_starved_picture_degrades_as_the_preference_says() {
        // 640x480 at 15 fps: 0.04 bits per pixel is 184 kbps, 0.06 is 276 kbps.
        let starved = 120;
        assert_eq!(shape(&params(Degradation::Default), starved, FULL), FULL);
        assert_eq!(shape(&params(Degradation::MaintainFramerate), starved, FULL), Shape { fps: 15, halved: true });
        // Half the rate is 0.052 bits per pixel: enough.
        assert_eq!(shape(&params(Degradation::MaintainQuality), starved, FULL), Shape { fps: 7, halved: false });
        // A third is not enough at 40 kbps: the size goes too.
        assert_eq!(shape(&params(Degradation::MaintainQuality), 40, FULL), Shape { fps: 5, halved: true });
        let floor = EncodeParams { min_fps: 10, ..params(Degradation::MaintainQuality) };
        assert_eq!(shape(&floor, starved, FULL), Shape { fps: 10, halved: true }, "min_framerate holds");
        // Two thirds of the rate at 130 kbps is 0.042 bits per pixel: enough.
        assert_eq!(shape(&params(Degradation::Balanced), 130, FULL), Shape { fps: 10, halved: false });
        assert_eq!(shape(&params(Degradation::Balanced), 60, FULL), Shape { fps: 10, halved: true });
    }

    #[test]
    fn a_degradation_is_undone_only_well_above_where_it_started() {
        let p = params(Degradation::MaintainFramerate);
        let halved = shape(&p, 150, FULL);
        assert!(halved.halved);
        // 230 kbps is 0.05 bits per pixel: not starved, not enough to go back.
        assert_eq!(shape(&p, 230, halved), halved);
        assert_eq!(shape(&p, 230, FULL), FULL, "nor a reason to degrade");
        assert_eq!(shape(&p, 300, halved), FULL);
    }

    #[test]
    fn each_step_has_hysteresis() {
        let p = params(Degradation::MaintainQuality);
        // At 60 kbps a third of the rate (5 fps) is 0.039 bits per pixel: the size goes too.
        let low = shape(&p, 60, FULL);
        assert_eq!(low, Shape { fps: 5, halved: true });
        // 70 kbps would not starve 5 fps at full size (0.046) but is short of 0.06: the size
        // stays halved; 7 fps at half size has bits to spare (0.13).
        assert_eq!(shape(&p, 70, low), Shape { fps: 7, halved: true });
        assert_eq!(shape(&p, 95, low), Shape { fps: 5, halved: false }, "0.062 at full size: back up");
        // From 7 fps a dip to 100 kbps (0.047 at 7 fps) changes nothing.
        let seven = Shape { fps: 7, halved: false };
        assert_eq!(shape(&p, 100, seven), seven);
    }

    #[test]
    fn half_size_averages_2x2_blocks() {
        let mut f = VideoFrame::black(6, 4);
        f.y = (0..24).map(|i| (i * 10) as u8).collect();
        let h = half_size(&f);
        assert!(h.is_consistent());
        assert_eq!((h.width, h.height), (2, 2), "3x2 rounded down to even");
        // Top-left block: 0, 10, 60, 70.
        assert_eq!(h.y[0], 35);
        assert_eq!(h.u, vec![128; 1]);
        let big = half_size(&VideoFrame::black(640, 480));
        assert_eq!((big.width, big.height), (320, 240));
        assert!(big.is_consistent());
    }
}
