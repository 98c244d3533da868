// The demo's UI. Talks to the engine only through one bridge object:
//
//   bridge.call(method, ...args) -> Promise<result>   bridge.on(event, cb)
//   bridge.bindView(key, element, {mode, mirror})      bridge.rendererOf(element)
//
// picked at start-up: `?bridge=ws://…` → test bridge (bridge-ws.js, engine in a Node process);
// `window.nertcSecure` (set by preload.js) → secure mode (bridge-secure.js, engine in the main
// process); `require` available → NERTC mode (bridge-nertc.js, engine in this renderer).
//
// Query parameters: server, channel, uid, token, autojoin=1, camera=0|1, mic=0|1,
// res=WxH@FPS, mode=0|1|2, mirror=0|1, webgl=0 (renderer.js's preferWebGL: false), sdk=PATH
// (NERTC mode: where the SDK is), app_key.
(function (root) {
  'use strict';
  const NS = root.NertcDemo || {};
  const params = new URLSearchParams(root.location.search);
  const $ = (id) => document.getElementById(id);

  const DEFAULT_SERVER = 'ws://127.0.0.1:8480';
  const HISTORY = 60; // chart points per tile (one per stats event, every 2 s)
  const LOG_LINES = 300;

  const state = {
    phase: 'loading', // loading | idle | joining | joined | error
    uid: 0,
    cid: 0,
    channel: '',
    rtt: null,
    tiles: new Map(), // key ('local' | uid string, ':sub' appended for a screen share) -> tile
    sharing: false, // our screen share runs
  };
  let bridge = null;
  const logLines = [];

  // -------------------------------------------------------------------------------------------
  // Small helpers

  function log(...parts) {
    const t = new Date().toISOString().slice(11, 23);
    const line = `${t} ${parts.map(fmt).join(' ')}`;
    logLines.push(line);
    if (logLines.length > LOG_LINES) logLines.splice(0, logLines.length - LOG_LINES);
    const el = $('log');
    if (el) {
      el.textContent = logLines.join('\n');
      el.scrollTop = el.scrollHeight;
    }
  }

  function fmt(v) {
    if (typeof v === 'string') return v;
    if (typeof v === 'bigint') return `${v}n`;
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
    } catch {
      return String(v);
    }
  }

  function setStatus(phase, text) {
    state.phase = phase;
    const el = $('status');
    el.dataset.state = phase;
    el.textContent = text || phase;
    $('join').disabled = !(phase === 'idle' || phase === 'error');
    $('leave').disabled = !(phase === 'joining' || phase === 'joined');
    $('share').disabled = phase !== 'joined';
    updateLocalTile();
  }

  /** The local tile shows video while in a call with the camera on, else why not. */
  function updateLocalTile() {
    const tile = state.tiles.get('local');
    if (!tile) return;
    const camera = $('camera').checked;
    const inCall = state.phase === 'joined' || state.phase === 'joining';
    tile.el.classList.toggle('has-video', tile.bound && camera && inCall);
    tile.placeholder.textContent = !camera ? 'camera off' : inCall ? 'starting camera…' : 'not in a call';
  }

  function keyOf(uid) {
    return uid === 'local' ? 'local' : String(uid);
  }

  /** The tile key of a user's (or our) screen share: the substream. */
  function subKeyOf(uid) {
    return `${keyOf(uid)}:sub`;
  }

  function currentMode() {
    return Number($('mode').value) || 0;
  }

  function parseResolution(s) {
    const m = /^(\d+)x(\d+)@(\d+)$/.exec(String(s || ''));
    return m ? { width: Number(m[1]), height: Number(m[2]), framerate: Number(m[3]) } : null;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error(`cannot load ${src}`));
      document.head.appendChild(s);
    });
  }

  /** renderer.js for the remote bridges (the NERTC bridge require()s it). */
  async function ensureRendererScript() {
    if (root.NERtcRenderer) return;
    await loadScript(params.get('renderer') || '../renderer.js');
    if (!root.NERtcRenderer) throw new Error('renderer.js did not define window.NERtcRenderer');
  }

  async function pickBridge() {
    const options = { preferWebGL: params.get('webgl') !== '0' };
    const wsUrl = params.get('bridge');
    if (wsUrl) {
      await ensureRendererScript();
      return NS.createWsBridge(wsUrl, options);
    }
    if (root.nertcSecure) {
      await ensureRendererScript();
      return NS.createSecureBridge(root.nertcSecure, options);
    }
    if (typeof root.require === 'function') {
      return NS.createNertcBridge({ ...options, sdkPath: params.get('sdk') || null });
    }
    throw new Error('no engine: open this page in the Electron demo (npm run demo), or through the test bridge (?bridge=ws://…)');
  }

  // -------------------------------------------------------------------------------------------
  // Tiles

  function createTile(key, label) {
    const frag = $('tileTemplate').content.cloneNode(true);
    const el = frag.querySelector('.tile');
    el.id = `tile-${key}`;
    el.dataset.key = key;
    const tile = {
      key,
      el,
      videoEl: el.querySelector('.video'),
      placeholder: el.querySelector('.placeholder'),
      nameEl: el.querySelector('.name'),
      statsEl: el.querySelector('.stats'),
      chart: el.querySelector('.chart'),
      bound: false,
      stats: { width: 0, height: 0, fps: null, kbps: null, lost: null, quality: null },
      history: { kbps: [], fps: [] },
      renderFrames: 0,
      renderFps: 0,
      lastRenderer: null,
    };
    tile.nameEl.textContent = label;
    const share = key.endsWith(':sub');
    el.classList.toggle('share', share);
    tile.placeholder.textContent = share ? 'starting screen share…' : key === 'local' ? 'camera off' : 'no video';
    if (key === 'local') $('grid').prepend(el);
    else if (key === 'local:sub') state.tiles.get('local').el.after(el);
    else $('grid').appendChild(el);
    state.tiles.set(key, tile);
    renderStats(tile);
    return tile;
  }

  function ensureRemoteTile(uid) {
    const key = keyOf(uid);
    return state.tiles.get(key) || createTile(key, `uid ${uid}`);
  }

  async function bindTile(tile) {
    const code = await bridge.bindView(tile.key, tile.videoEl, { mode: currentMode() });
    tile.bound = code === 0;
    if (tile.key === 'local') updateLocalTile();
    else tile.el.classList.toggle('has-video', tile.bound);
    if (code !== 0) log(`bindView(${tile.key}) ->`, code);
    return code;
  }

  async function unbindTile(tile) {
    tile.bound = false;
    tile.el.classList.remove('has-video');
    try {
      await bridge.bindView(tile.key, null);
    } catch (e) {
      log(`unbind ${tile.key} failed:`, String(e && e.message));
    }
  }

  async function removeRemoteTile(uid) {
    const key = keyOf(uid);
    const tile = state.tiles.get(key);
    if (!tile || key === 'local') return;
    state.tiles.delete(key);
    tile.el.remove();
    await unbindTile(tile);
  }

  async function removeAllRemoteTiles() {
    for (const key of [...state.tiles.keys()]) if (!key.startsWith('local')) await removeRemoteTile(key);
  }

  // -------------------------------------------------------------------------------------------
  // Screen sharing (the substream)

  /** A BGRA thumbnail ({buffer, width, height}) drawn on a new canvas. */
  function bgraCanvas(img) {
    const c = document.createElement('canvas');
    if (!img || !img.width || !img.height) return c;
    c.width = img.width;
    c.height = img.height;
    const src = img.buffer instanceof Uint8Array ? img.buffer : Uint8Array.from(Object.values(img.buffer || {}));
    const data = new ImageData(img.width, img.height);
    for (let i = 0; i + 3 < src.length && i + 3 < data.data.length; i += 4) {
      data.data[i] = src[i + 2];
      data.data[i + 1] = src[i + 1];
      data.data[i + 2] = src[i];
      data.data[i + 3] = 255;
    }
    c.getContext('2d').putImageData(data, 0, 0);
    return c;
  }

  /** Lists displays and windows with their thumbnails; picking one starts the share. */
  async function openSharePicker() {
    const list = (await bridge.call('enumerateScreenCaptureSourceInfo', 320, 180, 32, 32)) || [];
    const box = $('shareSources');
    box.textContent = '';
    $('shareNote').textContent = list.length ? '' : 'Nothing to share here (screen capture works on X11 only for now).';
    for (const s of list) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'source';
      b.dataset.sourceId = String(s.sourceId);
      b.dataset.type = String(s.type);
      b.appendChild(bgraCanvas(s.thumbBGRA));
      const title = document.createElement('span');
      title.className = 'title';
      title.textContent = `${s.type === 1 ? 'Screen' : 'Window'}: ${s.sourceName}${s.isMinimizeWindow ? ' (minimized)' : ''}`;
      b.appendChild(title);
      b.addEventListener('click', () => {
        $('sharePicker').close();
        startShare(s);
      });
      box.appendChild(b);
    }
    if (typeof $('sharePicker').showModal === 'function') $('sharePicker').showModal();
    return list;
  }

  async function startShare(source) {
    const param = { profile: 3, dimensions: { width: 1920, height: 1080 }, frame_rate: 15, capture_mouse_cursor: true };
    const method = source.type === 1 ? 'startScreenCaptureByDisplayId' : 'startScreenCaptureByWindowId';
    const rc = await bridge.call(method, source.sourceId, null, param);
    log(`${method}(${source.sourceId}) ->`, rc);
    if (rc !== 0) return rc;
    state.sharing = true;
    $('share').textContent = 'Stop sharing';
    const tile = state.tiles.get('local:sub') || createTile('local:sub', `your screen · ${source.sourceName}`);
    await bindTile(tile);
    return rc;
  }

  /** Our share ended (stopped, left, or the window went away): its tile goes. */
  async function shareEnded() {
    state.sharing = false;
    $('share').textContent = 'Share screen';
    const tile = state.tiles.get('local:sub');
    if (!tile) return;
    state.tiles.delete('local:sub');
    tile.el.remove();
    await unbindTile(tile);
  }

  async function stopShare() {
    log('stopScreenCapture ->', await bridge.call('stopScreenCapture'));
    await shareEnded();
  }

  // -------------------------------------------------------------------------------------------
  // Stats overlay and chart

  function renderStats(tile) {
    const s = tile.stats;
    const parts = [];
    parts.push(s.width ? `${s.width}x${s.height}` : '—×—');
    parts.push(s.fps != null ? `${s.fps} fps` : '– fps');
    parts.push(s.kbps != null ? `${s.kbps} kbps` : '– kbps');
    parts.push(`RTT ${state.rtt != null ? `${state.rtt} ms` : '–'}`);
    if (s.lost != null) parts.push(`lost ${s.lost}`);
    if (s.quality != null) parts.push(`q${s.quality}`);
    parts.push(`draw ${tile.renderFps} fps`);
    tile.statsEl.textContent = parts.join(' · ');
    tile.el.dataset.resolution = s.width ? `${s.width}x${s.height}` : '';
    drawChart(tile);
  }

  function pushHistory(tile) {
    const h = tile.history;
    h.kbps.push(tile.stats.kbps || 0);
    h.fps.push(tile.stats.fps || 0);
    if (h.kbps.length > HISTORY) h.kbps.shift();
    if (h.fps.length > HISTORY) h.fps.shift();
  }

  function drawChart(tile) {
    const c = tile.chart;
    const dpr = root.devicePixelRatio || 1;
    const w = Math.round(c.clientWidth * dpr) || c.width;
    const h = Math.round(c.clientHeight * dpr) || c.height;
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = 'rgba(255,255,255,0.06)';
    ctx.fillRect(0, 0, w, h);
    const line = (values, max, color) => {
      if (values.length < 2) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = Math.max(1, dpr);
      ctx.beginPath();
      values.forEach((v, i) => {
        const x = (i / (HISTORY - 1)) * (w - 1);
        const y = h - 1 - (Math.min(v, max) / max) * (h - 3);
        if (i === 0) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
      });
      ctx.stroke();
    };
    const maxKbps = Math.max(100, ...tile.history.kbps) * 1.1;
    line(tile.history.kbps, maxKbps, '#3dd6d0');
    line(tile.history.fps, 60, '#f5c542');
  }

  /** Once a second: frames actually drawn per tile (from the renderer's counter). */
  function sampleRenderRates() {
    for (const tile of state.tiles.values()) {
      const r = bridge && bridge.rendererOf(tile.videoEl);
      const frames = r ? r.stats().frames : 0;
      // A re-bound view has a fresh renderer whose counter started within the last second.
      tile.renderFps = r === tile.lastRenderer ? Math.max(0, frames - tile.renderFrames) : frames;
      tile.lastRenderer = r;
      tile.renderFrames = frames;
      renderStats(tile);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Devices

  function fillSelect(select, devices, current) {
    select.textContent = '';
    for (const d of devices) {
      const o = document.createElement('option');
      o.value = d.device_id;
      o.textContent = d.device_name + (d.system_default_device ? ' (default)' : '') + (d.suspected_unavailable ? ' (unavailable?)' : '');
      select.appendChild(o);
    }
    if (current && devices.some((d) => d.device_id === current)) select.value = current;
  }

  async function refreshDevices() {
    const [rec, play, cams] = await Promise.all([
      bridge.call('enumerateRecordDevices'),
      bridge.call('enumeratePlayoutDevices'),
      bridge.call('enumerateVideoCaptureDevices'),
    ]);
    const [curRec, curPlay, curCam] = await Promise.all([
      bridge.call('getRecordDevice'),
      bridge.call('getPlayoutDevice'),
      bridge.call('getVideoDevice'),
    ]);
    fillSelect($('recordDevice'), rec || [], curRec);
    fillSelect($('playoutDevice'), play || [], curPlay);
    fillSelect($('videoDevice'), cams || [], curCam);
    log('devices:', { record: (rec || []).length, playout: (play || []).length, video: (cams || []).length });
  }

  async function setDevice(method, select) {
    const code = await bridge.call(method, select.value);
    log(`${method}(${select.value}) ->`, code);
  }

  // -------------------------------------------------------------------------------------------
  // Channel

  async function applyVideoConfig() {
    const r = parseResolution($('resolution').value);
    if (!r) return 0;
    return bridge.call('setVideoConfig', r);
  }

  async function join() {
    const server = $('server').value.trim();
    const channel = $('channel').value.trim();
    const uid = Number($('uid').value.trim());
    const token = $('token').value.trim() || null;
    if (!channel) return setStatus('error', 'channel name required');
    if (!Number.isSafeInteger(uid) || uid <= 0) return setStatus('error', 'uid must be a positive integer');
    setStatus('joining', 'joining…');
    try {
      if (server) {
        const c = await bridge.call('setParameters', { server_url: server });
        if (c !== 0) log('setParameters(server_url) ->', c);
      }
      await applyVideoConfig();
      await bridge.call('setLocalVideoMirrorMode', $('mirror').checked ? 1 : 2);
      await bridge.call('enableLocalAudio', $('mic').checked);
      await bridge.call('enableLocalVideo', $('camera').checked);
      state.uid = uid;
      state.channel = channel;
      const rc = await bridge.call('joinChannel', token, channel, uid);
      log(`joinChannel(${channel}, ${uid}) ->`, rc);
      if (rc !== 0) {
        setStatus('error', `join failed: ${rc}`);
        return;
      }
      state.tiles.get('local').nameEl.textContent = `you · ${uid}`;
    } catch (e) {
      setStatus('error', `join failed: ${e && e.message}`);
    }
  }

  async function leave() {
    try {
      const rc = await bridge.call('leaveChannel');
      log('leaveChannel ->', rc);
    } catch (e) {
      log('leaveChannel failed:', String(e && e.message));
    }
    await removeAllRemoteTiles();
    await shareEnded();
    setStatus('idle', 'idle');
    // Start the local tile afresh: no frozen last frame from the call.
    const local = state.tiles.get('local');
    local.stats = { width: 0, height: 0, fps: null, kbps: null, lost: null, quality: null };
    local.history.kbps.length = 0;
    local.history.fps.length = 0;
    state.rtt = null;
    $('rtcStats').textContent = '';
    await bindTile(local);
    renderStats(local);
  }

  // -------------------------------------------------------------------------------------------
  // Engine events

  function wireEvents() {
    const on = (name, cb) =>
      bridge.on(name, (...args) => {
        try {
          cb(...args);
        } catch (e) {
          log(`handler ${name} threw:`, String(e && e.stack));
        }
      });
    const quiet = new Set(['onRtcStats', 'onLocalVideoStats', 'onRemoteVideoStats', 'onRemoteAudioStats', 'onLocalAudioStats', 'onNetworkQuality', 'onRemoteAudioVolumeIndication', 'onLocalAudioVolumeIndication']);
    const logged = ['onError', 'onWarning', 'onJoinChannel', 'onRejoinChannel', 'onLeaveChannel', 'onDisconnect', 'onReconnectingStart', 'onConnectionStateChange', 'onUserJoined', 'onUserLeft', 'onUserAudioStart', 'onUserAudioStop', 'onUserAudioMute', 'onUserVideoStart', 'onUserVideoStop', 'onUserVideoMute', 'onFirstVideoFrameDecoded', 'onFirstAudioFrameDecoded', 'onUserSubStreamVideoStart', 'onUserSubStreamVideoStop', 'onScreenCaptureStatus', 'onAudioDeviceStateChanged', 'onVideoDeviceStateChanged', 'onBridgeClosed'];
    for (const name of logged) if (!quiet.has(name)) on(name, (...args) => log(name, ...args));

    // A camera plugged in or removed (seen within 2 s): the picker shows the new list.
    on('onVideoDeviceStateChanged', () => {
      refreshDevices().catch((e) => log('refreshDevices failed:', String(e)));
    });

    on('onJoinChannel', (cid, uid, result) => {
      if (result === 0) {
        state.cid = cid;
        setStatus('joined', `joined ${state.channel} as ${uid}`);
      } else {
        setStatus('error', `join failed: ${result}`);
      }
    });
    on('onRejoinChannel', (_cid, _uid, result) => {
      if (result === 0 && state.phase !== 'idle') setStatus('joined', `joined ${state.channel} as ${state.uid} (rejoined)`);
    });
    on('onLeaveChannel', () => {
      // A late onLeaveChannel of an earlier call must not tear down a new one.
      if (state.phase === 'joining' || state.phase === 'joined') return;
      setStatus('idle', 'idle');
      removeAllRemoteTiles();
    });
    on('onDisconnect', (reason) => {
      setStatus('error', `disconnected (${reason})`);
      removeAllRemoteTiles();
    });
    on('onReconnectingStart', () => setStatus('joining', 'reconnecting…'));
    on('onError', (code, msg) => {
      if (state.phase === 'joining') setStatus('error', `error ${code}: ${msg}`);
    });
    on('onBridgeClosed', () => setStatus('error', 'engine bridge closed'));

    on('onUserJoined', (uid) => ensureRemoteTile(uid));
    on('onUserLeft', (uid) => {
      removeRemoteTile(uid);
      removeRemoteTile(subKeyOf(uid));
    });
    // A user's screen share is their substream: its own tile.
    on('onUserSubStreamVideoStart', async (uid) => {
      const key = subKeyOf(uid);
      const tile = state.tiles.get(key) || createTile(key, `uid ${uid} · screen`);
      await bindTile(tile);
      const rc = await bridge.call('subscribeRemoteVideoSubStream', uid, true);
      if (rc !== 0) log(`subscribeRemoteVideoSubStream(${uid}) ->`, rc);
    });
    on('onUserSubStreamVideoStop', (uid) => removeRemoteTile(subKeyOf(uid)));
    on('onScreenCaptureStatus', (status) => {
      // 4 stopped, 6 the shared window went away.
      if (status === 4 || status === 6) shareEnded();
    });
    on('onUserVideoStart', async (uid) => {
      const tile = ensureRemoteTile(uid);
      tile.placeholder.textContent = 'connecting video…';
      await bindTile(tile);
      const rc = await bridge.call('subscribeRemoteVideoStream', uid, 0, true);
      if (rc !== 0) log(`subscribeRemoteVideoStream(${uid}) ->`, rc);
    });
    on('onUserVideoStop', async (uid) => {
      const tile = state.tiles.get(keyOf(uid));
      if (!tile) return;
      tile.placeholder.textContent = 'video off';
      tile.stats.width = 0;
      renderStats(tile);
      await unbindTile(tile);
    });
    on('onUserVideoMute', (uid, mute) => {
      const tile = state.tiles.get(keyOf(uid));
      if (tile) tile.placeholder.textContent = mute ? 'video muted' : 'no video';
    });
    on('onFirstVideoFrameDecoded', (uid, width, height, streamType) => {
      const tile = state.tiles.get(streamType === 1 ? subKeyOf(uid) : keyOf(uid));
      if (!tile) return;
      tile.stats.width = width;
      tile.stats.height = height;
      renderStats(tile);
    });

    // Stats (every 2 s while in a channel).
    const inCall = () => state.phase === 'joined' || state.phase === 'joining';
    on('onRtcStats', (s) => {
      if (!inCall()) return; // a last report can trail leaveChannel
      const rtt = s && (s.up_rtt != null ? s.up_rtt : s.down_rtt != null ? s.down_rtt : s.rtt);
      state.rtt = typeof rtt === 'number' ? rtt : null;
      $('rtcStats').textContent = s
        ? `in call ${s.total_duration}s · users ${s.user_count} · tx ${s.tx_video_kbitrate + s.tx_audio_kbitrate} kbps · rx ${s.rx_video_kbitrate + s.rx_audio_kbitrate} kbps · cpu ${s.cpu_app_usage}% · mem ${Math.round((s.memory_app_kbytes || 0) / 1024)} MB`
        : '';
    });
    on('onLocalVideoStats', (s) => {
      if (!inCall()) return;
      const tile = state.tiles.get('local');
      const layer = s && s.video_layers_list && s.video_layers_list[0];
      if (!tile || !layer) return;
      Object.assign(tile.stats, {
        width: layer.width,
        height: layer.height,
        fps: layer.sent_frame_rate != null ? layer.sent_frame_rate : layer.encoder_frame_rate,
        kbps: layer.sent_bitrate,
      });
      pushHistory(tile);
      renderStats(tile);
    });
    on('onRemoteVideoStats', (_count, list) => {
      for (const s of list || []) {
        const tile = state.tiles.get(keyOf(s.uid));
        const layer = s.video_layers_list && s.video_layers_list[0];
        if (!tile || !layer) continue;
        Object.assign(tile.stats, {
          width: layer.width || tile.stats.width,
          height: layer.height || tile.stats.height,
          fps: layer.decoder_frame_rate,
          kbps: layer.received_bitrate,
          lost: layer.packets_lost,
        });
        pushHistory(tile);
        renderStats(tile);
      }
    });
    on('onNetworkQuality', (_count, list) => {
      for (const q of list || []) {
        const tile = state.tiles.get(q.uid === state.uid ? 'local' : keyOf(q.uid));
        if (tile) tile.stats.quality = Math.max(q.tx_quality || 0, q.rx_quality || 0);
      }
    });
  }

  // -------------------------------------------------------------------------------------------
  // Controls

  function wireControls() {
    $('joinForm').addEventListener('submit', (e) => {
      e.preventDefault();
      join();
    });
    $('leave').addEventListener('click', () => leave());
    $('mic').addEventListener('change', async () => {
      log('enableLocalAudio ->', await bridge.call('enableLocalAudio', $('mic').checked));
    });
    $('camera').addEventListener('change', async () => {
      const on = $('camera').checked;
      const local = state.tiles.get('local');
      updateLocalTile();
      if (!on) local.stats.width = 0;
      log('enableLocalVideo ->', await bridge.call('enableLocalVideo', on));
    });
    $('mirror').addEventListener('change', async () => {
      log('setLocalVideoMirrorMode ->', await bridge.call('setLocalVideoMirrorMode', $('mirror').checked ? 1 : 2));
    });
    $('mode').addEventListener('change', async () => {
      // NERTC changes a canvas's scaling mode by setting the canvas up again.
      for (const tile of state.tiles.values()) if (tile.bound) await bindTile(tile);
    });
    $('resolution').addEventListener('change', async () => {
      log('setVideoConfig ->', await applyVideoConfig());
      if ((state.phase === 'joined' || state.phase === 'joining') && $('camera').checked) {
        // The capture size is fixed while capturing: restart local video to apply it.
        await bridge.call('enableLocalVideo', false);
        await bridge.call('enableLocalVideo', true);
      }
    });
    $('overlays').addEventListener('change', () => document.body.classList.toggle('no-overlays', !$('overlays').checked));
    $('recordDevice').addEventListener('change', () => setDevice('setRecordDevice', $('recordDevice')));
    $('playoutDevice').addEventListener('change', () => setDevice('setPlayoutDevice', $('playoutDevice')));
    $('videoDevice').addEventListener('change', () => setDevice('setVideoDevice', $('videoDevice')));
    $('refreshDevices').addEventListener('click', () => refreshDevices());
    $('share').addEventListener('click', () => (state.sharing ? stopShare() : openSharePicker()));
  }

  function applyQueryDefaults(info) {
    $('server').value = params.get('server') || (info && info.serverUrl) || DEFAULT_SERVER;
    if (params.get('channel')) $('channel').value = params.get('channel');
    $('uid').value = params.get('uid') || String(1000 + Math.floor(Math.random() * 9000));
    if (params.get('token')) $('token').value = params.get('token');
    if (params.has('camera')) $('camera').checked = params.get('camera') !== '0';
    if (params.has('mic')) $('mic').checked = params.get('mic') !== '0';
    if (params.has('mirror')) $('mirror').checked = params.get('mirror') !== '0';
    if (params.get('res') && parseResolution(params.get('res'))) {
      const v = params.get('res');
      if (![...$('resolution').options].some((o) => o.value === v)) {
        const o = document.createElement('option');
        o.value = v;
        o.textContent = v;
        $('resolution').appendChild(o);
      }
      $('resolution').value = v;
    }
    if (['0', '1', '2'].includes(params.get('mode'))) $('mode').value = params.get('mode');
  }

  // -------------------------------------------------------------------------------------------
  // Start-up

  async function init() {
    wireControls();
    bridge = await pickBridge();
    const info = bridge.info || {};
    $('bridgeInfo').textContent = `${bridge.kind} mode · ${info.transport || ''} · SDK ${info.version || ''} · ${params.get('webgl') === '0' ? '2D canvas' : 'WebGL'}`;
    applyQueryDefaults(info);
    wireEvents();
    const rc = await bridge.call('initialize', {
      app_key: params.get('app_key') || 'nertc-demo',
      log_level: 3,
      server_config: { channel_server: $('server').value.trim() || DEFAULT_SERVER },
    });
    log('initialize ->', rc);
    if (rc !== 0) throw new Error(`initialize returned ${rc}`);
    await refreshDevices();
    await bridge.call('setLocalVideoMirrorMode', $('mirror').checked ? 1 : 2);
    const local = createTile('local', 'you');
    await bindTile(local);
    setInterval(sampleRenderRates, 1000);
    setStatus('idle', 'idle');
    demo.ready = true;
    if (params.get('autojoin') === '1') await join();
  }

  // Release the engine with the page (NERTC mode keeps it in this renderer; a reload must not
  // leave a native engine calling into a dead context).
  root.addEventListener('beforeunload', () => {
    if (bridge && bridge.kind === 'nertc') {
      try {
        bridge.engine.release();
      } catch {
        // nothing left to do
      }
    }
  });

  /** Introspection for tests and the smoke test (not part of the demo's UI). */
  const demo = {
    ready: false,
    error: null,
    state,
    get bridge() {
      return bridge;
    },
    get logLines() {
      return logLines.slice();
    },
    keys: () => [...state.tiles.keys()],
    /** The share picker's sources (opens it), and sharing one by id (what a click does). */
    openSharePicker: () => openSharePicker(),
    share: (source) => startShare(source),
    stopShare: () => stopShare(),
    renderer(key) {
      const tile = state.tiles.get(keyOf(key));
      return tile && bridge ? bridge.rendererOf(tile.videoEl) : null;
    },
    backend(key) {
      const r = demo.renderer(key);
      return r ? r.backend : null;
    },
    frames(key) {
      const r = demo.renderer(key);
      return r ? r.stats().frames : 0;
    },
    frameSize(key) {
      const tile = state.tiles.get(keyOf(key));
      return tile && bridge ? bridge.frameSize(tile.videoEl) : null;
    },
    frameCounts() {
      const out = {};
      for (const key of state.tiles.keys()) out[key] = demo.frames(key);
      return out;
    },
  };
  root.demo = demo;

  init().catch((e) => {
    demo.error = String((e && e.message) || e);
    log('start-up failed:', String((e && e.stack) || e));
    setStatus('error', demo.error);
  });
})(typeof window !== 'undefined' ? window : globalThis);
