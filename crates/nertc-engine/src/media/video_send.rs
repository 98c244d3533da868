//! Local video: capture (camera, test pattern or frames pushed from JS) -> preview slot and
//! H.264 encoder -> the published track.

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
}

/// Encoder parameters (from `setVideoConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeParams {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

impl Default for EncodeParams {
    fn default() -> Self {
        EncodeParams { width: 640, height: 480, fps: 15, bitrate_kbps: 800 }
    }
}

/// Shared between the engine and the encoder thread.
#[derive(Default)]
pub struct VideoCtl {
    pub sink: Mutex<Option<VideoSink>>,
    pub force_keyframe: AtomicBool,
    pub muted: AtomicBool,
    /// Put captured frames into the local preview slot.
    pub preview: AtomicBool,
    pub params: Mutex<EncodeParams>,
    /// NERTC's `crop_mode` and `orientation_mode` (see [`crate::frame::crop_rect`]): applied to
    /// captured pictures before the preview and the encoder.
    pub crop_mode: std::sync::atomic::AtomicI32,
    pub orientation_mode: std::sync::atomic::AtomicI32,
    /// Mirror the encoded picture (`setVideoConfig`'s `mirror_mode` 1); the preview is not.
    pub mirror: AtomicBool,
    /// `sendSEIMsg` data waiting for the next encoded picture (one per picture, oldest first).
    pub sei: Mutex<std::collections::VecDeque<Vec<u8>>>,
    // Stats.
    pub captured: AtomicU64,
    pub encoded: AtomicU64,
    pub sent_bytes: AtomicU64,
    pub encode_us_total: AtomicU64,
    pub last_width: AtomicU32,
    pub last_height: AtomicU32,
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
        let Some(sink) = sink else {
            last_ts = None;
            // Not sent: SEI data waits for no later publication.
            ctl.sei.lock().unwrap_or_else(|p| p.into_inner()).clear();
            continue;
        };
        if ctl.muted.load(Relaxed) {
            continue;
        }
        let frame = if ctl.mirror.load(Relaxed) { Arc::new(frame.mirrored()) } else { frame };
        let params = *ctl.params.lock().unwrap_or_else(|p| p.into_inner());
        let want =
            EncoderConfig { width: frame.width, height: frame.height, fps: params.fps.max(1), bitrate_kbps: params.bitrate_kbps.max(50) };
        let needs_new = match &encoder {
            Some((_, cfg)) => cfg.width != want.width || cfg.height != want.height || cfg.fps != want.fps,
            None => true,
        };
        if needs_new {
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
        let Some((enc, _)) = encoder.as_mut() else { continue };
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
        let sei = ctl.sei.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let data = match sei {
            // The SEI unit goes before the picture's slices (and parameter sets).
            Some(msg) => {
                let mut d = crate::codec::sei::nal(&msg);
                d.extend_from_slice(&encoded.data);
                d
            }
            None => encoded.data,
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
