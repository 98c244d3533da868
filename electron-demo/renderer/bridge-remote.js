// The page side of an engine that lives in another process (the Electron main process in the
// secure mode, a Node process in the test bridge). Implements the demo's bridge interface:
//
//   bridge.call(method, ...args) -> Promise<result>    NERtcEngine method, run remotely
//   bridge.on(event, cb)                               NERTC events, positional arguments
//   bridge.bindView(key, element, {mode, mirror})      key 'local' or a uid; element null unbinds
//   bridge.rendererOf(element), bridge.frameSize(element)
//
// over a transport: `{info, invoke(msg) -> Promise, onEvent(cb(name, args)),
// onFrame(cb(key, frame)), close()}`. The transport acknowledges each frame after `cb`
// returns, which is what lets the host send the next one (at most two in flight per stream).
// Frames are drawn by renderer.js (window.NERtcRenderer): WebGL, or 2D when WebGL is missing,
// lost, or `preferWebGL: false`.
(function (root) {
  'use strict';
  const NS = (root.NertcDemo = root.NertcDemo || {});

  function normKey(key) {
    return key === 'local' ? 'local' : String(key);
  }

  function createRemoteBridge(kind, transport, options) {
    const opts = options || {};
    const R = root.NERtcRenderer;
    if (!R || typeof R.createRenderer !== 'function') throw new Error('renderer.js (window.NERtcRenderer) is not loaded');
    const listeners = new Map(); // event -> Set<cb>
    const views = new Map(); // key -> entry
    const byElement = new Map(); // element -> entry
    const counters = { frames: 0, orphanFrames: 0, drawErrors: 0 };

    function dispatch(name, args) {
      const set = listeners.get(name);
      if (!set) return;
      for (const cb of [...set]) {
        try {
          cb(...args);
        } catch (e) {
          console.error(`[nertc-demo] handler for ${name} threw`, e);
        }
      }
    }

    transport.onEvent((name, args) => dispatch(name, Array.isArray(args) ? args : []));

    transport.onFrame((key, frame) => {
      const entry = views.get(key);
      if (!entry) {
        counters.orphanFrames++;
        return;
      }
      entry.width = frame.width;
      entry.height = frame.height;
      try {
        entry.renderer.drawFrame(frame);
        counters.frames++;
      } catch (e) {
        if (counters.drawErrors++ < 5) console.error('[nertc-demo] drawFrame failed', e);
      }
    });

    function dropView(key) {
      const old = views.get(key);
      if (!old) return;
      views.delete(key);
      if (byElement.get(old.el) === old) byElement.delete(old.el);
      try {
        old.renderer.destroy();
      } catch (e) {
        console.error('[nertc-demo] renderer destroy failed', e);
      }
    }

    return {
      kind,
      info: transport.info || {},
      counters,
      call(method, ...args) {
        return transport.invoke({ op: 'call', method, args });
      },
      on(event, cb) {
        if (!listeners.has(event)) listeners.set(event, new Set());
        listeners.get(event).add(cb);
      },
      off(event, cb) {
        const set = listeners.get(event);
        if (set) set.delete(cb);
      },
      async bindView(key, element, viewOptions) {
        const k = normKey(key);
        const o = viewOptions || {};
        dropView(k);
        if (!element) return transport.invoke({ op: 'unbind', key: k });
        const mode = o.mode == null ? 0 : Number(o.mode);
        const renderer = R.createRenderer(element, { mode, mirror: !!o.mirror, preferWebGL: opts.preferWebGL !== false });
        const entry = { key: k, el: element, renderer, width: 0, height: 0 };
        views.set(k, entry);
        byElement.set(element, entry);
        let code;
        try {
          code = await transport.invoke({ op: 'bind', key: k, mode, mirror: !!o.mirror });
        } catch (e) {
          if (views.get(k) === entry) dropView(k);
          throw e;
        }
        if (code !== 0 && views.get(k) === entry) dropView(k);
        return code;
      },
      rendererOf(element) {
        const e = byElement.get(element);
        return e ? e.renderer : null;
      },
      frameSize(element) {
        const e = byElement.get(element);
        return e && e.width ? { width: e.width, height: e.height } : null;
      },
      hostStats() {
        return transport.invoke({ op: 'stats' });
      },
      close() {
        for (const k of [...views.keys()]) dropView(k);
        transport.close();
      },
    };
  }

  NS.createRemoteBridge = createRemoteBridge;
})(typeof window !== 'undefined' ? window : globalThis);
