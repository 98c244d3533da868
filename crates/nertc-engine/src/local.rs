//! Local media: capture devices, encoder threads and playout, owned by one "nertc-devices"
//! thread so that opening or closing a device (which can take long on real hardware) never
//! runs on the JS thread or the actor. Anyone changes the settings or the presence, then
//! wakes the thread ([`Shared::refresh_devices`]); it computes a [`Plan`] from the current
//! state and applies it. Wake-ups coalesce (a bounded(1) queue), so a burst of calls costs
//! one pass. Open failures are reported as `onError`. Camera, microphone and speaker are
//! opened through the engine's [`crate::device::hub::DeviceHub`], which its channels
//! (`createChannel`) share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crossbeam_channel::Receiver;

use crate::device;
use crate::error::{self, EngineError};
use crate::event::EngineEvent;
use crate::frame::AudioFrame;
use crate::media::audio_send::{self, AudioSender};
use crate::media::video_send::VideoSender;
use crate::render::StreamKey;
use crate::settings::{Role, ScreenShare, Settings};
use crate::shared::{Shared, lock};

/// What should run. Devices carry what they are opened with, so a change reopens them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub video_encoder: bool,
    /// Camera id, width, height, fps.
    pub camera: Option<(String, u32, u32, u32)>,
    pub audio_encoder: bool,
    /// Microphone id (None with an external audio source and no device test).
    pub mic: Option<String>,
    /// The microphone feeds the audio encoder (else it runs for a device test only).
    pub mic_to_encoder: bool,
    pub external_audio: bool,
    pub playout: Option<String>,
    /// The screen share (capture and substream encoder).
    pub screen: Option<ScreenShare>,
    /// A device test reports the microphone's level every this many ms.
    pub mic_meter_ms: Option<u32>,
    /// The loopback test: the microphone plays on the speaker.
    pub loopback: bool,
    /// The playout test's file.
    pub playout_test: Option<String>,
}

/// The local media wanted for these settings, in a channel or not.
pub fn plan(s: &Settings, in_channel: bool) -> Plan {
    let broadcaster = s.role == Role::Broadcaster;
    let video_encoder = s.preview || (in_channel && s.local_video && broadcaster);
    let audio_encoder = in_channel && s.local_audio && broadcaster;
    let p = s.encode;
    let mic_to_encoder = audio_encoder && s.external_audio.is_none();
    let mic_meter_ms = s.record_test_ms.or(s.loopback_test_ms);
    let loopback = s.loopback_test_ms.is_some();
    Plan {
        video_encoder,
        camera: (video_encoder && !s.external_video).then(|| (s.video_device.clone(), p.width, p.height, p.fps)),
        audio_encoder,
        mic: (mic_to_encoder || mic_meter_ms.is_some()).then(|| s.record_device.clone()),
        mic_to_encoder,
        external_audio: audio_encoder && s.external_audio.is_some(),
        screen: s.screen.clone().filter(|_| in_channel && broadcaster),
        playout: (in_channel || loopback || s.playout_test.is_some()).then(|| s.playout_device.clone()),
        mic_meter_ms,
        loopback,
        playout_test: s.playout_test.clone(),
    }
}

/// Field order is drop order: sources (camera, mic) hold senders into the encoder threads,
/// which exit only once every sender is gone, so sources drop first.
#[derive(Default)]
struct LocalMedia {
    camera: Option<((String, u32, u32, u32), device::hub::Lease)>,
    screen: Option<(device::screen::ScreenParams, device::screen::ScreenCapture)>,
    /// Keyed by (id, feeds the encoder): the encoder's input is bound when the mic opens.
    mic: Option<((String, bool), device::hub::Lease)>,
    /// Reports the microphone's level for a device test (interval, thread).
    meter: Option<(u32, device::PacedThread)>,
    /// The file the playout test plays (its PCM is in `AudioCtl::playout_test`).
    playout_test: Option<String>,
    playout: Option<(String, device::hub::Lease)>,
    video: Option<VideoSender>,
    screen_video: Option<VideoSender>,
    audio: Option<AudioSender>,
    /// Set (from a device's thread) when the microphone / speaker in use stopped working: the
    /// next pass closes it and opens the wanted device again.
    mic_lost: Arc<AtomicBool>,
    playout_lost: Arc<AtomicBool>,
}

/// NERTC's audio device types (`NERtcAudioDeviceType`).
const AUDIO_RECORD: i32 = 1;
const AUDIO_PLAYOUT: i32 = 2;
/// `NERtcAudioDeviceState`: the device is no longer active.
const AUDIO_INACTIVE: i32 = 1;

/// What a lost audio device does: report it (`onAudioDeviceStateChanged`, `onError`) and flag
/// it, so that the next pass (the application picking a device, enabling audio, ...) closes it
/// and opens the wanted one again. No pass is forced: a device that keeps failing must not
/// make the engine reopen it in a loop.
fn audio_lost_hook(shared: &Arc<Shared>, flag: &Arc<AtomicBool>, id: &str, device_type: i32) -> device::audio::OnLost {
    let (target, flag, device_id) = (shared.clone(), flag.clone(), id.to_owned());
    Box::new(move |e: device::DeviceError| {
        flag.store(true, Relaxed);
        target.emit(EngineEvent::AudioDeviceStateChanged { device_id, device_type, device_state: AUDIO_INACTIVE });
        target.emit(EngineEvent::Error { code: e.code(), msg: format!("audio device: {e}") });
    })
}

/// The engine as the audio hot-plug watcher sees it: events go to the application, a device
/// switch to the settings (then the next pass reopens the device).
struct AudioDevices(Arc<Shared>);

impl device::audio_watch::AudioUse for AudioDevices {
    fn in_use(&self, device_type: i32) -> (String, bool) {
        let s = self.0.settings();
        let (id, pinned) = s.audio_device(device_type);
        (id.to_owned(), pinned)
    }

    fn fallback(&self, device_type: i32) -> String {
        if device_type == device::audio_watch::RECORD { device::default_record_device() } else { device::default_playout_device() }
    }

    fn apply(&self, change: device::audio_watch::Change) {
        use device::audio_watch::Change;
        match change {
            Change::State { device_id, device_type, device_state } => {
                self.0.emit(EngineEvent::AudioDeviceStateChanged { device_id, device_type, device_state })
            }
            Change::Default { device_id, device_type } => self.0.emit(EngineEvent::AudioDefaultDeviceChanged { device_id, device_type }),
            Change::Switch { device_type, from, to } => {
                if self.0.settings().switch_audio_device(device_type, &from, &to) {
                    tracing::info!(device_type, from, to, "audio device switched");
                    self.0.refresh_devices();
                }
            }
        }
    }
}

/// Tells the application when the shared window goes away.
struct ScreenAbort(crate::event::Events);

impl device::screen::ScreenEvents for ScreenAbort {
    fn aborted(&self) {
        self.0.send(EngineEvent::ScreenCaptureStatus { status: crate::event::screen_status::ABORT });
    }
}

/// Starts the device thread; it runs until `shared.released` is set and it is woken.
pub(crate) fn start(shared: Arc<Shared>, wake: Receiver<()>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("nertc-devices".into()).spawn(move || {
        let mut local = LocalMedia::default();
        let target = shared.clone();
        let watch = device::watch::watch_cameras(move |device_id, device_state| {
            target.emit(EngineEvent::VideoDeviceStateChanged { device_id, device_type: device::watch::VIDEO_CAPTURE, device_state });
        });
        if let Err(e) = &watch {
            tracing::warn!("camera hot-plug is not watched: {e}");
        }
        let audio_watch = device::audio_watch::watch_audio(AudioDevices(shared.clone()));
        if let Err(e) = &audio_watch {
            tracing::warn!("audio hot-plug and default devices are not watched: {e}");
        }
        while wake.recv().is_ok() {
            if shared.released.load(Relaxed) {
                break;
            }
            let (plan, encode, preview, mirrored, shape) = {
                let s = shared.settings();
                let shape = (s.encode_mirror, s.crop_mode, s.orientation_mode);
                (plan(&s, shared.presence.in_channel()), s.encode, s.preview || s.local_video, s.preview_mirrored(), shape)
            };
            shared.video.mirror.store(shape.0, Relaxed);
            shared.video.crop_mode.store(shape.1, Relaxed);
            shared.video.orientation_mode.store(shape.2, Relaxed);
            shared.video.preview.store(preview, Relaxed);
            *lock(&shared.video.params) = encode;
            if let Some(sc) = &plan.screen {
                *lock(&shared.screen.params) = sc.encode;
            }
            shared.screen.preview.store(true, Relaxed);
            shared.slots.get(StreamKey::Local).mirrored.store(mirrored, Relaxed);
            local.apply(&shared, &plan);
        }
        drop(audio_watch);
        local.stop(&shared);
        drop(watch);
        tracing::debug!("device thread stopped");
    })
}

impl LocalMedia {
    fn apply(&mut self, shared: &Arc<Shared>, plan: &Plan) {
        let fail = |what: &'static str, e: EngineError| {
            tracing::error!("{e}");
            let code = if matches!(e, EngineError::Device { .. }) { error::ERR_DEVICE_NOT_FOUND } else { e.code() };
            shared.emit(EngineEvent::Error { code, msg: format!("{what}: {e}") });
        };
        if self.mic_lost.swap(false, Relaxed) {
            self.mic = None;
        }
        if self.playout_lost.swap(false, Relaxed) {
            self.playout = None;
        }
        // Stop what is no longer wanted or is open with other parameters; sources first.
        if self.camera.as_ref().is_some_and(|(k, _)| plan.camera.as_ref() != Some(k)) {
            self.camera = None;
        }
        if !plan.video_encoder {
            *lock(&shared.video_input) = None;
            self.camera = None;
            self.video = None;
            shared.slots.get(StreamKey::Local).clear();
        }
        let mic_key = plan.mic.clone().map(|id| (id, plan.mic_to_encoder));
        if self.mic.as_ref().is_some_and(|(k, _)| mic_key.as_ref() != Some(k)) {
            self.mic = None;
        }
        if self.meter.as_ref().is_some_and(|(ms, _)| plan.mic_meter_ms != Some(*ms)) {
            self.meter = None;
        }
        if self.playout_test != plan.playout_test {
            let pcm = plan.playout_test.as_deref().and_then(|path| match device::read_sound_file(path, 48_000, 2) {
                Ok(pcm) => Some((pcm, 0)),
                Err(e) => {
                    tracing::error!("playout device test: {e}");
                    shared.emit(EngineEvent::Error { code: error::ERR_INVALID_PARAM, msg: format!("playout device test: {e}") });
                    None
                }
            });
            *lock(&shared.audio.playout_test) = pcm;
            self.playout_test = plan.playout_test.clone();
        }
        {
            let mut loopback = lock(&shared.audio.loopback);
            if plan.loopback != loopback.is_some() {
                *loopback = plan.loopback.then(Default::default);
            }
        }
        if !plan.external_audio {
            *lock(&shared.audio_input) = None;
        }
        if !plan.audio_encoder {
            self.audio = None;
        }
        if self.playout.as_ref().is_some_and(|(k, _)| plan.playout.as_ref() != Some(k)) {
            self.playout = None;
        }
        if self.screen.as_ref().is_some_and(|(k, _)| plan.screen.as_ref().map(|s| &s.capture) != Some(k)) {
            self.screen = None;
        }
        if plan.screen.is_none() {
            self.screen = None;
            self.screen_video = None;
            shared.slots.get(StreamKey::LocalSub).clear();
        }
        // Start what is wanted and missing.
        if plan.video_encoder && self.video.is_none() {
            match VideoSender::start(shared.video.clone(), shared.slots.get(StreamKey::Local)) {
                Ok(v) => {
                    *lock(&shared.video_input) = Some(v.input());
                    self.video = Some(v);
                }
                Err(e) => fail("video encoder", e.into()),
            }
        }
        if let (Some(key), None, Some(video)) = (&plan.camera, &self.camera, &self.video) {
            let input = video.input();
            let (id, w, h, fps) = key;
            let (target, lost_id) = (shared.clone(), id.clone());
            let on_lost = Box::new(move |e: device::DeviceError| {
                tracing::error!("camera {lost_id} lost: {e}");
                target.emit(EngineEvent::Error { code: e.camera_code(), msg: format!("camera: {e}") });
            });
            match shared.devices.open_camera(id, (*w, *h, *fps), Box::new(move |f| input.push(f)), on_lost) {
                Ok(c) => self.camera = Some((key.clone(), c)),
                Err(source) => {
                    tracing::error!("camera {id}: {source}");
                    shared.emit(EngineEvent::Error { code: source.camera_code(), msg: format!("camera: {source}") });
                }
            }
        }
        if plan.audio_encoder && self.audio.is_none() {
            match AudioSender::start(shared.audio.clone(), shared.audio_hook()) {
                Ok(a) => self.audio = Some(a),
                Err(e) => fail("audio encoder", e.into()),
            }
        }
        if let (Some(audio), true) = (&self.audio, plan.external_audio) {
            lock(&shared.audio_input).get_or_insert_with(|| audio.input());
        }
        let encoder_input = if plan.mic_to_encoder { self.audio.as_ref().map(|a| a.input()) } else { None };
        if let (Some(key), None) = (&mic_key, &self.mic)
            && (encoder_input.is_some() || !plan.mic_to_encoder)
        {
            let ctl = shared.audio.clone();
            let on_frame = move |f: AudioFrame| {
                ctl.tap_mic(&f.samples);
                if let Some(input) = &encoder_input {
                    audio_send::push(input, f);
                }
            };
            let on_lost = audio_lost_hook(shared, &self.mic_lost, &key.0, AUDIO_RECORD);
            match shared.devices.open_record(&key.0, (48_000, 1), shared.audio.record_gain.clone(), Box::new(on_frame), on_lost) {
                Ok(m) => self.mic = Some((key.clone(), m)),
                Err(source) => fail("microphone", EngineError::Device { what: "microphone", source }),
            }
        }
        if let Some(sc) = &plan.screen {
            if self.screen_video.is_none() {
                match VideoSender::start(shared.screen.clone(), shared.slots.get(StreamKey::LocalSub)) {
                    Ok(v) => self.screen_video = Some(v),
                    Err(e) => fail("screen encoder", e.into()),
                }
            }
            if let (None, Some(v)) = (&self.screen, &self.screen_video) {
                let input = v.input();
                let events = Box::new(ScreenAbort(shared.events.clone()));
                match device::screen::open_screen(&sc.capture, shared.screen_paused.clone(), Box::new(move |f| input.push(f)), events) {
                    Ok(c) => self.screen = Some((sc.capture.clone(), c)),
                    Err(source) => fail("screen capture", EngineError::Device { what: "screen capture", source }),
                }
            }
        }
        if let (Some(ms), None) = (plan.mic_meter_ms, &self.meter) {
            let target = shared.clone();
            let tick = move |_, _| {
                let volume = target.audio.mic_level.load(Relaxed);
                target.emit(EngineEvent::LocalAudioVolumeIndication { volume });
            };
            match device::PacedThread::spawn("nertc-mic-meter", std::time::Duration::from_millis(u64::from(ms)), 1, tick) {
                Ok(t) => self.meter = Some((ms, t)),
                Err(source) => fail("device test", EngineError::Device { what: "device test", source }),
            }
        }
        // Echo cancellation processes a real microphone only; its far-end reference is what a
        // real speaker plays (the synthetic ones carry no acoustic path).
        shared.audio.apm.set_capture_active(
            self.mic.as_ref().is_some_and(|((id, to_encoder), _)| *to_encoder && id.as_str() != device::SYNTHETIC_RECORD_DEVICE_ID),
        );
        if let (Some(id), None) = (&plan.playout, &self.playout) {
            let (mixer, hook) = (shared.mixer.clone(), shared.audio_hook());
            // The echo canceller hears what the speaker plays: this engine's audio and that of
            // the channels sharing the speaker.
            let echo_reference = (id.as_str() != device::SYNTHETIC_PLAYOUT_DEVICE_ID).then(|| {
                let audio = shared.audio.clone();
                Box::new(move |out: &[i16]| audio.apm.analyze_render(out, 2)) as device::hub::OnRender
            });
            let ctl = shared.audio.clone();
            let pull = move |out: &mut [i16]| {
                mixer.pull(out, 2);
                hook.playout(out, 2);
                ctl.mix_loopback(out, 2);
                ctl.mix_playout_test(out);
            };
            let on_lost = audio_lost_hook(shared, &self.playout_lost, id, AUDIO_PLAYOUT);
            let gain = shared.audio.playout_gain.clone();
            match shared.devices.open_playout(id, (48_000, 2), gain, Box::new(pull), echo_reference, on_lost) {
                Ok(p) => self.playout = Some((id.clone(), p)),
                Err(source) => fail("speaker", EngineError::Device { what: "speaker", source }),
            }
        }
    }

    /// Stops everything (release).
    fn stop(&mut self, shared: &Shared) {
        *lock(&shared.video_input) = None;
        *lock(&shared.audio_input) = None;
        *lock(&shared.audio.loopback) = None;
        *lock(&shared.audio.playout_test) = None;
        *self = LocalMedia::default();
        shared.slots.get(StreamKey::Local).clear();
        shared.slots.get(StreamKey::LocalSub).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        let mut s = Settings::new(String::new());
        s.video_device = "cam".into();
        s.record_device = "mic".into();
        s.playout_device = "spk".into();
        s
    }

    #[test]
    fn nothing_runs_outside_a_channel_without_preview() {
        assert_eq!(plan(&settings(), false), Plan::default());
    }

    #[test]
    fn preview_runs_the_camera_without_a_channel() {
        let mut s = settings();
        s.preview = true;
        let p = plan(&s, false);
        assert!(p.video_encoder);
        assert_eq!(p.camera, Some(("cam".into(), 640, 480, 30)), "NERTC's default profile: Standard at 30 fps");
        assert!(!p.audio_encoder && p.mic.is_none() && p.playout.is_none());
    }

    #[test]
    fn in_a_channel_audio_and_playout_run_video_when_enabled() {
        let mut s = settings();
        let p = plan(&s, true);
        assert!(p.audio_encoder && !p.video_encoder);
        assert_eq!((p.mic.as_deref(), p.playout.as_deref()), (Some("mic"), Some("spk")));
        s.local_video = true;
        assert!(plan(&s, true).video_encoder);
        s.role = Role::Audience;
        let p = plan(&s, true);
        assert!(!p.video_encoder && !p.audio_encoder && p.mic.is_none(), "an audience member captures nothing");
        assert_eq!(p.playout.as_deref(), Some("spk"), "but hears the others");
    }

    #[test]
    fn external_sources_replace_devices() {
        let mut s = settings();
        s.local_video = true;
        s.external_video = true;
        s.external_audio = Some((16_000, 1));
        let p = plan(&s, true);
        assert!(p.video_encoder && p.camera.is_none());
        assert!(p.audio_encoder && p.external_audio && p.mic.is_none());
    }

    #[test]
    fn device_tests_run_the_microphone_without_a_channel() {
        let mut s = settings();
        s.record_test_ms = Some(200);
        let p = plan(&s, false);
        assert_eq!(p.mic.as_deref(), Some("mic"));
        assert!(!p.mic_to_encoder && !p.audio_encoder && p.playout.is_none() && !p.loopback);
        assert_eq!(p.mic_meter_ms, Some(200));
        s.record_test_ms = None;
        s.loopback_test_ms = Some(500);
        let p = plan(&s, false);
        assert_eq!((p.mic.as_deref(), p.playout.as_deref()), (Some("mic"), Some("spk")));
        assert!(p.loopback && p.mic_meter_ms == Some(500));
        // In a channel the same microphone also feeds the encoder (a different key: reopened).
        let p = plan(&s, true);
        assert!(p.mic_to_encoder && p.audio_encoder);
    }

    #[test]
    fn a_new_size_or_device_is_a_different_camera() {
        let mut s = settings();
        s.preview = true;
        let before = plan(&s, false).camera;
        s.encode.width = 1280;
        assert_ne!(plan(&s, false).camera, before);
    }
}
