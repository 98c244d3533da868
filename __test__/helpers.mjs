// Shared helpers for the engine specs: load the addon through index.js, record events, wait
// for events with a timeout, and build drawFrame canvases.

import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** `require('nertc-electron-sdk')` as an app would see it (index.js, CommonJS). */
export const sdk = require('../index.js');
export const { NERtcEngine, NERtcServer, ErrorCode } = sdk.default;

export const { EVENT_NAMES } = sdk.default;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The engines' and the embedded server's log (info level, one file per test process): a
 * `waitFor` that times out quotes its end, so that a failure on a CI machine says what the
 * engines and the server did.
 */
export const LOG_DIR = path.join(os.tmpdir(), `nertc-test-log-${process.pid}`);

function logTail(lines = 40) {
  try {
    const text = fs.readFileSync(path.join(LOG_DIR, 'nertc.log'), 'utf8');
    // webrtc-rs' own warnings while a connection comes up say nothing about a failure.
    return text.split('\n').filter((l) => l && !/ WARN rtc(_\w+)?::/.test(l)).slice(-lines).join('\n  ');
  } catch {
    return '(no log)';
  }
}

/** Records every event of `engine` in order: `{name, args, at}`; `.waitFor(...)` on top. */
export function record(engine) {
  const events = [];
  const waiters = new Set();
  for (const name of EVENT_NAMES) {
    engine.on(name, (...args) => {
      events.push({ name, args, at: Date.now() });
      for (const w of [...waiters]) {
        if (w.name === name && w.pred(...args)) {
          waiters.delete(w);
          clearTimeout(w.timer);
          w.resolve(args);
        }
      }
    });
  }
  return {
    events,
    /** Names in order, optionally without the periodic ones. */
    names({ periodic = false } = {}) {
      const skip = new Set(['onRtcStats', 'onLocalVideoStats', 'onRemoteVideoStats', 'onRemoteAudioStats', 'onNetworkQuality', 'onRemoteAudioVolumeIndication', 'onLocalAudioVolumeIndication']);
      return events.filter((e) => periodic || !skip.has(e.name)).map((e) => e.name);
    },
    /** First recorded (past or future) event `name` whose args satisfy `pred`; rejects after `ms`. */
    waitFor(name, pred = () => true, ms = 20_000) {
      const past = events.find((e) => e.name === name && pred(...e.args));
      if (past) return Promise.resolve(past.args);
      return new Promise((resolve, reject) => {
        const w = { name, pred, resolve };
        w.timer = setTimeout(() => {
          waiters.delete(w);
          const seen = events.map((e) => `${e.name}(${e.args.map(fmt).join(', ')})`).slice(-30);
          reject(new Error(`timed out after ${ms} ms waiting for ${name}; last events:\n  ${seen.join('\n  ')}\nlog (${LOG_DIR}):\n  ${logTail()}`));
        }, ms);
        waiters.add(w);
      });
    },
    /** Index of the first event `name` matching `pred`, -1 if none. */
    indexOf(name, pred = () => true) {
      return events.findIndex((e) => e.name === name && pred(...e.args));
    },
  };
}

function fmt(v) {
  if (typeof v === 'bigint') return `${v}n`;
  if (v && typeof v === 'object') {
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)).slice(0, 120);
    } catch {
      return '[object]';
    }
  }
  return String(v);
}

/** A canvas view that keeps the frames it is asked to draw (with a copy of Y's statistics). */
export function frameSink({ onFrame } = {}) {
  const frames = [];
  const waiters = new Set();
  const view = {
    frames,
    drawFrame(frame) {
      let min = 255;
      let max = 0;
      for (let i = 0; i < frame.y.length; i += 7) {
        const p = frame.y[i];
        if (p < min) min = p;
        if (p > max) max = p;
      }
      const entry = { ...frame, yMin: min, yMax: max, yRef: frame.y, uRef: frame.u, vRef: frame.v };
      frames.push(entry);
      if (frames.length > 200) frames.splice(0, frames.length - 200);
      if (onFrame) onFrame(frame);
      for (const w of [...waiters]) {
        if (w.pred(entry)) {
          waiters.delete(w);
          clearTimeout(w.timer);
          w.resolve(entry);
        }
      }
    },
    waitFor(pred = () => true, ms = 20_000) {
      const past = frames.find(pred);
      if (past) return Promise.resolve(past);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        w.timer = setTimeout(() => {
          waiters.delete(w);
          const last = frames.at(-1);
          reject(new Error(`no matching frame within ${ms} ms (${frames.length} frames drawn${last ? `, last ${last.width}x${last.height}` : ''})`));
        }, ms);
        waiters.add(w);
      });
    },
  };
  return view;
}

let channelSeq = 0;
/** A channel name unique to this run. */
export function channelName(tag) {
  channelSeq += 1;
  return `${tag}-${process.pid}-${channelSeq}`;
}

/** Engines created through `makeEngine`, released by `releaseAll`. */
const live = new Set();

export function makeEngine(url, extra = {}) {
  const engine = new NERtcEngine();
  const code = engine.initialize({ app_key: 'nertc-test', log_level: 3, log_dir_path: LOG_DIR, server_config: { channel_server: url }, ...extra });
  if (code !== 0) throw new Error(`initialize returned ${code}`);
  live.add(engine);
  return engine;
}

export function releaseAll() {
  for (const e of live) e.release();
  live.clear();
}

/**
 * Starts one embedded server before the file's tests (its URL handed to `onUrl`) and stops it
 * after them; engines made with `makeEngine` are released after each test and at the end.
 */
export function useEmbeddedServer(test, onUrl) {
  let server;
  test.before(async () => {
    server = new NERtcServer();
    onUrl(await server.start());
  });
  test.after.always(async () => {
    releaseAll();
    if (server) await server.stop();
  });
  test.afterEach.always(() => releaseAll());
}

/** Polls `fn` every 100 ms until it returns something truthy (that value); throws after `ms`. */
export async function until(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

/**
 * For specs that put Chromium pages (web/test.html with web/nertc-web.js) and engines in one
 * room. Before the file's tests: `first()` if given (an X server, say), an embedded server
 * (`state.server`, `state.url`), a static HTTP server for `web/` (`state.web`) and Chromium
 * (`state.chromium`, its context `state.ctx`); all stopped after them.
 */
export function useBrowserRoom(test, name, state, { first } = {}) {
  test.before(async () => {
    const [{ default: fs }, { default: http }, { default: path }, { launchChromium }] = await Promise.all([
      import('node:fs'), import('node:http'), import('node:path'), import('../scripts/chromium.mjs'),
    ]);
    await first?.();
    state.server = new NERtcServer();
    state.url = await state.server.start();
    const root = path.resolve(new URL('..', import.meta.url).pathname, 'web');
    state.web = http.createServer((req, res) => {
      const file = path.join(root, path.normalize(new URL(req.url, 'http://x').pathname).replace(/^([/\\])+/, ''));
      if (!file.startsWith(root) || !fs.existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
      fs.createReadStream(file).pipe(res);
    });
    await new Promise((r) => state.web.listen(0, '127.0.0.1', r));
    state.chromium = await launchChromium({ name });
    state.ctx = state.chromium.ctx;
  });
  test.after.always(async () => {
    await state.chromium?.close().catch(() => {});
    state.web?.close();
    await state.server?.stop().catch(() => {});
  });
}
