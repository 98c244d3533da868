// Secure mode: contextIsolation on, no Node in the page, sandboxed renderer. The engine lives
// in the Electron main process; preload.js exposes `window.nertcSecure` (contextBridge) for
// calls and events over IPC, and forwards a MessagePort (from MessageChannelMain) to this
// world with window.postMessage. Frames arrive on that port as
// `{t: 'f', key, gen, width, height, strides, mirrored, timestamp, y, u, v}` and are
// acknowledged on the same port (`{op: 'ack', key, gen}`) once drawn, so at most two frames
// per stream are ever in flight.
(function (root) {
  'use strict';
  const NS = (root.NertcDemo = root.NertcDemo || {});

  function connectSecure(api) {
    return new Promise((resolve, reject) => {
      let port = null;
      let eventCb = () => {};
      let frameCb = () => {};
      let info = null;
      const timer = setTimeout(() => reject(new Error('secure bridge: no frame port from the main process')), 10000);

      const transport = {
        info: null,
        invoke(msg) {
          return api.invoke(msg);
        },
        onEvent(cb) {
          eventCb = cb;
        },
        onFrame(cb) {
          frameCb = cb;
        },
        close() {
          if (port) port.close();
        },
      };

      function onPortMessage(ev) {
        const d = ev.data;
        if (!d || d.t !== 'f') return;
        try {
          frameCb(d.key, {
            width: d.width,
            height: d.height,
            y: d.y,
            u: d.u,
            v: d.v,
            strides: d.strides,
            mirrored: !!d.mirrored,
            timestamp: d.timestamp,
          });
        } finally {
          port.postMessage({ op: 'ack', key: d.key, gen: d.gen });
        }
      }

      function maybeReady() {
        if (!port || !info) return;
        clearTimeout(timer);
        transport.info = info;
        resolve(transport);
      }

      // The preload forwards the port with window.postMessage; only accept it from this window.
      root.addEventListener('message', function onMessage(ev) {
        if (ev.source !== root || !ev.data || ev.data.nertcFramePort !== true || !ev.ports || !ev.ports[0]) return;
        root.removeEventListener('message', onMessage);
        port = ev.ports[0];
        port.onmessage = onPortMessage;
        port.start();
        maybeReady();
      });

      api.onEvent((name, args) => eventCb(name, args));
      api.hello().then(
        (i) => {
          info = { ...(i || {}), transport: 'ipc+MessagePort' };
          maybeReady();
        },
        (e) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  async function createSecureBridge(api, options) {
    const transport = await connectSecure(api);
    return NS.createRemoteBridge('secure', transport, options);
  }

  NS.createSecureBridge = createSecureBridge;
})(typeof window !== 'undefined' ? window : globalThis);
