//! `NativeEngine`: the engine as a JS class (wrapped by `NERtcEngine` in index.js).
//!
//! Every method returns at once with a NERTC code. Events leave the engine through a crossbeam
//! channel; one thread per engine ("nertc-events") converts each to a name and arguments
//! ([`crate::events::to_js`]) and hands it to a weak thread-safe function, so a live engine
//! never keeps Node running by itself (index.js holds a timer while in a channel, like an open
//! socket). `release()` marks the engine gone at once (later calls return 30005) and runs the
//! engine's blocking teardown on its own thread; the event thread drains what the teardown
//! still emits (onLeaveChannel), then sends `__released` and ends.

use napi::bindgen_prelude::{BigInt, Either, FnArgs, Function, Int16ArraySlice, Object, Uint8ArraySlice};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use nertc_engine::error::{self, Code};
use nertc_engine::render::StreamKey;
use nertc_engine::{Engine, EngineEvent, EngineOptions, ExternalVideoFrame, PixelFormat, VideoConfig};

use crate::events::{self, Arg};
use crate::uid_from_js;

/// What the event thread sends to JS: the event name and its arguments.
type EventPayload = (String, Vec<Arg>);
type EventTsfn = ThreadsafeFunction<EventPayload, (), FnArgs<EventPayload>, Status, false, true>;

/// `setVideoConfig` as index.js passes it (numbers already validated there).
#[napi(object)]
pub struct VideoConfigArgs {
    pub max_profile: i32,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub min_framerate: u32,
    pub bitrate_kbps: u32,
    pub min_bitrate_kbps: u32,
    pub mirror_mode: i32,
}

#[napi]
pub struct NativeEngine {
    engine: Option<Engine>,
}

impl Default for NativeEngine {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs the engine's blocking teardown (it waits up to a few seconds for the channel to be
/// left and threads to stop) away from the JS thread.
fn release_in_background(engine: Engine) {
    let spawned = std::thread::Builder::new().name("nertc-release".into()).spawn(move || {
        engine.release();
        drop(engine);
    });
    if let Err(e) = spawned {
        // The closure (and with it the engine) was dropped; Engine's Drop released it inline.
        tracing::error!("cannot start the release thread: {e}");
    }
}

impl Drop for NativeEngine {
    fn drop(&mut self) {
        // Garbage-collected without release(): never block the JS thread in a finalizer.
        if let Some(engine) = self.engine.take() {
            release_in_background(engine);
        }
    }
}

/// Sent after the engine's last event, once its event channel has disconnected (the engine is
/// fully released). index.js uses it to stop keeping Node alive; users never see it.
pub const RELEASED_EVENT: &str = "__released";

fn pump_events(rx: crossbeam_channel::Receiver<EngineEvent>, tsfn: EventTsfn) {
    for ev in rx.iter() {
        let (name, args) = events::to_js(&ev);
        let status = tsfn.call((name.to_owned(), args), ThreadsafeFunctionCallMode::NonBlocking);
        if status == Status::Closing {
            // The JS environment is going away (process exit, worker termination).
            return;
        }
    }
    let _ = tsfn.call((RELEASED_EVENT.to_owned(), Vec::new()), ThreadsafeFunctionCallMode::NonBlocking);
}

impl NativeEngine {
    fn with(&self, f: impl FnOnce(&Engine) -> Code) -> Code {
        match &self.engine {
            Some(e) => f(e),
            None => error::ERR_NOT_INITIALIZED,
        }
    }

    fn with_uid(&self, uid: Either<f64, BigInt>, f: impl FnOnce(&Engine, u64) -> Code) -> Code {
        match uid_from_js(&uid) {
            Some(u) => self.with(|e| f(e, u)),
            None if self.engine.is_none() => error::ERR_NOT_INITIALIZED,
            None => error::ERR_INVALID_PARAM,
        }
    }
}

#[napi]
impl NativeEngine {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeEngine { engine: None }
    }

    /// Creates the engine; `on_event(name, args)` receives every event on the JS thread.
    #[napi]
    pub fn initialize(&mut self, app_key: String, server_url: String, on_event: Function<'_, (), ()>) -> napi::Result<i32> {
        if self.engine.is_some() {
            return Ok(error::ERR_WRONG_STATE);
        }
        let tsfn: EventTsfn = on_event
            .build_threadsafe_function::<EventPayload>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
        let (engine, rx) = match Engine::new(EngineOptions { app_key, server_url }) {
            Ok(pair) => pair,
            Err(code) => return Ok(code),
        };
        let spawned = std::thread::Builder::new().name("nertc-events".into()).spawn(move || pump_events(rx, tsfn));
        if let Err(e) = spawned {
            tracing::error!("cannot start the event thread: {e}");
            release_in_background(engine);
            return Ok(error::ERR_FATAL);
        }
        self.engine = Some(engine);
        Ok(error::OK)
    }

    /// Idempotent; returns at once. onLeaveChannel (when in a channel) still arrives.
    #[napi]
    pub fn release(&mut self) -> i32 {
        if let Some(engine) = self.engine.take() {
            release_in_background(engine);
        }
        error::OK
    }

    #[napi]
    pub fn get_connection_state(&self) -> i32 {
        match &self.engine {
            Some(e) => e.connection_state(),
            None => 1,
        }
    }

    #[napi]
    pub fn set_parameters(&self, json: String) -> i32 {
        self.with(|e| e.set_parameters(&json))
    }

    #[napi]
    pub fn set_channel_profile(&self, profile: i32) -> i32 {
        self.with(|e| e.set_channel_profile(profile))
    }

    #[napi]
    pub fn set_client_role(&self, role: i32) -> i32 {
        self.with(|e| e.set_client_role(role))
    }

    #[napi]
    pub fn join_channel(&self, token: Option<String>, channel: String, uid: Either<f64, BigInt>) -> i32 {
        self.with_uid(uid, |e, u| e.join_channel(token, &channel, u))
    }

    #[napi]
    pub fn leave_channel(&self) -> i32 {
        self.with(|e| e.leave_channel())
    }

    #[napi]
    pub fn set_video_config(&self, cfg: VideoConfigArgs) -> i32 {
        let cfg = VideoConfig {
            max_profile: cfg.max_profile,
            width: cfg.width,
            height: cfg.height,
            framerate: cfg.framerate,
            min_framerate: cfg.min_framerate,
            bitrate_kbps: cfg.bitrate_kbps,
            min_bitrate_kbps: cfg.min_bitrate_kbps,
            mirror_mode: cfg.mirror_mode,
        };
        self.with(|e| e.set_video_config(&cfg))
    }

    #[napi]
    pub fn start_video_preview(&self) -> i32 {
        self.with(|e| e.start_video_preview())
    }

    #[napi]
    pub fn stop_video_preview(&self) -> i32 {
        self.with(|e| e.stop_video_preview())
    }

    #[napi]
    pub fn enable_local_video(&self, enabled: bool) -> i32 {
        self.with(|e| e.enable_local_video(enabled))
    }

    #[napi]
    pub fn mute_local_video_stream(&self, mute: bool) -> i32 {
        self.with(|e| e.mute_local_video_stream(mute))
    }

    #[napi]
    pub fn set_local_video_mirror_mode(&self, mode: i32) -> i32 {
        self.with(|e| e.set_local_video_mirror_mode(mode))
    }

    #[napi]
    pub fn enable_local_audio(&self, enabled: bool) -> i32 {
        self.with(|e| e.enable_local_audio(enabled))
    }

    #[napi]
    pub fn mute_local_audio_stream(&self, mute: bool) -> i32 {
        self.with(|e| e.mute_local_audio_stream(mute))
    }

    #[napi]
    pub fn adjust_recording_signal_volume(&self, volume: i32) -> i32 {
        self.with(|e| e.adjust_recording_signal_volume(volume))
    }

    #[napi]
    pub fn adjust_playback_signal_volume(&self, volume: i32) -> i32 {
        self.with(|e| e.adjust_playback_signal_volume(volume))
    }

    #[napi]
    pub fn subscribe_remote_video_stream(&self, uid: Either<f64, BigInt>, stream_type: i32, subscribe: bool) -> i32 {
        self.with_uid(uid, |e, u| e.subscribe_remote_video_stream(u, stream_type, subscribe))
    }

    #[napi]
    pub fn subscribe_remote_audio_stream(&self, uid: Either<f64, BigInt>, subscribe: bool) -> i32 {
        self.with_uid(uid, |e, u| e.subscribe_remote_audio_stream(u, subscribe))
    }

    #[napi]
    pub fn enable_audio_volume_indication(&self, enable: bool, interval_ms: i32) -> i32 {
        self.with(|e| e.enable_audio_volume_indication(enable, interval_ms))
    }

    #[napi]
    pub fn enumerate_record_devices(&self) -> Vec<Arg> {
        self.engine.as_ref().map_or_else(Vec::new, |e| e.enumerate_record_devices().iter().map(events::device_info).collect())
    }

    #[napi]
    pub fn enumerate_playout_devices(&self) -> Vec<Arg> {
        self.engine.as_ref().map_or_else(Vec::new, |e| e.enumerate_playout_devices().iter().map(events::device_info).collect())
    }

    #[napi]
    pub fn enumerate_video_capture_devices(&self) -> Vec<Arg> {
        self.engine.as_ref().map_or_else(Vec::new, |e| e.enumerate_video_capture_devices().iter().map(events::device_info).collect())
    }

    #[napi]
    pub fn set_record_device(&self, id: String) -> i32 {
        self.with(|e| e.set_record_device(&id))
    }

    #[napi]
    pub fn get_record_device(&self) -> String {
        self.engine.as_ref().map(|e| e.get_record_device()).unwrap_or_default()
    }

    #[napi]
    pub fn set_playout_device(&self, id: String) -> i32 {
        self.with(|e| e.set_playout_device(&id))
    }

    #[napi]
    pub fn get_playout_device(&self) -> String {
        self.engine.as_ref().map(|e| e.get_playout_device()).unwrap_or_default()
    }

    #[napi]
    pub fn set_video_device(&self, id: String) -> i32 {
        self.with(|e| e.set_video_device(&id))
    }

    #[napi]
    pub fn get_video_device(&self) -> String {
        self.engine.as_ref().map(|e| e.get_video_device()).unwrap_or_default()
    }

    #[napi]
    pub fn set_external_video_source(&self, enabled: bool) -> i32 {
        self.with(|e| e.set_external_video_source(enabled))
    }

    /// `format` 0 I420, 1 RGBA; `data` is copied.
    #[napi]
    pub fn push_external_video_frame(&self, format: i32, width: u32, height: u32, data: Uint8ArraySlice, timestamp_ms: f64) -> i32 {
        let format = match format {
            0 => PixelFormat::I420,
            1 => PixelFormat::Rgba,
            _ => return if self.engine.is_some() { error::ERR_INVALID_PARAM } else { error::ERR_NOT_INITIALIZED },
        };
        let Some(engine) = &self.engine else {
            return error::ERR_NOT_INITIALIZED;
        };
        let frame = ExternalVideoFrame { format, width, height, data: data.to_vec(), timestamp_ms: ms(timestamp_ms) };
        engine.push_external_video_frame(frame)
    }

    #[napi]
    pub fn set_external_audio_source(&self, enabled: bool, sample_rate: i32, channels: i32) -> i32 {
        self.with(|e| e.set_external_audio_source(enabled, sample_rate, channels))
    }

    /// Interleaved 16-bit PCM.
    #[napi]
    pub fn push_external_audio_frame(&self, samples: Int16ArraySlice, sample_rate: i32, channels: i32, timestamp_ms: f64) -> i32 {
        self.with(|e| e.push_external_audio_frame(&samples, sample_rate, channels, ms(timestamp_ms)))
    }

    /// Copies the newest frame of a stream (`uid` null = local preview) into `target.y/u/v`
    /// if it is newer than `target.seq`. The planes are JS-owned Uint8Arrays, reused while the
    /// size stays the same and replaced (JS-owned, never external memory) when it changes.
    /// Returns `{width, height, timestamp (ms), mirrored, seq}` or null when there is nothing new.
    #[napi]
    pub fn pull_frame<'env>(
        &self,
        env: &'env Env,
        uid: Option<Either<f64, BigInt>>,
        mut target: Object<'env>,
    ) -> napi::Result<Option<Object<'env>>> {
        let Some(engine) = &self.engine else {
            return Ok(None);
        };
        let key = match uid {
            None => StreamKey::Local,
            Some(u) => match uid_from_js(&u) {
                Some(u) => StreamKey::Remote(u),
                None => return Ok(None),
            },
        };
        let seen = match target.get::<f64>("seq") {
            Ok(Some(s)) if s >= 0.0 => s as u64,
            _ => u64::MAX,
        };
        let slot = engine.slot(key);
        let Some((seq, frame)) = slot.newer_than(seen) else {
            return Ok(None);
        };
        if !frame.is_consistent() {
            return Ok(None);
        }
        copy_plane(env, &mut target, "y", &frame.y)?;
        copy_plane(env, &mut target, "u", &frame.u)?;
        copy_plane(env, &mut target, "v", &frame.v)?;
        target.set("seq", seq as f64)?;
        let mut header = Object::new(env)?;
        header.set("width", frame.width)?;
        header.set("height", frame.height)?;
        header.set("timestamp", (frame.timestamp_us / 1000) as f64)?;
        header.set("mirrored", slot.mirrored.load(std::sync::atomic::Ordering::Relaxed))?;
        header.set("seq", seq as f64)?;
        Ok(Some(header))
    }
}

/// A JS millisecond timestamp as u64 (negative / NaN → 0).
fn ms(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { v as u64 } else { 0 }
}

/// Copies `data` into `target[name]` when that is a Uint8Array of the same length, else
/// replaces it with a new JS-owned copy.
fn copy_plane(env: &Env, target: &mut Object<'_>, name: &str, data: &[u8]) -> napi::Result<()> {
    if let Ok(Some(mut plane)) = target.get::<Uint8ArraySlice>(name) {
        // SAFETY: we are on the JS thread and hold no other view of this buffer; JS code cannot
        // run while this copy happens.
        let dst = unsafe { plane.as_mut() };
        if dst.len() == data.len() {
            dst.copy_from_slice(data);
            return Ok(());
        }
    }
    let fresh = Uint8ArraySlice::copy_from(env, data)?;
    target.set(name, fresh)?;
    Ok(())
}
