// nertc-electron-sdk: DOM video renderer (WebGL with a 2D-canvas fallback).
//
// Draws I420 frames `{width, height, y, u, v, strides: {y, u, v}, mirrored, timestamp,
// colorSpace?, range?}` into a <canvas> that it creates inside a container element (the
// `view` of setupLocalVideoCanvas / setupRemoteVideoCanvas).
//
//   const { createRenderer } = require('nertc-electron-sdk/renderer');   // or window.NERtcRenderer
//   const r = createRenderer(div, { mode: 0, mirror: false, preferWebGL: true });
//   r.drawFrame(frame); r.setMode(2); r.setMirror(true); r.captureImage(); r.destroy();
//
// WebGL path: three single-channel textures (R8 on WebGL2, LUMINANCE on WebGL1) and a
// YUV->RGB shader (BT.601 limited range by default; BT.709 and full range selectable per
// renderer or per frame). Strides wider than the picture are handled with UNPACK_ROW_LENGTH on
// WebGL2, and on WebGL1 by uploading the whole stride and scaling (and clamping) the texture
// coordinates so the padding never shows. Textures are (re)allocated only when the frame
// layout changes; each frame is three texSubImage2D calls and one draw.
//
// 2D path (WebGL unavailable, `preferWebGL: false`, or the WebGL context was lost): the I420
// planes are converted with lookup tables into one reused ImageData (written through a
// Uint32Array view), put on a reused frame-sized scratch canvas, and drawn scaled with
// drawImage. On `webglcontextlost` the renderer swaps a fresh 2D canvas into the view; on
// `webglcontextrestored` it rebuilds its GL resources and swaps the WebGL canvas back.
//
// UMD: `module.exports` under CommonJS (Node, Electron with nodeIntegration, bundlers), else
// `window.NERtcRenderer`. No dependencies, no build step.
(function (root, factory) {
  'use strict';
  const api = factory(root);
  if (typeof module === 'object' && module && typeof module.exports === 'object') module.exports = api;
  else if (root) root.NERtcRenderer = api;
})(typeof window !== 'undefined' ? window : typeof globalThis !== 'undefined' ? globalThis : this, function (root) {
  'use strict';

  const MODE_FIT = 0; // letterbox: the whole picture is visible, black bars
  const MODE_FULLFILL = 1; // stretch to the view
  const MODE_CROPFILL = 2; // fill the view, keep the aspect ratio, crop the overflow

  const now =
    root && root.performance && typeof root.performance.now === 'function'
      ? () => root.performance.now()
      : () => Date.now();

  // -------------------------------------------------------------------------------------------
  // Colour conversion coefficients

  const KR = { bt601: 0.299, bt709: 0.2126 };
  const KB = { bt601: 0.114, bt709: 0.0722 };

  function normColorSpace(cs) {
    if (cs == null) return null;
    const s = String(cs).toLowerCase().replace(/[^a-z0-9]/g, '');
    if (s === 'bt709' || s === '709' || s === 'rec709') return 'bt709';
    if (s === 'bt601' || s === '601' || s === 'rec601' || s === 'smpte170m' || s === 'bt470bg') return 'bt601';
    return null;
  }

  function normRange(r) {
    if (r == null) return null;
    if (r === true || r === 'full' || r === 'jpeg' || r === 'pc') return 'full';
    if (r === false || r === 'limited' || r === 'video' || r === 'tv' || r === 'mpeg') return 'limited';
    return null;
  }

  /** YUV -> RGB coefficients (RGB and Y in 0..255 units). */
  function coefficients(colorSpace, range) {
    const kr = KR[colorSpace] || KR.bt601;
    const kb = KB[colorSpace] || KB.bt601;
    const kg = 1 - kr - kb;
    const full = range === 'full';
    const ys = full ? 1 : 255 / 219;
    const cs = full ? 1 : 255 / 224;
    return {
      yOff: full ? 0 : 16,
      ys,
      rv: cs * 2 * (1 - kr),
      gu: (cs * 2 * (1 - kb) * kb) / kg,
      gv: (cs * 2 * (1 - kr) * kr) / kg,
      bu: cs * 2 * (1 - kb),
    };
  }

  // -------------------------------------------------------------------------------------------
  // I420 -> RGBA (the 2D path's converter)

  const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([0x0a0b0c0d]).buffer)[0] === 0x0d;
  const CLAMP_BIAS = 384; // table index offset: sums stay within [0, 1024)
  // Clamp tables pre-shifted to each channel's byte position within a packed RGBA uint32.
  const CLAMP_R = new Int32Array(1024);
  const CLAMP_G = new Int32Array(1024);
  const CLAMP_B = new Int32Array(1024);
  const ALPHA = LITTLE_ENDIAN ? 0xff000000 | 0 : 0xff;
  for (let i = 0; i < 1024; i++) {
    const c = Math.max(0, Math.min(255, i - CLAMP_BIAS));
    if (LITTLE_ENDIAN) {
      CLAMP_R[i] = c;
      CLAMP_G[i] = c << 8;
      CLAMP_B[i] = c << 16;
    } else {
      CLAMP_R[i] = c << 24;
      CLAMP_G[i] = c << 16;
      CLAMP_B[i] = c << 8;
    }
  }

  // Per (colour space, range) lookup tables in 8.8 fixed point, built on first use.
  const tableCache = Object.create(null);
  function lookupTables(colorSpace, range) {
    const key = colorSpace + '/' + range;
    let t = tableCache[key];
    if (t) return t;
    const k = coefficients(colorSpace, range);
    t = { y: new Int32Array(256), rv: new Int32Array(256), gu: new Int32Array(256), gv: new Int32Array(256), bu: new Int32Array(256) };
    for (let i = 0; i < 256; i++) {
      // Y carries the clamp-table bias and the rounding half.
      t.y[i] = Math.round((i - k.yOff) * k.ys * 256) + (CLAMP_BIAS << 8) + 128;
      t.rv[i] = Math.round((i - 128) * k.rv * 256);
      t.gu[i] = Math.round((i - 128) * k.gu * 256);
      t.gv[i] = Math.round((i - 128) * k.gv * 256);
      t.bu[i] = Math.round((i - 128) * k.bu * 256);
    }
    tableCache[key] = t;
    return t;
  }

  /**
   * Validates `frame` and writes its layout into `L` (reused; no allocation).
   * Throws TypeError / RangeError on a malformed frame.
   */
  function readLayout(frame, L) {
    if (!frame || typeof frame !== 'object') throw new TypeError('frame must be an object');
    const w = frame.width;
    const h = frame.height;
    if (!(w > 0 && h > 0 && w === (w | 0) && h === (h | 0))) throw new RangeError(`invalid frame size ${w}x${h}`);
    const y = frame.y;
    const u = frame.u;
    const v = frame.v;
    if (!isBytes(y) || !isBytes(u) || !isBytes(v)) throw new TypeError('frame.y, frame.u and frame.v must be Uint8Array (or Buffer)');
    const cw = (w + 1) >> 1;
    const ch = (h + 1) >> 1;
    const s = frame.strides;
    const sy = s && s.y != null ? s.y : w;
    const su = s && s.u != null ? s.u : cw;
    const sv = s && s.v != null ? s.v : cw;
    if (!(sy >= w && sy === (sy | 0)) || !(su >= cw && su === (su | 0)) || !(sv >= cw && sv === (sv | 0))) {
      throw new RangeError(`invalid strides ${sy}/${su}/${sv} for a ${w}x${h} frame`);
    }
    if (y.length < sy * (h - 1) + w || u.length < su * (ch - 1) + cw || v.length < sv * (ch - 1) + cw) {
      throw new RangeError(`frame planes too short for ${w}x${h} with strides ${sy}/${su}/${sv}`);
    }
    L.w = w;
    L.h = h;
    L.cw = cw;
    L.ch = ch;
    L.sy = sy;
    L.su = su;
    L.sv = sv;
    return L;
  }

  function isBytes(a) {
    return a != null && typeof a.length === 'number' && ArrayBuffer.isView(a) && a.BYTES_PER_ELEMENT === 1;
  }

  /**
   * The conversion loop: packed RGBA written into `out32` (w*h uint32, row-major, tight).
   * Two rows per pass so each chroma sample is looked up once for its 2x2 block.
   */
  function convert(frame, L, out32, t) {
    const Y = frame.y;
    const U = frame.u;
    const V = frame.v;
    const w = L.w;
    const h = L.h;
    const sy = L.sy;
    const su = L.su;
    const sv = L.sv;
    const TY = t.y;
    const TRV = t.rv;
    const TGU = t.gu;
    const TGV = t.gv;
    const TBU = t.bu;
    const CR = CLAMP_R;
    const CG = CLAMP_G;
    const CB = CLAMP_B;
    const A = ALPHA;
    const wEven = w & ~1;
    const oddW = (w & 1) === 1;
    for (let j = 0; j < h; j += 2) {
      let y0 = j * sy;
      let ui = (j >> 1) * su;
      let vi = (j >> 1) * sv;
      let o0 = j * w;
      const end = o0 + wEven;
      let uu = 0;
      let vv = 0;
      let rv = 0;
      let guv = 0;
      let bu = 0;
      let yy = 0;
      if (j + 1 < h) {
        let y1 = y0 + sy;
        let o1 = o0 + w;
        while (o0 < end) {
          uu = U[ui++];
          vv = V[vi++];
          rv = TRV[vv];
          guv = TGU[uu] + TGV[vv];
          bu = TBU[uu];
          yy = TY[Y[y0++]];
          out32[o0++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
          yy = TY[Y[y0++]];
          out32[o0++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
          yy = TY[Y[y1++]];
          out32[o1++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
          yy = TY[Y[y1++]];
          out32[o1++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
        }
        if (oddW) {
          uu = U[ui];
          vv = V[vi];
          rv = TRV[vv];
          guv = TGU[uu] + TGV[vv];
          bu = TBU[uu];
          yy = TY[Y[y0]];
          out32[o0] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
          yy = TY[Y[y1]];
          out32[o1] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
        }
      } else {
        // odd height: the last row alone
        while (o0 < end) {
          uu = U[ui++];
          vv = V[vi++];
          rv = TRV[vv];
          guv = TGU[uu] + TGV[vv];
          bu = TBU[uu];
          yy = TY[Y[y0++]];
          out32[o0++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
          yy = TY[Y[y0++]];
          out32[o0++] = CR[(yy + rv) >> 8] | CG[(yy - guv) >> 8] | CB[(yy + bu) >> 8] | A;
        }
        if (oddW) {
          uu = U[ui];
          vv = V[vi];
          yy = TY[Y[y0]];
          out32[o0] = CR[(yy + TRV[vv]) >> 8] | CG[(yy - TGU[uu] - TGV[vv]) >> 8] | CB[(yy + TBU[uu]) >> 8] | A;
        }
      }
    }
  }

  /**
   * Converts an I420 frame to RGBA (row-major, width*4 bytes per row, alpha 255).
   * `out` (optional): an ImageData or a Uint8ClampedArray/Uint8Array of at least w*h*4 bytes;
   * a new Uint8ClampedArray is returned when omitted. Returns `out`.
   * `options`: `{colorSpace: 'bt601' | 'bt709', range: 'limited' | 'full'}`; the frame's own
   * `colorSpace` / `range` fields win over them. Defaults: BT.601, limited range.
   */
  function i420ToRgba(frame, out, options) {
    const L = readLayout(frame, {});
    const n = L.w * L.h;
    if (out == null) out = new Uint8ClampedArray(n * 4);
    const data = out.data && ArrayBuffer.isView(out.data) ? out.data : out;
    if (!ArrayBuffer.isView(data) || data.BYTES_PER_ELEMENT !== 1) throw new TypeError('out must be an ImageData or a byte array');
    if (data.length < n * 4) throw new RangeError(`out holds ${data.length} bytes, ${n * 4} needed`);
    const opts = options || {};
    const cs = normColorSpace(frame.colorSpace) || normColorSpace(opts.colorSpace) || 'bt601';
    const range = normRange(frame.range) || normRange(opts.range) || 'limited';
    const t = lookupTables(cs, range);
    if (data.byteOffset % 4 === 0) {
      convert(frame, L, new Uint32Array(data.buffer, data.byteOffset, n), t);
    } else {
      const tmp = new Uint32Array(n);
      convert(frame, L, tmp, t);
      data.set(new Uint8Array(tmp.buffer), 0);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Geometry shared by both backends

  /**
   * Destination rectangle in canvas pixels (dx, dy, dw, dh; origin top-left) and source
   * rectangle in normalised picture coordinates (sx, sy, sw, sh).
   */
  function computeGeometry(g, cw, ch, w, h, mode) {
    g.dx = 0;
    g.dy = 0;
    g.dw = cw;
    g.dh = ch;
    g.sx = 0;
    g.sy = 0;
    g.sw = 1;
    g.sh = 1;
    if (mode === MODE_FULLFILL) return g;
    if (mode === MODE_CROPFILL) {
      const s = Math.max(cw / w, ch / h);
      g.sw = Math.min(1, cw / (w * s));
      g.sh = Math.min(1, ch / (h * s));
      g.sx = (1 - g.sw) / 2;
      g.sy = (1 - g.sh) / 2;
      return g;
    }
    const s = Math.min(cw / w, ch / h);
    const dw = Math.max(1, Math.min(cw, Math.round(w * s)));
    const dh = Math.max(1, Math.min(ch, Math.round(h * s)));
    g.dx = (cw - dw) >> 1;
    g.dy = (ch - dh) >> 1;
    g.dw = dw;
    g.dh = dh;
    return g;
  }

  // -------------------------------------------------------------------------------------------
  // WebGL program

  const VERTEX_SHADER = `
attribute vec2 a_pos;
uniform float u_flip;   // -1: mirror horizontally
uniform vec4 u_crop;    // xy: offset, zw: size, in normalised picture coordinates
varying vec2 v_p;
void main() {
  vec2 t = vec2(a_pos.x * 0.5 + 0.5, 0.5 - a_pos.y * 0.5);
  v_p = u_crop.xy + t * u_crop.zw;
  gl_Position = vec4(a_pos.x * u_flip, a_pos.y, 0.0, 1.0);
}`;

  const FRAGMENT_SHADER = `
#ifdef GL_FRAGMENT_PRECISION_HIGH
precision highp float;
#else
precision mediump float;
#endif
uniform sampler2D u_texY;
uniform sampler2D u_texU;
uniform sampler2D u_texV;
uniform vec2 u_scaleY;  // picture coordinates -> texture coordinates (padding excluded)
uniform vec2 u_scaleU;
uniform vec2 u_scaleV;
uniform vec2 u_maxY;    // last valid texel centre: stops linear filtering pulling in padding
uniform vec2 u_maxU;
uniform vec2 u_maxV;
uniform mat3 u_matrix;
uniform vec3 u_offset;
varying vec2 v_p;
void main() {
  float y = texture2D(u_texY, min(v_p * u_scaleY, u_maxY)).r;
  float u = texture2D(u_texU, min(v_p * u_scaleU, u_maxU)).r;
  float v = texture2D(u_texV, min(v_p * u_scaleV, u_maxV)).r;
  gl_FragColor = vec4(clamp(u_matrix * (vec3(y, u, v) - u_offset), 0.0, 1.0), 1.0);
}`;

  function compile(gl, type, src) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, src);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS) && !gl.isContextLost()) {
      const log = gl.getShaderInfoLog(sh);
      gl.deleteShader(sh);
      throw new Error('shader compile failed: ' + log);
    }
    return sh;
  }

  // -------------------------------------------------------------------------------------------
  // Renderer

  function validMode(mode) {
    if (mode == null) return MODE_FIT;
    if (mode !== MODE_FIT && mode !== MODE_FULLFILL && mode !== MODE_CROPFILL) {
      throw new RangeError(`mode must be 0 (fit), 1 (fullfill) or 2 (cropfill), got ${mode}`);
    }
    return mode;
  }

  class Renderer {
    constructor(view, options) {
      if (!view || typeof view.appendChild !== 'function' || !view.ownerDocument) {
        throw new TypeError('createRenderer(view): view must be a DOM element');
      }
      if (String(view.tagName).toUpperCase() === 'CANVAS') {
        throw new TypeError('createRenderer(view): view must be a container element (e.g. a div), not a canvas');
      }
      const opts = options || {};
      this._view = view;
      this._doc = view.ownerDocument;
      this._win = this._doc.defaultView || root;
      this._mode = validMode(opts.mode);
      this._mirror = !!opts.mirror;
      this._colorSpace = normColorSpace(opts.colorSpace) || 'bt601';
      this._range = normRange(opts.range) || 'limited';
      this._glAttributes = {
        alpha: false,
        depth: false,
        stencil: false,
        antialias: false,
        premultipliedAlpha: true,
        preserveDrawingBuffer: !!opts.preserveDrawingBuffer,
        failIfMajorPerformanceCaveat: !!opts.failIfMajorPerformanceCaveat,
      };

      this._destroyed = false;
      this._backend = '2d';
      this._canvas = null; // the canvas currently in the view
      this._width = 0; // backing-store size of the current canvas
      this._height = 0;
      this._lastFrame = null;
      this._frames = 0;
      this._lastDrawMs = 0;
      this._layout = { w: 0, h: 0, cw: 0, ch: 0, sy: 0, su: 0, sv: 0 };
      this._geo = { dx: 0, dy: 0, dw: 0, dh: 0, sx: 0, sy: 0, sw: 1, sh: 1 };
      this._geoKey = { cw: -1, ch: -1, w: -1, h: -1, mode: -1, mirror: false };

      // WebGL state
      this._glCanvas = null;
      this._gl = null;
      this._gl2 = false;
      this._glr = null; // GL resources: program, buffer, textures, uniform locations
      this._onLost = null;
      this._onRestored = null;

      // 2D state
      this._canvas2d = null;
      this._ctx = null;
      this._scratch = null;
      this._scratchCtx = null;
      this._imageData = null;
      this._pixels = null; // Uint32Array over _imageData.data

      // The canvas is absolutely positioned so its backing-store size never feeds back into the
      // view's layout; a static view becomes `position: relative` (restored on destroy).
      this._savedPosition = null;
      const cs = this._win.getComputedStyle ? this._win.getComputedStyle(view) : null;
      if (cs && cs.position === 'static') {
        this._savedPosition = view.style.position;
        view.style.position = 'relative';
      }

      this._measure();
      let canvas = null;
      if (opts.preferWebGL !== false) canvas = this._initWebGL();
      if (!canvas) canvas = this._init2d();
      this._attach(canvas);

      this._ro = null;
      const RO = this._win.ResizeObserver;
      if (typeof RO === 'function') {
        this._ro = new RO(() => this._onResize());
        this._ro.observe(view);
      }
    }

    get backend() {
      return this._backend;
    }

    /** The <canvas> currently shown in the view (it changes when the WebGL context is lost). */
    get canvas() {
      return this._canvas;
    }

    get mode() {
      return this._mode;
    }

    get mirror() {
      return this._mirror;
    }

    drawFrame(frame) {
      if (this._destroyed) return;
      const t0 = now();
      readLayout(frame, this._layout);
      this._lastFrame = frame;
      this._checkSize();
      if (this._backend === 'webgl' && this._gl.isContextLost()) this._switchTo2d();
      this._render(frame);
      this._frames++;
      this._lastDrawMs = now() - t0;
    }

    setMode(mode) {
      this._mode = validMode(mode);
      this._redraw();
    }

    setMirror(mirror) {
      this._mirror = !!mirror;
      this._redraw();
    }

    /** PNG data URL of the last frame at its native size (not mirrored), or null before any frame. */
    captureImage() {
      const f = this._lastFrame;
      if (!f || this._destroyed) return null;
      const L = readLayout(f, {});
      const c = this._doc.createElement('canvas');
      c.width = L.w;
      c.height = L.h;
      const ctx = c.getContext('2d');
      const img = ctx.createImageData(L.w, L.h);
      i420ToRgba(f, img, { colorSpace: this._colorSpace, range: this._range });
      ctx.putImageData(img, 0, 0);
      return c.toDataURL('image/png');
    }

    stats() {
      return { frames: this._frames, lastDrawMs: this._lastDrawMs };
    }

    destroy() {
      if (this._destroyed) return;
      this._destroyed = true;
      if (this._ro) this._ro.disconnect();
      this._ro = null;
      const gc = this._glCanvas;
      if (gc) {
        gc.removeEventListener('webglcontextlost', this._onLost, false);
        gc.removeEventListener('webglcontextrestored', this._onRestored, false);
      }
      const gl = this._gl;
      if (gl && !gl.isContextLost()) {
        this._deleteGLResources();
        // Free the context now rather than at GC (browsers cap live WebGL contexts).
        const ext = gl.getExtension('WEBGL_lose_context');
        if (ext) ext.loseContext();
      }
      for (const c of [this._glCanvas, this._canvas2d]) {
        if (c && c.parentNode) c.parentNode.removeChild(c);
      }
      if (this._savedPosition !== null) this._view.style.position = this._savedPosition;
      this._gl = null;
      this._glr = null;
      this._glCanvas = null;
      this._canvas2d = null;
      this._canvas = null;
      this._ctx = null;
      this._scratch = null;
      this._scratchCtx = null;
      this._imageData = null;
      this._pixels = null;
      this._lastFrame = null;
      this._backend = '2d';
    }

    // ----- sizing ---------------------------------------------------------------------------

    _measure() {
      const dpr = this._win.devicePixelRatio || 1;
      this._wantW = Math.max(0, Math.round(this._view.clientWidth * dpr));
      this._wantH = Math.max(0, Math.round(this._view.clientHeight * dpr));
    }

    /** Resizes the canvas backing store to the view's size × devicePixelRatio; true if it changed. */
    _checkSize() {
      this._measure();
      const c = this._canvas;
      if (!c || (c.width === this._wantW && c.height === this._wantH)) return false;
      c.width = this._wantW;
      c.height = this._wantH;
      this._width = this._wantW;
      this._height = this._wantH;
      return true;
    }

    _onResize() {
      if (this._destroyed) return;
      // A resize clears the canvas: redraw the last frame so a paused stream stays visible.
      if (this._checkSize()) this._redraw();
    }

    _createCanvas() {
      const c = this._doc.createElement('canvas');
      const s = c.style;
      s.position = 'absolute';
      s.left = '0';
      s.top = '0';
      s.width = '100%';
      s.height = '100%';
      s.display = 'block';
      c.width = this._wantW;
      c.height = this._wantH;
      return c;
    }

    /** Puts `canvas` into the view in place of the current one. */
    _attach(canvas) {
      const old = this._canvas;
      if (old === canvas) return;
      canvas.width = this._wantW;
      canvas.height = this._wantH;
      if (old && old.parentNode === this._view) this._view.replaceChild(canvas, old);
      else this._view.insertBefore(canvas, this._view.firstChild);
      this._canvas = canvas;
      this._width = canvas.width;
      this._height = canvas.height;
      this._geoKey.cw = -1; // force geometry/uniform refresh
    }

    _redraw() {
      if (this._destroyed || !this._lastFrame) return;
      try {
        this._checkSize();
        readLayout(this._lastFrame, this._layout);
        this._render(this._lastFrame);
      } catch {
        // the caller may have released the last frame's buffers; the next frame redraws
      }
    }

    _render(frame) {
      if (this._width === 0 || this._height === 0) return;
      const L = this._layout;
      const mirror = this._mirror || !!frame.mirrored;
      const k = this._geoKey;
      let geoChanged = false;
      if (k.cw !== this._width || k.ch !== this._height || k.w !== L.w || k.h !== L.h || k.mode !== this._mode || k.mirror !== mirror) {
        computeGeometry(this._geo, this._width, this._height, L.w, L.h, this._mode);
        k.cw = this._width;
        k.ch = this._height;
        k.w = L.w;
        k.h = L.h;
        k.mode = this._mode;
        k.mirror = mirror;
        geoChanged = true;
      }
      if (this._backend === 'webgl') this._renderGL(frame, L, mirror, geoChanged);
      else this._render2d(frame, L, mirror);
    }

    // ----- WebGL ----------------------------------------------------------------------------

    _initWebGL() {
      let canvas = this._createCanvas();
      let gl = null;
      try {
        gl = canvas.getContext('webgl2', this._glAttributes);
        this._gl2 = !!gl;
        if (!gl) gl = canvas.getContext('webgl', this._glAttributes) || canvas.getContext('experimental-webgl', this._glAttributes);
      } catch {
        gl = null;
      }
      if (!gl) return null;
      this._gl = gl;
      try {
        this._createGLResources();
      } catch {
        this._deleteGLResources();
        const ext = gl.getExtension('WEBGL_lose_context');
        if (ext) ext.loseContext();
        this._gl = null;
        return null;
      }
      this._glCanvas = canvas;
      this._onLost = (e) => {
        e.preventDefault(); // allows webglcontextrestored
        if (!this._destroyed && this._backend === 'webgl') this._switchTo2d();
      };
      this._onRestored = () => {
        if (this._destroyed) return;
        try {
          this._createGLResources();
        } catch {
          return; // stay on 2D
        }
        this._backend = 'webgl';
        this._attach(this._glCanvas);
        this._release2d();
        this._redraw();
      };
      canvas.addEventListener('webglcontextlost', this._onLost, false);
      canvas.addEventListener('webglcontextrestored', this._onRestored, false);
      this._backend = 'webgl';
      return canvas;
    }

    _createGLResources() {
      const gl = this._gl;
      const vs = compile(gl, gl.VERTEX_SHADER, VERTEX_SHADER);
      const fs = compile(gl, gl.FRAGMENT_SHADER, FRAGMENT_SHADER);
      const program = gl.createProgram();
      gl.attachShader(program, vs);
      gl.attachShader(program, fs);
      gl.bindAttribLocation(program, 0, 'a_pos');
      gl.linkProgram(program);
      gl.deleteShader(vs);
      gl.deleteShader(fs);
      if (!gl.getProgramParameter(program, gl.LINK_STATUS) && !gl.isContextLost()) {
        const log = gl.getProgramInfoLog(program);
        gl.deleteProgram(program);
        throw new Error('program link failed: ' + log);
      }
      gl.useProgram(program);
      const loc = (n) => gl.getUniformLocation(program, n);
      const r = {
        program,
        buffer: gl.createBuffer(),
        textures: [gl.createTexture(), gl.createTexture(), gl.createTexture()],
        texW: [0, 0, 0],
        texH: [0, 0, 0],
        // layout the uniforms were last set for
        w: 0,
        h: 0,
        sy: 0,
        su: 0,
        sv: 0,
        colorSpace: '',
        range: '',
        matrix: new Float32Array(9),
        uFlip: loc('u_flip'),
        uCrop: loc('u_crop'),
        uScale: [loc('u_scaleY'), loc('u_scaleU'), loc('u_scaleV')],
        uMax: [loc('u_maxY'), loc('u_maxU'), loc('u_maxV')],
        uMatrix: loc('u_matrix'),
        uOffset: loc('u_offset'),
      };
      this._glr = r;
      gl.bindBuffer(gl.ARRAY_BUFFER, r.buffer);
      gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
      gl.enableVertexAttribArray(0);
      gl.vertexAttribPointer(0, 2, gl.FLOAT, false, 0, 0);
      gl.uniform1i(loc('u_texY'), 0);
      gl.uniform1i(loc('u_texU'), 1);
      gl.uniform1i(loc('u_texV'), 2);
      for (let i = 0; i < 3; i++) {
        gl.activeTexture(gl.TEXTURE0 + i);
        gl.bindTexture(gl.TEXTURE_2D, r.textures[i]);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
        gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      }
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.disable(gl.DEPTH_TEST);
      gl.disable(gl.BLEND);
      gl.clearColor(0, 0, 0, 1);
      this._geoKey.cw = -1;
    }

    _deleteGLResources() {
      const gl = this._gl;
      const r = this._glr;
      this._glr = null;
      if (!gl || !r) return;
      for (const t of r.textures) gl.deleteTexture(t);
      gl.deleteBuffer(r.buffer);
      gl.deleteProgram(r.program);
    }

    _switchTo2d() {
      this._glr = null; // lost with the context
      this._attach(this._init2d());
      this._redraw();
    }

    _renderGL(frame, L, mirror, geoChanged) {
      const gl = this._gl;
      const r = this._glr;
      const gl2 = this._gl2;

      if (L.w !== r.w || L.h !== r.h || L.sy !== r.sy || L.su !== r.su || L.sv !== r.sv) {
        // WebGL2 uploads exactly the picture (UNPACK_ROW_LENGTH skips the padding); WebGL1
        // uploads whole rows (stride wide) and scales the texture coordinates.
        this._layoutTextures(gl, r, 0, gl2 ? L.w : L.sy, L.h, L.w, L.h);
        this._layoutTextures(gl, r, 1, gl2 ? L.cw : L.su, L.ch, L.w / 2, L.h / 2);
        this._layoutTextures(gl, r, 2, gl2 ? L.cw : L.sv, L.ch, L.w / 2, L.h / 2);
        r.w = L.w;
        r.h = L.h;
        r.sy = L.sy;
        r.su = L.su;
        r.sv = L.sv;
      }

      const cs = normColorSpace(frame.colorSpace) || this._colorSpace;
      const range = normRange(frame.range) || this._range;
      if (cs !== r.colorSpace || range !== r.range) {
        const k = coefficients(cs, range);
        const m = r.matrix; // column-major: columns are the Y, U, V contributions to (R, G, B)
        m[0] = k.ys;
        m[1] = k.ys;
        m[2] = k.ys;
        m[3] = 0;
        m[4] = -k.gu;
        m[5] = k.bu;
        m[6] = k.rv;
        m[7] = -k.gv;
        m[8] = 0;
        gl.uniformMatrix3fv(r.uMatrix, false, m);
        gl.uniform3f(r.uOffset, k.yOff / 255, 128 / 255, 128 / 255);
        r.colorSpace = cs;
        r.range = range;
      }

      const g = this._geo;
      if (geoChanged) {
        gl.uniform1f(r.uFlip, mirror ? -1 : 1);
        gl.uniform4f(r.uCrop, g.sx, g.sy, g.sw, g.sh);
      }

      this._upload(gl, gl2, 0, frame.y, L.sy, L.w, L.h);
      this._upload(gl, gl2, 1, frame.u, L.su, L.cw, L.ch);
      this._upload(gl, gl2, 2, frame.v, L.sv, L.cw, L.ch);

      gl.viewport(0, 0, this._width, this._height);
      gl.clear(gl.COLOR_BUFFER_BIT);
      gl.viewport(g.dx, this._height - g.dy - g.dh, g.dw, g.dh);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    }

    /**
     * Allocates texture `i` as texW x texH (only when that changes) and sets the uniforms that
     * map picture coordinates onto it: `visW` x `visH` texels are the picture.
     */
    _layoutTextures(gl, r, i, texW, texH, visW, visH) {
      if (r.texW[i] !== texW || r.texH[i] !== texH) {
        gl.activeTexture(gl.TEXTURE0 + i);
        if (this._gl2) gl.texImage2D(gl.TEXTURE_2D, 0, gl.R8, texW, texH, 0, gl.RED, gl.UNSIGNED_BYTE, null);
        else gl.texImage2D(gl.TEXTURE_2D, 0, gl.LUMINANCE, texW, texH, 0, gl.LUMINANCE, gl.UNSIGNED_BYTE, null);
        r.texW[i] = texW;
        r.texH[i] = texH;
      }
      gl.uniform2f(r.uScale[i], visW / texW, visH / texH);
      gl.uniform2f(r.uMax[i], (Math.ceil(visW) - 0.5) / texW, (Math.ceil(visH) - 0.5) / texH);
    }

    _upload(gl, gl2, i, plane, stride, w, h) {
      gl.activeTexture(gl.TEXTURE0 + i);
      if (gl2) {
        gl.pixelStorei(gl.UNPACK_ROW_LENGTH, stride);
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w, h, gl.RED, gl.UNSIGNED_BYTE, plane);
      } else if (plane.length >= stride * h) {
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, stride, h, gl.LUMINANCE, gl.UNSIGNED_BYTE, plane);
      } else {
        // The last row is not padded to the stride: upload it separately.
        if (h > 1) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, stride, h - 1, gl.LUMINANCE, gl.UNSIGNED_BYTE, plane);
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, h - 1, w, 1, gl.LUMINANCE, gl.UNSIGNED_BYTE, plane.subarray(stride * (h - 1)));
      }
    }

    // ----- 2D canvas ------------------------------------------------------------------------

    _init2d() {
      if (!this._canvas2d) {
        const c = this._createCanvas();
        const ctx = c.getContext('2d', { alpha: false });
        if (!ctx) throw new Error('createRenderer: neither WebGL nor a 2D canvas context is available');
        this._canvas2d = c;
        this._ctx = ctx;
      }
      this._backend = '2d';
      return this._canvas2d;
    }

    /** Frees the 2D path's frame-sized buffers (after switching back to WebGL). */
    _release2d() {
      this._imageData = null;
      this._pixels = null;
      if (this._scratch) {
        this._scratch.width = 0;
        this._scratch.height = 0;
      }
    }

    _render2d(frame, L, mirror) {
      const w = L.w;
      const h = L.h;
      let img = this._imageData;
      if (!img || img.width !== w || img.height !== h) {
        img = typeof ImageData === 'function' ? new ImageData(w, h) : this._ctx.createImageData(w, h);
        this._imageData = img;
        this._pixels = new Uint32Array(img.data.buffer, img.data.byteOffset, w * h);
      }
      const cs = normColorSpace(frame.colorSpace) || this._colorSpace;
      const range = normRange(frame.range) || this._range;
      convert(frame, L, this._pixels, lookupTables(cs, range));

      const ctx = this._ctx;
      const g = this._geo;
      const cw = this._width;
      const ch = this._height;
      if (!mirror && g.dw === w && g.dh === h && g.dx === 0 && g.dy === 0 && cw === w && ch === h && g.sw === 1 && g.sh === 1) {
        ctx.putImageData(img, 0, 0); // 1:1, no scaling needed
        return;
      }
      let sc = this._scratch;
      if (!sc) {
        sc = this._doc.createElement('canvas');
        this._scratch = sc;
        this._scratchCtx = null;
      }
      if (sc.width !== w || sc.height !== h) {
        sc.width = w;
        sc.height = h;
      }
      if (!this._scratchCtx) this._scratchCtx = sc.getContext('2d', { alpha: false });
      this._scratchCtx.putImageData(img, 0, 0);

      ctx.setTransform(1, 0, 0, 1, 0, 0);
      if (g.dx > 0 || g.dy > 0 || g.dw < cw || g.dh < ch) {
        ctx.fillStyle = '#000';
        ctx.fillRect(0, 0, cw, ch);
      }
      if (mirror) ctx.setTransform(-1, 0, 0, 1, 2 * g.dx + g.dw, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(sc, g.sx * w, g.sy * h, g.sw * w, g.sh * h, g.dx, g.dy, g.dw, g.dh);
    }
  }

  /**
   * Creates a renderer drawing into a new <canvas> inside `view` (a container element).
   * options: `{mode = 0 (fit) | 1 (fullfill) | 2 (cropfill), mirror = false, preferWebGL = true,
   * colorSpace = 'bt601' | 'bt709', range = 'limited' | 'full', preserveDrawingBuffer = false,
   * failIfMajorPerformanceCaveat = false}`; unknown keys are ignored.
   */
  function createRenderer(view, options) {
    return new Renderer(view, options);
  }

  return {
    createRenderer,
    i420ToRgba,
    Renderer,
    MODE_FIT,
    MODE_FULLFILL,
    MODE_CROPFILL,
  };
});
