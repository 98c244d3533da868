'use strict';
// nertc-electron-sdk: the JS layer over the native addon (src/ at the repository root).
//
// The native side keeps one latest-frame slot per video stream and delivers engine events
// through one thread-safe function. This file:
//   - exposes NERtcEngine (an EventEmitter with NERTC's method names, argument orders and
//     result codes) and NERtcServer (the embedded room server);
//   - re-emits native events on a later tick (setImmediate) with positional arguments, each
//     listener call guarded so a throwing handler is logged and reported as
//     onWarning(30900, msg) instead of crashing the process;
//   - runs the frame pump: one unref'd interval per engine that copies the newest frame of each
//     bound canvas into JS-owned planes (allocated once per canvas, reallocated only when the
//     size changes) and hands them to the canvas's renderer (`view.drawFrame(frame)`);
//   - keeps Node alive like an open socket while the engine is in a channel (from a successful
//     joinChannel until onLeaveChannel, a failed join or a disconnect) and, after release(),
//     until the native engine has delivered its last event (bounded by RELEASE_LINGER_MS).
//     An initialized but idle engine never keeps Node alive (the native event callback is weak).

const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');

// ---------------------------------------------------------------------------------------------
// Native addon
//
// Looked for in this order: NERTC_NATIVE_PATH; a local build next to this file
// (`nertc-electron-sdk.<platform>.node`, written by `npm run build` / `npm run build:dev`); the
// prebuilt package `nertc-electron-sdk-<platform>`, an optionalDependency that npm installs only
// where its os/cpu/libc match. Inside an Electron asar archive the .node must be unpacked
// (electron-builder `asarUnpack`); Electron then loads it from app.asar.unpacked.

/** The platforms with a prebuilt package (scripts/platforms.js builds and packs them). */
const PREBUILT_PLATFORMS = ['linux-x64-gnu', 'linux-arm64-gnu', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc'];

function isMusl() {
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false; // no process.report (some embedders): assume glibc
  }
}

/** This process's platform suffixes, best first (e.g. `linux-x64-gnu`). */
function platformSuffixes() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const abis = arch === 'arm' ? ['gnueabihf', 'musleabihf'] : ['gnu', 'musl'];
    if (isMusl()) abis.reverse();
    return abis.map((abi) => `linux-${arch}-${abi}`);
  }
  if (platform === 'win32') return [`win32-${arch}-msvc`, `win32-${arch}-gnu`];
  if (platform === 'darwin') return [`darwin-${arch}`, 'darwin-universal'];
  return [`${platform}-${arch}`];
}

function loadNative() {
  const suffixes = platformSuffixes();
  const tried = [];
  const attempt = (what, load) => {
    try {
      return { module: load() };
    } catch (e) {
      const absent = e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${what}'`);
      tried.push(`${what}: ${absent ? 'not installed' : e && e.message}`);
      return null;
    }
  };
  const files = [];
  if (process.env.NERTC_NATIVE_PATH) files.push(path.resolve(process.env.NERTC_NATIVE_PATH));
  files.push(...suffixes.map((s) => path.join(__dirname, `nertc-electron-sdk.${s}.node`)));
  for (const file of files) {
    if (!fs.existsSync(file)) {
      tried.push(`${file}: not found`);
      continue;
    }
    const r = attempt(file, () => require(file));
    if (r) return r.module;
  }
  for (const s of suffixes) {
    const r = attempt(`nertc-electron-sdk-${s}`, () => require(`nertc-electron-sdk-${s}`));
    if (r) return r.module;
  }
  const platform = suffixes[0];
  const napi = process.versions.napi ? `Node-API ${process.versions.napi}` : 'no Node-API version';
  const advice = PREBUILT_PLATFORMS.includes(platform)
    ? `Its prebuilt is the package nertc-electron-sdk-${platform}, an optional dependency: reinstall ` +
      'without --omit=optional / --no-optional, on this platform (node_modules copied from another ' +
      'platform lacks it), or build from source (`npm run build` in a checkout).'
    : `No prebuilt exists for ${platform} (prebuilts: ${PREBUILT_PLATFORMS.join(', ')}); build from ` +
      'source (`npm run build` in a checkout, needs Rust).';
  throw new Error(
    `nertc-electron-sdk: no native addon loads on ${platform} (${napi}; the addon needs Node-API 9). ` +
      `${advice}\nTried:\n  ${tried.join('\n  ')}`,
  );
}

const native = loadNative();

// ---------------------------------------------------------------------------------------------
// Codes and constants

/**
 * Every result code the SDK returns (the same list as the engine's `error::ALL`).
 * Descriptions: `getErrorDescription(code)`.
 */
const ErrorCode = Object.freeze({
  OK: 0,
  ERR_FATAL: 30001,
  ERR_INVALID_PARAM: 30003,
  ERR_WRONG_STATE: 30004,
  ERR_NOT_INITIALIZED: 30005,
  ERR_DEVICE_NOT_FOUND: 30008,
  ERR_NOT_SUPPORTED: 30010,
  ERR_ALREADY_JOINED: 30100,
  ERR_NOT_JOINED: 30101,
  ERR_CONNECT_FAILED: 30200,
  ERR_MEDIA_DISCONNECTED: 30204,
  ERR_SIGNAL_DISCONNECTED: 30205,
  ERR_KICKED: 30206,
  ERR_ROOM_CLOSED: 30207,
  ERR_TOKEN: 403,
  ERR_APP_KEY: 20101,
  ERR_JOIN_FAILED: 20102,
  ERR_PERMISSION: 20103,
  WARN_HANDLER_THREW: 30900,
  ERR_BUSY: 30901,
});

const ConnectionState = Object.freeze({ DISCONNECTED: 1, CONNECTING: 2, CONNECTED: 3, RECONNECTING: 4, FAILED: 5 });
const ConnectionChangeReason = Object.freeze({
  LEAVE: 1,
  CHANNEL_CLOSED: 2,
  KICKED: 3,
  TIMEOUT: 4,
  JOIN: 5,
  JOIN_SUCCEED: 6,
  REJOIN_SUCCEED: 7,
  MEDIA_DISCONNECTED: 8,
  SIGNAL_DISCONNECTED: 9,
  REQUEST_CHANNEL_FAILED: 10,
  JOIN_FAILED: 11,
});
const UserLeftReason = Object.freeze({ NORMAL: 0, FAILOVER: 1, UPDATE: 2, KICK: 3, TIMEOUT: 4 });
const ChannelProfile = Object.freeze({ COMMUNICATION: 0, LIVE_BROADCASTING: 1 });
const ClientRole = Object.freeze({ BROADCASTER: 0, AUDIENCE: 1 });
const VideoScalingMode = Object.freeze({ FIT: 0, FULLFILL: 1, CROPFILL: 2 });
const VideoMirrorMode = Object.freeze({ AUTO: 0, ENABLED: 1, DISABLED: 2 });
const RemoteVideoStreamType = Object.freeze({ HIGH: 0, LOW: 1, NONE: 2 });
const VideoProfile = Object.freeze({ LOWEST: 0, LOW: 1, STANDARD: 2, HD720P: 3, HD1080P: 4 });
const VideoPixelFormat = Object.freeze({ I420: 'I420', RGBA: 'RGBA' });

/** Where the room server is when `server_config.channel_server` and NERTC_SERVER_URL are unset. */
const DEFAULT_SERVER_URL = 'ws://127.0.0.1:8480';
/** Frame pump rate: at most this many frames per second reach a canvas. */
const RENDER_FPS = 30;
/** After release() in a channel, Node stays alive at most this long for the last events. */
const RELEASE_LINGER_MS = 6000;
/** Native sentinel after an engine's last event (see src/engine.rs). */
const RELEASED_EVENT = '__released';
/** `setVideoConfig` fields the engine reads (all numbers); others are accepted and ignored. */
const VIDEO_CONFIG_FIELDS = ['max_profile', 'width', 'height', 'framerate', 'min_framerate', 'bitrate', 'min_bitrate', 'mirror_mode'];

// ---------------------------------------------------------------------------------------------
// Argument types
//
// Values are checked in one place, the addon's src/convert.rs (integral numbers, ranges, uids,
// timestamps, pixel formats, frame and sample sizes: 30003 when one is not valid). This layer
// only makes sure each argument has the JS type the addon takes (a wrong type is 30003 here,
// so no native call throws), reshapes NERTC's objects into the addon's arguments, applies
// NERTC's defaults that depend on JS (Date.now()), and checks what only JS knows (canvases).

const isNumber = (v) => typeof v === 'number';
const isOptNumber = (v) => v == null || typeof v === 'number';
const isUidType = (v) => typeof v === 'number' || typeof v === 'bigint';

function isInt(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

/** A uid as BigInt (1 ..= 2^64-1, the addon's rule), or null when it is not a valid uid. */
function toUid(uid) {
  if (!isUidType(uid)) return null;
  try {
    return native.checkUid(uid) ?? null;
  } catch {
    return null;
  }
}

/** How events present a uid: a number when it is a safe integer, else a BigInt. */
function uidForJs(uid) {
  return uid <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(uid) : uid;
}

/** A frame's timestamp (ms) for the addon: now when absent, a BigInt as a number; null when it
 * is neither (the addon checks the value). */
function timestampArg(ts) {
  if (ts == null) return Date.now();
  if (typeof ts === 'bigint') return Number(ts);
  return typeof ts === 'number' ? ts : null;
}

function isBytes(v) {
  return v instanceof Uint8Array || v instanceof Uint8ClampedArray;
}

function errorText(e) {
  if (e && typeof e === 'object' && typeof e.stack === 'string') return e.stack;
  try {
    return String(e);
  } catch {
    return '<unprintable exception>';
  }
}

function hasDom(view) {
  return (
    typeof globalThis.document !== 'undefined' &&
    typeof globalThis.HTMLElement === 'function' &&
    view instanceof globalThis.HTMLElement
  );
}

// ---------------------------------------------------------------------------------------------
// NERtcEngine

class NERtcEngine extends EventEmitter {
  constructor() {
    super();
    /** @private the native engine while initialized, else null */
    this._native = null;
    /** @private events from the native side waiting for the next setImmediate */
    this._queue = [];
    this._drainScheduled = false;
    /** @private key ('local' | 'remote:<uid>') -> canvas state */
    this._canvases = new Map();
    this._pump = null;
    this._reportingHandlerError = false;
    /** @private generation of the current native engine (events of released ones still flow) */
    this._gen = 0;
    /** @private ref'd timer while in a channel */
    this._keepAlive = null;
    /** @private generation -> linger timer after release() */
    this._lingering = new Map();
  }

  // ----- lifecycle ------------------------------------------------------------------------

  /**
   * `context = { app_key, log_dir_path, log_level, log_file_max_size_KBytes, server_config:
   * { channel_server } }`. The room server's URL comes from `server_config.channel_server`,
   * else the NERTC_SERVER_URL environment variable, else ws://127.0.0.1:8480.
   */
  initialize(context) {
    if (this._native) return ErrorCode.ERR_WRONG_STATE;
    if (!context || typeof context !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const appKey = context.app_key;
    if (typeof appKey !== 'string' || appKey.length === 0) return ErrorCode.ERR_INVALID_PARAM;
    const sc = context.server_config && typeof context.server_config === 'object' ? context.server_config : {};
    let serverUrl = sc.channel_server;
    if (serverUrl != null && typeof serverUrl !== 'string') return ErrorCode.ERR_INVALID_PARAM;
    if (!serverUrl) serverUrl = process.env.NERTC_SERVER_URL || DEFAULT_SERVER_URL;

    const logDir = context.log_dir_path;
    if (logDir != null && typeof logDir !== 'string') return ErrorCode.ERR_INVALID_PARAM;
    const level = context.log_level == null ? 3 : context.log_level;
    const maxKb = context.log_file_max_size_KBytes == null ? 0 : context.log_file_max_size_KBytes;
    if (!isNumber(level) || !isNumber(maxKb)) return ErrorCode.ERR_INVALID_PARAM;

    try {
      const logCode = native.configureLogging(logDir || null, level, maxKb);
      if (logCode !== 0) return logCode;
      const engine = new native.NativeEngine();
      const gen = this._gen + 1;
      const code = engine.initialize(appKey, serverUrl, (name, args) => this._onNativeEvent(name, args, gen));
      if (code !== 0) return code;
      this._gen = gen;
      this._native = engine;
      return 0;
    } catch (e) {
      this._log('initialize failed', e);
      return ErrorCode.ERR_FATAL;
    }
  }

  /**
   * Leaves the channel (onLeaveChannel still fires), stops every thread, closes devices and
   * unbinds every canvas. Safe to call twice and in any state; returns at once.
   */
  release() {
    this._stopPump();
    this._canvases.clear();
    const engine = this._native;
    this._native = null;
    if (!engine) return 0;
    if (this._keepAlive) {
      // In a channel: stay alive until onLeaveChannel and the engine's last event are delivered.
      this._setKeepAlive(false);
      const gen = this._gen;
      const timer = setTimeout(() => this._lingering.delete(gen), RELEASE_LINGER_MS);
      this._lingering.set(gen, timer);
    }
    try {
      engine.release();
    } catch (e) {
      this._log('release failed', e);
    }
    return 0;
  }

  getVersion() {
    return native.version();
  }

  getErrorDescription(code) {
    return native.errorDescription(isNumber(code) ? code : -1);
  }

  /** `params`: a JSON string or an object. Keys: server_url, auto_subscribe_video, log_level. */
  setParameters(params) {
    let json = params;
    if (params && typeof params === 'object') {
      try {
        json = JSON.stringify(params);
      } catch {
        return ErrorCode.ERR_INVALID_PARAM;
      }
    }
    if (typeof json !== 'string') return this._native ? ErrorCode.ERR_INVALID_PARAM : ErrorCode.ERR_NOT_INITIALIZED;
    return this._call((n) => n.setParameters(json));
  }

  getConnectionState() {
    if (!this._native) return ConnectionState.DISCONNECTED;
    try {
      return this._native.getConnectionState();
    } catch {
      return ConnectionState.DISCONNECTED;
    }
  }

  // ----- channel --------------------------------------------------------------------------

  setChannelProfile(profile) {
    return this._callIf(isNumber(profile), (n) => n.setChannelProfile(profile));
  }

  setClientRole(role) {
    return this._callIf(isNumber(role), (n) => n.setClientRole(role));
  }

  /** `uid`: a positive integer (number or BigInt). Result: onJoinChannel(cid, uid, result, elapsed). */
  joinChannel(token, channelName, uid) {
    const typesOk = (token == null || typeof token === 'string') && typeof channelName === 'string' && isUidType(uid);
    const code = this._callIf(typesOk, (n) => n.joinChannel(token || null, channelName, uid));
    if (code === 0) this._setKeepAlive(true);
    return code;
  }

  leaveChannel() {
    return this._call((n) => n.leaveChannel());
  }

  // ----- local video ----------------------------------------------------------------------

  /** `canvas = {view, mode, mirror}`; `null` or `{view: null}` unbinds. */
  setupLocalVideoCanvas(canvas) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    return this._setupCanvas('local', null, canvas);
  }

  /** `canvas = {view, mode}`; `null` or `{view: null}` unbinds. */
  setupRemoteVideoCanvas(uid, canvas) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    const u = toUid(uid);
    if (u === null) return ErrorCode.ERR_INVALID_PARAM;
    return this._setupCanvas(`remote:${u}`, u, canvas);
  }

  /**
   * A PNG data URL of the last frame drawn for `uid` (or `'local'`), or null when nothing was
   * drawn or the canvas's renderer cannot capture (custom `drawFrame` views).
   */
  captureImageByUid(uid) {
    if (!this._native) return null;
    let key = 'local';
    if (uid !== 'local') {
      const u = toUid(uid);
      if (u === null) return null;
      key = `remote:${u}`;
    }
    const c = this._canvases.get(key);
    if (!c || !c.renderer || typeof c.renderer.captureImage !== 'function') return null;
    try {
      return c.renderer.captureImage();
    } catch (e) {
      this._log('captureImage failed', e);
      return null;
    }
  }

  /**
   * `config = {max_profile, width, height, framerate, min_framerate, bitrate, min_bitrate,
   * mirror_mode, crop_mode, degradation_preference, orientation_mode}`; the last three are
   * accepted and ignored. Missing or 0 leaves a field at its default.
   */
  setVideoConfig(config) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    if (!config || typeof config !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const cfg = {};
    for (const k of VIDEO_CONFIG_FIELDS) {
      const v = config[k];
      if (!isOptNumber(v)) return ErrorCode.ERR_INVALID_PARAM;
      if (v != null) cfg[k] = v;
    }
    return this._call((n) => n.setVideoConfig(cfg));
  }

  startVideoPreview() {
    return this._call((n) => n.startVideoPreview());
  }

  stopVideoPreview() {
    return this._call((n) => n.stopVideoPreview());
  }

  enableLocalVideo(enabled) {
    return this._call((n) => n.enableLocalVideo(!!enabled));
  }

  muteLocalVideoStream(mute) {
    return this._call((n) => n.muteLocalVideoStream(!!mute));
  }

  /** 0 auto (mirror the local preview), 1 always, 2 never. */
  setLocalVideoMirrorMode(mode) {
    return this._callIf(isNumber(mode), (n) => n.setLocalVideoMirrorMode(mode));
  }

  // ----- local audio ----------------------------------------------------------------------

  enableLocalAudio(enabled) {
    return this._call((n) => n.enableLocalAudio(!!enabled));
  }

  muteLocalAudioStream(mute) {
    return this._call((n) => n.muteLocalAudioStream(!!mute));
  }

  /** 0-400, 100 = unchanged. */
  adjustRecordingSignalVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.adjustRecordingSignalVolume(volume));
  }

  /** 0-400, 100 = unchanged. */
  adjustPlaybackSignalVolume(volume) {
    return this._callIf(isNumber(volume), (n) => n.adjustPlaybackSignalVolume(volume));
  }

  /** `interval` in ms, a multiple of 100. */
  enableAudioVolumeIndication(enable, interval) {
    return this._callIf(isOptNumber(interval), (n) => n.enableAudioVolumeIndication(!!enable, interval ?? null));
  }

  // ----- remote media ---------------------------------------------------------------------

  /** `streamType`: 0 high, 1 low, 2 none. Call after onUserVideoStart. */
  subscribeRemoteVideoStream(uid, streamType, subscribe) {
    return this._callIf(isUidType(uid) && isNumber(streamType), (n) => n.subscribeRemoteVideoStream(uid, streamType, !!subscribe));
  }

  subscribeRemoteAudioStream(uid, subscribe) {
    return this._callIf(isUidType(uid), (n) => n.subscribeRemoteAudioStream(uid, !!subscribe));
  }

  // ----- devices --------------------------------------------------------------------------

  enumerateRecordDevices() {
    return this._list((n) => n.enumerateRecordDevices());
  }

  enumeratePlayoutDevices() {
    return this._list((n) => n.enumeratePlayoutDevices());
  }

  enumerateVideoCaptureDevices() {
    return this._list((n) => n.enumerateVideoCaptureDevices());
  }

  setRecordDevice(id) {
    return this._callDevice(id, (n) => n.setRecordDevice(id));
  }

  getRecordDevice() {
    return this._string((n) => n.getRecordDevice());
  }

  setPlayoutDevice(id) {
    return this._callDevice(id, (n) => n.setPlayoutDevice(id));
  }

  getPlayoutDevice() {
    return this._string((n) => n.getPlayoutDevice());
  }

  setVideoDevice(id) {
    return this._callDevice(id, (n) => n.setVideoDevice(id));
  }

  getVideoDevice() {
    return this._string((n) => n.getVideoDevice());
  }

  // ----- external sources -----------------------------------------------------------------

  setExternalVideoSource(enabled) {
    return this._call((n) => n.setExternalVideoSource(!!enabled));
  }

  /**
   * `frame = {format: 'I420' | 'RGBA', width, height, data: Uint8Array, timestamp?}` with
   * tightly packed planes (I420: w*h + 2*ceil(w/2)*ceil(h/2) bytes; RGBA: w*h*4 bytes).
   */
  pushExternalVideoFrame(frame) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    if (!frame || typeof frame !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const format = frame.format == null ? 'I420' : frame.format;
    const { width, height, data } = frame;
    const ts = timestampArg(frame.timestamp);
    const typesOk = (typeof format === 'string' || isNumber(format)) && isNumber(width) && isNumber(height) && isBytes(data) && ts !== null;
    if (!typesOk) return ErrorCode.ERR_INVALID_PARAM;
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return this._call((n) => n.pushExternalVideoFrame(format, width, height, bytes, ts));
  }

  /** `sampleRate` 8000/16000/32000/44100/48000, `channels` 1 or 2. */
  setExternalAudioSource(enabled, sampleRate, channels) {
    const typesOk = isOptNumber(sampleRate) && isOptNumber(channels);
    return this._callIf(typesOk, (n) => n.setExternalAudioSource(!!enabled, sampleRate ?? null, channels ?? null));
  }

  /**
   * `frame = {data: Int16Array (interleaved), sample_rate, channels, samples_per_channel?,
   * timestamp?}`; sample_rate and channels must match setExternalAudioSource.
   */
  pushExternalAudioFrame(frame) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    if (!frame || typeof frame !== 'object' || !(frame.data instanceof Int16Array)) return ErrorCode.ERR_INVALID_PARAM;
    const { sample_rate: rate, channels, samples_per_channel: perChannel } = frame;
    const ts = timestampArg(frame.timestamp);
    if (!isNumber(rate) || !isNumber(channels) || !isOptNumber(perChannel) || ts === null) return ErrorCode.ERR_INVALID_PARAM;
    return this._call((e) => e.pushExternalAudioFrame(frame.data, rate, channels, ts, perChannel ?? null));
  }

  // ----- internals: calls -----------------------------------------------------------------

  /** Runs `fn(native)`; 30005 before initialize / after release, 30003 when the addon rejects an argument. */
  _call(fn) {
    const engine = this._native;
    if (!engine) return ErrorCode.ERR_NOT_INITIALIZED;
    try {
      const code = fn(engine);
      return typeof code === 'number' ? code : ErrorCode.ERR_FATAL;
    } catch (e) {
      this._log('native call rejected its arguments', e);
      return ErrorCode.ERR_INVALID_PARAM;
    }
  }

  /** `_call(fn)` when the arguments have the types the addon takes (`typesOk`), else 30003 (30005 first). */
  _callIf(typesOk, fn) {
    if (!this._native) return ErrorCode.ERR_NOT_INITIALIZED;
    if (!typesOk) return ErrorCode.ERR_INVALID_PARAM;
    return this._call(fn);
  }

  _callDevice(id, fn) {
    return this._callIf(typeof id === 'string', fn);
  }

  _list(fn) {
    if (!this._native) return [];
    try {
      const list = fn(this._native);
      return Array.isArray(list) ? list : [];
    } catch (e) {
      this._log('device enumeration failed', e);
      return [];
    }
  }

  _string(fn) {
    if (!this._native) return '';
    try {
      const s = fn(this._native);
      return typeof s === 'string' ? s : '';
    } catch {
      return '';
    }
  }

  _log(what, e) {
    try {
      console.warn(`[nertc] ${what}: ${errorText(e)}`);
    } catch {
      // console itself failed; nothing left to report to
    }
  }

  // ----- internals: events ----------------------------------------------------------------

  /** Called by the native thread-safe function on the JS thread. Must never throw. */
  _onNativeEvent(name, args, gen = this._gen) {
    try {
      this._queue.push([name, Array.isArray(args) ? args : [], gen]);
      if (!this._drainScheduled) {
        this._drainScheduled = true;
        setImmediate(() => this._drain());
      }
    } catch {
      // never let an exception reach the native callback (it would be fatal)
    }
  }

  /** Emits a JS-originated event on a later tick, like native ones. */
  _emitLater(name, ...args) {
    this._onNativeEvent(name, args);
  }

  _drain() {
    this._drainScheduled = false;
    const batch = this._queue;
    this._queue = [];
    for (const [name, args, gen] of batch) {
      if (name === RELEASED_EVENT) {
        this._releaseDone(gen);
        continue;
      }
      if (gen === this._gen && this._native) this._trackChannel(name, args);
      this._dispatch(name, args);
    }
  }

  /** Keeps Node alive while in a channel (see the file header). */
  _trackChannel(name, args) {
    if (
      name === 'onLeaveChannel' ||
      (name === 'onJoinChannel' && args[2] !== 0) ||
      (name === 'onConnectionStateChange' && (args[0] === ConnectionState.DISCONNECTED || args[0] === ConnectionState.FAILED))
    ) {
      this._setKeepAlive(false);
    }
  }

  _setKeepAlive(on) {
    if (on && !this._keepAlive) {
      this._keepAlive = setInterval(() => {}, 1 << 30);
    } else if (!on && this._keepAlive) {
      clearInterval(this._keepAlive);
      this._keepAlive = null;
    }
  }

  _releaseDone(gen) {
    const timer = this._lingering.get(gen);
    if (timer) clearTimeout(timer);
    this._lingering.delete(gen);
  }

  /** Calls every listener of `name` with `args`; a throwing listener never stops the others. */
  _dispatch(name, args) {
    let listeners;
    try {
      listeners = this.rawListeners(name);
    } catch {
      return;
    }
    for (const listener of listeners) {
      try {
        const ret = listener.apply(this, args);
        // An async handler's rejection is a throw too (unhandled, it would end the process).
        if (ret && typeof ret.then === 'function') ret.then(undefined, (e) => this._handlerThrew(name, e));
      } catch (e) {
        this._handlerThrew(name, e);
      }
    }
  }

  _handlerThrew(name, e) {
    const msg = `event handler for ${name} threw: ${errorText(e)}`;
    this._log('event handler threw', msg);
    // An onWarning handler that throws while we report is only logged (no recursion).
    if (name === 'onWarning' || this._reportingHandlerError) return;
    this._reportingHandlerError = true;
    try {
      this._dispatch('onWarning', [ErrorCode.WARN_HANDLER_THREW, msg]);
    } finally {
      this._reportingHandlerError = false;
    }
  }

  // ----- internals: canvases and the frame pump -------------------------------------------

  _setupCanvas(key, uid, canvas) {
    const view = canvas && typeof canvas === 'object' ? canvas.view : null;
    if (canvas != null && typeof canvas !== 'object') return ErrorCode.ERR_INVALID_PARAM;
    const old = this._canvases.get(key);
    if (old) this._destroyRenderer(old);
    this._canvases.delete(key);
    if (view == null) {
      if (this._canvases.size === 0) this._stopPump();
      return 0;
    }
    const mode = canvas.mode == null ? 0 : canvas.mode;
    if (!isInt(mode) || mode < 0 || mode > 2) return ErrorCode.ERR_INVALID_PARAM;
    let renderer = null;
    try {
      // Extra canvas fields (e.g. preferWebGL, colorSpace) pass through to the renderer.
      const { view: _view, ...rest } = canvas;
      renderer = this._createRenderer(view, { ...rest, mode, mirror: !!canvas.mirror, uid: uid === null ? null : uidForJs(uid) });
    } catch (e) {
      this._log('cannot create a renderer', e);
      renderer = null;
    }
    if (!renderer) {
      this._emitLater(
        'onWarning',
        ErrorCode.ERR_NOT_SUPPORTED,
        'video canvas view has no drawFrame(frame) method and no DOM renderer is available; the view is ignored',
      );
      if (this._canvases.size === 0) this._stopPump();
      return 0;
    }
    this._canvases.set(key, {
      uid,
      jsUid: uid === null ? 0 : uidForJs(uid),
      view,
      mode,
      mirror: !!canvas.mirror,
      renderer,
      // JS-owned planes, filled by the native pullFrame; replaced only when the size changes.
      target: { seq: -1, y: null, u: null, v: null },
      failed: false,
    });
    this._startPump();
    return 0;
  }

  /**
   * The renderer for a canvas view: an object with `drawFrame(frame)` (and optionally
   * `destroy()`). A view that has `drawFrame` is its own renderer. DOM elements get one from
   * `NERtcEngine.createDomRenderer(view, options)` when a DOM renderer is installed (the
   * WebGL/2D canvas renderer); otherwise the view is ignored with an onWarning.
   */
  _createRenderer(view, options) {
    if (view && typeof view.drawFrame === 'function') return view;
    if (hasDom(view) && typeof NERtcEngine.createDomRenderer === 'function') {
      return NERtcEngine.createDomRenderer(view, options);
    }
    return null;
  }

  _destroyRenderer(canvas) {
    const r = canvas.renderer;
    if (r && r !== canvas.view && typeof r.destroy === 'function') {
      try {
        r.destroy();
      } catch (e) {
        this._log('renderer destroy failed', e);
      }
    }
  }

  _startPump() {
    if (this._pump || !this._native) return;
    this._pump = setInterval(() => this._pumpFrames(), Math.round(1000 / RENDER_FPS));
    if (typeof this._pump.unref === 'function') this._pump.unref();
  }

  _stopPump() {
    if (this._pump) clearInterval(this._pump);
    this._pump = null;
    for (const c of this._canvases.values()) this._destroyRenderer(c);
  }

  _pumpFrames() {
    const engine = this._native;
    if (!engine) {
      this._stopPump();
      return;
    }
    for (const c of this._canvases.values()) {
      let header;
      try {
        header = engine.pullFrame(c.uid, c.target);
      } catch (e) {
        if (!c.failed) this._log('pullFrame failed', e);
        c.failed = true;
        continue;
      }
      if (!header) continue;
      const { width, height } = header;
      const cw = (width + 1) >> 1;
      const frame = {
        width,
        height,
        y: c.target.y,
        u: c.target.u,
        v: c.target.v,
        strides: { y: width, u: cw, v: cw },
        timestamp: header.timestamp,
        mirrored: !!header.mirrored || (c.uid === null && c.mirror),
        uid: c.jsUid,
        mode: c.mode,
      };
      const drawFailed = (e) => {
        // Reported once per binding; a renderer that throws on every frame must not flood.
        if (!c.failed) {
          c.failed = true;
          this._handlerThrew('drawFrame', e);
        }
      };
      try {
        const ret = c.renderer.drawFrame(frame);
        if (ret && typeof ret.then === 'function') ret.then(undefined, drawFailed);
      } catch (e) {
        drawFailed(e);
      }
    }
  }
}

/**
 * Hook for the DOM renderer (WebGL / 2D canvas): `(view: HTMLElement, options) => {drawFrame,
 * destroy?}`. Unset in Node; the Electron renderer build installs it.
 */
// DOM views (Electron renderer, any Chromium page) are drawn by renderer.js (WebGL, 2D
// fallback). It loads without a DOM, so requiring it in plain Node is harmless.
NERtcEngine.createDomRenderer = require('./renderer.js').createRenderer;

// ---------------------------------------------------------------------------------------------
// NERtcServer: the embedded room server

function serverConfigJson(options) {
  if (options == null) return null;
  if (typeof options !== 'object') throw new TypeError('NERtcServer options must be an object');
  return JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? Number(v) : v));
}

class NERtcServer {
  /**
   * `options` mirrors the server's TOML config (snake_case): `{listen = '127.0.0.1:0', apps:
   * {APP_KEY: {secret, debug}}, allow_unknown_apps, rtc: {bind_ip, advertised_ip,
   * udp_port_min, udp_port_max}, timeouts: {...}, limits: {...}}`. Without `apps` every app
   * key is accepted in debug mode (null token). Throws on unknown keys.
   */
  constructor(options) {
    this._native = new native.NativeServer(serverConfigJson(options));
  }

  /** Resolves with the URL for `server_config.channel_server` (`ws://127.0.0.1:PORT`). */
  start() {
    try {
      return this._native.start();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stops the server (sessions are told `server_shutdown`); safe to call twice. */
  stop() {
    try {
      return this._native.stop();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The URL while running, else null. */
  get url() {
    return this._native.url() || null;
  }

  /** A join token (HS256 JWT) for `uid` in `channel`, valid `ttlSecs` seconds. */
  static createToken(appKey, secret, channel, uid, ttlSecs) {
    return createToken(appKey, secret, channel, uid, ttlSecs);
  }
}

function createToken(appKey, secret, channel, uid, ttlSecs = 3600) {
  if (typeof appKey !== 'string' || appKey.length === 0) throw new TypeError('appKey must be a non-empty string');
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secret must be a non-empty string');
  if (typeof channel !== 'string') throw new TypeError('channel must be a string');
  if (!isUidType(uid)) throw new TypeError('uid must be a positive integer');
  if (!isNumber(ttlSecs)) throw new TypeError('ttlSecs must be a non-negative integer');
  try {
    return native.createToken(appKey, secret, channel, uid, ttlSecs);
  } catch (e) {
    // The addon refuses a channel name, uid or lifetime that is not one (src/convert.rs).
    throw new TypeError(e && e.message ? e.message : String(e));
  }
}

/** `[[code, description]]` for every code the SDK returns. */
function errorCodes() {
  return native.errorCodes();
}

/** NERTC events this SDK does not emit yet (device state, local audio stats): listeners may be
 * added, they are never called. The engine's `EngineEvent` has no variant for them. */
const JS_ONLY_EVENT_NAMES = Object.freeze(['onLocalAudioStats', 'onAudioDeviceStateChanged', 'onVideoDeviceStateChanged']);

/** Every NERTC event name: those this SDK emits (`NERtcEvents` in index.d.ts; one per variant
 * of the engine's `EngineEvent`, see `eventNames()`) and the JS-only ones above. */
const EVENT_NAMES = Object.freeze([
  'onError',
  'onWarning',
  'onJoinChannel',
  'onRejoinChannel',
  'onLeaveChannel',
  'onDisconnect',
  'onReconnectingStart',
  'onConnectionStateChange',
  'onUserJoined',
  'onUserLeft',
  'onUserAudioStart',
  'onUserAudioStop',
  'onUserAudioMute',
  'onUserVideoStart',
  'onUserVideoStop',
  'onUserVideoMute',
  'onFirstAudioDataReceived',
  'onFirstVideoDataReceived',
  'onFirstAudioFrameDecoded',
  'onFirstVideoFrameDecoded',
  'onRtcStats',
  'onLocalVideoStats',
  'onRemoteVideoStats',
  'onRemoteAudioStats',
  'onNetworkQuality',
  'onRemoteAudioVolumeIndication',
  'onLocalAudioVolumeIndication',
  ...JS_ONLY_EVENT_NAMES,
]);

/** The name of every event the native engine can emit (one per `EngineEvent` variant). */
function eventNames() {
  return native.eventNames();
}

const api = {
  NERtcEngine,
  EVENT_NAMES,
  JS_ONLY_EVENT_NAMES,
  NERtcServer,
  ErrorCode,
  ConnectionState,
  ConnectionChangeReason,
  UserLeftReason,
  ChannelProfile,
  ClientRole,
  VideoScalingMode,
  VideoMirrorMode,
  RemoteVideoStreamType,
  VideoProfile,
  VideoPixelFormat,
  createToken,
  errorCodes,
  eventNames,
};

module.exports = { default: api, ...api };
