'use strict';
// The seed flow of an app that installed nertc-electron-sdk from npm (run by
// scripts/consumer-test.sh inside a fresh project, once from CommonJS and once from ESM):
// the embedded room server, two engines in one channel, alice publishes the test-pattern
// camera, bob subscribes and must draw decoded frames that look like the pattern (not blank).
// Every wait is for an event, bounded only by a generous overall limit.
const fs = require('node:fs');

const LIMIT_MS = 120_000;
const WANT_FRAMES = 10;

/** The addon must come from the installed platform package, not from anywhere else. */
function checkAddonOrigin(label) {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  const lines = [...new Set(maps.split('\n').filter((l) => l.includes('.node')).map((l) => l.slice(l.indexOf('/'))))];
  const ours = lines.filter((l) => l.includes('nertc-electron-sdk'));
  const platform = `linux-${process.arch}-gnu`; // x64 in CI; arm64 under qemu (scripts/build-arm64.sh)
  if (ours.length !== 1 || !ours[0].includes(`/node_modules/nertc-electron-sdk-${platform}/nertc-electron-sdk.${platform}.node`)) {
    throw new Error(`${label}: addon not loaded from the platform package: ${JSON.stringify(ours)}`);
  }
  console.log(`${label}: addon ${ours[0]}`);
}

module.exports = async function runCall(sdk, label) {
  const { NERtcEngine, NERtcServer, ErrorCode } = sdk;
  checkAddonOrigin(label);
  const server = new NERtcServer();
  const url = await server.start();
  if (!/^ws:\/\/127\.0\.0\.1:\d+/.test(url)) throw new Error(`${label}: server.start() -> ${url}`);
  const channel = `consumer-${label}`;
  let done;
  let fail;
  const finished = new Promise((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const state = { joined: {}, frames: 0, size: null, lumaRange: 0, events: [] };

  const makeEngine = (name) => {
    const engine = new NERtcEngine();
    const rc = engine.initialize({ app_key: 'consumer', log_dir_path: `logs/${label}/${name}`, server_config: { channel_server: url } });
    if (rc !== ErrorCode.OK) throw new Error(`${label}: ${name}.initialize -> ${rc}`);
    engine.on('onJoinChannel', (cid, uid, result) => {
      state.events.push(`${name} onJoinChannel ${result}`);
      if (result !== ErrorCode.OK) fail(new Error(`${label}: ${name} joined with ${result}`));
      state.joined[name] = true;
    });
    engine.on('onError', (code, msg) => fail(new Error(`${label}: ${name} onError ${code} ${msg}`)));
    return engine;
  };
  const alice = makeEngine('alice');
  const bob = makeEngine('bob');

  const camera = alice.enumerateVideoCaptureDevices().find((d) => d.device_id === 'nertc-test-pattern');
  if (!camera) throw new Error(`${label}: no nertc-test-pattern camera in ${JSON.stringify(alice.enumerateVideoCaptureDevices())}`);
  for (const [what, rc] of [
    ['setVideoDevice', alice.setVideoDevice(camera.device_id)],
    ['enableLocalVideo', alice.enableLocalVideo(true)],
  ]) {
    if (rc !== ErrorCode.OK) throw new Error(`${label}: alice.${what} -> ${rc}`);
  }
  bob.on('onUserVideoStart', (uid) => {
    state.events.push(`bob onUserVideoStart ${uid}`);
    bob.setupRemoteVideoCanvas(uid, {
      mode: 0,
      view: {
        drawFrame(frame) {
          state.frames++;
          state.size = `${frame.width}x${frame.height}`;
          // The test pattern has bars from dark to bright: a decoded frame spans a wide range.
          let lo = 255;
          let hi = 0;
          for (let i = 0; i < frame.y.length; i += 97) {
            lo = Math.min(lo, frame.y[i]);
            hi = Math.max(hi, frame.y[i]);
          }
          state.lumaRange = Math.max(state.lumaRange, hi - lo);
          if (state.frames >= WANT_FRAMES && state.lumaRange > 64) done();
        },
      },
    });
    bob.subscribeRemoteVideoStream(uid, 0, true);
  });

  for (const [name, engine, uid] of [['alice', alice, 1001], ['bob', bob, 1002]]) {
    const rc = engine.joinChannel('', channel, uid);
    if (rc !== ErrorCode.OK) throw new Error(`${label}: ${name}.joinChannel -> ${rc}`);
  }
  const limit = setTimeout(
    () => fail(new Error(`${label}: no ${WANT_FRAMES} patterned frames within ${LIMIT_MS} ms: ${JSON.stringify(state)}`)),
    LIMIT_MS,
  );
  try {
    await finished;
  } finally {
    clearTimeout(limit);
    for (const e of [alice, bob]) e.leaveChannel();
    for (const e of [alice, bob]) e.release();
    await server.stop();
  }
  console.log(`${label}: bob drew ${state.frames} frames of ${state.size} from alice (luma range ${state.lumaRange}); ${state.events.join(', ')}`);
};
