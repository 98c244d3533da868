// End-to-end: two (then three) Chromium pages talk to the real room server through
// web/nertc-web.js. A publishes fake camera + mic, B subscribes and must decode them,
// C joins late and must find the live tracks in its join result. Then the same client through
// a cluster (a private redis-server and two nodes): pages entering through different nodes are
// redirected to the room's node without noticing, and B decodes A there.
//
// Env: NERTC_SERVER_BIN (default target/debug/nertc-server), NERTC_SERVER_CONFIG (optional
// --config file), CHROMIUM_BIN (scripts/chromium.mjs). Uses 127.0.0.1 only.

import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../scripts/chromium.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVER_BIN = path.resolve(ROOT, process.env.NERTC_SERVER_BIN || 'target/debug/nertc-server');
const SERVER_CONFIG = process.env.NERTC_SERVER_CONFIG || null;
const WEB_DIR = path.join(ROOT, 'web');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

const state = {
  server: null,
  serverPort: 0,
  serverOut: [], // last lines of server stdout/stderr, for failure reports
  web: null,
  webPort: 0,
  chromium: null,
};

function keepTail(buf, chunk) {
  for (const line of chunk.toString().split('\n')) if (line) buf.push(line);
  if (buf.length > 300) buf.splice(0, buf.length - 300);
}

function startServer() {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(SERVER_BIN)) {
      reject(new Error(`server binary not found: ${SERVER_BIN} (build it: cargo build -p nertc-server)`));
      return;
    }
    const args = ['--listen', '127.0.0.1:0'];
    if (SERVER_CONFIG) args.push('--config', SERVER_CONFIG);
    const child = spawn(SERVER_BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    state.server = child;
    let stdout = '';
    const timer = setTimeout(() => {
      reject(new Error(`server did not print its listen line within 10 s:\n${state.serverOut.join('\n')}`));
    }, 10_000);
    child.stdout.on('data', (chunk) => {
      keepTail(state.serverOut, chunk);
      if (state.serverPort) return;
      stdout += chunk.toString();
      const m = /nertc-server listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        state.serverPort = Number(m[1]);
        resolve();
      }
    });
    child.stderr.on('data', (chunk) => keepTail(state.serverOut, chunk));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      state.serverOut.push(`[server exited: code ${code} signal ${signal}]`);
      if (!state.serverPort) reject(new Error(`server exited early (${code ?? signal}):\n${state.serverOut.join('\n')}`));
    });
  });
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8' };

function startWeb() {
  const srv = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/^\/+/, '');
    const file = path.resolve(WEB_DIR, rel || 'test.html');
    if (!file.startsWith(WEB_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  state.web = srv;
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => {
    state.webPort = srv.address().port;
    resolve();
  }));
}

async function startBrowser() {
  state.chromium = await launchChromium({ name: 'browser', viewport: { width: 800, height: 600 } });
}

test.before(async () => {
  await Promise.all([startServer(), startWeb()]);
  await startBrowser();
});

test.after.always(async () => {
  await state.chromium?.close();
  if (state.server && state.server.exitCode === null && state.server.signalCode === null) {
    const exited = new Promise((r) => state.server.once('exit', r));
    state.server.kill('SIGTERM');
    const t = setTimeout(() => state.server.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
  await new Promise((r) => (state.web ? state.web.close(r) : r()));
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `timeoutMs`. */
async function until(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

async function openPage(name, logs) {
  return state.chromium.openPage(`http://127.0.0.1:${state.webPort}/test.html`, {
    name,
    onLog: (line) => logs.push(line),
    ready: () => window.nertcReady === true,
  });
}

const events = (page) => page.evaluate(() => window.nertcEvents);
const rtpStats = (page) => page.evaluate(() => window.rtpStats());
const inbound = (stats, kind) => stats.filter((s) => s.pc === 'sub' && s.type === 'inbound-rtp' && s.kind === kind);

test('browser publishes camera+mic through the SFU; others subscribe, decode, and see the leave', async (t) => {
  const logs = [];
  const wsUrl = `ws://127.0.0.1:${state.serverPort}/rtc/v1`;
  const channel = `browser-${randomBytes(4).toString('hex')}`;
  const common = { url: wsUrl, appKey: 'demo', channel, token: null };
  t.log(`server port ${state.serverPort}, channel ${channel}`);

  try {
    // B joins first so that it sees user_joined and track_published as events.
    const pageB = await openPage('B', logs);
    const joinB = await pageB.evaluate((o) => window.runSubscriber(o), { ...common, uid: 1002, name: 'B', subscribeUid: 1001 });
    t.is(joinB.protocol, 4);
    t.is(joinB.uid, 1002);
    t.is(joinB.channel, channel);
    t.true(joinB.can_publish && joinB.can_subscribe, 'debug app grants publish and subscribe');
    t.deepEqual(joinB.users, [], 'B is alone in a fresh channel');

    const pageA = await openPage('A', logs);
    const { join: joinA, published } = await pageA.evaluate((o) => window.runPublisher(o), { ...common, uid: 1001, name: 'A' });
    t.is(joinA.uid, 1001);
    t.true(joinA.users.some((u) => u.uid === 1002), 'A sees B in its join result');
    t.is(published.length, 2, 'one track_id per published track');
    const videoId = published.find((p) => p.kind === 'video').track_id;
    const audioId = published.find((p) => p.kind === 'audio').track_id;
    t.log(`A published video ${videoId}, audio ${audioId}`);

    // B: user_joined for 1001 (event), then track_published for both tracks, announced once live.
    const evB = await until(async () => {
      const ev = await events(pageB);
      const have = (id) => ev.some((e) => e.t === 'track_published' && e.d.uid === 1001 && e.d.track.track_id === id);
      return have(videoId) && have(audioId) ? ev : null;
    }, 15_000, "B's track_published for both of A's tracks");
    const joined = evB.find((e) => e.t === 'user_joined' && e.d.uid === 1001);
    t.truthy(joined, 'B got user_joined for 1001');
    t.is(joined.d.name, 'A');
    const pubVideo = evB.find((e) => e.t === 'track_published' && e.d.track.track_id === videoId);
    const pubAudio = evB.find((e) => e.t === 'track_published' && e.d.track.track_id === audioId);
    t.true(joined.d.seq < pubVideo.d.seq, 'user_joined precedes track_published');
    t.like(pubVideo.d.track, { kind: 'video', source: 'camera', muted: false });
    t.like(pubAudio.d.track, { kind: 'audio', source: 'mic', muted: false });
    t.log(`track_published codecs: video ${pubVideo.d.track.codec}, audio ${pubAudio.d.track.codec}`);

    // B subscribed to both (on track_published); media must flow and decode.
    const subResults = await until(async () => {
      const r = await pageB.evaluate(() => window.nertcSubscribeResults);
      return r.length >= 2 ? r : null;
    }, 10_000, "B's subscribe responses");
    for (const r of subResults) {
      t.true(r.ok, `subscribe ${r.track_id}: ${r.msg ?? ''}`);
      t.true(r.state === 'pending' || r.state === 'active', `subscribe state ${r.state}`);
    }

    const videoStats = await until(async () => {
      const v = inbound(await rtpStats(pageB), 'video')[0];
      return v && v.framesDecoded > 30 ? v : null;
    }, 20_000, "B's inbound video framesDecoded > 30");
    t.true(videoStats.framesDecoded > 30);
    t.log(`B video: ${videoStats.framesDecoded} frames decoded, ${videoStats.frameWidth}x${videoStats.frameHeight}, codec ${videoStats.codec} ${videoStats.fmtp}${videoStats.decoder ? ` (decoder ${videoStats.decoder})` : ''}`);
    const outA = (await rtpStats(pageA)).filter((s) => s.type === 'outbound-rtp');
    for (const s of outA) t.log(`A sends ${s.kind}: ${s.codec} ${s.fmtp} (encoder ${s.encoder ?? '-'}), ${s.packets} packets`);

    const audio1 = await until(async () => {
      const a = inbound(await rtpStats(pageB), 'audio')[0];
      return a && a.packets > 0 ? a : null;
    }, 10_000, "B's inbound audio packets");
    await sleep(1500);
    const audio2 = inbound(await rtpStats(pageB), 'audio')[0];
    t.true(audio2.packets > audio1.packets, `audio packetsReceived grows (${audio1.packets} -> ${audio2.packets})`);
    t.log(`B audio: ${audio2.packets} packets, codec ${audio2.codec}`);

    const evB2 = await until(async () => {
      const ev = await events(pageB);
      const active = (id) => ev.some((e) => e.t === 'subscription' && e.d.track_id === id && e.d.state === 'active');
      return active(videoId) && active(audioId) ? ev : null;
    }, 5_000, "B's subscription {state: active} for both tracks");
    const seqs = evB2.filter((e) => e.d && typeof e.d.seq === 'number').map((e) => e.d.seq);
    t.deepEqual(seqs, seqs.map((_, i) => joinB.seq + 1 + i), 'event seqs are consecutive from join seq + 1');

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'browser-subscriber.png') });

    // C joins late: A's live tracks are in its join result, and it can subscribe to them.
    const pageC = await openPage('C', logs);
    const joinC = await pageC.evaluate((o) => window.runSubscriber(o), { ...common, uid: 1003, name: 'C', subscribeUid: 1001 });
    const aInC = joinC.users.find((u) => u.uid === 1001);
    t.truthy(aInC, "C's join result lists 1001");
    t.is(aInC?.name, 'A');
    t.deepEqual((aInC?.tracks ?? []).map((x) => x.track_id).sort(), [audioId, videoId].sort(), "C's join result lists A's live tracks");
    t.true(joinC.users.some((u) => u.uid === 1002 && u.tracks.length === 0), "C's join result lists B without tracks");
    await until(async () => {
      const v = inbound(await rtpStats(pageC), 'video')[0];
      return v && v.framesDecoded > 10;
    }, 20_000, "C's inbound video framesDecoded > 10");

    // A leaves: B and C see user_left {1001, leave}, the tracks go, subscriptions end.
    await pageA.evaluate(() => window.runLeave());
    for (const [name, page] of [['B', pageB], ['C', pageC]]) {
      const ev = await until(async () => {
        const e = await events(page);
        return e.some((x) => x.t === 'user_left' && x.d.uid === 1001) ? e : null;
      }, 5_000, `${name}'s user_left for 1001`);
      const left = ev.find((x) => x.t === 'user_left' && x.d.uid === 1001);
      t.is(left.d.reason, 'leave', `${name}: user_left reason`);
      t.false(ev.some((x) => x.t === 'user_left' && x.d.uid !== 1001), `${name}: nobody else left`);
    }
    const evB3 = await until(async () => {
      const ev = await events(pageB);
      const gone = (id) => ev.some((e) => e.t === 'track_unpublished' && e.d.track_id === id) &&
        ev.some((e) => e.t === 'subscription' && e.d.track_id === id && e.d.state === 'ended');
      return gone(videoId) && gone(audioId) ? ev : null;
    }, 5_000, "B's track_unpublished and subscription {ended} for both tracks");
    t.truthy(evB3);
    await until(async () => {
      const ev = await events(pageB);
      return [videoId, audioId].every((id) => ev.some((e) => e.t === 'remote_track_ended' && e.d.track_id === id));
    }, 5_000, "B's sub re-offer removing A's m-lines");
  } catch (e) {
    t.log(`--- page logs ---\n${logs.join('\n')}`);
    t.log(`--- server output (tail) ---\n${state.serverOut.slice(-60).join('\n')}`);
    throw e;
  }
});

/** A child process that prints `marker(PORT)` on stdout; resolves with {child, port}. */
function spawnListening(cmd, args, marker, out) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start within 10 s:\n${out.join('\n')}`)), 10_000);
    child.stdout.on('data', (chunk) => {
      keepTail(out, chunk);
      text += chunk.toString();
      const m = marker.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr.on('data', (chunk) => keepTail(out, chunk));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

const metricOf = (port, name) => new Promise((resolve) => {
  http.get(`http://127.0.0.1:${port}/metrics`, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => resolve(Number(body.split('\n').find((l) => l.startsWith(name + ' '))?.split(' ')[1] ?? NaN)));
  }).on('error', () => resolve(NaN));
});

test('through a cluster: pages entering through two nodes are redirected into one room and B decodes A', async (t) => {
  const logs = [];
  const out = [];
  const children = [];
  try {
    const redisPort = await freePort();
    const redis = await spawnListening('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      /Ready to accept connections()/, out);
    children.push(redis.child);
    const nodes = [];
    for (const id of ['w0', 'w1']) {
      const n = await spawnListening(SERVER_BIN, ['--listen', '127.0.0.1:0', '--redis-url', `redis://127.0.0.1:${redisPort}`, '--node-id', id],
        /nertc-server listening on http:\/\/127\.0\.0\.1:(\d+)/, out);
      children.push(n.child);
      nodes.push(n.port);
    }
    for (const port of nodes) await until(async () => (await metricOf(port, 'nertc_cluster_nodes')) === 2, 10_000, `node ${port} sees 2 nodes`);
    const channel = `cluster-${randomBytes(4).toString('hex')}`;
    const common = { appKey: 'demo', channel, token: null };
    const pageB = await openPage('cluster-B', logs);
    const joinB = await pageB.evaluate((o) => window.runSubscriber(o),
      { ...common, url: `ws://127.0.0.1:${nodes[0]}/rtc/v1`, uid: 2002, name: 'B', subscribeUid: 2001 });
    const pageA = await openPage('cluster-A', logs);
    const { join: joinA } = await pageA.evaluate((o) => window.runPublisher(o),
      { ...common, url: `ws://127.0.0.1:${nodes[1]}/rtc/v1`, uid: 2001, name: 'A' });
    const urlA = await pageA.evaluate(() => window.nertcClient.url);
    const urlB = await pageB.evaluate(() => window.nertcClient.url);
    t.log(`A entered at ${nodes[1]}, B at ${nodes[0]}; the room's node: ${urlA}`);
    t.is(urlA, urlB, 'both clients ended on the same node');
    t.is(joinA.cid, joinB.cid, 'one room');
    t.true(joinA.users.some((u) => u.uid === 2002), "A's join result lists B");
    t.is(joinB.protocol, 4);
    t.is(joinB.nodes.length, 1, "the join result lists the cluster's other node");
    t.false(joinB.nodes.includes(urlB));
    const redirects = (await metricOf(nodes[0], 'nertc_cluster_redirects_total')) + (await metricOf(nodes[1], 'nertc_cluster_redirects_total'));
    t.is(redirects, 1, 'one of the two joins was redirected');
    const closes = (await events(pageA)).concat(await events(pageB)).filter((e) => e.t === 'close');
    t.deepEqual(closes, [], 'a followed redirect is not a close the app sees');
    await until(async () => {
      const v = inbound(await rtpStats(pageB), 'video')[0];
      return v && v.framesDecoded > 10;
    }, 20_000, "B's inbound video framesDecoded > 10 through the cluster");
  } catch (e) {
    t.log(`--- page logs ---\n${logs.join('\n')}`);
    t.log(`--- redis and nodes (tail) ---\n${out.slice(-60).join('\n')}`);
    throw e;
  } finally {
    for (const c of children.reverse()) c.kill('SIGKILL');
  }
});

/** The transport of `pc`'s ('pub' | 'sub') selected candidate pair: local and remote candidate. */
const selectedPair = (page, which) => page.evaluate(async (which) => {
  const report = (await window.nertcClient.getStats())[which];
  if (!report) return null;
  let pair = null;
  report.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  if (!pair) return null;
  const c = (id) => {
    const x = report.get(id);
    return { protocol: x.protocol, type: x.candidateType, tcpType: x.tcpType ?? null, address: x.address, port: x.port };
  };
  return { state: pair.state, local: c(pair.localCandidateId), remote: c(pair.remoteCandidateId) };
}, which);

test('ICE over TCP only: a server that offers just its one tcptype-passive port carries A to B', async (t) => {
  const logs = [];
  const out = [];
  let child;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nertc-icetcp-'));
  try {
    const tcpPort = await freePort();
    const config = path.join(dir, 'server.toml');
    fs.writeFileSync(config, `[rtc]\nbind_ip = "127.0.0.1"\ntcp_port = ${tcpPort}\ntcp_only = true\n`);
    const node = await spawnListening(SERVER_BIN, ['--listen', '127.0.0.1:0', '--config', config],
      /nertc-server listening on http:\/\/127\.0\.0\.1:(\d+)/, out);
    child = node.child;
    const channel = `icetcp-${randomBytes(4).toString('hex')}`;
    const common = { url: `ws://127.0.0.1:${node.port}/rtc/v1`, appKey: 'demo', channel, token: null };
    const pageB = await openPage('tcp-B', logs);
    await pageB.evaluate((o) => window.runSubscriber(o), { ...common, uid: 3002, name: 'B', subscribeUid: 3001 });
    const pageA = await openPage('tcp-A', logs);
    await pageA.evaluate((o) => window.runPublisher(o), { ...common, uid: 3001, name: 'A' });
    const started = Date.now();
    const v = await until(async () => {
      const s = inbound(await rtpStats(pageB), 'video')[0];
      return s && s.framesDecoded > 30 ? s : null;
    }, 20_000, "B's inbound video framesDecoded > 30 over ICE-TCP");
    t.log(`B decoded ${v.framesDecoded} frames ${v.frameWidth}x${v.frameHeight} (${Date.now() - started} ms after A published)`);
    const a = await until(async () => {
      const s = inbound(await rtpStats(pageB), 'audio')[0];
      return s && s.packets > 20 ? s : null;
    }, 10_000, "B's inbound audio packets over ICE-TCP");
    t.log(`B audio: ${a.packets} packets`);
    // Every connection's selected pair is TCP to the server's one port, the server's side passive.
    for (const [name, page, which] of [['A', pageA, 'pub'], ['B', pageB, 'sub']]) {
      const p = await until(() => selectedPair(page, which), 5_000, `${name}'s ${which} selected pair`);
      t.log(`${name} ${which}: ${JSON.stringify(p)}`);
      t.is(p.local.protocol, 'tcp', `${name} ${which}: local candidate over TCP`);
      t.is(p.remote.protocol, 'tcp', `${name} ${which}: remote candidate over TCP`);
      t.is(p.remote.port, tcpPort, `${name} ${which}: to the server's tcp_port`);
      t.is(p.remote.tcpType, 'passive', `${name} ${which}: the server's candidate is passive`);
    }
    // The server's description offered that one candidate: no UDP, no tcptype active.
    const candidates = await pageA.evaluate(() => window.nertcClient.pubPc.remoteDescription.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:')));
    t.true(candidates.length > 0, 'the server offered candidates');
    for (const c of candidates) t.regex(c, new RegExp(` tcp \\d+ 127\\.0\\.0\\.1 ${tcpPort} typ host tcptype passive`), c);
    const unrouted = await metricOf(node.port, 'nertc_tcp_unrouted_total');
    t.is(unrouted, 0, 'every stream on the TCP port reached its connection');
  } catch (e) {
    t.log(`--- page logs ---\n${logs.join('\n')}`);
    t.log(`--- server (tail) ---\n${out.slice(-60).join('\n')}`);
    throw e;
  } finally {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
