// The data channel and the new NERtcEngine surface through the JS binding, with the browser
// client (web/nertc-web.js) on the other end (docs/protocol.md §13): enableLocalData shows as
// user_data in Chromium and Chromium's as onUserDataStart; sendData (ArrayBuffer and typed
// array) arrives in order in Chromium, Chromium's sendData as onUserDataReceiveMessage(uid,
// ArrayBuffer); the argument codes of the uid-list methods and switchChannel.
import test from 'ava';
import { NERtcEngine, until, useBrowserRoom } from './helpers.mjs';

const state = {};

useBrowserRoom(test, 'data', state);

test('data messages both ways between the engine and Chromium; argument codes', async (t) => {
  const channel = `data-${process.pid}`;
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const events = [];
  for (const ev of ['onJoinChannel', 'onUserJoined', 'onUserDataStart', 'onUserDataStop', 'onUserDataStateChanged', 'onUserDataReceiveMessage']) {
    engine.on(ev, (...args) => events.push([ev, ...args]));
  }
  t.is(engine.sendData(new Uint8Array([1]).buffer), 30101, 'not in a channel');
  t.is(engine.joinChannel('', channel, 3001), 0);
  await until('engine joined', () => events.find((e) => e[0] === 'onJoinChannel' && e[3] === 0));

  const page = await state.ctx.newPage();
  await page.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  await page.evaluate((o) => window.runPublisher(o), { url: `${state.url}/rtc/v1`, appKey: 'demo', channel, uid: 2001, name: 'chromium' });
  await until('engine sees Chromium', () => events.find((e) => e[0] === 'onUserJoined' && e[1] === 2001));
  const seen = (t0) => page.evaluate((t1) => window.nertcEvents.filter((e) => e.t === t1).map((e) => e.d), t0);

  // Argument codes.
  t.is(engine.sendData('text'), 30003, 'not bytes');
  t.is(engine.sendData(new Uint8Array(0)), 30003, 'empty');
  t.is(engine.sendData(new Uint8Array(32769)), 30003, 'over 32768 bytes');
  t.is(engine.sendData(new Uint8Array([1])), 30005, 'before enableLocalData(true)');
  t.is(engine.setSubscribeAudioAllowlist([2001, 5], 3), 30003, 'size beyond the list');
  t.is(engine.setSubscribeAudioAllowlist('2001', 1), 30003);
  t.is(engine.setSubscribeAudioAllowlist([2001], 1), 0);
  t.is(engine.setSubscribeAudioAllowlist(null, 0), 0, 'null ends it');
  t.is(engine.setSubscribeAudioBlocklist(1, [2001], 1), 30004, 'no audio substream');
  t.is(engine.setAudioSubscribeOnlyBy([], 0), 0);
  t.is(engine.subscribeAllRemoteAudioStream(true), 0);
  t.is(engine.adjustUserPlaybackSignalVolume(2001, 101), 30003);
  t.is(engine.adjustUserPlaybackSignalVolume(2001, 50), 0);
  t.is(engine.adjustChannelPlaybackSignalVolume(400), 0);
  t.is(engine.switchChannel('', `${channel}-2`), 30005, 'a broadcaster cannot switch');
  t.is(engine.switchChannelWithOptions('', `${channel}-2`, 'x'), 30003);

  // Engine -> Chromium.
  t.is(engine.enableLocalData(true), 0);
  await until('Chromium sees user_data on', async () => (await seen('user_data')).some((d) => d.uid === 3001 && d.enabled));
  t.is(engine.sendData(new Uint8Array([1, 2, 3]).buffer), 0);
  t.is(engine.sendData(new Uint16Array([0x0201, 0xffff])), 0);
  t.is(engine.sendData(new Uint8Array(32768).fill(9)), 0);
  const data = await until('three messages in Chromium', async () => {
    const d = await seen('data');
    return d.length >= 3 && d;
  });
  t.deepEqual(data[0], { uid: 3001, bytes: [1, 2, 3] });
  t.deepEqual(data[1], { uid: 3001, bytes: [1, 2, 255, 255] }, 'a typed array sends its bytes');
  t.is(data[2].bytes.length, 32768);
  t.true(data[2].bytes.every((b) => b === 9));

  // Chromium -> engine.
  await page.evaluate(() => window.nertcClient.enableData(true));
  await until('onUserDataStart(2001)', () => events.find((e) => e[0] === 'onUserDataStart' && e[1] === 2001));
  // A separate event, delivered in its own tick after onUserDataStart.
  await until('onUserDataStateChanged(2001)', () => events.find((e) => e[0] === 'onUserDataStateChanged' && e[1] === 2001));
  await page.evaluate(() => {
    window.nertcClient.sendData(new TextEncoder().encode('hello'));
    window.nertcClient.sendData(new Uint8Array([0, 128, 255]));
  });
  const got = await until('two messages at the engine', () => {
    const m = events.filter((e) => e[0] === 'onUserDataReceiveMessage');
    return m.length >= 2 && m;
  });
  t.true(got[0][2] instanceof ArrayBuffer, 'data is an ArrayBuffer');
  t.is(Buffer.from(got[0][2]).toString(), 'hello');
  t.deepEqual([...new Uint8Array(got[1][2])], [0, 128, 255]);
  await page.evaluate(() => window.nertcClient.enableData(false));
  await until('onUserDataStop(2001)', () => events.find((e) => e[0] === 'onUserDataStop' && e[1] === 2001));

  engine.leaveChannel();
  engine.release();
  await page.close();
});
