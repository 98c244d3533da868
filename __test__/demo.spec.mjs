// The Electron demo's page (electron-demo/index.html + renderer/app.js) in headless Chromium,
// with its engine hosted by the test bridge (electron-demo/test-bridge/server.js: a Node
// process running the addon, an embedded NERtcServer, and a WebSocket carrying calls, events
// and I420 frames to renderer/bridge-ws.js). A second participant is an engine in this test
// process. Checked on canvas pixels: the local and the remote tile show the synthetic camera's
// test pattern (colour bars in order, the stamp in its corner) with the right geometry for
// each scaling mode (fit letterboxes a 4:3 picture in a 16:9 tile), the local tile mirrored
// when asked; the stats overlay; remote tiles going away when the other side leaves or we
// leave; WebGL and the 2D fallback; a lost WebGL context recovering; screen sharing (the spec
// starts an Xvfb with a white root window for the engines to capture): the source picker's
// thumbnails, our share and a peer's share each in their own tile next to the cameras.
//
// Needs the addon (npm run build:debug) and Chromium (scripts/chromium.mjs, CHROMIUM_BIN). Run inside a
// loopback-only network namespace:  ./scripts/netns.sh npx ava __test__/demo.spec.mjs
// Screenshots: test-artifacts/demo-*.png.

import test from 'ava';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../scripts/chromium.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const BRIDGE = path.join(ROOT, 'electron-demo', 'test-bridge', 'server.js');
const require = createRequire(import.meta.url);

const APP_KEY = 'nertc-demo'; // the page's default app key: same key, same room
const RES = { width: 480, height: 360, framerate: 15 }; // 4:3, in 16:9 tiles
const RES_OPTION = '480x360@15';

const state = { bridge: null, info: null, bridgeOut: [], chromium: null, sdk: null, peers: new Set() };
let channelSeq = 0;
const channelName = (tag) => `demo-${tag}-${process.pid}-${++channelSeq}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The test bridge (child process) and Chromium

function startBridge() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BRIDGE, '--exit-with-stdin'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    state.bridge = child;
    let buf = '';
    const keep = (chunk) => {
      for (const line of chunk.toString().split('\n')) if (line) state.bridgeOut.push(line);
      if (state.bridgeOut.length > 300) state.bridgeOut.splice(0, state.bridgeOut.length - 300);
    };
    const timer = setTimeout(() => reject(new Error(`test bridge did not start within 20 s:\n${state.bridgeOut.join('\n')}`)), 20_000);
    child.stdout.on('data', (chunk) => {
      keep(chunk);
      if (state.info) return;
      buf += chunk.toString();
      const m = /NERTC-BRIDGE (\{.*\})/.exec(buf);
      if (m) {
        clearTimeout(timer);
        state.info = JSON.parse(m[1]);
        resolve();
      }
    });
    child.stderr.on('data', keep);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      state.bridgeOut.push(`[test bridge exited: code ${code} signal ${signal}]`);
      if (!state.info) reject(new Error(`test bridge exited early:\n${state.bridgeOut.join('\n')}`));
    });
  });
}

/** Xvfb (1280x720, white root) on a free display; DISPLAY is set for the bridge and the peers. */
async function startXvfb() {
  let n = 300;
  while (fs.existsSync(`/tmp/.X${n}-lock`)) n++;
  const proc = spawn('Xvfb', [`:${n}`, '-screen', '0', '1280x720x24', '-wr', '-nolisten', 'tcp'], { stdio: 'ignore' });
  const end = Date.now() + 10_000;
  while (!fs.existsSync(`/tmp/.X11-unix/X${n}`)) {
    if (Date.now() > end || proc.exitCode !== null) throw new Error('Xvfb did not start (apt install xvfb; scripts/setup.sh)');
    await sleep(50);
  }
  process.env.DISPLAY = `:${n}`;
  return proc;
}

test.before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  state.sdk = require('../index.js').default;
  state.xvfb = await startXvfb();
  await startBridge();
  // WebGL through SwiftShader with --disable-gpu (see renderer.spec.mjs).
  state.chromium = await launchChromium({ name: 'demo', viewport: { width: 1320, height: 1000 }, deviceScaleFactor: 1 });
});

test.after.always(async () => {
  for (const p of state.peers) p.release();
  state.peers.clear();
  await state.chromium?.close();
  state.xvfb?.kill();
  if (state.bridge && state.bridge.exitCode === null) {
    const exited = new Promise((r) => state.bridge.once('exit', r));
    state.bridge.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (state.bridge.exitCode === null) state.bridge.kill('SIGKILL');
  }
});

test.afterEach.always(() => {
  for (const p of state.peers) p.release();
  state.peers.clear();
});

/** A second participant in this process: camera (test pattern) on, in `channel` as `uid`. */
async function startPeer(channel, uid) {
  const { NERtcEngine } = state.sdk;
  const e = new NERtcEngine();
  state.peers.add(e);
  const joined = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer ${uid}: no onJoinChannel within 20 s`)), 20_000);
    e.once('onJoinChannel', (_cid, _uid, result) => {
      clearTimeout(timer);
      if (result === 0) resolve();
      else reject(new Error(`peer ${uid}: join result ${result}`));
    });
  });
  const check = (what, rc) => {
    if (rc !== 0) throw new Error(`peer ${uid}: ${what} -> ${rc}`);
  };
  check('initialize', e.initialize({ app_key: APP_KEY, log_level: 2, server_config: { channel_server: state.info.server } }));
  check('setVideoConfig', e.setVideoConfig(RES));
  check('enableLocalVideo', e.enableLocalVideo(true));
  check('joinChannel', e.joinChannel(null, channel, uid));
  await joined;
  return e;
}

async function openDemo(t, { webgl = true, url = null, initScript = null } = {}) {
  const page = await state.chromium.openPage(null, {
    noise: /GPU stall due to ReadPixels|willReadFrequently|Automatic fallback to software WebGL/,
    initScript,
  });
  const logs = page.logs;
  t.teardown(async () => {
    const pageLog = await page.evaluate(() => (window.demo ? window.demo.logLines.slice(-40) : [])).catch(() => []);
    if (!t.passed) {
      t.log(['--- console', ...logs, '--- demo log', ...pageLog, '--- bridge', ...state.bridgeOut.slice(-40)].join('\n'));
    }
    await page.close().catch(() => {});
  });
  await page.goto((url || state.info.page) + (webgl ? '' : '&webgl=0'));
  await page.waitForFunction(() => window.demo && (window.demo.ready || window.demo.error), null, { timeout: 20_000 });
  const err = await page.evaluate(() => window.demo.error);
  if (err) throw new Error(`demo page failed to start: ${err}`);
  page.pageErrors = () => logs.filter((l) => l.startsWith('[pageerror]'));
  return page;
}

/** Fills the form like a user and joins; resolves when the page says joined. */
async function joinFromUi(page, channel, uid, { mode = 0 } = {}) {
  await page.fill('#server', state.info.server);
  await page.fill('#channel', channel);
  await page.fill('#uid', String(uid));
  await page.selectOption('#resolution', RES_OPTION);
  await page.setChecked('#camera', true);
  await page.selectOption('#mode', String(mode));
  await page.click('#join');
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'joined', null, { timeout: 20_000 });
}

async function framesOf(page, key) {
  return page.evaluate((k) => window.demo.frames(k), key);
}

/** Waits until tile `key`'s renderer has scaling `mode` and drew `n` frames. */
async function waitMode(page, key, mode, n = 3) {
  await page.waitForFunction(
    ([k, m, c]) => {
      const r = window.demo.renderer(k);
      return !!r && r.mode === m && r.stats().frames >= c;
    },
    [key, mode, n],
    { timeout: 20_000 },
  );
}

/** Waits until tile `key` drew `n` more frames than now (or than `from`). */
async function waitFrames(page, key, n = 3, { from = null, timeout = 20_000 } = {}) {
  const base = from === null ? await framesOf(page, key) : from;
  await page.waitForFunction(([k, b, m]) => window.demo.frames(k) >= b + m, [key, base, n], { timeout });
}

// ---------------------------------------------------------------------------------------------
// Pixels: a PNG decoder (screenshots) and the test pattern's geometry

function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = 0;
  let interlace = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      depth = data[8];
      colorType = data[9];
      interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const bpp = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (depth !== 8 || interlace !== 0 || !bpp) throw new Error(`unsupported PNG: depth ${depth} colour type ${colorType} interlace ${interlace}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const px = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    for (let i = 0; i < stride; i++) {
      const x = raw[src + i];
      const a = i >= bpp ? px[dst + i - bpp] : 0;
      const b = y > 0 ? px[dst - stride + i] : 0;
      const c = i >= bpp && y > 0 ? px[dst - stride + i - bpp] : 0;
      let v;
      if (f === 0) v = x;
      else if (f === 1) v = x + a;
      else if (f === 2) v = x + b;
      else if (f === 3) v = x + ((a + b) >> 1);
      else {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        v = x + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
      px[dst + i] = v & 0xff;
    }
  }
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += bpp) {
    if (bpp >= 3) {
      rgba[i * 4] = px[j];
      rgba[i * 4 + 1] = px[j + 1];
      rgba[i * 4 + 2] = px[j + 2];
    } else {
      rgba[i * 4] = rgba[i * 4 + 1] = rgba[i * 4 + 2] = px[j];
    }
    rgba[i * 4 + 3] = 255;
  }
  return { width, height, data: rgba };
}

/** Mean RGB of the 3x3 block around (x, y), clamped to the image. */
function pixel(img, x, y) {
  const sum = [0, 0, 0];
  let n = 0;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const xx = Math.min(img.width - 1, Math.max(0, Math.round(x) + dx));
      const yy = Math.min(img.height - 1, Math.max(0, Math.round(y) + dy));
      const o = (yy * img.width + xx) * 4;
      sum[0] += img.data[o];
      sum[1] += img.data[o + 1];
      sum[2] += img.data[o + 2];
      n++;
    }
  }
  return sum.map((s) => Math.round(s / n));
}

// 75% colour bars of the synthetic camera (crates/nertc-engine/src/device/test_pattern.rs),
// BT.601 limited range → RGB.
const BARS = [
  ['white', [191, 191, 191]],
  ['yellow', [191, 191, 0]],
  ['cyan', [0, 191, 191]],
  ['green', [0, 191, 0]],
  ['magenta', [191, 0, 191]],
  ['red', [191, 0, 0]],
  ['blue', [0, 0, 191]],
];
const BAR_NAMES = BARS.map(([n]) => n);

function classify(rgb) {
  let best = null;
  let bestD = Infinity;
  for (const [name, c] of [...BARS, ['black', [0, 0, 0]]]) {
    const d = Math.hypot(rgb[0] - c[0], rgb[1] - c[1], rgb[2] - c[2]);
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return bestD <= 80 ? best : `?${rgb.join(',')}`;
}

/** Where the picture lands in a cw x ch view for each scaling mode (renderer.js's geometry). */
function pictureRect(cw, ch, w, h, mode) {
  if (mode === 1) return { x: 0, y: 0, w: cw, h: ch };
  if (mode === 2) {
    const s = Math.max(cw / w, ch / h);
    return { x: (cw - w * s) / 2, y: (ch - h * s) / 2, w: w * s, h: h * s };
  }
  const s = Math.min(cw / w, ch / h);
  const dw = Math.max(1, Math.min(cw, Math.round(w * s)));
  const dh = Math.max(1, Math.min(ch, Math.round(h * s)));
  return { x: (cw - dw) >> 1, y: (ch - dh) >> 1, w: dw, h: dh };
}

/** Stamp cell size of the pattern at w x h (test_pattern.rs: stamp_cell_size). */
function stampCell(w, h) {
  return Math.min(32, Math.max(4, Math.floor(Math.min(w, h) / 40) & ~3));
}

/**
 * Share of near-black and near-white pixels in the picture-fraction box [fx0,fx1]x[fy0,fy1]
 * (mirrored when asked), clipped to the image; null when under 40 pixels are visible.
 */
function stampStats(img, rect, mirrored, fx0, fx1, fy0, fy1) {
  const xs = [fx0, fx1].map((f) => rect.x + (mirrored ? 1 - f : f) * rect.w);
  // The outermost pixel row/column of an element screenshot can blend in the page around it
  // (fractional layout positions): leave it out.
  const x0 = Math.max(1, Math.ceil(Math.min(...xs)));
  const x1 = Math.min(img.width - 2, Math.floor(Math.max(...xs)));
  const y0 = Math.max(1, Math.ceil(rect.y + fy0 * rect.h));
  const y1 = Math.min(img.height - 2, Math.floor(rect.y + fy1 * rect.h));
  let dark = 0;
  let bright = 0;
  let n = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const o = (y * img.width + x) * 4;
      const r = img.data[o];
      const g = img.data[o + 1];
      const b = img.data[o + 2];
      if (Math.max(r, g, b) < 70) dark++;
      if (Math.min(r, g, b) > 200) bright++;
      n++;
    }
  }
  return n < 40 ? null : { dark: dark / n, bright: bright / n, n };
}

const looksLikeStamp = (s) => !!s && s.dark >= 0.08 && s.bright >= 0.08;
// A stamp is black AND white cells: a region that is only dark (the blue bar next to the
// mirrored corner, compressed) or only bright is not one.
const noStamp = (s) => !s || Math.min(s.dark, s.bright) < 0.03;


/**
 * checkPattern on fresh screenshots until one passes (at most `tries`): the test pattern's
 * bouncing checker box can cross the corner regions for a frame or two, which says nothing
 * about geometry; a real geometry or mirroring bug fails on every shot.
 */
async function checkTileEventually(t, shoot, opts, tries = 5) {
  let failures = [];
  for (let i = 0; i < tries; i++) {
    const img = await shoot();
    failures = [];
    const probe = {
      deepEqual: (a, b, m) => { if (JSON.stringify(a) !== JSON.stringify(b)) failures.push(`${m}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`); },
      true: (v, m) => { if (!v) failures.push(m); },
      is: (a, b, m) => { if (a !== b) failures.push(`${m}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`); },
      log: (...a) => t.log(...a),
    };
    checkPattern(probe, img, opts);
    if (failures.length === 0) {
      t.pass(opts.what);
      return;
    }
    await sleep(250);
  }
  t.fail(failures.join('\n'));
}

/**
 * Asserts that `img` (a screenshot of a tile's video area) shows a w x h test-pattern picture
 * placed for scaling `mode`, mirrored or not.
 */
function checkPattern(t, img, { w, h, mode, mirrored, what }) {
  const rect = pictureRect(img.width, img.height, w, h, mode);
  const at = (fx, fy) => pixel(img, rect.x + (mirrored ? 1 - fx : fx) * rect.w, rect.y + fy * rect.h);

  // Colour bars, left to right (right to left when mirrored), through the middle row.
  const seen = BARS.map((_, i) => classify(at((2 * i + 1) / 14, 0.5)));
  const want = mirrored ? [...BAR_NAMES].reverse() : BAR_NAMES;
  const seenOnScreen = mirrored ? [...seen].reverse() : seen;
  t.deepEqual(seenOnScreen, want, `${what}: colour bars (screen order)`);
  t.true(new Set(seen).size >= 6, `${what}: several distinct colours`);

  // The stamp: in the picture's top-left corner, top-right on screen when mirrored; nothing
  // like it in the other corner, right below it, or right beside it (this pins the scale).
  const cell = stampCell(w, h);
  const fw = (12 * cell) / w;
  const fh = (8 * cell) / h;
  const here = stampStats(img, rect, mirrored, 0.1 * fw, 0.9 * fw, 0.1 * fh, 0.9 * fh);
  const other = stampStats(img, rect, !mirrored, 0.1 * fw, 0.9 * fw, 0.1 * fh, 0.9 * fh);
  const below = stampStats(img, rect, mirrored, 0.1 * fw, 0.9 * fw, 1.12 * fh, 1.3 * fh);
  const beside = stampStats(img, rect, mirrored, 1.1 * fw, 1.4 * fw, 0.1 * fh, 0.9 * fh);
  t.true(looksLikeStamp(here), `${what}: stamp in the ${mirrored ? 'top-right' : 'top-left'} corner ${JSON.stringify(here)}`);
  t.true(noStamp(other), `${what}: no stamp in the ${mirrored ? 'top-left' : 'top-right'} corner ${JSON.stringify(other)}`);
  t.true(noStamp(below), `${what}: stamp ends where the geometry says (below) ${JSON.stringify(below)}`);
  t.true(noStamp(beside), `${what}: stamp ends where the geometry says (beside) ${JSON.stringify(beside)}`);

  // Letterbox (pillarbox) bars in fit mode; picture up to the edges otherwise.
  const midY = img.height / 2;
  const leftEdge = mirrored ? 'blue' : 'white';
  const rightEdge = mirrored ? 'white' : 'blue';
  if (mode === 0 && rect.x >= 8) {
    t.is(classify(pixel(img, rect.x / 2, midY)), 'black', `${what}: left letterbox bar`);
    t.is(classify(pixel(img, img.width - 1 - rect.x / 2, midY)), 'black', `${what}: right letterbox bar`);
    t.is(classify(pixel(img, rect.x + 5, midY)), leftEdge, `${what}: picture starts after the left bar`);
    t.is(classify(pixel(img, rect.x + rect.w - 6, midY)), rightEdge, `${what}: picture ends before the right bar`);
  } else {
    t.is(classify(pixel(img, 3, midY)), leftEdge, `${what}: picture reaches the left edge`);
    t.is(classify(pixel(img, img.width - 4, midY)), rightEdge, `${what}: picture reaches the right edge`);
  }
}

/** Screenshot of a tile's video area (saved when `file` is given), decoded. */
async function shootTile(page, key, file) {
  const png = await page.locator(`#tile-${key} .video`).screenshot(file ? { path: path.join(ARTIFACTS, file) } : {});
  return decodePng(png);
}

async function frameSize(page, key) {
  const s = await page.evaluate((k) => window.demo.frameSize(k), key);
  if (!s) throw new Error(`tile ${key} has no frame yet`);
  return [s.width, s.height];
}

// ---------------------------------------------------------------------------------------------
// Tests

test.serial('the demo page starts through the test bridge: engine, devices (synthetic ones listed), local tile', async (t) => {
  const page = await openDemo(t);
  const info = await page.evaluate(() => ({
    kind: window.demo.bridge.kind,
    status: document.getElementById('status').dataset.state,
    server: document.getElementById('server').value,
    keys: window.demo.keys(),
    record: [...document.querySelectorAll('#recordDevice option')].map((o) => o.value),
    playout: [...document.querySelectorAll('#playoutDevice option')].map((o) => o.value),
    video: [...document.querySelectorAll('#videoDevice option')].map((o) => o.value),
    join: document.getElementById('join').disabled,
    leave: document.getElementById('leave').disabled,
  }));
  t.is(info.kind, 'ws');
  t.is(info.status, 'idle');
  t.is(info.server, state.info.server, 'server URL prefilled from the bridge');
  t.deepEqual(info.keys, ['local']);
  t.true(info.record.includes('nertc-tone'), `record devices: ${info.record}`);
  t.true(info.playout.includes('nertc-null'), `playout devices: ${info.playout}`);
  t.true(info.video.includes('nertc-test-pattern'), `video devices: ${info.video}`);
  t.false(info.join);
  t.true(info.leave);
  // Picking a device goes through to the engine.
  await page.selectOption('#videoDevice', 'nertc-test-pattern');
  await page.waitForFunction(() => window.demo.logLines.some((l) => l.includes('setVideoDevice(nertc-test-pattern) -> 0')));
  t.deepEqual(page.pageErrors(), []);
});

for (const backend of ['webgl', '2d']) {
  test.serial(`${backend}: local and remote tiles show the test pattern in every scaling mode, mirror, stats, leave`, async (t) => {
    t.timeout(180_000);
    const webgl = backend === 'webgl';
    const page = await openDemo(t, { webgl });
    const channel = channelName(backend);
    const myUid = 3001;
    const peerUid = 3002;

    await joinFromUi(page, channel, myUid, { mode: 0 });
    await waitFrames(page, 'local', 3);
    t.is(await page.evaluate(() => window.demo.backend('local')), backend);

    // Local preview, fit mode in a 16:9 tile: letterboxed, mirrored only when asked.
    await page.setChecked('#mirror', false);
    await waitFrames(page, 'local', 4);
    let [w, h] = await frameSize(page, 'local');
    t.deepEqual([w, h], [RES.width, RES.height]);
    await checkTileEventually(t, () => shootTile(page, 'local', `demo-${backend}-local.png`), { w, h, mode: 0, mirrored: false, what: 'local, not mirrored' });
    await page.setChecked('#mirror', true);
    await waitFrames(page, 'local', 4);
    await checkTileEventually(t, () => shootTile(page, 'local', `demo-${backend}-local-mirrored.png`), { w, h, mode: 0, mirrored: true, what: 'local, mirrored' });

    // The other participant joins with its camera: a remote tile appears and shows its video.
    const peer = await startPeer(channel, peerUid);
    await page.waitForSelector(`#tile-${peerUid}`, { timeout: 20_000 });
    await waitFrames(page, String(peerUid), 5, { from: 0, timeout: 40_000 });
    t.is(await page.evaluate((k) => window.demo.backend(k), String(peerUid)), backend);
    [w, h] = await frameSize(page, String(peerUid));
    t.deepEqual([w, h], [RES.width, RES.height], 'remote frame size');

    for (const mode of [0, 1, 2]) {
      await page.selectOption('#mode', String(mode));
      // Changing the mode binds the canvases again (as NERTC apps do): fresh renderers.
      await waitMode(page, String(peerUid), mode);
      await waitMode(page, 'local', mode);
      const names = ['fit', 'fullfill', 'cropfill'];
      await checkTileEventually(t, () => shootTile(page, String(peerUid), `demo-${backend}-remote-${names[mode]}.png`), { w, h, mode, mirrored: false, what: `remote, ${names[mode]}` });
      await checkTileEventually(t, () => shootTile(page, 'local', mode === 2 ? `demo-${backend}-local-cropfill.png` : null), { w, h, mode, mirrored: true, what: `local, ${names[mode]}` });
    }
    await page.selectOption('#mode', '0');
    await waitMode(page, String(peerUid), 0, 2);

    // Stats overlay: resolution, and a bitrate from onRemoteVideoStats / onLocalVideoStats.
    await page.waitForFunction(
      (k) => /\b480x360 · [1-9]\d* fps · [1-9]\d* kbps · RTT .* · draw [1-9]\d* fps/.test(document.querySelector(`#tile-${k} .stats`).textContent),
      String(peerUid),
      { timeout: 20_000 },
    );
    await page.waitForFunction(() => /\b480x360 · [1-9]\d* fps · [1-9]\d* kbps/.test(document.querySelector('#tile-local .stats').textContent), null, { timeout: 20_000 });
    const overlay = await page.evaluate((k) => document.querySelector(`#tile-${k} .stats`).textContent, String(peerUid));
    t.regex(overlay, /480x360 · [1-9]\d* fps · [1-9]\d* kbps · RTT/);
    // The live chart: bitrate and fps lines once two stats reports are in.
    await page.waitForFunction((k) => window.demo.state.tiles.get(k).history.kbps.length >= 2, String(peerUid), { timeout: 20_000 });
    const lit = await page.evaluate((k) => {
      const c = document.querySelector(`#tile-${k} .chart`);
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && Math.max(d[i], d[i + 1], d[i + 2]) > 150) n++;
      return n;
    }, String(peerUid));
    t.true(lit >= 10, `chart has drawn lines (${lit} lit pixels)`);
    await page.screenshot({ path: path.join(ARTIFACTS, `demo-${backend}.png`) });

    // The other participant leaves: its tile goes.
    t.is(peer.leaveChannel(), 0);
    await page.waitForSelector(`#tile-${peerUid}`, { state: 'detached', timeout: 20_000 });
    t.deepEqual(await page.evaluate(() => window.demo.keys()), ['local']);

    // Someone else joins; then we leave: the remote tile goes, the page is idle again.
    const peer2Uid = 3003;
    await startPeer(channel, peer2Uid);
    await page.waitForSelector(`#tile-${peer2Uid}`, { timeout: 20_000 });
    await waitFrames(page, String(peer2Uid), 2, { from: 0, timeout: 40_000 });
    await page.click('#leave');
    await page.waitForSelector(`#tile-${peer2Uid}`, { state: 'detached', timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById('status').dataset.state === 'idle');
    t.deepEqual(await page.evaluate(() => window.demo.keys()), ['local']);
    await page.screenshot({ path: path.join(ARTIFACTS, `demo-${backend}-after-leave.png`) });
    t.deepEqual(page.pageErrors(), []);
  });
}

test.serial('screen share: the picker shows sources with thumbnails; our share and a peer share get their own tiles', async (t) => {
  t.timeout(150_000);
  const page = await openDemo(t);
  const channel = channelName('share');
  t.true(await page.evaluate(() => document.getElementById('share').disabled), 'no sharing before joining');
  await joinFromUi(page, channel, 3201);
  t.false(await page.evaluate(() => document.getElementById('share').disabled));

  // The picker: the display with a 320x180 thumbnail of the white root window.
  await page.click('#share');
  await page.waitForSelector('#shareSources .source[data-type="1"] canvas', { timeout: 20_000 });
  const thumb = await page.evaluate(() => {
    const c = document.querySelector('#shareSources .source[data-type="1"] canvas');
    return { w: c.width, h: c.height, px: [...c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data] };
  });
  t.deepEqual(thumb, { w: 320, h: 180, px: [255, 255, 255, 255] });
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-share-picker.png') });

  // Picking it shares the display: our own share tile, next to the camera.
  await page.click('#shareSources .source[data-type="1"]');
  await page.waitForFunction(() => window.demo.keys().includes('local:sub'), null, { timeout: 20_000 });
  await waitFrames(page, 'local:sub', 3, { from: 0 });
  t.deepEqual(await frameSize(page, 'local:sub'), [1280, 720]);
  t.deepEqual(await frameSize(page, 'local'), [RES.width, RES.height], 'the camera tile stays the camera');
  t.is(await page.evaluate(() => document.getElementById('share').textContent), 'Stop sharing');

  // A peer shares too (720p profile of the same display, 640x480 → 640x360): a tile of its own.
  const peerUid = 3202;
  const peer = await startPeer(channel, peerUid);
  t.is(peer.startScreenCaptureByDisplayId(0, null, { profile: 0 }), 0);
  await page.waitForFunction((k) => window.demo.keys().includes(k), `${peerUid}:sub`, { timeout: 20_000 });
  await waitFrames(page, `${peerUid}:sub`, 3, { from: 0, timeout: 40_000 });
  t.deepEqual(await frameSize(page, `${peerUid}:sub`), [640, 360]);
  await waitFrames(page, String(peerUid), 3, { from: 0, timeout: 40_000 });
  t.deepEqual(await frameSize(page, String(peerUid)), [RES.width, RES.height], "the peer's camera in its own tile");
  await page.screenshot({ path: path.join(ARTIFACTS, 'demo-share.png') });

  // The peer stops: its share tile goes, its camera tile stays. We stop: ours goes.
  t.is(peer.stopScreenCapture(), 0);
  await page.waitForFunction((k) => !window.demo.keys().includes(k), `${peerUid}:sub`, { timeout: 20_000 });
  t.true((await page.evaluate(() => window.demo.keys())).includes(String(peerUid)));
  await page.click('#share');
  await page.waitForFunction(() => !window.demo.keys().includes('local:sub'), null, { timeout: 20_000 });
  t.is(await page.evaluate(() => document.getElementById('share').textContent), 'Share screen');
  await page.click('#leave');
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'idle');
  t.deepEqual(page.pageErrors(), []);
});

test.serial('webgl: a lost WebGL context falls back to the 2D canvas and comes back when restored', async (t) => {
  t.timeout(150_000);
  const page = await openDemo(t, { webgl: true });
  const channel = channelName('lost');
  const peerUid = 4002;
  await joinFromUi(page, channel, 4001, { mode: 0 });
  await startPeer(channel, peerUid);
  const key = String(peerUid);
  await page.waitForSelector(`#tile-${key}`, { timeout: 20_000 });
  await waitFrames(page, key, 5, { from: 0, timeout: 40_000 });
  t.is(await page.evaluate((k) => window.demo.backend(k), key), 'webgl');
  const [w, h] = await frameSize(page, key);

  const lost = await page.evaluate((k) => {
    const r = window.demo.renderer(k);
    const canvas = r.canvas;
    const gl = canvas.getContext('webgl2') || canvas.getContext('webgl');
    window.__loseExt = gl.getExtension('WEBGL_lose_context');
    if (!window.__loseExt) return false;
    window.__loseExt.loseContext();
    return true;
  }, key);
  t.true(lost, 'WEBGL_lose_context available');
  await page.waitForFunction((k) => window.demo.backend(k) === '2d', key, { timeout: 10_000 });
  await waitFrames(page, key, 3);
  await checkTileEventually(t, () => shootTile(page, key, 'demo-webgl-context-lost.png'), { w, h, mode: 0, mirrored: false, what: 'remote after context loss (2D)' });

  await page.evaluate(() => window.__loseExt.restoreContext());
  await page.waitForFunction((k) => window.demo.backend(k) === 'webgl', key, { timeout: 10_000 });
  await waitFrames(page, key, 3);
  await checkTileEventually(t, () => shootTile(page, key, 'demo-webgl-context-restored.png'), { w, h, mode: 0, mirrored: false, what: 'remote after restore (WebGL)' });
  t.deepEqual(page.pageErrors(), []);
});

test.serial('test bridge: closing the page releases its engine (the other participant sees it leave)', async (t) => {
  t.timeout(120_000);
  const page = await openDemo(t);
  const channel = channelName('close');
  const peer = await startPeer(channel, 5002);
  const left = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no onUserLeft(5001) within 20 s')), 20_000);
    peer.on('onUserLeft', (uid) => {
      if (uid === 5001) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const joined = new Promise((resolve) => peer.on('onUserJoined', (uid) => uid === 5001 && resolve()));
  await joinFromUi(page, channel, 5001);
  await joined;
  await page.reload();
  await left;
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Secure mode's main process (electron-demo/main.js) with the real addon and a stand-in for
// the `electron` module (Electron itself cannot be installed here): hello creates an engine
// host and hands the page a frame port; calls go through; frames arrive on the port as
// structured clones, at most two in flight until the page acknowledges them.

function fakeElectron() {
  const { EventEmitter } = require('node:events');
  const handlers = new Map();
  const appEvents = new EventEmitter();
  class FakePort extends EventEmitter {
    constructor() {
      super();
      this.peer = null;
      this.closed = false;
    }
    postMessage(msg) {
      if (this.closed || !this.peer) return;
      const data = structuredClone(msg); // what crossing to another process does
      setImmediate(() => this.peer.emit('message', { data }));
    }
    start() {}
    close() {
      this.closed = true;
    }
  }
  class MessageChannelMain {
    constructor() {
      this.port1 = new FakePort();
      this.port2 = new FakePort();
      this.port1.peer = this.port2;
      this.port2.peer = this.port1;
    }
  }
  let nextId = 1;
  const windows = [];
  class BrowserWindow extends EventEmitter {
    constructor(options) {
      super();
      this.options = options;
      const wc = new EventEmitter();
      wc.id = nextId++;
      wc.sent = [];
      wc.posted = [];
      wc.mainFrame = { url: 'file:///demo', parent: null };
      wc.isDestroyed = () => false;
      wc.send = (channel, ...a) => wc.sent.push([channel, ...a]);
      wc.postMessage = (channel, msg, ports) => wc.posted.push({ channel, msg, ports });
      this.webContents = wc;
      windows.push(this);
    }
    loadFile(file, opts) {
      this.loaded = { file, opts };
      return Promise.resolve();
    }
    static fromWebContents(wc) {
      return windows.find((w) => w.webContents === wc) || null;
    }
  }
  const electron = {
    app: {
      whenReady: () => Promise.resolve(),
      commandLine: { appendSwitch() {} },
      getPath: () => os.tmpdir(),
      on: (ev, cb) => appEvents.on(ev, cb),
      exit() {},
      quit() {},
    },
    BrowserWindow,
    ipcMain: { handle: (channel, fn) => handlers.set(channel, fn) },
    MessageChannelMain,
  };
  return { electron, handlers, windows, appEvents };
}

test.serial('secure mode main process: engine host per window, IPC calls, frames on the MessagePort with acks', async (t) => {
  t.timeout(60_000);
  const Module = require('node:module');
  const fake = fakeElectron();
  const origLoad = Module._load;
  const origArgv = process.argv;
  Module._load = function (request, ...rest) {
    return request === 'electron' ? fake.electron : origLoad.call(this, request, ...rest);
  };
  process.argv = [process.execPath, path.join(ROOT, 'electron-demo', 'main.js'), '--mode=secure', '--embedded-server'];
  const mainPath = require.resolve('../electron-demo/main.js');
  try {
    require(mainPath);
    for (let i = 0; i < 200 && fake.windows.length === 0; i++) await sleep(50);
    t.is(fake.windows.length, 1, 'one window');
    const win = fake.windows[0];
    const wp = win.options.webPreferences;
    t.true(wp.contextIsolation && wp.sandbox && !wp.nodeIntegration, 'secure webPreferences');
    t.true(wp.preload.endsWith('preload.js'));
    t.regex(win.loaded.opts.query.server, /^ws:\/\/127\.0\.0\.1:\d+$/, 'embedded server URL passed to the page');

    const wc = win.webContents;
    const ev = { sender: wc, senderFrame: wc.mainFrame };
    const hello = fake.handlers.get('nertc:hello');
    const op = (msg) => fake.handlers.get('nertc:op')(ev, msg);
    const info = await hello(ev);
    t.is(info.mode, 'secure');
    t.is(info.serverUrl, win.loaded.opts.query.server);
    const portMsg = wc.posted.find((p) => p.channel === 'nertc:port');
    t.truthy(portMsg && portMsg.ports && portMsg.ports[0], 'frame port handed to the page');
    const port = portMsg.ports[0];
    const frames = [];
    port.on('message', (e) => frames.push(e.data));

    // Another window's sender, or a subframe of ours, is refused.
    const stranger = new EventEmitter();
    stranger.id = 999;
    await t.throwsAsync(async () => fake.handlers.get('nertc:op')({ sender: stranger, senderFrame: { parent: null } }, { op: 'call', method: 'getVersion' }));
    await t.throwsAsync(async () => fake.handlers.get('nertc:op')({ sender: wc, senderFrame: { parent: wc.mainFrame } }, { op: 'call', method: 'getVersion' }));
    t.throws(() => op({ op: 'call', method: 'setupLocalVideoCanvas', args: [] }), { message: /not allowed/ });

    t.is(op({ op: 'call', method: 'initialize', args: [{ app_key: APP_KEY }] }), 0);
    t.true(op({ op: 'call', method: 'enumerateVideoCaptureDevices' }).some((d) => d.device_id === 'nertc-test-pattern'));
    t.is(op({ op: 'call', method: 'setVideoConfig', args: [{ width: 320, height: 240, framerate: 15 }] }), 0);
    t.is(op({ op: 'bind', key: 'local', mode: 0 }), 0);
    t.is(op({ op: 'call', method: 'startVideoPreview' }), 0);

    // Without acks the host stops at two frames in flight.
    for (let i = 0; i < 100 && frames.length < 2; i++) await sleep(50);
    await sleep(600);
    t.is(frames.length, 2, 'two frames in flight, then the host waits for acks');
    const f = frames[0];
    t.is(f.t, 'f');
    t.is(f.key, 'local');
    t.deepEqual([f.width, f.height], [320, 240]);
    t.true(f.y instanceof Uint8Array && f.y.length === 320 * 240);
    t.true(f.u instanceof Uint8Array && f.u.length === 160 * 120);
    t.deepEqual(f.strides, { y: 320, u: 160, v: 160 });
    t.is(typeof f.mirrored, 'boolean');
    const hostStats = op({ op: 'stats' });
    t.true(hostStats.framesDropped > 0, 'frames beyond the window are dropped, not queued');
    // The page acknowledges: more frames flow.
    for (const fr of frames.splice(0)) port.postMessage({ op: 'ack', key: fr.key, gen: fr.gen });
    for (let i = 0; i < 100 && frames.length < 2; i++) await sleep(50);
    t.true(frames.length >= 1, 'frames flow again after acks');

    // Events reach the page over IPC.
    t.is(op({ op: 'call', method: 'joinChannel', args: [null, channelName('secure'), 6001] }), 0);
    for (let i = 0; i < 100 && !wc.sent.some((s) => s[1] === 'onJoinChannel'); i++) await sleep(50);
    const joined = wc.sent.find((s) => s[0] === 'nertc:event' && s[1] === 'onJoinChannel');
    t.truthy(joined, 'onJoinChannel forwarded');
    t.is(joined[2][2], 0, 'join result 0');

    // A reload says hello again: the old engine goes (its port too), a new one comes.
    await hello(ev);
    t.is(wc.posted.filter((p) => p.channel === 'nertc:port').length, 2);
    t.true(port.peer.closed, 'old frame port closed');
  } finally {
    for (const cb of fake.appEvents.listeners('window-all-closed')) cb();
    await sleep(300);
    Module._load = origLoad;
    process.argv = origArgv;
  }
});

// ---------------------------------------------------------------------------------------------
// Secure mode's page side (renderer/bridge-secure.js) in Chromium: an init script stands in for
// preload.js + main.js with the same contract (window.nertcSecure {hello, invoke, onEvent}, a
// MessagePort handed over with window.postMessage, frames as {t: 'f', ...} structured clones,
// acks on the port), backed by the test bridge's WebSocket.

function secureEmulator() {
  const url = new URLSearchParams(location.search).get('emulateSecure');
  if (!url) return;
  const emu = (window.__secureEmu = { frames: 0, acks: 0 });
  let ws = null;
  let port1 = null;
  let eventCb = null;
  let nextId = 1;
  const pending = new Map();
  window.nertcSecure = Object.freeze({
    hello: () =>
      new Promise((resolve, reject) => {
        ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        ws.onerror = () => reject(new Error('emulator: cannot reach the test bridge'));
        ws.onmessage = (ev) => {
          if (typeof ev.data !== 'string') {
            const f = window.NertcDemo.parseBridgeFrame(ev.data);
            if (!f || !port1) return;
            port1.postMessage({ t: 'f', key: f.key, gen: f.gen, ...f.frame });
            emu.frames++;
            return;
          }
          const m = JSON.parse(ev.data);
          if (m.t === 'hello') {
            const ch = new MessageChannel();
            port1 = ch.port1;
            port1.onmessage = (e) => {
              if (e.data && e.data.op === 'ack') {
                emu.acks++;
                ws.send(JSON.stringify({ op: 'ack', key: e.data.key, gen: e.data.gen }));
              }
            };
            window.postMessage({ nertcFramePort: true }, '*', [ch.port2]);
            resolve({ serverUrl: m.serverUrl, version: m.version, mode: 'secure' });
          } else if (m.t === 're') {
            const p = pending.get(m.id);
            pending.delete(m.id);
            if (p) (m.ok ? p.res(m.r) : p.rej(new Error(m.err)));
          } else if (m.t === 'ev' && eventCb) {
            eventCb(m.n, m.a);
          }
        };
      }),
    invoke: (msg) =>
      new Promise((res, rej) => {
        const id = nextId++;
        pending.set(id, { res, rej });
        ws.send(JSON.stringify({ ...msg, id }));
      }),
    onEvent: (cb) => {
      eventCb = cb;
    },
  });
}

test.serial('secure mode page: bridge-secure.js draws MessagePort frames and acknowledges them', async (t) => {
  t.timeout(120_000);
  const url = `${state.info.http}/electron-demo/index.html?emulateSecure=${encodeURIComponent(state.info.bridge)}`;
  const page = await openDemo(t, { url, initScript: secureEmulator });
  t.is(await page.evaluate(() => window.demo.bridge.kind), 'secure');
  t.is(await page.evaluate(() => typeof window.require), 'undefined');
  const channel = channelName('secure-page');
  const peerUid = 7002;
  await joinFromUi(page, channel, 7001, { mode: 0 });
  await startPeer(channel, peerUid);
  await page.waitForSelector(`#tile-${peerUid}`, { timeout: 20_000 });
  await waitFrames(page, String(peerUid), 5, { from: 0, timeout: 40_000 });
  const [w, h] = await frameSize(page, String(peerUid));
  await checkTileEventually(t, () => shootTile(page, String(peerUid), 'demo-secure-remote.png'), { w, h, mode: 0, mirrored: false, what: 'secure, remote' });
  await page.setChecked('#mirror', true);
  await waitFrames(page, 'local', 4);
  await checkTileEventually(t, () => shootTile(page, 'local'), { w, h, mode: 0, mirrored: true, what: 'secure, local mirrored' });
  const emu = await page.evaluate(() => window.__secureEmu);
  t.true(emu.frames > 10 && emu.acks > 10 && emu.frames - emu.acks <= 4, `frames ${emu.frames}, acks ${emu.acks}`);
  await page.click('#leave');
  await page.waitForSelector(`#tile-${peerUid}`, { state: 'detached', timeout: 20_000 });
  t.deepEqual(page.pageErrors(), []);
});

// ---------------------------------------------------------------------------------------------
// NERTC mode's bridge (renderer/bridge-nertc.js) with the real engine in this process: the DOM
// renderer hook is installed, views bound with setupLocalVideoCanvas({view, mode}) get a
// renderer.js renderer (stood in for here: Node has no DOM) that receives the frames.

test.serial('NERTC mode bridge: require()d SDK, DOM renderer hook, canvases bound by element', async (t) => {
  t.timeout(60_000);
  const saved = { document: globalThis.document, HTMLElement: globalThis.HTMLElement, NertcDemo: globalThis.NertcDemo };
  class FakeElement {}
  globalThis.document = {};
  globalThis.HTMLElement = FakeElement;
  const created = [];
  const fakeRendererModule = {
    createRenderer(view, options) {
      const r = {
        view,
        options,
        frames: [],
        destroyed: false,
        drawFrame(f) {
          this.frames.push({ width: f.width, height: f.height, mirrored: f.mirrored, ylen: f.y.length });
        },
        destroy() {
          this.destroyed = true;
        },
        stats() {
          return { frames: this.frames.length };
        },
      };
      created.push(r);
      return r;
    },
  };
  const rendererPath = path.join(ROOT, 'renderer.js');
  const pageRequire = (id) => (id === rendererPath ? fakeRendererModule : require(id));
  pageRequire.resolve = (id) => require.resolve(id);
  const { NERtcEngine } = state.sdk;
  const hookBefore = NERtcEngine.createDomRenderer;
  let bridge;
  try {
    delete require.cache[require.resolve('../electron-demo/renderer/bridge-nertc.js')];
    require('../electron-demo/renderer/bridge-nertc.js');
    bridge = globalThis.NertcDemo.createNertcBridge({ require: pageRequire, sdkPath: ROOT, preferWebGL: false });
    t.is(bridge.kind, 'nertc');
    t.is(typeof NERtcEngine.createDomRenderer, 'function', 'DOM renderer hook installed');
    t.is(await bridge.call('initialize', { app_key: APP_KEY, server_config: { channel_server: state.info.server } }), 0);
    await t.throwsAsync(() => bridge.call('_call'), { message: /no such engine method/ });
    const view = new FakeElement();
    t.is(await bridge.bindView('local', view, { mode: 2 }), 0);
    t.is(created.length, 1);
    t.is(created[0].options.mode, 2);
    t.is(created[0].options.preferWebGL, false);
    t.is(await bridge.call('setVideoConfig', { width: 320, height: 240, framerate: 15 }), 0);
    t.is(await bridge.call('setLocalVideoMirrorMode', 1), 0);
    t.is(await bridge.call('startVideoPreview'), 0);
    for (let i = 0; i < 100 && created[0].frames.length < 3; i++) await sleep(50);
    t.true(created[0].frames.length >= 3, 'frames reach the renderer');
    t.deepEqual(created[0].frames.at(-1), { width: 320, height: 240, mirrored: true, ylen: 320 * 240 });
    t.is(bridge.rendererOf(view), created[0]);
    t.deepEqual(bridge.frameSize(view), { width: 320, height: 240 });
    // Rebinding (a new mode) replaces the renderer; unbinding destroys it.
    t.is(await bridge.bindView('local', view, { mode: 1 }), 0);
    t.true(created[0].destroyed);
    t.is(created[1].options.mode, 1);
    t.is(await bridge.bindView('local', null), 0);
    t.true(created[1].destroyed);
    t.is(bridge.rendererOf(view), null);
  } finally {
    if (bridge) bridge.close();
    NERtcEngine.createDomRenderer = hookBefore;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete globalThis[k];
      else globalThis[k] = v;
    }
  }
});
