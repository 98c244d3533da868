'use strict';
// The main job: a real call on the embedded room server. Two engines on synthetic devices
// (test-pattern camera, tone microphone, null speaker) join one channel for ~10 s, print the
// event timeline and stats, and write a PNG of the video each side received into out/.
//
//   npm start            (or: node examples/quickstart.js [seconds])
const fs = require('fs');
const path = require('path');
const { NERtcEngine, NERtcServer } = require('..').default;
const { i420ToPng } = require('./png');

const SECONDS = Number(process.argv[2] || 10);
const OUT = path.join(__dirname, '..', 'out');
const t0 = Date.now();
const log = (who, what, ...args) =>
  console.log(`${String(Date.now() - t0).padStart(6)} ms  ${who.padEnd(5)} ${what}${args.length ? ' ' + JSON.stringify(args) : ''}`);

const TIMELINE_EVENTS = [
  'onJoinChannel', 'onLeaveChannel', 'onUserJoined', 'onUserLeft', 'onConnectionStateChange',
  'onUserAudioStart', 'onUserVideoStart', 'onUserVideoStop', 'onFirstAudioDataReceived',
  'onFirstAudioFrameDecoded', 'onFirstVideoDataReceived', 'onFirstVideoFrameDecoded', 'onError', 'onWarning',
];

function makeUser(name, uid, url) {
  const engine = new NERtcEngine();
  const rc = engine.initialize({
    app_key: 'quickstart',
    log_dir_path: path.join(OUT, 'logs', name),
    log_level: 3,
    server_config: { channel_server: url },
  });
  if (rc !== 0) throw new Error(`${name}: initialize returned ${rc}`);
  const user = { name, uid, engine, lastFrame: null, frames: 0, stats: null };
  for (const ev of TIMELINE_EVENTS) engine.on(ev, (...args) => log(name, ev, ...args));
  engine.on('onRtcStats', (s) => { user.stats = s; });
  engine.on('onUserVideoStart', (remoteUid) => {
    engine.setupRemoteVideoCanvas(remoteUid, {
      view: {
        drawFrame(frame) {
          user.frames++;
          user.lastFrame = {
            width: frame.width, height: frame.height,
            y: Buffer.from(frame.y), u: Buffer.from(frame.u), v: Buffer.from(frame.v), strides: frame.strides,
          };
        },
      },
      mode: 0,
    });
    engine.subscribeRemoteVideoStream(remoteUid, 0, true);
  });
  return user;
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const server = new NERtcServer();
  const url = await server.start();
  log('main', `embedded server at ${url}`);
  const alice = makeUser('alice', 1001, url);
  const bob = makeUser('bob', 1002, url);
  for (const u of [alice, bob]) {
    u.engine.enableLocalVideo(true);
    const rc = u.engine.joinChannel('', 'quickstart', u.uid);
    log(u.name, `joinChannel -> ${rc}`);
  }
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  for (const u of [alice, bob]) {
    log(u.name, `drew ${u.frames} remote frames; last stats`, u.stats);
    if (u.lastFrame) {
      const file = path.join(OUT, `${u.name}-received.png`);
      fs.writeFileSync(file, i420ToPng(u.lastFrame));
      log(u.name, `wrote ${path.relative(process.cwd(), file)} (${u.lastFrame.width}x${u.lastFrame.height})`);
    } else {
      log(u.name, 'received no video');
      process.exitCode = 1;
    }
  }
  for (const u of [alice, bob]) u.engine.leaveChannel();
  await new Promise((r) => setTimeout(r, 500));
  for (const u of [alice, bob]) u.engine.release();
  await server.stop();
  log('main', 'done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
