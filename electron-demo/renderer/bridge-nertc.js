// NERTC-style mode: `nodeIntegration: true, contextIsolation: false`, the engine created in
// this renderer with a plain require() of the SDK, exactly as apps written for NetEase's
// nertc-electron-sdk do. Canvases are bound with setupLocalVideoCanvas({view: element, mode})
// / setupRemoteVideoCanvas(uid, {view, mode}); the SDK's frame pump draws into them through
// its DOM renderer hook (NERtcEngine.createDomRenderer, renderer.js by default). This file
// sets the hook again around renderer.js's createRenderer to pass the demo's preferWebGL
// choice (`?webgl=0`) and to keep track of each view's renderer (draw stats, frame size).
(function (root) {
  'use strict';
  const NS = (root.NertcDemo = root.NertcDemo || {});

  /** Directory of the SDK: `sdkPath`, else the installed package, else the repository root. */
  function sdkDirectory(nodeRequire, sdkPath) {
    const path = nodeRequire('path');
    if (sdkPath) return path.resolve(sdkPath);
    try {
      return path.dirname(nodeRequire.resolve('nertc-electron-sdk'));
    } catch {
      // running from the repository: electron-demo/ sits next to index.js
      const here = typeof __dirname === 'string' ? __dirname : path.dirname(decodeURIComponent(new URL(root.location.href).pathname));
      return path.resolve(here, '..');
    }
  }

  function createNertcBridge(options) {
    const opts = options || {};
    const nodeRequire = opts.require || root.require;
    if (typeof nodeRequire !== 'function') throw new Error('NERTC mode needs nodeIntegration: true and contextIsolation: false');
    const path = nodeRequire('path');
    const dir = sdkDirectory(nodeRequire, opts.sdkPath);
    const sdk = nodeRequire(dir);
    const api = sdk.default || sdk;
    const { createRenderer } = nodeRequire(path.join(dir, 'renderer.js'));
    const byElement = new Map(); // view element -> {renderer, width, height}

    // The SDK calls this for every HTMLElement view: draw with renderer.js, remembering which.
    api.NERtcEngine.createDomRenderer = (view, o) => {
      const r = createRenderer(view, { mode: o.mode, mirror: o.mirror, preferWebGL: opts.preferWebGL !== false });
      const entry = { renderer: r, width: 0, height: 0 };
      const draw = r.drawFrame.bind(r);
      r.drawFrame = (frame) => {
        entry.width = frame.width;
        entry.height = frame.height;
        draw(frame);
      };
      const destroy = r.destroy.bind(r);
      r.destroy = () => {
        if (byElement.get(view) === entry) byElement.delete(view);
        destroy();
      };
      byElement.set(view, entry);
      return r;
    };

    const engine = new api.NERtcEngine();
    const uidOf = (key) => (typeof key === 'number' || typeof key === 'bigint' ? key : Number(key));

    return {
      kind: 'nertc',
      info: { version: engine.getVersion(), serverUrl: null, transport: 'in-process', sdkDir: dir },
      engine,
      sdk: api,
      call(method, ...args) {
        return new Promise((resolve, reject) => {
          if (typeof method !== 'string' || method.startsWith('_') || typeof engine[method] !== 'function') {
            reject(new Error(`no such engine method: ${method}`));
            return;
          }
          resolve(engine[method](...args));
        });
      },
      on(event, cb) {
        engine.on(event, cb);
      },
      off(event, cb) {
        engine.off(event, cb);
      },
      bindView(key, element, viewOptions) {
        const o = viewOptions || {};
        const canvas = element ? { view: element, mode: o.mode == null ? 0 : Number(o.mode), mirror: !!o.mirror } : null;
        // 'local' / a uid, with ':sub' for the substream (screen share).
        const sub = typeof key === 'string' && key.endsWith(':sub');
        const base = sub ? key.slice(0, -4) : key;
        let code;
        if (base === 'local') code = sub ? engine.setupLocalSubStreamVideoCanvas(canvas) : engine.setupLocalVideoCanvas(canvas);
        else code = sub ? engine.setupRemoteSubStreamVideoCanvas(uidOf(base), canvas) : engine.setupRemoteVideoCanvas(uidOf(base), canvas);
        return Promise.resolve(code);
      },
      rendererOf(element) {
        const e = byElement.get(element);
        return e ? e.renderer : null;
      },
      frameSize(element) {
        const e = byElement.get(element);
        return e && e.width ? { width: e.width, height: e.height } : null;
      },
      close() {
        engine.release();
      },
    };
  }

  NS.createNertcBridge = createNertcBridge;
})(typeof window !== 'undefined' ? window : globalThis);
