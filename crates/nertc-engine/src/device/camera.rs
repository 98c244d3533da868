//! Cameras: the synthetic test-pattern camera, and real V4L2 cameras (listed only).
//!
//! The test-pattern camera is a thread paced on a drift-free clock that renders
//! [`TestPattern`] frames at the asked size and rate, with frame numbers counting up from 0
//! (a jump means frames were skipped because the thread fell behind) and the real capture time
//! as both `timestamp_us` and the stamp's time.
//!
//! Real cameras are found without extra dependencies by reading `/sys/class/video4linux`
//! (the `videoN` nodes with `index` 0, i.e. the capture node of each camera, not its metadata
//! node). Capturing from them is not implemented: they are listed with
//! `suspected_unavailable: true`, and [`open_camera`] returns [`DeviceError::Unavailable`].
//! Real capture is future work. nokhwa 0.10 with `input-v4l` does build on Debian with the
//! apt packages the project installs (checked: ~7 min extra on 2 cores for a clean build,
//! bindgen + v4l + image, ~80 crates); it is not wired in because no test machine has a camera.
//! When it is, request YUYV (no MJPEG decoder needed) and convert to I420 here.

use std::path::Path;
use std::time::Duration;

use super::test_pattern::TestPattern;
use super::{DeviceError, DeviceInfo, PacedThread, SYNTHETIC_VIDEO_DEVICE_ID, SYNTHETIC_VIDEO_DEVICE_NAME, video_transport};
use crate::frame::{VideoFrame, now_us};

/// Largest size the test-pattern camera renders.
pub const MAX_SIZE: u32 = 3840;
/// Highest frame rate the test-pattern camera produces.
pub const MAX_FPS: u32 = 60;

const V4L_SYSFS: &str = "/sys/class/video4linux";

struct RealCamera {
    id: String,
    name: String,
    transport: i32,
}

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
        suspected_unavailable: true,
        system_default_device: false,
    }));
    list
}

/// The default camera: the test pattern while real capture is not implemented.
pub fn default_video_device() -> String {
    SYNTHETIC_VIDEO_DEVICE_ID.to_owned()
}

/// A running camera; dropping it stops capture (no callback runs after `drop` returns).
pub struct VideoCapture {
    device_id: String,
    width: u32,
    height: u32,
    fps: u32,
    _worker: PacedThread,
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

/// Starts the camera `device_id` at `width` x `height` (1..=3840 each), `fps` (1..=60, larger
/// values are capped), calling `on_frame` from the capture thread (keep it short: hand the
/// frame to another thread).
pub fn open_camera(
    device_id: &str,
    width: u32,
    height: u32,
    fps: u32,
    mut on_frame: Box<dyn FnMut(VideoFrame) + Send>,
) -> Result<VideoCapture, DeviceError> {
    if !(1..=MAX_SIZE).contains(&width) || !(1..=MAX_SIZE).contains(&height) || fps == 0 {
        return Err(DeviceError::InvalidArgument(format!("{width}x{height} at {fps} fps")));
    }
    let fps = fps.min(MAX_FPS);
    if device_id != SYNTHETIC_VIDEO_DEVICE_ID {
        return if real_cameras().iter().any(|c| c.id == device_id) {
            Err(DeviceError::Unavailable(format!("capture from {device_id} is not implemented; use {SYNTHETIC_VIDEO_DEVICE_ID}")))
        } else {
            Err(DeviceError::NotFound(device_id.to_owned()))
        };
    }
    let mut pattern = TestPattern::new();
    let period = Duration::from_nanos(1_000_000_000 / u64::from(fps));
    let worker = PacedThread::spawn("nertc-camera", period, 0, move |k, _| {
        on_frame(pattern.render(width, height, k as u32, now_us()));
    })?;
    Ok(VideoCapture { device_id: device_id.to_owned(), width, height, fps, _worker: worker })
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
        for cam in enumerate_video_capture_devices().iter().skip(1) {
            assert!(cam.suspected_unavailable);
            assert!(matches!(open_camera(&cam.device_id, 640, 480, 15, cb()), Err(DeviceError::Unavailable(_))));
        }
        assert_eq!(default_video_device(), SYNTHETIC_VIDEO_DEVICE_ID);
    }
}
