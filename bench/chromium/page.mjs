// page.mjs: the publisher / subscriber page of the Chromium benchmark (driven by run.mjs).
//
// Publisher: draws a moving test picture on a W x H canvas `fps` times per second, stamps each
// draw with its time (stamp.mjs), and publishes canvas.captureStream(fps) through NertcWebClient
// as H.264 at a fixed bitrate (sender parameters + x-google-*-bitrate in the pub answer).
// Subscriber: subscribes to the publisher's video and reads the stamp of every decoded frame,
// with MediaStreamTrackProcessor (each VideoFrame as it leaves the decoder) or, as a fallback,
// requestVideoFrameCallback on a playing <video>.
//
// Everything run.mjs reads is on `window.bench`.

import { NertcWebClient } from '/web/nertc-web.js';
import { sampleCells, decodeStamp, encodeStamp, stampLayout, STAMP_COLS } from './stamp.mjs';

const nowMs = () => performance.timeOrigin + performance.now();
const statusEl = document.getElementById('status');
const setStatus = (s) => {
  statusEl.textContent = s;
};

const bench = {
  role: null,
  client: null,
  opts: null,
  errors: [],
  // publisher
  drawn: 0,
  lateDraws: 0,
  drawMs: 0,
  senderParams: null,
  mungedAnswer: null,
  // subscriber
  method: null,
  framesRead: 0,
  recording: false,
  samples: [], // [latencyMs, ...] of the window
  receiveSamples: [], // rVFC: [stamp -> last packet received, ms]
  unreadable: 0,
  duplicates: 0,
  sizes: {}, // "WxH" -> count, decoded frame sizes in the window
  lastFrameNo: -1,
  readMs: 0,
};
window.bench = bench;

function fail(where, e) {
  const msg = `${where}: ${e && e.stack ? e.stack : e}`;
  bench.errors.push(msg);
  console.error(msg);
}

// ------------------------------------------------------------------ test picture

// 75% colour bars, left to right.
const BARS = ['#bfbfbf', '#bfbf00', '#00bfbf', '#00bf00', '#bf00bf', '#bf0000', '#0000bf'];

/**
 * Returns draw(frameNo, timeMs) for a W x H canvas: colour bars, a bouncing checker box and a
 * scrolling grey ramp (so every frame differs and the encoder has motion to code), then, with
 * pattern 'noise', a film-grain layer that changes every frame (a window at a random position of a
 * pre-generated noise image, blended at `noiseAlpha`), and the stamp on top. The grain cannot be
 * predicted from the previous frame, so the encoder's rate control has to spend the target
 * bitrate, as with a real camera; pattern 'bars' is the clean picture alone (like the engine's
 * test pattern), which H.264 codes with far fewer bits than the target.
 */
function makePattern(canvas, W, H, pattern, noiseAlpha) {
  const ctx = canvas.getContext('2d', { alpha: false, willReadFrequently: false });
  ctx.imageSmoothingEnabled = false;
  const lay = stampLayout(W, H);
  const barsEnd = Math.floor((H * 3) / 5) & ~1;
  const speed = Math.max(2, Math.floor(W / 64));
  const period = Math.max(2, Math.floor(W / 2));
  const ramp = document.createElement('canvas');
  ramp.width = period + W;
  ramp.height = 1;
  const rctx = ramp.getContext('2d');
  const img = rctx.createImageData(period + W, 1);
  for (let i = 0; i < period + W; i++) {
    const v = Math.round(((i % period) * 255) / period);
    img.data.set([v, v, v, 255], i * 4);
  }
  rctx.putImageData(img, 0, 0);
  const bs = Math.max(4, Math.floor(H / 6) & ~1);
  const boxY = Math.max(Math.floor(H / 4) & ~1, lay.height + lay.cell); // clear of the stamp
  const travel = W - bs;
  const barW = W / BARS.length;
  let noise = null;
  if (pattern === 'noise') {
    noise = document.createElement('canvas');
    noise.width = 2 * W;
    noise.height = 2 * H;
    const nctx = noise.getContext('2d');
    const nimg = nctx.createImageData(2 * W, 2 * H);
    const rnd = new Uint8Array(65536);
    const px = nimg.data;
    for (let i = 0; i < px.length; i += 4) {
      const j = (i >> 2) & 0xffff;
      if (j === 0) crypto.getRandomValues(rnd);
      px[i] = px[i + 1] = px[i + 2] = rnd[j];
      px[i + 3] = 255;
    }
    nctx.putImageData(nimg, 0, 0);
  }

  return (frameNo, timeMs) => {
    for (let i = 0; i < BARS.length; i++) {
      ctx.fillStyle = BARS[i];
      ctx.fillRect(Math.round(i * barW), 0, Math.round((i + 1) * barW) - Math.round(i * barW), barsEnd);
    }
    const off = (frameNo * speed) % period;
    ctx.drawImage(ramp, off, 0, W, 1, 0, barsEnd, W, H - barsEnd);
    const pos = (frameNo * speed) % (2 * travel);
    const x0 = (pos <= travel ? pos : 2 * travel - pos) & ~1;
    const half = bs / 2;
    ctx.fillStyle = '#fff';
    ctx.fillRect(x0, boxY, bs, bs);
    ctx.fillStyle = '#000';
    ctx.fillRect(x0 + half, boxY, bs - half, half);
    ctx.fillRect(x0, boxY + half, half, bs - half);
    if (noise) {
      ctx.globalAlpha = noiseAlpha;
      ctx.drawImage(noise, Math.floor(Math.random() * W), Math.floor(Math.random() * H), W, H, 0, 0, W, H);
      ctx.globalAlpha = 1;
    }
    // The stamp last, so nothing overlaps it.
    const bits = encodeStamp(frameNo & 0xffff, timeMs);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, lay.width, lay.height);
    ctx.fillStyle = '#000';
    for (let i = 0; i < bits.length; i++) {
      if (!bits[i]) ctx.fillRect((i % STAMP_COLS) * lay.cell, Math.floor(i / STAMP_COLS) * lay.cell, lay.cell, lay.cell);
    }
  };
}

// ------------------------------------------------------------------ bitrate control

// Bitrate: encodings[0].maxBitrate = kbps caps the encoder's target (outbound-rtp targetBitrate).
// The link estimate must not be the tighter limit: Chromium subtracts the packet overhead (RTP
// headers, SRTP tag, UDP/IP: ~7% here) from the estimate before giving the encoder its share, so with
// the estimate pinned at kbps the encoder would get ~0.93 x kbps. So the answer pins the estimate
// at LINK_HEADROOM x kbps (x-google-start/min/max-bitrate; the server sends no bandwidth-estimation
// feedback, so it stays there from the first frame), and the encoder's target is exactly kbps,
// like our engine's encoder bitrate.
const LINK_HEADROOM = 1.25;

function mungeAnswer(sdp, kbps) {
  const lines = sdp.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const h264 = new Set();
  for (const l of lines) {
    const m = /^a=rtpmap:(\d+) H264\/90000/i.exec(l);
    if (m) h264.add(m[1]);
  }
  const link = Math.ceil(kbps * LINK_HEADROOM);
  const extra = `x-google-start-bitrate=${link};x-google-min-bitrate=${link};x-google-max-bitrate=${link}`;
  const withFmtp = new Set();
  const out = lines.map((l) => {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(l);
    if (!m || !h264.has(m[1])) return l;
    withFmtp.add(m[1]);
    const params = m[2].split(';').filter((p) => p && !/^x-google-(start|min|max)-bitrate=/.test(p.trim()));
    return `a=fmtp:${m[1]} ${[...params, extra].join(';')}`;
  });
  // An H.264 payload type without an fmtp line gets one right after its rtpmap.
  for (const pt of h264) {
    if (withFmtp.has(pt)) continue;
    const i = out.findIndex((l) => l.startsWith(`a=rtpmap:${pt} `));
    out.splice(i + 1, 0, `a=fmtp:${pt} ${extra}`);
  }
  return out.join('\r\n') + '\r\n';
}

// NertcWebClient applies the pub answer with pc.setRemoteDescription; munge it on the way in.
const origSetRemote = RTCPeerConnection.prototype.setRemoteDescription;
RTCPeerConnection.prototype.setRemoteDescription = function (desc, ...rest) {
  // `bwe: 'free'` (the cap benchmark): the answer as the server sent it, so that Chromium's own
  // estimator may go under kbps.
  const pinned = bench.opts.bwe !== 'free';
  if (pinned && bench.role === 'publisher' && bench.client && this === bench.client.pubPc && desc && desc.type === 'answer' && bench.opts.kbps > 0) {
    const sdp = mungeAnswer(desc.sdp, bench.opts.kbps);
    bench.mungedAnswer = sdp.split('\r\n').filter((l) => /^a=(fmtp|rtpmap):/.test(l) && /H264|x-google|packetization/i.test(l));
    return origSetRemote.call(this, { type: desc.type, sdp }, ...rest);
  }
  return origSetRemote.call(this, desc, ...rest);
};

// The video transceiver starts with the caps already (sendEncodings), so the very first frames are
// encoded at the target; setParameters afterwards adds degradationPreference.
const origAddTransceiver = RTCPeerConnection.prototype.addTransceiver;
RTCPeerConnection.prototype.addTransceiver = function (trackOrKind, init = {}, ...rest) {
  const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind?.kind;
  if (bench.role === 'publisher' && kind === 'video' && !init.sendEncodings && bench.opts.kbps > 0) {
    init = { ...init, sendEncodings: [{ maxBitrate: bench.opts.kbps * 1000, maxFramerate: bench.opts.fps, scaleResolutionDownBy: 1 }] };
  }
  return origAddTransceiver.call(this, trackOrKind, init, ...rest);
};

async function applySenderParams(sender, kbps, fps) {
  const p = sender.getParameters();
  if (!p.encodings || !p.encodings.length) p.encodings = [{}];
  const e = p.encodings[0];
  e.active = true;
  if (kbps > 0) e.maxBitrate = kbps * 1000;
  if (fps > 0) e.maxFramerate = fps;
  e.scaleResolutionDownBy = 1;
  p.degradationPreference = 'maintain-resolution';
  try {
    await sender.setParameters(p);
  } catch (err) {
    // Older builds refuse degradationPreference; keep the rest.
    fail('setParameters (with degradationPreference)', err);
    delete p.degradationPreference;
    await sender.setParameters(p);
  }
  const back = sender.getParameters();
  return {
    degradationPreference: back.degradationPreference ?? null,
    maxBitrate: back.encodings?.[0]?.maxBitrate ?? null,
    maxFramerate: back.encodings?.[0]?.maxFramerate ?? null,
    scaleResolutionDownBy: back.encodings?.[0]?.scaleResolutionDownBy ?? null,
  };
}

// ------------------------------------------------------------------ publisher

/**
 * opts: {url, channel, uid, width, height, fps, kbps, pattern: 'noise'|'bars', noiseAlpha,
 *        capture: 'fps'|'request'|'generator'}
 * capture 'fps': canvas.captureStream(fps); 'request': captureStream(0) + requestFrame() after
 * each draw; 'generator': a VideoFrame made from the canvas right after each draw, written to a
 * MediaStreamTrackGenerator (no wait for the canvas to be composited).
 */
bench.publish = async (opts) => {
  bench.role = 'publisher';
  bench.opts = opts;
  const { width: W, height: H, fps } = opts;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const draw = makePattern(canvas, W, H, opts.pattern, opts.noiseAlpha);
  draw(0, nowMs());
  let stream;
  let writer = null;
  if (opts.capture === 'generator') {
    // eslint-disable-next-line no-undef
    const gen = new MediaStreamTrackGenerator({ kind: 'video' });
    writer = gen.writable.getWriter();
    stream = new MediaStream([gen]);
  } else {
    stream = opts.capture === 'request' ? canvas.captureStream(0) : canvas.captureStream(fps);
  }
  const track = stream.getVideoTracks()[0];
  bench.canvasTrackSettings = track.getSettings();
  const push = () => {
    if (opts.capture === 'request') track.requestFrame();
    else if (writer) {
      const f = new VideoFrame(canvas, { timestamp: Math.round(performance.now() * 1000) });
      writer.write(f).catch((e) => fail('generator write', e));
    }
  };

  // Draw loop on a drift-free schedule; a draw that is more than a frame late re-bases it.
  const interval = 1000 / fps;
  let base = performance.now();
  let n = 1;
  const tick = () => {
    if (bench.stopped) return;
    const t0 = performance.now();
    draw(n, nowMs());
    push();
    bench.drawMs += performance.now() - t0;
    bench.drawn++;
    n++;
    let due = base + (n - 1) * interval;
    const now = performance.now();
    if (now - due > interval) {
      bench.lateDraws++;
      base = now - (n - 1) * interval;
      due = now;
    }
    setTimeout(tick, Math.max(0, due - now));
  };
  setTimeout(tick, interval);

  const c = new NertcWebClient({ videoCodec: 'h264' });
  bench.client = c;
  c.addEventListener('server_error', (e) => fail('server_error', JSON.stringify(e.detail)));
  await c.connect(opts.url);
  await c.join({ appKey: 'bench', channel: opts.channel, uid: opts.uid, name: 'chromium-publisher' });
  const [pub] = await c.publish(stream, { videoSource: 'camera' });
  const sender = c.localTracks.get(pub.track_id).transceiver.sender;
  bench.sender = sender;
  bench.senderParams = await applySenderParams(sender, opts.kbps, fps);
  setStatus(`publishing ${pub.track_id} ${W}x${H}@${fps} ${opts.kbps} kbps`);
  return { track_id: pub.track_id, senderParams: bench.senderParams, mungedAnswer: bench.mungedAnswer, canvasTrackSettings: bench.canvasTrackSettings };
};

// ------------------------------------------------------------------ subscriber

function record(stamp, tMs, w, h, receiveMs = null) {
  bench.framesRead++;
  if (!bench.recording) return;
  if (!stamp) {
    bench.unreadable++;
    return;
  }
  if (stamp.frameNo === bench.lastFrameNo) {
    bench.duplicates++;
    return;
  }
  bench.lastFrameNo = stamp.frameNo;
  bench.frameTimes.push(tMs);
  bench.samples.push(Math.round((tMs - stamp.timeMs) * 100) / 100);
  // rVFC only: when the frame's last packet arrived, i.e. the sender + network + SFU part.
  if (receiveMs != null) bench.receiveSamples.push(Math.round((receiveMs - stamp.timeMs) * 100) / 100);
  const k = `${w}x${h}`;
  bench.sizes[k] = (bench.sizes[k] || 0) + 1;
}

const Y_FIRST = new Set(['I420', 'I420A', 'I422', 'I422A', 'I444', 'I444A', 'NV12']);
const RGB_OFFSETS = { RGBA: [0, 1, 2], RGBX: [0, 1, 2], BGRA: [2, 1, 0], BGRX: [2, 1, 0] };
let copyBuf = new Uint8Array(0);
let fallbackCanvas = null;

function lumaFromRgba(data, stride, offs) {
  const [ro, go, bo] = offs;
  return (x, y) => {
    const i = y * stride + x * 4;
    return 0.299 * data[i + ro] + 0.587 * data[i + go] + 0.114 * data[i + bo];
  };
}

/** Reads the stamp of a VideoFrame: copies only the stamp region (Y plane, or RGB). */
async function stampOfFrame(frame) {
  const { width: W, height: H } = bench.opts;
  const lay = stampLayout(W, H);
  const vr = frame.visibleRect;
  const sx = vr.width / W;
  const sy = vr.height / H;
  const rw = Math.min(vr.width, (Math.ceil(lay.width * sx) + 1) & ~1);
  const rh = Math.min(vr.height, (Math.ceil(lay.height * sy) + 1) & ~1);
  const fmt = frame.format;
  if (fmt && (Y_FIRST.has(fmt) || RGB_OFFSETS[fmt])) {
    const rect = { x: vr.x & ~1, y: vr.y & ~1, width: rw, height: rh };
    const size = frame.allocationSize({ rect });
    if (copyBuf.length < size) copyBuf = new Uint8Array(size);
    const layout = await frame.copyTo(copyBuf, { rect });
    const { offset, stride } = layout[0];
    const buf = copyBuf;
    const lumaAt = Y_FIRST.has(fmt)
      ? (x, y) => buf[offset + y * stride + x]
      : lumaFromRgba(buf.subarray(offset), stride, RGB_OFFSETS[fmt]);
    bench.copyPath = `copyTo ${fmt}`;
    return decodeStamp(sampleCells(lay.cell, sx, sy, lumaAt));
  }
  // Opaque (e.g. texture-backed) frame: draw the stamp region onto a small canvas.
  if (!fallbackCanvas) fallbackCanvas = new OffscreenCanvas(rw, rh);
  if (fallbackCanvas.width !== rw || fallbackCanvas.height !== rh) {
    fallbackCanvas.width = rw;
    fallbackCanvas.height = rh;
  }
  const ctx = fallbackCanvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(frame, vr.x, vr.y, rw, rh, 0, 0, rw, rh);
  const img = ctx.getImageData(0, 0, rw, rh);
  bench.copyPath = `canvas ${fmt}`;
  return decodeStamp(sampleCells(lay.cell, sx, sy, lumaFromRgba(img.data, rw * 4, RGB_OFFSETS.RGBA)));
}

async function readWithProcessor(track) {
  bench.method = 'MediaStreamTrackProcessor';
  // eslint-disable-next-line no-undef
  const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
  for (;;) {
    const { value: frame, done } = await reader.read();
    if (done) return;
    const t = nowMs(); // the decoded frame reached us: the "render slot" moment
    try {
      const t0 = performance.now();
      const stamp = await stampOfFrame(frame);
      bench.readMs += performance.now() - t0;
      record(stamp, t, frame.displayWidth, frame.displayHeight);
    } catch (e) {
      fail('stampOfFrame', e);
      bench.unreadable++;
    } finally {
      frame.close();
    }
  }
}

function readWithVideoFrameCallback(track) {
  bench.method = 'requestVideoFrameCallback';
  const v = attachVideo(track);
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const { width: W, height: H } = bench.opts;
  const lay = stampLayout(W, H);
  const cb = (_now, meta) => {
    const t = nowMs();
    const receiveMs = meta && meta.receiveTime != null ? performance.timeOrigin + meta.receiveTime : null;
    try {
      const vw = v.videoWidth;
      const vh = v.videoHeight;
      const sx = vw / W;
      const sy = vh / H;
      const rw = Math.min(vw, Math.ceil(lay.width * sx));
      const rh = Math.min(vh, Math.ceil(lay.height * sy));
      if (canvas.width !== rw || canvas.height !== rh) {
        canvas.width = rw;
        canvas.height = rh;
      }
      ctx.drawImage(v, 0, 0, rw, rh, 0, 0, rw, rh);
      const img = ctx.getImageData(0, 0, rw, rh);
      record(decodeStamp(sampleCells(lay.cell, sx, sy, lumaFromRgba(img.data, rw * 4, RGB_OFFSETS.RGBA))), t, vw, vh, receiveMs);
    } catch (e) {
      fail('rVFC', e);
    }
    v.requestVideoFrameCallback(cb);
  };
  v.requestVideoFrameCallback(cb);
}

function attachVideo(track) {
  const v = document.createElement('video');
  v.muted = true;
  v.autoplay = true;
  v.playsInline = true;
  v.srcObject = new MediaStream([track]);
  document.body.append(v);
  v.play().catch((e) => fail('video.play', e));
  return v;
}

/** opts: {url, channel, uid, publisherUid, width, height, method: 'auto'|'mstp'|'rvfc'} */
bench.subscribe = async (opts) => {
  bench.role = 'subscriber';
  bench.opts = opts;
  const c = new NertcWebClient({ videoCodec: 'h264' });
  bench.client = c;
  const subscribed = new Set();
  const sub = (uid, track) => {
    if (uid !== opts.publisherUid || track.kind !== 'video' || subscribed.has(track.track_id)) return;
    subscribed.add(track.track_id);
    c.subscribe(track.track_id).catch((e) => fail('subscribe', e));
  };
  c.addEventListener('track_published', (e) => sub(e.detail.uid, e.detail.track));
  c.addEventListener('server_error', (e) => fail('server_error', JSON.stringify(e.detail)));
  c.addEventListener('remote_track', (e) => {
    const r = e.detail;
    if (r.kind !== 'video' || bench.reading) return;
    bench.reading = true;
    bench.trackId = r.track_id;
    const haveMstp = typeof window.MediaStreamTrackProcessor === 'function';
    if (opts.method !== 'rvfc' && haveMstp) {
      if (opts.alsoVideoElement) attachVideo(r.track);
      readWithProcessor(r.track).catch((err) => fail('MediaStreamTrackProcessor', err));
    } else {
      if (opts.method === 'mstp') fail('subscribe', 'MediaStreamTrackProcessor is not available; using requestVideoFrameCallback');
      readWithVideoFrameCallback(r.track);
    }
    setStatus(`receiving ${r.track_id} via ${bench.method}`);
  });
  await c.connect(opts.url);
  const join = await c.join({ appKey: 'bench', channel: opts.channel, uid: opts.uid, name: 'chromium-subscriber' });
  for (const u of join.users) for (const t of u.tracks) sub(u.uid, t);
  setStatus('waiting for the publisher');
  return { haveMstp: typeof window.MediaStreamTrackProcessor === 'function' };
};

/** Starts a measurement window: clears the samples. */
bench.startWindow = () => {
  bench.samples = [];
  bench.receiveSamples = [];
  bench.unreadable = 0;
  bench.duplicates = 0;
  bench.sizes = {};
  bench.frameTimes = [];
  bench.windowStart = nowMs();
  bench.recording = true;
  bench.windowFramesRead = bench.framesRead;
};

bench.endWindow = () => {
  bench.recording = false;
  return {
    samples: bench.samples,
    receiveSamples: bench.receiveSamples,
    unreadable: bench.unreadable,
    duplicates: bench.duplicates,
    sizes: bench.sizes,
    framesRead: bench.framesRead - bench.windowFramesRead,
    method: bench.method,
    copyPath: bench.copyPath ?? null,
    readMsPerFrame: bench.framesRead ? bench.readMs / bench.framesRead : null,
    // When each new frame was read, relative to the window's start (smoothness: gaps, freezes).
    frameTimes: bench.frameTimes.map((t) => Math.round((t - bench.windowStart) * 10) / 10),
    windowMs: Math.round((nowMs() - bench.windowStart) * 10) / 10,
  };
};

/** The page's clock (epoch ms), for clock comparisons between pages. */
bench.clock = () => nowMs();

/** The video outbound-rtp / inbound-rtp figures run.mjs needs (cumulative counters). */
bench.stats = async () => {
  const c = bench.client;
  const out = { at: nowMs(), errors: bench.errors.slice(-10), drawn: bench.drawn, lateDraws: bench.lateDraws, drawMs: bench.drawMs, framesRead: bench.framesRead };
  if (!c) return out;
  const { pub, sub } = await c.getStats();
  const pick = (report, type) => {
    let found = null;
    report?.forEach((s) => {
      if (s.type === type && s.kind === 'video') found = s;
    });
    if (!found) return null;
    const codec = found.codecId ? report.get(found.codecId) : null;
    return { ...found, codecMime: codec?.mimeType ?? null, codecFmtp: codec?.sdpFmtpLine ?? null };
  };
  const pair = (report) => {
    let p = null;
    report?.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') p = s;
    });
    return p ? { availableOutgoingBitrate: p.availableOutgoingBitrate ?? null, currentRoundTripTime: p.currentRoundTripTime ?? null } : null;
  };
  out.outbound = pick(pub, 'outbound-rtp');
  out.inbound = pick(sub, 'inbound-rtp');
  out.pubPair = pair(pub);
  return out;
};

/**
 * encoderImplementation / decoderImplementation are only exposed to a page that is capturing
 * (webrtc-stats "limiting exposure of hardware capabilities"): hold a (fake) microphone capture
 * just for one getStats() call.
 */
bench.implementations = async () => {
  let s = null;
  try {
    s = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    fail('getUserMedia (to expose encoder/decoder implementations)', e);
  }
  try {
    const st = await bench.stats();
    return {
      encoder: st.outbound?.encoderImplementation ?? null,
      decoder: st.inbound?.decoderImplementation ?? null,
      powerEfficientEncoder: st.outbound?.powerEfficientEncoder ?? null,
      powerEfficientDecoder: st.inbound?.powerEfficientDecoder ?? null,
    };
  } finally {
    s?.getTracks().forEach((t) => t.stop());
  }
};

bench.leave = async () => {
  bench.stopped = true;
  try {
    await bench.client?.leave();
  } catch (e) {
    fail('leave', e);
  }
};

setStatus('ready');
bench.ready = true;
