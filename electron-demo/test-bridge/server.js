#!/usr/bin/env node
'use strict';
// Test bridge: lets the Electron demo's page run in a plain browser (headless Chromium in the
// tests) by hosting its engine in this Node process.
//
//   node electron-demo/test-bridge/server.js [--port N] [--server ws://HOST:PORT]
//
// - Serves the demo's static files and renderer.js over http on 127.0.0.1 (port 0 = any free).
// - Starts an embedded room server (NERtcServer) unless --server names one.
// - Accepts WebSockets at /bridge: one NERtcEngine (EngineHost, shared with the secure
//   Electron mode) per connected page, released when the page goes away. Calls and events go
//   as JSON text messages; frames as binary messages (layout below), at most two in flight per
//   stream, acknowledged by the page.
// - Prints one line `NERTC-BRIDGE {"http", "page", "bridge", "server"}` when ready.
//
// Open `<page>` (…/electron-demo/index.html?bridge=ws://127.0.0.1:PORT/bridge) in a browser.
//
// Binary frame message, little-endian:
//   0 u32 magic 'NFR1'   4 u16 header length   6 u8 flags (1 = mirrored)   7 u8 key length
//   8 u32 binding generation   12 u32 width   16 u32 height   20/24/28 u32 strides y/u/v
//   32/36/40 u32 plane lengths y/u/v   44 u32 reserved   48 f64 timestamp (ms)
//   56 key (utf-8, padded to 8)   then the Y, U and V planes.

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { acceptWebSockets } = require('./ws');
const { EngineHost, jsonSafe, loadSdk } = require('../host');

const DEMO_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(DEMO_DIR, '..');

const MAGIC = 0x3152464e; // 'NFR1' read as little-endian u32
const FIXED_HEADER = 56;
const RESERVE = 16; // room in front of each frame buffer for the WebSocket header
const POOL_PER_BINDING = 3;
const MAX_BUFFERED = 8 * 1024 * 1024; // skip frames while this much is queued on a socket

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Repository-relative path → absolute file, for the files a page may load; else null. */
function servedFile(rel) {
  if (rel === 'renderer.js') return path.join(REPO_DIR, 'renderer.js');
  if (!rel.startsWith('electron-demo/')) return null;
  const file = path.resolve(REPO_DIR, rel);
  if (!file.startsWith(DEMO_DIR + path.sep)) return null;
  if (file.startsWith(path.join(DEMO_DIR, 'node_modules') + path.sep)) return null;
  if (!MIME[path.extname(file)]) return null;
  return file;
}

function serveStatic(req, res) {
  let rel;
  try {
    rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
  } catch {
    res.writeHead(400).end();
    return;
  }
  if (rel === '' || rel === 'electron-demo' || rel === 'electron-demo/') {
    res.writeHead(302, { location: '/electron-demo/index.html' }).end();
    return;
  }
  if (rel === 'favicon.ico') {
    res.writeHead(204).end();
    return;
  }
  const file = servedFile(rel);
  if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  res.writeHead(200, { 'content-type': MIME[path.extname(file)], 'cache-control': 'no-store' });
  fs.createReadStream(file).pipe(res);
}

/** Writes one frame of `binding` into a pooled buffer and sends it; false when it cannot now. */
function sendFrame(conn, binding, f) {
  if (!conn.open || conn.bufferedAmount > MAX_BUFFERED) return false;
  if (!binding.keyBytes) binding.keyBytes = Buffer.from(binding.key, 'utf8');
  const key = binding.keyBytes;
  const hdrLen = FIXED_HEADER + ((key.length + 7) & ~7);
  const y = f.y;
  const u = f.u;
  const v = f.v;
  const total = RESERVE + hdrLen + y.length + u.length + v.length;
  if (!binding.pool) binding.pool = [];
  const pool = binding.pool;
  let slot = pool.find((s) => !s.busy && s.buf.length === total);
  if (!slot) {
    slot = pool.find((s) => !s.busy);
    if (slot) slot.buf = Buffer.alloc(total);
    else if (pool.length < POOL_PER_BINDING) {
      slot = { buf: Buffer.alloc(total), busy: false };
      pool.push(slot);
    } else return false;
  }
  const b = slot.buf;
  let o = RESERVE;
  b.writeUInt32LE(MAGIC, o);
  b.writeUInt16LE(hdrLen, o + 4);
  b.writeUInt8(f.mirrored ? 1 : 0, o + 6);
  b.writeUInt8(key.length, o + 7);
  b.writeUInt32LE(binding.gen >>> 0, o + 8);
  b.writeUInt32LE(f.width, o + 12);
  b.writeUInt32LE(f.height, o + 16);
  const s = f.strides || {};
  const cw = (f.width + 1) >> 1;
  b.writeUInt32LE(s.y || f.width, o + 20);
  b.writeUInt32LE(s.u || cw, o + 24);
  b.writeUInt32LE(s.v || cw, o + 28);
  b.writeUInt32LE(y.length, o + 32);
  b.writeUInt32LE(u.length, o + 36);
  b.writeUInt32LE(v.length, o + 40);
  b.writeUInt32LE(0, o + 44);
  b.writeDoubleLE(Number(f.timestamp) || 0, o + 48);
  key.copy(b, o + FIXED_HEADER);
  o += hdrLen;
  b.set(y, o);
  o += y.length;
  b.set(u, o);
  o += u.length;
  b.set(v, o);
  slot.busy = true;
  return conn.sendBinaryReserved(b, RESERVE, () => {
    slot.busy = false;
  });
}

/**
 * Starts the bridge. `options`: `{port = 0, serverUrl}`; without serverUrl an embedded
 * NERtcServer is started (and stopped by close()).
 */
async function startBridge(options = {}) {
  const { sdk } = loadSdk();
  let roomServer = null;
  let serverUrl = options.serverUrl || null;
  if (!serverUrl) {
    roomServer = new sdk.NERtcServer();
    serverUrl = await roomServer.start();
  }

  const hosts = new Set();
  const httpServer = http.createServer(serveStatic);

  acceptWebSockets(httpServer, '/bridge', (conn) => {
    const send = (obj) => conn.sendText(JSON.stringify(jsonSafe(obj)));
    const host = new EngineHost(
      sdk,
      {
        event: (name, args) => send({ t: 'ev', n: name, a: args }),
        frame: (binding, frame) => sendFrame(conn, binding, frame),
      },
      { appKey: 'nertc-demo', serverUrl, logLevel: 2 },
    );
    hosts.add(host);
    conn.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return;
      }
      let reply;
      try {
        const r = host.handle(msg);
        reply = { t: 're', id: msg.id, ok: true, r: r === undefined ? null : r };
      } catch (e) {
        reply = { t: 're', id: msg.id, ok: false, err: String((e && e.message) || e) };
      }
      if (msg.id != null) send(reply);
    });
    conn.on('close', () => {
      hosts.delete(host);
      host.dispose();
    });
    send({ t: 'hello', serverUrl, version: host.engine.getVersion(), transport: 'ws' });
  });

  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port || 0, '127.0.0.1', resolve);
  });
  const port = httpServer.address().port;
  const httpUrl = `http://127.0.0.1:${port}`;
  const bridgeUrl = `ws://127.0.0.1:${port}/bridge`;
  return {
    httpUrl,
    bridgeUrl,
    pageUrl: `${httpUrl}/electron-demo/index.html?bridge=${encodeURIComponent(bridgeUrl)}`,
    serverUrl,
    hosts,
    async close() {
      for (const h of hosts) h.dispose();
      hosts.clear();
      await new Promise((r) => {
        httpServer.close(() => r());
        if (typeof httpServer.closeAllConnections === 'function') httpServer.closeAllConnections();
      });
      if (roomServer) await roomServer.stop();
    },
  };
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const val = m[2] !== undefined ? m[2] : argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
    out[m[1]] = val;
  }
  return out;
}

if (require.main === module) {
  const args = parseArgs(process.argv.slice(2));
  startBridge({ port: Number(args.port) || 0, serverUrl: args.server && args.server !== 'true' ? args.server : null })
    .then((b) => {
      process.stdout.write(`NERTC-BRIDGE ${JSON.stringify({ http: b.httpUrl, page: b.pageUrl, bridge: b.bridgeUrl, server: b.serverUrl })}\n`);
      let closing = false;
      const shutdown = () => {
        if (closing) return;
        closing = true;
        const force = setTimeout(() => process.exit(0), 3000);
        force.unref();
        b.close().then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.on('SIGTERM', shutdown);
      process.on('SIGINT', shutdown);
      // Started by a test with a piped stdin: go away with the parent.
      if (args['exit-with-stdin'] === 'true') {
        process.stdin.on('end', shutdown);
        process.stdin.on('error', shutdown);
        process.stdin.resume();
      }
    })
    .catch((e) => {
      console.error(`test bridge failed to start: ${(e && e.stack) || e}`);
      process.exit(1);
    });
}

module.exports = { startBridge, sendFrame, MAGIC, FIXED_HEADER };
