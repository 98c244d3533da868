'use strict';
// The demo's Electron main process.
//
//   electron . [--mode=nertc|secure] [--embedded-server] [--windows=N] [--call]
//              [--server=ws://HOST:PORT] [--webgl=0] [--smoke]
//
// Modes (also NERTC_DEMO_MODE):
//   nertc   (default) NERTC's own setup: nodeIntegration: true, contextIsolation: false; the
//           page require()s the SDK and creates the engine itself (renderer/bridge-nertc.js).
//   secure  contextIsolation: true, sandbox: true, no Node in the page. The engine lives here,
//           in the main process (host.js, one per window); calls and events go over IPC
//           (preload.js), frames over a MessagePort (MessageChannelMain) with at most two frames
//           in flight per stream, acknowledged by the page (renderer/bridge-secure.js).
//
// --embedded-server (NERTC_DEMO_EMBEDDED_SERVER=1) starts the room server in this process;
// --call = embedded server + two windows (uids 1001, 1002) that join channel "demo" at once.
// --smoke: used by smoke.js: hidden window, embedded server, a second participant in this
// process, checks frames are drawn before and after a reload, exits 0 or 1.

const path = require('node:path');
const { app, BrowserWindow, ipcMain, MessageChannelMain } = require('electron');
const { EngineHost, loadSdk, resolveSdkDir } = require('./host');

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const out = {};
  for (const a of argv) {
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(a);
    if (m) out[m[1]] = m[2] === undefined ? true : m[2];
  }
  return out;
}

const args = parseArgs(process.argv.slice(1));
const env = process.env;
const MODE = String(args.mode || env.NERTC_DEMO_MODE || 'nertc').toLowerCase();
const SMOKE = !!args.smoke || env.NERTC_DEMO_SMOKE === '1';
const CALL = !!args.call || env.NERTC_DEMO_CALL === '1';
const EMBEDDED = SMOKE || CALL || !!args['embedded-server'] || env.NERTC_DEMO_EMBEDDED_SERVER === '1';
const WINDOWS = Math.max(1, Math.min(4, Number(CALL ? 2 : args.windows || env.NERTC_DEMO_WINDOWS || 1) || 1));
const WEBGL = String(args.webgl || env.NERTC_DEMO_WEBGL || '1') !== '0';
const CHANNEL = String(args.channel || (SMOKE ? `smoke-${process.pid}` : 'demo'));

if (MODE !== 'nertc' && MODE !== 'secure') {
  console.error(`unknown mode "${MODE}": use --mode=nertc or --mode=secure`);
  process.exit(2);
}

if (SMOKE) {
  // Hidden windows on machines without a GPU: WebGL through SwiftShader, no GPU process crash.
  app.commandLine.appendSwitch('enable-unsafe-swiftshader');
  app.commandLine.appendSwitch('disable-gpu-sandbox');
}

const state = {
  serverUrl: args.server && args.server !== true ? String(args.server) : env.NERTC_SERVER_URL || null,
  roomServer: null,
  windows: new Set(),
  hosts: new Map(), // webContents id -> {host, port}
  sdk: null,
};

function sdk() {
  if (!state.sdk) state.sdk = loadSdk().sdk;
  return state.sdk;
}

// ---------------------------------------------------------------------------------------------
// Secure mode: one engine host per window, IPC for calls/events, a MessagePort for frames

function disposeHost(id) {
  const h = state.hosts.get(id);
  if (!h) return;
  state.hosts.delete(id);
  h.host.dispose();
  try {
    h.port.close();
  } catch {
    // already closed
  }
}

/** Only the top frame of one of the demo's own windows may drive an engine. */
function ownWindowSender(event) {
  const win = BrowserWindow.fromWebContents(event.sender);
  const frame = event.senderFrame;
  return !!win && state.windows.has(win) && !!frame && !frame.parent;
}

function setupSecureIpc() {
  const watched = new Set();
  ipcMain.handle('nertc:hello', (event) => {
    if (!ownWindowSender(event)) throw new Error('not a demo window');
    const wc = event.sender;
    const id = wc.id;
    disposeHost(id); // a reload: the old page's engine goes with it
    const { port1, port2 } = new MessageChannelMain();
    const host = new EngineHost(
      sdk(),
      {
        event: (name, eventArgs) => {
          if (!wc.isDestroyed()) wc.send('nertc:event', name, eventArgs);
        },
        // The SDK's planes are reused for the next frame; postMessage serializes (copies) them
        // now, into the message that crosses to the renderer process. The message object itself
        // is reused per binding, so a frame allocates nothing on the JS heap here.
        frame: (binding, f) => {
          let m = binding.message;
          if (!m) {
            m = { t: 'f', key: binding.key, gen: binding.gen, width: 0, height: 0, strides: { y: 0, u: 0, v: 0 }, mirrored: false, timestamp: 0, y: null, u: null, v: null };
            binding.message = m;
          }
          m.width = f.width;
          m.height = f.height;
          m.strides.y = f.strides.y;
          m.strides.u = f.strides.u;
          m.strides.v = f.strides.v;
          m.mirrored = !!f.mirrored;
          m.timestamp = f.timestamp;
          m.y = f.y;
          m.u = f.u;
          m.v = f.v;
          try {
            port1.postMessage(m);
          } finally {
            m.y = m.u = m.v = null;
          }
          return true;
        },
      },
      { appKey: 'nertc-demo', serverUrl: state.serverUrl, logDir: path.join(app.getPath('userData'), 'logs'), logLevel: 3 },
    );
    port1.on('message', (e) => {
      const d = e.data;
      if (d && d.op === 'ack') host.ack(d.key, d.gen);
    });
    port1.start();
    state.hosts.set(id, { host, port: port1 });
    if (!watched.has(id)) {
      watched.add(id);
      wc.once('destroyed', () => {
        watched.delete(id);
        disposeHost(id);
      });
    }
    wc.postMessage('nertc:port', null, [port2]);
    return { serverUrl: state.serverUrl, version: host.engine.getVersion(), mode: 'secure' };
  });

  ipcMain.handle('nertc:op', (event, msg) => {
    if (!ownWindowSender(event)) throw new Error('not a demo window');
    const h = state.hosts.get(event.sender.id);
    if (!h) throw new Error('no engine for this page: call hello first');
    if (!msg || msg.op === 'ack') throw new Error('bad message');
    return h.host.handle(msg);
  });
}

// ---------------------------------------------------------------------------------------------
// Windows

function createWindow(index) {
  const secure = MODE === 'secure';
  const query = { webgl: WEBGL ? '1' : '0', channel: CHANNEL };
  if (state.serverUrl) query.server = state.serverUrl;
  if (!secure) query.sdk = resolveSdkDir();
  if (CALL || SMOKE) {
    query.uid = String(1001 + index);
    query.autojoin = '1';
    query.res = '320x240@15';
  }
  const win = new BrowserWindow({
    width: CALL ? 960 : 1280,
    height: 860,
    x: CALL ? 20 + index * 980 : undefined,
    y: CALL ? 40 : undefined,
    show: !SMOKE,
    title: `NERTC demo (${MODE}${CALL ? `, uid ${1001 + index}` : ''})`,
    backgroundColor: '#15171c',
    webPreferences: secure
      ? { contextIsolation: true, nodeIntegration: false, sandbox: true, preload: path.join(__dirname, 'preload.js'), backgroundThrottling: false }
      : { contextIsolation: false, nodeIntegration: true, sandbox: false, backgroundThrottling: false },
  });
  state.windows.add(win);
  win.on('closed', () => state.windows.delete(win));
  win.webContents.on('render-process-gone', (_e, details) => console.error(`[nertc-demo] renderer gone: ${details.reason} (${details.exitCode})`));
  win.webContents.on('console-message', (...a) => {
    // Electron ≥ 35 passes one event object; older versions (event, level, message, line, source).
    const e = a[0];
    const level = e && e.level !== undefined ? e.level : a[1];
    const message = e && e.message !== undefined ? e.message : a[2];
    if (level === 'error' || level === 3) console.error(`[renderer] ${message}`);
  });
  win.loadFile(path.join(__dirname, 'index.html'), { query });
  return win;
}

// ---------------------------------------------------------------------------------------------
// Smoke test (driven by smoke.js)

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function pollFrames(wc, label, remoteKey, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    if (wc.isDestroyed()) throw new Error(`${label}: the window is gone`);
    last = await wc.executeJavaScript('window.demo ? { ready: window.demo.ready, error: window.demo.error, frames: window.demo.frameCounts(), phase: window.demo.state.phase, backend: window.demo.backend("local") } : null', true);
    if (last && last.error) throw new Error(`${label}: page error: ${last.error}`);
    if (last && last.ready && last.frames.local > 0 && last.frames[remoteKey] > 0) return last;
    await sleep(500);
  }
  throw new Error(`${label}: no frames drawn within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

async function runSmoke(win) {
  const wc = win.webContents;
  const result = { mode: MODE, steps: [] };
  let gone = null;
  wc.on('render-process-gone', (_e, d) => {
    gone = d.reason;
  });
  const { NERtcEngine } = sdk();
  const peerUid = 2002;
  const peer = new NERtcEngine();
  try {
    let rc = peer.initialize({ app_key: 'nertc-demo', log_level: 2, server_config: { channel_server: state.serverUrl } });
    if (rc !== 0) throw new Error(`peer initialize -> ${rc}`);
    peer.setVideoConfig({ width: 320, height: 240, framerate: 15 });
    peer.enableLocalVideo(true);
    rc = peer.joinChannel(null, CHANNEL, peerUid);
    if (rc !== 0) throw new Error(`peer joinChannel -> ${rc}`);

    if (wc.isLoading()) await new Promise((r) => wc.once('did-finish-load', r));
    result.steps.push({ step: 'first load', ...(await pollFrames(wc, 'first load', String(peerUid), 45000)) });

    // A reload destroys the page's JS context while frames and events are in flight: the
    // engine must neither crash the renderer (NERTC mode) nor the main process (secure mode).
    const loaded = new Promise((r) => wc.once('did-finish-load', r));
    wc.reload();
    await loaded;
    result.steps.push({ step: 'after reload', ...(await pollFrames(wc, 'after reload', String(peerUid), 45000)) });
    if (gone) throw new Error(`renderer process gone: ${gone}`);
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.error = String((e && e.message) || e);
    if (gone) result.rendererGone = gone;
  } finally {
    peer.release();
  }
  console.log(`SMOKE-RESULT ${JSON.stringify(result)}`);
  return result.ok;
}

// ---------------------------------------------------------------------------------------------
// Start

async function main() {
  await app.whenReady();
  if (EMBEDDED && !state.serverUrl) {
    state.roomServer = new (sdk().NERtcServer)();
    state.serverUrl = await state.roomServer.start();
    console.log(`[nertc-demo] embedded room server at ${state.serverUrl}`);
  }
  if (MODE === 'secure') setupSecureIpc();
  const wins = [];
  for (let i = 0; i < (SMOKE ? 1 : WINDOWS); i++) wins.push(createWindow(i));
  if (SMOKE) {
    const timeout = setTimeout(() => {
      console.log(`SMOKE-RESULT ${JSON.stringify({ mode: MODE, ok: false, error: 'timed out' })}`);
      app.exit(1);
    }, 150000);
    const ok = await runSmoke(wins[0]);
    clearTimeout(timeout);
    await shutdown();
    app.exit(ok ? 0 : 1);
  }
}

let shuttingDown = null;
function shutdown() {
  if (!shuttingDown) {
    shuttingDown = (async () => {
      for (const id of [...state.hosts.keys()]) disposeHost(id);
      if (state.roomServer) {
        try {
          await state.roomServer.stop();
        } catch {
          // stopping anyway
        }
      }
    })();
  }
  return shuttingDown;
}

app.on('window-all-closed', () => {
  shutdown().finally(() => app.quit());
});

main().catch((e) => {
  console.error(`[nertc-demo] ${(e && e.stack) || e}`);
  if (SMOKE) console.log(`SMOKE-RESULT ${JSON.stringify({ mode: MODE, ok: false, error: String((e && e.message) || e) })}`);
  app.exit(1);
});
