// Type definitions for nertc-electron-sdk: a self-hostable, NERTC-compatible RTC SDK.
//
// Methods are synchronous and return a result code (0 = OK, see `ErrorCode`); results that
// need the network arrive later as events (positional arguments, emitted on a later tick).

import { EventEmitter } from 'node:events';

/** A user id: a positive integer. Numbers above 2^53 lose precision; pass a BigInt for those. */
export type Uid = number | bigint;

// -------------------------------------------------------------------------------------------
// Result codes

/** Every result code the SDK returns (methods, `onJoinChannel` result, `onError`, `onWarning`). */
export declare const ErrorCode: {
  /** OK. */
  readonly OK: 0;
  /** Generic failure. */
  readonly ERR_FATAL: 30001;
  /** A parameter is out of range or malformed (channel name, uid, config, frame size ...). */
  readonly ERR_INVALID_PARAM: 30003;
  /** The call is not valid in the current state (e.g. initialize twice, pushing a frame with nothing consuming it). */
  readonly ERR_WRONG_STATE: 30004;
  /** The engine is not initialized, or was released. */
  readonly ERR_NOT_INITIALIZED: 30005;
  /** Device id unknown or the device cannot be opened. */
  readonly ERR_DEVICE_NOT_FOUND: 30008;
  /** The operation is not supported (e.g. pushing to an external source that is not enabled; a canvas view that cannot be drawn). */
  readonly ERR_NOT_SUPPORTED: 30010;
  /** joinChannel while joined or joining. */
  readonly ERR_ALREADY_JOINED: 30100;
  /** leaveChannel (or a channel operation) while not in a channel. */
  readonly ERR_NOT_JOINED: 30101;
  /** The room server cannot be reached. */
  readonly ERR_CONNECT_FAILED: 30200;
  /** The media connection stayed down (ICE restarts failed for 30 s) while signaling worked; the session ended (onDisconnect). */
  readonly ERR_MEDIA_DISCONNECTED: 30204;
  /** The signaling connection was lost and could not be recovered within 60 s; the session ended (onDisconnect). */
  readonly ERR_SIGNAL_DISCONNECTED: 30205;
  /** Removed from the channel by the server (replaced by another login with the same uid, or kicked). */
  readonly ERR_KICKED: 30206;
  /** Removed because the room closed (server shutdown). */
  readonly ERR_ROOM_CLOSED: 30207;
  /** The token is missing, malformed, wrongly signed, expired, or for another channel/uid. */
  readonly ERR_TOKEN: 403;
  /** The app key is unknown to the server. */
  readonly ERR_APP_KEY: 20101;
  /** Join refused for another reason (bad channel name or uid on the server side, protocol). */
  readonly ERR_JOIN_FAILED: 20102;
  /** Publishing or subscribing is not permitted by the token. */
  readonly ERR_PERMISSION: 20103;
  /** A user event handler (or a canvas's drawFrame) threw; reported through onWarning, never crashes the process. */
  readonly WARN_HANDLER_THREW: 30900;
  /** The engine's command queue is full (it is far behind); the call was not carried out. Ours, beyond NERTC's codes. */
  readonly ERR_BUSY: 30901;
};
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** `getConnectionState()` / `onConnectionStateChange` states. */
export declare const ConnectionState: {
  readonly DISCONNECTED: 1;
  readonly CONNECTING: 2;
  readonly CONNECTED: 3;
  readonly RECONNECTING: 4;
  readonly FAILED: 5;
};
/** `onConnectionStateChange` reasons. */
export declare const ConnectionChangeReason: {
  readonly LEAVE: 1;
  readonly CHANNEL_CLOSED: 2;
  readonly KICKED: 3;
  readonly TIMEOUT: 4;
  readonly JOIN: 5;
  readonly JOIN_SUCCEED: 6;
  readonly REJOIN_SUCCEED: 7;
  readonly MEDIA_DISCONNECTED: 8;
  readonly SIGNAL_DISCONNECTED: 9;
  readonly REQUEST_CHANNEL_FAILED: 10;
  readonly JOIN_FAILED: 11;
};
/** `onUserLeft` reasons. */
export declare const UserLeftReason: {
  readonly NORMAL: 0;
  readonly FAILOVER: 1;
  readonly UPDATE: 2;
  readonly KICK: 3;
  readonly TIMEOUT: 4;
};
export declare const ChannelProfile: { readonly COMMUNICATION: 0; readonly LIVE_BROADCASTING: 1 };
export declare const ClientRole: { readonly BROADCASTER: 0; readonly AUDIENCE: 1 };
/** Canvas `mode`: 0 fit (letterbox), 1 fullfill (stretch), 2 cropfill (crop to fill). */
export declare const VideoScalingMode: { readonly FIT: 0; readonly FULLFILL: 1; readonly CROPFILL: 2 };
/** 0 auto (mirror the local preview), 1 always, 2 never. */
export declare const VideoMirrorMode: { readonly AUTO: 0; readonly ENABLED: 1; readonly DISABLED: 2 };
export declare const RemoteVideoStreamType: { readonly HIGH: 0; readonly LOW: 1; readonly NONE: 2 };
/** `max_profile`: 0 160x90@15, 1 320x180@15, 2 640x480@30, 3 1280x720@30, 4 1920x1080@30. */
export declare const VideoProfile: {
  readonly LOWEST: 0;
  readonly LOW: 1;
  readonly STANDARD: 2;
  readonly HD720P: 3;
  readonly HD1080P: 4;
};
export declare const VideoPixelFormat: { readonly I420: 'I420'; readonly RGBA: 'RGBA' };

// -------------------------------------------------------------------------------------------
// Configuration

export interface NERtcServerConfig {
  /**
   * Room server URL, e.g. `ws://127.0.0.1:8480` (or `NERtcServer.start()`'s result). When
   * unset: the NERTC_SERVER_URL environment variable, else `ws://127.0.0.1:8480`.
   */
  channel_server?: string;
  [key: string]: unknown;
}

export interface NERtcEngineContext {
  /** The app key (required, non-empty). */
  app_key: string;
  /** Directory for `nertc.log` (created if missing); unset: no log file. */
  log_dir_path?: string;
  /** 0 fatal, 1 error, 2 warning, 3 info (default), 4 detail/debug, 5-6 verbose, 7 off. */
  log_level?: number;
  /** Log file size cap in KB; 0 or unset = 20 MB. */
  log_file_max_size_KBytes?: number;
  server_config?: NERtcServerConfig;
}

export interface NERtcVideoConfig {
  /** 0 160x90@15, 1 320x180@15, 2 640x480@30, 3 1280x720@30, 4 1920x1080@30. */
  max_profile?: number;
  /** Explicit size (even numbers, up to 3840x2160); overrides max_profile's size. */
  width?: number;
  height?: number;
  /** Frames per second (up to 60). */
  framerate?: number;
  min_framerate?: number;
  /** Target bitrate in kbps (0 = chosen from size and frame rate). */
  bitrate?: number;
  min_bitrate?: number;
  /** 0 auto, 1 on, 2 off. */
  mirror_mode?: number;
  /** Accepted for NERTC compatibility; ignored. */
  crop_mode?: number;
  /** Accepted for NERTC compatibility; ignored. */
  degradation_preference?: number;
  /** Accepted for NERTC compatibility; ignored. */
  orientation_mode?: number;
}

export interface NERtcDevice {
  device_id: string;
  device_name: string;
  transport_type: number;
  suspected_unavailable: boolean;
  system_default_device: boolean;
}

/** `pushExternalVideoFrame`: tightly packed planes. */
export interface NERtcExternalVideoFrame {
  /** `'I420'` (default; also 0) or `'RGBA'` (also 1). */
  format?: 'I420' | 'RGBA' | 'i420' | 'rgba' | 0 | 1;
  width: number;
  height: number;
  /** I420: w*h + 2*ceil(w/2)*ceil(h/2) bytes; RGBA: w*h*4 bytes. Copied. */
  data: Uint8Array | Uint8ClampedArray;
  /** Capture time in ms (default: now). */
  timestamp?: number;
}

/** `pushExternalAudioFrame`: interleaved 16-bit PCM; rate and channels as in setExternalAudioSource. */
export interface NERtcExternalAudioFrame {
  data: Int16Array;
  sample_rate: number;
  channels: number;
  /** When given, must equal data.length / channels. */
  samples_per_channel?: number;
  /** Capture time in ms (default: now). */
  timestamp?: number;
}

// -------------------------------------------------------------------------------------------
// Rendering

/** What a canvas's renderer receives, at most 30 times a second, only when a newer frame exists. */
export interface NERtcVideoFrame {
  width: number;
  height: number;
  /** Luma plane, `strides.y * height` bytes. The same buffer is reused for every frame of this size. */
  y: Uint8Array;
  /** Chroma planes, `strides.u * ceil(height / 2)` bytes each. Reused like `y`. */
  u: Uint8Array;
  v: Uint8Array;
  strides: { y: number; u: number; v: number };
  /** Capture time, ms since the Unix epoch. */
  timestamp: number;
  /** Draw mirrored (local preview in mirror mode, or canvas.mirror). */
  mirrored: boolean;
  /** The stream's user; 0 for the local preview. */
  uid: Uid;
  /** The canvas's scaling mode. */
  mode: number;
}

/** Anything that can draw frames. In Node any object with `drawFrame` is a valid view. */
export interface NERtcFrameSink {
  drawFrame(frame: NERtcVideoFrame): void;
  /** Called when the canvas is unbound or the engine released (renderers created by the SDK). */
  destroy?(): void;
}

export interface NERtcVideoCanvas {
  /** A drawFrame-capable object or (in Electron, with a DOM renderer installed) an HTMLElement; null unbinds. */
  view: NERtcFrameSink | HTMLElementLike | null;
  /** 0 fit (default), 1 fullfill, 2 cropfill. */
  mode?: number;
  /** Mirror the local preview (local canvas only). */
  mirror?: boolean;
}

/** Structural stand-in for a DOM element, so these types compile without the DOM lib. */
export interface HTMLElementLike {
  readonly nodeType: number;
  appendChild(node: unknown): unknown;
}

// -------------------------------------------------------------------------------------------
// Statistics

export interface NERtcStats {
  /** Seconds since joining. */
  total_duration: number;
  tx_bytes: number;
  rx_bytes: number;
  tx_audio_kbitrate: number;
  rx_audio_kbitrate: number;
  tx_video_kbitrate: number;
  rx_video_kbitrate: number;
  /** CPU use of this process (%). */
  cpu_app_usage: number;
  /** Memory of this process (KB). */
  memory_app_kbytes: number;
  /** Users in the channel, including us. */
  user_count: number;
  /** Round trips of the publishing (up) and receiving (down) media paths, from ICE consent checks (ms); the signaling ping until measured; 0 before either. */
  up_rtt: number;
  down_rtt: number;
  /** Cumulative bytes per media (payload). */
  tx_audio_bytes: number;
  tx_video_bytes: number;
  rx_audio_bytes: number;
  rx_video_bytes: number;
  /** Received packets lost on the network before repair, over the last 2 s (%), and in total. */
  rx_audio_packet_loss_rate: number;
  rx_video_packet_loss_rate: number;
  rx_audio_packet_loss_sum: number;
  rx_video_packet_loss_sum: number;
  /** Arrival jitter of received audio (ms): the jitter buffer's 95th percentile over 2 s. Not given (not measured): tx_audio_packet_loss_rate/_sum (the server does not NACK audio), tx_audio_jitter, tx_video_jitter. */
  rx_audio_jitter: number;
  /** RFC 3550 interarrival jitter of received video (ms). */
  rx_video_jitter: number;
  /** While publishing video: our video packets the server had to NACK (lost on the way up) over the last 2 s (%), and in total. */
  tx_video_packet_loss_rate?: number;
  tx_video_packet_loss_sum?: number;
}

export interface NERtcVideoLayerSendStats {
  /** 1 main stream. */
  layer_type: number;
  width: number;
  height: number;
  capture_frame_rate: number;
  encoder_frame_rate: number;
  sent_frame_rate: number;
  /** kbps. */
  sent_bitrate: number;
  /** Average encode time per frame (ms). */
  encode_time_ms: number;
  codec_name: string;
}

export interface NERtcVideoSendStats {
  video_layers_count: number;
  video_layers_list: NERtcVideoLayerSendStats[];
}

export interface NERtcVideoLayerRecvStats {
  layer_type: number;
  width: number;
  height: number;
  /** kbps. */
  received_bitrate: number;
  decoder_frame_rate: number;
  packets_lost: number;
  /** Accumulated frozen time (ms). */
  total_frozen_time: number;
}

export interface NERtcVideoRecvStats {
  uid: Uid;
  video_layers_count: number;
  video_layers_list: NERtcVideoLayerRecvStats[];
}

export interface NERtcAudioLayerRecvStats {
  /** 0 main stream. */
  stream_type: number;
  /** kbps. */
  received_bitrate: number;
  /** 0-255. */
  volume: number;
  packets_lost: number;
  /** Packets lost on the network in the last 2 s, before FEC and concealment (%). */
  audio_loss_rate: number;
  /** Accumulated audio frozen time (ms): concealment (PLC, silence, empty buffer) lasting >= 200 ms. */
  total_frozen_time: number;
  /** total_frozen_time as a share of the audio played (%). */
  frozen_rate: number;
}

export interface NERtcAudioRecvStats {
  uid: Uid;
  audio_layers_count: number;
  audio_layers_list: NERtcAudioLayerRecvStats[];
}

export interface NERtcNetworkQualityInfo {
  uid: Uid;
  /** 0 unknown, 1 excellent, 2 good, 3 poor, 4 bad, 5 very bad, 6 down. */
  tx_quality: number;
  rx_quality: number;
}

export interface NERtcAudioVolumeInfo {
  uid: Uid;
  /** 0-255. */
  volume: number;
}

// -------------------------------------------------------------------------------------------
// Events

/** Event name → listener signature. Uids are numbers (BigInt above 2^53). */
export interface NERtcEvents {
  onError: (code: number, msg: string) => void;
  /** Also `onWarning(30900, msg)` when one of your handlers (or a drawFrame) throws. */
  onWarning: (code: number, msg: string) => void;
  /** `cid`: the channel's id; `result`: 0 or an error code; `elapsed`: ms since joinChannel. */
  onJoinChannel: (cid: number, uid: Uid, result: number, elapsed: number) => void;
  onRejoinChannel: (cid: number, uid: Uid, result: number, elapsed: number) => void;
  /** Fires after leaveChannel(), and after release() while in a channel. */
  onLeaveChannel: (result: number) => void;
  onDisconnect: (reason: number) => void;
  onReconnectingStart: (cid: number, uid: Uid) => void;
  /** `state`: ConnectionState; `reason`: ConnectionChangeReason. */
  onConnectionStateChange: (state: number, reason: number) => void;
  /** Also fired for users already in the room when we join. */
  onUserJoined: (uid: Uid, userName: string) => void;
  /** `reason`: UserLeftReason (0 normal, 1 failover, 2 update, 3 kick, 4 timeout). */
  onUserLeft: (uid: Uid, reason: number) => void;
  onUserAudioStart: (uid: Uid) => void;
  onUserAudioStop: (uid: Uid) => void;
  onUserAudioMute: (uid: Uid, mute: boolean) => void;
  /** Subscribe with subscribeRemoteVideoStream(uid, 0, true) to receive the video. */
  onUserVideoStart: (uid: Uid, maxProfile: number) => void;
  onUserVideoStop: (uid: Uid) => void;
  onUserVideoMute: (uid: Uid, mute: boolean) => void;
  onFirstAudioDataReceived: (uid: Uid) => void;
  onFirstVideoDataReceived: (uid: Uid) => void;
  onFirstAudioFrameDecoded: (uid: Uid) => void;
  onFirstVideoFrameDecoded: (uid: Uid, width: number, height: number) => void;
  /** Every 2 s while in a channel. */
  onRtcStats: (stats: NERtcStats) => void;
  onLocalVideoStats: (stats: NERtcVideoSendStats) => void;
  onRemoteVideoStats: (count: number, stats: NERtcVideoRecvStats[]) => void;
  onRemoteAudioStats: (count: number, stats: NERtcAudioRecvStats[]) => void;
  onNetworkQuality: (count: number, stats: NERtcNetworkQualityInfo[]) => void;
  /** After enableAudioVolumeIndication(true, interval). */
  onRemoteAudioVolumeIndication: (speakers: NERtcAudioVolumeInfo[], speakerNumber: number, totalVolume: number) => void;
  onLocalAudioVolumeIndication: (volume: number) => void;
}

// -------------------------------------------------------------------------------------------
// NERtcEngine

export declare class NERtcEngine extends EventEmitter {
  constructor();

  on<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  once<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  off<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  addListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  prependListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  prependOnceListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  removeListener<K extends keyof NERtcEvents>(event: K, listener: NERtcEvents[K]): this;
  removeAllListeners(event?: keyof NERtcEvents): this;
  listenerCount(event: keyof NERtcEvents): number;

  /**
   * Creates the engine. 0, or 30003 (bad context: missing app_key ...), 30004 (already
   * initialized), 30001. Every other method returns 30005 until this succeeds.
   */
  initialize(context: NERtcEngineContext): number;
  /**
   * Leaves the channel (onLeaveChannel still fires, before the engine's teardown ends),
   * stops capture and playback, unbinds every canvas. Returns at once; safe to call twice and
   * in any state. `initialize` may be called again.
   */
  release(): number;
  getVersion(): string;
  getErrorDescription(code: number): string;
  /** JSON (string or object). Keys: `server_url`, `auto_subscribe_video`, `log_level`. */
  setParameters(params: string | Record<string, unknown>): number;
  /** 1 disconnected, 2 connecting, 3 connected, 4 reconnecting, 5 failed. */
  getConnectionState(): number;

  /** 0 communication, 1 live. Before joining only (30004 in a channel). */
  setChannelProfile(profile: number): number;
  /** 0 broadcaster, 1 audience. */
  setClientRole(role: number): number;
  /**
   * `token`: null/empty for debug-mode apps, else a token from the app's secret.
   * `channelName`: 1-64 bytes of a-zA-Z0-9, space and !#$%&()+-:;<=.,>?@[]^_{|}~.
   * `uid`: a positive integer. 0, or 30003 / 30100 (already joined) / 30005; the result
   * arrives as onJoinChannel(cid, uid, result, elapsed). Like an open socket, an engine in a
   * channel keeps Node running until it leaves (onLeaveChannel, a failed join, a disconnect)
   * or is released; an idle engine never does.
   */
  joinChannel(token: string | null | undefined, channelName: string, uid: Uid): number;
  /** 0 or 30101 when not in a channel; then onLeaveChannel(0). */
  leaveChannel(): number;

  /** Binds (or with `null` / `{view: null}` unbinds) the local preview. */
  setupLocalVideoCanvas(canvas: NERtcVideoCanvas | null): number;
  /** Binds (or unbinds) a remote user's video. */
  setupRemoteVideoCanvas(uid: Uid, canvas: NERtcVideoCanvas | null): number;
  /** PNG data URL of the last frame drawn for `uid` or `'local'` (DOM canvases), else null. */
  captureImageByUid(uid: number | bigint | 'local'): string | null;
  setVideoConfig(config: NERtcVideoConfig): number;
  /** Preview without joining (default 640x480). */
  startVideoPreview(): number;
  stopVideoPreview(): number;
  /** Starts capture, publishing (when joined) and preview. */
  enableLocalVideo(enabled: boolean): number;
  muteLocalVideoStream(mute: boolean): number;
  /** 0 auto, 1 on, 2 off. */
  setLocalVideoMirrorMode(mode: number): number;

  enableLocalAudio(enabled: boolean): number;
  muteLocalAudioStream(mute: boolean): number;
  /** 0-400 (100 = unchanged). */
  adjustRecordingSignalVolume(volume: number): number;
  /** 0-400 (100 = unchanged). */
  adjustPlaybackSignalVolume(volume: number): number;
  /** `interval`: ms, a multiple of 100. */
  enableAudioVolumeIndication(enable: boolean, interval: number): number;

  /** `streamType`: 0 high, 1 low, 2 none. 30101 when not in a channel. */
  subscribeRemoteVideoStream(uid: Uid, streamType: number, subscribe: boolean): number;
  /** Audio is subscribed automatically; this turns it off and on. */
  subscribeRemoteAudioStream(uid: Uid, subscribe: boolean): number;

  /** [] before initialize. */
  enumerateRecordDevices(): NERtcDevice[];
  enumeratePlayoutDevices(): NERtcDevice[];
  enumerateVideoCaptureDevices(): NERtcDevice[];
  /** 0, 30008 (unknown id), 30003, 30005. */
  setRecordDevice(id: string): number;
  /** '' before initialize. */
  getRecordDevice(): string;
  setPlayoutDevice(id: string): number;
  getPlayoutDevice(): string;
  setVideoDevice(id: string): number;
  getVideoDevice(): string;

  /** Replaces the camera with frames pushed by pushExternalVideoFrame. */
  setExternalVideoSource(enabled: boolean): number;
  /** 0, 30003 (malformed frame), 30010 (external video not enabled), 30004 (nothing consuming frames: enable local video or preview). */
  pushExternalVideoFrame(frame: NERtcExternalVideoFrame): number;
  /** Replaces the microphone. `sampleRate` 8000/16000/32000/44100/48000, `channels` 1 or 2. */
  setExternalAudioSource(enabled: boolean, sampleRate: number, channels: number): number;
  /** 0, 30003 (malformed or mismatched format), 30010 (external audio not enabled), 30004. */
  pushExternalAudioFrame(frame: NERtcExternalAudioFrame): number;

  /**
   * Hook for the DOM renderer (WebGL / 2D canvas) used for HTMLElement views: set by the
   * Electron renderer build. Unset in Node, where views must have `drawFrame`.
   */
  static createDomRenderer:
    | ((view: HTMLElementLike, options: { mode: number; mirror: boolean; uid: Uid | null }) => NERtcFrameSink | null)
    | null;
}

// -------------------------------------------------------------------------------------------
// NERtcServer

export interface NERtcAppConfig {
  secret: string;
  /** Debug apps accept a null or empty token. */
  debug?: boolean;
}

/** The room server's config (same keys as its TOML file). */
export interface NERtcServerOptions {
  /** Listen address; default `127.0.0.1:0` (a free loopback port). */
  listen?: string;
  /** `app_key → {secret, debug}`. Without apps, every app key is accepted in debug mode. */
  apps?: Record<string, NERtcAppConfig>;
  /** Accept app keys that are not in `apps`, as debug apps. Default: true only when `apps` is empty. */
  allow_unknown_apps?: boolean;
  rtc?: {
    /** Address media sockets bind to (default 127.0.0.1). */
    bind_ip?: string;
    /** IP written into ICE candidates instead of the bound one. */
    advertised_ip?: string;
    udp_port_min?: number;
    udp_port_max?: number;
  };
  timeouts?: { join_ms?: number; ping_interval_ms?: number; ping_timeout_ms?: number; resume_window_ms?: number };
  limits?: { max_frame_bytes?: number; max_frames_per_sec?: number; outbound_queue?: number; replay_events?: number };
}

/** The embedded room server (signaling, SFU, token auth) running in this process. */
export declare class NERtcServer {
  /** Throws on unknown or malformed options. */
  constructor(options?: NERtcServerOptions);
  /** Resolves with the URL for `server_config.channel_server`, e.g. `ws://127.0.0.1:40123`. */
  start(): Promise<string>;
  /** Tells every session the server is shutting down and stops listening. Safe to call twice. */
  stop(): Promise<void>;
  /** The URL while running, else null. */
  readonly url: string | null;
  /** Same as the module's `createToken`. */
  static createToken(appKey: string, secret: string, channel: string, uid: Uid, ttlSecs?: number): string;
}

/** A join token (HS256 JWT) for `uid` in `channel`, signed with the app's secret, valid `ttlSecs` (default 3600). Throws TypeError on bad input. */
export declare function createToken(appKey: string, secret: string, channel: string, uid: Uid, ttlSecs?: number): string;

/** `[code, description]` for every code the SDK returns. */
export declare function errorCodes(): Array<[number, string]>;

/** Every NERTC event name: those this SDK emits (`eventNames()`) plus `JS_ONLY_EVENT_NAMES`. */
export declare const EVENT_NAMES: ReadonlyArray<string>;

/** NERTC events this SDK does not emit yet (device state, local audio stats); listeners are never called. */
export declare const JS_ONLY_EVENT_NAMES: ReadonlyArray<string>;

/** The name of every event the native engine can emit (one per engine event type). */
export declare function eventNames(): string[];

declare const _default: {
  NERtcEngine: typeof NERtcEngine;
  EVENT_NAMES: typeof EVENT_NAMES;
  JS_ONLY_EVENT_NAMES: typeof JS_ONLY_EVENT_NAMES;
  NERtcServer: typeof NERtcServer;
  ErrorCode: typeof ErrorCode;
  ConnectionState: typeof ConnectionState;
  ConnectionChangeReason: typeof ConnectionChangeReason;
  UserLeftReason: typeof UserLeftReason;
  ChannelProfile: typeof ChannelProfile;
  ClientRole: typeof ClientRole;
  VideoScalingMode: typeof VideoScalingMode;
  VideoMirrorMode: typeof VideoMirrorMode;
  RemoteVideoStreamType: typeof RemoteVideoStreamType;
  VideoProfile: typeof VideoProfile;
  VideoPixelFormat: typeof VideoPixelFormat;
  createToken: typeof createToken;
  errorCodes: typeof errorCodes;
  eventNames: typeof eventNames;
};
export default _default;
