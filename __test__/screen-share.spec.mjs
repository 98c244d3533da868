// Screen sharing between the Node engine and a browser, for real: the spec starts its own X
// server (Xvfb with a white root window) for the engine to capture. The engine shares the
// display on its substream while its test-pattern camera keeps publishing; a Chromium page
// (web/nertc-web.js) receives both, the screen as the `screen` track, and finds it white. A
// second page publishes its (fake camera) video as a screen share, as getDisplayMedia's track
// would be: the engine sees it as that user's substream and draws it on a substream canvas.
//
// Needs Xvfb (apt xvfb; scripts/setup.sh). Run inside the loopback-only namespace:
//   npm run --silent build:dev && ./scripts/netns.sh npx ava __test__/screen-share.spec.mjs
import test from 'ava';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { NERtcEngine, until, useBrowserRoom } from './helpers.mjs';

const state = {};


/** Xvfb on a free display number with a white root window; resolves once it takes clients. */
async function startXvfb() {
  let n = 200;
  while (fs.existsSync(`/tmp/.X${n}-lock`)) n++;
  const display = `:${n}`;
  const proc = spawn('Xvfb', [display, '-screen', '0', '1280x720x24', '-wr', '-nolisten', 'tcp'], { stdio: 'ignore' });
  await until('Xvfb socket', () => fs.existsSync(`/tmp/.X11-unix/X${n}`), 10000);
  return { display, proc };
}

useBrowserRoom(test, 'screen-share', state, {
  first: async () => {
    state.xvfb = await startXvfb();
    // The engine's capture connects to $DISPLAY (Node's setenv reaches the addon).
    process.env.DISPLAY = state.xvfb.display;
  },
});
test.after.always(() => state.xvfb?.proc.kill());

test('the engine shares its screen to a browser and receives a browser share, next to the cameras', async (t) => {
  const channel = `screen-share-${process.pid}`;
  const common = { url: `${state.url}/rtc/v1`, appKey: 'demo', channel };
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const events = [];
  for (const ev of ['onUserVideoStart', 'onUserSubStreamVideoStart', 'onUserSubStreamVideoStop', 'onFirstVideoFrameDecoded', 'onScreenCaptureStatus']) {
    engine.on(ev, (...args) => events.push([ev, ...args]));
  }

  // What can be shared: the display, with a white thumbnail.
  const sources = engine.enumerateScreenCaptureSourceInfo(160, 160, 0, 0);
  const display = sources.find((s) => s.type === 1);
  t.truthy(display, JSON.stringify(sources.map(({ thumbBGRA, ...s }) => s)));
  t.is(display.thumbBGRA.width, 160);
  t.is(display.thumbBGRA.height, 90);
  t.true(display.thumbBGRA.buffer instanceof Uint8Array);
  t.is(display.thumbBGRA.buffer.length, display.thumbBGRA.length);
  t.deepEqual([...display.thumbBGRA.buffer.subarray(0, 3)], [255, 255, 255], 'the white root');

  t.is(engine.startScreenCaptureByDisplayId(display.sourceId, null, null), 30101, 'not in a channel');
  t.is(engine.enableLocalVideo(true), 0);
  t.is(engine.joinChannel('', channel, 3001), 0);
  const localSub = [];
  t.is(engine.setupLocalSubStreamVideoCanvas({ view: { drawFrame: (f) => localSub.push({ w: f.width, h: f.height, y: f.y[f.y.length >> 1] }) } }), 0);
  await until('joined', () => engine.getConnectionState() === 3);
  const param = { profile: 3, dimensions: { width: 1280, height: 720 }, frame_rate: 10, capture_mouse_cursor: false };
  t.is(engine.startScreenCaptureByDisplayId(display.sourceId, { x: 0, y: 0, width: 0, height: 0 }, param), 0);
  await until('capture started', () => events.find((e) => e[0] === 'onScreenCaptureStatus' && e[1] === 1));
  await until('local substream preview', () => localSub.length >= 3);
  t.like(localSub.at(-1), { w: 1280, h: 720 });
  t.true(localSub.at(-1).y > 225, `white picture, luma ${localSub.at(-1).y}`);

  // A browser receives the engine's camera and its screen as two tracks.
  const page = `http://127.0.0.1:${state.web.address().port}/test.html`;
  const sub = await state.ctx.newPage();
  await sub.goto(page);
  await sub.evaluate((o) => window.runSubscriber(o), { ...common, uid: 2002, name: 'chromium-sub', subscribeUid: 3001 });
  const screen = await until('Chromium shows the engine\'s screen', async () => {
    const c = await sub.evaluate(() => window.videoColour(3001, 'screen'));
    return c && c.frames > 5 ? c : null;
  }, 30000);
  t.log('Chromium: the engine\'s screen', screen);
  t.is(screen.width, 1280);
  t.true(screen.r > 225 && screen.g > 225 && screen.b > 225, 'white');
  const camera = await until('Chromium shows the engine\'s camera', async () => {
    const c = await sub.evaluate(() => window.videoColour(3001, 'camera'));
    return c && c.frames > 5 ? c : null;
  }, 30000);
  t.is(camera.width, 640, 'the camera on its own track');

  // A browser's screen share arrives as its substream.
  const subFrames = [];
  engine.on('onUserSubStreamVideoStart', (uid) => {
    engine.setupRemoteSubStreamVideoCanvas(uid, { view: { drawFrame: (f) => subFrames.push({ uid, w: f.width, h: f.height }) } });
    engine.subscribeRemoteVideoSubStream(uid, true);
  });
  const pub = await state.ctx.newPage();
  await pub.goto(page);
  await pub.evaluate((o) => window.runPublisher(o), { ...common, uid: 2001, name: 'chromium-share', videoSource: 'screen' });
  const first = await until('engine decodes the browser share', () => events.find((e) => e[0] === 'onFirstVideoFrameDecoded' && e[1] === 2001));
  t.is(first[4], 1, 'onFirstVideoFrameDecoded says substream');
  await until('substream canvas draws', () => subFrames.filter((f) => f.uid === 2001).length >= 10);
  t.false(events.some((e) => e[0] === 'onUserVideoStart' && e[1] === 2001), 'a share is not a camera');

  // Stopping unpublishes the engine's screen track; the camera stays.
  t.is(engine.stopScreenCapture(), 0);
  await until('Chromium loses the screen', async () => (await sub.evaluate(() => window.videoColour(3001, 'screen'))) === null);
  const still = await sub.evaluate(() => window.videoColour(3001, 'camera'));
  t.truthy(still, 'camera still shown');
  t.true(events.some((e) => e[0] === 'onScreenCaptureStatus' && e[1] === 4));

  engine.leaveChannel();
  engine.release();
  await pub.close();
  await sub.close();
});
