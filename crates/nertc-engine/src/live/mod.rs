//! Live streaming (`addLiveStreamTask`, `updateLiveStreamTask`, `removeLiveStreamTask`): the
//! engine composes the task's layout and pushes it over RTMP itself. (NERTC composes on its
//! servers; ours forwards packets and has no decoders, so the engine that owns the task does
//! the work: it already has every picture and sound it needs.)
//!
//! ```text
//!  API (JS thread): validate, register, spawn ── never waits
//!  "nertc-live" thread per task, a 10 ms tick:
//!    every 1/15 s: compose (compose.rs) the newest frame of each listed user — the local
//!      preview slot for our uid, the remote users' decoded frames for the others, nothing
//!      (background) for a user without one — and encode H.264 (openh264; an IDR each second)
//!    every 10 ms of audio: the listed users with `audio_push` — what we send for our uid,
//!      each remote user's decoded audio for the others — mixed → the task's rate and
//!      channels → AAC-LC (Fraunhofer FDK)
//!    FLV tag bodies (flv.rs) ─[bounded 256; full → dropped, the next picture is an IDR]─▶
//!  RTMP task (rtmp.rs, tokio): TCP, handshake, connect, publish, metadata, messages
//! ```
//! Audio comes from taps the audio pipeline calls: the encoder's hook (what is sent, as for
//! `startAudioRecording`) and the playout mixer, once per remote user per 10 ms block (decoded
//! when the speaker pulls: a remote user is in the stream as it is in the speaker, after its
//! `adjustUserPlaybackSignalVolume`); a queue per task, full → the block is dropped, never
//! waited for. Remote video is what this engine receives: subscribe to the listed users'
//! video (`subscribeRemoteVideoStream`), else they stay background.
//!
//! States: the call returns 0 and `onAddLiveStreamTask(id, url, 0)` follows; once the RTMP
//! server accepts the publish `onLiveStreamState(id, url, 505)`; a connection that cannot be
//! made or breaks: `onLiveStreamState(id, url, 506)` and the task is gone; remove (or
//! leaving the channel): `onRemoveLiveStreamTask(id, 0)` then `onLiveStreamState(id, url,
//! 511)` once the stream is closed. `update` replaces the layout (size, background, users) of
//! the running stream: `onUpdateLiveStreamTask(id, url, 0)`; its URL, mode and audio settings
//! stay those of the add. A `bg_image` is not drawn: `onLiveStreamState(512)` says so once.
//! HE-AAC (`audio_codec_profile` 1) is sent as AAC-LC.
//!
//! Refusals return 30003 (invalid argument) or 30005 (not in a channel; [`MAX_TASKS`]
//! running); where NERTC has a live-stream code the task's event carries it too: a duplicate
//! id 1403, a layout out of the canvas 1501, an unknown id 1404, too many tasks 1402.

// Without the `aac` feature the task thread (AAC is part of every stream) is not built and
// `add` refuses; its helpers stay, unused.
#![cfg_attr(not(feature = "aac"), allow(dead_code, unused_imports))]

pub mod compose;
pub mod flv;
pub mod rtmp;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nertc_protocol::Uid;

use crate::event::EngineEvent;
use crate::shared::{Shared, lock};

/// NERTC's `NERtcLiveStreamStateCode`.
pub mod state {
    pub const PUSHING: i32 = 505;
    pub const PUSH_FAIL: i32 = 506;
    pub const STOPPED: i32 = 511;
    pub const IMAGE_ERROR: i32 = 512;
}

/// NERTC's live-stream error codes (`NERtcErrorCode`'s `kNERtcErrLsTask*`).
pub mod ls_code {
    pub const NUM_LIMIT: i32 = 1402;
    pub const DUPLICATE_ID: i32 = 1403;
    pub const NOT_FOUND: i32 = 1404;
    pub const INVALID_LAYOUT: i32 = 1501;
}

/// NERTC's `NERtcLiveStreamMode`.
pub const MODE_VIDEO: i32 = 0;
pub const MODE_AUDIO: i32 = 1;
/// Tasks an engine may run at once.
pub const MAX_TASKS: usize = 6;
/// Users a layout may list.
pub const MAX_USERS: usize = 16;
/// Canvas sides (openh264 codes up to 3840x2160; NERTC's CDN streams stop at 1080p).
pub const MIN_SIDE: u32 = 16;
pub const MAX_SIDE: u32 = 1920;
/// Frames per second of the composed video.
pub const FPS: u32 = 15;

/// `NERtcLiveStreamUserTranscoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUser {
    pub uid: Uid,
    pub video_push: bool,
    /// `NERtcLiveStreamVideoScaleMode`: 0 fit, 1 crop-fill.
    pub adaption: i32,
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub audio_push: bool,
}

/// `NERtcLiveStreamImageInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveImage {
    pub url: String,
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
}

/// `NERtcLiveStreamLayout`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveLayout {
    pub width: u32,
    pub height: u32,
    /// `R << 16 | G << 8 | B`.
    pub background_color: u32,
    pub users: Vec<LiveUser>,
    pub bg_image: Option<LiveImage>,
}

/// `NERtcLiveConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// NERTC's server-side passthrough; composing here, it changes nothing.
    pub single_video_passthrough: bool,
    /// kb/s, 10..=192 (0: 64).
    pub audio_bitrate: u32,
    /// 32000, 44100 or 48000.
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u32,
    /// `NERtcLiveStreamAudioCodecProfile`: 0 LC-AAC, 1 HE-AAC (sent as LC).
    pub audio_codec_profile: i32,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig { single_video_passthrough: false, audio_bitrate: 64, sample_rate: 48_000, channels: 2, audio_codec_profile: 0 }
    }
}

/// `NERtcLiveStreamTaskInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveTaskInfo {
    pub task_id: String,
    pub stream_url: String,
    pub server_record_enabled: bool,
    /// `NERtcLiveStreamMode`: 0 video (and audio), 1 audio only.
    pub ls_mode: i32,
    pub layout: LiveLayout,
    pub config: LiveConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveError {
    InvalidParam(String),
    InvalidLayout(String),
    Duplicate(String),
    NotFound(String),
    TooMany,
    NotJoined,
    /// Built without the `aac` feature.
    Unsupported,
}

impl LiveError {
    /// The code the task's event carries, where NERTC has one.
    pub fn ls_code(&self) -> Option<i32> {
        match self {
            LiveError::InvalidLayout(_) => Some(ls_code::INVALID_LAYOUT),
            LiveError::Duplicate(_) => Some(ls_code::DUPLICATE_ID),
            LiveError::NotFound(_) => Some(ls_code::NOT_FOUND),
            LiveError::TooMany => Some(ls_code::NUM_LIMIT),
            _ => None,
        }
    }
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::InvalidParam(m) => write!(f, "invalid live stream task: {m}"),
            LiveError::InvalidLayout(m) => write!(f, "invalid live stream layout: {m}"),
            LiveError::Duplicate(id) => write!(f, "live stream task {id:?} exists already"),
            LiveError::NotFound(id) => write!(f, "no live stream task {id:?}"),
            LiveError::TooMany => write!(f, "{MAX_TASKS} live stream tasks run already"),
            LiveError::NotJoined => write!(f, "live streaming needs a channel"),
            LiveError::Unsupported => write!(f, "live streaming needs the `aac` feature"),
        }
    }
}

fn check_task(info: &LiveTaskInfo) -> Result<(), LiveError> {
    let bad = |m: String| Err(LiveError::InvalidParam(m));
    if info.task_id.is_empty() || info.task_id.chars().count() >= 64 {
        return bad(format!("task_id {:?}: 1 to 63 characters", info.task_id));
    }
    if info.stream_url.chars().count() >= 256 {
        return bad("stream_url longer than 255 characters".into());
    }
    if let Err(e) = rtmp::parse_url(&info.stream_url) {
        return bad(format!("stream_url {:?}: {e}", info.stream_url));
    }
    if info.ls_mode != MODE_VIDEO && info.ls_mode != MODE_AUDIO {
        return bad(format!("ls_mode {}", info.ls_mode));
    }
    let c = &info.config;
    if ![32_000, 44_100, 48_000].contains(&c.sample_rate) {
        return bad(format!("sample_rate {}", c.sample_rate));
    }
    if !(1..=2).contains(&c.channels) {
        return bad(format!("channels {}", c.channels));
    }
    if c.audio_bitrate != 0 && !(10..=192).contains(&c.audio_bitrate) {
        return bad(format!("audio_bitrate {} kb/s (10..=192)", c.audio_bitrate));
    }
    if !(0..=1).contains(&c.audio_codec_profile) {
        return bad(format!("audio_codec_profile {}", c.audio_codec_profile));
    }
    check_layout(&info.layout, info.ls_mode)
}

fn check_layout(l: &LiveLayout, mode: i32) -> Result<(), LiveError> {
    let bad = |m: String| Err(LiveError::InvalidLayout(m));
    if l.users.len() > MAX_USERS {
        return bad(format!("{} users (at most {MAX_USERS})", l.users.len()));
    }
    if l.background_color > 0xff_ffff {
        return bad(format!("background_color {:#x}", l.background_color));
    }
    let mut seen = std::collections::HashSet::new();
    for u in &l.users {
        if u.uid == 0 || !seen.insert(u.uid) {
            return bad(format!("user {} listed twice or 0", u.uid));
        }
    }
    if mode == MODE_AUDIO {
        return Ok(());
    }
    if !(MIN_SIDE..=MAX_SIDE).contains(&l.width) || !(MIN_SIDE..=MAX_SIDE).contains(&l.height) {
        return bad(format!("canvas {}x{} ({MIN_SIDE}..={MAX_SIDE} each side)", l.width, l.height));
    }
    for u in l.users.iter().filter(|u| u.video_push) {
        let inside = u.x >= 0
            && u.y >= 0
            && u.width > 0
            && u.height > 0
            && u.x + u.width <= i64::from(l.width)
            && u.y + u.height <= i64::from(l.height);
        if !inside {
            return bad(format!(
                "user {} at ({}, {}) {}x{} is not inside the {}x{} canvas",
                u.uid, u.x, u.y, u.width, u.height, l.width, l.height
            ));
        }
        if !(0..=1).contains(&u.adaption) {
            return bad(format!("user {} adaption {}", u.uid, u.adaption));
        }
    }
    Ok(())
}

/// Audio blocks handed to a task's thread (48 kHz mono).
enum Tap {
    /// What we send (20 ms blocks).
    Sent(Vec<i16>),
    /// A remote user's decoded audio (10 ms blocks, as the speaker's mix takes it).
    User(Uid, Vec<i16>),
}

/// Blocks a task's audio queue holds (2 s of us and 8 remote users).
const TAP_QUEUE: usize = 2000;

struct Task {
    serial: u64,
    url: String,
    layout: Arc<Mutex<LiveLayout>>,
    taps: Sender<Tap>,
    stop: Arc<AtomicBool>,
}

/// The engine's live stream tasks.
#[derive(Default)]
pub struct LiveStreams {
    tasks: Mutex<HashMap<String, Task>>,
    /// Tasks running (the audio taps skip the lock when 0).
    running: AtomicUsize,
    serial: AtomicU64,
    /// Our uid in the channel (set at join).
    local_uid: AtomicU64,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl LiveStreams {
    pub fn set_local_uid(&self, uid: Uid) {
        self.local_uid.store(uid, Relaxed);
    }

    /// `addLiveStreamTask`. `rt`: the engine's runtime (the RTMP task runs there).
    pub(crate) fn add(&self, shared: &Arc<Shared>, rt: &tokio::runtime::Handle, info: LiveTaskInfo) -> Result<(), LiveError> {
        let fail = |e: LiveError| {
            if let Some(code) = e.ls_code() {
                shared.emit(EngineEvent::AddLiveStreamTask { task_id: info.task_id.clone(), url: info.stream_url.clone(), error: code });
            }
            Err(e)
        };
        if let Err(e) = check_task(&info) {
            return fail(e);
        }
        if !cfg!(feature = "aac") {
            return fail(LiveError::Unsupported);
        }
        let mut tasks = lock(&self.tasks);
        // Checked under the lock: leaving marks the presence first, then stops every task
        // under it, so no task can slip in after a leave.
        if !shared.presence.in_channel() {
            drop(tasks);
            return fail(LiveError::NotJoined);
        }
        if tasks.contains_key(&info.task_id) {
            drop(tasks);
            return fail(LiveError::Duplicate(info.task_id.clone()));
        }
        if tasks.len() >= MAX_TASKS {
            drop(tasks);
            return fail(LiveError::TooMany);
        }
        let serial = self.serial.fetch_add(1, Relaxed) + 1;
        let layout = Arc::new(Mutex::new(info.layout.clone()));
        let (taps, taps_rx) = crossbeam_channel::bounded(TAP_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let (media_tx, media_rx) = tokio::sync::mpsc::channel(MEDIA_QUEUE);
        let pushing = Arc::new(AtomicBool::new(false));
        let work = Work {
            shared: shared.clone(),
            info: info.clone(),
            local_uid: self.local_uid.load(Relaxed),
            layout: layout.clone(),
            taps: taps_rx,
            stop: stop.clone(),
            pushing: pushing.clone(),
            media: media_tx,
        };
        let thread = std::thread::Builder::new()
            .name("nertc-live".into())
            .spawn(move || work.run())
            .map_err(|e| LiveError::InvalidParam(format!("cannot start the live stream thread: {e}")))?;
        let mut threads = lock(&self.threads);
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
        drop(threads);
        let target = rtmp::parse_url(&info.stream_url).map_err(LiveError::InvalidParam)?;
        let meta = metadata(&info);
        let (task_id, url) = (info.task_id.clone(), info.stream_url.clone());
        let sh = shared.clone();
        let on_pushing = {
            let (sh, task_id, url) = (shared.clone(), task_id.clone(), url.clone());
            move || {
                tracing::info!(task = %task_id, "live stream: pushing to {url}");
                pushing.store(true, Relaxed);
                sh.emit(EngineEvent::LiveStreamState { task_id, url, state: state::PUSHING });
            }
        };
        let stop_rtmp = stop.clone();
        // Before the RTMP task starts: onAddLiveStreamTask always comes before its 505 / 506.
        shared.emit(EngineEvent::AddLiveStreamTask { task_id: info.task_id.clone(), url: info.stream_url.clone(), error: 0 });
        rt.spawn(async move {
            let r = rtmp::publish(target, meta, media_rx, on_pushing).await;
            stop_rtmp.store(true, Relaxed);
            let state = match r {
                Ok(()) => {
                    tracing::info!(task = %task_id, "live stream: stopped");
                    state::STOPPED
                }
                Err(e) => {
                    tracing::error!(task = %task_id, "live stream to {url} failed: {e}");
                    sh.live.forget(&task_id, serial);
                    state::PUSH_FAIL
                }
            };
            sh.emit(EngineEvent::LiveStreamState { task_id, url, state });
        });
        tracing::info!(task = %info.task_id, url = %info.stream_url, mode = info.ls_mode, "live stream task added");
        tasks.insert(info.task_id.clone(), Task { serial, url: info.stream_url.clone(), layout, taps, stop });
        self.running.store(tasks.len(), Relaxed);
        drop(tasks);
        if info.layout.bg_image.as_ref().is_some_and(|i| !i.url.is_empty()) {
            tracing::warn!(task = %info.task_id, "live stream: background images are not drawn");
            shared.emit(EngineEvent::LiveStreamState { task_id: info.task_id, url: info.stream_url, state: state::IMAGE_ERROR });
        }
        Ok(())
    }

    /// `updateLiveStreamTask`: the new layout applies from the next picture.
    pub(crate) fn update(&self, shared: &Shared, info: LiveTaskInfo) -> Result<(), LiveError> {
        let tasks = lock(&self.tasks);
        let r = match tasks.get(&info.task_id) {
            None if !shared.presence.in_channel() => Err(LiveError::NotJoined),
            None => Err(LiveError::NotFound(info.task_id.clone())),
            Some(t) => check_task(&LiveTaskInfo { stream_url: t.url.clone(), ..info.clone() }).map(|()| {
                *lock(&t.layout) = info.layout.clone();
            }),
        };
        drop(tasks);
        let url = info.stream_url.clone();
        match &r {
            Ok(()) => shared.emit(EngineEvent::UpdateLiveStreamTask { task_id: info.task_id, url, error: 0 }),
            Err(e) => {
                if let Some(error) = e.ls_code() {
                    shared.emit(EngineEvent::UpdateLiveStreamTask { task_id: info.task_id, url, error });
                }
            }
        }
        r
    }

    /// `removeLiveStreamTask`: `onRemoveLiveStreamTask(id, 0)` now, 511 once the stream is
    /// closed.
    pub(crate) fn remove(&self, shared: &Shared, task_id: &str) -> Result<(), LiveError> {
        if task_id.is_empty() {
            return Err(LiveError::InvalidParam("empty task_id".into()));
        }
        let removed = {
            let mut tasks = lock(&self.tasks);
            let t = tasks.remove(task_id);
            self.running.store(tasks.len(), Relaxed);
            t
        };
        let Some(t) = removed else {
            if !shared.presence.in_channel() {
                return Err(LiveError::NotJoined);
            }
            shared.emit(EngineEvent::RemoveLiveStreamTask { task_id: task_id.to_owned(), error: ls_code::NOT_FOUND });
            return Err(LiveError::NotFound(task_id.to_owned()));
        };
        t.stop.store(true, Relaxed);
        tracing::info!(task = %task_id, "live stream task removed");
        shared.emit(EngineEvent::RemoveLiveStreamTask { task_id: task_id.to_owned(), error: 0 });
        Ok(())
    }

    /// Leaving the channel: every task stops (each ends with 511).
    pub fn stop_all(&self) {
        let mut tasks = lock(&self.tasks);
        for (id, t) in tasks.drain() {
            tracing::info!(task = %id, "live stream task ends with the channel");
            t.stop.store(true, Relaxed);
        }
        self.running.store(0, Relaxed);
    }

    /// Release: stops every task and waits for their threads.
    pub fn release(&self) {
        self.stop_all();
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
    }

    /// A task whose stream failed leaves the list (if it is still that task).
    fn forget(&self, task_id: &str, serial: u64) {
        let mut tasks = lock(&self.tasks);
        if tasks.get(task_id).is_some_and(|t| t.serial == serial)
            && let Some(t) = tasks.remove(task_id)
        {
            t.stop.store(true, Relaxed);
        }
        self.running.store(tasks.len(), Relaxed);
    }

    fn tap(&self, make: impl Fn() -> Tap) {
        if self.running.load(Relaxed) == 0 {
            return;
        }
        for t in lock(&self.tasks).values() {
            // Full: the block is dropped (the thread is behind); never waited for.
            let _ = t.taps.try_send(make());
        }
    }

    /// What is sent (48 kHz mono).
    pub fn tap_local(&self, pcm: &[i16]) {
        self.tap(|| Tap::Sent(pcm.to_vec()));
    }

    /// A remote user's block of the playout mix (48 kHz mono, after its per-user volume);
    /// each task's thread keeps the users it lists.
    pub fn tap_user(&self, uid: Uid, pcm: &[i16]) {
        self.tap(|| Tap::User(uid, pcm.to_vec()));
    }
}

/// Encoded messages the RTMP task may be behind before the thread drops them.
const MEDIA_QUEUE: usize = 256;

/// The stream's metadata (`onMetaData`).
fn metadata(info: &LiveTaskInfo) -> rml_rtmp::sessions::StreamMetadata {
    let mut m = rml_rtmp::sessions::StreamMetadata::new();
    if info.ls_mode == MODE_VIDEO {
        m.video_width = Some(info.layout.width & !1);
        m.video_height = Some(info.layout.height & !1);
        m.video_codec_id = Some(7);
        m.video_frame_rate = Some(FPS as f32);
        m.video_bitrate_kbps = Some(video_kbps(info.layout.width, info.layout.height));
    }
    m.audio_codec_id = Some(10);
    m.audio_bitrate_kbps = Some(audio_kbps(&info.config));
    m.audio_sample_rate = Some(info.config.sample_rate);
    m.audio_channels = Some(info.config.channels);
    m.audio_is_stereo = Some(info.config.channels == 2);
    m.encoder = Some(format!("nertc-electron-sdk {}", crate::api::version()));
    m
}

/// Video bit rate for a canvas: ~0.1 bit per pixel at 15 fps, 200..=4000 kb/s.
fn video_kbps(width: u32, height: u32) -> u32 {
    (u64::from(width) * u64::from(height) * u64::from(FPS) / 10_000).clamp(200, 4000) as u32
}

fn audio_kbps(c: &LiveConfig) -> u32 {
    if c.audio_bitrate == 0 { 64 } else { c.audio_bitrate }
}

/// A task's thread: composes, encodes, hands tag bodies to the RTMP task.
struct Work {
    shared: Arc<Shared>,
    info: LiveTaskInfo,
    local_uid: Uid,
    layout: Arc<Mutex<LiveLayout>>,
    taps: Receiver<Tap>,
    stop: Arc<AtomicBool>,
    pushing: Arc<AtomicBool>,
    media: tokio::sync::mpsc::Sender<rtmp::Media>,
}

/// 10 ms at 48 kHz.
const BLOCK: usize = 480;
/// Audio a side gathers before it is mixed in (and again after it ran dry).
const PREBUFFER: usize = 4 * BLOCK;
/// Most audio a side keeps (older samples are dropped).
const MAX_FIFO: usize = 20 * BLOCK;

/// One side of the audio (sent or played): a FIFO that starts after a prebuffer.
#[derive(Default)]
struct Side {
    fifo: VecDeque<i16>,
    flowing: bool,
}

impl Side {
    fn push(&mut self, pcm: Vec<i16>) {
        self.fifo.extend(pcm);
        let over = self.fifo.len().saturating_sub(MAX_FIFO);
        self.fifo.drain(..over);
    }

    fn add_into(&mut self, out: &mut [i32]) {
        if !self.flowing && self.fifo.len() >= PREBUFFER {
            self.flowing = true;
        }
        if !self.flowing {
            return;
        }
        for o in out.iter_mut() {
            match self.fifo.pop_front() {
                Some(s) => *o += i32::from(s),
                None => {
                    self.flowing = false;
                    break;
                }
            }
        }
    }
}

#[cfg(feature = "aac")]
impl Work {
    fn run(self) {
        let task = self.info.task_id.clone();
        if let Err(e) = self.stream() {
            // The RTMP task reports the failure (its queue closes when this thread ends).
            tracing::error!(task = %task, "live stream encoder: {e}");
        }
    }

    /// Sends a message; false when the RTMP task is gone. A full queue drops it.
    fn send(&self, m: rtmp::Media, dropped: &mut u64) -> bool {
        match self.media.try_send(m) {
            Ok(()) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                *dropped += 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(task = %self.info.task_id, dropped, "live stream: the network is behind; messages dropped");
                }
                true
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn stream(self) -> Result<(), String> {
        use crate::codec::h264::{EncoderConfig, H264Encoder};
        use crate::device::AudioConverter;
        use crate::render::StreamKey;
        use bytes::Bytes;
        use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

        // Nothing is encoded until the server takes the stream.
        while !self.pushing.load(Relaxed) {
            if self.stop.load(Relaxed) || self.media.is_closed() {
                return Ok(());
            }
            while self.taps.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(10));
        }
        let cfg = &self.info.config;
        if cfg.audio_codec_profile == 1 {
            tracing::info!(task = %self.info.task_id, "live stream: HE-AAC asked, AAC-LC sent");
        }
        let aac = Encoder::new(EncoderParams {
            bit_rate: BitRate::Cbr(audio_kbps(cfg) * 1000),
            sample_rate: cfg.sample_rate,
            transport: Transport::Raw,
            channels: if cfg.channels == 2 { ChannelMode::Stereo } else { ChannelMode::Mono },
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(|e| format!("AAC encoder: {e}"))?;
        let aac_info = aac.info().map_err(|e| format!("AAC encoder: {e}"))?;
        let frame_len = u64::from(aac_info.frameLength.max(1));
        let asc = aac_info.confBuf[..(aac_info.confSize as usize).min(aac_info.confBuf.len())].to_vec();
        let mut dropped = 0u64;
        if !self.send(rtmp::Media::Audio { ts_ms: 0, body: Bytes::from(flv::aac_sequence_header(&asc)) }, &mut dropped) {
            return Ok(());
        }
        let mut conv = AudioConverter::new(48_000, 1, cfg.sample_rate, cfg.channels as u16);
        let mut pcm_out: Vec<i16> = Vec::new();
        let mut au = vec![0u8; 8192];
        let mut aac_frames = 0u64;
        let mut sent = Side::default();
        let mut remote: HashMap<Uid, Side> = HashMap::new();
        let mut mix = vec![0i32; BLOCK];

        let video = self.info.ls_mode == MODE_VIDEO;
        let mut compositor = compose::Compositor::new();
        let mut h264: Option<H264Encoder> = None;
        let mut last_sps: Vec<u8> = Vec::new();
        let mut force_key = true;
        let frame_interval = Duration::from_secs(1) / FPS;
        let start = Instant::now();
        let mut next_frame = start;
        let mut frames = 0u64;
        let mut blocks = 0u64;
        let local_slot = self.shared.slots.get(StreamKey::Local);
        while !self.stop.load(Relaxed) {
            let layout = lock(&self.layout).clone();
            let heard = |uid: Uid| layout.users.iter().any(|u| u.uid == uid && u.audio_push);
            let local_audio = heard(self.local_uid);
            remote.retain(|uid, _| heard(*uid));
            for tap in self.taps.try_iter() {
                match tap {
                    Tap::Sent(p) if local_audio => sent.push(p),
                    Tap::User(uid, p) if uid != self.local_uid && heard(uid) => remote.entry(uid).or_default().push(p),
                    _ => {}
                }
            }
            // Audio: every 10 ms block due by now.
            let due = start.elapsed().as_micros() as u64 * 48 / 1000 / BLOCK as u64;
            while blocks < due {
                blocks += 1;
                mix.fill(0);
                sent.add_into(&mut mix);
                remote.values_mut().for_each(|side| side.add_into(&mut mix));
                let block: Vec<i16> = mix.iter().map(|&s| s.clamp(-32768, 32767) as i16).collect();
                conv.push_i16(&block);
                pcm_out.extend(conv.take_i16());
                let chunk = frame_len as usize * cfg.channels as usize;
                while pcm_out.len() >= chunk {
                    let mut input: &[i16] = &pcm_out[..chunk];
                    while !input.is_empty() {
                        let r = aac.encode(input, &mut au).map_err(|e| format!("AAC encoder: {e}"))?;
                        if r.output_size > 0 {
                            let ts_ms = (aac_frames * frame_len * 1000 / u64::from(cfg.sample_rate)) as u32;
                            aac_frames += 1;
                            let body = Bytes::from(flv::aac_raw(&au[..r.output_size]));
                            if !self.send(rtmp::Media::Audio { ts_ms, body }, &mut dropped) {
                                return Ok(());
                            }
                        }
                        if r.input_consumed == 0 && r.output_size == 0 {
                            return Err("AAC encoder took no input".into());
                        }
                        input = &input[r.input_consumed.min(input.len())..];
                    }
                    pcm_out.drain(..chunk);
                }
            }
            // Video: a picture every 1/FPS.
            if video && Instant::now() >= next_frame {
                next_frame += frame_interval;
                if next_frame < Instant::now() {
                    // Behind (a slow machine): skip ahead instead of bursting.
                    next_frame = Instant::now() + frame_interval;
                }
                let mut placed = Vec::new();
                for u in layout.users.iter().filter(|u| u.video_push) {
                    let slot = if u.uid == self.local_uid { local_slot.clone() } else { self.shared.slots.get(StreamKey::Remote(u.uid)) };
                    if let Some((_, f)) = slot.newer_than(0) {
                        let p = compose::Placement {
                            x: u.x.max(0) as u32,
                            y: u.y.max(0) as u32,
                            width: u.width.max(0) as u32,
                            height: u.height.max(0) as u32,
                            adaption: u.adaption,
                        };
                        placed.push((p, f));
                    }
                }
                let refs: Vec<(compose::Placement, &crate::frame::VideoFrame)> = placed.iter().map(|(p, f)| (*p, f.as_ref())).collect();
                let mut canvas = compositor.compose(layout.width, layout.height, layout.background_color, &refs);
                let ts_ms = start.elapsed().as_millis() as u32;
                canvas.timestamp_us = u64::from(ts_ms) * 1000;
                let enc = match &mut h264 {
                    Some(e) => e,
                    None => h264.insert(
                        H264Encoder::new(EncoderConfig {
                            width: canvas.width,
                            height: canvas.height,
                            fps: FPS,
                            bitrate_kbps: video_kbps(canvas.width, canvas.height),
                        })
                        .map_err(|e| format!("H.264 encoder: {e}"))?,
                    ),
                };
                // An IDR every second: players joining the stream start within one.
                let key = force_key || frames.is_multiple_of(u64::from(FPS));
                frames += 1;
                let Some(pic) = enc.encode(&canvas, key).map_err(|e| format!("H.264 encoder: {e}"))? else { continue };
                if pic.keyframe
                    && let Some((sps, pps)) = flv::parameter_sets(&pic.data)
                    && sps != last_sps.as_slice()
                {
                    let Some(header) = flv::avc_sequence_header(sps, pps) else { return Err("unusable SPS".into()) };
                    last_sps = sps.to_vec();
                    if !self.send(rtmp::Media::Video { ts_ms, body: Bytes::from(header) }, &mut dropped) {
                        return Ok(());
                    }
                }
                if last_sps.is_empty() {
                    // No sequence header yet: a player could not decode this.
                    force_key = true;
                    continue;
                }
                force_key = false;
                if let Some(body) = flv::avc_nalus(&pic.data, pic.keyframe) {
                    let before = dropped;
                    if !self.send(rtmp::Media::Video { ts_ms, body: Bytes::from(body) }, &mut dropped) {
                        return Ok(());
                    }
                    // A dropped picture breaks the ones after it: start again from an IDR.
                    force_key = dropped != before;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

#[cfg(not(feature = "aac"))]
impl Work {
    fn run(self) {
        let _ = (&self.shared, &self.info, self.local_uid, &self.layout, &self.taps, &self.stop, &self.pushing, &self.media);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> LiveTaskInfo {
        LiveTaskInfo {
            task_id: "t1".into(),
            stream_url: "rtmp://127.0.0.1/live/k".into(),
            ls_mode: MODE_VIDEO,
            layout: LiveLayout {
                width: 640,
                height: 360,
                users: vec![LiveUser { uid: 1, video_push: true, adaption: 1, x: 0, y: 0, width: 320, height: 360, audio_push: true }],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn tasks_are_checked() {
        assert_eq!(check_task(&task()), Ok(()));
        let invalid = |f: &dyn Fn(&mut LiveTaskInfo)| {
            let mut t = task();
            f(&mut t);
            check_task(&t)
        };
        for url in ["", "http://h/live/k", "rtmp://h/live", "rtmp://h/live/"] {
            assert!(matches!(invalid(&|t| t.stream_url = url.into()), Err(LiveError::InvalidParam(_))), "{url}");
        }
        assert!(matches!(invalid(&|t| t.task_id = String::new()), Err(LiveError::InvalidParam(_))));
        assert!(matches!(invalid(&|t| t.task_id = "x".repeat(64)), Err(LiveError::InvalidParam(_))));
        assert!(matches!(invalid(&|t| t.config.sample_rate = 16_000), Err(LiveError::InvalidParam(_))));
        assert!(matches!(invalid(&|t| t.config.channels = 3), Err(LiveError::InvalidParam(_))));
        assert!(matches!(invalid(&|t| t.config.audio_bitrate = 193), Err(LiveError::InvalidParam(_))));
        assert!(matches!(invalid(&|t| t.ls_mode = 2), Err(LiveError::InvalidParam(_))));
        let layout = |f: &dyn Fn(&mut LiveUser)| {
            let mut t = task();
            f(&mut t.layout.users[0]);
            check_task(&t)
        };
        assert!(matches!(layout(&|u| u.x = 321), Err(LiveError::InvalidLayout(_))), "past the right edge");
        assert!(matches!(layout(&|u| u.y = -1), Err(LiveError::InvalidLayout(_))));
        assert!(matches!(layout(&|u| u.width = 0), Err(LiveError::InvalidLayout(_))));
        assert!(matches!(layout(&|u| u.adaption = 2), Err(LiveError::InvalidLayout(_))));
        assert_eq!(layout(&|u| u.video_push = false), Ok(()), "a user without video has no rectangle to check");
        assert!(matches!(invalid(&|t| t.layout.width = 8), Err(LiveError::InvalidLayout(_))));
        assert!(matches!(invalid(&|t| t.layout.height = 4000), Err(LiveError::InvalidLayout(_))));
        assert_eq!(
            invalid(&|t| {
                t.ls_mode = MODE_AUDIO;
                t.layout.width = 0
            }),
            Ok(()),
            "audio only: no canvas"
        );
        assert_eq!(LiveError::InvalidLayout(String::new()).ls_code(), Some(1501));
        assert_eq!(LiveError::Duplicate(String::new()).ls_code(), Some(1403));
    }

    #[test]
    fn a_side_starts_after_its_prebuffer_and_drains() {
        let mut s = Side::default();
        let mut out = vec![0i32; BLOCK];
        s.push(vec![100; BLOCK]);
        s.add_into(&mut out);
        assert!(out.iter().all(|&v| v == 0), "waits for the prebuffer");
        s.push(vec![100; PREBUFFER]);
        for _ in 0..5 {
            s.add_into(&mut out);
        }
        assert!(out.iter().all(|&v| v == 500));
        out.fill(0);
        s.add_into(&mut out);
        assert!(out.iter().all(|&v| v == 0), "dry: waits again");
        s.push(vec![1; MAX_FIFO * 2]);
        assert_eq!(s.fifo.len(), MAX_FIFO, "bounded");
    }
}
