'use strict';
// Secure mode's preload (contextIsolation: true, sandbox: true). The page gets no Node and no
// ipcRenderer: only `window.nertcSecure`, four functions that reach the engine host in the main
// process, and a MessagePort for frames, handed over with window.postMessage so that frames go
// from the main process straight to the page's world (nothing is copied through this preload).

const { contextBridge, ipcRenderer } = require('electron');

const OPS = new Set(['call', 'bind', 'unbind', 'stats']);
let eventCallback = null;

ipcRenderer.on('nertc:event', (_event, name, args) => {
  if (eventCallback) eventCallback(name, args);
});

ipcRenderer.on('nertc:port', (event) => {
  // Transfers the port to the main world; bridge-secure.js takes it (source === window).
  window.postMessage({ nertcFramePort: true }, '*', event.ports);
});

contextBridge.exposeInMainWorld('nertcSecure', {
  /** (Re)creates this page's engine in the main process; then the frame port arrives. */
  hello: () => ipcRenderer.invoke('nertc:hello'),
  /** `{op: 'call', method, args}` | `{op: 'bind', key, mode, mirror}` | `{op: 'unbind', key}` | `{op: 'stats'}`. */
  invoke: (msg) => {
    if (!msg || typeof msg !== 'object' || !OPS.has(msg.op)) return Promise.reject(new Error('nertcSecure.invoke: bad message'));
    const { op, method, args, key, mode, mirror } = msg;
    return ipcRenderer.invoke('nertc:op', { op, method, args, key, mode, mirror });
  },
  /** `cb(name, args)` for every engine event (one listener; a later call replaces it). */
  onEvent: (cb) => {
    eventCallback = typeof cb === 'function' ? cb : null;
  },
});
