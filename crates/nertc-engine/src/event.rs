//! Events the engine emits. The binding converts each to a NERTC event name and positional
//! arguments in one place (`EngineEvent::name` and the binding's converter).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use nertc_protocol::Uid;

use crate::error::Code;

/// `getConnectionState()` / `onConnectionStateChange` states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ConnectionState {
    Disconnected = 1,
    Connecting = 2,
    Connected = 3,
    Reconnecting = 4,
    Failed = 5,
}

/// `onConnectionStateChange` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum StateReason {
    Leave = 1,
    ChannelClosed = 2,
    Kicked = 3,
    Timeout = 4,
    Join = 5,
    JoinSucceed = 6,
    RejoinSucceed = 7,
    MediaDisconnected = 8,
    SignalDisconnected = 9,
    RequestChannelFailed = 10,
    JoinFailed = 11,
}

/// NERTC's `NERtcVideoStreamType`: the camera's main stream and the screen's substream.
pub const STREAM_MAIN: i32 = 0;
pub const STREAM_SUB: i32 = 1;

/// NERTC's `NERtcScreenCaptureStatus` values (`onScreenCaptureStatus`).
pub mod screen_status {
    pub const START: i32 = 1;
    pub const PAUSE: i32 = 2;
    pub const RESUME: i32 = 3;
    pub const STOP: i32 = 4;
    /// The shared window went away.
    pub const ABORT: i32 = 6;
}

/// `onUserLeft` reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum UserLeftReason {
    Normal = 0,
    Failover = 1,
    Update = 2,
    Kick = 3,
    Timeout = 4,
}

/// Periodic statistics (`onRtcStats`, every 2 s while joined).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RtcStats {
    pub duration_s: u64,
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_video_kbps: u32,
    pub rx_video_kbps: u32,
    pub tx_audio_kbps: u32,
    pub rx_audio_kbps: u32,
    pub cpu_app_usage: u32,
    pub memory_app_usage_kb: u64,
    pub users: u32,
    /// Round trips of the pub (up) and sub (down) media paths from ICE consent checks, ms;
    /// the signaling ping until measured; 0 before either.
    pub up_rtt_ms: u32,
    pub down_rtt_ms: u32,
    pub tx_audio_bytes: u64,
    pub tx_video_bytes: u64,
    pub rx_audio_bytes: u64,
    pub rx_video_bytes: u64,
    /// Received packets lost on the network (before repair) over the interval, percent, and
    /// in total, over all remote streams of each kind.
    pub rx_audio_loss_percent: u32,
    pub rx_video_loss_percent: u32,
    pub rx_audio_lost: u64,
    pub rx_video_lost: u64,
    /// Arrival jitter of received audio (the worst stream's 95th percentile over 2 s), ms.
    pub rx_audio_jitter_ms: u32,
    /// RFC 3550 interarrival jitter of received video (the worst stream), ms.
    pub rx_video_jitter_ms: u32,
    /// Our video packets the server had to NACK over the interval, percent, and in total; None
    /// while we publish no video.
    pub tx_video_loss_percent: Option<u32>,
    pub tx_video_lost: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalVideoStats {
    pub width: u32,
    pub height: u32,
    pub capture_frame_rate: u32,
    pub encoder_output_frame_rate: u32,
    pub sent_bitrate_kbps: u32,
    /// What the encoder is asked for: the configured bitrate, lowered to the uplink estimate.
    pub target_bitrate_kbps: u32,
    /// The uplink estimate (send-side congestion control), kbps; 0 before its first feedback.
    pub estimated_uplink_kbps: u32,
    pub encode_ms_avg: f32,
    /// The low layer, in dual stream mode (`enableDualStreamMode`).
    pub low: Option<LocalLayerStats>,
}

/// The low layer's part of [`LocalVideoStats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LocalLayerStats {
    pub width: u32,
    pub height: u32,
    pub encoder_output_frame_rate: u32,
    pub sent_bitrate_kbps: u32,
    /// 0 while the server says nobody receives it (not encoded).
    pub target_bitrate_kbps: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteVideoStats {
    pub uid: Uid,
    pub width: u32,
    pub height: u32,
    pub received_bitrate_kbps: u32,
    pub decoder_output_frame_rate: u32,
    pub packets_lost: u64,
    pub frozen_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoteAudioStats {
    pub uid: Uid,
    pub received_bitrate_kbps: u32,
    pub volume: u32,
    pub packets_lost: u64,
    /// Packets lost on the network over the last interval, before FEC/concealment, percent.
    pub loss_rate_percent: u32,
    /// Audio freezes so far: concealment (PLC, silence, a dry buffer) running ≥ 200 ms, ms.
    pub frozen_ms: u64,
    /// `frozen_ms` as a share of the audio played so far, percent.
    pub frozen_rate_percent: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkQuality {
    pub uid: Uid,
    /// 0 unknown, 1 excellent .. 6 down.
    pub tx_quality: i32,
    pub rx_quality: i32,
}

/// Every event the engine emits. Deliberately exhaustive: a new variant fails to compile in the
/// binding until it is converted there.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Error {
        code: Code,
        msg: String,
    },
    Warning {
        code: Code,
        msg: String,
    },
    JoinChannel {
        cid: u64,
        uid: Uid,
        result: Code,
        elapsed_ms: u64,
    },
    RejoinChannel {
        cid: u64,
        uid: Uid,
        result: Code,
        elapsed_ms: u64,
    },
    LeaveChannel {
        result: Code,
    },
    Disconnect {
        reason: Code,
    },
    ReconnectingStart {
        cid: u64,
        uid: Uid,
    },
    ConnectionStateChange {
        state: ConnectionState,
        reason: StateReason,
    },
    /// The role that applies changed in a channel (`setClientRole` in the live profile):
    /// NERTC's `NERtcClientRole` values, 0 broadcaster, 1 audience.
    ClientRoleChanged {
        old_role: i32,
        new_role: i32,
    },
    UserJoined {
        uid: Uid,
        name: String,
    },
    /// `onRecvSEIMsg(uid, data)`: `sendSEIMsg` data that arrived in a user's video.
    RecvSEIMsg {
        uid: Uid,
        data: Vec<u8>,
    },
    /// `onUserDataStart(uid)` / `onUserDataStop(uid)`: a user turned its data channel on / off
    /// (`enableLocalData`); each comes with `onUserDataStateChanged(uid)`.
    UserDataStart {
        uid: Uid,
    },
    UserDataStop {
        uid: Uid,
    },
    UserDataStateChanged {
        uid: Uid,
    },
    /// `onUserDataReceiveMessage(uid, data)`: a `sendData` message, in the order sent.
    UserDataReceiveMessage {
        uid: Uid,
        data: Vec<u8>,
    },
    /// `onPermissionKeyWillExpire`: the session's token (NERTC's permission key) expires within
    /// [`crate::session::TOKEN_WARNING`]; renew it with `updatePermissionKey`. Once per token.
    PermissionKeyWillExpire,
    /// `onUpdatePermissionKey(key, code, time)`: the outcome of `updatePermissionKey`; `time`
    /// is the new token's remaining validity in seconds (0 on failure or when unknown).
    UpdatePermissionKey {
        key: String,
        code: Code,
        time_s: u64,
    },
    UserLeft {
        uid: Uid,
        reason: UserLeftReason,
    },
    UserAudioStart {
        uid: Uid,
    },
    UserAudioStop {
        uid: Uid,
    },
    UserAudioMute {
        uid: Uid,
        muted: bool,
    },
    UserVideoStart {
        uid: Uid,
        max_profile: i32,
    },
    UserVideoStop {
        uid: Uid,
    },
    UserVideoMute {
        uid: Uid,
        muted: bool,
    },
    FirstAudioDataReceived {
        uid: Uid,
    },
    FirstVideoDataReceived {
        uid: Uid,
    },
    FirstAudioFrameDecoded {
        uid: Uid,
    },
    /// A remote stream's decoded size changed after its first frame (the publisher changed its
    /// size, or the server switched this subscription to another simulcast layer).
    RemoteVideoReceiveSizeChanged {
        uid: Uid,
        /// NERTC's `NERtcVideoStreamType`: [`STREAM_MAIN`] or [`STREAM_SUB`].
        stream_type: i32,
        width: u32,
        height: u32,
    },
    /// `onRemoteSubscribeFallbackToAudioOnly(uid, is_fallback, stream_type)`: with
    /// `setRemoteSubscribeFallbackOption(2)`, the server stopped forwarding this user's video
    /// because our downlink cannot carry even its low layer (`is_fallback` true; its audio
    /// continues), or resumed it (false).
    RemoteSubscribeFallbackToAudioOnly {
        uid: Uid,
        is_fallback: bool,
        /// NERTC's `NERtcVideoStreamType`: [`STREAM_MAIN`] or [`STREAM_SUB`].
        stream_type: i32,
    },
    /// `onLocalPublishFallbackToAudioOnly(is_fallback, stream_type)`: with
    /// `setLocalPublishFallbackOption(2)`, our camera's video stopped because the uplink cannot
    /// carry it (true; the audio continues), or was tried again (false).
    LocalPublishFallbackToAudioOnly {
        is_fallback: bool,
        /// NERTC's `NERtcVideoStreamType`: [`STREAM_MAIN`].
        stream_type: i32,
    },
    FirstVideoFrameDecoded {
        uid: Uid,
        width: u32,
        height: u32,
        /// NERTC's `NERtcVideoStreamType`: [`STREAM_MAIN`] or [`STREAM_SUB`].
        stream_type: i32,
    },
    /// A remote user started sharing (a `screen` video track).
    UserSubStreamVideoStart {
        uid: Uid,
        max_profile: i32,
    },
    UserSubStreamVideoStop {
        uid: Uid,
    },
    /// Our screen capture's state: [`screen_status`] values.
    ScreenCaptureStatus {
        status: i32,
    },
    RtcStats(RtcStats),
    LocalVideoStats(LocalVideoStats),
    RemoteVideoStats(Vec<RemoteVideoStats>),
    RemoteAudioStats(Vec<RemoteAudioStats>),
    NetworkQuality(Vec<NetworkQuality>),
    /// `[{uid, volume 0-100}]` (NERTC's scale; uid 0 is us while we send audio, 0 when
    /// muted), total volume of what is played (0-100).
    RemoteAudioVolumeIndication {
        speakers: Vec<(Uid, u32)>,
        total_volume: u32,
    },
    LocalAudioVolumeIndication {
        volume: u32,
    },
    /// A microphone (`device_type` 1) or speaker (2) was plugged in (`device_state` 0), was
    /// removed or stopped working while in use (1: unplugged, its sound server gone)
    /// (`device::audio_watch`).
    AudioDeviceStateChanged {
        device_id: String,
        device_type: i32,
        device_state: i32,
    },
    /// The sound server's default microphone (`device_type` 1) or speaker (2) is now
    /// `device_id`; an engine whose device was not picked by the application moved to it.
    AudioDefaultDeviceChanged {
        device_id: String,
        device_type: i32,
    },
    /// A camera was plugged in (`device_state` 0) or removed (1); `device_type` 1 is a capture
    /// device (`device::watch`).
    VideoDeviceStateChanged {
        device_id: String,
        device_type: i32,
        device_state: i32,
    },
    /// The mixing ended (`state` 0, code 0) or its file cannot be played (`state` 1, a
    /// NERtcAudioMixingErrorCode).
    AudioMixingStateChanged {
        state: i32,
        error_code: i32,
    },
    /// The mixing's position, every `progress_interval` (1 s by default).
    AudioMixingTimestampUpdate {
        timestamp_ms: u64,
    },
    AudioEffectFinished {
        effect_id: u32,
    },
    AudioEffectTimestampUpdate {
        effect_id: u32,
        timestamp_ms: u64,
    },
    /// `startAudioRecording`'s progress: a NERtcAudioRecordingCode.
    AudioRecording {
        code: i32,
        file_path: String,
    },
    /// `addLiveStreamTask`'s outcome: 0, or a NERTC live-stream code (1402, 1403, 1501).
    AddLiveStreamTask {
        task_id: String,
        url: String,
        error: i32,
    },
    /// `updateLiveStreamTask`'s outcome: 0, or 1404 / 1501.
    UpdateLiveStreamTask {
        task_id: String,
        url: String,
        error: i32,
    },
    /// `removeLiveStreamTask`'s outcome: 0, or 1404.
    RemoveLiveStreamTask {
        task_id: String,
        error: i32,
    },
    /// A task's stream: `NERtcLiveStreamStateCode` 505 pushing, 506 failed, 511 stopped, 512
    /// background image not drawn.
    LiveStreamState {
        task_id: String,
        url: String,
        state: i32,
    },
}

impl EngineEvent {
    /// The NERTC event name.
    pub fn name(&self) -> &'static str {
        match self {
            EngineEvent::Error { .. } => "onError",
            EngineEvent::Warning { .. } => "onWarning",
            EngineEvent::JoinChannel { .. } => "onJoinChannel",
            EngineEvent::RejoinChannel { .. } => "onRejoinChannel",
            EngineEvent::LeaveChannel { .. } => "onLeaveChannel",
            EngineEvent::Disconnect { .. } => "onDisconnect",
            EngineEvent::ReconnectingStart { .. } => "onReconnectingStart",
            EngineEvent::ConnectionStateChange { .. } => "onConnectionStateChange",
            EngineEvent::ClientRoleChanged { .. } => "onClientRoleChanged",
            EngineEvent::PermissionKeyWillExpire => "onPermissionKeyWillExpire",
            EngineEvent::RecvSEIMsg { .. } => "onRecvSEIMsg",
            EngineEvent::UserDataStart { .. } => "onUserDataStart",
            EngineEvent::UserDataStop { .. } => "onUserDataStop",
            EngineEvent::UserDataStateChanged { .. } => "onUserDataStateChanged",
            EngineEvent::UserDataReceiveMessage { .. } => "onUserDataReceiveMessage",
            EngineEvent::UpdatePermissionKey { .. } => "onUpdatePermissionKey",
            EngineEvent::UserJoined { .. } => "onUserJoined",
            EngineEvent::UserLeft { .. } => "onUserLeft",
            EngineEvent::UserAudioStart { .. } => "onUserAudioStart",
            EngineEvent::UserAudioStop { .. } => "onUserAudioStop",
            EngineEvent::UserAudioMute { .. } => "onUserAudioMute",
            EngineEvent::UserVideoStart { .. } => "onUserVideoStart",
            EngineEvent::UserVideoStop { .. } => "onUserVideoStop",
            EngineEvent::UserVideoMute { .. } => "onUserVideoMute",
            EngineEvent::FirstAudioDataReceived { .. } => "onFirstAudioDataReceived",
            EngineEvent::FirstVideoDataReceived { .. } => "onFirstVideoDataReceived",
            EngineEvent::FirstAudioFrameDecoded { .. } => "onFirstAudioFrameDecoded",
            EngineEvent::RemoteVideoReceiveSizeChanged { .. } => "onRemoteVideoReceiveSizeChanged",
            EngineEvent::RemoteSubscribeFallbackToAudioOnly { .. } => "onRemoteSubscribeFallbackToAudioOnly",
            EngineEvent::LocalPublishFallbackToAudioOnly { .. } => "onLocalPublishFallbackToAudioOnly",
            EngineEvent::FirstVideoFrameDecoded { .. } => "onFirstVideoFrameDecoded",
            EngineEvent::UserSubStreamVideoStart { .. } => "onUserSubStreamVideoStart",
            EngineEvent::UserSubStreamVideoStop { .. } => "onUserSubStreamVideoStop",
            EngineEvent::ScreenCaptureStatus { .. } => "onScreenCaptureStatus",
            EngineEvent::RtcStats(_) => "onRtcStats",
            EngineEvent::LocalVideoStats(_) => "onLocalVideoStats",
            EngineEvent::RemoteVideoStats(_) => "onRemoteVideoStats",
            EngineEvent::RemoteAudioStats(_) => "onRemoteAudioStats",
            EngineEvent::NetworkQuality(_) => "onNetworkQuality",
            EngineEvent::RemoteAudioVolumeIndication { .. } => "onRemoteAudioVolumeIndication",
            EngineEvent::LocalAudioVolumeIndication { .. } => "onLocalAudioVolumeIndication",
            EngineEvent::AudioDeviceStateChanged { .. } => "onAudioDeviceStateChanged",
            EngineEvent::AudioDefaultDeviceChanged { .. } => "onAudioDefaultDeviceChanged",
            EngineEvent::VideoDeviceStateChanged { .. } => "onVideoDeviceStateChanged",
            EngineEvent::AudioMixingStateChanged { .. } => "onAudioMixingStateChanged",
            EngineEvent::AudioMixingTimestampUpdate { .. } => "onAudioMixingTimestampUpdate",
            EngineEvent::AudioEffectFinished { .. } => "onAudioEffectFinished",
            EngineEvent::AudioEffectTimestampUpdate { .. } => "onAudioEffectTimestampUpdate",
            EngineEvent::AudioRecording { .. } => "onAudioRecording",
            EngineEvent::AddLiveStreamTask { .. } => "onAddLiveStreamTask",
            EngineEvent::UpdateLiveStreamTask { .. } => "onUpdateLiveStreamTask",
            EngineEvent::RemoveLiveStreamTask { .. } => "onRemoveLiveStreamTask",
            EngineEvent::LiveStreamState { .. } => "onLiveStreamState",
        }
    }
}

/// Events the engine may be ahead of its consumer before it drops new ones.
pub const EVENT_QUEUE: usize = 4096;

/// Where every part of the engine emits events; cheap to clone, never blocks. The queue is
/// bounded ([`EVENT_QUEUE`]): when the consumer (the binding's event thread, then the JS
/// thread) is that far behind, new events are dropped, counted and logged instead of growing
/// memory without bound.
#[derive(Clone)]
pub struct Events {
    tx: crossbeam_channel::Sender<EngineEvent>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// A sink and the receiving end handed to the engine's user.
    pub fn channel() -> (Events, crossbeam_channel::Receiver<EngineEvent>) {
        let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        (Events { tx, dropped: Arc::new(AtomicU64::new(0)) }, rx)
    }

    pub fn send(&self, ev: EngineEvent) {
        if let Err(crossbeam_channel::TrySendError::Full(ev)) = self.tx.try_send(ev) {
            let n = self.dropped.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, event = ev.name(), "the event consumer is {EVENT_QUEUE} events behind; dropping events");
            }
        }
    }

    /// Events dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (events, rx) = Events::channel();
        for _ in 0..EVENT_QUEUE + 3 {
            events.send(EngineEvent::LeaveChannel { result: 0 });
        }
        assert_eq!(events.dropped(), 3);
        assert_eq!(rx.len(), EVENT_QUEUE);
        drop(rx);
        events.send(EngineEvent::LeaveChannel { result: 0 }); // disconnected: ignored, not counted
        assert_eq!(events.dropped(), 3);
    }
}
