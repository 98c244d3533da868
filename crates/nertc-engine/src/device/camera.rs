//! Cameras: the synthetic test-pattern camera, and real cameras through nokhwa (V4L2 on
//! Linux, AVFoundation on macOS, Media Foundation on Windows; cargo feature `camera`, on by
//! default).
//!
//! The test-pattern camera is a thread paced on a drift-free clock that renders
//! [`TestPattern`] frames at the asked size and rate, with frame numbers counting up from 0
//! (a jump means frames were skipped because the thread fell behind) and the real capture time
//! as both `timestamp_us` and the stamp's time.
//!
//! Real cameras on Linux are listed without opening them by reading `/sys/class/video4linux`
//! (the `videoN` nodes with `index` 0, i.e. the capture node of each camera, not its metadata
//! node); their id is the device node (`/dev/video0`). Elsewhere nokhwa lists them (id
//! `camera:N`). [`open_camera`] asks the camera for the format closest to the wanted size and
//! rate among MJPEG, YUYV and NV12, converts every frame to I420 of exactly the wanted size
//! ([`super::convert`]: center crop to the aspect ratio, then scale), and paces delivery to the
//! wanted rate (a faster camera's extra frames are dropped). The capture thread owns the
//! camera (nokhwa's handle is not `Send`); opening waits for it to report success or the
//! error (up to [`OPEN_TIMEOUT`]). Failures: no such node or camera -> `NotFound` (30008), in
//! use by another program -> `Busy` (30011), refused by the system -> `PermissionDenied`
//! (50000 for a camera); a camera that stops delivering (unplugged) ends capture and calls
//! the `on_lost` hook of [`open_camera_with`].
//!
//! Build cost of the `camera` feature (nokhwa with `input-v4l`: v4l2 bindings through bindgen,
//! `image` and its colour crates moxcms/pxfm), measured from nothing on this 2-core machine
//! together with the converter's zune-jpeg and fast_image_resize: 87 units, 1 min 43 s wall
//! (3.4 min of unit time; bindgen 39 s, moxcms 23 s, pxfm 19 s). Kept as a default-on feature:
//! `--no-default-features` (or without `camera`) builds only the test pattern camera.

#[cfg(any(target_os = "linux", feature = "camera"))]
use std::path::Path;
use std::time::Duration;

use super::test_pattern::TestPattern;
use super::{DeviceError, DeviceInfo, PacedThread, SYNTHETIC_VIDEO_DEVICE_ID, SYNTHETIC_VIDEO_DEVICE_NAME, video_transport};
use crate::frame::{VideoFrame, now_us};

/// Largest size the test-pattern camera renders.
pub const MAX_SIZE: u32 = 3840;
/// Highest frame rate the test-pattern camera produces.
pub const MAX_FPS: u32 = 60;
/// How long opening a real camera may take before it counts as failed.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(target_os = "linux")]
const V4L_SYSFS: &str = "/sys/class/video4linux";

struct RealCamera {
    id: String,
    name: String,
    transport: i32,
}

/// Cameras as the system's capture API lists them (nokhwa: AVFoundation, Media Foundation).
#[cfg(all(feature = "camera", not(target_os = "linux")))]
fn real_cameras() -> Vec<RealCamera> {
    if std::env::var(super::audio::SYNTHETIC_ONLY_ENV).is_ok_and(|v| v == "1") {
        return Vec::new();
    }
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(list) => list
            .into_iter()
            .filter_map(|info| {
                let index = info.index().as_index().ok()?;
                Some(RealCamera { id: format!("camera:{index}"), name: info.human_name(), transport: video_transport::UNKNOWN })
            })
            .collect(),
        Err(e) => {
            tracing::warn!("listing cameras: {e}");
            Vec::new()
        }
    }
}

#[cfg(all(not(feature = "camera"), not(target_os = "linux")))]
fn real_cameras() -> Vec<RealCamera> {
    Vec::new()
}

/// V4L2 capture nodes from sysfs (no device is opened to list them).
#[cfg(target_os = "linux")]
fn real_cameras() -> Vec<RealCamera> {
    if std::env::var(super::audio::SYNTHETIC_ONLY_ENV).is_ok_and(|v| v == "1") {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir(V4L_SYSFS) else {
        return Vec::new();
    };
    let mut cams: Vec<(u32, RealCamera)> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let node = entry.file_name().to_string_lossy().into_owned();
            let num: u32 = node.strip_prefix("video")?.parse().ok()?;
            let base = entry.path();
            let index = read_trimmed(&base.join("index")).unwrap_or_else(|| "0".into());
            if index != "0" {
                return None;
            }
            let dev = format!("/dev/{node}");
            if !Path::new(&dev).exists() {
                return None;
            }
            let name = read_trimmed(&base.join("name")).unwrap_or_else(|| dev.clone());
            let usb = std::fs::read_link(base.join("device")).is_ok_and(|p| p.to_string_lossy().contains("usb"))
                || std::fs::canonicalize(base.join("device")).is_ok_and(|p| p.to_string_lossy().contains("usb"));
            let transport = if usb { video_transport::USB } else { video_transport::OTHER };
            Some((num, RealCamera { id: dev, name, transport }))
        })
        .collect();
    cams.sort_by_key(|(n, _)| *n);
    cams.into_iter().map(|(_, c)| c).collect()
}

#[cfg(target_os = "linux")]
fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Cameras: the test pattern first (the default), then V4L2 cameras (listed, not capturable).
pub fn enumerate_video_capture_devices() -> Vec<DeviceInfo> {
    let mut list = vec![DeviceInfo {
        device_id: SYNTHETIC_VIDEO_DEVICE_ID.to_owned(),
        device_name: SYNTHETIC_VIDEO_DEVICE_NAME.to_owned(),
        transport_type: video_transport::VIRTUAL,
        suspected_unavailable: false,
        system_default_device: true,
    }];
    list.extend(real_cameras().into_iter().map(|c| DeviceInfo {
        device_id: c.id,
        device_name: c.name,
        transport_type: c.transport,
        suspected_unavailable: !cfg!(feature = "camera"),
        system_default_device: false,
    }));
    list
}

/// The default camera: the test pattern. (Opening a real camera is the application's choice:
/// it switches a light on and may ask the user for permission.)
pub fn default_video_device() -> String {
    SYNTHETIC_VIDEO_DEVICE_ID.to_owned()
}

/// A running camera; dropping it stops capture (no callback runs after `drop` returns).
pub struct VideoCapture {
    device_id: String,
    width: u32,
    height: u32,
    fps: u32,
    _worker: Worker,
}

enum Worker {
    Paced(#[allow(dead_code)] PacedThread),
    #[cfg(feature = "camera")]
    Real(#[allow(dead_code)] real::RealCamera),
}

impl VideoCapture {
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// Size and frame rate being captured.
    pub fn format(&self) -> (u32, u32, u32) {
        (self.width, self.height, self.fps)
    }
}

/// Called once if a running camera goes away (unplugged, taken by the system).
pub type OnLost = Box<dyn FnOnce(DeviceError) + Send>;

/// Starts the camera `device_id` at `width` x `height` (1..=3840 each), `fps` (1..=60, larger
/// values are capped), calling `on_frame` from the capture thread (keep it short: hand the
/// frame to another thread).
pub fn open_camera(
    device_id: &str,
    width: u32,
    height: u32,
    fps: u32,
    on_frame: Box<dyn FnMut(VideoFrame) + Send>,
) -> Result<VideoCapture, DeviceError> {
    open_camera_with(device_id, width, height, fps, on_frame, Box::new(|_| {}))
}

/// [`open_camera`], with `on_lost` called (from the capture thread) if a real camera stops.
pub fn open_camera_with(
    device_id: &str,
    width: u32,
    height: u32,
    fps: u32,
    mut on_frame: Box<dyn FnMut(VideoFrame) + Send>,
    on_lost: OnLost,
) -> Result<VideoCapture, DeviceError> {
    if !(1..=MAX_SIZE).contains(&width) || !(1..=MAX_SIZE).contains(&height) || fps == 0 {
        return Err(DeviceError::InvalidArgument(format!("{width}x{height} at {fps} fps")));
    }
    let fps = fps.min(MAX_FPS);
    if device_id != SYNTHETIC_VIDEO_DEVICE_ID {
        #[cfg(feature = "camera")]
        {
            let index = camera_index(device_id).ok_or_else(|| DeviceError::NotFound(device_id.to_owned()))?;
            let cam = real::RealCamera::open(index, device_id, width, height, fps, on_frame, on_lost)?;
            return Ok(VideoCapture { device_id: device_id.to_owned(), width, height, fps, _worker: Worker::Real(cam) });
        }
        #[cfg(not(feature = "camera"))]
        {
            drop(on_lost);
            return if real_cameras().iter().any(|c| c.id == device_id) {
                Err(DeviceError::Unavailable(format!("{device_id}: built without the camera feature")))
            } else {
                Err(DeviceError::NotFound(device_id.to_owned()))
            };
        }
    }
    drop(on_lost);
    let mut pattern = TestPattern::new();
    let period = Duration::from_nanos(1_000_000_000 / u64::from(fps));
    let worker = PacedThread::spawn("nertc-camera", period, 0, move |k, _| {
        on_frame(pattern.render(width, height, k as u32, now_us()));
    })?;
    Ok(VideoCapture { device_id: device_id.to_owned(), width, height, fps, _worker: Worker::Paced(worker) })
}

/// The camera number an id names: `/dev/videoN` (Linux) or `camera:N`; None for anything
/// else (a missing node is found when opening).
pub fn camera_index(device_id: &str) -> Option<u32> {
    device_id.strip_prefix("/dev/video").or_else(|| device_id.strip_prefix("camera:"))?.parse().ok()
}

/// Frame pacing: whether a frame arriving `t_us` after the start is delivered at `fps`, given
/// the due time of the next one (updated when it is). Frames up to a quarter period early
/// count as on time, so a camera at exactly the wanted rate loses none to jitter.
pub fn pace(t_us: u64, fps: u32, next_due_us: &mut u64) -> bool {
    let period = 1_000_000 / u64::from(fps.max(1));
    if t_us + period / 4 < *next_due_us {
        return false;
    }
    // The next one is due a period after this one's slot; after a gap, from now on.
    *next_due_us = (*next_due_us + period).max(t_us + period - period / 4);
    true
}

#[cfg(feature = "camera")]
mod real {
    use super::*;
    use crate::device::convert::{Converter, RawFormat, RawFrame};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    /// Frame errors in a row after which a real camera counts as gone.
    const LOST_AFTER_ERRORS: u32 = 10;
    use nokhwa::utils::{CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType, Resolution};

    /// A real camera's capture thread; dropping it stops and joins the thread.
    pub struct RealCamera {
        stop: Arc<AtomicBool>,
        handle: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for RealCamera {
        fn drop(&mut self) {
            self.stop.store(true, Relaxed);
            if let Some(h) = self.handle.take() {
                let _ = h.join();
            }
        }
    }

    /// A nokhwa failure as ours, from its text (nokhwa carries the OS error only as text).
    fn map_error(id: &str, e: &nokhwa::NokhwaError) -> DeviceError {
        let text = e.to_string();
        let lower = text.to_lowercase();
        if lower.contains("permission") || lower.contains("denied") || lower.contains("not authorized") {
            DeviceError::PermissionDenied(format!("{id}: {text}"))
        } else if lower.contains("busy") {
            DeviceError::Busy(format!("{id}: {text}"))
        } else if lower.contains("no such") || lower.contains("not found") || lower.contains("does not exist") {
            DeviceError::NotFound(format!("{id}: {text}"))
        } else {
            DeviceError::Backend(format!("{id}: {text}"))
        }
    }

    fn raw_format(f: FrameFormat) -> Option<RawFormat> {
        match f {
            FrameFormat::MJPEG => Some(RawFormat::Mjpeg),
            FrameFormat::YUYV => Some(RawFormat::Yuyv),
            FrameFormat::NV12 => Some(RawFormat::Nv12),
            FrameFormat::GRAY | FrameFormat::RAWRGB | FrameFormat::RAWBGR => None,
        }
    }

    impl RealCamera {
        pub fn open(
            index: u32,
            id: &str,
            width: u32,
            height: u32,
            fps: u32,
            mut on_frame: Box<dyn FnMut(VideoFrame) + Send>,
            on_lost: OnLost,
        ) -> Result<Self, DeviceError> {
            if cfg!(target_os = "linux") && !Path::new(id).exists() && id.starts_with("/dev/") {
                return Err(DeviceError::NotFound(id.to_owned()));
            }
            let stop = Arc::new(AtomicBool::new(false));
            let (opened_tx, opened_rx) = std::sync::mpsc::sync_channel::<Result<CameraFormat, DeviceError>>(1);
            let (id_owned, stop_flag) = (id.to_owned(), stop.clone());
            let handle = std::thread::Builder::new().name("nertc-camera".into()).spawn(move || {
                let id = id_owned;
                let want = CameraFormat::new(Resolution::new(width, height), FrameFormat::MJPEG, fps);
                let formats = [FrameFormat::MJPEG, FrameFormat::YUYV, FrameFormat::NV12];
                let requested = RequestedFormat::with_formats(RequestedFormatType::Closest(want), &formats);
                let opened = nokhwa::Camera::new(CameraIndex::Index(index), requested).and_then(|mut c| {
                    c.open_stream()?;
                    Ok(c)
                });
                let mut cam = match opened {
                    Ok(c) => {
                        let _ = opened_tx.send(Ok(c.camera_format()));
                        c
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(map_error(&id, &e)));
                        return;
                    }
                };
                let mut conv = Converter::new();
                let start = std::time::Instant::now();
                let (mut next_due, mut errors) = (0u64, 0u32);
                let mut on_lost = Some(on_lost);
                while !stop_flag.load(Relaxed) {
                    match cam.frame() {
                        Ok(buf) => {
                            errors = 0;
                            if !pace(start.elapsed().as_micros() as u64, fps, &mut next_due) {
                                continue;
                            }
                            let Some(format) = raw_format(buf.source_frame_format()) else {
                                tracing::warn!(%id, format = %buf.source_frame_format(), "camera format not converted; frame dropped");
                                continue;
                            };
                            let res = buf.resolution();
                            let raw = RawFrame { format, data: buf.buffer(), width: res.width(), height: res.height() };
                            match conv.convert(raw, width, height, now_us()) {
                                Ok(frame) => on_frame(frame),
                                Err(e) => tracing::debug!(%id, "camera frame dropped: {e}"),
                            }
                        }
                        Err(e) => {
                            errors += 1;
                            tracing::warn!(%id, errors, "camera frame error: {e}");
                            if errors >= LOST_AFTER_ERRORS || !Path::new(&id).exists() && id.starts_with("/dev/") {
                                if let Some(lost) = on_lost.take() {
                                    lost(DeviceError::NotFound(format!("{id}: stopped delivering ({e})")));
                                }
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
                let _ = cam.stop_stream();
            })?;
            let mut cam = RealCamera { stop, handle: Some(handle) };
            match opened_rx.recv_timeout(OPEN_TIMEOUT) {
                Ok(Ok(format)) => {
                    tracing::info!(%id, %format, width, height, fps, "camera opened");
                    Ok(cam)
                }
                Ok(Err(e)) => Err(e),
                Err(_) => {
                    // Not joined: a camera stuck opening would block us too; it ends by itself.
                    cam.handle.take();
                    Err(DeviceError::Busy(format!("{id} did not open in {OPEN_TIMEOUT:?}")))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::test_pattern::{looks_like_pattern, read_stamp};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    #[test]
    fn test_pattern_camera_paces_and_stamps() {
        let frames = Arc::new(Mutex::new(Vec::new()));
        let f = frames.clone();
        let started = Instant::now();
        let cam = open_camera(SYNTHETIC_VIDEO_DEVICE_ID, 320, 240, 30, Box::new(move |fr| f.lock().expect("lock").push(fr))).expect("open");
        assert_eq!(cam.format(), (320, 240, 30));
        std::thread::sleep(Duration::from_millis(500));
        drop(cam);
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(Arc::strong_count(&frames), 1, "camera thread joined on drop");
        let got = frames.lock().expect("lock");
        let expected = elapsed * 30.0;
        assert!((got.len() as f64 - expected).abs() <= expected * 0.2, "{} frames in {elapsed:.3} s", got.len());
        let stamps: Vec<_> = got.iter().map(|f| read_stamp(f).expect("stamp")).collect();
        assert!(stamps.iter().enumerate().all(|(i, s)| s.frame_no == i as u32), "{stamps:?}");
        assert!(got.iter().zip(&stamps).all(|(f, s)| f.timestamp_us / 1000 == s.capture_time_ms));
        assert!(got.iter().all(|f| f.width == 320 && f.height == 240 && looks_like_pattern(f)));
        let now = now_us();
        assert!(now.abs_diff(got.last().expect("frames").timestamp_us) < 100_000);
    }

    #[test]
    fn camera_errors() {
        let cb = || -> Box<dyn FnMut(VideoFrame) + Send> { Box::new(|_| {}) };
        assert!(matches!(open_camera("no-such-camera", 640, 480, 15, cb()), Err(DeviceError::NotFound(_))));
        assert!(matches!(open_camera(SYNTHETIC_VIDEO_DEVICE_ID, 0, 480, 15, cb()), Err(DeviceError::InvalidArgument(_))));
        assert!(matches!(open_camera(SYNTHETIC_VIDEO_DEVICE_ID, 640, 480, 0, cb()), Err(DeviceError::InvalidArgument(_))));
        // No camera here: a node that does not exist, and ids that name no camera at all.
        assert!(matches!(open_camera("/dev/video99", 640, 480, 15, cb()), Err(DeviceError::NotFound(_))));
        assert!(matches!(open_camera("camera:x", 640, 480, 15, cb()), Err(DeviceError::NotFound(_))));
        assert_eq!(DeviceError::NotFound(String::new()).code(), crate::error::ERR_DEVICE_NOT_FOUND);
        assert_eq!(default_video_device(), SYNTHETIC_VIDEO_DEVICE_ID);
        assert_eq!(camera_index("/dev/video2"), Some(2));
        assert_eq!(camera_index("camera:0"), Some(0));
        assert_eq!(camera_index("/dev/videox"), None);
    }

    #[test]
    fn pacing_halves_a_camera_twice_as_fast() {
        // A 30 fps camera (33.3 ms apart, with jitter) paced to 15 fps delivers every other frame.
        let mut due = 0;
        let kept: Vec<u64> =
            (0..60u64).map(|k| k * 33_333 + if k % 3 == 0 { 2_000 } else { 0 }).filter(|&t| pace(t, 15, &mut due)).collect();
        assert_eq!(kept.len(), 30, "{kept:?}");
        // At the wanted rate nothing is dropped, even with early jitter.
        let mut due = 0;
        assert!((0..60u64).map(|k| k * 66_666 - if k % 2 == 1 { 5_000 } else { 0 }).all(|t| pace(t, 15, &mut due)));
        // After a stall, delivery resumes at once.
        let mut due = 0;
        assert!(pace(0, 15, &mut due) && pace(1_000_000, 15, &mut due));
    }
}
