// Test bridge: the engine runs in a Node process (electron-demo/test-bridge/server.js) and
// this page reaches it over a WebSocket, so the demo runs in a plain browser (headless
// Chromium in the tests). Selected by `?bridge=ws://127.0.0.1:PORT/bridge`.
//
// Text messages are JSON: requests `{id, op, ...}` → `{t: 're', id, ok, r | err}`; events
// `{t: 'ev', n, a}`; first message `{t: 'hello', serverUrl, version}`. Binary messages are
// frames (header layout in test-bridge/server.js); the planes are views into the received
// ArrayBuffer, drawn without a copy, then acknowledged with `{op: 'ack', key, gen}`.
(function (root) {
  'use strict';
  const NS = (root.NertcDemo = root.NertcDemo || {});

  const MAGIC = 0x3152464e;
  const decoder = typeof TextDecoder === 'function' ? new TextDecoder() : null;

  /** Parses one binary frame message; null when it is not one. */
  function parseFrame(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < 56) return null;
    const dv = new DataView(buf);
    if (dv.getUint32(0, true) !== MAGIC) return null;
    const hdrLen = dv.getUint16(4, true);
    const flags = dv.getUint8(6);
    const keyLen = dv.getUint8(7);
    const gen = dv.getUint32(8, true);
    const width = dv.getUint32(12, true);
    const height = dv.getUint32(16, true);
    const sy = dv.getUint32(20, true);
    const su = dv.getUint32(24, true);
    const sv = dv.getUint32(28, true);
    const yLen = dv.getUint32(32, true);
    const uLen = dv.getUint32(36, true);
    const vLen = dv.getUint32(40, true);
    const timestamp = dv.getFloat64(48, true);
    if (hdrLen + yLen + uLen + vLen > buf.byteLength) return null;
    const key = decoder.decode(new Uint8Array(buf, 56, keyLen));
    let o = hdrLen;
    const y = new Uint8Array(buf, o, yLen);
    o += yLen;
    const u = new Uint8Array(buf, o, uLen);
    o += uLen;
    const v = new Uint8Array(buf, o, vLen);
    return {
      key,
      gen,
      frame: { width, height, y, u, v, strides: { y: sy, u: su, v: sv }, mirrored: (flags & 1) !== 0, timestamp },
    };
  }

  /** Opens the WebSocket and resolves with a transport once the hello arrived. */
  function connectWs(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = 'arraybuffer';
      const pending = new Map();
      let nextId = 1;
      let eventCb = () => {};
      let frameCb = () => {};
      let opened = false;
      const transport = {
        info: null,
        invoke(msg) {
          return new Promise((res, rej) => {
            if (ws.readyState !== WebSocket.OPEN) {
              rej(new Error('test bridge disconnected'));
              return;
            }
            const id = nextId++;
            pending.set(id, { res, rej });
            ws.send(JSON.stringify({ ...msg, id }));
          });
        },
        onEvent(cb) {
          eventCb = cb;
        },
        onFrame(cb) {
          frameCb = cb;
        },
        close() {
          ws.close();
        },
      };
      ws.onmessage = (ev) => {
        if (typeof ev.data !== 'string') {
          const f = parseFrame(ev.data);
          if (!f) return;
          try {
            frameCb(f.key, f.frame);
          } finally {
            if (ws.readyState === WebSocket.OPEN) ws.send(`{"op":"ack","key":${JSON.stringify(f.key)},"gen":${f.gen}}`);
          }
          return;
        }
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (msg.t === 're') {
          const p = pending.get(msg.id);
          if (!p) return;
          pending.delete(msg.id);
          if (msg.ok) p.res(msg.r);
          else p.rej(new Error(msg.err || 'bridge call failed'));
        } else if (msg.t === 'ev') {
          eventCb(msg.n, msg.a);
        } else if (msg.t === 'hello') {
          transport.info = { serverUrl: msg.serverUrl, version: msg.version, transport: 'ws' };
          opened = true;
          resolve(transport);
        }
      };
      ws.onerror = () => {
        if (!opened) reject(new Error(`cannot connect to the test bridge at ${url}`));
      };
      ws.onclose = () => {
        for (const p of pending.values()) p.rej(new Error('test bridge disconnected'));
        pending.clear();
        if (!opened) reject(new Error(`test bridge at ${url} closed the connection`));
        else eventCb('onBridgeClosed', []);
      };
    });
  }

  async function createWsBridge(url, options) {
    const transport = await connectWs(url);
    return NS.createRemoteBridge('ws', transport, options);
  }

  NS.createWsBridge = createWsBridge;
  NS.parseBridgeFrame = parseFrame;
})(typeof window !== 'undefined' ? window : globalThis);
