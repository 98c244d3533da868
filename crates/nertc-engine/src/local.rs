//! Local media: capture devices, encoder threads and playout, owned by one "nertc-devices"
//! thread so that opening or closing a device (which can take long on real hardware) never
//! runs on the JS thread or the actor. Anyone changes the settings or the presence, then
//! wakes the thread ([`Shared::refresh_devices`]); it computes a [`Plan`] from the current
//! state and applies it. Wake-ups coalesce (a bounded(1) queue), so a burst of calls costs
//! one pass. Open failures are reported as `onError`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

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
    /// Microphone id (None with an external audio source).
    pub mic: Option<String>,
    pub external_audio: bool,
    pub playout: Option<String>,
    /// The screen share (capture and substream encoder).
    pub screen: Option<ScreenShare>,
}

/// The local media wanted for these settings, in a channel or not.
pub fn plan(s: &Settings, in_channel: bool) -> Plan {
    let broadcaster = s.role == Role::Broadcaster;
    let video_encoder = s.preview || (in_channel && s.local_video && broadcaster);
    let audio_encoder = in_channel && s.local_audio && broadcaster;
    let p = s.encode;
    Plan {
        video_encoder,
        camera: (video_encoder && !s.external_video).then(|| (s.video_device.clone(), p.width, p.height, p.fps)),
        audio_encoder,
        mic: (audio_encoder && s.external_audio.is_none()).then(|| s.record_device.clone()),
        external_audio: audio_encoder && s.external_audio.is_some(),
        playout: in_channel.then(|| s.playout_device.clone()),
        screen: s.screen.clone().filter(|_| in_channel && broadcaster),
    }
}

/// Field order is drop order: sources (camera, mic) hold senders into the encoder threads,
/// which exit only once every sender is gone, so sources drop first.
#[derive(Default)]
struct LocalMedia {
    camera: Option<((String, u32, u32, u32), device::VideoCapture)>,
    screen: Option<(device::screen::ScreenParams, device::screen::ScreenCapture)>,
    mic: Option<(String, device::AudioCapture)>,
    playout: Option<(String, device::AudioPlayout)>,
    video: Option<VideoSender>,
    screen_video: Option<VideoSender>,
    audio: Option<AudioSender>,
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
        local.stop(&shared);
        tracing::debug!("device thread stopped");
    })
}

impl LocalMedia {
    fn apply(&mut self, shared: &Shared, plan: &Plan) {
        let fail = |what: &'static str, e: EngineError| {
            tracing::error!("{e}");
            let code = if matches!(e, EngineError::Device { .. }) { error::ERR_DEVICE_NOT_FOUND } else { e.code() };
            shared.emit(EngineEvent::Error { code, msg: format!("{what}: {e}") });
        };
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
        if self.mic.as_ref().is_some_and(|(k, _)| plan.mic.as_ref() != Some(k)) {
            self.mic = None;
        }
        if !plan.external_audio {
            *lock(&shared.audio_input) = None;
        }
        if !plan.audio_encoder {
            self.mic = None;
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
            match device::open_camera(id, *w, *h, *fps, Box::new(move |f| input.push(f))) {
                Ok(c) => self.camera = Some((key.clone(), c)),
                Err(source) => fail("camera", EngineError::Device { what: "camera", source }),
            }
        }
        if plan.audio_encoder && self.audio.is_none() {
            match AudioSender::start(shared.audio.clone()) {
                Ok(a) => self.audio = Some(a),
                Err(e) => fail("audio encoder", e.into()),
            }
        }
        if let Some(audio) = &self.audio {
            if plan.external_audio {
                lock(&shared.audio_input).get_or_insert_with(|| audio.input());
            }
            if let (Some(id), None) = (&plan.mic, &self.mic) {
                let input = audio.input();
                match device::open_record(id, 48_000, 1, Box::new(move |f: AudioFrame| audio_send::push(&input, f))) {
                    Ok(m) => self.mic = Some((id.clone(), m)),
                    Err(source) => fail("microphone", EngineError::Device { what: "microphone", source }),
                }
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
        if let (Some(id), None) = (&plan.playout, &self.playout) {
            let mixer = shared.mixer.clone();
            match device::open_playout(id, 48_000, 2, Box::new(move |out: &mut [i16]| mixer.pull(out, 2))) {
                Ok(p) => self.playout = Some((id.clone(), p)),
                Err(source) => fail("speaker", EngineError::Device { what: "speaker", source }),
            }
        }
    }

    /// Stops everything (release).
    fn stop(&mut self, shared: &Shared) {
        *lock(&shared.video_input) = None;
        *lock(&shared.audio_input) = None;
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
        assert_eq!(p.camera, Some(("cam".into(), 640, 480, 15)));
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
    fn a_new_size_or_device_is_a_different_camera() {
        let mut s = settings();
        s.preview = true;
        let before = plan(&s, false).camera;
        s.encode.width = 1280;
        assert_ne!(plan(&s, false).camera, before);
    }
}
