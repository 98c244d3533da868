// nertc-web.js: a small browser client for the nertc signaling protocol v4 (docs/protocol.md).
// ES module, no dependencies, no build step.
//
//   const c = new NertcWebClient();
//   c.addEventListener('track_published', (e) => c.subscribe(e.detail.track.track_id));
//   c.addEventListener('remote_track', (e) => { video.srcObject = e.detail.stream; });
//   await c.connect('ws://127.0.0.1:8080/rtc/v1');
//   await c.join({ appKey: 'demo', channel: 'room', uid: 1 });
//   await c.publish(await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
//
// Roles (protocol §8.10): join({ ..., role: 'audience' }) joins unseen and unable to publish;
// setRole('broadcaster' | 'audience') switches (turning audience unpublishes every local track).
//
// Simulcast (protocol §8.12): publish(stream, { simulcast: true }) sends the camera video as two
// encodings on one m-line, rids `h` (the track's size) and `l` (half the width and height, a
// fifth of the bitrate), and pauses a layer the server says nobody receives (transport `layers`).
//
// Data channel (protocol §13.2): enableData(true), sendData(bytes) (a Uint8Array/ArrayBuffer of
// 1-32768 bytes), subscribeData(uid, false); others get `user_data` and `data`. The messages
// travel on the RTCDataChannel the server opens on the `sub` connection (protocol 4), over
// signaling until it is open; the switch keeps their order (see `_onDataChannel`).
//
// Encryption (end to end, as the engine's enableEncryption; web/nertc-e2ee.js): before joining,
// `await enableEncryption(true, { mode: 0, key: 'the channel key' })`; every track published or
// subscribed from then on is sealed / opened in the engine's format (SM4-GCM, key from the string
// by HKDF-SHA256) by WebRTC encoded transforms (RTCRtpScriptTransform) in a worker
// (nertc-e2ee-worker.js), so the room server forwards ciphertext. Video must be H.264. A
// received frame that does not open (another key, or a sender that does not encrypt) is dropped
// and reported once per stream as `error` {code: 30113}; encryptionStats() gives the cipher's
// cost. Needs WebCrypto (a secure context: https, or http on localhost) and
// RTCRtpScriptTransform (tested: Debian's Chromium 156). A client that has not enabled it
// applies no transform: sealed media from others reaches its decoders (which refuse or garble
// it) unreported.
//
// Events (CustomEvent, payload in `detail`):
//   room events, with `detail` = the event's `d` plus `seq`:
//     user_joined, user_left, track_published, track_unpublished, track_muted, subscription
//   remote_track       {track_id, uid, kind, source, mid, track, stream}  a subscribed track's media
//                      arrived; source 'screen' is the user's substream (screen share)
//   remote_track_ended {track_id, uid, kind, mid}                 its m-line was removed
//   server_leave       {reason}       the server ended the session (transport `leave`)
//   server_error       {code, msg}    a transport `error`
//   pub_replaced       {}             the `pub` connection did not come up and was replaced
//   layers             {track_id, active}  which simulcast layers someone receives (the others
//                      are paused: their encodings set inactive)
//   pong               {ts, rtt_ms}
//   user_data          {uid, enabled, seq}  a user's data channel went on or off (a room event)
//   data               {uid, data}    a data message (data: Uint8Array), in the order sent
//   close              {code, reason} the socket closed
//   error              {code: 30113, msg, uid, track_id, kind, why}  a subscribed stream's media
//                      does not decrypt (why: 'wrong_key' | 'not_sealed'); once per stream
//   message            the raw parsed frame, for every frame received (debugging)

const PROTOCOL_VERSION = 4;
/** The label of the server's data channel (protocol §13.2). */
const DATA_CHANNEL_LABEL = 'nertc-data';
/** Longest a switch to the data channel holds messages (the engine's SWITCH_WAIT). */
const DATA_SWITCH_WAIT_MS = 2000;
/** Redirects followed for one join (protocol §12.2); more means the cluster is confused. */
const MAX_REDIRECTS = 3;
const WS_PATH = '/rtc/v1';

/** The high layer's bitrate cap; the low layer gets a fifth (protocol §8.12: as the engine). */
const SIMULCAST_HIGH_BPS = 1_000_000;

/** addTransceiver's init for a published track: with `simulcast`, rids `l` and `h`. */
function sendInit(stream, simulcast) {
  const init = { direction: 'sendonly', streams: [stream] };
  if (simulcast) {
    init.sendEncodings = [
      { rid: 'l', scaleResolutionDownBy: 2, maxBitrate: SIMULCAST_HIGH_BPS / 5 },
      { rid: 'h', maxBitrate: SIMULCAST_HIGH_BPS },
    ];
  }
  return init;
}

/**
 * Sets the encodings of `lt`'s sender active as `lt.activeLayers` says, until they match it
 * (it may change while a setParameters is in flight); a failed setParameters is tried again
 * 50 ms later, five tries in all.
 */
async function applyActiveLayers(lt) {
  let error;
  for (let tries = 0; tries < 5; tries++) {
    const sender = lt.transceiver.sender;
    const params = sender.getParameters();
    const want = lt.activeLayers;
    if (!params.encodings?.length || params.encodings.every((e) => e.active === want.includes(e.rid))) return;
    for (const enc of params.encodings) enc.active = want.includes(enc.rid);
    try {
      await sender.setParameters(params);
    } catch (e) {
      error = e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw error ?? new Error('the encodings did not take the layers');
}

/** The `layers` of a simulcast publish request (high first), from the track's size. */
function simulcastLayers(track) {
  const { width = 0, height = 0 } = track.getSettings?.() ?? {};
  return [
    { rid: 'h', width, height, max_bps: SIMULCAST_HIGH_BPS },
    { rid: 'l', width: Math.round(width / 2), height: Math.round(height / 2), max_bps: SIMULCAST_HIGH_BPS / 5 },
  ];
}

/** `ws://host:port` (a redirect's `url`) or the full URL → the signaling endpoint's URL. */
function signalingUrl(url) {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = WS_PATH;
  return u.toString();
}
/** A `pub` connection not up this long after its first offer is replaced (protocol §8.8b). */
const CONNECT_TIMEOUT_MS = 10000;
const ROOM_EVENTS = new Set([
  'user_joined', 'user_left', 'track_published', 'track_unpublished', 'track_muted', 'subscription', 'user_data',
]);

function isStopped(tr) {
  return tr.stopped === true || tr.direction === 'stopped' || tr.currentDirection === 'stopped';
}

/** NERTC's kNERtcErrEncryptNotSuitable: received media that does not decrypt with our key. */
export const ERR_ENCRYPT_NOT_SUITABLE = 30113;

/** An error response from the server; `code` is the protocol's error code. */
export class NertcError extends Error {
  constructor(code, msg, request, url) {
    super(`${request ? request + ': ' : ''}${code}: ${msg}`);
    this.name = 'NertcError';
    this.code = code;
    this.request = request;
    /** With code `redirect`: the node that owns the room. */
    this.url = url;
  }
}

export class NertcWebClient extends EventTarget {
  /**
   * @param {object} [opts]
   * @param {'h264'|'vp8'|null} [opts.videoCodec='h264'] preferred publish codec (null: browser order)
   * @param {RTCIceServer[]} [opts.iceServers=[]]
   * @param {number} [opts.gatherTimeoutMs=3000] longest wait for ICE gathering before sending an SDP
   * @param {number} [opts.requestTimeoutMs=10000]
   */
  constructor(opts = {}) {
    super();
    this.opts = { videoCodec: 'h264', iceServers: [], gatherTimeoutMs: 3000, requestTimeoutMs: 10000, ...opts };
    this.ws = null;
    this.joinResult = null;
    this.lastSeq = 0;
    this._nextId = 1;
    this._pending = new Map(); // id -> {resolve, reject, t, timer}
    this._pingTimer = null;
    // pub PC
    this.pubPc = null;
    this._pubNeg = 0;
    this._pubChain = Promise.resolve();
    this.localTracks = new Map(); // track_id -> {track, kind, transceiver, stream}
    this._watchPub = () => {}; // set per pub connection (_ensurePubPc)
    // sub PC
    this.subPc = null;
    this._subChain = Promise.resolve();
    this.subMids = new Map(); // mid -> {track_id, uid, kind}
    this.remoteTracks = new Map(); // track_id -> {track_id, uid, kind, source, mid, track, stream}
    this.trackSources = new Map(); // track_id -> 'mic' | 'camera' | 'screen' | 'screen_audio' (room events)
    this._e2ee = null; // enableEncryption's state: {key, worker, stats, reported}
    this._resetData();
  }

  /** Data channel state (protocol §13.2); a new sub connection brings a new channel. */
  _resetData() {
    this.dataChannel = null; // the RTCDataChannel we send on
    this._dataFencing = null; // {dc, held: [Uint8Array], timer}: switching, our messages held
    this._dataSignalingSent = false; // a message went over signaling since the last switch
    this._dataOpened = 0; // channels opened / `data_channel` messages seen
    this._dataSwitched = 0;
    this._dataHeldIn = []; // [{uid, data}] the channel brought before `data_channel`
    clearTimeout(this._dataHeldTimer);
  }

  // ------------------------------------------------------------------ socket

  /** Opens the WebSocket (`ws://host:port/rtc/v1`; the path may be left out). Resolves once open. */
  connect(url) {
    url = signalingUrl(url);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      this.ws = ws;
      this.url = url;
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`WebSocket error connecting to ${url}`));
      ws.onmessage = (ev) => {
        if (this.ws === ws) this._onFrame(ev.data);
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return; // an old socket, replaced by resume()
        this._stopPing();
        for (const [, p] of this._pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`socket closed (${ev.code} ${ev.reason}) before response to ${p.t}`));
        }
        this._pending.clear();
        this._emit('close', { code: ev.code, reason: ev.reason });
      };
    });
  }

  /** Sends a request and resolves with the response's `d`, or rejects with a NertcError. */
  request(t, d = {}) {
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error(`socket not open for ${t}`));
        return;
      }
      const timer = setTimeout(() => {
        this._pending.delete(id);
        reject(new Error(`timeout waiting for response to ${t}`));
      }, this.opts.requestTimeoutMs);
      this._pending.set(id, { resolve, reject, t, timer });
      this.ws.send(JSON.stringify({ id, t, d }));
    });
  }

  /** Sends a message that gets no response (`ice`, `ping`). */
  send(t, d = {}) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ t, d }));
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    this._emit('message', f);
    if (f.re !== undefined) {
      const p = this._pending.get(f.re);
      if (!p) return;
      this._pending.delete(f.re);
      clearTimeout(p.timer);
      if (f.ok) p.resolve(f.d ?? {});
      else p.reject(new NertcError(f.err?.code ?? 'internal', f.err?.msg ?? '', p.t, f.err?.url));
    } else if (f.seq !== undefined) {
      if (f.seq <= this.lastSeq) return; // already processed (duplicate after a resume)
      this.lastSeq = f.seq;
      if (f.t === 'track_published' && f.d?.track) this.trackSources.set(f.d.track.track_id, f.d.track.source);
      if (ROOM_EVENTS.has(f.t)) this._emit(f.t, { ...f.d, seq: f.seq });
    } else {
      this._onTransport(f.t, f.d ?? {});
    }
  }

  _onTransport(t, d) {
    switch (t) {
      case 'sdp':
        if (d.pc === 'sub' && d.type === 'offer') {
          this._subChain = this._subChain
            .then(() => this._onSubOffer(d))
            .catch((e) => this._emit('server_error', { code: 'client', msg: `sub offer: ${e.message}` }));
        }
        break;
      case 'ice': {
        const pc = d.pc === 'pub' ? this.pubPc : this.subPc;
        if (pc && !d.end && d.candidate) {
          pc.addIceCandidate({ candidate: d.candidate, sdpMid: d.sdpMid, sdpMLineIndex: d.sdpMLineIndex }).catch(() => {});
        }
        break;
      }
      case 'pong':
        this._emit('pong', { ts: d.ts, rtt_ms: Date.now() - d.ts });
        break;
      case 'leave':
        this._emit('server_leave', d);
        break;
      case 'error':
        this._emit('server_error', d);
        break;
      case 'data':
        this._emit('data', { uid: d.uid, data: Uint8Array.from(atob(d.data), (c) => c.charCodeAt(0)) });
        break;
      case 'data_channel':
        this._dataSwitched += 1;
        if (this._dataSwitched >= this._dataOpened) this._releaseHeldData();
        break;
      case 'layers':
        this._setActiveLayers(d.track_id, d.active ?? [])
          .catch((e) => console.warn(`nertc-web: layers ${d.active} of ${d.track_id} not applied: ${e}`));
        this._emit('layers', { track_id: d.track_id, active: d.active ?? [] });
        break;
    }
  }

  /**
   * Encodes only the rids in `active` of a simulcast track (the server's transport `layers`).
   * One update runs at a time and applies the newest set: Chromium rejects a setParameters
   * made while another is in flight, and two `layers` messages can come a few ms apart (a
   * layer turned off, then wanted again), which left the layer off for good.
   */
  _setActiveLayers(trackId, active) {
    const lt = this.localTracks.get(trackId);
    if (!lt?.simulcast) return Promise.resolve();
    lt.activeLayers = active;
    lt.layersUpdate = (lt.layersUpdate ?? Promise.resolve()).catch(() => {}).then(() => applyActiveLayers(lt));
    return lt.layersUpdate;
  }

  // ------------------------------------------------------------------ data channel

  /** Our data channel on or off (protocol §13.2); the others get `user_data`. */
  async enableData(enabled) {
    await this.request('enable_data', { enabled: !!enabled });
  }

  /** Whether `uid`'s data messages reach us (all do by default). */
  async subscribeData(uid, subscribe) {
    await this.request('subscribe_data', { uid, subscribe: !!subscribe });
  }

  /**
   * A data message (ArrayBuffer or typed array, 1-32768 bytes); no response (errors come as
   * `server_error`). On the data channel when it is open, else over signaling.
   */
  sendData(bytes) {
    const view = bytes instanceof Uint8Array ? bytes : ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
    const u8 = view.slice(); // ours: the caller may reuse its buffer before a held message goes
    if (this._dataFencing) {
      this._dataFencing.held.push(u8);
      return;
    }
    if (this.dataChannel?.readyState === 'open') {
      this.dataChannel.send(u8);
      return;
    }
    this.dataChannel = null;
    this._dataSignalingSent = true;
    let bin = '';
    for (let i = 0; i < u8.length; i += 0x8000) bin += String.fromCharCode(...u8.subarray(i, i + 0x8000));
    this.send('data', { data: btoa(bin) });
  }

  // ------------------------------------------------------------------ encryption

  /**
   * End-to-end media encryption, NERTC's `enableEncryption(enable, {mode, key})`: before
   * joining (at the latest before the first publish or subscription), or after leaving;
   * applies to the tracks published and subscribed from then on.
   * Mode 0 (kNERtcGMCryptoSM4ECB) only, run as SM4-GCM like the engine; the custom mode (1)
   * has no web form. Resolves once the key is derived; rejects with a TypeError for a bad
   * config, an Error when joined or when the browser lacks WebCrypto / encoded transforms.
   * @param {boolean} enable
   * @param {{mode?: number, key: string}} [config]
   */
  async enableEncryption(enable, config = {}) {
    if (this.pubPc || this.subPc) throw new Error('enableEncryption: before publishing or subscribing only (or after leaving)');
    if (!enable) {
      this._e2ee?.worker.terminate();
      this._e2ee = null;
      return;
    }
    const { mode = 0, key } = config ?? {};
    if (mode === 1) throw new Error('enableEncryption: the custom mode (1) needs a native packet observer; not supported here');
    if (mode !== 0) throw new TypeError(`enableEncryption: unknown mode ${mode}`);
    if (typeof key !== 'string' || key === '') throw new TypeError('enableEncryption: the key is a non-empty string');
    if (typeof RTCRtpScriptTransform !== 'function') throw new Error('enableEncryption: this browser has no RTCRtpScriptTransform');
    const { deriveMediaKey } = await import('./sm4gcm.js');
    const derived = await deriveMediaKey(key);
    this._e2ee?.worker.terminate();
    const worker = new Worker(new URL('./nertc-e2ee-worker.js', import.meta.url), { type: 'module', name: 'nertc-e2ee' });
    const e2ee = { key: derived, worker, stats: new Map(), reported: new Set() };
    worker.onmessage = (ev) => this._onE2eeMessage(e2ee, ev.data);
    this._e2ee = e2ee;
  }

  /** Whether enableEncryption is on. */
  get encryptionEnabled() {
    return this._e2ee !== null;
  }

  /**
   * The transforms' figures, one entry per stream (`send:<track_id>`, `recv:<mid>`): frames,
   * dropped (did not open), empty (passed as they were), ms and maxMs (the cipher's mean and
   * longest time per frame), bytes (before sealing / opening), since enableEncryption; the
   * worker reports about once a second, so the last second may be missing.
   */
  encryptionStats() {
    return this._e2ee ? Object.fromEntries(this._e2ee.stats) : {};
  }

  /** A published track under encryption must be H.264 video (the engine's format) or Opus. */
  _e2eeCheckPublish(stream) {
    if (this._e2ee && stream.getVideoTracks().length && this.opts.videoCodec !== 'h264') {
      throw new Error(`publish: encryption seals H.264 only (videoCodec is ${this.opts.videoCodec})`);
    }
  }

  _e2eeOptions(side, kind, id) {
    return { side, kind, id: `${side}:${id}`, key: this._e2ee.key };
  }

  /** Seals what `transceiver` sends, when encrypting. */
  _e2eeSender(transceiver, kind, trackId) {
    if (!this._e2ee) return;
    transceiver.sender.transform = new RTCRtpScriptTransform(this._e2ee.worker, this._e2eeOptions('send', kind, trackId));
  }

  /** Opens what the sub connection's receivers get (each once, before it answers). */
  _e2eeReceivers(pc) {
    if (!this._e2ee) return;
    for (const tr of pc.getTransceivers()) {
      if (isStopped(tr) || tr.mid == null || tr.receiver.transform) continue;
      tr.receiver.transform = new RTCRtpScriptTransform(this._e2ee.worker, this._e2eeOptions('recv', tr.receiver.track.kind, tr.mid));
    }
  }

  _onE2eeMessage(e2ee, m) {
    if (m?.type !== 'stats') return;
    const prev = e2ee.stats.get(m.id) ?? { frames: 0, dropped: 0, empty: 0, ms: 0, maxMs: 0, bytes: 0 };
    const frames = prev.frames + m.frames;
    e2ee.stats.set(m.id, {
      side: m.side, kind: m.kind, frames, dropped: prev.dropped + m.dropped, empty: prev.empty + m.empty, why: m.why ?? prev.why,
      ms: frames ? (prev.ms * prev.frames + m.ms * m.frames) / frames : 0, maxMs: Math.max(prev.maxMs, m.maxMs), bytes: prev.bytes + m.bytes,
    });
    if (m.side !== 'recv' || !m.dropped || e2ee !== this._e2ee) return;
    // The stream now on that m-line (the server reuses m-lines): reported once per track.
    const mid = m.id.slice('recv:'.length);
    const info = this.subMids.get(mid);
    const trackId = info?.track_id ?? `mid ${mid}`;
    if (e2ee.reported.has(trackId)) return;
    e2ee.reported.add(trackId);
    const why = m.why === 'not_sealed' ? 'the sender does not encrypt its media' : 'it does not decrypt with this key: the sender uses another key';
    this._emit('error', {
      code: ERR_ENCRYPT_NOT_SUITABLE, msg: `${m.kind} of user ${info?.uid} dropped: ${why}`,
      uid: info?.uid ?? null, track_id: info?.track_id ?? null, kind: m.kind, why: m.why,
    });
  }

  /**
   * The server's data channel on `sub`. Switching to it keeps the order of the messages both
   * ways (protocol §13.2): what we sent over signaling before is fenced by a request the room
   * answers after relaying it (`subscribe_data` for our own uid, a no-op), our new messages
   * held until then; what the channel brings before the server's transport `data_channel`
   * (sent after its last `data` on the socket) is held until that arrives.
   */
  _onDataChannel(dc) {
    if (dc.label !== DATA_CHANNEL_LABEL) {
      dc.close();
      return;
    }
    dc.binaryType = 'arraybuffer';
    dc.onmessage = (e) => {
      const buf = new Uint8Array(e.data);
      if (buf.length < 9) return;
      const uid = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0));
      const data = buf.slice(8);
      if (this._dataSwitched < this._dataOpened) {
        this._dataHeldIn.push({ uid, data });
        if (this._dataHeldIn.length === 1) {
          this._dataHeldTimer = setTimeout(() => {
            this._dataSwitched = this._dataOpened;
            this._releaseHeldData();
          }, DATA_SWITCH_WAIT_MS);
        }
      } else {
        this._emit('data', { uid, data });
      }
    };
    const opened = () => {
      this._dataOpened += 1;
      if (!this._dataSignalingSent) {
        this.dataChannel = dc;
        return;
      }
      this._dataSignalingSent = false;
      const fencing = { dc, held: [], timer: null };
      const done = () => {
        if (this._dataFencing !== fencing) return;
        clearTimeout(fencing.timer);
        this._dataFencing = null;
        this.dataChannel = dc;
        for (const m of fencing.held) this.sendData(m);
      };
      this._dataFencing = fencing;
      fencing.timer = setTimeout(done, DATA_SWITCH_WAIT_MS);
      this.request('subscribe_data', { uid: this.joinResult?.uid, subscribe: true }).then(done, done);
    };
    if (dc.readyState === 'open') opened();
    else dc.onopen = opened;
  }

  _releaseHeldData() {
    clearTimeout(this._dataHeldTimer);
    for (const m of this._dataHeldIn.splice(0)) this._emit('data', m);
  }

  // ------------------------------------------------------------------ session

  /**
   * Sends `join` (or a resume) and follows a cluster's `redirect` answers: the socket is
   * replaced by one to the node that owns the room (no `close` event) and the same join is
   * sent there. `this.url` is then that node.
   */
  async _joinFollowing(d) {
    for (let hop = 0; ; hop++) {
      try {
        return await this.request('join', d);
      } catch (e) {
        if (!(e instanceof NertcError) || e.code !== 'redirect' || !e.url || hop >= MAX_REDIRECTS) throw e;
        const old = this.ws;
        this.ws = null; // its close is not this client's close
        old?.close(1000);
        await this.connect(e.url);
      }
    }
  }

  /**
   * Joins a channel. Resolves with the JoinResult. Starts the periodic ping. In a cluster the
   * join may be redirected to another node (followed here); `joinResult.nodes` lists the other
   * nodes, to reconnect through when this one goes away.
   */
  async join({ appKey, channel, uid, token = null, name = '', role = 'broadcaster' }) {
    const res = await this._joinFollowing({
      token, app_key: appKey, channel, uid, name, protocol: PROTOCOL_VERSION, role,
    });
    this._joinParams = { appKey, channel, uid, token, name };
    this.role = role;
    this.joinResult = res;
    this.lastSeq = res.seq ?? 0;
    for (const u of res.users ?? []) for (const t of u.tracks ?? []) this.trackSources.set(t.track_id, t.source);
    this._startPing(res.ping_interval_ms || 5000);
    return res;
  }

  /**
   * Resumes the session on a new socket after the old one dropped (within resume_window_ms).
   * Peer connections are kept; the missed events are replayed as ordinary events. Rejects
   * with NertcError code `resume_failed` when the session is gone (then join afresh).
   */
  async resume(url) {
    if (!this.joinResult || !this._joinParams) throw new Error('resume: not joined before');
    const { appKey, channel, uid, token, name } = this._joinParams;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
    await this.connect(url);
    const res = await this._joinFollowing({
      token, app_key: appKey, channel, uid, name, protocol: PROTOCOL_VERSION, role: this.role,
      resume: { session_id: this.joinResult.session_id, resume_token: this.joinResult.resume_token, last_seq: this.lastSeq },
    });
    this.joinResult = { ...res, resume_token: res.resume_token || this.joinResult.resume_token };
    this._startPing(res.ping_interval_ms || 5000);
    return res;
  }

  /**
   * Switches between 'broadcaster' and 'audience' (protocol §8.10). Turning audience first
   * unpublishes every local track (the server would drop them anyway); a new broadcaster may
   * publish once this resolves. Others see the user join or leave.
   */
  async setRole(role) {
    if (role !== 'broadcaster' && role !== 'audience') throw new TypeError(`setRole: unknown role ${role}`);
    if (role === 'audience') {
      await Promise.all([...this.localTracks.keys()].map((id) => this.unpublish(id)));
    }
    await this.request('set_role', { role });
    this.role = role;
  }

  /** Leaves gracefully; closes the peer connections. */
  async leave() {
    try {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) await this.request('leave');
    } finally {
      this._stopPing();
      this._closePcs();
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
    }
  }

  /** Closes everything without a `leave` (others see the session time out). */
  close() {
    this._stopPing();
    this._closePcs();
    if (this.ws) this.ws.close();
  }

  _startPing(intervalMs) {
    this._stopPing();
    this._pingTimer = setInterval(() => this.send('ping', { ts: Date.now() }), intervalMs);
  }

  _stopPing() {
    if (this._pingTimer) clearInterval(this._pingTimer);
    this._pingTimer = null;
  }

  _closePcs() {
    for (const r of this.remoteTracks.values()) this._emit('remote_track_ended', this._publicRemote(r));
    this.remoteTracks.clear();
    this.subMids.clear();
    this.pubPc?.close();
    this.subPc?.close();
    this.pubPc = null;
    this.subPc = null;
    clearTimeout(this._dataFencing?.timer);
    this._resetData();
  }

  // ------------------------------------------------------------------ publish

  _ensurePubPc() {
    if (this.pubPc) return this.pubPc;
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers, bundlePolicy: 'max-bundle' });
    pc.onicecandidate = (e) => this._trickle('pub', pc, e);
    this.pubPc = pc;
    // The first offer starts a watch: a connection that is not up by then is replaced (the
    // server's DTLS can stall for good when its flight is lost).
    let connected = false;
    let watching = false;
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'connected') connected = true;
    });
    this._watchPub = () => {
      if (watching) return;
      watching = true;
      setTimeout(() => {
        if (connected || this.pubPc !== pc) return;
        const p = this._pubChain.then(() => this._replacePub(pc));
        this._pubChain = p.catch((e) => this._emit('server_error', { code: 'client', msg: `replacing pub: ${e.message}` }));
      }, CONNECT_TIMEOUT_MS);
    };
    return pc;
  }

  /** Moves every published track to a new `pub` connection, offered `fresh`. */
  async _replacePub(old) {
    if (this.pubPc !== old || old.connectionState === 'connected') return;
    old.close();
    this.pubPc = null;
    const pc = this._ensurePubPc();
    for (const lt of this.localTracks.values()) {
      lt.transceiver = pc.addTransceiver(lt.track, sendInit(lt.stream, lt.simulcast));
      if (lt.kind === 'video') this._preferVideoCodec(lt.transceiver);
    }
    for (const [trackId, lt] of this.localTracks) this._e2eeSender(lt.transceiver, lt.kind, trackId);
    this._emit('pub_replaced', {});
    await this._negotiatePub({ fresh: true });
  }

  /**
   * Publishes every track of `stream`: one `publish` request per track, then one `pub` offer
   * with `pub_mids`. Resolves with [{track_id, kind, track}].
   * @param {MediaStream} stream
   * @param {{videoSource?: string, audioSource?: string, simulcast?: boolean}} [opts] simulcast:
   *   the video as a high and a low layer (protocol §8.12)
   */
  publish(stream, opts = {}) {
    const run = async () => {
      this._e2eeCheckPublish(stream);
      const pc = this._ensurePubPc();
      const published = [];
      for (const track of stream.getTracks()) {
        const kind = track.kind;
        const source = kind === 'audio' ? (opts.audioSource ?? 'mic') : (opts.videoSource ?? 'camera');
        const codec = kind === 'audio' ? 'opus' : this.opts.videoCodec ?? null;
        const simulcast = kind === 'video' && !!opts.simulcast;
        const req = { kind, source, codec, muted: !track.enabled };
        if (simulcast) req.layers = simulcastLayers(track);
        const { track_id } = await this.request('publish', req);
        const transceiver = pc.addTransceiver(track, sendInit(stream, simulcast));
        if (kind === 'video') this._preferVideoCodec(transceiver);
        this._e2eeSender(transceiver, kind, track_id);
        this.localTracks.set(track_id, { track, kind, transceiver, stream, simulcast });
        published.push({ track_id, kind, track });
      }
      await this._negotiatePub();
      return published;
    };
    const p = this._pubChain.then(run);
    this._pubChain = p.catch(() => {});
    return p;
  }

  /**
   * Shares a screen: publishes the video track of `stream` (from `getDisplayMedia`) with
   * source `screen`, which NERTC clients receive as this user's substream. Resolves as publish.
   */
  publishScreen(stream) {
    return this.publish(new MediaStream(stream.getVideoTracks()), { videoSource: 'screen' });
  }

  /** Unpublishes a track and re-offers without it. */
  unpublish(trackId) {
    const run = async () => {
      await this.request('unpublish', { track_id: trackId });
      const lt = this.localTracks.get(trackId);
      this.localTracks.delete(trackId);
      if (lt) {
        lt.transceiver.stop();
        // With every transceiver stopped an offer has no BUNDLE group, which Chromium refuses
        // under max-bundle; the server has dropped the track already, so there is nothing to
        // negotiate until the next publish.
        if (this.pubPc?.getTransceivers().some((tr) => !isStopped(tr))) await this._negotiatePub();
      }
    };
    const p = this._pubChain.then(run);
    this._pubChain = p.catch(() => {});
    return p;
  }

  /** Mutes / unmutes a published track (signaling plus `track.enabled`). */
  async mute(trackId, muted) {
    const lt = this.localTracks.get(trackId);
    if (lt) lt.track.enabled = !muted;
    return this.request('mute', { track_id: trackId, muted });
  }

  _preferVideoCodec(transceiver) {
    const want = this.opts.videoCodec;
    if (!want || typeof RTCRtpSender.getCapabilities !== 'function' || !transceiver.setCodecPreferences) return;
    const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
    const isWanted = (c) => {
      if (want === 'h264') {
        return c.mimeType.toLowerCase() === 'video/h264' &&
          /packetization-mode=1/.test(c.sdpFmtpLine ?? '') && /profile-level-id=42e01f/i.test(c.sdpFmtpLine ?? '');
      }
      return c.mimeType.toLowerCase() === `video/${want}`;
    };
    const first = codecs.filter(isWanted);
    if (!first.length) return;
    try {
      transceiver.setCodecPreferences([...first, ...codecs.filter((c) => !isWanted(c))]);
    } catch {
      // keep the browser's order
    }
  }

  async _negotiatePub({ fresh = false } = {}) {
    const pc = this.pubPc;
    const neg = ++this._pubNeg;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await this._waitGathering(pc);
    const pubMids = {};
    for (const [trackId, lt] of this.localTracks) {
      if (lt.transceiver.mid != null && !isStopped(lt.transceiver)) pubMids[lt.transceiver.mid] = trackId;
    }
    this._watchPub();
    const answer = await this.request('sdp', {
      pc: 'pub', type: 'offer', sdp: pc.localDescription.sdp, neg, pub_mids: pubMids, ...(fresh ? { fresh } : {}),
    });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  }

  // ------------------------------------------------------------------ subscribe

  /** Subscribes to a track. Resolves with `{state}`; the media arrives as `remote_track`. */
  subscribe(trackId, layer) {
    const d = { track_id: trackId };
    if (layer) d.layer = layer;
    return this.request('subscribe', d);
  }

  unsubscribe(trackId) {
    return this.request('unsubscribe', { track_id: trackId });
  }

  _ensureSubPc() {
    if (this.subPc) return this.subPc;
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers, bundlePolicy: 'max-bundle' });
    pc.onicecandidate = (e) => this._trickle('sub', pc, e);
    pc.ondatachannel = (e) => {
      if (this.subPc === pc) this._onDataChannel(e.channel);
    };
    this.subPc = pc;
    return pc;
  }

  async _onSubOffer(d) {
    if (d.fresh && this.subPc) {
      // The server replaced a sub connection that never came up: answer from a new one.
      this.subPc.close();
      this.subPc = null;
    }
    const pc = this._ensureSubPc();
    this.subMids = new Map(Object.entries(d.sub_mids ?? {}));
    await pc.setRemoteDescription({ type: 'offer', sdp: d.sdp });
    this._e2eeReceivers(pc);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await this._waitGathering(pc);
    this._syncRemoteTracks();
    await this.request('sdp', { pc: 'sub', type: 'answer', sdp: pc.localDescription.sdp, neg: d.neg ?? 0 });
  }

  /** Maps the sub PC's live transceivers to tracks via `sub_mids`; emits added / removed tracks. */
  _syncRemoteTracks() {
    const pc = this.subPc;
    const seen = new Set();
    for (const tr of pc.getTransceivers()) {
      if (isStopped(tr) || tr.mid == null) continue;
      const info = this.subMids.get(tr.mid);
      if (!info) continue;
      const dir = tr.currentDirection ?? tr.direction;
      if (dir !== 'recvonly' && dir !== 'sendrecv') continue;
      seen.add(info.track_id);
      const prev = this.remoteTracks.get(info.track_id);
      if (prev && prev.track === tr.receiver.track && prev.mid === tr.mid) continue;
      if (prev) this._emit('remote_track_ended', this._publicRemote(prev));
      const r = {
        track_id: info.track_id, uid: info.uid, kind: info.kind, source: this.trackSources.get(info.track_id) ?? null, mid: tr.mid,
        track: tr.receiver.track, stream: new MediaStream([tr.receiver.track]),
      };
      this.remoteTracks.set(info.track_id, r);
      this._emit('remote_track', r);
    }
    for (const [trackId, r] of [...this.remoteTracks]) {
      if (!seen.has(trackId)) {
        this.remoteTracks.delete(trackId);
        this._emit('remote_track_ended', this._publicRemote(r));
      }
    }
  }

  _publicRemote(r) {
    return { track_id: r.track_id, uid: r.uid, kind: r.kind, source: r.source, mid: r.mid };
  }

  /** The remote track of `trackId`, or undefined. */
  getRemoteTrack(trackId) {
    return this.remoteTracks.get(trackId);
  }

  /** All remote tracks of one user. */
  getRemoteTracksOf(uid) {
    return [...this.remoteTracks.values()].filter((r) => r.uid === uid);
  }

  // ------------------------------------------------------------------ ICE

  // Candidates go in the SDP (we wait for gathering); ones that turn up after the SDP was sent
  // (gathering slower than gatherTimeoutMs) are trickled.
  _trickle(pcName, pc, e) {
    if (!pc._nertcSdpSent) return;
    if (e.candidate) {
      const c = e.candidate;
      this.send('ice', { pc: pcName, candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex });
    } else {
      this.send('ice', { pc: pcName, candidate: '', end: true });
    }
  }

  _waitGathering(pc) {
    const done = () => {
      pc._nertcSdpSent = true;
    };
    if (pc.iceGatheringState === 'complete') return Promise.resolve().then(done);
    return new Promise((resolve) => {
      const timer = setTimeout(finish, this.opts.gatherTimeoutMs);
      function check() {
        if (pc.iceGatheringState === 'complete') finish();
      }
      function finish() {
        clearTimeout(timer);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      }
      pc.addEventListener('icegatheringstatechange', check);
    }).then(done);
  }

  // ------------------------------------------------------------------ stats

  /** `{pub, sub}`: each PC's RTCStatsReport, or null when the PC does not exist. */
  async getStats() {
    const [pub, sub] = await Promise.all([
      this.pubPc ? this.pubPc.getStats() : null,
      this.subPc ? this.subPc.getStats() : null,
    ]);
    return { pub, sub };
  }
}

export default NertcWebClient;
