// renderer.js: the DOM video renderer (WebGL with a 2D-canvas fallback), exercised in headless
// Chromium through playwright-core, plus its I420 -> RGBA converter in Node.
//
// Chromium: scripts/chromium.mjs (CHROMIUM_BIN). Serves the fixture on 127.0.0.1 only.
// Screenshots: test-artifacts/renderer-*.png.

import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../scripts/chromium.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const require = createRequire(import.meta.url);
const { i420ToRgba, createRenderer } = require('../renderer.js');

// Headless Chromium 156 gives WebGL 1 and 2 through ANGLE on SwiftShader (Vulkan) even with
// --disable-gpu; scripts/chromium.mjs also passes --enable-unsafe-swiftshader, which keeps that
// working on builds where the automatic software fallback for WebGL is turned off.

const state = { web: null, webPort: 0, chromium: null };

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
const SERVED = new Set(['renderer.js', '__test__/fixtures/renderer.html']);

function startWeb() {
  const srv = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
    if (rel === 'favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (!SERVED.has(rel)) {
      res.writeHead(404).end('not found');
      return;
    }
    const file = path.join(ROOT, rel);
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)],
      'cache-control': 'no-store',
      // Cross-origin isolation: performance.now() at 5 us instead of 100 us resolution.
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
    });
    fs.createReadStream(file).pipe(res);
  });
  state.web = srv;
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => {
    state.webPort = srv.address().port;
    resolve();
  }));
}

test.before(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await startWeb();
  state.chromium = await launchChromium({ name: 'renderer', viewport: { width: 1000, height: 800 } });
});

test.after.always(async () => {
  await state.chromium?.close();
  await new Promise((r) => (state.web ? state.web.close(r) : r()));
});

/** A fresh page on the fixture; `webgl1: true` hides WebGL2 so the WebGL1 path is used. */
async function openPage(t, { webgl1 = false } = {}) {
  const hideWebgl2 = () => {
    const orig = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
      return type === 'webgl2' ? null : orig.call(this, type, ...rest);
    };
  };
  const page = await state.chromium.openPage(null, {
    // Not logged: SwiftShader's readback-stall notes and the readback hint caused by the tests' own sampling.
    noise: /GPU stall due to ReadPixels|willReadFrequently/,
    initScript: webgl1 ? hideWebgl2 : null,
  });
  t.teardown(async () => {
    if (page.logs.length) t.log(page.logs.join('\n'));
    await page.close().catch(() => {});
  });
  await page.goto(`http://127.0.0.1:${state.webPort}/__test__/fixtures/renderer.html`);
  await page.waitForFunction(() => window.fixtureReady === true);
  return page;
}

// Colours of the fixture's test picture (see renderer.html).
const C = {
  tl: [200, 40, 40],
  tr: [40, 180, 70],
  bl: [40, 70, 200],
  br: [220, 220, 220],
  marker: [240, 220, 30],
  black: [0, 0, 0],
};
const TOL = 12;

function near(actual, expected, tol = TOL) {
  return actual.every((v, i) => Math.abs(v - expected[i]) <= tol);
}

/** Asserts each sampled pixel against [label, expected] pairs. */
function checkPixels(t, samples, expected, what) {
  expected.forEach(([label, want], i) => {
    t.true(near(samples[i], want), `${what}: ${label} is ${JSON.stringify(samples[i])}, expected ~${JSON.stringify(want)}`);
  });
}

// Sample points in picture fractions: quadrant interiors, the marker, and the picture's edges
// (the last column / row must show picture, not stride padding).
const PICTURE_POINTS = [
  ['tl', [0.3, 0.35], C.tl],
  ['tr', [0.75, 0.25], C.tr],
  ['bl', [0.25, 0.75], C.bl],
  ['br', [0.75, 0.75], C.br],
  ['marker', [0.1, 0.13], C.marker],
  ['right edge (top)', [0.9999, 0.3], C.tr],
  ['right edge (bottom)', [0.9999, 0.9999], C.br],
  ['left edge', [0, 0.75], C.bl],
  ['bottom edge', [0.3, 0.9999], C.bl],
];

const BACKENDS = [
  { name: 'webgl', options: { preferWebGL: true }, page: {} },
  { name: 'webgl1', options: { preferWebGL: true }, page: { webgl1: true } },
  { name: '2d', options: { preferWebGL: false }, page: {} },
];
const expectedBackend = (b) => (b.name === '2d' ? '2d' : 'webgl');

// ---------------------------------------------------------------------------------------------
// Node: the module and its converter

function rgbToYuv([r, g, b], colorSpace = 'bt601', range = 'limited') {
  const kr = colorSpace === 'bt709' ? 0.2126 : 0.299;
  const kb = colorSpace === 'bt709' ? 0.0722 : 0.114;
  const y = kr * r + (1 - kr - kb) * g + kb * b;
  const pb = (b - y) / (2 * (1 - kb));
  const pr = (r - y) / (2 * (1 - kr));
  const c = (x) => Math.max(0, Math.min(255, Math.round(x)));
  return range === 'full'
    ? [c(y), c(128 + pb), c(128 + pr)]
    : [c(16 + (y * 219) / 255), c(128 + (pb * 224) / 255), c(128 + (pr * 224) / 255)];
}

/** A w x h frame whose left half (x < split, split even) is `left` and the rest `right`. */
function twoColorFrame(w, h, split, left, right, { padY = 3, padC = 2, colorSpace, range, tight = false } = {}) {
  const cw = (w + 1) >> 1;
  const ch = (h + 1) >> 1;
  const sy = w + padY;
  const sc = cw + padC;
  const L = rgbToYuv(left, colorSpace, range);
  const R = rgbToYuv(right, colorSpace, range);
  let y = new Uint8Array(sy * h).fill(255);
  let u = new Uint8Array(sc * ch).fill(0);
  let v = new Uint8Array(sc * ch).fill(255);
  for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) y[j * sy + i] = (i < split ? L : R)[0];
  for (let j = 0; j < ch; j++) {
    for (let i = 0; i < cw; i++) {
      u[j * sc + i] = (2 * i < split ? L : R)[1];
      v[j * sc + i] = (2 * i < split ? L : R)[2];
    }
  }
  if (tight) {
    y = y.subarray(0, sy * (h - 1) + w);
    u = u.subarray(0, sc * (ch - 1) + cw);
    v = v.subarray(0, sc * (ch - 1) + cw);
  }
  const f = { width: w, height: h, y, u, v, strides: { y: sy, u: sc, v: sc } };
  if (colorSpace) f.colorSpace = colorSpace;
  if (range) f.range = range;
  return f;
}

function checkRgba(t, rgba, w, h, split, left, right, what) {
  let bad = 0;
  let first = null;
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const o = (j * w + i) * 4;
      const px = [rgba[o], rgba[o + 1], rgba[o + 2]];
      if (!near(px, i < split ? left : right, 3) || rgba[o + 3] !== 255) {
        bad++;
        first ??= `(${i},${j}) = ${JSON.stringify([...px, rgba[o + 3]])}`;
      }
    }
  }
  t.is(bad, 0, `${what}: ${bad} wrong pixels, first ${first}`);
}

test.serial('node: loads without a DOM; i420ToRgba handles strides, odd sizes, colour spaces and ranges', (t) => {
  t.is(typeof createRenderer, 'function');
  t.throws(() => createRenderer(null), { instanceOf: TypeError });

  const red = [255, 0, 0];
  const teal = [30, 160, 150];
  for (const [w, h] of [[7, 5], [8, 4], [1, 1], [321, 241]]) {
    const split = w > 1 ? 2 * Math.floor(w / 4) : 1;
    const f = twoColorFrame(w, h, split, red, teal);
    checkRgba(t, i420ToRgba(f), w, h, split, red, teal, `bt601 ${w}x${h}`);
    // The last rows need not be padded to the stride.
    checkRgba(t, i420ToRgba(twoColorFrame(w, h, split, red, teal, { tight: true })), w, h, split, red, teal, `tight ${w}x${h}`);
  }
  const w = 9;
  const h = 3;
  for (const colorSpace of ['bt601', 'bt709']) {
    for (const range of ['limited', 'full']) {
      const f = twoColorFrame(w, h, 4, [250, 200, 20], [20, 40, 90], { colorSpace, range });
      checkRgba(t, i420ToRgba(f), w, h, 4, [250, 200, 20], [20, 40, 90], `${colorSpace}/${range} (frame tags)`);
      const untagged = { ...f, colorSpace: undefined, range: undefined };
      checkRgba(t, i420ToRgba(untagged, null, { colorSpace, range }), w, h, 4, [250, 200, 20], [20, 40, 90], `${colorSpace}/${range} (options)`);
    }
  }
  // BT.709 data read as BT.601 is visibly wrong: the selection matters.
  const f709 = twoColorFrame(w, h, 4, [250, 200, 20], [20, 40, 90], { colorSpace: 'bt709' });
  const wrong = i420ToRgba({ ...f709, colorSpace: undefined });
  t.false(near([wrong[0], wrong[1], wrong[2]], [250, 200, 20], 3));

  // Output targets: an ImageData-like object, a misaligned byte view; errors on short input/output.
  const f = twoColorFrame(w, h, 4, red, teal);
  const img = { width: w, height: h, data: new Uint8ClampedArray(w * h * 4) };
  t.is(i420ToRgba(f, img), img);
  checkRgba(t, img.data, w, h, 4, red, teal, 'ImageData-like out');
  const misaligned = new Uint8Array(w * h * 4 + 1).subarray(1);
  t.is(i420ToRgba(f, misaligned), misaligned);
  checkRgba(t, misaligned, w, h, 4, red, teal, 'misaligned out');
  t.throws(() => i420ToRgba(f, new Uint8Array(10)), { instanceOf: RangeError });
  t.throws(() => i420ToRgba({ ...f, y: f.y.subarray(0, 10) }), { instanceOf: RangeError });
  t.throws(() => i420ToRgba({ ...f, strides: { y: w - 1, u: 5, v: 5 } }), { instanceOf: RangeError });
  t.throws(() => i420ToRgba({ ...f, width: 0 }), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// Browser

test.serial('browser: UMD global, and WebGL is available in this headless Chromium', async (t) => {
  const page = await openPage(t);
  const info = await page.evaluate(() => {
    const c = document.createElement('canvas');
    const gl = c.getContext('webgl2');
    const dbg = gl && gl.getExtension('WEBGL_debug_renderer_info');
    return {
      api: Object.keys(window.NERtcRenderer || {}),
      webgl2: !!gl,
      renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : null,
      version: navigator.userAgent.match(/Chrom(?:e|ium)\/([\d.]+)/)?.[1],
    };
  });
  t.log(`Chromium ${info.version}; WebGL2 ${info.webgl2}; ${info.renderer}`);
  t.true(info.api.includes('createRenderer') && info.api.includes('i420ToRgba'), 'window.NERtcRenderer exported');
  t.true(info.webgl2, 'WebGL2 context available under --disable-gpu');
});

for (const b of BACKENDS) {
  test.serial(`${b.name}: colours, marker and edges (no stride padding) at 1:1 and scaled, odd 321x241`, async (t) => {
    const page = await openPage(t, b.page);
    for (const [name, vw, vh] of [['one-to-one', 321, 241], ['scaled', 480, 360], ['downscaled', 200, 150]]) {
      const created = await page.evaluate(([n, w, h, o]) => setup(n, w, h, { ...o, mode: 1 }), [name, vw, vh, b.options]);
      t.is(created.backend, expectedBackend(b), `${name}: backend`);
      t.deepEqual([created.canvasW, created.canvasH], [vw, vh], `${name}: canvas sized to the view`);
      const px = await page.evaluate(([n, pts]) => drawAndSample(n, makeFrame(), pts), [name, PICTURE_POINTS.map((p) => p[1])]);
      checkPixels(t, px, PICTURE_POINTS.map((p) => [p[0], p[2]]), `${b.name} ${name}`);
    }
    if (b.name === 'webgl1') {
      const v = await page.evaluate(() => !!get('scaled').r.canvas.getContext('webgl') && !get('scaled').r.canvas.getContext('webgl2'));
      t.true(v, 'the WebGL1 path is the one in use');
    }
    // Planes whose last row is not padded to the stride (WebGL1 uploads that row separately).
    const tight = await page.evaluate((pts) => {
      const f = makeFrame();
      f.y = f.y.subarray(0, f.strides.y * (f.height - 1) + f.width);
      const ch = (f.height + 1) >> 1;
      const cw = (f.width + 1) >> 1;
      f.u = f.u.subarray(0, f.strides.u * (ch - 1) + cw);
      f.v = f.v.subarray(0, f.strides.v * (ch - 1) + cw);
      return drawAndSample('scaled', f, pts);
    }, PICTURE_POINTS.map((p) => p[1]));
    checkPixels(t, tight, PICTURE_POINTS.map((p) => [p[0], p[2]]), `${b.name} tight planes`);

    // BT.709 and full range, tagged on the frame or set as an option.
    for (const [colorSpace, range] of [['bt709', 'limited'], ['bt601', 'full'], ['bt709', 'full']]) {
      const tagged = await page.evaluate(([cs, rg, pts]) => drawAndSample('scaled', makeFrame({ colorSpace: cs, range: rg }), pts), [colorSpace, range, PICTURE_POINTS.map((p) => p[1])]);
      checkPixels(t, tagged, PICTURE_POINTS.map((p) => [p[0], p[2]]), `${b.name} ${colorSpace}/${range} tagged`);
    }
    await page.evaluate(([o]) => setup('opt709', 240, 180, { ...o, mode: 1, colorSpace: 'bt709' }), [b.options]);
    const opt = await page.evaluate((pts) => drawAndSample('opt709', makeFrame({ colorSpace: 'bt709', tag: false }), pts), PICTURE_POINTS.map((p) => p[1]));
    checkPixels(t, opt, PICTURE_POINTS.map((p) => [p[0], p[2]]), `${b.name} bt709 option`);

    await page.locator('#stage').screenshot({ path: path.join(ARTIFACTS, `renderer-${b.name}.png`) });
  });
}

// Mode geometry for a 321x241 picture (see the comments for the arithmetic).
function modeCases() {
  // Wide view 400x150, fit: scale min(400/321, 150/241) = 0.6224 -> 200x150 picture at x 100..300.
  const fitWide = (px, py) => [(100 + px * 200) / 400, py];
  // Tall view 150x400, fit: scale 150/321 = 0.4673 -> 150x113 picture at y 143..256.
  const fitTall = (px, py) => [px, (143 + py * 113) / 400];
  // Wide view 400x150, cropfill: scale 400/321 -> 400x300.3, rows 0.25..0.75 of the picture visible.
  const cropWide = (cx, cy) => [cx, cy];
  return [
    {
      name: 'fit-wide', w: 400, h: 150, mode: 0,
      points: [
        ['left bar', [0.05, 0.5], C.black], ['left bar inner', [0.24, 0.5], C.black],
        ['right bar', [0.95, 0.5], C.black], ['right bar inner', [0.76, 0.5], C.black],
        ['tl', fitWide(0.3, 0.35), C.tl], ['tr', fitWide(0.75, 0.25), C.tr],
        ['bl', fitWide(0.25, 0.75), C.bl], ['br', fitWide(0.75, 0.75), C.br],
        ['marker', fitWide(0.1, 0.13), C.marker],
      ],
    },
    {
      name: 'fit-tall', w: 150, h: 400, mode: 0,
      points: [
        ['top bar', [0.5, 0.05], C.black], ['top bar inner', [0.5, 0.33], C.black],
        ['bottom bar', [0.5, 0.95], C.black], ['bottom bar inner', [0.5, 0.67], C.black],
        ['tl', fitTall(0.3, 0.35), C.tl], ['tr', fitTall(0.75, 0.25), C.tr],
        ['bl', fitTall(0.25, 0.75), C.bl], ['br', fitTall(0.75, 0.75), C.br],
        ['marker', fitTall(0.1, 0.13), C.marker],
      ],
    },
    {
      name: 'fullfill-wide', w: 400, h: 150, mode: 1,
      points: [
        ['left edge, no bar', [0.01, 0.75], C.bl], ['right edge, no bar', [0.99, 0.25], C.tr],
        ['tl', [0.3, 0.35], C.tl], ['tr', [0.75, 0.25], C.tr], ['bl', [0.25, 0.75], C.bl], ['br', [0.75, 0.75], C.br],
        ['marker (stretched, still top-left)', [0.1, 0.13], C.marker],
      ],
    },
    {
      name: 'cropfill-wide', w: 400, h: 150, mode: 2,
      points: [
        ['left edge, no bar', [0.01, 0.25], C.tl], ['right edge, no bar', [0.99, 0.75], C.br],
        ['tl', cropWide(0.3, 0.25), C.tl], ['tr', cropWide(0.75, 0.25), C.tr],
        ['bl', cropWide(0.25, 0.75), C.bl], ['br', cropWide(0.75, 0.75), C.br],
        // Picture rows above 0.25 are cropped away: the marker (rows 0.04..0.22) is not visible.
        ['marker cropped away', [0.1, 0.13], C.tl], ['top row is picture row ~0.25', [0.1, 0.01], C.tl],
      ],
    },
  ];
}

for (const b of BACKENDS) {
  test.serial(`${b.name}: mode 0 letterboxes, mode 1 stretches, mode 2 crops; setMode redraws`, async (t) => {
    const page = await openPage(t, b.page);
    for (const m of modeCases()) {
      await page.evaluate(([n, w, h, o]) => setup(n, w, h, o), [m.name, m.w, m.h, { ...b.options, mode: m.mode }]);
      const px = await page.evaluate(([n, pts]) => drawAndSample(n, makeFrame(), pts), [m.name, m.points.map((p) => p[1])]);
      checkPixels(t, px, m.points.map((p) => [p[0], p[2]]), `${b.name} ${m.name}`);
    }
    // setMode on a live renderer re-renders the last frame with the new geometry.
    const cases = modeCases();
    const fit = cases[0];
    const crop = cases[3];
    const after = await page.evaluate(([pts]) => {
      get('fullfill-wide').r.setMode(0);
      return sample('fullfill-wide', pts);
    }, [fit.points.map((p) => p[1])]);
    checkPixels(t, after, fit.points.map((p) => [p[0], p[2]]), `${b.name} setMode(0)`);
    const after2 = await page.evaluate(([pts]) => {
      get('fullfill-wide').r.setMode(2);
      return sample('fullfill-wide', pts);
    }, [crop.points.map((p) => p[1])]);
    checkPixels(t, after2, crop.points.map((p) => [p[0], p[2]]), `${b.name} setMode(2)`);
    t.throws(() => createRenderer({}), { instanceOf: TypeError });
    const bad = await page.evaluate(() => {
      try {
        get('fit-wide').r.setMode(7);
        return null;
      } catch (e) {
        return e.name;
      }
    });
    t.is(bad, 'RangeError');
    await page.locator('#stage').screenshot({ path: path.join(ARTIFACTS, `renderer-modes-${b.name}.png`) });
  });

  test.serial(`${b.name}: mirror (option, setMirror, frame.mirrored) flips the marker to the top-right`, async (t) => {
    const page = await openPage(t, b.page);
    const normal = [['marker', [0.1, 0.13], C.marker], ['top-right', [0.9, 0.13], C.tr], ['left-top', [0.25, 0.35], C.tl], ['right-bottom', [0.75, 0.75], C.br]];
    const flipped = [['marker', [0.9, 0.13], C.marker], ['top-left shows tr', [0.1, 0.13], C.tr], ['left-top', [0.25, 0.35], C.tr], ['right-bottom', [0.75, 0.75], C.bl], ['left-bottom', [0.25, 0.75], C.br]];
    const pts = (list) => list.map((p) => p[1]);
    const exp = (list) => list.map((p) => [p[0], p[2]]);

    await page.evaluate((o) => setup('mirror', 400, 300, { ...o, mode: 1, mirror: true }), b.options);
    checkPixels(t, await page.evaluate((p) => drawAndSample('mirror', makeFrame(), p), pts(flipped)), exp(flipped), `${b.name} mirror option`);
    checkPixels(t, await page.evaluate((p) => { get('mirror').r.setMirror(false); return sample('mirror', p); }, pts(normal)), exp(normal), `${b.name} setMirror(false)`);
    checkPixels(t, await page.evaluate((p) => drawAndSample('mirror', makeFrame({ mirrored: true }), p), pts(flipped)), exp(flipped), `${b.name} frame.mirrored`);
    checkPixels(t, await page.evaluate((p) => { get('mirror').r.setMirror(true); return drawAndSample('mirror', makeFrame({ mirrored: true }), p); }, pts(flipped)), exp(flipped), `${b.name} both (no double flip)`);
    checkPixels(t, await page.evaluate((p) => { get('mirror').r.setMirror(false); return drawAndSample('mirror', makeFrame(), p); }, pts(normal)), exp(normal), `${b.name} back to normal`);

    // Mirrored letterbox: the picture flips inside its own rectangle, bars stay.
    await page.evaluate((o) => setup('mirror-fit', 400, 150, { ...o, mode: 0, mirror: true }), b.options);
    const fitPts = [['left bar', [0.05, 0.5], C.black], ['right bar', [0.95, 0.5], C.black], ['marker', [(100 + 0.9 * 200) / 400, 0.13], C.marker], ['tr now left', [(100 + 0.3 * 200) / 400, 0.25], C.tr]];
    checkPixels(t, await page.evaluate((p) => drawAndSample('mirror-fit', makeFrame(), p), pts(fitPts)), exp(fitPts), `${b.name} mirrored fit`);
    await page.locator('#stage').screenshot({ path: path.join(ARTIFACTS, `renderer-mirror-${b.name}.png`) });
  });
}

test.serial('preferWebGL: false uses the 2D backend; the default prefers WebGL', async (t) => {
  const page = await openPage(t);
  const r = await page.evaluate(() => [setup('a', 100, 80, { preferWebGL: false }).backend, setup('b', 100, 80, {}).backend, setup('c', 100, 80).backend]);
  t.deepEqual(r, ['2d', 'webgl', 'webgl']);
  const ctxType = await page.evaluate(() => !!get('a').r.canvas.getContext('2d'));
  t.true(ctxType, 'the 2D renderer canvas has a 2d context');
});

test.serial('webgl context loss switches to 2D on a fresh canvas; restoreContext switches back', async (t) => {
  const page = await openPage(t);
  const points = PICTURE_POINTS.map((p) => p[1]);
  const exp = PICTURE_POINTS.map((p) => [p[0], p[2]]);
  await page.evaluate(() => setup('lost', 400, 300, { mode: 1 }));
  checkPixels(t, await page.evaluate((p) => drawAndSample('lost', makeFrame(), p), points), exp, 'before loss');

  const lost = await page.evaluate((p) => {
    const { r, view } = get('lost');
    const glCanvas = r.canvas;
    const gl = glCanvas.getContext('webgl2') || glCanvas.getContext('webgl');
    window.loseExt = gl.getExtension('WEBGL_lose_context');
    window.glCanvas = glCanvas;
    window.loseExt.loseContext();
    // Drawing before the (asynchronous) webglcontextlost event already falls back to 2D.
    r.drawFrame(makeFrame());
    return {
      backend: r.backend,
      sameCanvas: r.canvas === glCanvas,
      canvases: view.querySelectorAll('canvas').length,
      inView: r.canvas.parentNode === view,
      px: sample('lost', p),
    };
  }, points);
  t.is(lost.backend, '2d');
  t.false(lost.sameCanvas, 'a fresh canvas replaces the WebGL one');
  t.is(lost.canvases, 1, 'exactly one canvas in the view');
  t.true(lost.inView);
  checkPixels(t, lost.px, exp, 'while lost (2D)');

  // After the event has been dispatched: still 2D, still drawing.
  await page.evaluate(() => new Promise((r) => setTimeout(r, 50)));
  const still = await page.evaluate((p) => ({ backend: get('lost').r.backend, px: drawAndSample('lost', makeFrame({ mirrored: true }), p) }), [[0.9, 0.13]]);
  t.is(still.backend, '2d');
  checkPixels(t, still.px, [['mirrored marker on 2D', C.marker]], 'while lost');

  await page.evaluate(() => {
    // Runs right after the renderer's own listener (registered first), in the same task, so the
    // non-preserved WebGL drawing buffer still holds what the restore drew.
    window.glCanvas.addEventListener('webglcontextrestored', () => {
      window.restoredRedraw = { backend: get('lost').r.backend, px: sample('lost', [[0.9, 0.13]])[0] };
    }, { once: true });
    window.loseExt.restoreContext();
  });
  await page.waitForFunction(() => get('lost').r.backend === 'webgl', null, { timeout: 10_000 });
  const restored = await page.evaluate((p) => {
    const { r, view } = get('lost');
    return {
      sameCanvas: r.canvas === window.glCanvas,
      canvases: view.querySelectorAll('canvas').length,
      // the restore re-rendered the last frame (mirrored) without a new drawFrame
      redrawn: window.restoredRedraw,
      px: drawAndSample('lost', makeFrame(), p),
      frames: r.stats().frames,
    };
  }, points);
  t.true(restored.sameCanvas, 'the WebGL canvas is back in the view');
  t.is(restored.canvases, 1);
  t.is(restored.redrawn?.backend, 'webgl');
  t.true(near(restored.redrawn?.px ?? [], C.marker), `last frame redrawn on restore: ${JSON.stringify(restored.redrawn)}`);
  checkPixels(t, restored.px, exp, 'after restore (WebGL)');
  t.is(restored.frames, 4);

  // And a second loss/restore cycle works the same way (reusing the 2D canvas).
  const again = await page.evaluate(async (p) => {
    const { r } = get('lost');
    window.loseExt.loseContext();
    await new Promise((res) => setTimeout(res, 50));
    const b1 = r.backend;
    const px1 = drawAndSample('lost', makeFrame(), p);
    window.loseExt.restoreContext();
    for (let i = 0; i < 100 && r.backend !== 'webgl'; i++) await new Promise((res) => setTimeout(res, 20));
    return { b1, px1, b2: r.backend, px2: drawAndSample('lost', makeFrame(), p) };
  }, points);
  t.is(again.b1, '2d');
  t.is(again.b2, 'webgl');
  checkPixels(t, again.px1, exp, 'second loss (2D)');
  checkPixels(t, again.px2, exp, 'second restore (WebGL)');
});

test.serial('canvas tracks the view size (ResizeObserver redraw, per-frame check) and devicePixelRatio', async (t) => {
  const page = await openPage(t);
  for (const o of [{ preferWebGL: true }, { preferWebGL: false }]) {
    const name = `rs-${o.preferWebGL ? 'gl' : '2d'}`;
    await page.evaluate(([n, opt]) => setup(n, 200, 100, { ...opt, mode: 1 }), [name, o]);
    await page.evaluate((n) => get(n).r.drawFrame(makeFrame()), name);
    const sz = await page.evaluate(async (n) => {
      const { r, view } = get(n);
      view.style.width = '300px';
      view.style.height = '180px';
      // ResizeObserver runs before the next paint.
      await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
      return { w: r.canvas.width, h: r.canvas.height, css: [r.canvas.clientWidth, r.canvas.clientHeight], frames: r.stats().frames };
    }, name);
    t.deepEqual([sz.w, sz.h], [300, 180], `${name}: resized by the ResizeObserver`);
    t.deepEqual(sz.css, [300, 180], `${name}: canvas fills the view`);
    t.is(sz.frames, 1, 'no new frame was drawn');
    // The RO redraw happened in a rendering step, so read it through a screenshot.
    const shot = await page.locator(`#wrap-${name} .view`).screenshot();
    t.true(shot.length > 0);
    // The per-frame check alone (no ResizeObserver callback yet) also resizes.
    const sz2 = await page.evaluate((n) => {
      const { r, view } = get(n);
      view.style.width = '260px';
      view.style.height = '120px';
      r.drawFrame(makeFrame());
      return { w: r.canvas.width, h: r.canvas.height, px: sample(n, [[0.3, 0.35], [0.75, 0.75]]) };
    }, name);
    t.deepEqual([sz2.w, sz2.h], [260, 120], `${name}: resized on drawFrame`);
    checkPixels(t, sz2.px, [['tl', C.tl], ['br', C.br]], `${name} after resize`);
    // The view's layout is not affected by the canvas (no feedback growth).
    const layout = await page.evaluate((n) => [get(n).view.offsetWidth, get(n).view.offsetHeight], name);
    t.deepEqual(layout, [260, 120]);
  }

  // devicePixelRatio 2: the backing store doubles.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setDeviceMetricsOverride', { width: 1000, height: 800, deviceScaleFactor: 2, mobile: false });
  const hi = await page.evaluate(() => {
    const out = [];
    for (const n of ['rs-gl', 'rs-2d']) {
      const { r } = get(n);
      r.drawFrame(makeFrame());
      out.push([window.devicePixelRatio, r.canvas.width, r.canvas.height, r.canvas.clientWidth, sample(n, [[0.75, 0.25]])[0]]);
    }
    return out;
  });
  for (const [dpr, w, h, cssW, px] of hi) {
    t.is(dpr, 2);
    t.deepEqual([w, h, cssW], [520, 240, 260]);
    t.true(near(px, C.tr), `tr at dpr 2: ${px}`);
  }
  await page.locator('#stage').screenshot({ path: path.join(ARTIFACTS, 'renderer-dpr2.png') });
  await cdp.send('Emulation.clearDeviceMetricsOverride');
});

test.serial('destroy() removes the canvas and frees the context; safe to call twice; drawFrame after is a no-op', async (t) => {
  const page = await openPage(t);
  for (const o of [{ preferWebGL: true }, { preferWebGL: false }]) {
    const r = await page.evaluate((opt) => {
      setup('d', 160, 120, opt);
      const { r, view } = get('d');
      const canvas = r.canvas;
      r.drawFrame(makeFrame());
      const positionDuring = view.style.position;
      const gl = o => canvas.getContext(o);
      const hadGl = r.backend === 'webgl';
      r.destroy();
      r.destroy();
      r.drawFrame(makeFrame());
      const glAfter = hadGl ? (gl('webgl2') || gl('webgl')).isContextLost() : null;
      return {
        canvases: view.querySelectorAll('canvas').length,
        attached: canvas.isConnected,
        positionDuring,
        positionAfter: view.style.position,
        glLost: glAfter,
        capture: r.captureImage(),
        frames: r.stats().frames,
      };
    }, o);
    t.is(r.canvases, 0, 'no canvas left in the view');
    t.false(r.attached);
    t.is(r.positionDuring, 'relative', 'a static view is made relative for the absolutely positioned canvas');
    t.is(r.positionAfter, '', 'and restored on destroy');
    if (o.preferWebGL) t.true(r.glLost, 'the WebGL context was released');
    t.is(r.capture, null);
    t.is(r.frames, 1);
  }
  // A view that is already positioned keeps its position.
  const kept = await page.evaluate(() => {
    const view = document.createElement('div');
    view.style.cssText = 'position:absolute;width:50px;height:50px';
    document.body.appendChild(view);
    const r = NERtcRenderer.createRenderer(view);
    const during = view.style.position;
    r.destroy();
    return [during, view.style.position, view.children.length];
  });
  t.deepEqual(kept, ['absolute', 'absolute', 0]);
});

for (const b of BACKENDS.filter((x) => x.name !== 'webgl1')) {
  test.serial(`${b.name}: captureImage() returns a PNG of the last frame at its native size`, async (t) => {
    const page = await openPage(t, b.page);
    const r = await page.evaluate(async ([o, pts]) => {
      setup('cap', 200, 100, { ...o, mode: 0, mirror: true });
      const { r } = get('cap');
      const before = r.captureImage();
      r.drawFrame(makeFrame());
      const url = r.captureImage();
      const img = await loadImage(url);
      const c = document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d');
      ctx.drawImage(img, 0, 0);
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      const px = pts.map(([fx, fy]) => {
        const i = (Math.min(c.height - 1, Math.floor(fy * c.height)) * c.width + Math.min(c.width - 1, Math.floor(fx * c.width))) * 4;
        return [data[i], data[i + 1], data[i + 2]];
      });
      return { before, prefix: url.slice(0, 22), w: img.naturalWidth, h: img.naturalHeight, px, backend: r.backend };
    }, [b.options, PICTURE_POINTS.map((p) => p[1])]);
    t.is(r.backend, expectedBackend(b));
    t.is(r.before, null, 'null before the first frame');
    t.is(r.prefix, 'data:image/png;base64,');
    t.deepEqual([r.w, r.h], [321, 241], 'native frame size, not the view size');
    // Not mirrored, not letterboxed: the picture itself.
    checkPixels(t, r.px, PICTURE_POINTS.map((p) => [p[0], p[2]]), `${b.name} capture`);
  });
}

test.serial('no per-frame allocation: textures reallocated only on a layout change; 2D reuses its ImageData and canvas', async (t) => {
  const page = await openPage(t);
  const gl = await page.evaluate(() => {
    setup('alloc-gl', 320, 240, { mode: 0 });
    const { r } = get('alloc-gl');
    const ctx = r.canvas.getContext('webgl2');
    const counts = { texImage2D: 0, texSubImage2D: 0, createTexture: 0, createBuffer: 0 };
    for (const k of Object.keys(counts)) {
      const orig = ctx[k].bind(ctx);
      ctx[k] = (...a) => {
        counts[k]++;
        return orig(...a);
      };
    }
    const a = makeFrame();
    const b = makeFrame({ mirrored: true });
    const snap = () => ({ ...counts });
    r.drawFrame(a);
    const first = snap();
    for (let i = 0; i < 20; i++) r.drawFrame(i % 2 ? a : b);
    const steady = snap();
    r.drawFrame(makeFrame({ w: 160, h: 90, padY: 0, padC: 0 }));
    const resized = snap();
    return { first, steady, resized };
  });
  t.deepEqual(gl.first, { texImage2D: 3, texSubImage2D: 3, createTexture: 0, createBuffer: 0 });
  t.deepEqual(gl.steady, { texImage2D: 3, texSubImage2D: 63, createTexture: 0, createBuffer: 0 }, '20 frames: uploads only');
  t.deepEqual(gl.resized, { texImage2D: 6, texSubImage2D: 66, createTexture: 0, createBuffer: 0 }, 'a new size reallocates the three textures');

  const d2 = await page.evaluate(() => {
    setup('alloc-2d', 320, 240, { mode: 0, preferWebGL: false });
    const { r } = get('alloc-2d');
    const counts = { ImageData: 0, createElement: 0, createImageData: 0 };
    const OrigImageData = window.ImageData;
    window.ImageData = class extends OrigImageData {
      constructor(...a) {
        super(...a);
        counts.ImageData++;
      }
    };
    const origCreate = document.createElement;
    document.createElement = function (...a) {
      counts.createElement++;
      return origCreate.apply(this, a);
    };
    const proto = CanvasRenderingContext2D.prototype;
    const origCID = proto.createImageData;
    proto.createImageData = function (...a) {
      counts.createImageData++;
      return origCID.apply(this, a);
    };
    try {
      const a = makeFrame();
      const b = makeFrame({ mirrored: true });
      r.drawFrame(a);
      const first = { ...counts };
      for (let i = 0; i < 20; i++) r.drawFrame(i % 2 ? a : b);
      const steady = { ...counts };
      r.drawFrame(makeFrame({ w: 160, h: 90 }));
      return { first, steady, resized: { ...counts } };
    } finally {
      window.ImageData = OrigImageData;
      document.createElement = origCreate;
      proto.createImageData = origCID;
    }
  });
  t.deepEqual(d2.first, { ImageData: 1, createElement: 1, createImageData: 0 }, 'first frame: one ImageData, one scratch canvas');
  t.deepEqual(d2.steady, d2.first, '20 more frames: nothing new');
  t.deepEqual(d2.resized, { ImageData: 2, createElement: 1, createImageData: 0 }, 'a new size: a new ImageData, same scratch canvas');
});

test.serial('720p: main-thread ms per drawFrame, WebGL vs 2D (logged, not asserted)', async (t) => {
  const page = await openPage(t);
  const results = await page.evaluate(() => {
    const out = {};
    const frames = [makeFrame({ w: 1280, h: 720, padY: 0, padC: 0 }), makeFrame({ w: 1280, h: 720, padY: 0, padC: 0, mirrored: true })];
    for (const [name, opts] of [['webgl', {}], ['2d', { preferWebGL: false }]]) {
      setup('perf-' + name, 640, 360, { ...opts, mode: 0 });
      const { r } = get('perf-' + name);
      const c = r.canvas;
      const gl = r.backend === 'webgl' ? c.getContext('webgl2') || c.getContext('webgl') : null;
      const ctx2d = gl ? null : c.getContext('2d');
      const px = new Uint8Array(4);
      const sync = () => (gl ? gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px) : ctx2d.getImageData(0, 0, 1, 1));
      for (let i = 0; i < 10; i++) r.drawFrame(frames[i & 1]);
      sync();
      const main = [];
      for (let i = 0; i < 100; i++) {
        r.drawFrame(frames[i & 1]);
        main.push(r.stats().lastDrawMs);
      }
      sync();
      // With a 1-pixel readback after each draw: the whole pipeline, GPU/raster work included.
      const synced = [];
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        r.drawFrame(frames[i & 1]);
        sync();
        synced.push(performance.now() - t0);
      }
      out[name] = { backend: r.backend, median: median(main), p95: percentile(main, 95), syncedMedian: median(synced) };
    }
    // The 2D path's share spent in the JS I420 -> RGBA conversion.
    const img = new ImageData(1280, 720);
    const conv = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      NERtcRenderer.i420ToRgba(frames[i & 1], img);
      conv.push(performance.now() - t0);
    }
    out.meta = { isolated: window.crossOriginIsolated, convertMedian: median(conv) };
    return out;
  });
  const meta = results.meta;
  delete results.meta;
  t.log(`timer: ${meta.isolated ? 'cross-origin isolated (5 us resolution)' : '100 us resolution'}; i420ToRgba 1280x720 median ${meta.convertMedian.toFixed(3)} ms`);
  for (const [name, r] of Object.entries(results)) {
    t.is(r.backend, name);
    t.log(`${name}: 1280x720 -> 640x360: main thread median ${r.median.toFixed(3)} ms, p95 ${r.p95.toFixed(3)} ms; with readback sync median ${r.syncedMedian.toFixed(3)} ms`);
  }
  await page.locator('#stage').screenshot({ path: path.join(ARTIFACTS, 'renderer-720p.png') });
});

test.serial('9 tiles at 640x360: frames drawn per second over 3 s, requestAnimationFrame-paced (logged, not asserted)', async (t) => {
  const page = await openPage(t);
  const results = {};
  for (const [name, opts] of [['webgl', {}], ['2d', { preferWebGL: false }]]) {
    results[name] = await page.evaluate(async ([name, opts]) => {
      const frames = [makeFrame({ w: 640, h: 360, padY: 0, padC: 0 }), makeFrame({ w: 640, h: 360, padY: 0, padC: 0, mirrored: true })];
      const tiles = [];
      for (let i = 0; i < 9; i++) tiles.push(setup(`grid-${name}-${i}`, 213, 120, { ...opts, mode: 0 }).r ?? get(`grid-${name}-${i}`).r);
      // Each animation frame draws the newest frame on every tile, as the SDK's pump does for
      // 9 remote users; count the animation frames that completed all 9 draws.
      let drawn = 0;
      let ticks = 0;
      const end = performance.now() + 3000;
      await new Promise((resolve) => {
        const step = () => {
          for (const r of tiles) r.drawFrame(frames[ticks & 1]);
          ticks++;
          drawn += tiles.length;
          if (performance.now() < end) requestAnimationFrame(step);
          else resolve();
        };
        requestAnimationFrame(step);
      });
      return { backend: tiles[0].backend, tileFramesPerSecond: Math.round(drawn / 3), gridFramesPerSecond: Math.round(ticks / 3) };
    }, [name, opts]);
  }
  t.log(results);
  t.true(results.webgl.tileFramesPerSecond > 0 && results['2d'].tileFramesPerSecond > 0);
});
