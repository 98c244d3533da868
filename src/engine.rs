//! `NativeEngine`: the engine as a JS class (wrapped by `NERtcEngine` in index.js).
//!
//! Every method returns at once with a NERTC code. Events leave the engine through a crossbeam
//! channel; one thread per engine ("nertc-events") converts each to a name and arguments
//! ([`crate::events::to_js`]) and hands it to a weak thread-safe function, so a live engine
//! never keeps Node running by itself (index.js holds a timer while in a channel, like an open
//! socket). `release()` marks the engine gone at once (later calls return 30005) and runs the
//! engine's blocking teardown on its own thread; the event thread drains what the teardown
//! still emits (onLeaveChannel), then sends `__released` and ends.
//!
//! A thin adapter: each method converts its arguments with [`crate::convert`] (JS → engine,
//! a failed conversion is the call's NERTC code), calls the engine, and returns its code;
//! results going back to JS are built by [`crate::events`] (engine → JS). No checks here.

use napi::bindgen_prelude::{FnArgs, Function, Int16ArraySlice, Object, Uint8ArraySlice};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;

use nertc_engine::error::{self, Code};
use nertc_engine::{Engine, EngineEvent, EngineOptions};

use crate::convert::{
    self, Converted, EncryptionConfigArgs, JsPixelFormat, JsUid, LiveStreamTaskArgs, MixOptionArgs, RecordingConfigArgs, RectArgs,
    ReverbArgs, ScreenCaptureParamsArgs, VideoConfigArgs,
};
use crate::events::{self, Arg};
use nertc_engine::device::screen::ScreenSource;

/// What the event thread sends to JS: the event name and its arguments.
type EventPayload = (String, Vec<Arg>);
type EventTsfn = ThreadsafeFunction<EventPayload, (), FnArgs<EventPayload>, Status, false, true>;

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
    /// `f(engine)`; 30005 when there is no engine.
    fn with(&self, f: impl FnOnce(&Engine) -> Code) -> Code {
        match &self.engine {
            Some(e) => f(e),
            None => error::ERR_INVALID_STATE,
        }
    }

    /// `f(engine, arg)` with a converted argument; 30005 when there is no engine (before the
    /// argument's own code, as NERTC does), else the conversion's code when it failed.
    fn call<T>(&self, arg: Converted<T>, f: impl FnOnce(&Engine, T) -> Code) -> Code {
        self.with(|e| match arg {
            Ok(v) => f(e, v),
            Err(code) => code,
        })
    }

    fn devices(&self, list: impl FnOnce(&Engine) -> Vec<nertc_engine::device::DeviceInfo>) -> Vec<Arg> {
        self.engine.as_ref().map_or_else(Vec::new, |e| list(e).iter().map(events::device_info).collect())
    }

    fn string(&self, get: impl FnOnce(&Engine) -> String) -> String {
        self.engine.as_ref().map(get).unwrap_or_default()
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
        self.start(on_event, || Engine::new(EngineOptions { app_key, server_url }))
    }

    /// Creates the engine of a `NERtcChannel` made from `parent` (`createChannel`): it shares
    /// the parent's camera, microphone and speaker. 30005 when the parent has no engine.
    #[napi]
    pub fn initialize_channel(
        &mut self,
        parent: &NativeEngine,
        app_key: String,
        server_url: String,
        on_event: Function<'_, (), ()>,
    ) -> napi::Result<i32> {
        let Some(parent) = parent.engine.as_ref() else { return Ok(error::ERR_INVALID_STATE) };
        self.start(on_event, || parent.new_channel(EngineOptions { app_key, server_url }))
    }

    fn start(
        &mut self,
        on_event: Function<'_, (), ()>,
        create: impl FnOnce() -> Result<(Engine, crossbeam_channel::Receiver<EngineEvent>), Code>,
    ) -> napi::Result<i32> {
        if self.engine.is_some() {
            return Ok(error::ERR_INVALID_STATE);
        }
        let tsfn: EventTsfn = on_event
            .build_threadsafe_function::<EventPayload>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| Ok(FnArgs::from(ctx.value)))?;
        let (engine, rx) = match create() {
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
    pub fn set_audio_profile(&self, profile: f64, scenario: f64) -> i32 {
        match (convert::int32(profile), convert::int32(scenario)) {
            (Ok(p), Ok(s)) => self.with(|e| e.set_audio_profile(p, s)),
            (Err(code), _) | (_, Err(code)) => self.with(|_| code),
        }
    }

    /// `enableEncryption(enable, {mode, key})`; the config may be absent to turn it off.
    #[napi]
    pub fn enable_encryption(&self, enable: bool, config: Option<EncryptionConfigArgs>) -> i32 {
        let config = config.unwrap_or_default();
        self.call(convert::encryption_config(&config), |e, (mode, key)| e.enable_encryption(enable, mode, &key))
    }

    #[napi]
    pub fn set_channel_profile(&self, profile: f64) -> i32 {
        self.call(convert::int32(profile), |e, p| e.set_channel_profile(p))
    }

    #[napi]
    pub fn set_client_role(&self, role: f64) -> i32 {
        self.call(convert::int32(role), |e, r| e.set_client_role(r))
    }

    /// The engine checks the channel name (protocol rules).
    #[napi]
    pub fn join_channel(&self, token: Option<String>, channel: String, uid: JsUid) -> i32 {
        self.call(convert::uid(&uid), |e, u| e.join_channel(token, &channel, u))
    }

    /// `sendSEIMsgWithType`: `data` (1..=4096 bytes) in the next picture of stream `stream_type`.
    #[napi]
    pub fn send_sei_msg(&self, data: Uint8ArraySlice, stream_type: f64) -> i32 {
        self.call(convert::int32(stream_type), |e, t| e.send_sei_msg(&data, t))
    }

    /// `joinChannelWithOptions`: `custom_info` is the name others get in `onUserJoined`.
    #[napi]
    pub fn join_channel_with_options(&self, token: Option<String>, channel: String, uid: JsUid, custom_info: String) -> i32 {
        self.call(convert::uid(&uid), |e, u| e.join_channel_with_options(token, &channel, u, &custom_info))
    }

    /// A new token for the session (NERTC's permission key); `onUpdatePermissionKey` answers.
    #[napi]
    pub fn update_permission_key(&self, key: String) -> i32 {
        self.with(|e| e.update_permission_key(&key))
    }

    #[napi]
    pub fn leave_channel(&self) -> i32 {
        self.with(|e| e.leave_channel())
    }

    /// `config` as NERTC names it (`{max_profile, width, height, framerate, min_framerate,
    /// bitrate, min_bitrate, mirror_mode}`, null/absent = default).
    #[napi]
    pub fn set_video_config(&self, config: VideoConfigArgs) -> i32 {
        self.call(convert::video_config(&config), |e, cfg| e.set_video_config(&cfg))
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
    pub fn mute_local_sub_stream_video(&self, mute: bool) -> i32 {
        self.with(|e| e.mute_local_substream_video(mute))
    }

    #[napi]
    pub fn set_local_video_mirror_mode(&self, mode: f64) -> i32 {
        self.call(convert::int32(mode), |e, m| e.set_local_video_mirror_mode(m))
    }

    #[napi]
    pub fn enable_dual_stream_mode(&self, enabled: bool) -> i32 {
        self.with(|e| e.enable_dual_stream_mode(enabled))
    }

    #[napi]
    pub fn set_local_publish_fallback_option(&self, option: f64) -> i32 {
        self.call(convert::int32(option), |e, o| e.set_local_publish_fallback_option(o))
    }

    #[napi]
    pub fn set_remote_subscribe_fallback_option(&self, option: f64) -> i32 {
        self.call(convert::int32(option), |e, o| e.set_remote_subscribe_fallback_option(o))
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
    pub fn adjust_recording_signal_volume(&self, volume: f64) -> i32 {
        self.call(convert::int32(volume), |e, v| e.adjust_recording_signal_volume(v))
    }

    #[napi]
    pub fn adjust_playback_signal_volume(&self, volume: f64) -> i32 {
        self.call(convert::int32(volume), |e, v| e.adjust_playback_signal_volume(v))
    }

    // ---- audio mixing and effects (NERTC's 29 methods) ----

    /// A getter: the engine's value, or a NERTC code negated (-30005 with no engine).
    fn value(&self, get: impl FnOnce(&Engine) -> i64) -> f64 {
        self.engine.as_ref().map_or(-f64::from(error::ERR_INVALID_STATE), |e| get(e) as f64)
    }

    #[napi]
    pub fn start_audio_mixing(&self, opt: MixOptionArgs) -> i32 {
        self.call(convert::mix_options(&opt), |e, o| e.start_audio_mixing(o))
    }
    #[napi]
    pub fn stop_audio_mixing(&self) -> i32 {
        self.with(|e| e.stop_audio_mixing())
    }
    #[napi]
    pub fn pause_audio_mixing(&self, pause: bool) -> i32 {
        self.with(|e| e.pause_audio_mixing(pause))
    }
    #[napi]
    pub fn set_audio_mixing_send_volume(&self, v: f64) -> i32 {
        self.call(convert::u32_arg(v), |e, v| e.set_audio_mixing_send_volume(v))
    }
    #[napi]
    pub fn set_audio_mixing_playback_volume(&self, v: f64) -> i32 {
        self.call(convert::u32_arg(v), |e, v| e.set_audio_mixing_playback_volume(v))
    }
    #[napi]
    pub fn get_audio_mixing_send_volume(&self) -> f64 {
        self.value(|e| e.audio_mixing_send_volume())
    }
    #[napi]
    pub fn get_audio_mixing_playback_volume(&self) -> f64 {
        self.value(|e| e.audio_mixing_playback_volume())
    }
    #[napi]
    pub fn get_audio_mixing_duration(&self) -> f64 {
        self.value(|e| e.audio_mixing_duration())
    }
    #[napi]
    pub fn get_audio_mixing_current_position(&self) -> f64 {
        self.value(|e| e.audio_mixing_position())
    }
    #[napi]
    pub fn set_audio_mixing_position(&self, pos: f64) -> i32 {
        self.call(convert::timestamp_ms(pos), |e, p| e.set_audio_mixing_position(p))
    }
    #[napi]
    pub fn set_audio_mixing_pitch(&self, pitch: f64) -> i32 {
        self.call(convert::int32(pitch), |e, p| e.set_audio_mixing_pitch(p))
    }
    #[napi]
    pub fn get_audio_mixing_pitch(&self) -> f64 {
        self.value(|e| e.audio_mixing_pitch())
    }
    #[napi]
    pub fn play_effect(&self, id: f64, opt: MixOptionArgs) -> i32 {
        let args = convert::u32_arg(id).and_then(|id| Ok((id, convert::mix_options(&opt)?)));
        self.call(args, |e, (id, o)| e.play_effect(id, o))
    }
    #[napi]
    pub fn stop_effect(&self, id: f64) -> i32 {
        self.call(convert::u32_arg(id), |e, id| e.stop_effect(id))
    }
    #[napi]
    pub fn stop_all_effects(&self) -> i32 {
        self.with(|e| e.stop_all_effects())
    }
    #[napi]
    pub fn pause_effect(&self, id: f64, pause: bool) -> i32 {
        self.call(convert::u32_arg(id), |e, id| e.pause_effect(id, pause))
    }
    #[napi]
    pub fn pause_all_effects(&self, pause: bool) -> i32 {
        self.with(|e| e.pause_all_effects(pause))
    }
    #[napi]
    pub fn set_effect_send_volume(&self, id: f64, v: f64) -> i32 {
        let args = convert::u32_arg(id).and_then(|id| Ok((id, convert::u32_arg(v)?)));
        self.call(args, |e, (id, v)| e.set_effect_send_volume(id, v))
    }
    #[napi]
    pub fn set_effect_playback_volume(&self, id: f64, v: f64) -> i32 {
        let args = convert::u32_arg(id).and_then(|id| Ok((id, convert::u32_arg(v)?)));
        self.call(args, |e, (id, v)| e.set_effect_playback_volume(id, v))
    }
    #[napi]
    pub fn get_effect_send_volume(&self, id: f64) -> f64 {
        match convert::u32_arg(id) {
            Ok(id) => self.value(|e| e.effect_send_volume(id)),
            Err(c) => -f64::from(c),
        }
    }
    #[napi]
    pub fn get_effect_playback_volume(&self, id: f64) -> f64 {
        match convert::u32_arg(id) {
            Ok(id) => self.value(|e| e.effect_playback_volume(id)),
            Err(c) => -f64::from(c),
        }
    }
    #[napi]
    pub fn get_effect_duration(&self, id: f64) -> f64 {
        match convert::u32_arg(id) {
            Ok(id) => self.value(|e| e.effect_duration(id)),
            Err(c) => -f64::from(c),
        }
    }
    #[napi]
    pub fn get_effect_current_position(&self, id: f64) -> f64 {
        match convert::u32_arg(id) {
            Ok(id) => self.value(|e| e.effect_position(id)),
            Err(c) => -f64::from(c),
        }
    }
    #[napi]
    pub fn set_effect_position(&self, id: f64, pos: f64) -> i32 {
        let args = convert::u32_arg(id).and_then(|id| Ok((id, convert::timestamp_ms(pos)?)));
        self.call(args, |e, (id, p)| e.set_effect_position(id, p))
    }
    #[napi]
    pub fn set_effect_pitch(&self, id: f64, pitch: f64) -> i32 {
        let args = convert::u32_arg(id).and_then(|id| Ok((id, convert::int32(pitch)?)));
        self.call(args, |e, (id, p)| e.set_effect_pitch(id, p))
    }
    #[napi]
    pub fn get_effect_pitch(&self, id: f64) -> f64 {
        match convert::u32_arg(id) {
            Ok(id) => self.value(|e| e.effect_pitch(id)),
            Err(c) => -f64::from(c),
        }
    }

    // ---- voice effects, earback ----

    #[napi]
    pub fn set_local_voice_pitch(&self, pitch: f64) -> i32 {
        self.with(|e| e.set_local_voice_pitch(pitch))
    }
    #[napi]
    pub fn set_local_voice_equalization(&self, band: f64, gain: f64) -> i32 {
        let args = convert::int32(band).and_then(|b| Ok((b, convert::int32(gain)?)));
        self.call(args, |e, (b, g)| e.set_local_voice_equalization(b, g))
    }
    #[napi]
    pub fn set_local_voice_reverb_param(&self, param: ReverbArgs) -> i32 {
        self.call(convert::reverb(&param), |e, p| e.set_local_voice_reverb(p))
    }
    #[napi]
    pub fn set_audio_effect_preset(&self, preset: f64) -> i32 {
        self.call(convert::int32(preset), |e, p| e.set_audio_effect_preset(p))
    }
    #[napi]
    pub fn set_voice_beautifier_preset(&self, preset: f64) -> i32 {
        self.call(convert::int32(preset), |e, p| e.set_voice_beautifier_preset(p))
    }
    #[napi]
    pub fn enable_earback(&self, enabled: bool, volume: f64) -> i32 {
        self.call(convert::u32_arg(volume), |e, v| e.enable_earback(enabled, v))
    }
    #[napi]
    pub fn set_earback_volume(&self, volume: f64) -> i32 {
        self.call(convert::u32_arg(volume), |e, v| e.set_earback_volume(v))
    }

    // ---- live streaming ----

    #[napi]
    pub fn add_live_stream_task(&self, info: LiveStreamTaskArgs) -> i32 {
        self.call(convert::live_task(&info), |e, t| e.add_live_stream_task(t))
    }
    #[napi]
    pub fn update_live_stream_task(&self, info: LiveStreamTaskArgs) -> i32 {
        self.call(convert::live_task(&info), |e, t| e.update_live_stream_task(t))
    }
    #[napi]
    pub fn remove_live_stream_task(&self, task_id: String) -> i32 {
        self.with(|e| e.remove_live_stream_task(&task_id))
    }

    // ---- recording and dumps ----

    #[napi]
    pub fn start_audio_recording(&self, path: String, sample_rate: f64, quality: f64) -> i32 {
        self.call(convert::recording_simple(path, sample_rate, quality), |e, c| e.start_audio_recording(c))
    }
    #[napi]
    pub fn start_audio_recording_with_config(&self, config: RecordingConfigArgs) -> i32 {
        self.call(convert::recording_config(&config), |e, c| e.start_audio_recording(c))
    }
    #[napi]
    pub fn stop_audio_recording(&self) -> i32 {
        self.with(|e| e.stop_audio_recording())
    }
    /// `dir`: the log directory (index.js passes `log_dir_path`, else the temp directory).
    #[napi]
    pub fn start_audio_dump(&self, dir: String) -> i32 {
        self.with(|e| e.start_audio_dump(std::path::Path::new(&dir)))
    }
    /// `dump_type`: NERtcAudioDumpType 0 PCM (`.dump`), 1 both, 2 WAV.
    #[napi]
    pub fn start_audio_dump_with_type(&self, dir: String, dump_type: f64) -> i32 {
        self.call(convert::int32(dump_type), |e, t| e.start_audio_dump_with_type(std::path::Path::new(&dir), t))
    }
    #[napi]
    pub fn stop_audio_dump(&self) -> i32 {
        self.with(|e| e.stop_audio_dump())
    }

    #[napi]
    pub fn subscribe_remote_video_stream(&self, uid: JsUid, stream_type: f64, subscribe: bool) -> i32 {
        let args = convert::uid(&uid).and_then(|u| Ok((u, convert::int32(stream_type)?)));
        self.call(args, |e, (u, t)| e.subscribe_remote_video_stream(u, t, subscribe))
    }

    #[napi]
    pub fn subscribe_remote_audio_stream(&self, uid: JsUid, subscribe: bool) -> i32 {
        self.call(convert::uid(&uid), |e, u| e.subscribe_remote_audio_stream(u, subscribe))
    }

    #[napi]
    pub fn subscribe_all_remote_audio_stream(&self, subscribe: bool) -> i32 {
        self.with(|e| e.subscribe_all_remote_audio_stream(subscribe))
    }

    /// NERTC's `(uids, size)`: the first `size` uids.
    #[napi]
    pub fn set_subscribe_audio_allowlist(&self, uids: Vec<JsUid>, size: f64) -> i32 {
        self.call(convert::uid_list(&uids, size), |e, l| e.set_subscribe_audio_allowlist(&l))
    }

    #[napi]
    pub fn set_subscribe_audio_blocklist(&self, stream_type: f64, uids: Vec<JsUid>, size: f64) -> i32 {
        let args = convert::int32(stream_type).and_then(|t| convert::uid_list(&uids, size).map(|l| (t, l)));
        self.call(args, |e, (t, l)| e.set_subscribe_audio_blocklist(t, &l))
    }

    #[napi]
    pub fn set_audio_subscribe_only_by(&self, uids: Vec<JsUid>, size: f64) -> i32 {
        self.call(convert::uid_list(&uids, size), |e, l| e.set_audio_subscribe_only_by(&l))
    }

    #[napi]
    pub fn adjust_user_playback_signal_volume(&self, uid: JsUid, volume: f64) -> i32 {
        let args = convert::uid(&uid).and_then(|u| convert::int32(volume).map(|v| (u, v)));
        self.call(args, |e, (u, v)| e.adjust_user_playback_signal_volume(u, v))
    }

    #[napi]
    pub fn adjust_channel_playback_signal_volume(&self, volume: f64) -> i32 {
        self.call(convert::int32(volume), |e, v| e.adjust_channel_playback_signal_volume(v))
    }

    /// `switchChannel*`: `name` (`custom_info`) null keeps the current one.
    #[napi]
    pub fn switch_channel(&self, token: Option<String>, channel: String, name: Option<String>) -> i32 {
        self.with(|e| e.switch_channel(token, &channel, name.as_deref()))
    }

    #[napi]
    pub fn enable_local_data(&self, enable: bool) -> i32 {
        self.with(|e| e.enable_local_data(enable))
    }

    #[napi]
    pub fn subscribe_remote_data(&self, uid: JsUid, subscribe: bool) -> i32 {
        self.call(convert::uid(&uid), |e, u| e.subscribe_remote_data(u, subscribe))
    }

    /// `sendData`: 1 to 32768 bytes.
    #[napi]
    pub fn send_data(&self, data: Uint8ArraySlice) -> i32 {
        self.with(|e| e.send_data(&data))
    }

    /// `interval_ms` null/absent: 0.
    #[napi]
    pub fn enable_audio_volume_indication(&self, enable: bool, interval_ms: Option<f64>) -> i32 {
        self.call(convert::interval_ms(interval_ms), |e, ms| e.enable_audio_volume_indication(enable, ms))
    }

    #[napi]
    pub fn enumerate_record_devices(&self) -> Vec<Arg> {
        self.devices(Engine::enumerate_record_devices)
    }

    #[napi]
    pub fn enumerate_playout_devices(&self) -> Vec<Arg> {
        self.devices(Engine::enumerate_playout_devices)
    }

    #[napi]
    pub fn enumerate_video_capture_devices(&self) -> Vec<Arg> {
        self.devices(Engine::enumerate_video_capture_devices)
    }

    #[napi]
    pub fn set_record_device(&self, id: String) -> i32 {
        self.call(convert::device_id(&id), |e, id| e.set_record_device(id))
    }

    #[napi]
    pub fn set_record_device_volume(&self, volume: f64) -> i32 {
        self.call(convert::int32(volume), |e, v| e.set_record_device_volume(v))
    }

    /// The volume (0-255); 30005 (as a negative number: -30005) without an engine.
    #[napi]
    pub fn get_record_device_volume(&self) -> i32 {
        self.engine.as_ref().map_or(-error::ERR_INVALID_STATE, |e| e.record_device_volume() as i32)
    }

    #[napi]
    pub fn set_playout_device_volume(&self, volume: f64) -> i32 {
        self.call(convert::int32(volume), |e, v| e.set_playout_device_volume(v))
    }

    #[napi]
    pub fn get_playout_device_volume(&self) -> i32 {
        self.engine.as_ref().map_or(-error::ERR_INVALID_STATE, |e| e.playout_device_volume() as i32)
    }

    #[napi]
    pub fn set_record_device_mute(&self, mute: bool) -> i32 {
        self.with(|e| e.set_record_device_mute(mute))
    }

    #[napi]
    pub fn get_record_device_mute(&self) -> bool {
        self.engine.as_ref().is_some_and(Engine::record_device_mute)
    }

    #[napi]
    pub fn set_playout_device_mute(&self, mute: bool) -> i32 {
        self.with(|e| e.set_playout_device_mute(mute))
    }

    #[napi]
    pub fn get_playout_device_mute(&self) -> bool {
        self.engine.as_ref().is_some_and(Engine::playout_device_mute)
    }

    #[napi]
    pub fn start_record_device_test(&self, interval: f64) -> i32 {
        self.call(convert::int32(interval), |e, ms| e.start_record_device_test(ms))
    }

    #[napi]
    pub fn stop_record_device_test(&self) -> i32 {
        self.with(Engine::stop_record_device_test)
    }

    #[napi]
    pub fn start_playout_device_test(&self, path: String) -> i32 {
        self.with(|e| e.start_playout_device_test(&path))
    }

    #[napi]
    pub fn stop_playout_device_test(&self) -> i32 {
        self.with(Engine::stop_playout_device_test)
    }

    #[napi]
    pub fn start_audio_device_loopback_test(&self, interval: f64) -> i32 {
        self.call(convert::int32(interval), |e, ms| e.start_audio_device_loopback_test(ms))
    }

    #[napi]
    pub fn stop_audio_device_loopback_test(&self) -> i32 {
        self.with(Engine::stop_audio_device_loopback_test)
    }

    #[napi]
    pub fn get_record_device(&self) -> String {
        self.string(Engine::get_record_device)
    }

    #[napi]
    pub fn set_playout_device(&self, id: String) -> i32 {
        self.call(convert::device_id(&id), |e, id| e.set_playout_device(id))
    }

    #[napi]
    pub fn get_playout_device(&self) -> String {
        self.string(Engine::get_playout_device)
    }

    #[napi]
    pub fn set_video_device(&self, id: String) -> i32 {
        self.call(convert::device_id(&id), |e, id| e.set_video_device(id))
    }

    #[napi]
    pub fn get_video_device(&self) -> String {
        self.string(Engine::get_video_device)
    }

    #[napi]
    pub fn set_external_video_source(&self, enabled: bool) -> i32 {
        self.with(|e| e.set_external_video_source(enabled))
    }

    /// `format` `'I420'`/`'RGBA'` or 0/1; `data` tightly packed planes, copied.
    #[napi]
    pub fn push_external_video_frame(
        &self,
        format: JsPixelFormat,
        width: f64,
        height: f64,
        data: Uint8ArraySlice,
        timestamp_ms: f64,
    ) -> i32 {
        // Converted (and copied) only when there is an engine to take it.
        self.with(|e| match convert::external_video_frame(&format, width, height, &data, timestamp_ms) {
            Ok(frame) => e.push_external_video_frame(frame),
            Err(code) => code,
        })
    }

    /// `sample_rate` null/absent: 48000, `channels`: 1.
    #[napi]
    pub fn set_external_audio_source(&self, enabled: bool, sample_rate: Option<f64>, channels: Option<f64>) -> i32 {
        self.call(convert::external_audio_format(sample_rate, channels), |e, (rate, ch)| e.set_external_audio_source(enabled, rate, ch))
    }

    /// Interleaved 16-bit PCM.
    #[napi]
    pub fn push_external_audio_frame(
        &self,
        samples: Int16ArraySlice,
        sample_rate: f64,
        channels: f64,
        timestamp_ms: f64,
        samples_per_channel: Option<f64>,
    ) -> i32 {
        let args = convert::external_audio_frame(samples.len(), sample_rate, channels, samples_per_channel, timestamp_ms);
        self.call(args, |e, a| e.push_external_audio_frame(&samples, a.sample_rate, a.channels, a.timestamp_ms))
    }

    #[napi]
    pub fn subscribe_remote_video_sub_stream(&self, uid: JsUid, subscribe: bool) -> i32 {
        self.call(convert::uid(&uid), |e, u| e.subscribe_remote_video_substream(u, subscribe))
    }

    /// NERTC's source list (`sourceId`, `displayId`, `sourceName`, `type`, `isMinimizeWindow`,
    /// `thumbBGRA`, `iconBGRA`); [] without an engine or a display server, or for bad sizes.
    #[napi]
    pub fn enumerate_screen_capture_source_info(&self, thumb_width: f64, thumb_height: f64, icon_width: f64, icon_height: f64) -> Vec<Arg> {
        let size =
            |w: f64, h: f64| Ok::<_, Code>((convert::non_negative_i32(w)?.unsigned_abs(), convert::non_negative_i32(h)?.unsigned_abs()));
        let (Some(engine), Ok(thumb), Ok(icon)) = (&self.engine, size(thumb_width, thumb_height), size(icon_width, icon_height)) else {
            return Vec::new();
        };
        engine.enumerate_screen_capture_sources(thumb, icon).iter().map(events::screen_source_info).collect()
    }

    fn start_screen(
        &self,
        source: Converted<nertc_engine::device::screen::ScreenSource>,
        region: Option<RectArgs>,
        param: Option<ScreenCaptureParamsArgs>,
    ) -> i32 {
        let args = source.and_then(|s| Ok((s, convert::rect(region.as_ref())?, convert::screen_params(param.as_ref())?)));
        self.call(args, |e, (s, r, p)| e.start_screen_capture(s, r, &p))
    }

    #[napi]
    pub fn start_screen_capture_by_display_id(
        &self,
        display_id: f64,
        region: Option<RectArgs>,
        param: Option<ScreenCaptureParamsArgs>,
    ) -> i32 {
        self.start_screen(convert::source_id(display_id).map(ScreenSource::Display), region, param)
    }

    #[napi]
    pub fn start_screen_capture_by_window_id(
        &self,
        window_id: f64,
        region: Option<RectArgs>,
        param: Option<ScreenCaptureParamsArgs>,
    ) -> i32 {
        self.start_screen(convert::source_id(window_id).map(ScreenSource::Window), region, param)
    }

    #[napi]
    pub fn start_screen_capture_by_screen_rect(
        &self,
        screen_rect: RectArgs,
        region: Option<RectArgs>,
        param: Option<ScreenCaptureParamsArgs>,
    ) -> i32 {
        self.start_screen(convert::rect(Some(&screen_rect)).map(ScreenSource::Rect), region, param)
    }

    #[napi]
    pub fn update_screen_capture_region(&self, region: RectArgs) -> i32 {
        self.call(convert::rect(Some(&region)), |e, r| e.update_screen_capture_region(r))
    }

    #[napi]
    pub fn set_screen_capture_mouse_cursor(&self, capture: bool) -> i32 {
        self.with(|e| e.set_screen_capture_mouse_cursor(capture))
    }

    #[napi]
    pub fn pause_screen_capture(&self) -> i32 {
        self.with(|e| e.pause_screen_capture(true))
    }

    #[napi]
    pub fn resume_screen_capture(&self) -> i32 {
        self.with(|e| e.pause_screen_capture(false))
    }

    #[napi]
    pub fn stop_screen_capture(&self) -> i32 {
        self.with(Engine::stop_screen_capture)
    }

    /// `setExcludeWindowList` and `updateScreenCaptureParameters` (both take the window list).
    #[napi]
    pub fn set_exclude_window_list(&self, window_list: Vec<f64>) -> i32 {
        self.call(convert::window_ids(Some(&window_list)), |e, list| e.set_exclude_window_list(list))
    }

    /// Copies the newest frame of a stream (`uid` null = local preview; `sub` its substream) into `target.y/u/v`
    /// if it is newer than `target.seq` ([`events::write_frame`]). Returns `{width, height,
    /// timestamp (ms), mirrored, seq}` or null when there is nothing new (or the uid is not one).
    #[napi]
    pub fn pull_frame<'env>(
        &self,
        env: &'env Env,
        uid: Option<JsUid>,
        mut target: Object<'env>,
        sub: Option<bool>,
    ) -> napi::Result<Option<Object<'env>>> {
        let Some(engine) = &self.engine else {
            return Ok(None);
        };
        let Ok(key) = convert::stream_key(uid.as_ref(), sub.unwrap_or(false)) else {
            return Ok(None);
        };
        let seen = convert::seen_seq(target.get::<f64>("seq").ok().flatten());
        let slot = engine.slot(key);
        let Some((seq, frame)) = slot.newer_than(seen) else {
            return Ok(None);
        };
        if !frame.is_consistent() {
            return Ok(None);
        }
        let mirrored = slot.mirrored.load(std::sync::atomic::Ordering::Relaxed);
        events::write_frame(env, &mut target, seq, &frame, mirrored).map(Some)
    }
}
