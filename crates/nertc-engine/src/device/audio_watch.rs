//! Audio hot-plug and default-device following: a thread lists the microphones and speakers
//! every [`POLL`] (nothing is opened, [`super::audio::device_snapshots`]) and compares with the
//! previous listing:
//!
//! - a device that appeared or went away is reported (`onAudioDeviceStateChanged(id, type,
//!   0 active | 1 inactive)`, NERTC's `NERtcAudioDeviceType` and `NERtcAudioDeviceState`);
//! - a new default device of the sound server (the user's choice in the sound settings,
//!   `pactl set-default-sink`) is reported (`onAudioDefaultDeviceChanged(id, type)`), and the
//!   engine moves to it unless the application pinned a device (`setRecordDevice` /
//!   `setPlayoutDevice`);
//! - when the device in use goes away, pinned or not, the engine falls back to the default
//!   device (the sound server's, else the system's, else the synthetic one) and is no longer
//!   pinned.
//!
//! The decisions are the pure [`changes`]; [`watch_audio`] runs them and hands each
//! [`Change`] to the engine ([`AudioUse`]). A change is seen within [`POLL`] plus one listing
//! (a few ms on PulseAudio), well inside 2 s.

use std::time::Duration;

use super::audio::{DeviceSnapshot, device_snapshots};
use super::{DeviceError, PacedThread};

/// How often the audio devices are listed.
pub const POLL: Duration = Duration::from_millis(500);

/// NERTC's `NERtcAudioDeviceType`.
pub const RECORD: i32 = 1;
pub const PLAYOUT: i32 = 2;
/// NERTC's `NERtcAudioDeviceState`.
pub const ACTIVE: i32 = 0;
pub const INACTIVE: i32 = 1;

/// One consequence of a new listing, in the order it is to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `onAudioDeviceStateChanged`: a device appeared (`ACTIVE`) or went away (`INACTIVE`).
    State { device_id: String, device_type: i32, device_state: i32 },
    /// `onAudioDefaultDeviceChanged`: the sound server has a new default device.
    Default { device_id: String, device_type: i32 },
    /// The engine moves from device `from` to `to` and stops being pinned (following the
    /// default, or falling back from a device that went away).
    Switch { device_type: i32, from: String, to: String },
}

/// What one direction's new listing means for an engine using `in_use` (`pinned` when the
/// application chose it). `fallback` gives the device to fall back to when `in_use` went away
/// and the sound server has no default (called only then).
pub fn changes(
    device_type: i32,
    before: &DeviceSnapshot,
    now: &DeviceSnapshot,
    in_use: &str,
    pinned: bool,
    fallback: impl FnOnce() -> String,
) -> Vec<Change> {
    let mut out: Vec<Change> = super::watch::diff(&before.ids, &now.ids)
        .into_iter()
        .map(|(device_id, state)| Change::State {
            device_id,
            device_type,
            device_state: if state == super::watch::ACTIVE { ACTIVE } else { INACTIVE },
        })
        .collect();
    let new_default = now.server_default.as_ref().filter(|d| before.server_default.as_ref() != Some(*d));
    if let Some(d) = new_default {
        out.push(Change::Default { device_id: d.clone(), device_type });
    }
    let gone = before.ids.contains(in_use) && !now.ids.contains(in_use);
    let to = if gone {
        Some(now.server_default.clone().unwrap_or_else(fallback))
    } else if !pinned {
        new_default.cloned()
    } else {
        None
    };
    if let Some(to) = to.filter(|to| to != in_use || gone) {
        out.push(Change::Switch { device_type, from: in_use.to_owned(), to });
    }
    out
}

/// The engine side of the watcher.
pub trait AudioUse: Send + 'static {
    /// The device in use for `device_type` ([`RECORD`] / [`PLAYOUT`]) and whether the
    /// application pinned it.
    fn in_use(&self, device_type: i32) -> (String, bool);
    /// The default device to fall back to when the one in use went away and there is no
    /// sound server default.
    fn fallback(&self, device_type: i32) -> String;
    /// Applies one change (emits the event, or switches the device).
    fn apply(&self, change: Change);
}

/// Lists the audio devices every [`POLL`] until dropped, applying what changed to `engine`.
pub(crate) fn watch_audio(engine: impl AudioUse) -> Result<PacedThread, DeviceError> {
    let (mut rec, mut play) = device_snapshots();
    PacedThread::spawn("nertc-audio-watch", POLL, 1, move |_, _| {
        let (rec_now, play_now) = device_snapshots();
        for (device_type, before, now) in [(RECORD, &rec, &rec_now), (PLAYOUT, &play, &play_now)] {
            if before == now {
                continue;
            }
            let (in_use, pinned) = engine.in_use(device_type);
            for change in changes(device_type, before, now, &in_use, pinned, || engine.fallback(device_type)) {
                tracing::info!(?change, "audio devices changed");
                engine.apply(change);
            }
        }
        (rec, play) = (rec_now, play_now);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(ids: &[&str], default: Option<&str>) -> DeviceSnapshot {
        DeviceSnapshot { ids: ids.iter().map(|s| s.to_string()).collect(), server_default: default.map(str::to_owned) }
    }

    fn state(id: &str, device_state: i32) -> Change {
        Change::State { device_id: id.into(), device_type: PLAYOUT, device_state }
    }

    fn switch(from: &str, to: &str) -> Change {
        Change::Switch { device_type: PLAYOUT, from: from.into(), to: to.into() }
    }

    fn no_fallback() -> String {
        panic!("no fallback wanted here")
    }

    #[test]
    fn plugged_devices_are_reported_and_nothing_moves() {
        let before = snap(&["pulseaudio:spk", "alsa:pulse"], Some("pulseaudio:spk"));
        let now = snap(&["pulseaudio:spk", "pulseaudio:hp", "alsa:pulse"], Some("pulseaudio:spk"));
        assert_eq!(changes(PLAYOUT, &before, &now, "pulseaudio:spk", false, no_fallback), vec![state("pulseaudio:hp", ACTIVE)]);
        assert_eq!(changes(PLAYOUT, &before, &before, "pulseaudio:spk", false, no_fallback), vec![]);
    }

    #[test]
    fn a_new_default_is_followed_unless_pinned() {
        let before = snap(&["pulseaudio:spk", "pulseaudio:hp"], Some("pulseaudio:spk"));
        let now = snap(&["pulseaudio:spk", "pulseaudio:hp"], Some("pulseaudio:hp"));
        let event = Change::Default { device_id: "pulseaudio:hp".into(), device_type: PLAYOUT };
        assert_eq!(
            changes(PLAYOUT, &before, &now, "pulseaudio:spk", false, no_fallback),
            vec![event.clone(), switch("pulseaudio:spk", "pulseaudio:hp")]
        );
        assert_eq!(changes(PLAYOUT, &before, &now, "pulseaudio:spk", true, no_fallback), vec![event.clone()], "pinned: stays");
        assert_eq!(changes(PLAYOUT, &before, &now, "pulseaudio:hp", false, no_fallback), vec![event], "already there");
        // A sound server that starts: its default is new, an engine on the synthetic device moves.
        let none = snap(&[], None);
        let up = snap(&["pulseaudio:spk"], Some("pulseaudio:spk"));
        assert_eq!(
            changes(PLAYOUT, &none, &up, "nertc-null", false, no_fallback),
            vec![
                state("pulseaudio:spk", ACTIVE),
                Change::Default { device_id: "pulseaudio:spk".into(), device_type: PLAYOUT },
                switch("nertc-null", "pulseaudio:spk")
            ]
        );
    }

    #[test]
    fn a_device_that_goes_away_falls_back_pinned_or_not() {
        // The pinned headphones are unplugged; the server's default takes over.
        let before = snap(&["pulseaudio:spk", "pulseaudio:hp"], Some("pulseaudio:spk"));
        let now = snap(&["pulseaudio:spk"], Some("pulseaudio:spk"));
        assert_eq!(
            changes(PLAYOUT, &before, &now, "pulseaudio:hp", true, no_fallback),
            vec![state("pulseaudio:hp", INACTIVE), switch("pulseaudio:hp", "pulseaudio:spk")]
        );
        // The default itself goes away (the server picks another one, reported as such).
        let now = snap(&["pulseaudio:hp"], Some("pulseaudio:hp"));
        assert_eq!(
            changes(PLAYOUT, &before, &now, "pulseaudio:spk", false, no_fallback),
            vec![
                state("pulseaudio:spk", INACTIVE),
                Change::Default { device_id: "pulseaudio:hp".into(), device_type: PLAYOUT },
                switch("pulseaudio:spk", "pulseaudio:hp")
            ]
        );
        // The sound server is gone (killed): every one of its devices went away, the engine
        // falls back to what the system offers without it.
        let dead = snap(&["alsa:pulse"], None);
        let before = snap(&["pulseaudio:spk", "alsa:pulse"], Some("pulseaudio:spk"));
        assert_eq!(
            changes(PLAYOUT, &before, &dead, "pulseaudio:spk", true, || "nertc-null".into()),
            vec![state("pulseaudio:spk", INACTIVE), switch("pulseaudio:spk", "nertc-null")]
        );
        // A device not in use going away moves nothing.
        assert_eq!(changes(PLAYOUT, &before, &dead, "alsa:pulse", true, no_fallback), vec![state("pulseaudio:spk", INACTIVE)]);
    }

    struct Recorder(std::sync::Mutex<Vec<Change>>);

    impl AudioUse for std::sync::Arc<Recorder> {
        fn in_use(&self, _: i32) -> (String, bool) {
            ("nertc-null".into(), false)
        }
        fn fallback(&self, _: i32) -> String {
            "nertc-null".into()
        }
        fn apply(&self, change: Change) {
            self.0.lock().expect("test lock").push(change);
        }
    }

    #[test]
    fn the_watcher_runs_and_stops() {
        // Nothing changes here: nothing is reported, and it stops (joins) when dropped.
        let seen = std::sync::Arc::new(Recorder(std::sync::Mutex::new(Vec::new())));
        let w = watch_audio(seen.clone()).expect("watch");
        std::thread::sleep(POLL * 2 + Duration::from_millis(200));
        drop(w);
        assert_eq!(std::sync::Arc::strong_count(&seen), 1, "joined");
        assert!(seen.0.lock().expect("test lock").is_empty());
    }
}
