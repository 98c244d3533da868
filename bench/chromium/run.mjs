#!/usr/bin/env node
// Chromium through our room server: glass-to-glass latency and CPU per stream, for the rows next
// to the engine's figures in crates/nertc-bench. Run inside the loopback-only namespace:
//
//   ./scripts/netns.sh node bench/chromium/run.mjs latency [--url ws://127.0.0.1:PORT] \
//       --width 640 --height 480 --fps 30 --kbps 800 --seconds 10 [--warmup 2]
//   ./scripts/netns.sh node bench/chromium/run.mjs cpu [--url ws://127.0.0.1:PORT] \
//       --width 1280 --height 720 --fps 30 --kbps 1500 --seconds 10 [--warmup 3]
//
// Other options:
//   --method auto|mstp|rvfc   how the subscriber reads decoded frames (auto: MediaStreamTrackProcessor
//                             when present, else requestVideoFrameCallback on a playing <video>)
//   --capture fps|request|generator  canvas.captureStream(fps) (default); captureStream(0) +
//                             requestFrame() after each draw; or a VideoFrame of the canvas written to
//                             a MediaStreamTrackGenerator right after each draw (skips the wait for
//                             the canvas to be composited)
//   --pattern noise|bars      picture: bars + moving box + scrolling ramp + per-frame film grain
//                             (default; makes the encoder spend the target bitrate), or without grain
//   --noise-alpha A           grain strength, 0..1 (default 0.03, about +-4 grey levels; much
//                             more makes OpenH264 see scene cuts and send keyframes)
//   --video-element           the subscriber also plays the track in a <video>
//   --bwe pinned|free         pinned (default): the pub answer pins Chromium's bandwidth estimate at
//                             1.25 x kbps (x-google-start/min/max-bitrate, see page.mjs); free: the
//                             answer untouched, Chromium's estimator adapts (nertc-bench's `cap` part)
//   --chromium-args "A B"     extra Chromium switches for every instance (also $CHROMIUM_EXTRA_ARGS),
//                             e.g. "--disable-features=WebRtcMetronome" (note: a --disable-features
//                             here replaces the list playwright passes)
//   --verbose                 page console on stderr;  --timeout S  overall limit (default 90 + 2x)
//
// Without --url, target/debug/nertc-server (or $NERTC_SERVER_BIN) is started on 127.0.0.1:0 and
// stopped at the end. The publisher and the subscriber each run in their own Chromium instance
// (own process tree, own --user-data-dir); `cpu` adds a third, idle one with a blank page.
//
// stdout: exactly one line, a JSON object (see README.md next to this file). Everything else goes
// to stderr. Exit status 0 on success, 1 on failure, 2 on bad usage, 3 on the overall timeout.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../../scripts/chromium.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const SERVER_BIN = path.resolve(ROOT, process.env.NERTC_SERVER_BIN || 'target/debug/nertc-server');
const USER_HZ = 100; // /proc/<pid>/stat clock ticks per second (sysconf(_SC_CLK_TCK) on Linux)
const PUB_UID = 1;
const SUB_UID = 2;

const log = (...a) => console.error('[chromium-bench]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ arguments

const USAGE = `usage: node bench/chromium/run.mjs latency|cpu [--url ws://HOST:PORT] --width W --height H --fps F --kbps K --seconds S [--warmup S] [--method auto|mstp|rvfc] [--capture fps|request|generator] [--pattern noise|bars] [--noise-alpha A] [--video-element] [--bwe pinned|free] [--chromium-args "A B"] [--verbose] [--timeout S]`;

function parseArgs(argv) {
  const mode = argv[0];
  if (mode !== 'latency' && mode !== 'cpu') throw new UsageError(`unknown mode ${mode ?? '(none)'}`);
  const o = {
    mode, url: null, width: 640, height: 480, fps: 30, kbps: 800, seconds: 10,
    warmup: mode === 'cpu' ? 3 : 2, method: 'auto', capture: 'fps', pattern: 'noise', noiseAlpha: 0.03, bwe: 'pinned',
    videoElement: false, verbose: false, timeout: null,
  };
  const num = new Set(['width', 'height', 'fps', 'kbps', 'seconds', 'warmup', 'timeout', 'noiseAlpha']);
  const str = new Set(['url', 'method', 'capture', 'pattern', 'chromiumArgs', 'bwe']);
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    let [k, v] = a.slice(2).split(/=(.*)/s);
    k = k.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (k === 'videoElement' || k === 'verbose') {
      o[k] = true;
      continue;
    }
    if (!num.has(k) && !str.has(k)) throw new UsageError(`unknown option --${a.slice(2)}`);
    if (v === undefined) {
      v = argv[++i];
      if (v === undefined) throw new UsageError(`--${k} needs a value`);
    }
    if (num.has(k)) {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${k}: not a number: ${v}`);
      o[k] = n;
    } else {
      o[k] = v;
    }
  }
  if (!['auto', 'mstp', 'rvfc'].includes(o.method)) throw new UsageError(`--method: ${o.method}`);
  if (!['fps', 'request', 'generator'].includes(o.capture)) throw new UsageError(`--capture: ${o.capture}`);
  if (!['noise', 'bars'].includes(o.pattern)) throw new UsageError(`--pattern: ${o.pattern}`);
  if (!['pinned', 'free'].includes(o.bwe)) throw new UsageError(`--bwe: ${o.bwe}`);
  if (!(o.noiseAlpha <= 1)) throw new UsageError('--noise-alpha: 0..1');
  if (!(o.width >= 64 && o.height >= 64 && o.fps > 0 && o.seconds > 0)) throw new UsageError('width/height >= 64, fps and seconds > 0');
  if (o.width % 2 || o.height % 2) throw new UsageError('width and height must be even');
  if (o.timeout == null) o.timeout = 90 + o.warmup + 2 * o.seconds;
  // $CHROMIUM_EXTRA_ARGS is added by scripts/chromium.mjs to every launch; listed here for the output.
  o.envArgs = (process.env.CHROMIUM_EXTRA_ARGS ?? '').split(/\s+/).filter(Boolean);
  o.extraArgs = (o.chromiumArgs ?? '').split(/\s+/).filter(Boolean);
  return o;
}

class UsageError extends Error {}

/** ws://host:port[/...] -> the signaling endpoint ws://host:port/rtc/v1. */
function signalingUrl(base) {
  const u = new URL(base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (!u.pathname || u.pathname === '/') u.pathname = '/rtc/v1';
  return u.toString();
}

// ------------------------------------------------------------------ cleanup

const cleanups = []; // run in reverse order
let cleaning = null;

function cleanup() {
  if (!cleaning) {
    cleaning = (async () => {
      for (const f of cleanups.reverse()) {
        try {
          await Promise.race([f(), sleep(8000)]);
        } catch (e) {
          log(`cleanup: ${e.message}`);
        }
      }
    })();
  }
  return cleaning;
}

async function exitWith(code, msg) {
  if (msg) log(msg);
  const hard = setTimeout(() => process.exit(code), 20_000);
  hard.unref();
  await cleanup();
  process.exit(code);
}

// ------------------------------------------------------------------ room server

let serverPid = null; // when we started the server

function startServer() {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(SERVER_BIN)) {
      reject(new Error(`server binary not found: ${SERVER_BIN}`));
      return;
    }
    const child = spawn(SERVER_BIN, ['--listen', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    serverPid = child.pid;
    const tail = [];
    const keep = (chunk) => {
      for (const l of chunk.toString().split('\n')) if (l) tail.push(l);
      if (tail.length > 50) tail.splice(0, tail.length - 50);
    };
    cleanups.push(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    });
    let out = '';
    let port = 0;
    const timer = setTimeout(() => reject(new Error(`server did not report its port within 10 s:\n${tail.join('\n')}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      keep(chunk);
      if (port) return;
      out += chunk.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        port = Number(m[1]);
        clearTimeout(timer);
        resolve(`ws://127.0.0.1:${port}`);
      }
    });
    child.stderr.on('data', keep);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (!port) reject(new Error(`server exited early (${code ?? sig}):\n${tail.join('\n')}`));
    });
  });
}

// ------------------------------------------------------------------ static files

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8' };
const SERVED = [
  ['/web/', path.join(ROOT, 'web')],
  ['/bench/chromium/', HERE],
];

function startWeb() {
  const srv = http.createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (p === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    for (const [prefix, dir] of SERVED) {
      if (!p.startsWith(prefix)) continue;
      const file = path.resolve(dir, p.slice(prefix.length));
      if (file.startsWith(dir + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        fs.createReadStream(file).pipe(res);
        return;
      }
    }
    res.writeHead(404).end('not found');
  });
  cleanups.push(() => new Promise((r) => {
    srv.closeAllConnections?.();
    srv.close(() => r());
  }));
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${srv.address().port}`));
  });
}

// ------------------------------------------------------------------ /proc

/** pid -> {ppid, ticks (utime+stime), start (starttime, ticks since boot)} for every process. */
function procTable() {
  const t = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!(name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57)) continue; // pids only
    let s;
    try {
      s = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[k-3] is field k of proc(5)
    t.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) });
  }
  return t;
}

function readCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function statusKb(pid, key) {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function pssKb(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** {busy, steal} ticks (all CPUs) since boot, from /proc/stat: busy is user+nice+system+irq+softirq;
 *  steal is time a virtual CPU waited for the hypervisor (a busy host). */
function machineTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], steal: f[7] || 0 };
}

/** Whole-machine CPU use over a window, % of one core: shows whether something else was running. */
class MachineWindow {
  constructor() {
    this.t0 = performance.now();
    this.m0 = machineTicks();
    this.load = Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    this.self0 = process.cpuUsage();
  }

  result() {
    const wallS = (performance.now() - this.t0) / 1000;
    const self = process.cpuUsage(this.self0);
    const m = machineTicks();
    return {
      machine_busy_pct: round(((m.busy - this.m0.busy) / USER_HZ / wallS) * 100, 1),
      machine_steal_pct: round(((m.steal - this.m0.steal) / USER_HZ / wallS) * 100, 1),
      harness_cpu_pct: round(((self.user + self.system) / 1e6 / wallS) * 100, 1), // this node process
      load_avg_1m_before: this.load,
    };
  }
}

const uptimeTicks = () => Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * USER_HZ;

/**
 * The processes of one Chromium instance: its browser process and all descendants (zygotes,
 * renderers, GPU, utility/network), plus any process whose command line names its user-data-dir
 * (a double-forked helper such as crashpad is not a descendant).
 */
const cmdlineCache = new Map(); // "pid:start" -> boolean (mentions a dir) per dir
function browserMembers(table, dir) {
  const flag = `--user-data-dir=${dir}`;
  const mentions = new Set();
  for (const [pid, p] of table) {
    const key = `${pid}:${p.start}:${dir}`;
    let hit = cmdlineCache.get(key);
    if (hit === undefined) {
      hit = readCmdline(pid).some((a) => a === flag || a.includes(dir));
      cmdlineCache.set(key, hit);
    }
    if (hit) mentions.add(pid);
  }
  return treeOf(table, mentions);
}

/** `roots` and all their descendants (pids present in `table`). */
function treeOf(table, roots) {
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  const members = new Set();
  const stack = [...roots].filter((pid) => table.has(pid));
  while (stack.length) {
    const pid = stack.pop();
    if (members.has(pid)) continue;
    members.add(pid);
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return members;
}

/** The processes of a target: a browser ({dir}) or a process tree ({pid}). */
const membersOf = (table, t) => (t.dir ? browserMembers(table, t.dir) : treeOf(table, [t.pid]));

/** Samples the CPU ticks of several process trees (browsers by user-data-dir, or {pid}) over a window. */
class CpuWindow {
  constructor(browsers) {
    this.browsers = browsers;
    this.acc = browsers.map(() => new Map()); // "pid:start" -> {first, last}
    this.rss = browsers.map(() => []);
    this.procs = browsers.map(() => 0);
    this.t0 = null;
    this.startTicks = 0;
  }

  sample() {
    const first = this.t0 === null;
    if (first) {
      this.startTicks = uptimeTicks();
    }
    const table = procTable();
    const at = performance.now();
    this.browsers.forEach((b, i) => {
      const members = membersOf(table, b);
      let rss = 0;
      for (const pid of members) {
        const p = table.get(pid);
        const key = `${pid}:${p.start}`;
        const e = this.acc[i].get(key);
        if (e) e.last = p.ticks;
        else {
          // A process born inside the window counts from 0; one already running from now.
          const base = !first && p.start >= this.startTicks ? 0 : p.ticks;
          this.acc[i].set(key, { first: base, last: p.ticks });
        }
        rss += statusKb(pid, 'VmRSS');
      }
      this.rss[i].push(rss);
      this.procs[i] = Math.max(this.procs[i], members.size);
    });
    if (first) this.t0 = at;
    this.t1 = at;
  }

  result() {
    const wallS = (this.t1 - this.t0) / 1000;
    return this.browsers.map((b, i) => {
      let ticks = 0;
      for (const e of this.acc[i].values()) ticks += e.last - e.first;
      const table = procTable();
      let pss = 0;
      for (const pid of membersOf(table, b)) pss += pssKb(pid);
      const rss = this.rss[i];
      return {
        cpu_pct: round((ticks / USER_HZ / wallS) * 100, 1),
        rss_kb: Math.round(rss.reduce((a, x) => a + x, 0) / rss.length),
        rss_kb_max: Math.max(...rss),
        pss_kb: pss,
        processes: this.procs[i],
        wall_s: round(wallS, 2),
      };
    });
  }
}

// ------------------------------------------------------------------ browsers

// Switches, binary and teardown: scripts/chromium.mjs (shared with the tests). Its close() closes
// the browser (5 s at most), kills whatever is left of the instance's process tree and removes
// its profile directory, which is also how CpuWindow finds the instance's processes (`dir`).
async function launchBrowser(name, verbose, extraArgs) {
  const chromium = await launchChromium({ name: `bench-${name}`, args: extraArgs, viewport: { width: 320, height: 240 } });
  cleanups.push(() => chromium.close());
  const b = { name, dir: chromium.dir, chromium, ctx: chromium.ctx, page: null };
  const shown = new Set(['error', 'warning', 'pageerror', 'crash']);
  b.page = await chromium.openPage(null, {
    name,
    reuse: true,
    onLog: (line, type) => {
      if (verbose || shown.has(type)) log(line);
    },
  });
  return b;
}

async function openBenchPage(b, webBase) {
  await b.page.goto(`${webBase}/bench/chromium/page.html`);
  await b.page.waitForFunction(() => window.bench && window.bench.ready === true, null, { timeout: 15_000 });
}

/** Offset of a page's clock from ours (ms), from the exchange with the shortest round trip. */
async function clockOffset(page) {
  let best = null;
  for (let i = 0; i < 7; i++) {
    const a = performance.timeOrigin + performance.now();
    const c = await page.evaluate(() => window.bench.clock());
    const z = performance.timeOrigin + performance.now();
    if (!best || z - a < best.rtt) best = { rtt: z - a, offset: c - (a + z) / 2 };
  }
  return best;
}

async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

// ------------------------------------------------------------------ figures

function round(x, d = 1) {
  if (x == null || !Number.isFinite(x)) return null;
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

function quantile(sorted, q) {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function summary(v) {
  const s = [...v].sort((a, b) => a - b);
  return {
    n: s.length,
    median: round(quantile(s, 0.5), 2),
    mean: round(s.reduce((a, x) => a + x, 0) / (s.length || 1), 2),
    p5: round(quantile(s, 0.05), 2),
    p95: round(quantile(s, 0.95), 2),
    min: round(s[0], 2),
    max: round(s[s.length - 1], 2),
  };
}

/** Rates and averages between two bench.stats() snapshots of the same page. */
function rtpDeltas(s0, s1) {
  const out = {};
  const o0 = s0.outbound;
  const o1 = s1.outbound;
  if (o0 && o1) {
    const dt = (o1.timestamp - o0.timestamp) / 1000;
    const d = (k) => (o1[k] ?? 0) - (o0[k] ?? 0);
    out.sent_kbps = round((d('bytesSent') * 8) / dt / 1000, 1);
    out.sent_kbps_with_rtp_headers = round(((d('bytesSent') + d('headerBytesSent')) * 8) / dt / 1000, 1);
    out.fps_sent = round(d('framesSent') / dt, 2);
    out.fps_encoded = round(d('framesEncoded') / dt, 2);
    out.frame_width = o1.frameWidth ?? null;
    out.frame_height = o1.frameHeight ?? null;
    out.encoder = o1.encoderImplementation ?? null;
    out.codec = o1.codecMime ?? null;
    out.codec_fmtp = o1.codecFmtp ?? null;
    out.target_kbps = o1.targetBitrate != null ? round(o1.targetBitrate / 1000, 1) : null;
    out.encode_ms_per_frame = d('framesEncoded') ? round((d('totalEncodeTime') * 1000) / d('framesEncoded'), 2) : null;
    out.keyframes_encoded = d('keyFramesEncoded');
    out.quality_limitation_reason = o1.qualityLimitationReason ?? null;
    out.quality_limitation_resolution_changes = o1.qualityLimitationResolutionChanges ?? null;
    const q0 = o0.qualityLimitationDurations ?? {};
    const q1 = o1.qualityLimitationDurations ?? {};
    out.quality_limitation_s = Object.fromEntries(Object.keys(q1).map((k) => [k, round((q1[k] ?? 0) - (q0[k] ?? 0), 2)]));
    out.pacer_ms_per_packet = d('packetsSent') ? round((d('totalPacketSendDelay') * 1000) / d('packetsSent'), 2) : null;
    out.packets_per_frame = d('framesSent') ? round(d('packetsSent') / d('framesSent'), 1) : null;
    out.nacks_received = d('nackCount');
    out.plis_received = d('pliCount');
    out.canvas_draws_per_s = round((s1.drawn - s0.drawn) / ((s1.at - s0.at) / 1000), 2);
    out.canvas_draw_ms = s1.drawn - s0.drawn ? round((s1.drawMs - s0.drawMs) / (s1.drawn - s0.drawn), 2) : null;
    out.available_outgoing_kbps = s1.pubPair?.availableOutgoingBitrate != null ? round(s1.pubPair.availableOutgoingBitrate / 1000, 1) : null;
  }
  const i0 = s0.inbound;
  const i1 = s1.inbound;
  if (i0 && i1) {
    const dt = (i1.timestamp - i0.timestamp) / 1000;
    const d = (k) => (i1[k] ?? 0) - (i0[k] ?? 0);
    out.fps_received = round(d('framesDecoded') / dt, 2);
    out.received_kbps = round((d('bytesReceived') * 8) / dt / 1000, 1);
    out.decoder = i1.decoderImplementation ?? null;
    out.received_codec = i1.codecMime ?? null;
    out.received_width = i1.frameWidth ?? null;
    out.received_height = i1.frameHeight ?? null;
    out.decode_ms_per_frame = d('framesDecoded') ? round((d('totalDecodeTime') * 1000) / d('framesDecoded'), 2) : null;
    const emitted = d('jitterBufferEmittedCount');
    out.jitter_buffer_ms = emitted ? round((d('jitterBufferDelay') * 1000) / emitted, 2) : null;
    out.jitter_buffer_target_ms = emitted ? round((d('jitterBufferTargetDelay') * 1000) / emitted, 2) : null;
    out.jitter_buffer_minimum_ms = emitted ? round((d('jitterBufferMinimumDelay') * 1000) / emitted, 2) : null;
    // first packet received -> frame decoded
    out.processing_ms_per_frame = d('framesDecoded') ? round((d('totalProcessingDelay') * 1000) / d('framesDecoded'), 2) : null;
    out.assembly_ms_per_frame = d('framesAssembledFromMultiplePackets') ? round((d('totalAssemblyTime') * 1000) / d('framesAssembledFromMultiplePackets'), 2) : null;
    out.rtp_jitter_ms = i1.jitter != null ? round(i1.jitter * 1000, 2) : null;
    out.nacks_sent = d('nackCount');
    out.plis_sent = d('pliCount');
    out.frames_dropped = d('framesDropped');
    out.packets_lost = d('packetsLost');
    out.freezes = d('freezeCount');
    out.keyframes_decoded = d('keyFramesDecoded');
  }
  return out;
}

const stats = (b) => b.page.evaluate(() => window.bench.stats());

// ------------------------------------------------------------------ the run

async function setUpCall(o, browsers, webBase, wsUrl) {
  const channel = `chromium-bench-${randomBytes(4).toString('hex')}`;
  const [pub, sub] = browsers;
  await Promise.all([openBenchPage(pub, webBase), openBenchPage(sub, webBase)]);
  // The subscriber joins first and subscribes on track_published.
  const subInfo = await sub.page.evaluate((a) => window.bench.subscribe(a), {
    url: wsUrl, channel, uid: SUB_UID, publisherUid: PUB_UID, width: o.width, height: o.height,
    method: o.method, alsoVideoElement: o.videoElement,
  });
  if (o.method === 'mstp' && !subInfo.haveMstp) throw new Error('MediaStreamTrackProcessor is not available in this Chromium');
  const pubInfo = await pub.page.evaluate((a) => window.bench.publish(a), {
    url: wsUrl, channel, uid: PUB_UID, width: o.width, height: o.height, fps: o.fps, kbps: o.kbps, capture: o.capture,
    pattern: o.pattern, noiseAlpha: o.noiseAlpha, bwe: o.bwe,
  });
  log(`publishing ${pubInfo.track_id} in ${channel}; sender parameters ${JSON.stringify(pubInfo.senderParams)}`);
  log(`pub answer, H.264 lines after munging: ${JSON.stringify(pubInfo.mungedAnswer)}`);
  const t0 = Date.now();
  await until(async () => {
    const s = await sub.page.evaluate(() => ({ n: window.bench.framesRead, errors: window.bench.errors }));
    if (s.errors.length) throw new Error(`subscriber page: ${s.errors.join('; ')}`);
    return s.n > 0;
  }, 20_000, 'the first decoded frame at the subscriber');
  log(`first frame read by the subscriber ${Date.now() - t0} ms after publish`);
  // Before the window: this briefly holds a fake microphone capture in each page.
  const [pi, si] = await Promise.all([pub.page.evaluate(() => window.bench.implementations()), sub.page.evaluate(() => window.bench.implementations())]);
  const impl = { encoder: pi.encoder, decoder: si.decoder, powerEfficientEncoder: pi.powerEfficientEncoder, powerEfficientDecoder: si.powerEfficientDecoder };
  log(`encoder ${impl.encoder}, decoder ${impl.decoder}`);
  return { channel, pubInfo, impl };
}

async function pageErrors(b) {
  return b.page.evaluate(() => window.bench.errors).catch(() => []);
}

async function run(o) {
  const wsUrl = signalingUrl(o.url ?? (await startServer()));
  if (!o.url) log(`started ${path.relative(ROOT, SERVER_BIN)} at ${wsUrl}`);
  const webBase = await startWeb();
  const names = o.mode === 'cpu' ? ['publisher', 'subscriber', 'idle'] : ['publisher', 'subscriber'];
  const browsers = await Promise.all(names.map((n) => launchBrowser(n, o.verbose, o.extraArgs)));
  const [pub, sub, idle] = browsers;
  log(`Chromium ${browsers[0].chromium.version} x${browsers.length}; ${o.mode} ${o.width}x${o.height}@${o.fps} ${o.kbps} kbps, warm-up ${o.warmup} s, window ${o.seconds} s`);
  if (idle) await idle.page.goto('about:blank');

  const { pubInfo, impl } = await setUpCall(o, browsers, webBase, wsUrl);
  await sleep(o.warmup * 1000);
  const senderParams = await pub.page.evaluate(() => window.bench.senderParams);
  const offsets = o.mode === 'latency' ? [await clockOffset(pub.page), await clockOffset(sub.page)] : null;

  // The window: page counters at both ends; CPU of each browser's process tree (and of the server
  // when we started it) and of the whole machine sampled every 0.5 s in between.
  const targets = [pub, sub, ...(idle ? [idle] : []), ...(serverPid ? [{ name: 'server', pid: serverPid }] : [])];
  const win = new CpuWindow(targets);
  const [p0, s0] = await Promise.all([stats(pub), stats(sub)]);
  await sub.page.evaluate(() => window.bench.startWindow());
  // A harness that changes the network during the window (nertc-bench's `cap` part) waits for this line.
  log('window start');
  win.sample();
  const machine = new MachineWindow();
  const end = performance.now() + o.seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(500, Math.max(0, end - performance.now())));
    win.sample();
  }
  const cpu = Object.fromEntries(win.result().map((r, i) => [targets[i].name, r]));
  const busy = machine.result();
  const w = await sub.page.evaluate(() => window.bench.endWindow());
  const [p1, s1] = await Promise.all([stats(pub), stats(sub)]);
  const out = rtpDeltas(p0, p1);
  const inn = rtpDeltas(s0, s1);
  const ours = Object.values(cpu).reduce((a, r) => a + r.cpu_pct, 0);
  const common = {
    sent_kbps: out.sent_kbps,
    target_kbps: out.target_kbps,
    requested_kbps: o.kbps,
    encoder: out.encoder ?? impl.encoder,
    decoder: inn.decoder ?? impl.decoder,
    codec: out.codec,
    fps_sent: out.fps_sent,
    fps_received: inn.fps_received,
    received_sizes: w.sizes,
    method: w.method,
    unreadable: w.unreadable,
  };
  const context = {
    cores: os.cpus().length,
    ...busy,
    other_cpu_pct: round(busy.machine_busy_pct - ours - busy.harness_cpu_pct, 1), // none of ours: something else ran
    server_cpu_pct: cpu.server?.cpu_pct ?? null,
    window_s: cpu.publisher.wall_s,
    publisher: out,
    subscriber: inn,
    sender_parameters: senderParams,
    munged_answer_h264: pubInfo.mungedAnswer,
    chromium_extra_args: [...o.envArgs, ...o.extraArgs],
    capture: o.capture,
    bwe: o.bwe,
    pattern: o.pattern === 'noise' ? `noise ${o.noiseAlpha}` : o.pattern,
    seconds: o.seconds,
    warmup_s: o.warmup,
  };

  let result;
  if (o.mode === 'latency') {
    if (!w.samples.length) throw new Error(`no readable stamps in the window (${w.framesRead} frames read, ${w.unreadable} unreadable); page errors: ${(await pageErrors(sub)).join('; ')}`);
    const [offPub, offSub] = offsets;
    result = {
      glass_to_glass_ms: w.samples,
      frames: w.samples.length,
      frame_times_ms: w.frameTimes,
      window_ms: w.windowMs,
      ...common,
      width: out.frame_width,
      height: out.frame_height,
      glass_to_glass_summary: summary(w.samples),
      ...(w.receiveSamples.length ? { stamp_to_receive_ms: w.receiveSamples, stamp_to_receive_summary: summary(w.receiveSamples) } : {}),
      duplicates: w.duplicates,
      read_path: w.copyPath,
      read_ms_per_frame: round(w.readMsPerFrame, 3),
      jitter_buffer_ms: inn.jitter_buffer_ms,
      encode_ms_per_frame: out.encode_ms_per_frame,
      decode_ms_per_frame: inn.decode_ms_per_frame,
      publisher_cpu_pct: cpu.publisher.cpu_pct,
      subscriber_cpu_pct: cpu.subscriber.cpu_pct,
      clock_offset_sub_minus_pub_ms: round(offSub.offset - offPub.offset, 2),
      clock_offset_rtt_ms: round(Math.max(offSub.rtt, offPub.rtt), 2),
      ...context,
    };
  } else {
    if (!inn.fps_received) throw new Error(`the subscriber decoded nothing in the window; page errors: ${(await pageErrors(sub)).join('; ')}`);
    const { publisher: cp, subscriber: cs, idle: ci } = cpu;
    result = {
      publisher_cpu_pct: cp.cpu_pct,
      subscriber_cpu_pct: cs.cpu_pct,
      idle_browser_cpu_pct: ci.cpu_pct,
      ...common,
      frame_width: out.frame_width,
      frame_height: out.frame_height,
      publisher_rss_kb: cp.rss_kb,
      subscriber_rss_kb: cs.rss_kb,
      idle_browser_rss_kb: ci.rss_kb,
      publisher_pss_kb: cp.pss_kb,
      subscriber_pss_kb: cs.pss_kb,
      idle_browser_pss_kb: ci.pss_kb,
      processes: { publisher: cp.processes, subscriber: cs.processes, idle: ci.processes },
      glass_to_glass_summary: summary(w.samples),
      ...context,
    };
  }
  const errs = [...(await pageErrors(pub)), ...(await pageErrors(sub))];
  if (errs.length) log(`page errors (not fatal): ${errs.join('; ')}`);
  await Promise.all([pub.page.evaluate(() => window.bench.leave()).catch(() => {}), sub.page.evaluate(() => window.bench.leave()).catch(() => {})]);
  return result;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`${e.message}\n${USAGE}`);
      process.exit(2);
    }
    throw e;
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.once(sig, () => exitWith(130, `got ${sig}, stopping`));
  const overall = setTimeout(() => exitWith(3, `overall timeout (${o.timeout} s) reached`), o.timeout * 1000);
  try {
    const result = await run(o);
    clearTimeout(overall);
    await cleanup();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  } catch (e) {
    clearTimeout(overall);
    await exitWith(1, `failed: ${e && e.stack ? e.stack : e}`);
  }
}

main();
