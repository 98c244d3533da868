//! The engine's API: synchronous, NERTC-shaped, every method returns a NERTC code at once.
//! Methods validate, update the [`Settings`], then wake the device thread and/or queue a
//! command for the actor; none waits on the network or a device. Internally they return
//! [`Result`]; [`code`] turns it into the NERTC code (and logs the failure) in one place.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use nertc_protocol::{MediaKind, TrackSource, Uid};
use tokio::sync::{mpsc, oneshot};

use crate::actor::{self, Cmd};
use crate::audio_mixing::dsp::ReverbParam;
use crate::audio_mixing::{LocalMix, MixError, MixOptions, presets};
use crate::device::screen::{self, Rect, ScreenParams, ScreenSource, ScreenSourceInfo};
use crate::device::{self, DeviceInfo};
use crate::error::{self, Code, EngineError, Result};
use crate::error::{ERR_SCREEN_NOT_READY, ERR_SCREEN_PARAM, ERR_SCREEN_STATE};
use crate::event::screen_status;
use crate::event::{EngineEvent, Events};
use crate::frame::{AudioFrame, VideoFrame};
use crate::live::{LiveError, LiveTaskInfo};
use crate::media::video_send::{Degradation, EncodeParams};
use crate::recording::{RecordError, RecordingConfig};
use crate::render::{FrameSlot, StreamKey};
use crate::session::JoinParams;
use crate::settings::{ChannelProfile, Role, ScreenShare, Settings, VideoConfig, resolve_video_config};
use crate::shared::{Shared, lock};

/// Commands the actor may be behind before calls fail with `ERR_BUSY`.
pub const COMMAND_QUEUE: usize = 256;
/// `sendSEIMsg` messages that may wait for pictures per stream (NERTC sends one within 5 frames).
pub const SEI_QUEUE: usize = 5;

/// What `initialize` needs.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub app_key: String,
    /// `ws://host:port` of the room server.
    pub server_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    I420,
    Rgba,
}

/// A frame pushed by the application (`pushExternalVideoFrame`).
#[derive(Debug, Clone)]
pub struct ExternalVideoFrame {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
    pub timestamp_ms: u64,
}

/// The engine. Cheap to call from the JS thread: no method blocks on the network or a device
/// (except [`Engine::release`], which the binding runs on its own thread).
pub struct Engine {
    shared: Arc<Shared>,
    cmd: mpsc::Sender<Cmd>,
    release: std::sync::Mutex<Option<oneshot::Sender<std::sync::mpsc::Sender<()>>>>,
    runtime: std::sync::Mutex<Option<tokio::runtime::Runtime>>,
    devices: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The channel of the last join or switch (a switch to it is refused).
    current_channel: std::sync::Mutex<Option<String>>,
}

pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn mix_error(e: MixError) -> EngineError {
    match e {
        MixError::InvalidParam(m) => EngineError::InvalidParam(m),
        MixError::NotPlaying => EngineError::WrongState("no such mixing or effect playing"),
    }
}

fn record_error(e: RecordError) -> EngineError {
    match e {
        RecordError::InvalidParam(m) => EngineError::InvalidParam(m),
        RecordError::Unsupported(_) => EngineError::NotSupported("AAC recording (built without the `aac` feature)"),
        RecordError::NotRecording => EngineError::WrongState("not recording"),
    }
}

fn live_error(e: LiveError) -> EngineError {
    match e {
        LiveError::NotJoined => EngineError::WrongState("live streaming needs a channel"),
        LiveError::TooMany => EngineError::WrongState("too many live stream tasks"),
        LiveError::Unsupported => EngineError::NotSupported("live streaming (built without the `aac` feature)"),
        e => EngineError::InvalidParam(e.to_string()),
    }
}

/// NERTC's `NERtcAudioDumpType`.
const DUMP_PCM: i32 = 0;
const DUMP_WAV: i32 = 2;

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The NERTC code for an outcome; failures are logged here, once.
fn code(what: &str, r: Result<()>) -> Code {
    match r {
        Ok(()) => error::OK,
        Err(e) => {
            match e {
                EngineError::Released => tracing::debug!("{what}: {e}"),
                _ => tracing::error!("{what}: {e}"),
            }
            e.code()
        }
    }
}

/// What a NERTC method this SDK does not have returns: `ERR_NOT_SUPPORTED` (30004), logged at
/// warn level when `first` (the binding passes true for an engine's first call of each such
/// method), else at debug level, so an app calling one in a loop does not flood the log. Needs
/// no engine: the binding calls it whether or not one is initialized.
pub fn not_supported(method: &str, first: bool) -> Code {
    if first {
        tracing::warn!("{method}: not supported by this SDK, returns {}", error::ERR_NOT_SUPPORTED);
    } else {
        tracing::debug!("{method}: not supported");
    }
    error::ERR_NOT_SUPPORTED
}

impl Engine {
    pub fn new(opts: EngineOptions) -> std::result::Result<(Engine, crossbeam_channel::Receiver<EngineEvent>), Code> {
        Self::with_devices(opts, crate::device::hub::DeviceHub::new())
    }

    /// An engine for a `NERtcChannel` made from this one (`createChannel`): its own session,
    /// settings and events, this engine's camera, microphone and speaker
    /// ([`crate::device::hub`]).
    pub fn new_channel(&self, opts: EngineOptions) -> std::result::Result<(Engine, crossbeam_channel::Receiver<EngineEvent>), Code> {
        Self::with_devices(opts, self.shared.devices.clone())
    }

    fn with_devices(
        opts: EngineOptions,
        devices: Arc<crate::device::hub::DeviceHub>,
    ) -> std::result::Result<(Engine, crossbeam_channel::Receiver<EngineEvent>), Code> {
        if opts.app_key.is_empty() {
            tracing::error!("initialize: app_key is empty");
            return Err(error::ERR_INVALID_PARAM);
        }
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("nertc-engine").enable_all().build().map_err(
                |e| {
                    tracing::error!("cannot start the engine runtime: {e}");
                    error::ERR_FATAL
                },
            )?;
        let (events, rx) = Events::channel();
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared::new(opts.app_key, events, Settings::new(opts.server_url), devices, wake_tx));
        let devices = crate::local::start(shared.clone(), wake_rx).map_err(|e| {
            tracing::error!("cannot start the device thread: {e}");
            error::ERR_FATAL
        })?;
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (release_tx, release_rx) = oneshot::channel();
        runtime.spawn(actor::run(shared.clone(), cmd_rx, release_rx));
        let engine = Engine {
            shared,
            cmd: cmd_tx,
            release: std::sync::Mutex::new(Some(release_tx)),
            runtime: std::sync::Mutex::new(Some(runtime)),
            devices: std::sync::Mutex::new(Some(devices)),
            current_channel: std::sync::Mutex::new(None),
        };
        Ok((engine, rx))
    }

    /// Runs an API call on a live engine and turns its outcome into the NERTC code.
    fn call(&self, what: &str, f: impl FnOnce() -> Result<()>) -> Code {
        code(what, self.alive().and_then(|()| f()))
    }

    fn alive(&self) -> Result<()> {
        if self.shared.released.load(Relaxed) { Err(EngineError::Released) } else { Ok(()) }
    }

    fn send(&self, cmd: Cmd) -> Result<()> {
        self.cmd.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => EngineError::Busy,
            mpsc::error::TrySendError::Closed(_) => EngineError::Released,
        })
    }

    /// Leaves the channel (firing `onLeaveChannel`), stops every thread, closes devices.
    /// Safe to call twice and in any state. Blocks up to a few seconds: call it off the JS
    /// thread.
    pub fn release(&self) {
        if self.shared.released.swap(true, Relaxed) {
            return;
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if let Some(release) = lock(&self.release).take() {
            let _ = release.send(done_tx);
        }
        // The actor leaves the channel and waits (≤ 1 s) for the peer connections to close.
        let _ = done_rx.recv_timeout(Duration::from_secs(3));
        self.shared.local_mix.release();
        self.shared.recording.release();
        self.shared.dump.release();
        self.shared.dump_raw.release();
        self.shared.live.release();
        self.shared.refresh_devices();
        if let Some(devices) = lock(&self.devices).take() {
            let _ = devices.join();
        }
        if let Some(rt) = lock(&self.runtime).take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }

    /// 0 communication, 1 live broadcasting; before joining only (NERTC: 30005 in a channel),
    /// kept after leaving. Roles apply in the live profile only; the join sends the role that
    /// applies, not the profile (see [`ChannelProfile`]).
    pub fn set_channel_profile(&self, profile: i32) -> Code {
        self.call("setChannelProfile", || {
            let profile =
                ChannelProfile::from_nertc(profile).ok_or_else(|| EngineError::InvalidParam(format!("channel profile {profile}")))?;
            if self.shared.presence.in_channel() {
                return Err(EngineError::WrongState("setChannelProfile while in a channel"));
            }
            {
                let mut s = self.shared.settings();
                let client_role = s.client_role;
                s.set_role(profile, client_role);
            }
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// `enableEncryption(enable, {mode, key})`: media encryption end to end for the next call
    /// ([`crate::crypto`]). NERTC's rules: before joining only (30005 in a channel); every
    /// member must use the same mode and key (media that does not decrypt is dropped and
    /// reported as 30113 through onError); leaving turns it off. Mode 0 (SM4) only: the custom
    /// mode 1 needs a native packet observer (30004); an empty key or another mode is 30003.
    /// `enable` false turns it off (mode and key are not looked at).
    pub fn enable_encryption(&self, enable: bool, mode: i32, key: &str) -> Code {
        self.call("enableEncryption", || {
            if self.shared.presence.in_channel() {
                return Err(EngineError::WrongState("enableEncryption while in a channel"));
            }
            let key = if enable { Some(Arc::new(crate::crypto::MediaKey::new(mode, key)?)) } else { None };
            tracing::info!(enable, mode, "media encryption");
            self.shared.settings().encryption = key;
            Ok(())
        })
    }

    /// Whether `enableEncryption` is on for the next (or current) call.
    pub fn encryption_enabled(&self) -> bool {
        self.shared.settings().encryption.is_some()
    }

    /// The channel profile set (NERTC's value: 0 communication, the default, 1 live).
    pub fn channel_profile(&self) -> i32 {
        self.shared.settings().channel_profile as i32
    }

    pub fn set_client_role(&self, role: i32) -> Code {
        self.call("setClientRole", || {
            let role = match role {
                0 => Role::Broadcaster,
                1 => Role::Audience,
                _ => return Err(EngineError::InvalidParam(format!("role {role}"))),
            };
            let (old, new) = {
                let mut s = self.shared.settings();
                let (profile, old) = (s.channel_profile, s.role);
                s.set_role(profile, role);
                if profile == ChannelProfile::Communication && role == Role::Audience {
                    tracing::info!("setClientRole(audience): kept, applies in the live profile only (setChannelProfile(1))");
                }
                (old, s.role)
            };
            self.shared.refresh_devices();
            self.send(Cmd::Republish)?;
            // The actor tells the server (set_role) in the order that keeps an audience member
            // from publishing: unpublish first when leaving the broadcasters, set_role first
            // when joining them.
            if old != new && self.shared.presence.in_channel() {
                self.shared.emit(EngineEvent::ClientRoleChanged { old_role: old as i32, new_role: new as i32 });
            }
            Ok(())
        })
    }

    pub fn join_channel(&self, token: Option<String>, channel: &str, uid: u64) -> Code {
        self.join_channel_named(token, channel, uid, "")
    }

    /// `joinChannelWithOptions`: as [`Engine::join_channel`]; `custom_info` (at most 127
    /// characters, NERTC's limit) is the name the others get in `onUserJoined`.
    pub fn join_channel_with_options(&self, token: Option<String>, channel: &str, uid: u64, custom_info: &str) -> Code {
        if custom_info.chars().count() > 127 {
            return code("joinChannelWithOptions", Err(EngineError::InvalidParam("custom_info longer than 127 characters".into())));
        }
        self.join_channel_named(token, channel, uid, custom_info)
    }

    fn join_channel_named(&self, token: Option<String>, channel: &str, uid: u64, name: &str) -> Code {
        self.call("joinChannel", || {
            nertc_protocol::validate::channel_name(channel).map_err(|e| EngineError::InvalidParam(e.to_string()))?;
            if !nertc_protocol::validate::uid(uid) {
                return Err(EngineError::InvalidParam("uid must be non-zero".into()));
            }
            let generation = self.shared.presence.begin_join()?;
            let (url, role) = {
                let s = self.shared.settings();
                (s.server_url.clone(), s.role.wire())
            };
            let token = token.filter(|t| !t.is_empty());
            let params = JoinParams { generation, url, token, channel: channel.to_owned(), uid, role, name: name.to_owned() };
            if let Err(e) = self.send(Cmd::Join { params, started: Instant::now() }) {
                self.shared.presence.end(generation);
                return Err(e);
            }
            *lock(&self.current_channel) = Some(channel.to_owned());
            self.shared.live.set_local_uid(uid);
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// `sendSEIMsg` / `sendSEIMsgWithType`: `data` (1..=4096 bytes) goes with the next encoded
    /// picture of the main stream (`stream_type` 0) or the substream (1) as an H.264 SEI NAL
    /// unit (`user_data_unregistered`), and with the keyframes of the next second
    /// ([`crate::codec::sei`]); receivers get `onRecvSEIMsg` once. The stream must be being
    /// sent (30005 otherwise); at most [`SEI_QUEUE`] messages wait for pictures (30901 beyond:
    /// NERTC advises at most 10 a second, at most the frame rate).
    pub fn send_sei_msg(&self, data: &[u8], stream_type: i32) -> Code {
        self.call("sendSEIMsg", || {
            if data.is_empty() || data.len() > crate::codec::sei::MAX_DATA {
                return Err(EngineError::InvalidParam(format!("SEI data of {} bytes (1..=4096)", data.len())));
            }
            let ctl = match stream_type {
                0 => &self.shared.video,
                1 => &self.shared.screen,
                t => return Err(EngineError::InvalidParam(format!("stream type {t}"))),
            };
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            if lock(&ctl.sink).is_none() {
                return Err(EngineError::WrongState("sendSEIMsg: that video stream is not being sent"));
            }
            let mut queue = lock(&ctl.sei);
            if queue.len() >= SEI_QUEUE {
                return Err(EngineError::Busy);
            }
            queue.push_back(data.to_vec());
            Ok(())
        })
    }

    /// `updatePermissionKey`: a new token (NERTC's permission key) for the session; the result
    /// comes as `onUpdatePermissionKey(key, code, time)`. In a channel only (30101 outside).
    pub fn update_permission_key(&self, key: &str) -> Code {
        self.call("updatePermissionKey", || {
            if key.is_empty() || key.len() > nertc_protocol::MAX_TOKEN_BYTES {
                return Err(EngineError::InvalidParam(format!("permission key of {} bytes", key.len())));
            }
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.send(Cmd::RenewToken { token: key.to_owned() })
        })
    }

    pub fn leave_channel(&self) -> Code {
        self.call("leaveChannel", || {
            self.shared.presence.begin_leave()?;
            self.call_ends();
            // NERTC turns media encryption off when the application leaves.
            self.shared.settings().encryption = None;
            self.shared.refresh_devices();
            self.send(Cmd::Leave)
        })
    }

    /// What ends with a call on the API side (leaving or switching).
    fn call_ends(&self) {
        // Mixing, effects and recording end with the channel (no events for the mixing and
        // effects; the recording fires onAudioRecording(5) once its file is complete).
        self.shared.local_mix.stop_all();
        let _ = self.shared.recording.stop();
        // Live streams end with the channel (each fires onLiveStreamState(511)).
        self.shared.live.stop_all();
        // A screen share ends with the channel.
        if self.shared.settings().screen.take().is_some() {
            self.shared.emit(EngineEvent::ScreenCaptureStatus { status: screen_status::STOP });
        }
        self.shared.data.enabled.store(false, Relaxed);
    }

    /// `switchChannel`, `switchChannelWithOptions(Ex)`: from the channel we are in to
    /// `channel`, same uid and role: `onLeaveChannel(0)`, then `onJoinChannel` (the others get
    /// `onUserLeft` / `onUserJoined` as NERTC says, for a broadcaster; an audience member is
    /// unseen). NERTC allows it to an audience member in the live profile only: 30005 for
    /// anyone else; 30101 outside a channel; 30100 for the channel we are in. `name`
    /// (`custom_info`, at most 127 characters) replaces the name others see; None keeps it.
    pub fn switch_channel(&self, token: Option<String>, channel: &str, name: Option<&str>) -> Code {
        self.call("switchChannel", || {
            nertc_protocol::validate::channel_name(channel).map_err(|e| EngineError::InvalidParam(e.to_string()))?;
            if name.is_some_and(|n| n.chars().count() > 127) {
                return Err(EngineError::InvalidParam("custom_info longer than 127 characters".into()));
            }
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            if self.shared.settings().role != Role::Audience {
                return Err(EngineError::WrongState("switchChannel: NERTC allows it to the audience of a live channel only"));
            }
            if lock(&self.current_channel).as_deref() == Some(channel) {
                return Err(EngineError::AlreadyJoined);
            }
            self.shared.presence.begin_leave()?;
            self.call_ends();
            let generation = self.shared.presence.begin_join()?;
            let cmd = Cmd::Switch {
                generation,
                token: token.filter(|t| !t.is_empty()),
                channel: channel.to_owned(),
                name: name.map(str::to_owned),
                started: Instant::now(),
            };
            if let Err(e) = self.send(cmd) {
                self.shared.presence.end(generation);
                return Err(e);
            }
            *lock(&self.current_channel) = Some(channel.to_owned());
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn connection_state(&self) -> i32 {
        self.shared.connection_state()
    }

    /// Honoured keys: NERTC's `auto_subscribe_audio` (bool, default true: a remote user's audio
    /// is subscribed when it starts), `log_level` (0..=7), `video_sendonpub_type` 1 (send the
    /// one stream we have: NERTC's default), the audio processing switches (bools, all but the
    /// last on by default) `audio_processing_aec_enable`, `audio_processing_ns_enable`,
    /// `audio_processing_agc_enable`, `audio_processing_earphone`; ours: `server_url` (string),
    /// `auto_subscribe_video` (bool). Everything else NERTC lists there (`record_*` server
    /// recording, `publish_self_stream_enabled`, `video_sendonpub_type` 0/2/3 without a small
    /// stream) and unknown keys are not applied: 30004 (the honoured keys of the same call are
    /// applied). A known key with a value of the wrong type: 30003, nothing applied.
    pub fn set_parameters(&self, json: &str) -> Code {
        use serde_json::Value;
        self.call("setParameters", || {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
                return Err(EngineError::InvalidParam("not a JSON object".into()));
            };
            enum Apply {
                ServerUrl(String),
                AutoVideo(bool),
                AutoAudio(bool),
                LogLevel(i32),
                Apm(fn(&mut crate::audio_processing::ApmConfig, bool), bool),
                Nothing,
            }
            let bad = |k: &str| EngineError::InvalidParam(format!("setParameters: {k} has a value of the wrong type"));
            let mut apply = Vec::new();
            let mut refused = Vec::new();
            for (k, v) in &map {
                let a = match (k.as_str(), v) {
                    ("server_url", Value::String(url)) => Apply::ServerUrl(url.clone()),
                    ("auto_subscribe_video", Value::Bool(b)) => Apply::AutoVideo(*b),
                    ("auto_subscribe_audio", Value::Bool(b)) => Apply::AutoAudio(*b),
                    ("log_level", Value::Number(n)) => match n.as_i64() {
                        Some(l @ 0..=7) => Apply::LogLevel(l as i32),
                        _ => return Err(bad(k)),
                    },
                    ("audio_processing_aec_enable", Value::Bool(b)) => Apply::Apm(|c, b| c.aec = b, *b),
                    ("audio_processing_ns_enable", Value::Bool(b)) => Apply::Apm(|c, b| c.ns = b, *b),
                    ("audio_processing_agc_enable", Value::Bool(b)) => Apply::Apm(|c, b| c.agc = b, *b),
                    ("audio_processing_earphone", Value::Bool(b)) => Apply::Apm(|c, b| c.earphone = b, *b),
                    ("video_sendonpub_type", Value::Number(n)) => match n.as_i64() {
                        Some(1) => Apply::Nothing,
                        Some(0..=3) => {
                            refused.push(k.clone());
                            Apply::Nothing
                        }
                        _ => return Err(bad(k)),
                    },
                    (
                        "server_url"
                        | "auto_subscribe_video"
                        | "auto_subscribe_audio"
                        | "log_level"
                        | "video_sendonpub_type"
                        | "audio_processing_aec_enable"
                        | "audio_processing_ns_enable"
                        | "audio_processing_agc_enable"
                        | "audio_processing_earphone",
                        _,
                    ) => {
                        return Err(bad(k));
                    }
                    _ => {
                        refused.push(k.clone());
                        Apply::Nothing
                    }
                };
                apply.push(a);
            }
            {
                let mut s = self.shared.settings();
                for a in apply {
                    match a {
                        Apply::ServerUrl(url) => s.server_url = url,
                        Apply::AutoVideo(b) => s.auto_subscribe_video = b,
                        Apply::AutoAudio(b) => s.auto_subscribe_audio = b,
                        Apply::LogLevel(l) => crate::logging::set_level(l),
                        Apply::Apm(set, on) => self.shared.audio.apm.update(|c| set(c, on)),
                        Apply::Nothing => {}
                    }
                }
            }
            if refused.is_empty() {
                Ok(())
            } else {
                tracing::warn!("setParameters: not supported, not applied: {refused:?}");
                Err(EngineError::NotSupported("setParameters key"))
            }
        })
    }

    /// `setAudioProfile(profile, scenario)`: the scenario picks the audio processing preset
    /// ([`crate::audio_processing::ApmConfig::for_scenario`]); the profile (0-6) is checked and
    /// logged, the codec keeps its 48 kHz mono 32 kbit/s Opus (stereo profiles are not sent as
    /// stereo). 30003 for a value outside NERTC's enums.
    pub fn set_audio_profile(&self, profile: i32, scenario: i32) -> Code {
        self.call("setAudioProfile", || {
            if !(0..=6).contains(&profile) {
                return Err(EngineError::InvalidParam(format!("audio profile {profile} is not 0-6")));
            }
            let apm = &self.shared.audio.apm;
            let config = apm
                .config()
                .for_scenario(scenario)
                .ok_or_else(|| EngineError::InvalidParam(format!("audio scenario {scenario} is not 0-2")))?;
            tracing::info!(profile, scenario, "setAudioProfile");
            apm.set_config(config);
            Ok(())
        })
    }

    /// The audio processing that applies to a real microphone (what `setAudioProfile` and
    /// `setParameters` made of it).
    pub fn audio_processing(&self) -> crate::audio_processing::ApmConfig {
        self.shared.audio.apm.config()
    }

    /// `setRecordDeviceVolume` (0-255, 255 = unity): the microphone's gain, kept across device
    /// changes. 30003 outside 0-255.
    pub fn set_record_device_volume(&self, volume: i32) -> Code {
        self.call("setRecordDeviceVolume", || {
            self.shared.audio.record_gain.set_volume(device_volume(volume)?);
            Ok(())
        })
    }

    pub fn record_device_volume(&self) -> u32 {
        self.shared.audio.record_gain.volume()
    }

    /// `setPlayoutDeviceVolume` (0-255, 255 = unity): the speaker's gain.
    pub fn set_playout_device_volume(&self, volume: i32) -> Code {
        self.call("setPlayoutDeviceVolume", || {
            self.shared.audio.playout_gain.set_volume(device_volume(volume)?);
            Ok(())
        })
    }

    pub fn playout_device_volume(&self) -> u32 {
        self.shared.audio.playout_gain.volume()
    }

    pub fn set_record_device_mute(&self, mute: bool) -> Code {
        self.call("setRecordDeviceMute", || {
            self.shared.audio.record_gain.set_muted(mute);
            Ok(())
        })
    }

    pub fn record_device_mute(&self) -> bool {
        self.shared.audio.record_gain.muted()
    }

    pub fn set_playout_device_mute(&self, mute: bool) -> Code {
        self.call("setPlayoutDeviceMute", || {
            self.shared.audio.playout_gain.set_muted(mute);
            Ok(())
        })
    }

    pub fn playout_device_mute(&self) -> bool {
        self.shared.audio.playout_gain.muted()
    }

    /// `startRecordDeviceTest(interval)`: runs the microphone (in a channel or not) and reports
    /// its level as `onLocalAudioVolumeIndication` every `interval` ms (100-10000).
    pub fn start_record_device_test(&self, interval_ms: i32) -> Code {
        self.call("startRecordDeviceTest", || {
            let ms = test_interval(interval_ms)?;
            self.shared.settings().record_test_ms = Some(ms);
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn stop_record_device_test(&self) -> Code {
        self.call("stopRecordDeviceTest", || {
            self.shared.settings().record_test_ms = None;
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// `startPlayoutDeviceTest(path)`: the speaker plays a WAV file in a loop (in a channel or
    /// not, mixed with the call). 30003 when the file does not exist; a file that is not a
    /// readable WAV is reported as `onError(30003)`.
    pub fn start_playout_device_test(&self, path: &str) -> Code {
        self.call("startPlayoutDeviceTest", || {
            if path.is_empty() || !std::path::Path::new(path).is_file() {
                return Err(EngineError::InvalidParam(format!("no file {path:?}")));
            }
            self.shared.settings().playout_test = Some(path.to_owned());
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn stop_playout_device_test(&self) -> Code {
        self.call("stopPlayoutDeviceTest", || {
            self.shared.settings().playout_test = None;
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// `startAudioDeviceLoopbackTest(interval)`: the microphone plays on the speaker (at most
    /// 200 ms behind) and its level is reported every `interval` ms (100-10000).
    pub fn start_audio_device_loopback_test(&self, interval_ms: i32) -> Code {
        self.call("startAudioDeviceLoopbackTest", || {
            let ms = test_interval(interval_ms)?;
            self.shared.settings().loopback_test_ms = Some(ms);
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn stop_audio_device_loopback_test(&self) -> Code {
        self.call("stopAudioDeviceLoopbackTest", || {
            self.shared.settings().loopback_test_ms = None;
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn set_video_config(&self, cfg: &VideoConfig) -> Code {
        self.call("setVideoConfig", || {
            let encode = resolve_video_config(cfg)?;
            {
                let mut s = self.shared.settings();
                s.encode = encode;
                s.encode_mirror = cfg.mirror_mode == 1;
                s.crop_mode = cfg.crop_mode;
                s.orientation_mode = cfg.orientation_mode;
            }
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// Applies a capture setting, then brings capture and the published tracks in line.
    fn set_capture(&self, what: &str, apply: impl FnOnce(&mut Settings)) -> Code {
        self.call(what, || {
            apply(&mut self.shared.settings());
            self.shared.refresh_devices();
            self.send(Cmd::Republish)
        })
    }

    pub fn start_video_preview(&self) -> Code {
        self.set_capture("startVideoPreview", |s| s.preview = true)
    }

    pub fn stop_video_preview(&self) -> Code {
        self.set_capture("stopVideoPreview", |s| s.preview = false)
    }

    pub fn enable_local_video(&self, enabled: bool) -> Code {
        self.set_capture("enableLocalVideo", |s| s.local_video = enabled)
    }

    pub fn enable_local_audio(&self, enabled: bool) -> Code {
        self.set_capture("enableLocalAudio", |s| s.local_audio = enabled)
    }

    pub fn set_external_video_source(&self, enabled: bool) -> Code {
        self.set_capture("setExternalVideoSource", |s| s.external_video = enabled)
    }

    fn mute(&self, source: TrackSource, muted: bool) -> Code {
        self.call("mute", || {
            match source {
                TrackSource::Camera => self.shared.video.muted.store(muted, Relaxed),
                TrackSource::Screen => self.shared.screen.muted.store(muted, Relaxed),
                TrackSource::Mic | TrackSource::ScreenAudio => self.shared.audio.muted.store(muted, Relaxed),
            }
            self.send(Cmd::Mute { source, muted })
        })
    }

    pub fn mute_local_video_stream(&self, mute: bool) -> Code {
        self.mute(TrackSource::Camera, mute)
    }

    /// `muteLocalVideoStreamWithType(1, mute)`: the screen share keeps capturing but sends no
    /// pictures (the server is told, as for the camera). A new share starts unmuted.
    pub fn mute_local_substream_video(&self, mute: bool) -> Code {
        self.mute(TrackSource::Screen, mute)
    }

    pub fn mute_local_audio_stream(&self, mute: bool) -> Code {
        self.mute(TrackSource::Mic, mute)
    }

    pub fn set_local_video_mirror_mode(&self, mode: i32) -> Code {
        self.call("setLocalVideoMirrorMode", || {
            if !(0..=2).contains(&mode) {
                return Err(EngineError::InvalidParam(format!("mirror mode {mode}")));
            }
            self.shared.settings().mirror_mode = mode;
            self.shared.refresh_devices();
            Ok(())
        })
    }

    fn set_volume(&self, what: &str, target: &std::sync::atomic::AtomicU32, volume: i32) -> Code {
        self.call(what, || {
            if !(0..=400).contains(&volume) {
                return Err(EngineError::InvalidParam(format!("volume {volume} (0..=400)")));
            }
            target.store(volume as u32, Relaxed);
            Ok(())
        })
    }

    pub fn adjust_recording_signal_volume(&self, volume: i32) -> Code {
        self.set_volume("adjustRecordingSignalVolume", &self.shared.audio.volume, volume)
    }

    pub fn adjust_playback_signal_volume(&self, volume: i32) -> Code {
        self.set_volume("adjustPlaybackSignalVolume", &self.shared.mixer.volume, volume)
    }

    fn subscribe(&self, uid: Uid, kind: MediaKind, on: bool) -> Result<()> {
        if uid == 0 {
            return Err(EngineError::InvalidParam("uid 0".into()));
        }
        if !self.shared.presence.in_channel() {
            return Err(EngineError::NotJoined);
        }
        self.send(Cmd::Subscribe { uid, kind, on })
    }

    /// `stream_type` 0 high, 1 low (the publisher's low layer in dual stream mode; its only
    /// layer otherwise), 2 none.
    pub fn subscribe_remote_video_stream(&self, uid: u64, stream_type: i32, subscribe: bool) -> Code {
        self.call("subscribeRemoteVideoStream", || {
            if !(0..=2).contains(&stream_type) {
                return Err(EngineError::InvalidParam(format!("stream type {stream_type}")));
            }
            if subscribe && stream_type != 2 && uid != 0 && self.shared.presence.in_channel() {
                self.send(Cmd::VideoLayer { uid, layer: stream_type as u8 })?;
            }
            self.subscribe(uid, MediaKind::Video, subscribe && stream_type != 2)
        })
    }

    /// `enableDualStreamMode`: publish the camera with a low layer too (a quarter of the
    /// pixels at a fifth of the bitrate), from its next publication (NERTC: call it before
    /// joining or enabling video).
    pub fn enable_dual_stream_mode(&self, enabled: bool) -> Code {
        self.call("enableDualStreamMode", || {
            self.shared.settings().dual_stream = enabled;
            Ok(())
        })
    }

    /// `setLocalPublishFallbackOption`: 0 disabled (the uplink estimate lowers the video's
    /// bitrate, frame rate and size, and never stops it), 2 audio only: the camera's video also
    /// stops while the uplink cannot carry it ([`crate::media::publish_fallback`],
    /// [`EngineEvent::LocalPublishFallbackToAudioOnly`]). Takes effect at once.
    pub fn set_local_publish_fallback_option(&self, option: i32) -> Code {
        self.call("setLocalPublishFallbackOption", || {
            if option != 0 && option != 2 {
                return Err(EngineError::InvalidParam(format!("local publish fallback option {option} (0 or 2)")));
            }
            self.shared.settings().local_fallback = option;
            Ok(())
        })
    }

    /// `setRemoteSubscribeFallbackOption`: 0 disabled, 1 the low layer while the downlink
    /// cannot carry the high one (default), 2 as 1 and then audio only while the downlink
    /// cannot carry the low layer either (the server stops the video and says so:
    /// [`EngineEvent::RemoteSubscribeFallbackToAudioOnly`]). Applies to subscriptions made from
    /// then on.
    pub fn set_remote_subscribe_fallback_option(&self, option: i32) -> Code {
        self.call("setRemoteSubscribeFallbackOption", || {
            if !(0..=2).contains(&option) {
                return Err(EngineError::InvalidParam(format!("remote subscribe fallback option {option} (0..=2)")));
            }
            self.shared.settings().remote_fallback = option;
            Ok(())
        })
    }

    pub fn subscribe_remote_audio_stream(&self, uid: u64, subscribe: bool) -> Code {
        self.call("subscribeRemoteAudioStream", || self.subscribe(uid, MediaKind::Audio, subscribe))
    }

    fn audio_list(&self, list: crate::subscribe::AudioList) -> Result<()> {
        if !self.shared.presence.in_channel() {
            return Err(EngineError::NotJoined);
        }
        self.send(Cmd::AudioList(list))
    }

    /// `subscribeAllRemoteAudioStream`: every remote user's audio on or off, users who join
    /// later included, for this call (in a channel only: 30101 outside). Unlike NERTC,
    /// `subscribeRemoteAudioStream` still turns single users on or off afterwards.
    pub fn subscribe_all_remote_audio_stream(&self, subscribe: bool) -> Code {
        self.call("subscribeAllRemoteAudioStream", || self.audio_list(crate::subscribe::AudioList::All(subscribe)))
    }

    /// `setSubscribeAudioAllowlist`: only these users' audio is received (those in the room
    /// now, NERTC's rule); an empty list ends the allowlist. In a channel only.
    pub fn set_subscribe_audio_allowlist(&self, uids: &[u64]) -> Code {
        self.call("setSubscribeAudioAllowlist", || self.audio_list(crate::subscribe::AudioList::Allow(uids.to_vec())))
    }

    /// `setSubscribeAudioBlocklist`: these users' audio is not received (those in the room
    /// now); an empty list ends the blocklist. `stream_type` 0 (the main audio stream); 1 (the
    /// audio substream, which this SDK does not have) returns 30004. In a channel only.
    pub fn set_subscribe_audio_blocklist(&self, stream_type: i32, uids: &[u64]) -> Code {
        self.call("setSubscribeAudioBlocklist", || match stream_type {
            0 => self.audio_list(crate::subscribe::AudioList::Block(uids.to_vec())),
            1 => Err(EngineError::NotSupported("the audio substream")),
            t => Err(EngineError::InvalidParam(format!("audio stream type {t}"))),
        })
    }

    /// `setAudioSubscribeOnlyBy`: only these users (those in the room now) may hear us; an
    /// empty list lets everyone again. The server enforces it: the others' subscriptions stay
    /// but carry no audio. In a channel only.
    pub fn set_audio_subscribe_only_by(&self, uids: &[u64]) -> Code {
        self.call("setAudioSubscribeOnlyBy", || {
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.send(Cmd::AudioOnlyBy(uids.to_vec()))
        })
    }

    /// `adjustUserPlaybackSignalVolume`: `uid`'s audio as played here, 0 (silent) to 100 (as
    /// received); its level in `onRemoteAudioVolumeIndication` follows. For this call, kept
    /// if the user leaves and comes back (NERTC's rule). In a channel only.
    pub fn adjust_user_playback_signal_volume(&self, uid: u64, volume: i32) -> Code {
        self.call("adjustUserPlaybackSignalVolume", || {
            if uid == 0 {
                return Err(EngineError::InvalidParam("uid 0".into()));
            }
            if !(0..=100).contains(&volume) {
                return Err(EngineError::InvalidParam(format!("volume {volume} (0..=100)")));
            }
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.shared.mixer.set_user_volume(uid, volume as u32);
            Ok(())
        })
    }

    /// `adjustChannelPlaybackSignalVolume`: every remote user of the channel, 0-400 (100 as
    /// received), on top of `adjustPlaybackSignalVolume`; before or in a call, back to 100
    /// when the call ends.
    pub fn adjust_channel_playback_signal_volume(&self, volume: i32) -> Code {
        self.set_volume("adjustChannelPlaybackSignalVolume", &self.shared.mixer.channel_volume, volume)
    }

    /// `enableLocalData`: our data channel on or off (others get `onUserDataStart` /
    /// `onUserDataStop`). In a channel only (30101 outside); an audience member has none
    /// (30005).
    pub fn enable_local_data(&self, enable: bool) -> Code {
        self.call("enableLocalData", || {
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            if enable && self.shared.settings().role == Role::Audience {
                return Err(EngineError::WrongState("enableLocalData: an audience member has no data channel"));
            }
            self.send(Cmd::Data(crate::data::DataCmd::Enable(enable)))?;
            self.shared.data.enabled.store(enable, Relaxed);
            Ok(())
        })
    }

    /// `subscribeRemoteData`: `uid`'s data messages on or off (all are on at the start of a
    /// call). In a channel only.
    pub fn subscribe_remote_data(&self, uid: u64, subscribe: bool) -> Code {
        self.call("subscribeRemoteData", || {
            if uid == 0 {
                return Err(EngineError::InvalidParam("uid 0".into()));
            }
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.send(Cmd::Data(crate::data::DataCmd::Subscribe { uid, on: subscribe }))
        })
    }

    /// `sendData`: 1 to [`nertc_protocol::MAX_DATA_BYTES`] bytes (30003 otherwise) to the
    /// users subscribed to ours, in order; after `enableLocalData(true)` (30005 before), at
    /// most [`crate::data::MAX_MESSAGES_PER_SEC`] a second (`ERR_BUSY` beyond).
    pub fn send_data(&self, data: &[u8]) -> Code {
        self.call("sendData", || {
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.shared.data.admit(data.len())?;
            self.send(Cmd::Data(crate::data::DataCmd::Send(data.to_vec())))
        })
    }

    pub fn enable_audio_volume_indication(&self, enable: bool, interval_ms: i32) -> Code {
        self.call("enableAudioVolumeIndication", || {
            if enable && (interval_ms < 100 || interval_ms % 100 != 0) {
                return Err(EngineError::InvalidParam(format!("interval {interval_ms} ms (a multiple of 100)")));
            }
            self.shared.settings().volume_indication_ms = enable.then_some(interval_ms as u32);
            Ok(())
        })
    }

    pub fn enumerate_record_devices(&self) -> Vec<DeviceInfo> {
        device::enumerate_record_devices()
    }

    pub fn enumerate_playout_devices(&self) -> Vec<DeviceInfo> {
        device::enumerate_playout_devices()
    }

    pub fn enumerate_video_capture_devices(&self) -> Vec<DeviceInfo> {
        device::enumerate_video_capture_devices()
    }

    /// Selects a device from `list`; the device thread reopens it.
    fn set_device(&self, what: &str, id: &str, list: Vec<DeviceInfo>, apply: impl FnOnce(&mut Settings, String)) -> Code {
        self.call(what, || {
            if !list.iter().any(|d| d.device_id == id) {
                return Err(EngineError::UnknownDevice(id.to_owned()));
            }
            apply(&mut self.shared.settings(), id.to_owned());
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn set_record_device(&self, id: &str) -> Code {
        self.set_device("setRecordDevice", id, device::enumerate_record_devices(), Settings::pin_record_device)
    }

    pub fn get_record_device(&self) -> String {
        self.shared.settings().record_device.clone()
    }

    pub fn set_playout_device(&self, id: &str) -> Code {
        self.set_device("setPlayoutDevice", id, device::enumerate_playout_devices(), Settings::pin_playout_device)
    }

    pub fn get_playout_device(&self) -> String {
        self.shared.settings().playout_device.clone()
    }

    pub fn set_video_device(&self, id: &str) -> Code {
        self.set_device("setVideoDevice", id, device::enumerate_video_capture_devices(), |s, id| s.video_device = id)
    }

    pub fn get_video_device(&self) -> String {
        self.shared.settings().video_device.clone()
    }

    pub fn push_external_video_frame(&self, frame: ExternalVideoFrame) -> Code {
        self.call("pushExternalVideoFrame", || {
            if !self.shared.settings().external_video {
                return Err(EngineError::WrongState("the external video source is not enabled"));
            }
            let i420 = to_i420(&frame).ok_or_else(|| {
                EngineError::InvalidParam(format!("{}x{} frame with {} bytes", frame.width, frame.height, frame.data.len()))
            })?;
            match &*lock(&self.shared.video_input) {
                Some(input) => {
                    input.push(i420);
                    Ok(())
                }
                // Enabled but neither preview nor local video is on: nothing consumes frames.
                None => Err(EngineError::WrongState("no preview or local video to push frames into")),
            }
        })
    }

    pub fn set_external_audio_source(&self, enabled: bool, sample_rate: i32, channels: i32) -> Code {
        self.call("setExternalAudioSource", || {
            if enabled && (![8_000, 16_000, 32_000, 44_100, 48_000].contains(&sample_rate) || !(1..=2).contains(&channels)) {
                return Err(EngineError::InvalidParam(format!("{sample_rate} Hz, {channels} channels")));
            }
            self.shared.settings().external_audio = enabled.then_some((sample_rate as u32, channels as u16));
            self.shared.refresh_devices();
            Ok(())
        })
    }

    pub fn push_external_audio_frame(&self, samples: &[i16], sample_rate: i32, channels: i32, timestamp_ms: u64) -> Code {
        self.call("pushExternalAudioFrame", || {
            let Some((rate, ch)) = self.shared.settings().external_audio else {
                return Err(EngineError::WrongState("the external audio source is not enabled"));
            };
            if sample_rate as u32 != rate || channels as u16 != ch || samples.is_empty() || !samples.len().is_multiple_of(ch as usize) {
                return Err(EngineError::InvalidParam(format!("{} samples at {sample_rate} Hz x {channels}", samples.len())));
            }
            let input = lock(&self.shared.audio_input);
            let input = input.as_ref().ok_or(EngineError::WrongState("not capturing audio (join a channel first)"))?;
            let frame = AudioFrame { sample_rate: rate, channels: ch, samples: samples.to_vec(), timestamp_us: timestamp_ms * 1000 };
            crate::media::audio_send::push(input, frame);
            Ok(())
        })
    }

    /// `subscribeRemoteVideoSubStream`: receive `uid`'s screen share (off until asked).
    pub fn subscribe_remote_video_substream(&self, uid: u64, subscribe: bool) -> Code {
        self.call("subscribeRemoteVideoSubStream", || {
            if uid == 0 {
                return Err(EngineError::InvalidParam("uid 0".into()));
            }
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            self.send(Cmd::SubscribeSubStream { uid, on: subscribe })
        })
    }

    /// `enumerateScreenCaptureSourceInfo`: displays then windows, with thumbnails and icons
    /// fitted into the given sizes (0 leaves them out). Empty where screen capture is missing.
    pub fn enumerate_screen_capture_sources(&self, thumb: (u32, u32), icon: (u32, u32)) -> Vec<ScreenSourceInfo> {
        match screen::enumerate_sources(thumb, icon) {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("enumerateScreenCaptureSourceInfo: {e}");
                Vec::new()
            }
        }
    }

    /// `startScreenCaptureByDisplayId` / `ByWindowId` / `ByScreenRect`: shares `source` (its
    /// `region`, all of it when empty) on the substream. In a channel only; a running share is
    /// replaced.
    pub fn start_screen_capture(&self, source: ScreenSource, region: Rect, p: &ScreenCaptureParams) -> Code {
        self.call("startScreenCapture", || {
            if !self.shared.presence.in_channel() {
                return Err(EngineError::NotJoined);
            }
            let (max_width, max_height, fps, bitrate_kbps) = screen_encoding(p)?;
            screen::check_source(&source).map_err(screen_error)?;
            let capture = ScreenParams {
                source,
                region: (!region.is_empty()).then_some(region),
                max_width,
                max_height,
                fps,
                cursor: p.capture_mouse_cursor,
                excluded: p.excluded_windows.clone(),
            };
            // Under a narrow uplink a share that prefers details (1) lowers its frame rate; one
            // that prefers motion (0) only its bitrate. Neither shrinks the picture first: text
            // must stay readable.
            let degradation = if p.prefer == 1 { Degradation::MaintainQuality } else { Degradation::Default };
            let encode = EncodeParams { width: max_width, height: max_height, fps, bitrate_kbps, min_fps: 0, degradation };
            self.shared.screen_paused.store(false, Relaxed);
            self.shared.screen.muted.store(false, Relaxed);
            self.shared.settings().screen = Some(ScreenShare { capture, encode });
            self.shared.refresh_devices();
            self.send(Cmd::Republish)?;
            self.shared.emit(EngineEvent::ScreenCaptureStatus { status: screen_status::START });
            Ok(())
        })
    }

    /// Changes the running share with `f` (the capture reopens with the new parameters).
    fn update_screen(&self, what: &str, f: impl FnOnce(&mut ScreenParams) -> Result<()>) -> Code {
        self.call(what, || {
            {
                let mut s = self.shared.settings();
                let sc = s.screen.as_mut().ok_or_else(|| EngineError::Screen(ERR_SCREEN_STATE, "no screen capture running".into()))?;
                f(&mut sc.capture)?;
            }
            self.shared.refresh_devices();
            Ok(())
        })
    }

    /// `updateScreenCaptureRegion`: the part of the shared source to send (empty: all).
    pub fn update_screen_capture_region(&self, region: Rect) -> Code {
        self.update_screen("updateScreenCaptureRegion", |c| {
            c.region = (!region.is_empty()).then_some(region);
            Ok(())
        })
    }

    /// `setScreenCaptureMouseCursor`.
    pub fn set_screen_capture_mouse_cursor(&self, capture: bool) -> Code {
        self.update_screen("setScreenCaptureMouseCursor", |c| {
            c.cursor = capture;
            Ok(())
        })
    }

    /// `setExcludeWindowList` / `updateScreenCaptureParameters`: windows painted black in a
    /// shared display or rectangle (at most [`MAX_EXCLUDED_WINDOWS`]).
    pub fn set_exclude_window_list(&self, windows: Vec<u64>) -> Code {
        self.update_screen("setExcludeWindowList", |c| {
            if windows.len() > MAX_EXCLUDED_WINDOWS {
                return Err(EngineError::InvalidParam(format!("{} excluded windows (at most {MAX_EXCLUDED_WINDOWS})", windows.len())));
            }
            c.excluded = windows;
            Ok(())
        })
    }

    /// `pauseScreenCapture` / `resumeScreenCapture`: no frames while paused (the substream stays
    /// published).
    pub fn pause_screen_capture(&self, pause: bool) -> Code {
        let what = if pause { "pauseScreenCapture" } else { "resumeScreenCapture" };
        self.call(what, || {
            if self.shared.settings().screen.is_none() {
                return Err(EngineError::Screen(ERR_SCREEN_STATE, "no screen capture running".into()));
            }
            if self.shared.screen_paused.swap(pause, Relaxed) != pause {
                let status = if pause { screen_status::PAUSE } else { screen_status::RESUME };
                self.shared.emit(EngineEvent::ScreenCaptureStatus { status });
            }
            Ok(())
        })
    }

    /// `stopScreenCapture`: stops capturing and unpublishes the substream. Fine when none runs.
    pub fn stop_screen_capture(&self) -> Code {
        self.call("stopScreenCapture", || {
            if self.shared.settings().screen.take().is_some() {
                self.shared.refresh_devices();
                self.shared.emit(EngineEvent::ScreenCaptureStatus { status: screen_status::STOP });
                self.send(Cmd::Republish)?;
            }
            Ok(())
        })
    }

    // ---- audio mixing, effects, voice effects, earback (audio_mixing/) ----

    fn mix(&self, what: &str, f: impl FnOnce(&LocalMix) -> std::result::Result<(), MixError>) -> Code {
        self.call(what, || f(&self.shared.local_mix).map_err(mix_error))
    }

    /// A getter: the value, or a NERTC code negated (-30005: nothing playing).
    fn mix_value<T: Into<i64>>(&self, what: &str, f: impl FnOnce(&LocalMix) -> std::result::Result<T, MixError>) -> i64 {
        let mut out = 0i64;
        let code = self.call(what, || {
            out = f(&self.shared.local_mix).map_err(mix_error)?.into();
            Ok(())
        });
        if code == error::OK { out } else { -i64::from(code) }
    }

    pub fn start_audio_mixing(&self, opts: MixOptions) -> Code {
        self.mix("startAudioMixing", |m| m.start_mixing(opts))
    }
    pub fn stop_audio_mixing(&self) -> Code {
        self.mix("stopAudioMixing", |m| m.stop_mixing())
    }
    pub fn pause_audio_mixing(&self, pause: bool) -> Code {
        self.mix(if pause { "pauseAudioMixing" } else { "resumeAudioMixing" }, |m| m.pause_mixing(pause))
    }
    pub fn set_audio_mixing_send_volume(&self, v: u32) -> Code {
        self.mix("setAudioMixingSendVolume", |m| m.set_mixing_send_volume(v))
    }
    pub fn set_audio_mixing_playback_volume(&self, v: u32) -> Code {
        self.mix("setAudioMixingPlaybackVolume", |m| m.set_mixing_playback_volume(v))
    }
    pub fn audio_mixing_send_volume(&self) -> i64 {
        self.mix_value("getAudioMixingSendVolume", |m| m.mixing_send_volume())
    }
    pub fn audio_mixing_playback_volume(&self) -> i64 {
        self.mix_value("getAudioMixingPlaybackVolume", |m| m.mixing_playback_volume())
    }
    pub fn audio_mixing_duration(&self) -> i64 {
        self.mix_value("getAudioMixingDuration", |m| m.mixing_duration_ms().map(clamp_i64))
    }
    pub fn audio_mixing_position(&self) -> i64 {
        self.mix_value("getAudioMixingCurrentPosition", |m| m.mixing_position_ms().map(clamp_i64))
    }
    pub fn set_audio_mixing_position(&self, ms: u64) -> Code {
        self.mix("setAudioMixingPosition", |m| m.set_mixing_position_ms(ms))
    }
    pub fn set_audio_mixing_pitch(&self, pitch: i32) -> Code {
        self.mix("setAudioMixingPitch", |m| m.set_mixing_pitch(pitch))
    }
    pub fn audio_mixing_pitch(&self) -> i64 {
        self.mix_value("getAudioMixingPitch", |m| m.mixing_pitch())
    }

    pub fn play_effect(&self, id: u32, opts: MixOptions) -> Code {
        self.mix("playEffect", |m| m.play_effect(id, opts))
    }
    pub fn stop_effect(&self, id: u32) -> Code {
        self.mix("stopEffect", |m| m.stop_effect(id))
    }
    pub fn stop_all_effects(&self) -> Code {
        self.mix("stopAllEffects", |m| {
            m.stop_all_effects();
            Ok(())
        })
    }
    pub fn pause_effect(&self, id: u32, pause: bool) -> Code {
        self.mix(if pause { "pauseEffect" } else { "resumeEffect" }, |m| m.pause_effect(id, pause))
    }
    pub fn pause_all_effects(&self, pause: bool) -> Code {
        self.mix(if pause { "pauseAllEffects" } else { "resumeAllEffects" }, |m| {
            m.pause_all_effects(pause);
            Ok(())
        })
    }
    pub fn set_effect_send_volume(&self, id: u32, v: u32) -> Code {
        self.mix("setEffectSendVolume", |m| m.set_effect_send_volume(id, v))
    }
    pub fn set_effect_playback_volume(&self, id: u32, v: u32) -> Code {
        self.mix("setEffectPlaybackVolume", |m| m.set_effect_playback_volume(id, v))
    }
    pub fn effect_send_volume(&self, id: u32) -> i64 {
        self.mix_value("getEffectSendVolume", |m| m.effect_send_volume(id))
    }
    pub fn effect_playback_volume(&self, id: u32) -> i64 {
        self.mix_value("getEffectPlaybackVolume", |m| m.effect_playback_volume(id))
    }
    pub fn effect_duration(&self, id: u32) -> i64 {
        self.mix_value("getEffectDuration", |m| m.effect_duration_ms(id).map(clamp_i64))
    }
    pub fn effect_position(&self, id: u32) -> i64 {
        self.mix_value("getEffectCurrentPosition", |m| m.effect_position_ms(id).map(clamp_i64))
    }
    pub fn set_effect_position(&self, id: u32, ms: u64) -> Code {
        self.mix("setEffectPosition", |m| m.set_effect_position_ms(id, ms))
    }
    pub fn set_effect_pitch(&self, id: u32, pitch: i32) -> Code {
        self.mix("setEffectPitch", |m| m.set_effect_pitch(id, pitch))
    }
    pub fn effect_pitch(&self, id: u32) -> i64 {
        self.mix_value("getEffectPitch", |m| m.effect_pitch(id))
    }

    /// `setLocalVoicePitch`: a frequency ratio 0.5..=2.0 applied to the microphone.
    pub fn set_local_voice_pitch(&self, ratio: f64) -> Code {
        self.mix("setLocalVoicePitch", |m| m.set_voice_pitch(ratio))
    }
    pub fn set_local_voice_equalization(&self, band: i32, gain_db: i32) -> Code {
        self.mix("setLocalVoiceEqualization", |m| m.set_voice_equalization(band, gain_db))
    }
    pub fn set_local_voice_reverb(&self, p: ReverbParam) -> Code {
        self.mix("setLocalVoiceReverbParam", |m| m.set_voice_reverb(p))
    }
    /// `setAudioEffectPreset` (NERtcVoiceChangerType 0..=8).
    pub fn set_audio_effect_preset(&self, preset: i32) -> Code {
        self.mix("setAudioEffectPreset", |m| {
            let (ratio, eq, reverb) =
                presets::voice_changer(preset).ok_or_else(|| MixError::InvalidParam(format!("voice changer {preset}")))?;
            m.set_voice_preset(ratio, eq, reverb);
            Ok(())
        })
    }
    /// `setVoiceBeautifierPreset` (NERtcVoiceBeautifierType 0..=11).
    pub fn set_voice_beautifier_preset(&self, preset: i32) -> Code {
        self.mix("setVoiceBeautifierPreset", |m| {
            let (ratio, eq, reverb) =
                presets::beautifier(preset).ok_or_else(|| MixError::InvalidParam(format!("voice beautifier {preset}")))?;
            m.set_voice_preset(ratio, eq, reverb);
            Ok(())
        })
    }
    /// `enableEarback(enabled, volume 0..=100)`: the microphone (after voice effects) in the
    /// local speaker.
    pub fn enable_earback(&self, enabled: bool, volume: u32) -> Code {
        self.mix("enableEarback", |m| m.set_earback(enabled.then_some(volume)))
    }
    pub fn set_earback_volume(&self, volume: u32) -> Code {
        self.mix("setEarbackVolume", |m| m.set_earback_volume(volume))
    }

    // ---- recording and dumps (recording.rs) ----

    pub fn start_audio_recording(&self, cfg: RecordingConfig) -> Code {
        self.call("startAudioRecording", || self.shared.recording.start(cfg).map_err(record_error))
    }
    pub fn stop_audio_recording(&self) -> Code {
        self.call("stopAudioRecording", || self.shared.recording.stop().map_err(record_error))
    }
    /// `startAudioDump`: what is sent and played, mixed, into
    /// `dir/nertc-audio-dump-<ms>.wav` (48 kHz mono).
    pub fn start_audio_dump(&self, dir: &std::path::Path) -> Code {
        self.start_audio_dump_with_type(dir, DUMP_WAV)
    }

    /// `startAudioDumpWithType`: NERtcAudioDumpType 0 PCM (`.dump`: raw 16-bit little-endian
    /// 48 kHz mono), 1 both, 2 WAV. A running dump is replaced.
    pub fn start_audio_dump_with_type(&self, dir: &std::path::Path, dump_type: i32) -> Code {
        self.call("startAudioDump", || {
            if !(0..=2).contains(&dump_type) {
                return Err(EngineError::InvalidParam(format!("dump type {dump_type}")));
            }
            let stem = dir.join(format!("nertc-audio-dump-{}", crate::frame::now_us() / 1000)).to_string_lossy().into_owned();
            let cfg = |ext: &str| RecordingConfig {
                file_path: format!("{stem}.{ext}"),
                sample_rate: 48_000,
                quality: 2, // NERtcAudioRecordingQuality high (an input; a WAV ignores it)
                position: 0,
                cycle_time: 0,
            };
            let _ = self.shared.dump.stop();
            let _ = self.shared.dump_raw.stop();
            tracing::info!("audio dump to {stem}.* (type {dump_type})");
            if dump_type != DUMP_WAV {
                self.shared.dump_raw.start(cfg("dump")).map_err(record_error)?;
            }
            if dump_type != DUMP_PCM {
                self.shared.dump.start(cfg("wav")).map_err(record_error)?;
            }
            Ok(())
        })
    }
    pub fn stop_audio_dump(&self) -> Code {
        self.call("stopAudioDump", || {
            let (wav, raw) = (self.shared.dump.stop(), self.shared.dump_raw.stop());
            wav.or(raw).map_err(record_error)
        })
    }

    // ---- live streaming (live/) ----

    /// `addLiveStreamTask`: composes `info.layout` and pushes it to `info.stream_url` over
    /// RTMP (see [`crate::live`]). In a channel only (30005); a malformed task 30003.
    pub fn add_live_stream_task(&self, info: LiveTaskInfo) -> Code {
        self.call("addLiveStreamTask", || {
            let rt = lock(&self.runtime).as_ref().map(|r| r.handle().clone()).ok_or(EngineError::Released)?;
            self.shared.live.add(&self.shared, &rt, info).map_err(live_error)
        })
    }
    /// `updateLiveStreamTask`: a new layout for a running task.
    pub fn update_live_stream_task(&self, info: LiveTaskInfo) -> Code {
        self.call("updateLiveStreamTask", || self.shared.live.update(&self.shared, info).map_err(live_error))
    }
    /// `removeLiveStreamTask`.
    pub fn remove_live_stream_task(&self, task_id: &str) -> Code {
        self.call("removeLiveStreamTask", || self.shared.live.remove(&self.shared, task_id).map_err(live_error))
    }

    /// The latest-frame slot of a stream (for renderers).
    pub fn slot(&self, key: StreamKey) -> Arc<FrameSlot> {
        self.shared.slots.get(key)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.release();
    }
}

/// NERTC's `NERtcScreenCaptureParameters`, the fields this SDK uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenCaptureParams {
    /// `NERtcScreenProfileType`: 0 480p, 1 720p, 2 1080p (default), 3 custom (`width`,
    /// `height`, `frame_rate`).
    pub profile: i32,
    pub width: u32,
    pub height: u32,
    /// Frames per second (custom profile; 5 when 0).
    pub frame_rate: i32,
    /// Bits per second; 0 derives one from the size and rate.
    pub bitrate: i32,
    pub capture_mouse_cursor: bool,
    pub excluded_windows: Vec<u64>,
    /// `NERtcSubStreamContentPrefer`: 0 motion, 1 details (at most 10 fps).
    pub prefer: i32,
}

impl Default for ScreenCaptureParams {
    fn default() -> Self {
        ScreenCaptureParams {
            profile: 2,
            width: 0,
            height: 0,
            frame_rate: 5,
            bitrate: 0,
            capture_mouse_cursor: true,
            excluded_windows: vec![],
            prefer: 0,
        }
    }
}

/// Most windows `setExcludeWindowList` takes.
pub const MAX_EXCLUDED_WINDOWS: usize = 256;
/// Highest screen share frame rate.
pub const MAX_SCREEN_FPS: u32 = 30;

/// (largest width, largest height, fps, kbps) of a screen share's substream.
fn screen_encoding(p: &ScreenCaptureParams) -> Result<(u32, u32, u32, u32)> {
    let (w, h, fps) = match p.profile {
        0 => (640, 480, 5),
        1 => (1280, 720, 5),
        2 | 4 => (1920, 1080, 5),
        3 => {
            if p.frame_rate < 0 || p.frame_rate as u32 > MAX_SCREEN_FPS {
                return Err(EngineError::InvalidParam(format!("frame_rate {} (0..={MAX_SCREEN_FPS})", p.frame_rate)));
            }
            let (w, h) = if p.width == 0 || p.height == 0 { (1920, 1080) } else { (p.width, p.height) };
            if !(16..=MAX_FRAME_WIDTH).contains(&w) || !(16..=MAX_FRAME_HEIGHT).contains(&h) {
                return Err(EngineError::InvalidParam(format!("dimensions {w}x{h}")));
            }
            (w, h, if p.frame_rate == 0 { 5 } else { p.frame_rate as u32 })
        }
        other => return Err(EngineError::InvalidParam(format!("screen profile {other} (0..=4)"))),
    };
    let fps = if p.prefer == 1 { fps.min(10) } else { fps };
    if p.excluded_windows.len() > MAX_EXCLUDED_WINDOWS {
        return Err(EngineError::InvalidParam(format!("{} excluded windows (at most {MAX_EXCLUDED_WINDOWS})", p.excluded_windows.len())));
    }
    if p.bitrate < 0 {
        return Err(EngineError::InvalidParam(format!("bitrate {}", p.bitrate)));
    }
    let kbps = if p.bitrate == 0 { crate::settings::default_bitrate_kbps(w, h, fps.max(5)) } else { (p.bitrate as u32 / 1000).max(50) };
    Ok((w, h, fps, kbps))
}

/// A screen back-end failure as an API error: no back end 30004 (macOS, Windows, a Wayland
/// session without an X server: the desktop portal is not implemented), no display 30022,
/// unknown source or bad rectangle 30021.
fn screen_error(e: crate::device::DeviceError) -> EngineError {
    use crate::device::DeviceError as D;
    let wayland_only = std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_some();
    match e {
        D::Unavailable(m) if cfg!(not(target_os = "linux")) => EngineError::Screen(error::ERR_NOT_SUPPORTED, m),
        D::Unavailable(m) if wayland_only => {
            EngineError::Screen(error::ERR_NOT_SUPPORTED, format!("{m}; Wayland screen capture (the desktop portal) is not implemented"))
        }
        D::Unavailable(m) => EngineError::Screen(ERR_SCREEN_NOT_READY, m),
        D::NotFound(m) | D::InvalidArgument(m) => EngineError::Screen(ERR_SCREEN_PARAM, m),
        other => EngineError::Screen(ERR_SCREEN_NOT_READY, other.to_string()),
    }
}

/// Largest frame `pushExternalVideoFrame` takes (8K UHD).
pub const MAX_FRAME_WIDTH: u32 = 7680;
pub const MAX_FRAME_HEIGHT: u32 = 4320;

/// Bytes of a tightly packed pushed frame (I420 `w*h + 2*ceil(w/2)*ceil(h/2)`, RGBA `w*h*4`),
/// or None when a side is 0 or beyond [`MAX_FRAME_WIDTH`] x [`MAX_FRAME_HEIGHT`].
/// A device volume on NERTC's 0-255 scale.
fn device_volume(volume: i32) -> Result<u32> {
    u32::try_from(volume)
        .ok()
        .filter(|v| *v <= device::DeviceGain::MAX_VOLUME)
        .ok_or_else(|| EngineError::InvalidParam(format!("device volume {volume} is not 0-255")))
}

/// A device test's reporting interval in ms.
fn test_interval(ms: i32) -> Result<u32> {
    u32::try_from(ms)
        .ok()
        .filter(|ms| (100..=10_000).contains(ms))
        .ok_or_else(|| EngineError::InvalidParam(format!("test interval {ms} ms is not 100-10000")))
}

pub fn frame_len(format: PixelFormat, width: u32, height: u32) -> Option<usize> {
    if width == 0 || height == 0 || width > MAX_FRAME_WIDTH || height > MAX_FRAME_HEIGHT {
        return None;
    }
    let (cw, ch) = VideoFrame::chroma_size(width, height);
    let luma = width as usize * height as usize;
    Some(match format {
        PixelFormat::I420 => luma + 2 * (cw as usize * ch as usize),
        PixelFormat::Rgba => luma * 4,
    })
}

/// Converts a pushed frame to I420, or None when its size does not match its dimensions.
fn to_i420(f: &ExternalVideoFrame) -> Option<VideoFrame> {
    let (w, h) = (f.width, f.height);
    if f.data.len() != frame_len(f.format, w, h)? {
        return None;
    }
    let (cw, ch) = VideoFrame::chroma_size(w, h);
    let (ysz, csz) = ((w * h) as usize, (cw * ch) as usize);
    let ts = f.timestamp_ms.saturating_mul(1000);
    match f.format {
        PixelFormat::I420 => Some(VideoFrame {
            width: w,
            height: h,
            y: f.data[..ysz].to_vec(),
            u: f.data[ysz..ysz + csz].to_vec(),
            v: f.data[ysz + csz..].to_vec(),
            timestamp_us: ts,
        }),
        PixelFormat::Rgba => {
            let mut out = VideoFrame::black(w, h);
            out.timestamp_us = ts;
            let px = |x: u32, y: u32| {
                let i = ((y * w + x) * 4) as usize;
                (f.data[i] as i32, f.data[i + 1] as i32, f.data[i + 2] as i32)
            };
            for y in 0..h {
                for x in 0..w {
                    let (r, g, b) = px(x, y);
                    out.y[(y * w + x) as usize] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16).clamp(0, 255) as u8;
                }
            }
            for cy in 0..ch {
                for cx in 0..cw {
                    let (r, g, b) = px((cx * 2).min(w - 1), (cy * 2).min(h - 1));
                    let i = (cy * cw + cx) as usize;
                    out.u[i] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
                    out.v[i] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
                }
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parameters_applies_what_it_honours_and_says_what_it_does_not() {
        let (e, _rx) = Engine::new(EngineOptions { app_key: "k".into(), server_url: "ws://127.0.0.1:1".into() }).expect("engine");
        assert!(e.shared.settings().auto_subscribe_audio, "NERTC's default");
        assert_eq!(
            e.set_parameters(r#"{"auto_subscribe_audio": false, "auto_subscribe_video": true, "video_sendonpub_type": 1}"#),
            error::OK
        );
        assert!(!e.shared.settings().auto_subscribe_audio && e.shared.settings().auto_subscribe_video);
        // Server recording and the like: 30004, while the honoured key of the call applies.
        let code = e.set_parameters(r#"{"record_audio_enabled": true, "record_type": 0, "auto_subscribe_audio": true}"#);
        assert_eq!(code, error::ERR_NOT_SUPPORTED);
        assert!(e.shared.settings().auto_subscribe_audio);
        assert_eq!(e.set_parameters(r#"{"video_sendonpub_type": 3}"#), error::ERR_NOT_SUPPORTED, "no small stream");
        assert_eq!(e.set_parameters(r#"{"no_such_key": 1}"#), error::ERR_NOT_SUPPORTED);
        // A known key with a wrong value: 30003 and nothing of the call applied.
        assert_eq!(e.set_parameters(r#"{"auto_subscribe_audio": false, "log_level": "loud"}"#), error::ERR_INVALID_PARAM);
        assert!(e.shared.settings().auto_subscribe_audio);
        assert_eq!(e.set_parameters(r#"{"video_sendonpub_type": 9}"#), error::ERR_INVALID_PARAM);
        assert_eq!(e.set_parameters("[1]"), error::ERR_INVALID_PARAM);
        e.release();
    }

    #[test]
    fn channel_profile_is_kept_and_checked() {
        let (e, _events) = Engine::new(EngineOptions { app_key: "k".into(), server_url: "ws://127.0.0.1:9".into() }).expect("engine");
        assert_eq!(e.channel_profile(), 0, "communication by default");
        assert_eq!(e.set_channel_profile(1), error::OK);
        assert_eq!(e.channel_profile(), 1);
        assert_eq!(e.set_channel_profile(2), error::ERR_INVALID_PARAM);
        assert_eq!(e.channel_profile(), 1, "a refused value changes nothing");
        assert_eq!(e.set_client_role(1), error::OK);
        assert_eq!(e.shared.settings().role, Role::Audience, "live: the role applies");
        assert_eq!(e.set_channel_profile(0), error::OK);
        assert_eq!(e.shared.settings().role, Role::Broadcaster, "communication: everyone broadcasts");
        assert_eq!(e.shared.settings().client_role, Role::Audience, "the request is kept");
        e.release();
        assert_eq!(e.set_channel_profile(0), error::ERR_INVALID_STATE);
    }

    #[test]
    fn unsupported_methods_return_30004() {
        assert_eq!(not_supported("enableDualStreamMode", true), 30004);
        assert_eq!(not_supported("enableDualStreamMode", false), 30004);
    }

    #[test]
    fn frame_sizes_round_chroma_up() {
        assert_eq!(frame_len(PixelFormat::I420, 64, 48), Some(64 * 48 * 3 / 2));
        // 3x3: 9 luma + 2 * (2x2) chroma.
        assert_eq!(frame_len(PixelFormat::I420, 3, 3), Some(9 + 8));
        assert_eq!(frame_len(PixelFormat::Rgba, 3, 3), Some(36));
        assert_eq!(frame_len(PixelFormat::I420, MAX_FRAME_WIDTH, MAX_FRAME_HEIGHT), Some(7680 * 4320 * 3 / 2));
        assert_eq!(frame_len(PixelFormat::I420, MAX_FRAME_WIDTH + 2, 2), None);
        assert_eq!(frame_len(PixelFormat::Rgba, 0, 2), None);
    }

    #[test]
    fn pushed_frames_convert_or_are_refused() {
        let f = |format, width, height, len| ExternalVideoFrame { format, width, height, data: vec![128; len], timestamp_ms: 5 };
        let i = to_i420(&f(PixelFormat::I420, 4, 2, 8 + 2 + 2)).expect("a 4x2 I420 frame");
        assert_eq!((i.y.len(), i.u.len(), i.v.len(), i.timestamp_us), (8, 2, 2, 5000));
        assert!(to_i420(&f(PixelFormat::I420, 4, 2, 11)).is_none());
        assert!(to_i420(&f(PixelFormat::Rgba, 4, 2, 31)).is_none());
        assert!(to_i420(&f(PixelFormat::I420, 0, 2, 0)).is_none());
        let white = ExternalVideoFrame { format: PixelFormat::Rgba, width: 2, height: 2, data: vec![255; 16], timestamp_ms: 0 };
        let y = to_i420(&white).expect("a 2x2 RGBA frame");
        assert_eq!((y.y[0], y.u[0], y.v[0]), (235, 128, 128), "white is Y 235 in BT.601 studio range");
    }
}
