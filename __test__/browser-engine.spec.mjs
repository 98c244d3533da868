// A browser and the Node engine in one room through the embedded server: headless Chromium
// (fake camera, web/nertc-web.js) publishes and the engine decodes its video; the engine
// publishes its test pattern and a second Chromium page decodes it.
import test from 'ava';
import { NERtcEngine, until, useBrowserRoom } from './helpers.mjs';

const state = {};

useBrowserRoom(test, 'browser-engine', state);


test('Chromium and the engine exchange video both ways', async (t) => {
  const channel = `browser-engine-${process.pid}`;
  const common = { url: `${state.url}/rtc/v1`, appKey: 'demo', channel };
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const events = [];
  for (const ev of ['onJoinChannel', 'onUserJoined', 'onUserVideoStart', 'onFirstVideoFrameDecoded']) {
    engine.on(ev, (...args) => events.push([ev, ...args]));
  }
  const frames = [];
  engine.on('onUserVideoStart', (uid) => {
    engine.setupRemoteVideoCanvas(uid, {
      view: {
        drawFrame(f) {
          // Luma spread: the fake camera's moving picture is not flat.
          let min = 255, max = 0;
          for (let i = 0; i < f.y.length; i += 97) { min = Math.min(min, f.y[i]); max = Math.max(max, f.y[i]); }
          frames.push({ uid, width: f.width, height: f.height, spread: max - min });
        },
      },
    });
    engine.subscribeRemoteVideoStream(uid, 0, true);
  });
  t.is(engine.enableLocalVideo(true), 0);
  t.is(engine.joinChannel('', channel, 3001), 0);

  const pub = await state.ctx.newPage();
  await pub.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  await pub.evaluate((o) => window.runPublisher(o), { ...common, uid: 2001, name: 'chromium-pub' });
  const sub = await state.ctx.newPage();
  await sub.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  await sub.evaluate((o) => window.runSubscriber(o), { ...common, uid: 2002, name: 'chromium-sub', subscribeUid: 3001 });

  // The engine decodes Chromium's video.
  const first = await until('engine decodes Chromium', () => events.find((e) => e[0] === 'onFirstVideoFrameDecoded' && e[1] === 2001));
  t.log('engine first frame from Chromium', first);
  t.true(first[2] > 0 && first[3] > 0);
  await until('frames drawn', () => frames.filter((f) => f.uid === 2001).length >= 10);
  t.true(frames.filter((f) => f.uid === 2001).some((f) => f.spread > 40), 'Chromium video is not flat');

  // Chromium decodes the engine's H.264.
  const stats = await until('Chromium decodes the engine', async () => {
    const s = await sub.evaluate(() => window.rtpStats());
    const v = s.find((x) => x.type === 'inbound-rtp' && x.kind === 'video');
    return v && v.framesDecoded > 30 ? v : null;
  });
  t.log('Chromium decoding the engine:', stats);
  t.is(stats.codec, 'video/H264');
  t.is(stats.frameWidth, 640);

  engine.leaveChannel();
  engine.release();
  await pub.close();
  await sub.close();
});

// A browser `pub` connection that never comes up (here: its first RTCPeerConnection may use
// relay candidates only and has no TURN server, so it has none) is replaced after 10 s by a new
// one offered `fresh` (docs/protocol.md §8.8b); the server swaps its side and the engine
// decodes the browser's video.
test('a browser pub connection that never comes up is replaced, and its video arrives', async (t) => {
  const channel = `browser-fresh-${process.pid}`;
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const decoded = [];
  engine.on('onUserVideoStart', (uid) => {
    engine.setupRemoteVideoCanvas(uid, { view: { drawFrame() {} } });
    engine.subscribeRemoteVideoStream(uid, 0, true);
  });
  engine.on('onFirstVideoFrameDecoded', (uid) => decoded.push(uid));
  t.is(engine.joinChannel('', channel, 3101), 0);

  const pub = await state.ctx.newPage();
  await pub.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    let first = true;
    window.RTCPeerConnection = class extends Original {
      constructor(config = {}) {
        super(first ? { ...config, iceTransportPolicy: 'relay' } : config);
        first = false;
      }
    };
  });
  await pub.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  const started = Date.now();
  await pub.evaluate((o) => window.runPublisher(o), { url: `${state.url}/rtc/v1`, appKey: 'demo', channel, uid: 2101, name: 'stuck-pub' });
  await until('engine decodes the replaced connection', () => decoded.includes(2101), 40000);
  const replaced = await pub.evaluate(() => window.nertcPubReplaced);
  t.log(`first frame ${Date.now() - started} ms after publishing; pub connections replaced: ${replaced}`);
  t.is(replaced, 1);
  t.true(Date.now() - started >= 10000, 'not before the connection had its 10 s');

  engine.release();
  await pub.close();
});

// A browser publishing simulcast (protocol §8.12: rids `l` and `h` on one m-line): the engine
// subscribes to the high stream and decodes Chromium's full 640x480, then asks for the low
// stream (`subscribeRemoteVideoStream(uid, 1, true)`) and decodes 320x240 from then on, told
// by onRemoteVideoReceiveSizeChanged.
test('Chromium publishes simulcast: the engine gets the high layer, then the low one', async (t) => {
  const channel = `browser-simulcast-${process.pid}`;
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const frames = [];
  const sizes = [];
  engine.on('onRemoteVideoReceiveSizeChanged', (uid, type, width, height) => sizes.push({ uid, width, height, at: Date.now() }));
  engine.on('onUserVideoStart', (uid) => {
    engine.setupRemoteVideoCanvas(uid, {
      view: {
        drawFrame(f) {
          let min = 255, max = 0;
          for (let i = 0; i < f.y.length; i += 97) { min = Math.min(min, f.y[i]); max = Math.max(max, f.y[i]); }
          frames.push({ uid, width: f.width, height: f.height, spread: max - min, at: Date.now() });
        },
      },
    });
    engine.subscribeRemoteVideoStream(uid, 0, true);
  });
  t.is(engine.joinChannel('', channel, 3201), 0);

  const pub = await state.ctx.newPage();
  await pub.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  await pub.evaluate((o) => window.runPublisher(o), { url: `${state.url}/rtc/v1`, appKey: 'demo', channel, uid: 2201, name: 'simulcast-pub', simulcast: true });
  // Chromium sends both rids.
  let seen = [];
  const rids = await until('Chromium sends two layers', async () => {
    const s = await pub.evaluate(() => window.rtpStats());
    seen = s;
    const out = s.filter((x) => x.type === 'outbound-rtp' && x.kind === 'video' && x.rid && x.framesEncoded > 0);
    return out.length >= 2 ? out.map((x) => `${x.rid}:${x.frameWidth}x${x.frameHeight}`) : null;
  }, 20000).catch((e) => {
    t.log('Chromium outbound', seen.filter((x) => x.type === 'outbound-rtp'));
    throw e;
  });
  t.log('Chromium encodes', rids);

  // The high layer: Chromium's full size (its encoder may start a layer smaller while its
  // estimate ramps up, so this waits for 640x480).
  await until('engine decodes the high layer', () => frames.some((f) => f.width === 640 && f.height === 480), 20000);
  t.true(frames.filter((f) => f.width === 640).some((f) => f.spread > 40), 'Chromium video is not flat');

  // The low layer.
  const asked = Date.now();
  t.is(engine.subscribeRemoteVideoStream(2201, 1, true), 0);
  await until('engine decodes the low layer', () => frames.filter((f) => f.at > asked && f.width === 320 && f.height === 240).length >= 10, 15000);
  const low = frames.filter((f) => f.at > asked);
  const switched = low.find((f) => f.width === 320);
  t.log(`low layer ${switched.at - asked} ms after asking; sizes told: ${JSON.stringify(sizes.map(({ width, height }) => [width, height]))}`);
  const after = low.filter((f) => f.at >= switched.at);
  t.true(after.every((f) => f.width === 320 && f.height === 240), 'the engine went back to the high layer');
  t.true(after.some((f) => f.spread > 40), 'the low layer is not flat');
  t.true(sizes.some((s) => s.uid === 2201 && s.width === 320 && s.height === 240), 'onRemoteVideoReceiveSizeChanged told 320x240');

  engine.leaveChannel();
  engine.release();
  await pub.close();
});
