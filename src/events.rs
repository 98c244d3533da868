//! Engine events → NERTC event names and positional JS arguments, in one place.
//!
//! The conversion to [`Arg`] runs on the event thread (plain Rust, unit-tested here); turning
//! `Arg`s into JS values happens on the JS thread inside the thread-safe function's callback.
//! Argument lists follow `shared/nertc-api.md`; stats objects use NERTC's snake_case field
//! names and shapes (`video_layers_list`, `audio_layers_list`, `(count, array)`).

use napi::bindgen_prelude::{BigInt, Object, ToNapiValue, Uint8ArraySlice};
use napi::{Env, sys};

use nertc_engine::EngineEvent;
use nertc_engine::device::DeviceInfo;
use nertc_engine::event::{
    ConnectionState, LocalVideoStats, NetworkQuality, RemoteAudioStats, RemoteVideoStats, RtcStats, StateReason, UserLeftReason,
};
use nertc_engine::frame::VideoFrame;

/// Largest integer a JS number holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// A JS value built off the JS thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A signed integer (codes, states, reasons); a JS number.
    Int(i64),
    /// An unsigned 64-bit id or counter: a JS number when it is a safe integer, else a BigInt.
    U64(u64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Arg>),
    Object(Vec<(&'static str, Arg)>),
    /// Bytes as a JS-owned Uint8Array (copied on the JS thread; never external memory).
    Bytes(Vec<u8>),
}

impl ToNapiValue for Arg {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        // SAFETY (all arms): `env` is the live env napi passed to this conversion.
        unsafe {
            match val {
                Arg::Int(i) => f64::to_napi_value(env, i as f64),
                Arg::U64(u) if u <= MAX_SAFE_INTEGER => f64::to_napi_value(env, u as f64),
                Arg::U64(u) => BigInt::to_napi_value(env, BigInt::from(u)),
                Arg::Float(f) => f64::to_napi_value(env, f),
                Arg::Bool(b) => bool::to_napi_value(env, b),
                Arg::Str(s) => String::to_napi_value(env, s),
                Arg::Array(items) => Vec::<Arg>::to_napi_value(env, items),
                Arg::Bytes(data) => {
                    let env_ref = Env::from_raw(env);
                    Uint8ArraySlice::to_napi_value(env, Uint8ArraySlice::copy_from(&env_ref, &data)?)
                }
                Arg::Object(fields) => {
                    let env_ref = Env::from_raw(env);
                    let mut obj = Object::new(&env_ref)?;
                    for (k, v) in fields {
                        obj.set(k, v)?;
                    }
                    Object::to_napi_value(env, obj)
                }
            }
        }
    }
}

fn uid(u: u64) -> Arg {
    Arg::U64(u)
}

fn int(i: impl Into<i64>) -> Arg {
    Arg::Int(i.into())
}

fn count(n: usize) -> Arg {
    Arg::U64(n as u64)
}

/// The NERTC event name and its positional arguments.
pub fn to_js(ev: &EngineEvent) -> (&'static str, Vec<Arg>) {
    use EngineEvent as E;
    let args = match ev {
        E::Error { code, msg } | E::Warning { code, msg } => vec![int(*code), Arg::Str(msg.clone())],
        E::JoinChannel { cid, uid: u, result, elapsed_ms } | E::RejoinChannel { cid, uid: u, result, elapsed_ms } => {
            vec![Arg::U64(*cid), uid(*u), int(*result), Arg::U64(*elapsed_ms)]
        }
        E::LeaveChannel { result } => vec![int(*result)],
        E::Disconnect { reason } => vec![int(*reason)],
        E::ReconnectingStart { cid, uid: u } => vec![Arg::U64(*cid), uid(*u)],
        E::ConnectionStateChange { state, reason } => vec![int(*state as i32), int(*reason as i32)],
        E::ClientRoleChanged { old_role, new_role } => vec![int(*old_role), int(*new_role)],
        E::PermissionKeyWillExpire => vec![],
        E::RecvSEIMsg { uid: u, data } | E::UserDataReceiveMessage { uid: u, data } => vec![uid(*u), Arg::Bytes(data.clone())],
        E::UpdatePermissionKey { key, code, time_s } => vec![Arg::Str(key.clone()), int(*code), Arg::U64(*time_s)],
        E::UserJoined { uid: u, name } => vec![uid(*u), Arg::Str(name.clone())],
        E::UserLeft { uid: u, reason } => vec![uid(*u), int(*reason as i32)],
        E::UserAudioStart { uid: u }
        | E::UserDataStart { uid: u }
        | E::UserDataStop { uid: u }
        | E::UserDataStateChanged { uid: u }
        | E::UserAudioStop { uid: u }
        | E::UserVideoStop { uid: u }
        | E::UserSubStreamVideoStop { uid: u }
        | E::FirstAudioDataReceived { uid: u }
        | E::FirstVideoDataReceived { uid: u }
        | E::FirstAudioFrameDecoded { uid: u } => vec![uid(*u)],
        E::UserAudioMute { uid: u, muted } | E::UserVideoMute { uid: u, muted } => vec![uid(*u), Arg::Bool(*muted)],
        E::UserVideoStart { uid: u, max_profile } | E::UserSubStreamVideoStart { uid: u, max_profile } => {
            vec![uid(*u), int(*max_profile)]
        }
        // NERTC's (uid, type, width, height).
        E::RemoteVideoReceiveSizeChanged { uid: u, stream_type, width, height } => {
            vec![uid(*u), int(*stream_type), int(*width), int(*height)]
        }
        E::RemoteSubscribeFallbackToAudioOnly { uid: u, is_fallback, stream_type } => {
            vec![uid(*u), Arg::Bool(*is_fallback), int(*stream_type)]
        }
        E::LocalPublishFallbackToAudioOnly { is_fallback, stream_type } => vec![Arg::Bool(*is_fallback), int(*stream_type)],
        // NERTC's (uid, width, height), then the stream type (0 main, 1 substream).
        E::FirstVideoFrameDecoded { uid: u, width, height, stream_type } => {
            vec![uid(*u), int(*width), int(*height), int(*stream_type)]
        }
        E::ScreenCaptureStatus { status } => vec![int(*status)],
        E::RtcStats(s) => vec![rtc_stats(s)],
        E::LocalVideoStats(s) => vec![local_video_stats(s)],
        E::RemoteVideoStats(list) => vec![count(list.len()), Arg::Array(list.iter().map(remote_video_stats).collect())],
        E::RemoteAudioStats(list) => vec![count(list.len()), Arg::Array(list.iter().map(remote_audio_stats).collect())],
        E::NetworkQuality(list) => vec![count(list.len()), Arg::Array(list.iter().map(network_quality).collect())],
        E::RemoteAudioVolumeIndication { speakers, total_volume } => vec![
            Arg::Array(speakers.iter().map(|(u, v)| Arg::Object(vec![("uid", uid(*u)), ("volume", int(*v))])).collect()),
            count(speakers.len()),
            int(*total_volume),
        ],
        E::LocalAudioVolumeIndication { volume } => vec![int(*volume)],
        E::AudioDeviceStateChanged { device_id, device_type, device_state }
        | E::VideoDeviceStateChanged { device_id, device_type, device_state } => {
            vec![Arg::Str(device_id.clone()), int(*device_type), int(*device_state)]
        }
        E::AudioDefaultDeviceChanged { device_id, device_type } => vec![Arg::Str(device_id.clone()), int(*device_type)],
        E::AudioMixingStateChanged { state, error_code } => vec![int(*state), int(*error_code)],
        E::AudioMixingTimestampUpdate { timestamp_ms } => vec![Arg::U64(*timestamp_ms)],
        E::AudioEffectFinished { effect_id } => vec![int(*effect_id)],
        E::AudioEffectTimestampUpdate { effect_id, timestamp_ms } => vec![int(*effect_id), Arg::U64(*timestamp_ms)],
        E::AudioRecording { code, file_path } => vec![int(*code), Arg::Str(file_path.clone())],
        E::AddLiveStreamTask { task_id, url, error } | E::UpdateLiveStreamTask { task_id, url, error } => {
            vec![Arg::Str(task_id.clone()), Arg::Str(url.clone()), int(*error)]
        }
        E::RemoveLiveStreamTask { task_id, error } => vec![Arg::Str(task_id.clone()), int(*error)],
        E::LiveStreamState { task_id, url, state } => vec![Arg::Str(task_id.clone()), Arg::Str(url.clone()), int(*state)],
        // No wildcard arm: an event added to the engine does not compile until converted here
        // (and listed in `every_event` below).
    };
    (ev.name(), args)
}

/// One sample of every `EngineEvent` variant, listed with the variant's name: the macro turns
/// the list into the samples and into a `match` with one arm per listed variant and no
/// wildcard, so a variant missing from the list (one added to the engine) fails to compile.
macro_rules! every_event {
    ($($variant:ident => $sample:expr),* $(,)?) => {{
        #[allow(dead_code)]
        fn listed(ev: &EngineEvent) {
            match ev {
                $(EngineEvent::$variant { .. } => {})*
            }
        }
        vec![$((stringify!($variant), $sample)),*]
    }};
}

/// `(variant name, sample)` for every `EngineEvent` variant, in declaration order.
pub fn event_samples() -> Vec<(&'static str, EngineEvent)> {
    use EngineEvent as E;
    every_event! {
        Error => E::Error { code: 0, msg: String::new() },
        Warning => E::Warning { code: 0, msg: String::new() },
        JoinChannel => E::JoinChannel { cid: 0, uid: 1, result: 0, elapsed_ms: 0 },
        RejoinChannel => E::RejoinChannel { cid: 0, uid: 1, result: 0, elapsed_ms: 0 },
        LeaveChannel => E::LeaveChannel { result: 0 },
        Disconnect => E::Disconnect { reason: 0 },
        ReconnectingStart => E::ReconnectingStart { cid: 0, uid: 1 },
        ConnectionStateChange => E::ConnectionStateChange { state: ConnectionState::Connected, reason: StateReason::JoinSucceed },
        ClientRoleChanged => E::ClientRoleChanged { old_role: 0, new_role: 1 },
        PermissionKeyWillExpire => E::PermissionKeyWillExpire,
        RecvSEIMsg => E::RecvSEIMsg { uid: 1, data: vec![1, 2] },
        UserDataStart => E::UserDataStart { uid: 1 },
        UserDataStop => E::UserDataStop { uid: 1 },
        UserDataStateChanged => E::UserDataStateChanged { uid: 1 },
        UserDataReceiveMessage => E::UserDataReceiveMessage { uid: 1, data: vec![1, 2] },
        UpdatePermissionKey => E::UpdatePermissionKey { key: "k".into(), code: 0, time_s: 60 },
        UserJoined => E::UserJoined { uid: 1, name: String::new() },
        UserLeft => E::UserLeft { uid: 1, reason: UserLeftReason::Normal },
        UserAudioStart => E::UserAudioStart { uid: 1 },
        UserAudioStop => E::UserAudioStop { uid: 1 },
        UserAudioMute => E::UserAudioMute { uid: 1, muted: true },
        UserVideoStart => E::UserVideoStart { uid: 1, max_profile: 2 },
        UserVideoStop => E::UserVideoStop { uid: 1 },
        UserVideoMute => E::UserVideoMute { uid: 1, muted: true },
        FirstAudioDataReceived => E::FirstAudioDataReceived { uid: 1 },
        FirstVideoDataReceived => E::FirstVideoDataReceived { uid: 1 },
        FirstAudioFrameDecoded => E::FirstAudioFrameDecoded { uid: 1 },
        RemoteVideoReceiveSizeChanged => E::RemoteVideoReceiveSizeChanged { uid: 1, stream_type: 0, width: 2, height: 2 },
        RemoteSubscribeFallbackToAudioOnly => E::RemoteSubscribeFallbackToAudioOnly { uid: 1, is_fallback: true, stream_type: 0 },
        LocalPublishFallbackToAudioOnly => E::LocalPublishFallbackToAudioOnly { is_fallback: true, stream_type: 0 },
        FirstVideoFrameDecoded => E::FirstVideoFrameDecoded { uid: 1, width: 2, height: 2, stream_type: 0 },
        UserSubStreamVideoStart => E::UserSubStreamVideoStart { uid: 1, max_profile: 4 },
        UserSubStreamVideoStop => E::UserSubStreamVideoStop { uid: 1 },
        ScreenCaptureStatus => E::ScreenCaptureStatus { status: 1 },
        RtcStats => E::RtcStats(RtcStats::default()),
        LocalVideoStats => E::LocalVideoStats(LocalVideoStats::default()),
        RemoteVideoStats => E::RemoteVideoStats(Vec::new()),
        RemoteAudioStats => E::RemoteAudioStats(Vec::new()),
        NetworkQuality => E::NetworkQuality(Vec::new()),
        RemoteAudioVolumeIndication => E::RemoteAudioVolumeIndication { speakers: Vec::new(), total_volume: 0 },
        LocalAudioVolumeIndication => E::LocalAudioVolumeIndication { volume: 0 },
        AudioDeviceStateChanged => E::AudioDeviceStateChanged { device_id: String::new(), device_type: 1, device_state: 1 },
        AudioDefaultDeviceChanged => E::AudioDefaultDeviceChanged { device_id: String::new(), device_type: 2 },
        VideoDeviceStateChanged => E::VideoDeviceStateChanged { device_id: String::new(), device_type: 1, device_state: 0 },
        AudioMixingStateChanged => E::AudioMixingStateChanged { state: 0, error_code: 0 },
        AudioMixingTimestampUpdate => E::AudioMixingTimestampUpdate { timestamp_ms: 0 },
        AudioEffectFinished => E::AudioEffectFinished { effect_id: 1 },
        AudioEffectTimestampUpdate => E::AudioEffectTimestampUpdate { effect_id: 1, timestamp_ms: 0 },
        AudioRecording => E::AudioRecording { code: 3, file_path: String::new() },
        AddLiveStreamTask => E::AddLiveStreamTask { task_id: String::new(), url: String::new(), error: 0 },
        UpdateLiveStreamTask => E::UpdateLiveStreamTask { task_id: String::new(), url: String::new(), error: 0 },
        RemoveLiveStreamTask => E::RemoveLiveStreamTask { task_id: String::new(), error: 0 },
        LiveStreamState => E::LiveStreamState { task_id: String::new(), url: String::new(), state: 505 },
    }
}

/// The NERTC name of every event the engine can emit (`eventNames()` in JS).
pub fn event_names() -> Vec<&'static str> {
    event_samples().iter().map(|(_, ev)| ev.name()).collect()
}

/// `onRtcStats(stats)`: NERTC's NERtcStats fields that the engine measures.
fn rtc_stats(s: &RtcStats) -> Arg {
    let mut fields = vec![
        ("total_duration", Arg::U64(s.duration_s)),
        ("tx_bytes", Arg::U64(s.tx_bytes)),
        ("rx_bytes", Arg::U64(s.rx_bytes)),
        ("tx_audio_kbitrate", int(s.tx_audio_kbps)),
        ("rx_audio_kbitrate", int(s.rx_audio_kbps)),
        ("tx_video_kbitrate", int(s.tx_video_kbps)),
        ("rx_video_kbitrate", int(s.rx_video_kbps)),
        ("cpu_app_usage", int(s.cpu_app_usage)),
        ("memory_app_kbytes", Arg::U64(s.memory_app_usage_kb)),
        ("user_count", int(s.users)),
        ("up_rtt", int(s.up_rtt_ms)),
        ("down_rtt", int(s.down_rtt_ms)),
        ("tx_audio_bytes", Arg::U64(s.tx_audio_bytes)),
        ("tx_video_bytes", Arg::U64(s.tx_video_bytes)),
        ("rx_audio_bytes", Arg::U64(s.rx_audio_bytes)),
        ("rx_video_bytes", Arg::U64(s.rx_video_bytes)),
        ("rx_audio_packet_loss_rate", int(s.rx_audio_loss_percent)),
        ("rx_video_packet_loss_rate", int(s.rx_video_loss_percent)),
        ("rx_audio_packet_loss_sum", Arg::U64(s.rx_audio_lost)),
        ("rx_video_packet_loss_sum", Arg::U64(s.rx_video_lost)),
        ("rx_audio_jitter", int(s.rx_audio_jitter_ms)),
        ("rx_video_jitter", int(s.rx_video_jitter_ms)),
    ];
    if let (Some(rate), Some(sum)) = (s.tx_video_loss_percent, s.tx_video_lost) {
        fields.push(("tx_video_packet_loss_rate", int(rate)));
        fields.push(("tx_video_packet_loss_sum", Arg::U64(sum)));
    }
    Arg::Object(fields)
}

/// `onLocalVideoStats(stats)`: `{video_layers_count, video_layers_list: [{layer_type 1 main, ...}]}`.
fn local_video_stats(s: &LocalVideoStats) -> Arg {
    let layer = Arg::Object(vec![
        ("layer_type", int(1)),
        ("width", int(s.width)),
        ("height", int(s.height)),
        ("capture_frame_rate", int(s.capture_frame_rate)),
        ("encoder_frame_rate", int(s.encoder_output_frame_rate)),
        ("sent_frame_rate", int(s.encoder_output_frame_rate)),
        ("sent_bitrate", int(s.sent_bitrate_kbps)),
        ("target_bitrate", int(s.target_bitrate_kbps)),
        ("estimated_uplink_bitrate", int(s.estimated_uplink_kbps)),
        ("encode_time_ms", Arg::Float(f64::from(s.encode_ms_avg))),
        ("codec_name", Arg::Str("H264".into())),
    ]);
    // Dual stream: the low layer is a second entry of the main stream (`layer_type` 1) with
    // `low: true`; NERTC's struct has no field of its own for it.
    let low = s.low.as_ref().map(|l| {
        Arg::Object(vec![
            ("layer_type", int(1)),
            ("low", Arg::Bool(true)),
            ("width", int(l.width)),
            ("height", int(l.height)),
            ("capture_frame_rate", int(s.capture_frame_rate)),
            ("encoder_frame_rate", int(l.encoder_output_frame_rate)),
            ("sent_frame_rate", int(l.encoder_output_frame_rate)),
            ("sent_bitrate", int(l.sent_bitrate_kbps)),
            ("target_bitrate", int(l.target_bitrate_kbps)),
            ("estimated_uplink_bitrate", int(s.estimated_uplink_kbps)),
            ("codec_name", Arg::Str("H264".into())),
        ])
    });
    let layers: Vec<Arg> = std::iter::once(layer).chain(low).collect();
    Arg::Object(vec![("video_layers_count", int(layers.len() as u32)), ("video_layers_list", Arg::Array(layers))])
}

/// One entry of `onRemoteVideoStats(count, stats[])`: `{uid, video_layers_count, video_layers_list}`.
fn remote_video_stats(s: &RemoteVideoStats) -> Arg {
    let layer = Arg::Object(vec![
        ("layer_type", int(1)),
        ("width", int(s.width)),
        ("height", int(s.height)),
        ("received_bitrate", int(s.received_bitrate_kbps)),
        ("decoder_frame_rate", int(s.decoder_output_frame_rate)),
        ("packets_lost", Arg::U64(s.packets_lost)),
        ("total_frozen_time", Arg::U64(s.frozen_ms)),
    ]);
    Arg::Object(vec![("uid", uid(s.uid)), ("video_layers_count", int(1)), ("video_layers_list", Arg::Array(vec![layer]))])
}

/// One entry of `onRemoteAudioStats(count, stats[])`: `{uid, audio_layers_count, audio_layers_list}`.
fn remote_audio_stats(s: &RemoteAudioStats) -> Arg {
    let layer = Arg::Object(vec![
        ("stream_type", int(0)),
        ("received_bitrate", int(s.received_bitrate_kbps)),
        ("volume", int(s.volume)),
        ("packets_lost", Arg::U64(s.packets_lost)),
        ("audio_loss_rate", int(s.loss_rate_percent)),
        ("total_frozen_time", Arg::U64(s.frozen_ms)),
        ("frozen_rate", int(s.frozen_rate_percent)),
    ]);
    Arg::Object(vec![("uid", uid(s.uid)), ("audio_layers_count", int(1)), ("audio_layers_list", Arg::Array(vec![layer]))])
}

fn network_quality(q: &NetworkQuality) -> Arg {
    Arg::Object(vec![("uid", uid(q.uid)), ("tx_quality", int(q.tx_quality)), ("rx_quality", int(q.rx_quality))])
}

/// `{device_id, device_name, transport_type, suspected_unavailable, system_default_device}`.
pub fn device_info(d: &DeviceInfo) -> Arg {
    Arg::Object(vec![
        ("device_id", Arg::Str(d.device_id.clone())),
        ("device_name", Arg::Str(d.device_name.clone())),
        ("transport_type", int(d.transport_type)),
        ("suspected_unavailable", Arg::Bool(d.suspected_unavailable)),
        ("system_default_device", Arg::Bool(d.system_default_device)),
    ])
}

fn bgra(b: &nertc_engine::device::screen::Bgra) -> Arg {
    Arg::Object(vec![
        ("buffer", Arg::Bytes(b.data.clone())),
        ("length", count(b.data.len())),
        ("width", int(b.width)),
        ("height", int(b.height)),
    ])
}

/// One entry of `enumerateScreenCaptureSourceInfo` with NERTC's field names; `thumbBGRA` /
/// `iconBGRA` are left out when there is none (NERTC: "check for undefined").
pub fn screen_source_info(s: &nertc_engine::device::screen::ScreenSourceInfo) -> Arg {
    let mut fields = vec![
        ("sourceId", Arg::U64(s.source_id)),
        ("displayId", Arg::Str(s.display_id.clone())),
        ("sourceName", Arg::Str(s.name.clone())),
        ("type", int(s.kind)),
        ("isMinimizeWindow", Arg::Bool(s.minimized)),
    ];
    if let Some(t) = &s.thumb {
        fields.push(("thumbBGRA", bgra(t)));
    }
    if let Some(i) = &s.icon {
        fields.push(("iconBGRA", bgra(i)));
    }
    Arg::Object(fields)
}

/// Writes a frame for `pullFrame`: copies its planes into `target.y/u/v` (reusing a JS-owned
/// Uint8Array of the same length, else putting a new JS-owned copy there; never external
/// memory), sets `target.seq`, and returns the header `{width, height, timestamp (ms),
/// mirrored, seq}`.
pub fn write_frame<'env>(
    env: &'env Env,
    target: &mut Object<'env>,
    seq: u64,
    frame: &VideoFrame,
    mirrored: bool,
) -> napi::Result<Object<'env>> {
    copy_plane(env, target, "y", &frame.y)?;
    copy_plane(env, target, "u", &frame.u)?;
    copy_plane(env, target, "v", &frame.v)?;
    target.set("seq", seq as f64)?;
    let mut header = Object::new(env)?;
    header.set("width", frame.width)?;
    header.set("height", frame.height)?;
    header.set("timestamp", (frame.timestamp_us / 1000) as f64)?;
    header.set("mirrored", mirrored)?;
    header.set("seq", seq as f64)?;
    Ok(header)
}

/// Copies `data` into `target[name]` when that is a Uint8Array of the same length, else
/// replaces it with a new JS-owned copy.
fn copy_plane(env: &Env, target: &mut Object<'_>, name: &str, data: &[u8]) -> napi::Result<()> {
    if let Ok(Some(mut plane)) = target.get::<Uint8ArraySlice>(name) {
        // SAFETY: we are on the JS thread (inside a napi call) and hold no other view of this
        // buffer; no JS code runs while the copy happens, so nothing else reads or detaches it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_arguments_follow_nertc() {
        let (name, args) = to_js(&EngineEvent::JoinChannel { cid: 9, uid: 42, result: 0, elapsed_ms: 120 });
        assert_eq!(name, "onJoinChannel");
        assert_eq!(args, vec![Arg::U64(9), Arg::U64(42), Arg::Int(0), Arg::U64(120)]);

        let (name, args) = to_js(&EngineEvent::LeaveChannel { result: 0 });
        assert_eq!((name, args), ("onLeaveChannel", vec![Arg::Int(0)]));

        let (name, args) = to_js(&EngineEvent::UserLeft { uid: 7, reason: UserLeftReason::Timeout });
        assert_eq!((name, args), ("onUserLeft", vec![Arg::U64(7), Arg::Int(4)]));

        let (name, args) =
            to_js(&EngineEvent::ConnectionStateChange { state: ConnectionState::Connected, reason: StateReason::JoinSucceed });
        assert_eq!((name, args), ("onConnectionStateChange", vec![Arg::Int(3), Arg::Int(6)]));

        let (name, args) = to_js(&EngineEvent::FirstVideoFrameDecoded { uid: 5, width: 640, height: 480, stream_type: 1 });
        assert_eq!((name, args), ("onFirstVideoFrameDecoded", vec![Arg::U64(5), Arg::Int(640), Arg::Int(480), Arg::Int(1)]));

        let (name, args) = to_js(&EngineEvent::UserSubStreamVideoStart { uid: 5, max_profile: 4 });
        assert_eq!((name, args), ("onUserSubStreamVideoStart", vec![Arg::U64(5), Arg::Int(4)]));
        let (name, args) = to_js(&EngineEvent::ScreenCaptureStatus { status: 6 });
        assert_eq!((name, args), ("onScreenCaptureStatus", vec![Arg::Int(6)]));

        let (name, args) = to_js(&EngineEvent::UserVideoMute { uid: 5, muted: true });
        assert_eq!((name, args), ("onUserVideoMute", vec![Arg::U64(5), Arg::Bool(true)]));
    }

    #[test]
    fn lists_are_count_then_array() {
        let q = vec![NetworkQuality { uid: 1, tx_quality: 1, rx_quality: 2 }, NetworkQuality { uid: 2, tx_quality: 0, rx_quality: 0 }];
        let (name, args) = to_js(&EngineEvent::NetworkQuality(q));
        assert_eq!(name, "onNetworkQuality");
        assert_eq!(args.len(), 2);
        assert_eq!(args[0], Arg::U64(2));
        let Arg::Array(items) = &args[1] else { unreachable!("not an array: {:?}", args[1]) };
        assert_eq!(items[0], Arg::Object(vec![("uid", Arg::U64(1)), ("tx_quality", Arg::Int(1)), ("rx_quality", Arg::Int(2))]));

        let (name, args) = to_js(&EngineEvent::RemoteVideoStats(vec![RemoteVideoStats { uid: 3, width: 320, ..Default::default() }]));
        assert_eq!(name, "onRemoteVideoStats");
        assert_eq!(args[0], Arg::U64(1));
        let Arg::Array(items) = &args[1] else { unreachable!("shape checked by the converter") };
        let Arg::Object(fields) = &items[0] else { unreachable!("shape checked by the converter") };
        assert_eq!(fields[0], ("uid", Arg::U64(3)));

        let (name, args) = to_js(&EngineEvent::RemoteAudioVolumeIndication { speakers: vec![(3, 100)], total_volume: 100 });
        assert_eq!(name, "onRemoteAudioVolumeIndication");
        assert_eq!(args[1], Arg::U64(1));
        assert_eq!(args[2], Arg::Int(100));
    }

    #[test]
    fn stats_use_nertc_field_names() {
        let (_, args) = to_js(&EngineEvent::RtcStats(RtcStats { tx_bytes: 10, ..Default::default() }));
        let Arg::Object(fields) = &args[0] else { unreachable!("shape checked by the converter") };
        assert!(fields.contains(&("tx_bytes", Arg::U64(10))));
        assert!(fields.iter().any(|(k, _)| *k == "total_duration"));
        let (_, args) = to_js(&EngineEvent::LocalVideoStats(LocalVideoStats { width: 640, ..Default::default() }));
        let Arg::Object(fields) = &args[0] else { unreachable!("shape checked by the converter") };
        assert_eq!(fields[0], ("video_layers_count", Arg::Int(1)));
    }

    #[test]
    fn every_variant_has_one_sample_listed_under_its_own_name() {
        let samples = event_samples();
        for (variant, ev) in &samples {
            // Debug output starts with the variant's name: `Error { .. }`, `RtcStats(..)`.
            let debug = format!("{ev:?}");
            // (A unit variant prints its name alone.)
            let named = debug.strip_prefix(variant).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '(']));
            assert!(named, "{variant} lists a sample of another variant: {debug}");
        }
        let variants: std::collections::HashSet<_> = samples.iter().map(|(v, _)| *v).collect();
        assert_eq!(variants.len(), samples.len(), "a variant is listed twice");
    }

    #[test]
    fn event_names_are_distinct_nertc_names_and_converted() {
        let names = event_names();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "two variants share a NERTC name: {names:?}");
        for (name, (_, ev)) in names.iter().zip(event_samples()) {
            assert!(name.starts_with("on") && name.len() > 2, "{name} is not a NERTC event name");
            assert_eq!(to_js(&ev).0, *name, "to_js names {ev:?} as the engine does");
        }
        assert!(names.contains(&"onJoinChannel") && names.contains(&"onLocalAudioVolumeIndication"));
    }

    #[test]
    fn events_without_payload_still_have_their_arguments() {
        // Every sample converts to at least one positional argument, except the one event NERTC
        // itself defines without any (`onPermissionKeyWillExpire()`).
        for (variant, ev) in event_samples() {
            let (name, args) = to_js(&ev);
            assert_eq!(args.is_empty(), name == "onPermissionKeyWillExpire", "{variant} ({name}) converts to {} arguments", args.len());
        }
    }
}
