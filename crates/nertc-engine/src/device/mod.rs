//! Capture and playout devices, real and synthetic.
//!
//! Every list contains a synthetic device first, so the SDK works on machines without a
//! camera, microphone or sound card (CI, servers, containers):
//!
//! | kind | id | name | what it does |
//! | --- | --- | --- | --- |
//! | record | [`SYNTHETIC_RECORD_DEVICE_ID`] `nertc-tone` | NERTC tone generator (440 Hz) | a 440 Hz sine at -13.5 dBFS, paced in real time |
//! | playout | [`SYNTHETIC_PLAYOUT_DEVICE_ID`] `nertc-null` | NERTC null speaker | pulls and discards 10 ms every 10 ms |
//! | camera | [`SYNTHETIC_VIDEO_DEVICE_ID`] `nertc-test-pattern` | NERTC test pattern camera | [`test_pattern::TestPattern`] frames at the asked rate |
//!
//! Real audio devices come from cpal (on Linux the PulseAudio server's sinks and sources when
//! one answers, and ALSA's devices; [`audio`]), real cameras from V4L2 device
//! nodes ([`camera`]; listed, not captured yet), screens and windows from X11 ([`screen`], the
//! substream's source). The default device is the system's default
//! when it can actually be opened, else the synthetic one. Devices that come and go and a new
//! default device are watched: [`watch`] (cameras) and [`audio_watch`].
//!
//! Every capture/playout handle owns its thread or stream and stops it when dropped (the
//! thread is joined before `drop` returns; no callback runs afterwards).

pub mod audio;
pub mod audio_watch;
pub mod camera;
pub mod convert;
pub mod hub;
pub mod screen;
pub mod test_pattern;
pub mod tone;
pub mod watch;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Code, ERR_DEVICE_NOT_FOUND, ERR_INVALID_PARAM};
pub use audio::{
    AudioCapture, AudioConverter, AudioPlayout, DeviceGain, DeviceSnapshot, FRAME_MS, default_playout_device, default_record_device,
    device_snapshots, enumerate_playout_devices, enumerate_record_devices, open_playout, open_playout_with, open_playout_with_gain,
    open_record, open_record_with, open_record_with_gain, read_sound_file,
};
pub use camera::{VideoCapture, default_video_device, enumerate_video_capture_devices, open_camera, open_camera_with};

/// The synthetic microphone: a 440 Hz tone.
pub const SYNTHETIC_RECORD_DEVICE_ID: &str = "nertc-tone";
pub const SYNTHETIC_RECORD_DEVICE_NAME: &str = "NERTC tone generator (440 Hz)";
/// The synthetic speaker: discards audio at real-time pace.
pub const SYNTHETIC_PLAYOUT_DEVICE_ID: &str = "nertc-null";
pub const SYNTHETIC_PLAYOUT_DEVICE_NAME: &str = "NERTC null speaker";
/// The synthetic camera: the test pattern.
pub const SYNTHETIC_VIDEO_DEVICE_ID: &str = "nertc-test-pattern";
pub const SYNTHETIC_VIDEO_DEVICE_NAME: &str = "NERTC test pattern camera";

/// NERTC audio `transport_type` values (`NERtcAudioDeviceTransportType`).
pub mod audio_transport {
    pub const UNKNOWN: i32 = 0;
    pub const BLUETOOTH: i32 = 1;
    pub const USB: i32 = 4;
    pub const HDMI: i32 = 5;
    pub const BUILT_IN: i32 = 6;
    pub const THUNDERBOLT: i32 = 7;
    pub const VIRTUAL: i32 = 9;
    pub const OTHER: i32 = 10;
}

/// NERTC video `transport_type` values (`NERtcVideoDeviceTransportType`).
pub mod video_transport {
    pub const UNKNOWN: i32 = 0;
    pub const USB: i32 = 1;
    pub const VIRTUAL: i32 = 2;
    pub const OTHER: i32 = 3;
}

/// One entry of `enumerateRecordDevices` / `enumeratePlayoutDevices` /
/// `enumerateVideoCaptureDevices` (NERTC's field names).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceInfo {
    pub device_id: String,
    pub device_name: String,
    /// See [`audio_transport`] / [`video_transport`].
    pub transport_type: i32,
    /// The device is listed but could not be opened when probed.
    pub suspected_unavailable: bool,
    pub system_default_device: bool,
}

/// A device failure.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No device with this id.
    #[error("no device with id {0:?}")]
    NotFound(String),
    /// The device exists but cannot be used (unplugged, capture not supported...).
    #[error("device unavailable: {0}")]
    Unavailable(String),
    /// Another program holds the device.
    #[error("device busy: {0}")]
    Busy(String),
    /// Bad sample rate, channel count, size or frame rate.
    #[error("invalid device parameter: {0}")]
    InvalidArgument(String),
    /// The system refused access (microphone/camera permission, audio group).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The audio backend failed.
    #[error("audio backend: {0}")]
    Backend(String),
    /// The worker thread could not be started.
    #[error("cannot start a device thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl DeviceError {
    /// The NERTC code this failure is reported with: 30008 no such device (or it went away),
    /// 30003 bad parameter, 40000 no permission, 30011 device creation failed otherwise (also
    /// when another program holds it).
    pub fn code(&self) -> Code {
        match self {
            DeviceError::NotFound(_) | DeviceError::Unavailable(_) => ERR_DEVICE_NOT_FOUND,
            DeviceError::InvalidArgument(_) => ERR_INVALID_PARAM,
            DeviceError::PermissionDenied(_) => ERR_NO_PERMISSION,
            DeviceError::Busy(_) | DeviceError::Backend(_) | DeviceError::Thread(_) => ERR_DEVICE_CREATION,
        }
    }

    /// The same failure again (one device's loss is reported to each of its holders).
    pub fn duplicate(&self) -> DeviceError {
        match self {
            DeviceError::NotFound(m) => DeviceError::NotFound(m.clone()),
            DeviceError::Unavailable(m) => DeviceError::Unavailable(m.clone()),
            DeviceError::Busy(m) => DeviceError::Busy(m.clone()),
            DeviceError::InvalidArgument(m) => DeviceError::InvalidArgument(m.clone()),
            DeviceError::PermissionDenied(m) => DeviceError::PermissionDenied(m.clone()),
            DeviceError::Backend(m) => DeviceError::Backend(m.clone()),
            DeviceError::Thread(e) => DeviceError::Thread(std::io::Error::new(e.kind(), e.to_string())),
        }
    }

    /// [`DeviceError::code`] for a camera: NERTC reports a refused camera as 50000.
    pub fn camera_code(&self) -> Code {
        match self {
            DeviceError::PermissionDenied(_) => ERR_NO_CAMERA_PERMISSION,
            other => other.code(),
        }
    }
}

/// NERTC's "device creation failed".
pub const ERR_DEVICE_CREATION: Code = 30011;
/// NERTC's "no microphone permission" (50000 is the camera's).
pub const ERR_NO_PERMISSION: Code = 40000;
/// NERTC's "no permission to use the video device".
pub const ERR_NO_CAMERA_PERMISSION: Code = 50000;

/// A thread calling `tick(k, wall_us)` at `start + (k + offset) * period`, k = 0, 1, 2...,
/// on a drift-free schedule (deadlines derive from the start, not from the previous tick).
/// `wall_us` is that deadline on the wall clock (µs since the Unix epoch). When the thread
/// falls more than [`MAX_LAG`] behind (process suspended, machine overloaded), the missed
/// ticks are skipped instead of delivered in a burst. Dropping it stops and joins the thread.
pub(crate) struct PacedThread {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

/// How far a paced thread may fall behind before it skips ticks.
pub(crate) const MAX_LAG: Duration = Duration::from_millis(200);

impl PacedThread {
    pub(crate) fn spawn(
        name: &str,
        period: Duration,
        offset: u32,
        mut tick: impl FnMut(u64, u64) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let start = Instant::now();
            let start_wall_us = crate::frame::now_us();
            let period_us = period.as_micros() as u64;
            let mut k: u64 = 0;
            loop {
                let due = start + Duration::from_micros(period_us * (k + u64::from(offset)));
                let now = Instant::now();
                if due > now {
                    match stop_rx.recv_timeout(due - now) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                } else {
                    if now - due > MAX_LAG {
                        let behind = ((now - due).as_micros() as u64) / period_us.max(1);
                        tracing::debug!(thread = ?std::thread::current().name(), behind, "paced thread late; skipping ticks");
                        k += behind;
                        continue;
                    }
                    match stop_rx.try_recv() {
                        Err(mpsc::TryRecvError::Empty) => {}
                        _ => return,
                    }
                }
                tick(k, start_wall_us + (k + u64::from(offset)) * period_us);
                k += 1;
            }
        })?;
        Ok(PacedThread { stop: Some(stop_tx), handle: Some(handle) })
    }
}

impl Drop for PacedThread {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            if h.thread().id() == std::thread::current().id() {
                // Dropped from its own callback: the loop sees the closed channel and ends.
                return;
            }
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn paced_thread_keeps_time_and_joins_on_drop() {
        // Checks the schedule, not a count in a wall-clock window: a busy machine may delay
        // or skip ticks (and must not fail this test), but a tick never comes early, tick
        // numbers only grow, and each tick's wall stamp sits exactly on the schedule.
        let seen = Arc::new(std::sync::Mutex::new(Vec::<(u64, u64)>::new()));
        let s = seen.clone();
        let began = Instant::now();
        let p = PacedThread::spawn("test-paced", Duration::from_millis(5), 1, move |k, wall| {
            s.lock().expect("test mutex").push((k, wall));
        })
        .expect("spawn");
        std::thread::sleep(Duration::from_millis(300));
        drop(p);
        let elapsed_us = began.elapsed().as_micros() as u64;
        let ticks = seen.lock().expect("test mutex").clone();
        assert!(ticks.len() >= 10, "only {} ticks in 300 ms", ticks.len());
        assert!(ticks.windows(2).all(|w| w[1].0 > w[0].0), "tick numbers grow");
        let (k0, wall0) = ticks[0];
        for (k, wall) in &ticks {
            assert_eq!(wall - wall0, (k - k0) * 5000, "tick {k} is on the 5 ms schedule");
        }
        let (k_last, _) = ticks[ticks.len() - 1];
        assert!((k_last + 1) * 5000 <= elapsed_us, "tick {k_last} due at {} µs came before {elapsed_us} µs", (k_last + 1) * 5000);
        // Joined: the closure (and its Arc) is gone, nothing ticks any more.
        assert_eq!(Arc::strong_count(&seen), 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(seen.lock().expect("test mutex").len(), ticks.len());
    }

    #[test]
    fn synthetic_devices_are_listed_first() {
        let rec = enumerate_record_devices();
        assert_eq!(rec[0].device_id, SYNTHETIC_RECORD_DEVICE_ID);
        assert_eq!(rec[0].device_name, SYNTHETIC_RECORD_DEVICE_NAME);
        assert_eq!(rec[0].transport_type, audio_transport::VIRTUAL);
        let play = enumerate_playout_devices();
        assert_eq!(play[0].device_id, SYNTHETIC_PLAYOUT_DEVICE_ID);
        assert_eq!(play[0].device_name, SYNTHETIC_PLAYOUT_DEVICE_NAME);
        let cams = enumerate_video_capture_devices();
        assert_eq!(cams[0].device_id, SYNTHETIC_VIDEO_DEVICE_ID);
        assert_eq!(cams[0].device_name, SYNTHETIC_VIDEO_DEVICE_NAME);
        assert_eq!(cams[0].transport_type, video_transport::VIRTUAL);
        for list in [&rec, &play, &cams] {
            // Exactly one default, and the default getters agree with it.
            assert_eq!(list.iter().filter(|d| d.system_default_device).count(), 1, "{list:?}");
            let ids: std::collections::HashSet<_> = list.iter().map(|d| &d.device_id).collect();
            assert_eq!(ids.len(), list.len(), "unique ids: {list:?}");
        }
        let default_of = |l: &[DeviceInfo]| l.iter().find(|d| d.system_default_device).map(|d| d.device_id.clone());
        assert_eq!(default_of(&rec), Some(default_record_device()));
        assert_eq!(default_of(&play), Some(default_playout_device()));
        assert_eq!(default_of(&cams), Some(default_video_device()));
    }
}
