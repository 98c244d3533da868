'use strict';
// EngineHost: one NERtcEngine hosted outside the page that shows it, driven by messages.
//
// Used by the secure Electron mode (main.js: the engine lives in the main process, the page
// talks to it over IPC and receives frames on a MessagePort) and by the Chromium test bridge
// (test-bridge/server.js: the engine lives in a Node process, the page talks to it over a
// WebSocket). Both transports carry the same operations:
//
//   call(method, args)         a whitelisted NERtcEngine method; returns its result
//   bind(key, {mode, mirror})  key 'local' or a remote uid (as a string), with ':sub' for that
//                              user's screen share (substream): frames of that stream
//                              are sent to the page as {key, gen, width, height, y, u, v, ...}
//   unbind(key)
//   ack(key, gen)              the page drew (or dropped) one frame of binding `gen`
//
// Flow control: at most MAX_IN_FLIGHT frames per binding are outstanding (sent, not yet
// acknowledged); the engine's frame pump is "latest wins", so a slow page simply gets fewer
// frames instead of a growing queue. The frame object handed to `transport.frame` holds the
// SDK's JS-owned planes, which are reused for the next frame: the transport must copy or
// serialize them before returning.

/** Every NERTC event the page may listen to (the SDK's own list). */
const EVENT_NAMES = require(require('node:path').join(resolveSdkDir(), 'index.js')).EVENT_NAMES;

/**
 * Methods a page may call. Canvases go through bind/unbind (a page cannot hand a DOM element
 * to another process); external frame pushing is left out (it would ship raw media over IPC).
 */
const CALLS = new Set([
  'initialize',
  'release',
  'getVersion',
  'getErrorDescription',
  'setParameters',
  'getConnectionState',
  'setChannelProfile',
  'setClientRole',
  'joinChannel',
  'leaveChannel',
  'setVideoConfig',
  'startVideoPreview',
  'stopVideoPreview',
  'enableLocalVideo',
  'muteLocalVideoStream',
  'setLocalVideoMirrorMode',
  'enableLocalAudio',
  'muteLocalAudioStream',
  'adjustRecordingSignalVolume',
  'adjustPlaybackSignalVolume',
  'enableAudioVolumeIndication',
  'subscribeRemoteVideoStream',
  'subscribeRemoteAudioStream',
  'enumerateRecordDevices',
  'enumeratePlayoutDevices',
  'enumerateVideoCaptureDevices',
  'enumerateScreenCaptureSourceInfo',
  'startScreenCaptureByDisplayId',
  'startScreenCaptureByWindowId',
  'startScreenCaptureByScreenRect',
  'updateScreenCaptureRegion',
  'pauseScreenCapture',
  'resumeScreenCapture',
  'stopScreenCapture',
  'setScreenCaptureMouseCursor',
  'setExcludeWindowList',
  'subscribeRemoteVideoSubStream',
  'setRecordDevice',
  'getRecordDevice',
  'setPlayoutDevice',
  'getPlayoutDevice',
  'setVideoDevice',
  'getVideoDevice',
]);

const MAX_IN_FLIGHT = 2;

/** 'local' or a canonical uid string, either with ':sub' (the substream); null otherwise. */
function normKey(key) {
  if (typeof key === 'string' && key.endsWith(':sub')) {
    const base = normKey(key.slice(0, -4));
    return base === null ? null : `${base}:sub`;
  }
  if (key === 'local') return 'local';
  if (typeof key === 'number' && Number.isSafeInteger(key) && key > 0) return String(key);
  if (typeof key === 'bigint' && key > 0n) return key.toString();
  if (typeof key === 'string' && /^[1-9][0-9]{0,19}$/.test(key)) return BigInt(key).toString();
  return null;
}

/** setupLocal/Remote[SubStream]VideoCanvas for a normalized key. */
function setupCanvas(engine, k, canvas) {
  const sub = k.endsWith(':sub');
  const base = sub ? k.slice(0, -4) : k;
  if (base === 'local') return sub ? engine.setupLocalSubStreamVideoCanvas(canvas) : engine.setupLocalVideoCanvas(canvas);
  return sub ? engine.setupRemoteSubStreamVideoCanvas(uidOf(base), canvas) : engine.setupRemoteVideoCanvas(uidOf(base), canvas);
}

/** The uid for a remote key: a number when safe, else a BigInt. */
function uidOf(key) {
  const b = BigInt(key);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

class EngineHost {
  /**
   * `sdk`: the module's default export ({NERtcEngine, ...}).
   * `transport`: `{event(name, args), frame(binding, frame) -> boolean}`; `frame` returns
   *   false when it could not send (then the frame counts as dropped).
   * `options`: `{appKey, serverUrl, logDir, logLevel}`: what `initialize` uses for what the
   *   page may not choose (the log directory) or leaves out.
   */
  constructor(sdk, transport, options = {}) {
    this.sdk = sdk;
    this.transport = transport;
    this.options = options;
    this.engine = new sdk.NERtcEngine();
    this.bindings = new Map(); // key -> binding
    this.generation = 0;
    this.disposed = false;
    this.stats = { framesSent: 0, framesDropped: 0 };
    for (const name of EVENT_NAMES) {
      this.engine.on(name, (...args) => {
        if (this.disposed) return;
        try {
          this.transport.event(name, args);
        } catch (e) {
          console.warn(`[nertc-demo host] cannot forward ${name}: ${e && e.message}`);
        }
      });
    }
  }

  /** Runs one whitelisted engine method. Throws on an unknown method. */
  call(method, args) {
    if (this.disposed) throw new Error('engine host disposed');
    if (typeof method !== 'string' || !CALLS.has(method)) throw new Error(`method not allowed: ${String(method)}`);
    const a = Array.isArray(args) ? args.slice(0, 8) : [];
    if (method === 'initialize') return this.engine.initialize(this._context(a[0]));
    if (method === 'release') {
      this._unbindAll();
      return this.engine.release();
    }
    return this.engine[method](...a);
  }

  /** The page's initialize context, restricted: the host picks the log directory. */
  _context(ctx) {
    const c = ctx && typeof ctx === 'object' ? ctx : {};
    const sc = c.server_config && typeof c.server_config === 'object' ? c.server_config : {};
    const out = {
      app_key: typeof c.app_key === 'string' && c.app_key ? c.app_key : this.options.appKey || 'nertc-demo',
      log_level: Number.isInteger(c.log_level) ? c.log_level : this.options.logLevel == null ? 3 : this.options.logLevel,
      server_config: {
        channel_server: typeof sc.channel_server === 'string' && sc.channel_server ? sc.channel_server : this.options.serverUrl || undefined,
      },
    };
    if (this.options.logDir) out.log_dir_path = this.options.logDir;
    return out;
  }

  /** Sends frames of `key` to the page from now on. Returns the SDK's result code. */
  bind(key, opts = {}) {
    if (this.disposed) throw new Error('engine host disposed');
    const k = normKey(key);
    if (k === null) return this.sdk.ErrorCode ? this.sdk.ErrorCode.ERR_INVALID_PARAM : 30003;
    const mode = Number.isInteger(opts.mode) ? opts.mode : 0;
    const binding = { key: k, gen: ++this.generation, inFlight: 0, sent: 0, dropped: 0 };
    const view = {
      drawFrame: (frame) => {
        if (this.disposed || this.bindings.get(k) !== binding) return;
        if (binding.inFlight >= MAX_IN_FLIGHT) {
          binding.dropped++;
          this.stats.framesDropped++;
          return;
        }
        let ok = false;
        try {
          ok = this.transport.frame(binding, frame) !== false;
        } catch (e) {
          console.warn(`[nertc-demo host] frame transport failed: ${e && e.message}`);
        }
        if (ok) {
          binding.inFlight++;
          binding.sent++;
          this.stats.framesSent++;
        } else {
          binding.dropped++;
          this.stats.framesDropped++;
        }
      },
    };
    const canvas = { view, mode, mirror: !!opts.mirror };
    const code = setupCanvas(this.engine, k, canvas);
    if (code === 0) this.bindings.set(k, binding);
    else this.bindings.delete(k);
    return code;
  }

  unbind(key) {
    if (this.disposed) return 0;
    const k = normKey(key);
    if (k === null) return this.sdk.ErrorCode ? this.sdk.ErrorCode.ERR_INVALID_PARAM : 30003;
    this.bindings.delete(k);
    return setupCanvas(this.engine, k, null);
  }

  /** The page is done with one frame of binding `gen` of `key`. */
  ack(key, gen) {
    const b = this.bindings.get(normKey(key));
    if (b && b.gen === gen && b.inFlight > 0) b.inFlight--;
  }

  _unbindAll() {
    for (const k of [...this.bindings.keys()]) {
      try {
        this.unbind(k);
      } catch {
        // the engine may be released already
      }
    }
    this.bindings.clear();
  }

  /** Releases the engine (leaving the channel) and stops forwarding. Safe to call twice. */
  dispose() {
    if (this.disposed) return;
    this._unbindAll();
    this.disposed = true;
    try {
      this.engine.release();
    } catch (e) {
      console.warn(`[nertc-demo host] release failed: ${e && e.message}`);
    }
    this.engine.removeAllListeners();
  }

  /**
   * Dispatches one message from the page: `{op: 'call', method, args}`, `{op: 'bind', key,
   * mode, mirror}`, `{op: 'unbind', key}`, `{op: 'ack', key, gen}`. Returns the result.
   */
  handle(msg) {
    if (!msg || typeof msg !== 'object') throw new Error('bad message');
    switch (msg.op) {
      case 'call':
        return this.call(msg.method, msg.args);
      case 'bind':
        return this.bind(msg.key, { mode: msg.mode, mirror: msg.mirror });
      case 'unbind':
        return this.unbind(msg.key);
      case 'ack':
        this.ack(msg.key, msg.gen);
        return undefined;
      case 'stats':
        return { ...this.stats, bindings: [...this.bindings.values()].map(({ key, gen, inFlight, sent, dropped }) => ({ key, gen, inFlight, sent, dropped })) };
      default:
        throw new Error(`unknown op: ${String(msg.op)}`);
    }
  }
}

/** Makes event arguments JSON-safe: BigInt uids become numbers when safe, else strings. */
function jsonSafe(value) {
  if (typeof value === 'bigint') return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  // Bytes (screen source thumbnails) as a plain array of numbers.
  if (ArrayBuffer.isView(value)) return Array.from(value);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

/**
 * Where the SDK is, without loading it: NERTC_SDK_PATH, else the installed package
 * (`nertc-electron-sdk`), else the repository this demo sits in.
 */
function resolveSdkDir() {
  const path = require('node:path');
  if (process.env.NERTC_SDK_PATH) return path.resolve(process.env.NERTC_SDK_PATH);
  try {
    return path.dirname(require.resolve('nertc-electron-sdk/package.json'));
  } catch {
    return path.resolve(__dirname, '..');
  }
}

/** Loads the SDK from resolveSdkDir(): `{sdk: the default export, dir}`. */
function loadSdk() {
  const dir = resolveSdkDir();
  let m;
  try {
    m = require(dir);
  } catch (e) {
    throw new Error(`cannot load nertc-electron-sdk from ${dir} (build the addon: npm run build): ${e && e.message}`);
  }
  return { sdk: m.default || m, dir };
}

module.exports = { EngineHost, EVENT_NAMES, CALLS, MAX_IN_FLIGHT, normKey, jsonSafe, resolveSdkDir, loadSdk };
