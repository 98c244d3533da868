//! State shared by the API (JS thread), the actor and the device thread. Everything here is
//! either atomic or behind a short-held mutex; nobody holds a lock across a wait.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Sender;

use crate::audio_mixing::LocalMix;
use crate::event::{ConnectionState, EngineEvent, Events, StateReason};
use crate::frame::AudioFrame;
use crate::media::audio_recv::Mixer;
use crate::media::audio_send::AudioCtl;
use crate::media::video_send::{FrameInput, Uplink, VideoCtl};
use crate::recording::Recording;
use crate::render::Slots;
use crate::session::Presence;
use crate::settings::Settings;

pub(crate) struct Shared {
    pub app_key: String,
    pub events: Events,
    /// `getConnectionState()`: a [`ConnectionState`] as i32.
    state: AtomicI32,
    /// Whether the application wants to be in a channel (the one record of it).
    pub presence: Presence,
    pub released: AtomicBool,
    pub slots: Slots,
    pub settings: Mutex<Settings>,
    pub video: Arc<VideoCtl>,
    /// The substream (screen share) encoder's controls, as `video` for the camera.
    pub screen: Arc<VideoCtl>,
    /// `pauseScreenCapture`: the capture thread skips its ticks.
    pub screen_paused: Arc<AtomicBool>,
    pub audio: Arc<AudioCtl>,
    pub mixer: Arc<Mixer>,
    /// Mixing, effects, voice effects and earback (mixed into what is sent and played).
    pub local_mix: Arc<LocalMix>,
    /// `startAudioRecording` and `startAudioDump`.
    pub recording: Arc<Recording>,
    pub dump: Arc<Recording>,
    /// The raw PCM side of `startAudioDumpWithType` (kNERtcAudioDumpTypePCM / All).
    pub dump_raw: Arc<Recording>,
    /// `addLiveStreamTask`'s tasks.
    pub live: Arc<crate::live::LiveStreams>,
    /// Where pushed external frames go while an encoder runs (set by the device thread).
    pub video_input: Mutex<Option<FrameInput>>,
    pub audio_input: Mutex<Option<Sender<AudioFrame>>>,
    /// `enableLocalData` / `sendData`'s limits.
    pub data: crate::data::DataCtl,
    /// Camera, microphone and speaker, shared with the channels made from this engine.
    pub devices: Arc<crate::device::hub::DeviceHub>,
    /// Wakes the device thread to bring local media in line (bounded 1: coalesces).
    wake_devices: Sender<()>,
}

/// Locks a mutex, recovering from a poisoned one (a panicking holder cannot leave these
/// plain-data values half-updated in a way that matters more than stopping would).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn new(
        app_key: String,
        events: Events,
        settings: Settings,
        devices: Arc<crate::device::hub::DeviceHub>,
        wake_devices: Sender<()>,
    ) -> Self {
        let uplink = Arc::new(Uplink::default());
        let live: Arc<crate::live::LiveStreams> = Arc::default();
        let mixer = Mixer::new();
        let _ = mixer.live.set(live.clone());
        Shared {
            app_key,
            state: AtomicI32::new(ConnectionState::Disconnected as i32),
            presence: Presence::default(),
            released: AtomicBool::new(false),
            slots: Slots::default(),
            settings: Mutex::new(settings),
            video: Arc::new(VideoCtl { uplink: uplink.clone(), ..VideoCtl::default() }),
            screen: Arc::new(VideoCtl { uplink, ..VideoCtl::default() }),
            screen_paused: Arc::new(AtomicBool::new(false)),
            audio: Arc::new(AudioCtl::default()),
            mixer,
            local_mix: LocalMix::new(events.clone()),
            recording: Arc::new(Recording::new(Some(events.clone()))),
            dump: Arc::new(Recording::new(None)),
            dump_raw: Arc::new(Recording::new(None)),
            live,
            video_input: Mutex::new(None),
            audio_input: Mutex::new(None),
            data: crate::data::DataCtl::default(),
            devices,
            wake_devices,
            events,
        }
    }

    /// The hook the audio encoder and the speaker call.
    pub fn audio_hook(&self) -> Arc<crate::audio_mixing::LocalAudioHook> {
        Arc::new(crate::audio_mixing::LocalAudioHook {
            mix: self.local_mix.clone(),
            recording: self.recording.clone(),
            dumps: [self.dump.clone(), self.dump_raw.clone()],
            live: self.live.clone(),
        })
    }

    /// Asks the device thread to bring capture, encoders and playout in line with the settings
    /// and the presence. Never waits: a refresh already pending covers this one.
    pub fn refresh_devices(&self) {
        let _ = self.wake_devices.try_send(());
    }

    pub fn emit(&self, ev: EngineEvent) {
        self.events.send(ev);
    }

    pub fn settings(&self) -> MutexGuard<'_, Settings> {
        lock(&self.settings)
    }

    pub fn connection_state(&self) -> i32 {
        self.state.load(Relaxed)
    }

    /// Moves to `state`, firing `onConnectionStateChange` when it changes.
    pub fn set_state(&self, state: ConnectionState, reason: StateReason) {
        self.set_state_after(state, reason, None);
    }

    /// Moves to `state`, then fires `cause` (if any) and `onConnectionStateChange` (if the
    /// state changed), in that order: a handler of `cause` already reads the new state.
    pub fn set_state_after(&self, state: ConnectionState, reason: StateReason, cause: Option<EngineEvent>) {
        let old = self.state.swap(state as i32, Relaxed);
        if let Some(e) = cause {
            self.emit(e);
        }
        if old != state as i32 {
            self.emit(EngineEvent::ConnectionStateChange { state, reason });
        }
    }
}
