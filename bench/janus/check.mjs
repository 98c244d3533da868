#!/usr/bin/env node
// End-to-end check of bench/janus with Chromium as the only peer: one page publishes a fake
// camera (H.264 42e01f, packetization-mode 1) + fake microphone to a Janus VideoRoom, a second
// page subscribes to it; both pages talk to Janus themselves (browser WebSocket, subprotocol
// "janus-protocol"), so this checks the configs and the message flow independently of janus.rs.
//
//   ./scripts/netns.sh node bench/janus/check.mjs [--seconds 5] [--dump DIR]
//
// Starts Janus itself (janus -F bench/janus -r 20000-20999 on ws://127.0.0.1:8188) after creating
// the veth interface Janus gathers its ICE candidate on (see README.md), unless --url is given.
// --dump DIR writes the four SDPs (publisher offer/answer, subscriber offer/answer) and
// messages.json (every Janus API message each page sent and received).
// stdout: one JSON object (subscriber inbound-rtp stats, codecs, selected candidate pairs).

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const seconds = Number(opt('seconds', '5'));
const dump = opt('dump', null);
let url = opt('url', null);
// --iface NAME: gather on another interface (-E NAME). `--iface vmnet0` is the negative check of
// README.md: Chromium skips interfaces named vmnet*, so it offers only 127.0.0.1, which Janus
// cannot reach from an ICE socket pinned to vmnet0 (IP_UNICAST_IF) -> ICE fails.
const iface = opt('iface', 'janus0');
const janusDebug = args.includes('--janus-debug'); // Janus log level 5 + libnice debug
const log = (...a) => console.error('[janus-check]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The interface Janus gathers on: Janus never uses loopback interfaces (README.md).
function ensureIceInterface() {
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  if (links.includes(` ${iface}@`)) return;
  if (process.env.NERTC_IN_NETNS !== '1') throw new Error(`no ${iface} interface; run inside ./scripts/netns.sh`);
  for (const a of [
    ['link', 'add', iface, 'type', 'veth', 'peer', 'name', `${iface}p`],
    ['addr', 'add', '10.200.0.1/32', 'dev', iface],
    ['link', 'set', iface, 'up'],
    ['link', 'set', `${iface}p`, 'up'],
  ]) execFileSync('ip', a);
  // As janus.rs does: no IPv6 link-local addresses and their chatter on the pair.
  for (const dev of [iface, `${iface}p`]) fs.writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
}

let janus = null;
if (!url) {
  ensureIceInterface();
  janus = spawn('janus', ['-F', HERE, '-r', '20000-20999', '-o', '-E', iface, ...(janusDebug ? ['-d', '5', '-l'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  janus.stdout.on('data', (d) => process.stderr.write(d));
  janus.stderr.on('data', (d) => process.stderr.write(d));
  process.on('exit', () => janus.kill('SIGKILL'));
  url = 'ws://127.0.0.1:8188';
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => {
      const s = new net.Socket();
      s.once('connect', () => { s.destroy(); r(true); }).once('error', () => r(false)).connect(8188, '127.0.0.1');
    });
    if (ok) break;
    if (i > 100) throw new Error('Janus did not open its WebSocket port');
    await sleep(100);
  }
}

// Packets that went through each interface of this namespace (netlink; /sys may show the host's):
// media between two local addresses is delivered through `lo`, never through the veth.
const counters = () => Object.fromEntries(JSON.parse(execFileSync('ip', ['-s', '-j', 'link', 'show'], { encoding: 'utf8' }))
  .map((l) => [l.ifname, `${l.stats64.rx.packets}/${l.stats64.tx.packets}`]));
const before = counters();

const server = http.createServer((_, res) => res.end('<!doctype html><title>janus check</title>'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const page0 = `http://127.0.0.1:${server.address().port}/`;

async function newPage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'janus-check-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--allow-loopback-in-peer-connection'],
  });
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  page.on('console', (m) => log('page:', m.text()));
  await page.goto(page0);
  // A minimal Janus client in the page: session + videoroom handle, transactions, keepalives.
  await page.evaluate(() => {
    window.janus = async (url) => {
      const ws = new WebSocket(url, 'janus-protocol');
      await new Promise((ok, err) => { ws.onopen = ok; ws.onerror = () => err(new Error('ws error')); });
      const pending = new Map();
      const events = [];
      window.wire = window.wire ?? []; // every message sent (>) and received (<), for --dump
      let n = 0;
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        window.wire.push(['<', m]);
        const cb = pending.get(m.transaction);
        if (m.janus === 'ack' || !cb) { if (!cb && m.janus !== 'ack') events.push(m); return; }
        pending.delete(m.transaction);
        cb(m);
      };
      const send = (msg) => new Promise((ok) => {
        const transaction = `t${++n}`;
        pending.set(transaction, ok);
        window.wire.push(['>', { ...msg, transaction }]);
        ws.send(JSON.stringify({ ...msg, transaction }));
      });
      const session_id = (await send({ janus: 'create' })).data.id;
      const handle_id = (await send({ janus: 'attach', session_id, plugin: 'janus.plugin.videoroom' })).data.id;
      setInterval(() => ws.send(JSON.stringify({ janus: 'keepalive', session_id, transaction: 'ka' })), 25000);
      return {
        events,
        message: (body, jsep) => send({ janus: 'message', session_id, handle_id, body, ...(jsep ? { jsep } : {}) }),
      };
    };
    window.gathered = (pc) => new Promise((ok) => {
      if (pc.iceGatheringState === 'complete') return ok();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && ok());
    });
    window.pairs = async (pc) => {
      const st = await pc.getStats();
      const out = [];
      st.forEach((r) => {
        if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated) {
          const l = st.get(r.localCandidateId);
          const rm = st.get(r.remoteCandidateId);
          out.push(`${l.address}:${l.port} -> ${rm.address}:${rm.port}`);
        }
      });
      return out;
    };
  });
  return { ctx, page };
}

const ROOM = 4242;
const pub = await newPage();
const published = await pub.page.evaluate(async ({ url, ROOM }) => {
  const j = await window.janus(url);
  const created = await j.message({
    // The same room as janus.rs's create_room.
    request: 'create', room: ROOM, permanent: false, description: 'nertc-bench fan-out',
    audiocodec: 'opus', videocodec: 'h264', h264_profile: '42e01f', bitrate: 0, fir_freq: 0,
  });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const pc = new RTCPeerConnection();
  window.pc = pc;
  for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
  const codecs = RTCRtpSender.getCapabilities('video').codecs;
  const h264 = codecs.filter((c) => c.mimeType === 'video/H264' && /packetization-mode=1/.test(c.sdpFmtpLine)
    && /profile-level-id=42e01f/.test(c.sdpFmtpLine));
  if (!h264.length) throw new Error('no H.264 42e01f in this Chromium');
  pc.getTransceivers().find((t) => t.sender.track.kind === 'video')
    .setCodecPreferences([...h264, ...codecs.filter((c) => /rtx/.test(c.mimeType))]);
  await pc.setLocalDescription(await pc.createOffer());
  await window.gathered(pc);
  const offer = pc.localDescription.sdp;
  const joined = await j.message({ request: 'joinandconfigure', ptype: 'publisher', room: ROOM, display: 'chromium' },
    { type: 'offer', sdp: offer, trickle: false });
  if (!joined.jsep) throw new Error(`no answer: ${JSON.stringify(joined)}`);
  await pc.setRemoteDescription(joined.jsep);
  for (let i = 0; i < 100 && pc.connectionState !== 'connected'; i++) await new Promise((r) => setTimeout(r, 100));
  return { created: created.plugindata.data, joined: joined.plugindata.data, offer, answer: joined.jsep.sdp,
    state: pc.connectionState, events: j.events };
}, { url, ROOM });
log('publisher', published.state, 'feed', published.joined.id, JSON.stringify(published.created));
if (dump) {
  fs.mkdirSync(dump, { recursive: true });
  fs.writeFileSync(path.join(dump, 'publisher-offer.sdp'), published.offer);
  fs.writeFileSync(path.join(dump, 'publisher-answer.sdp'), published.answer);
}
if (published.state !== 'connected') throw new Error('publisher PeerConnection did not connect');

const sub = await newPage();
const subscribed = await sub.page.evaluate(async ({ url, ROOM, feed }) => {
  // Only so that Chromium exposes its real host addresses instead of mDNS names.
  (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((t) => t.stop());
  const j = await window.janus(url);
  let attached;
  for (let i = 0; i < 50; i++) {
    attached = await j.message({ request: 'join', ptype: 'subscriber', room: ROOM, streams: [{ feed }] });
    if (attached.plugindata.data.error_code !== 428) break; // feed not active (webrtcup) yet
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!attached.jsep) throw new Error(`no offer: ${JSON.stringify(attached)}`);
  const pc = new RTCPeerConnection();
  window.pc = pc;
  await pc.setRemoteDescription(attached.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await window.gathered(pc);
  const answer = pc.localDescription.sdp;
  const started = await j.message({ request: 'start' }, { type: 'answer', sdp: answer, trickle: false });
  return { attached: attached.plugindata.data, started: started.plugindata.data, offer: attached.jsep.sdp, answer };
}, { url, ROOM, feed: published.joined.id });
log('subscriber', JSON.stringify(subscribed.started));

await sleep(seconds * 1000);
const stats = await sub.page.evaluate(async () => {
  const out = { inbound: [], pairs: await window.pairs(window.pc), state: window.pc.connectionState };
  const st = await window.pc.getStats();
  st.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    const c = st.get(r.codecId);
    out.inbound.push({ kind: r.kind, codec: c && `${c.mimeType} pt=${c.payloadType} ${c.sdpFmtpLine ?? ''}`,
      packetsReceived: r.packetsReceived, packetsLost: r.packetsLost, framesDecoded: r.framesDecoded,
      frameWidth: r.frameWidth, frameHeight: r.frameHeight, keyFramesDecoded: r.keyFramesDecoded,
      nackCount: r.nackCount, pliCount: r.pliCount });
  });
  return out;
});
const pubPairs = await pub.page.evaluate(() => window.pairs(window.pc));
if (dump) {
  const wire = { publisher: await pub.page.evaluate(() => window.wire), subscriber: await sub.page.evaluate(() => window.wire) };
  fs.writeFileSync(path.join(dump, 'messages.json'), JSON.stringify(wire, null, 1));
  fs.writeFileSync(path.join(dump, 'subscriber-offer.sdp'), subscribed.offer);
  fs.writeFileSync(path.join(dump, 'subscriber-answer.sdp'), subscribed.answer);
}
const video = stats.inbound.find((r) => r.kind === 'video');
const audio = stats.inbound.find((r) => r.kind === 'audio');
const ok = !!(video && video.framesDecoded > 0 && audio && audio.packetsReceived > 0);
console.log(JSON.stringify({ ok, rxTxPacketsBefore: before, rxTxPacketsAfter: counters(), publisherPairs: pubPairs, subscriber: stats, attached: subscribed.attached }));

await pub.ctx.close();
await sub.ctx.close();
server.close();
process.exit(ok ? 0 : 1);
