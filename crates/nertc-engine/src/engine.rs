//! The engine: a synchronous, NERTC-shaped API (every method returns a result code at once)
//! over an actor task that owns the channel session (signaling, peer connections, remote
//! users). Local capture and encoder threads are owned by [`Shared::local`] so that preview
//! and device calls work without a channel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::RTCSessionDescription;
use webrtc::rtp_transceiver::RtpSender;

use nertc_protocol::{
    ClientMsg, Empty, JoinRequest, JoinResult, LeaveReason, MediaKind, MidInfo, MuteRequest, PROTOCOL_VERSION, PcKind, PublishRequest,
    Resume, RoomEvent, SdpMsg, SdpType, SubscribeRequest, TrackId, TrackInfo, TrackRef, TrackSource, TransportMsg, Uid,
};
use nertc_rtc::pc::{Pc, PcBuilder, PcEvent};

use crate::device::{self, DeviceInfo};
use crate::error::{self, Code};
use crate::event::{
    ConnectionState, EngineEvent, LocalVideoStats, NetworkQuality, RemoteAudioStats, RemoteVideoStats, RtcStats, StateReason,
    UserLeftReason,
};
use crate::frame::{AudioFrame, VideoFrame};
use crate::media::audio_recv::{self, AudioRecvStats, Mixer};
use crate::media::audio_send::{AudioCtl, AudioSender, AudioSink};
use crate::media::video_recv::{self, VideoRecvStats};
use crate::media::video_send::{EncodeParams, VideoCtl, VideoSender, VideoSink};
use crate::render::{FrameSlot, Slots, StreamKey};
use crate::signaling::{self, Signal, SignalError, SignalEvent};

/// What `initialize` needs.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    pub app_key: String,
    /// `ws://host:port` of the room server.
    pub server_url: String,
}

/// `setVideoConfig`. Zero (or -1 for `max_profile`) leaves a field unset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoConfig {
    pub max_profile: i32,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub min_framerate: u32,
    pub bitrate_kbps: u32,
    pub min_bitrate_kbps: u32,
    pub mirror_mode: i32,
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

/// Size and frame rate for NERTC's `max_profile` 0..=4.
fn profile_size(profile: i32) -> Option<(u32, u32, u32)> {
    match profile {
        0 => Some((160, 90, 15)),
        1 => Some((320, 180, 15)),
        2 => Some((640, 480, 30)),
        3 => Some((1280, 720, 30)),
        4 => Some((1920, 1080, 30)),
        _ => None,
    }
}

/// A reasonable H.264 bitrate for a size and frame rate (≈0.07 bits per pixel).
fn default_bitrate_kbps(w: u32, h: u32, fps: u32) -> u32 {
    ((w as u64 * h as u64 * fps as u64 * 7 / 100 / 1000) as u32).clamp(80, 4000)
}

/// NERTC's max_profile for a published layer size (what `onUserVideoStart` reports).
fn profile_of(height: u32) -> i32 {
    match height {
        0 => 2,
        1..=90 => 0,
        91..=180 => 1,
        181..=480 => 2,
        481..=720 => 3,
        _ => 4,
    }
}

struct Settings {
    role: i32,
    encode: EncodeParams,
    mirror_mode: i32,
    record_device: String,
    playout_device: String,
    video_device: String,
    external_video: bool,
    external_audio: Option<(u32, u16)>,
    local_video: bool,
    local_audio: bool,
    preview: bool,
    in_channel: bool,
    volume_indication_ms: Option<u32>,
    server_url: String,
    auto_subscribe_video: bool,
}

/// Capture devices and encoder threads. Field order is drop order: the sources (camera, mic,
/// external input) hold senders into the encoder threads, which exit only once every sender is
/// gone, so sources must drop first.
#[derive(Default)]
struct LocalMedia {
    camera: Option<device::VideoCapture>,
    mic: Option<device::AudioCapture>,
    external_audio_input: Option<Sender<AudioFrame>>,
    playout: Option<device::AudioPlayout>,
    video: Option<VideoSender>,
    audio: Option<AudioSender>,
}

/// State shared by the API (JS thread) and the actor.
struct Shared {
    app_key: String,
    events: Sender<EngineEvent>,
    state: AtomicI32,
    /// Joining or joined (the API's view, set synchronously by join/leave).
    in_channel: AtomicBool,
    released: AtomicBool,
    slots: Slots,
    settings: Mutex<Settings>,
    local: Mutex<LocalMedia>,
    video_ctl: Arc<VideoCtl>,
    audio_ctl: Arc<AudioCtl>,
    mixer: Arc<Mixer>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn emit(&self, ev: EngineEvent) {
        let _ = self.events.send(ev);
    }

    fn set_state(&self, state: ConnectionState, reason: StateReason) {
        let old = self.state.swap(state as i32, Relaxed);
        if old != state as i32 {
            self.emit(EngineEvent::ConnectionStateChange { state, reason });
        }
    }

    /// Starts or stops capture, encoder threads and playout to match the settings.
    fn refresh_local_media(&self) -> Code {
        let s = lock(&self.settings);
        let mut local = lock(&self.local);
        let broadcaster = s.role == 0;
        // Video.
        let want_video = s.preview || (s.in_channel && s.local_video && broadcaster);
        self.video_ctl.preview.store(s.preview || s.local_video, Relaxed);
        *lock(&self.video_ctl.params) = s.encode;
        self.slots.get(StreamKey::Local).mirrored.store(s.mirror_mode != 2, Relaxed);
        let mut code = error::OK;
        if want_video && local.video.is_none() {
            match VideoSender::start(self.video_ctl.clone(), self.slots.get(StreamKey::Local)) {
                Ok(v) => local.video = Some(v),
                Err(e) => {
                    tracing::error!("cannot start the video encoder thread: {e}");
                    code = error::ERR_FATAL;
                }
            }
        }
        if !want_video {
            local.camera = None;
            local.video = None;
            self.slots.get(StreamKey::Local).clear();
        }
        let want_camera = want_video && !s.external_video;
        if !want_camera {
            local.camera = None;
        } else if local.camera.is_none() {
            if let Some(v) = &local.video {
                let input = v.input();
                let p = s.encode;
                match device::open_camera(&s.video_device, p.width, p.height, p.fps, Box::new(move |f| input.push(f))) {
                    Ok(c) => local.camera = Some(c),
                    Err(e) => {
                        tracing::error!(device = %s.video_device, "cannot open the camera: {e}");
                        self.emit(EngineEvent::Error { code: error::ERR_DEVICE_NOT_FOUND, msg: format!("camera: {e}") });
                        code = error::ERR_DEVICE_NOT_FOUND;
                    }
                }
            }
        }
        // Audio capture.
        let want_audio = s.in_channel && s.local_audio && broadcaster;
        if want_audio && local.audio.is_none() {
            match AudioSender::start(self.audio_ctl.clone()) {
                Ok(a) => local.audio = Some(a),
                Err(e) => {
                    tracing::error!("cannot start the audio encoder thread: {e}");
                    code = error::ERR_FATAL;
                }
            }
        }
        if !want_audio {
            // Sources first: the encoder thread exits once every sender into it is gone.
            local.mic = None;
            local.external_audio_input = None;
            local.audio = None;
        }
        if want_audio {
            let input = local.audio.as_ref().map(|a| a.input());
            if s.external_audio.is_some() {
                local.mic = None;
                local.external_audio_input = input;
            } else {
                local.external_audio_input = None;
                if local.mic.is_none() {
                    if let Some(input) = input {
                        let cb = Box::new(move |f: AudioFrame| crate::media::audio_send::push(&input, f));
                        match device::open_record(&s.record_device, 48_000, 1, cb) {
                            Ok(m) => local.mic = Some(m),
                            Err(e) => {
                                tracing::error!(device = %s.record_device, "cannot open the microphone: {e}");
                                self.emit(EngineEvent::Error { code: error::ERR_DEVICE_NOT_FOUND, msg: format!("microphone: {e}") });
                                code = error::ERR_DEVICE_NOT_FOUND;
                            }
                        }
                    }
                }
            }
        }
        // Playout.
        if s.in_channel && local.playout.is_none() {
            let mixer = self.mixer.clone();
            match device::open_playout(&s.playout_device, 48_000, 2, Box::new(move |out: &mut [i16]| mixer.pull(out, 2))) {
                Ok(p) => local.playout = Some(p),
                Err(e) => {
                    tracing::error!(device = %s.playout_device, "cannot open the speaker: {e}");
                    self.emit(EngineEvent::Error { code: error::ERR_DEVICE_NOT_FOUND, msg: format!("speaker: {e}") });
                }
            }
        } else if !s.in_channel {
            local.playout = None;
        }
        code
    }
}

enum Cmd {
    Join {
        token: Option<String>,
        channel: String,
        uid: Uid,
        started: Instant,
    },
    Leave,
    /// Re-evaluate what should be published (local video/audio toggles, role).
    Republish,
    Mute {
        kind: MediaKind,
        muted: bool,
    },
    SubscribeVideo {
        uid: Uid,
        on: bool,
    },
    SubscribeAudio {
        uid: Uid,
        on: bool,
    },
    Release(oneshot::Sender<()>),
}

/// The engine. Cheap to call from the JS thread: no method blocks on the network.
pub struct Engine {
    shared: Arc<Shared>,
    cmd: mpsc::UnboundedSender<Cmd>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Result<(Engine, crossbeam_channel::Receiver<EngineEvent>), Code> {
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
        let (ev_tx, ev_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            app_key: opts.app_key,
            events: ev_tx,
            state: AtomicI32::new(ConnectionState::Disconnected as i32),
            in_channel: AtomicBool::new(false),
            released: AtomicBool::new(false),
            slots: Slots::default(),
            settings: Mutex::new(Settings {
                role: 0,
                encode: EncodeParams { width: 640, height: 480, fps: 15, bitrate_kbps: default_bitrate_kbps(640, 480, 15) },
                mirror_mode: 0,
                record_device: device::default_record_device(),
                playout_device: device::default_playout_device(),
                video_device: device::default_video_device(),
                external_video: false,
                external_audio: None,
                local_video: false,
                local_audio: true,
                preview: false,
                in_channel: false,
                volume_indication_ms: None,
                server_url: opts.server_url,
                auto_subscribe_video: false,
            }),
            local: Mutex::new(LocalMedia::default()),
            video_ctl: Arc::new(VideoCtl::default()),
            audio_ctl: Arc::new(AudioCtl::default()),
            mixer: Mixer::new(),
        });
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let actor = Actor { shared: shared.clone(), rt: runtime.handle().clone(), session: None, reconnect: None, last_stats: None };
        runtime.spawn(actor.run(cmd_rx));
        Ok((Engine { shared, cmd: cmd_tx, runtime: Mutex::new(Some(runtime)) }, ev_rx))
    }

    fn alive(&self) -> bool {
        !self.shared.released.load(Relaxed)
    }

    fn send(&self, cmd: Cmd) {
        let _ = self.cmd.send(cmd);
    }

    /// Leaves the channel (firing `onLeaveChannel`), stops every thread, closes devices.
    /// Safe to call twice and in any state.
    pub fn release(&self) {
        if self.shared.released.swap(true, Relaxed) {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Release(tx));
        let runtime = lock(&self.runtime).take();
        if let Some(rt) = runtime {
            // Wait (bounded) for the actor to leave and stop, then tear the runtime down.
            let _ =
                std::thread::scope(|s| s.spawn(|| rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), rx).await })).join());
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        {
            let mut s = lock(&self.shared.settings);
            s.in_channel = false;
            s.preview = false;
            s.local_video = false;
        }
        *lock(&self.shared.local) = LocalMedia::default();
    }

    pub fn set_channel_profile(&self, profile: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !(0..=1).contains(&profile) {
            return error::ERR_INVALID_PARAM;
        }
        if self.shared.in_channel.load(Relaxed) {
            return error::ERR_WRONG_STATE;
        }
        error::OK
    }

    pub fn set_client_role(&self, role: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !(0..=1).contains(&role) {
            return error::ERR_INVALID_PARAM;
        }
        lock(&self.shared.settings).role = role;
        self.shared.refresh_local_media();
        self.send(Cmd::Republish);
        error::OK
    }

    pub fn join_channel(&self, token: Option<String>, channel: &str, uid: u64) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if let Err(e) = nertc_protocol::validate::channel_name(channel) {
            tracing::error!("joinChannel: {e}");
            return error::ERR_INVALID_PARAM;
        }
        if !nertc_protocol::validate::uid(uid) {
            tracing::error!("joinChannel: uid must be non-zero");
            return error::ERR_INVALID_PARAM;
        }
        if self.shared.in_channel.swap(true, Relaxed) {
            return error::ERR_ALREADY_JOINED;
        }
        lock(&self.shared.settings).in_channel = true;
        let token = token.filter(|t| !t.is_empty());
        self.send(Cmd::Join { token, channel: channel.to_owned(), uid, started: Instant::now() });
        error::OK
    }

    pub fn leave_channel(&self) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !self.shared.in_channel.swap(false, Relaxed) {
            return error::ERR_NOT_JOINED;
        }
        self.send(Cmd::Leave);
        error::OK
    }

    pub fn connection_state(&self) -> i32 {
        self.shared.state.load(Relaxed)
    }

    /// Supported keys: `server_url` (string), `auto_subscribe_video` (bool), `log_level` (int).
    pub fn set_parameters(&self, json: &str) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
            tracing::error!("setParameters: not a JSON object");
            return error::ERR_INVALID_PARAM;
        };
        let mut s = lock(&self.shared.settings);
        for (k, v) in map {
            match (k.as_str(), v) {
                ("server_url", serde_json::Value::String(url)) => s.server_url = url,
                ("auto_subscribe_video", serde_json::Value::Bool(b)) => s.auto_subscribe_video = b,
                ("log_level", serde_json::Value::Number(n)) => {
                    crate::logging::set_level(n.as_i64().unwrap_or(3) as i32);
                }
                (k, _) => {
                    tracing::warn!("setParameters: unsupported key {k:?} ignored");
                }
            }
        }
        error::OK
    }

    pub fn set_video_config(&self, cfg: &VideoConfig) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        let (mut w, mut h, mut fps) = match cfg.max_profile {
            -1 => (640, 480, 15),
            p => match profile_size(p) {
                Some(s) => s,
                None => return error::ERR_INVALID_PARAM,
            },
        };
        if cfg.width > 0 || cfg.height > 0 {
            if cfg.width == 0 || cfg.height == 0 || cfg.width > 3840 || cfg.height > 2160 || cfg.width % 2 == 1 || cfg.height % 2 == 1 {
                return error::ERR_INVALID_PARAM;
            }
            (w, h) = (cfg.width, cfg.height);
        }
        if cfg.framerate > 0 {
            if cfg.framerate > 60 {
                return error::ERR_INVALID_PARAM;
            }
            fps = cfg.framerate;
        }
        if !(0..=2).contains(&cfg.mirror_mode) || cfg.bitrate_kbps > 20_000 {
            return error::ERR_INVALID_PARAM;
        }
        let bitrate = if cfg.bitrate_kbps > 0 { cfg.bitrate_kbps.max(cfg.min_bitrate_kbps) } else { default_bitrate_kbps(w, h, fps) };
        {
            let mut s = lock(&self.shared.settings);
            let changed_size = s.encode.width != w || s.encode.height != h || s.encode.fps != fps;
            s.encode = EncodeParams { width: w, height: h, fps, bitrate_kbps: bitrate };
            s.mirror_mode = cfg.mirror_mode;
            if changed_size {
                lock(&self.shared.local).camera = None; // reopened at the new size below
            }
        }
        self.shared.refresh_local_media();
        error::OK
    }

    pub fn start_video_preview(&self) -> Code {
        self.set_capture(|s| s.preview = true)
    }

    pub fn stop_video_preview(&self) -> Code {
        self.set_capture(|s| s.preview = false)
    }

    /// Applies a capture setting, then brings capture and the published tracks in line.
    fn set_capture(&self, apply: impl FnOnce(&mut Settings)) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        apply(&mut lock(&self.shared.settings));
        let code = self.shared.refresh_local_media();
        self.send(Cmd::Republish);
        code
    }

    fn mute(&self, kind: MediaKind, muted: bool) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        match kind {
            MediaKind::Video => self.shared.video_ctl.muted.store(muted, Relaxed),
            MediaKind::Audio => self.shared.audio_ctl.muted.store(muted, Relaxed),
        }
        self.send(Cmd::Mute { kind, muted });
        error::OK
    }

    pub fn enable_local_video(&self, enabled: bool) -> Code {
        self.set_capture(|s| s.local_video = enabled)
    }

    pub fn mute_local_video_stream(&self, mute: bool) -> Code {
        self.mute(MediaKind::Video, mute)
    }

    pub fn set_local_video_mirror_mode(&self, mode: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !(0..=2).contains(&mode) {
            return error::ERR_INVALID_PARAM;
        }
        lock(&self.shared.settings).mirror_mode = mode;
        self.shared.slots.get(StreamKey::Local).mirrored.store(mode != 2, Relaxed);
        error::OK
    }

    pub fn enable_local_audio(&self, enabled: bool) -> Code {
        self.set_capture(|s| s.local_audio = enabled)
    }

    pub fn mute_local_audio_stream(&self, mute: bool) -> Code {
        self.mute(MediaKind::Audio, mute)
    }

    fn set_volume(&self, target: &std::sync::atomic::AtomicU32, volume: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !(0..=400).contains(&volume) {
            return error::ERR_INVALID_PARAM;
        }
        target.store(volume as u32, Relaxed);
        error::OK
    }

    pub fn adjust_recording_signal_volume(&self, volume: i32) -> Code {
        self.set_volume(&self.shared.audio_ctl.volume, volume)
    }

    pub fn adjust_playback_signal_volume(&self, volume: i32) -> Code {
        self.set_volume(&self.shared.mixer.volume, volume)
    }

    pub fn subscribe_remote_video_stream(&self, uid: u64, stream_type: i32, subscribe: bool) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if uid == 0 || !(0..=2).contains(&stream_type) {
            return error::ERR_INVALID_PARAM;
        }
        if !self.shared.in_channel.load(Relaxed) {
            return error::ERR_NOT_JOINED;
        }
        self.send(Cmd::SubscribeVideo { uid, on: subscribe && stream_type != 2 });
        error::OK
    }

    pub fn subscribe_remote_audio_stream(&self, uid: u64, subscribe: bool) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if uid == 0 {
            return error::ERR_INVALID_PARAM;
        }
        if !self.shared.in_channel.load(Relaxed) {
            return error::ERR_NOT_JOINED;
        }
        self.send(Cmd::SubscribeAudio { uid, on: subscribe });
        error::OK
    }

    pub fn enable_audio_volume_indication(&self, enable: bool, interval_ms: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if enable && (interval_ms < 100 || interval_ms % 100 != 0) {
            return error::ERR_INVALID_PARAM;
        }
        lock(&self.shared.settings).volume_indication_ms = enable.then_some(interval_ms as u32);
        error::OK
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

    fn set_device(&self, id: &str, list: Vec<DeviceInfo>, apply: impl FnOnce(&mut Settings, &mut LocalMedia)) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !list.iter().any(|d| d.device_id == id) {
            tracing::error!(id, "unknown device id");
            return error::ERR_DEVICE_NOT_FOUND;
        }
        {
            let mut s = lock(&self.shared.settings);
            let mut local = lock(&self.shared.local);
            apply(&mut s, &mut local);
        }
        self.shared.refresh_local_media()
    }

    pub fn set_record_device(&self, id: &str) -> Code {
        self.set_device(id, device::enumerate_record_devices(), |s, l| {
            s.record_device = id.to_owned();
            l.mic = None;
        })
    }

    pub fn get_record_device(&self) -> String {
        lock(&self.shared.settings).record_device.clone()
    }

    pub fn set_playout_device(&self, id: &str) -> Code {
        self.set_device(id, device::enumerate_playout_devices(), |s, l| {
            s.playout_device = id.to_owned();
            l.playout = None;
        })
    }

    pub fn get_playout_device(&self) -> String {
        lock(&self.shared.settings).playout_device.clone()
    }

    pub fn set_video_device(&self, id: &str) -> Code {
        self.set_device(id, device::enumerate_video_capture_devices(), |s, l| {
            s.video_device = id.to_owned();
            l.camera = None;
        })
    }

    pub fn get_video_device(&self) -> String {
        lock(&self.shared.settings).video_device.clone()
    }

    pub fn set_external_video_source(&self, enabled: bool) -> Code {
        self.set_capture(|s| s.external_video = enabled)
    }

    pub fn push_external_video_frame(&self, frame: ExternalVideoFrame) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if !lock(&self.shared.settings).external_video {
            return error::ERR_NOT_SUPPORTED;
        }
        let Some(i420) = to_i420(&frame) else {
            tracing::error!(w = frame.width, h = frame.height, len = frame.data.len(), "pushExternalVideoFrame: size mismatch");
            return error::ERR_INVALID_PARAM;
        };
        let local = lock(&self.shared.local);
        match &local.video {
            Some(v) => {
                v.input().push(i420);
                error::OK
            }
            // Enabled but neither preview nor local video is on: nothing consumes frames.
            None => error::ERR_WRONG_STATE,
        }
    }

    pub fn set_external_audio_source(&self, enabled: bool, sample_rate: i32, channels: i32) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        if enabled && (![8_000, 16_000, 32_000, 44_100, 48_000].contains(&sample_rate) || !(1..=2).contains(&channels)) {
            return error::ERR_INVALID_PARAM;
        }
        {
            let mut s = lock(&self.shared.settings);
            s.external_audio = enabled.then_some((sample_rate as u32, channels as u16));
            lock(&self.shared.local).mic = None;
        }
        self.shared.refresh_local_media()
    }

    pub fn push_external_audio_frame(&self, samples: &[i16], sample_rate: i32, channels: i32, timestamp_ms: u64) -> Code {
        if !self.alive() {
            return error::ERR_NOT_INITIALIZED;
        }
        let Some((rate, ch)) = lock(&self.shared.settings).external_audio else {
            return error::ERR_NOT_SUPPORTED;
        };
        if sample_rate as u32 != rate || channels as u16 != ch || samples.is_empty() || samples.len() % ch as usize != 0 {
            return error::ERR_INVALID_PARAM;
        }
        let local = lock(&self.shared.local);
        let Some(input) = &local.external_audio_input else {
            return error::ERR_WRONG_STATE;
        };
        let frame = AudioFrame { sample_rate: rate, channels: ch, samples: samples.to_vec(), timestamp_us: timestamp_ms * 1000 };
        crate::media::audio_send::push(input, frame);
        error::OK
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

/// Converts a pushed frame to I420, or None when its size does not match its dimensions.
fn to_i420(f: &ExternalVideoFrame) -> Option<VideoFrame> {
    let (w, h) = (f.width, f.height);
    if w == 0 || h == 0 || w > 7680 || h > 4320 {
        return None;
    }
    let (cw, ch) = VideoFrame::chroma_size(w, h);
    let (ysz, csz) = ((w * h) as usize, (cw * ch) as usize);
    let ts = f.timestamp_ms.saturating_mul(1000);
    match f.format {
        PixelFormat::I420 => {
            if f.data.len() != ysz + 2 * csz {
                return None;
            }
            Some(VideoFrame {
                width: w,
                height: h,
                y: f.data[..ysz].to_vec(),
                u: f.data[ysz..ysz + csz].to_vec(),
                v: f.data[ysz + csz..].to_vec(),
                timestamp_us: ts,
            })
        }
        PixelFormat::Rgba => {
            if f.data.len() != ysz * 4 {
                return None;
            }
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

// ---------------------------------------------------------------------------------------------
// The actor
// ---------------------------------------------------------------------------------------------

struct LocalTrack {
    track_id: TrackId,
    sender: Arc<dyn RtpSender>,
    feedback: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct RemoteUser {
    name: String,
    tracks: HashMap<TrackId, TrackInfo>,
    want_video: bool,
    want_audio: bool,
    subscribed: HashSet<TrackId>,
}

struct Receiving {
    task: tokio::task::JoinHandle<()>,
    uid: Uid,
    video: Option<Arc<VideoRecvStats>>,
    audio: Option<Arc<AudioRecvStats>>,
}

enum SessionEvent {
    Signal(SignalEvent),
    SubPc(PcEvent),
}

struct Session {
    generation: u64,
    signal: Signal,
    join: JoinResult,
    url: String,
    token: Option<String>,
    channel: String,
    uid: Uid,
    joined_at: Instant,
    events_tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    pub_pc: Option<Pc>,
    pub_neg: u64,
    published: HashMap<MediaKind, LocalTrack>,
    sub_pc: Option<Pc>,
    sub_mids: BTreeMap<String, MidInfo>,
    users: BTreeMap<Uid, RemoteUser>,
    receiving: HashMap<TrackId, Receiving>,
    last_seq: u64,
    /// Signaling round trip from the last ping/pong, ms.
    rtt_ms: u32,
}

struct Reconnect {
    since: Instant,
    attempt: u32,
    next_at: Instant,
}

struct Actor {
    shared: Arc<Shared>,
    rt: tokio::runtime::Handle,
    session: Option<Session>,
    reconnect: Option<Reconnect>,
    last_stats: Option<StatsSnapshot>,
}

/// Counters at the previous stats report, to turn totals into rates.
struct StatsSnapshot {
    at: Instant,
    tx_video: u64,
    tx_audio: u64,
    rx_video: u64,
    rx_audio: u64,
    captured: u64,
    encoded: u64,
    cpu_ticks: u64,
    /// track id -> (bytes, decoded frames)
    tracks: HashMap<TrackId, (u64, u64)>,
}

impl Default for StatsSnapshot {
    fn default() -> Self {
        StatsSnapshot {
            // "Long ago": the first report has no rates to compare with.
            at: Instant::now().checked_sub(Duration::from_secs(7200)).unwrap_or_else(Instant::now),
            tx_video: 0,
            tx_audio: 0,
            rx_video: 0,
            rx_audio: 0,
            captured: 0,
            encoded: 0,
            cpu_ticks: 0,
            tracks: HashMap::new(),
        }
    }
}

/// User + system CPU time of this process in clock ticks (0 where /proc is unavailable).
fn process_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Resident memory of this process in KiB (0 where /proc is unavailable).
fn process_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// LiveKit-style retry delays (ms) for reconnecting.
const RETRY_MS: [u64; 6] = [0, 300, 1200, 2700, 4800, 7000];
/// Give up reconnecting after this long.
const GIVE_UP: Duration = Duration::from_secs(60);

impl Actor {
    async fn run(mut self, mut cmds: mpsc::UnboundedReceiver<Cmd>) {
        let (sess_tx, mut sess_rx) = mpsc::unbounded_channel::<(u64, SessionEvent)>();
        let mut generation = 0u64;
        let mut stats_tick = tokio::time::interval(Duration::from_secs(2));
        let mut fast_tick = tokio::time::interval(Duration::from_millis(100));
        let mut ticks = 0u64;
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Release(done)) => {
                        self.leave(true).await;
                        let _ = done.send(());
                        break;
                    }
                    Some(Cmd::Join { token, channel, uid, started }) => {
                        generation += 1;
                        self.join(generation, token, channel, uid, started, sess_tx.clone()).await;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                Some((g, ev)) = sess_rx.recv() => {
                    if self.session.as_ref().is_some_and(|s| s.generation == g) {
                        self.session_event(ev).await;
                    }
                }
                _ = stats_tick.tick() => self.stats(),
                _ = fast_tick.tick() => {
                    ticks += 1;
                    self.volume_indication(ticks);
                    self.try_reconnect().await;
                }
            }
        }
        tracing::debug!("engine actor stopped");
    }

    fn emit(&self, ev: EngineEvent) {
        self.shared.emit(ev);
    }

    async fn join(
        &mut self,
        generation: u64,
        token: Option<String>,
        channel: String,
        uid: Uid,
        started: Instant,
        tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    ) {
        self.shared.set_state(ConnectionState::Connecting, StateReason::Join);
        let url = lock(&self.shared.settings).server_url.clone();
        let req = JoinRequest {
            token: token.clone(),
            app_key: self.shared.app_key.clone(),
            channel: channel.clone(),
            uid,
            name: String::new(),
            protocol: PROTOCOL_VERSION,
            resume: None,
        };
        let elapsed = || started.elapsed().as_millis() as u64;
        match signaling::connect(&url, req).await {
            Ok((signal, join, sig_rx)) => {
                if !self.shared.in_channel.load(Relaxed) {
                    // leaveChannel was called while joining.
                    drop(signal);
                    self.finish_leave();
                    return;
                }
                tracing::info!(channel = %channel, uid, cid = join.cid, "joined");
                forward(generation, sig_rx, tx.clone(), SessionEvent::Signal);
                let mut session = Session {
                    generation,
                    signal,
                    join: join.clone(),
                    url,
                    token,
                    channel,
                    uid,
                    joined_at: Instant::now(),
                    events_tx: tx,
                    pub_pc: None,
                    pub_neg: 0,
                    published: HashMap::new(),
                    sub_pc: None,
                    sub_mids: BTreeMap::new(),
                    users: BTreeMap::new(),
                    receiving: HashMap::new(),
                    last_seq: join.seq,
                    rtt_ms: 0,
                };
                self.shared.set_state(ConnectionState::Connected, StateReason::JoinSucceed);
                self.emit(EngineEvent::JoinChannel { cid: join.cid, uid, result: error::OK, elapsed_ms: elapsed() });
                self.shared.refresh_local_media();
                for u in &join.users {
                    self.user_joined(&mut session, u.uid, u.name.clone());
                    for t in &u.tracks {
                        self.track_published(&mut session, u.uid, t.clone()).await;
                    }
                }
                self.session = Some(session);
                self.republish().await;
            }
            Err(e) => {
                let code = match &e {
                    SignalError::Refused(body) => error::from_protocol(body.code),
                    _ => error::ERR_CONNECT_FAILED,
                };
                tracing::error!(channel = %channel, uid, "join failed: {e}");
                self.shared.in_channel.store(false, Relaxed);
                lock(&self.shared.settings).in_channel = false;
                self.shared.refresh_local_media();
                self.emit(EngineEvent::JoinChannel { cid: 0, uid, result: code, elapsed_ms: elapsed() });
                self.shared.set_state(ConnectionState::Failed, StateReason::JoinFailed);
                self.shared.set_state(ConnectionState::Disconnected, StateReason::JoinFailed);
            }
        }
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Leave => self.leave(false).await,
            Cmd::Republish => self.republish().await,
            Cmd::Mute { kind, muted } => {
                if let Some(s) = &self.session {
                    if let Some(t) = s.published.get(&kind) {
                        let _ = s.signal.request(ClientMsg::Mute(MuteRequest { track_id: t.track_id.clone(), muted })).await;
                    }
                }
            }
            Cmd::SubscribeVideo { uid, on } => self.want(uid, MediaKind::Video, on).await,
            Cmd::SubscribeAudio { uid, on } => self.want(uid, MediaKind::Audio, on).await,
            Cmd::Join { .. } | Cmd::Release(_) => {}
        }
    }

    /// Leaves the channel. `releasing`: also when no session exists, fire nothing extra.
    async fn leave(&mut self, releasing: bool) {
        let had = self.session.is_some() || self.reconnect.is_some();
        if let Some(s) = self.session.take() {
            let _ = tokio::time::timeout(Duration::from_millis(500), s.signal.request(ClientMsg::Leave(Empty {}))).await;
            self.teardown(s).await;
        }
        self.reconnect = None;
        if had {
            self.finish_leave();
        } else if !releasing {
            self.shared.in_channel.store(false, Relaxed);
        }
        if releasing {
            let mut s = lock(&self.shared.settings);
            s.preview = false;
            s.local_video = false;
            s.in_channel = false;
        }
        self.shared.refresh_local_media();
    }

    fn finish_leave(&mut self) {
        self.shared.in_channel.store(false, Relaxed);
        lock(&self.shared.settings).in_channel = false;
        self.shared.refresh_local_media();
        self.emit(EngineEvent::LeaveChannel { result: error::OK });
        self.shared.set_state(ConnectionState::Disconnected, StateReason::Leave);
    }

    async fn teardown(&mut self, mut s: Session) {
        *lock(&self.shared.video_ctl.sink) = None;
        *lock(&self.shared.audio_ctl.sink) = None;
        for (_, t) in s.published.drain() {
            if let Some(f) = t.feedback {
                f.abort();
            }
        }
        for (_, r) in s.receiving.drain() {
            r.task.abort();
            self.shared.slots.remove(StreamKey::Remote(r.uid));
            self.shared.mixer.remove(r.uid);
        }
        for pc in [s.pub_pc.take(), s.sub_pc.take()].into_iter().flatten() {
            let _ = pc.pc.close().await;
        }
        s.signal.close();
    }

    // --- publishing ---------------------------------------------------------------------

    async fn republish(&mut self) {
        let (want_video, want_audio) = {
            let s = lock(&self.shared.settings);
            let b = s.role == 0;
            (b && s.local_video, b && s.local_audio)
        };
        let Some(mut s) = self.session.take() else { return };
        if !s.join.can_publish {
            self.session = Some(s);
            return;
        }
        let mut changed = false;
        for (kind, want) in [(MediaKind::Audio, want_audio), (MediaKind::Video, want_video)] {
            let has = s.published.contains_key(&kind);
            if want && !has {
                match self.publish(&mut s, kind).await {
                    Ok(()) => changed = true,
                    Err(e) => {
                        tracing::error!(?kind, "publish failed: {e}");
                        self.emit(EngineEvent::Error { code: error::ERR_FATAL, msg: format!("publish {kind:?}: {e}") });
                    }
                }
            } else if !want && has {
                if let Some(t) = s.published.remove(&kind) {
                    match kind {
                        MediaKind::Video => *lock(&self.shared.video_ctl.sink) = None,
                        MediaKind::Audio => *lock(&self.shared.audio_ctl.sink) = None,
                    }
                    if let Some(f) = t.feedback {
                        f.abort();
                    }
                    let _ = s.signal.request(ClientMsg::Unpublish(TrackRef { track_id: t.track_id })).await;
                    if let Some(pc) = &s.pub_pc {
                        let _ = pc.pc.remove_track(&t.sender).await;
                    }
                    changed = true;
                }
            }
        }
        if changed && !s.published.is_empty() {
            if let Err(e) = self.negotiate_pub(&mut s).await {
                tracing::error!("publish negotiation failed: {e}");
                self.emit(EngineEvent::Error { code: error::ERR_FATAL, msg: format!("publish negotiation: {e}") });
            }
        }
        self.session = Some(s);
    }

    async fn publish(&mut self, s: &mut Session, kind: MediaKind) -> Result<(), String> {
        let source = match kind {
            MediaKind::Audio => TrackSource::Mic,
            MediaKind::Video => TrackSource::Camera,
        };
        let layers = match kind {
            MediaKind::Video => {
                let p = lock(&self.shared.settings).encode;
                vec![nertc_protocol::Layer { rid: "h".into(), width: p.width, height: p.height, max_bps: p.bitrate_kbps * 1000 }]
            }
            MediaKind::Audio => vec![],
        };
        let muted = match kind {
            MediaKind::Audio => self.shared.audio_ctl.muted.load(Relaxed),
            MediaKind::Video => self.shared.video_ctl.muted.load(Relaxed),
        };
        let v = s
            .signal
            .request(ClientMsg::Publish(PublishRequest { kind, source, codec: None, layers, muted }))
            .await
            .map_err(|e| e.to_string())?;
        let track_id = v["track_id"].as_str().ok_or("publish response without track_id")?.to_owned();
        if s.pub_pc.is_none() {
            let bind = std::net::SocketAddr::new(nertc_rtc_bind_ip(&s.url), 0);
            let (pc, mut events) = PcBuilder { bind: Some(bind), ..Default::default() }.build().await.map_err(|e| e.to_string())?;
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            s.pub_pc = Some(pc);
        }
        let pc = s.pub_pc.as_ref().expect("created above");
        let (codec, rtc_kind) = match kind {
            MediaKind::Audio => (nertc_rtc::codecs::canonical("audio/opus"), RtpCodecKind::Audio),
            MediaKind::Video => (nertc_rtc::codecs::canonical("video/H264"), RtpCodecKind::Video),
        };
        let (codec, _, _) = codec.ok_or("codec missing")?;
        let ssrc = rand::random::<u32>();
        let track = Arc::new(
            TrackLocalStaticSample::new(
                Instant::now(),
                nertc_rtc::codecs::media_track(format!("nertc-{}", s.uid), &track_id, rtc_kind, codec, ssrc),
            )
            .map_err(|e| e.to_string())?,
        );
        let sender = pc.pc.add_track(track.clone() as Arc<dyn TrackLocal>).await.map_err(|e| e.to_string())?;
        let feedback = match kind {
            MediaKind::Video => {
                *lock(&self.shared.video_ctl.sink) = Some(VideoSink { track: track.clone(), ssrc, rt: self.rt.clone() });
                let ctl = self.shared.video_ctl.clone();
                let t = track.clone();
                Some(self.rt.spawn(async move {
                    loop {
                        match t.poll().await {
                            Some(TrackLocalEvent::OnRtcpPacket(p)) => {
                                if p.iter().any(|p| nertc_rtc::tap::is_keyframe_request(p.as_ref())) {
                                    ctl.force_keyframe.store(true, Relaxed);
                                }
                            }
                            Some(_) => {}
                            None => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                }))
            }
            MediaKind::Audio => {
                *lock(&self.shared.audio_ctl.sink) = Some(AudioSink { track: track.clone(), ssrc, rt: self.rt.clone() });
                None
            }
        };
        s.published.insert(kind, LocalTrack { track_id, sender, feedback });
        Ok(())
    }

    async fn negotiate_pub(&self, s: &mut Session) -> Result<(), String> {
        let pc = s.pub_pc.as_ref().ok_or("no publish connection")?;
        let offer = pc.pc.create_offer(None).await.map_err(|e| e.to_string())?;
        pc.pc.set_local_description(offer).await.map_err(|e| e.to_string())?;
        let sdp = pc.local_sdp().await.ok_or("no local sdp")?;
        let mut pub_mids = BTreeMap::new();
        for t in s.published.values() {
            if let Some(mid) = pc.mid_of_sender(t.sender.id()).await {
                pub_mids.insert(mid, t.track_id.clone());
            }
        }
        s.pub_neg += 1;
        let msg = SdpMsg { pc: PcKind::Pub, kind: SdpType::Offer, sdp, neg: s.pub_neg, pub_mids, sub_mids: BTreeMap::new() };
        let v = s.signal.request(ClientMsg::Sdp(msg)).await.map_err(|e| e.to_string())?;
        let answer: SdpMsg = serde_json::from_value(v).map_err(|e| e.to_string())?;
        let desc = RTCSessionDescription::answer(answer.sdp).map_err(|e| e.to_string())?;
        pc.pc.set_remote_description(desc).await.map_err(|e| e.to_string())?;
        self.shared.video_ctl.force_keyframe.store(true, Relaxed);
        Ok(())
    }

    // --- remote users and subscriptions -------------------------------------------------

    fn user_joined(&self, s: &mut Session, uid: Uid, name: String) {
        let auto_video = lock(&self.shared.settings).auto_subscribe_video;
        let u = s.users.entry(uid).or_insert_with(|| RemoteUser { want_audio: true, want_video: auto_video, ..Default::default() });
        u.name = name.clone();
        self.emit(EngineEvent::UserJoined { uid, name });
    }

    async fn track_published(&mut self, s: &mut Session, uid: Uid, track: TrackInfo) {
        let Some(u) = s.users.get_mut(&uid) else { return };
        u.tracks.insert(track.track_id.clone(), track.clone());
        match track.kind {
            MediaKind::Audio => self.emit(EngineEvent::UserAudioStart { uid }),
            MediaKind::Video => {
                let h = track.layers.iter().map(|l| l.height).max().unwrap_or(0);
                self.emit(EngineEvent::UserVideoStart { uid, max_profile: profile_of(h) });
            }
        }
        if track.muted {
            self.emit(match track.kind {
                MediaKind::Audio => EngineEvent::UserAudioMute { uid, muted: true },
                MediaKind::Video => EngineEvent::UserVideoMute { uid, muted: true },
            });
        }
        self.sync_subscriptions(s, uid).await;
    }

    async fn want(&mut self, uid: Uid, kind: MediaKind, on: bool) {
        let Some(mut s) = self.session.take() else { return };
        let u = s.users.entry(uid).or_insert_with(|| RemoteUser { want_audio: true, ..Default::default() });
        match kind {
            MediaKind::Video => u.want_video = on,
            MediaKind::Audio => u.want_audio = on,
        }
        self.sync_subscriptions(&mut s, uid).await;
        self.session = Some(s);
    }

    /// Subscribes to / unsubscribes from `uid`'s tracks to match what is wanted.
    async fn sync_subscriptions(&mut self, s: &mut Session, uid: Uid) {
        if !s.join.can_subscribe {
            return;
        }
        let Some(u) = s.users.get(&uid) else { return };
        let mut to_sub = Vec::new();
        let mut to_unsub = Vec::new();
        for (id, t) in &u.tracks {
            let want = match t.kind {
                MediaKind::Audio => u.want_audio,
                MediaKind::Video => u.want_video,
            };
            match (want, u.subscribed.contains(id)) {
                (true, false) => to_sub.push(id.clone()),
                (false, true) => to_unsub.push(id.clone()),
                _ => {}
            }
        }
        for id in to_sub {
            match s.signal.request(ClientMsg::Subscribe(SubscribeRequest { track_id: id.clone(), layer: None })).await {
                Ok(_) => {
                    if let Some(u) = s.users.get_mut(&uid) {
                        u.subscribed.insert(id);
                    }
                }
                Err(e) => tracing::warn!(uid, track = %id, "subscribe failed: {e}"),
            }
        }
        for id in to_unsub {
            let _ = s.signal.request(ClientMsg::Unsubscribe(TrackRef { track_id: id.clone() })).await;
            if let Some(u) = s.users.get_mut(&uid) {
                u.subscribed.remove(&id);
            }
            self.stop_receiving(s, &id);
        }
    }

    fn stop_receiving(&self, s: &mut Session, track_id: &str) {
        if let Some(r) = s.receiving.remove(track_id) {
            r.task.abort();
            if r.video.is_some() {
                self.shared.slots.get(StreamKey::Remote(r.uid)).clear();
            }
            if r.audio.is_some() {
                self.shared.mixer.remove(r.uid);
            }
        }
    }

    async fn session_event(&mut self, ev: SessionEvent) {
        let Some(mut s) = self.session.take() else { return };
        match ev {
            SessionEvent::Signal(SignalEvent::Event { seq, event }) => {
                s.last_seq = s.last_seq.max(seq);
                self.room_event(&mut s, event).await;
            }
            SessionEvent::Signal(SignalEvent::Transport(TransportMsg::Sdp(offer)))
                if offer.pc == PcKind::Sub && offer.kind == SdpType::Offer =>
            {
                if let Err(e) = self.answer_sub(&mut s, offer).await {
                    tracing::error!("subscribe negotiation failed: {e}");
                }
            }
            SessionEvent::Signal(SignalEvent::Transport(TransportMsg::Leave { reason })) => {
                tracing::warn!(?reason, "the server ended the session");
                self.server_ended(s, reason).await;
                return;
            }
            SessionEvent::Signal(SignalEvent::Transport(TransportMsg::Pong(p))) => {
                let now_ms = crate::frame::now_us() / 1000;
                s.rtt_ms = now_ms.saturating_sub(p.ts).min(60_000) as u32;
            }
            SessionEvent::Signal(SignalEvent::Transport(_)) => {}
            SessionEvent::Signal(SignalEvent::Closed { code, reason }) => {
                tracing::warn!(code, %reason, "signaling connection lost");
                self.session = Some(s);
                self.start_reconnect();
                return;
            }
            SessionEvent::SubPc(PcEvent::Track(track)) => self.on_sub_track(&mut s, track).await,
            SessionEvent::SubPc(PcEvent::State(_)) => {}
        }
        self.session = Some(s);
    }

    async fn room_event(&mut self, s: &mut Session, event: RoomEvent) {
        match event {
            RoomEvent::UserJoined { uid, name } => self.user_joined(s, uid, name),
            RoomEvent::UserLeft { uid, reason } => {
                if let Some(u) = s.users.remove(&uid) {
                    for id in u.tracks.keys() {
                        self.stop_receiving(s, id);
                    }
                }
                self.shared.slots.remove(StreamKey::Remote(uid));
                let reason = match reason {
                    LeaveReason::Leave => UserLeftReason::Normal,
                    LeaveReason::Timeout => UserLeftReason::Timeout,
                    LeaveReason::Replaced => UserLeftReason::Update,
                    LeaveReason::Kicked => UserLeftReason::Kick,
                    LeaveReason::ServerShutdown => UserLeftReason::Failover,
                };
                self.emit(EngineEvent::UserLeft { uid, reason });
            }
            RoomEvent::TrackPublished { uid, track } => self.track_published(s, uid, track).await,
            RoomEvent::TrackUnpublished { uid, track_id } => {
                let info = s.users.get_mut(&uid).and_then(|u| {
                    u.subscribed.remove(&track_id);
                    u.tracks.remove(&track_id)
                });
                self.stop_receiving(s, &track_id);
                if let Some(t) = info {
                    self.emit(match t.kind {
                        MediaKind::Audio => EngineEvent::UserAudioStop { uid },
                        MediaKind::Video => EngineEvent::UserVideoStop { uid },
                    });
                }
            }
            RoomEvent::TrackMuted { uid, track_id, muted } => {
                if let Some(t) = s.users.get_mut(&uid).and_then(|u| u.tracks.get_mut(&track_id)) {
                    t.muted = muted;
                    self.emit(match t.kind {
                        MediaKind::Audio => EngineEvent::UserAudioMute { uid, muted },
                        MediaKind::Video => EngineEvent::UserVideoMute { uid, muted },
                    });
                }
            }
            _ => {}
        }
    }

    async fn answer_sub(&mut self, s: &mut Session, offer: SdpMsg) -> Result<(), String> {
        if s.sub_pc.is_none() {
            let bind = std::net::SocketAddr::new(nertc_rtc_bind_ip(&s.url), 0);
            let (pc, events) = PcBuilder { bind: Some(bind), ..Default::default() }.build().await.map_err(|e| e.to_string())?;
            forward(s.generation, events, s.events_tx.clone(), SessionEvent::SubPc);
            s.sub_pc = Some(pc);
        }
        let pc = s.sub_pc.as_ref().expect("created above");
        s.sub_mids.extend(offer.sub_mids.clone());
        let desc = RTCSessionDescription::offer(offer.sdp).map_err(|e| e.to_string())?;
        pc.pc.set_remote_description(desc).await.map_err(|e| e.to_string())?;
        let answer = pc.pc.create_answer(None).await.map_err(|e| e.to_string())?;
        pc.pc.set_local_description(answer).await.map_err(|e| e.to_string())?;
        let sdp = pc.local_sdp().await.ok_or("no local sdp")?;
        let msg =
            SdpMsg { pc: PcKind::Sub, kind: SdpType::Answer, sdp, neg: offer.neg, pub_mids: BTreeMap::new(), sub_mids: BTreeMap::new() };
        s.signal.request(ClientMsg::Sdp(msg)).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn on_sub_track(&mut self, s: &mut Session, track: Arc<dyn TrackRemote>) {
        let Some(pc) = &s.sub_pc else { return };
        let Some(info) = pc.mid_of_remote(&track).await.and_then(|m| s.sub_mids.get(&m).cloned()) else {
            tracing::warn!("remote track without a known mid");
            return;
        };
        self.stop_receiving(s, &info.track_id);
        let events = self.shared.events.clone();
        let uid = info.uid;
        let r = match info.kind {
            MediaKind::Video => {
                let stats = Arc::new(VideoRecvStats::default());
                let slot = self.shared.slots.get(StreamKey::Remote(uid));
                let task = self.rt.spawn(video_recv::run(track, uid, slot, events, stats.clone()));
                Receiving { task, uid, video: Some(stats), audio: None }
            }
            MediaKind::Audio => {
                let stats = Arc::new(AudioRecvStats::default());
                let task = self.rt.spawn(audio_recv::run(track, uid, self.shared.mixer.clone(), events, stats.clone()));
                Receiving { task, uid, video: None, audio: Some(stats) }
            }
        };
        s.receiving.insert(info.track_id, r);
    }

    async fn server_ended(&mut self, s: Session, reason: LeaveReason) {
        self.teardown(s).await;
        self.shared.in_channel.store(false, Relaxed);
        lock(&self.shared.settings).in_channel = false;
        self.shared.refresh_local_media();
        let (state_reason, code) = match reason {
            LeaveReason::Replaced | LeaveReason::Kicked => (StateReason::Kicked, error::ERR_KICKED),
            _ => (StateReason::ChannelClosed, error::ERR_CONNECTION_LOST),
        };
        self.emit(EngineEvent::Disconnect { reason: code });
        self.shared.set_state(ConnectionState::Disconnected, state_reason);
    }

    // --- reconnection -------------------------------------------------------------------

    fn start_reconnect(&mut self) {
        if self.reconnect.is_some() {
            return;
        }
        let Some(s) = &self.session else { return };
        self.shared.set_state(ConnectionState::Reconnecting, StateReason::SignalDisconnected);
        self.emit(EngineEvent::ReconnectingStart { cid: s.join.cid, uid: s.uid });
        let now = Instant::now();
        self.reconnect = Some(Reconnect { since: now, attempt: 0, next_at: now });
    }

    async fn try_reconnect(&mut self) {
        let Some(r) = &mut self.reconnect else { return };
        if Instant::now() < r.next_at {
            return;
        }
        let since = r.since;
        r.attempt += 1;
        let delay = RETRY_MS[(r.attempt as usize).min(RETRY_MS.len() - 1)] + rand::random::<u64>() % 300;
        r.next_at = Instant::now() + Duration::from_millis(delay);
        let Some(mut s) = self.session.take() else {
            self.reconnect = None;
            return;
        };
        if since.elapsed() > GIVE_UP {
            tracing::error!("could not reconnect within {GIVE_UP:?}; giving up");
            self.reconnect = None;
            self.teardown(s).await;
            self.shared.in_channel.store(false, Relaxed);
            lock(&self.shared.settings).in_channel = false;
            self.shared.refresh_local_media();
            self.emit(EngineEvent::Disconnect { reason: error::ERR_CONNECTION_LOST });
            self.shared.set_state(ConnectionState::Disconnected, StateReason::Timeout);
            return;
        }
        let within_window = since.elapsed() < Duration::from_millis(s.join.resume_window_ms);
        let mut req = JoinRequest {
            token: s.token.clone(),
            app_key: self.shared.app_key.clone(),
            channel: s.channel.clone(),
            uid: s.uid,
            name: String::new(),
            protocol: PROTOCOL_VERSION,
            resume: None,
        };
        if within_window {
            req.resume =
                Some(Resume { session_id: s.join.session_id.clone(), resume_token: s.join.resume_token.clone(), last_seq: s.last_seq });
        }
        match signaling::connect(&s.url, req).await {
            Ok((signal, join, sig_rx)) if join.resumed.is_some() => {
                tracing::info!("session resumed");
                forward(s.generation, sig_rx, s.events_tx.clone(), SessionEvent::Signal);
                s.signal = signal;
                self.reconnect = None;
                self.shared.set_state(ConnectionState::Connected, StateReason::RejoinSucceed);
                self.emit(EngineEvent::RejoinChannel {
                    cid: join.cid,
                    uid: s.uid,
                    result: error::OK,
                    elapsed_ms: since.elapsed().as_millis() as u64,
                });
                self.session = Some(s);
            }
            Ok((signal, join, sig_rx)) => {
                tracing::info!("rejoined with a new session");
                let generation = s.generation;
                let tx = s.events_tx.clone();
                let old_users: Vec<Uid> = s.users.keys().copied().collect();
                let wants: HashMap<Uid, (bool, bool)> = s.users.iter().map(|(u, r)| (*u, (r.want_video, r.want_audio))).collect();
                let (url, token) = (s.url.clone(), s.token.clone());
                self.teardown(s).await;
                let mut fresh = Session {
                    generation,
                    signal,
                    join: join.clone(),
                    url,
                    token,
                    channel: join.channel.clone(),
                    uid: join.uid,
                    joined_at: Instant::now(),
                    events_tx: tx.clone(),
                    pub_pc: None,
                    pub_neg: 0,
                    published: HashMap::new(),
                    sub_pc: None,
                    sub_mids: BTreeMap::new(),
                    users: BTreeMap::new(),
                    receiving: HashMap::new(),
                    last_seq: join.seq,
                    rtt_ms: 0,
                };
                forward(generation, sig_rx, tx, SessionEvent::Signal);
                let present: HashSet<Uid> = join.users.iter().map(|u| u.uid).collect();
                for u in old_users.iter().filter(|u| !present.contains(u)) {
                    self.emit(EngineEvent::UserLeft { uid: *u, reason: UserLeftReason::Timeout });
                }
                for u in &join.users {
                    let (want_video, want_audio) = wants.get(&u.uid).copied().unwrap_or((false, true));
                    if !old_users.contains(&u.uid) {
                        self.emit(EngineEvent::UserJoined { uid: u.uid, name: u.name.clone() });
                    }
                    fresh.users.insert(u.uid, RemoteUser { name: u.name.clone(), want_video, want_audio, ..Default::default() });
                    for t in &u.tracks {
                        self.track_published(&mut fresh, u.uid, t.clone()).await;
                    }
                }
                self.reconnect = None;
                self.shared.set_state(ConnectionState::Connected, StateReason::RejoinSucceed);
                self.emit(EngineEvent::RejoinChannel {
                    cid: join.cid,
                    uid: fresh.uid,
                    result: error::OK,
                    elapsed_ms: since.elapsed().as_millis() as u64,
                });
                self.session = Some(fresh);
                self.republish().await;
            }
            Err(e) => {
                tracing::info!(attempt = self.reconnect.as_ref().map(|r| r.attempt), "reconnect attempt failed: {e}");
                if let SignalError::Refused(body) = &e {
                    if body.code == nertc_protocol::ErrorCode::ResumeFailed {
                        // Next attempt: a fresh join (the window check above decides it).
                        s.join.resume_window_ms = 0;
                        if let Some(r) = &mut self.reconnect {
                            r.next_at = Instant::now();
                        }
                    }
                }
                self.session = Some(s);
            }
        }
    }

    // --- periodic reports ---------------------------------------------------------------

    fn stats(&mut self) {
        let Some(s) = &self.session else { return };
        let now = Instant::now();
        let dt = self.last_stats.as_ref().map_or(2.0, |p| now.duration_since(p.at).as_secs_f64()).max(0.001);
        let prev = self.last_stats.take().unwrap_or_default();
        let mut next = StatsSnapshot { at: now, ..Default::default() };
        let kbps = |now: u64, before: u64| ((now.saturating_sub(before)) as f64 * 8.0 / 1000.0 / dt).round() as u32;
        let per_s = |now: u64, before: u64| (now.saturating_sub(before) as f64 / dt).round() as u32;
        let v = &self.shared.video_ctl;
        let a = &self.shared.audio_ctl;
        let levels = self.shared.mixer.levels();
        let mut remote_video = Vec::new();
        let mut remote_audio = Vec::new();
        let (mut rx_video, mut rx_audio) = (0u64, 0u64);
        for (track_id, r) in &s.receiving {
            if let Some(st) = &r.video {
                let (bytes, decoded) = (st.bytes.load(Relaxed), st.decoded.load(Relaxed));
                let (pb, pd) = prev.tracks.get(track_id).copied().unwrap_or((bytes, decoded));
                next.tracks.insert(track_id.clone(), (bytes, decoded));
                rx_video += bytes;
                remote_video.push(RemoteVideoStats {
                    uid: r.uid,
                    width: st.width.load(Relaxed) as u32,
                    height: st.height.load(Relaxed) as u32,
                    received_bitrate_kbps: kbps(bytes, pb),
                    decoder_output_frame_rate: per_s(decoded, pd),
                    packets_lost: st.lost.load(Relaxed),
                    frozen_ms: 0,
                });
            }
            if let Some(st) = &r.audio {
                let bytes = st.bytes.load(Relaxed);
                let (pb, _) = prev.tracks.get(track_id).copied().unwrap_or((bytes, 0));
                next.tracks.insert(track_id.clone(), (bytes, 0));
                rx_audio += bytes;
                let volume = levels.iter().find(|(u, _)| *u == r.uid).map_or(0, |(_, l)| *l);
                remote_audio.push(RemoteAudioStats {
                    uid: r.uid,
                    received_bitrate_kbps: kbps(bytes, pb),
                    volume,
                    packets_lost: st.lost.load(Relaxed),
                });
            }
        }
        next.tx_video = v.sent_bytes.load(Relaxed);
        next.tx_audio = a.sent_bytes.load(Relaxed);
        next.rx_video = rx_video;
        next.rx_audio = rx_audio;
        next.captured = v.captured.load(Relaxed);
        next.encoded = v.encoded.load(Relaxed);
        next.cpu_ticks = process_cpu_ticks();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let first = prev.at.elapsed() > Duration::from_secs(3600);
        let base = if first { &next } else { &prev };
        self.emit(EngineEvent::RtcStats(RtcStats {
            duration_s: s.joined_at.elapsed().as_secs(),
            tx_bytes: next.tx_video + next.tx_audio,
            rx_bytes: rx_video + rx_audio,
            tx_video_kbps: kbps(next.tx_video, base.tx_video),
            rx_video_kbps: kbps(next.rx_video, base.rx_video),
            tx_audio_kbps: kbps(next.tx_audio, base.tx_audio),
            rx_audio_kbps: kbps(next.rx_audio, base.rx_audio),
            // Percent of the whole machine's CPU used by this process (Linux USER_HZ = 100).
            cpu_app_usage: ((next.cpu_ticks.saturating_sub(base.cpu_ticks)) as f64 / dt / cores).round() as u32,
            memory_app_usage_kb: process_rss_kb(),
            users: s.users.len() as u32 + 1,
            up_rtt_ms: s.rtt_ms,
            down_rtt_ms: s.rtt_ms,
        }));
        if s.published.contains_key(&MediaKind::Video) {
            let encoded = next.encoded.max(1);
            self.emit(EngineEvent::LocalVideoStats(LocalVideoStats {
                width: v.last_width.load(Relaxed),
                height: v.last_height.load(Relaxed),
                capture_frame_rate: per_s(next.captured, base.captured),
                encoder_output_frame_rate: per_s(next.encoded, base.encoded),
                sent_bitrate_kbps: kbps(next.tx_video, base.tx_video),
                encode_ms_avg: v.encode_us_total.load(Relaxed) as f32 / encoded as f32 / 1000.0,
            }));
        }
        self.emit(EngineEvent::RemoteVideoStats(remote_video));
        self.emit(EngineEvent::RemoteAudioStats(remote_audio));
        // Loopback-grade quality until RTT/loss estimates feed it: 1 (excellent) with no loss.
        let mut quality = vec![NetworkQuality { uid: s.uid, tx_quality: 1, rx_quality: 1 }];
        for uid in s.users.keys() {
            quality.push(NetworkQuality { uid: *uid, tx_quality: 1, rx_quality: 1 });
        }
        self.emit(EngineEvent::NetworkQuality(quality));
        self.last_stats = Some(next);
    }

    fn volume_indication(&self, ticks: u64) {
        let Some(ms) = lock(&self.shared.settings).volume_indication_ms else { return };
        if self.session.is_none() || ticks % u64::from((ms / 100).max(1)) != 0 {
            return;
        }
        let speakers = self.shared.mixer.levels();
        let total = self.shared.mixer.mixed_level.load(Relaxed);
        self.emit(EngineEvent::RemoteAudioVolumeIndication { speakers, total_volume: total });
        self.emit(EngineEvent::LocalAudioVolumeIndication { volume: self.shared.audio_ctl.level.load(Relaxed) });
    }
}

fn nertc_rtc_bind_ip(url: &str) -> std::net::IpAddr {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or("");
    match host {
        "127.0.0.1" | "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        _ => std::net::IpAddr::from([0, 0, 0, 0]),
    }
}

/// Forwards a stream of events into the actor's session channel, tagged with the session.
fn forward<T: Send + 'static>(
    generation: u64,
    mut rx: mpsc::UnboundedReceiver<T>,
    tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    wrap: fn(T) -> SessionEvent,
) {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if tx.send((generation, wrap(ev))).is_err() {
                break;
            }
        }
    });
}
