//! Hot-plug: a thread lists the cameras every [`POLL`] and reports each one that appeared or
//! went away (`onVideoDeviceStateChanged`), so a plugged or unplugged camera is seen within
//! 2 s. Listing reads sysfs on Linux (no device is opened), the system API elsewhere.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{DeviceError, PacedThread, enumerate_video_capture_devices};

/// How often the cameras are listed.
pub const POLL: Duration = Duration::from_secs(1);

/// NERTC's video device type of a camera (`kNERtcVideoDeviceTypeCapture`).
pub const VIDEO_CAPTURE: i32 = 1;
/// Device states as NERTC's desktop SDK numbers them for devices: 0 active (plugged in),
/// 1 inactive (removed).
pub const ACTIVE: i32 = 0;
pub const INACTIVE: i32 = 1;

/// What changed between two listings: `(id, ACTIVE)` for each new id, `(id, INACTIVE)` for
/// each gone one (gone first).
pub fn diff(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<(String, i32)> {
    let gone = before.difference(now).map(|id| (id.clone(), INACTIVE));
    let added = now.difference(before).map(|id| (id.clone(), ACTIVE));
    gone.chain(added).collect()
}

fn camera_ids() -> BTreeSet<String> {
    enumerate_video_capture_devices().into_iter().map(|d| d.device_id).collect()
}

/// Polls the cameras until dropped, calling `changed(id, state)` for each change.
pub(crate) fn watch_cameras(mut changed: impl FnMut(String, i32) + Send + 'static) -> Result<PacedThread, DeviceError> {
    let mut known = camera_ids();
    PacedThread::spawn("nertc-device-watch", POLL, 1, move |_, _| {
        let now = camera_ids();
        for (id, state) in diff(&known, &now) {
            tracing::info!(%id, state, "camera list changed");
            changed(id, state);
        }
        known = now;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plugged_and_unplugged_cameras_are_reported() {
        let before = set(&["nertc-test-pattern", "/dev/video0"]);
        assert!(diff(&before, &before).is_empty());
        let plugged = set(&["nertc-test-pattern", "/dev/video0", "/dev/video2"]);
        assert_eq!(diff(&before, &plugged), vec![("/dev/video2".to_owned(), ACTIVE)]);
        let swapped = set(&["nertc-test-pattern", "/dev/video2"]);
        assert_eq!(diff(&plugged, &swapped), vec![("/dev/video0".to_owned(), INACTIVE)]);
        assert_eq!(diff(&before, &swapped), vec![("/dev/video0".to_owned(), INACTIVE), ("/dev/video2".to_owned(), ACTIVE)]);
    }

    #[test]
    fn the_watcher_runs_and_stops() {
        // Nothing is plugged here: it must report nothing, and stop (join) when dropped.
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = watch_cameras(move |id, state| s.lock().expect("test lock").push((id, state))).expect("watch");
        std::thread::sleep(Duration::from_millis(1200));
        drop(w);
        assert_eq!(std::sync::Arc::strong_count(&seen), 1, "joined");
        assert!(seen.lock().expect("test lock").is_empty());
    }
}
