// The data channel and the new NERtcEngine surface through the JS binding, with the browser
// client (web/nertc-web.js) on the other end (docs/protocol.md §13): enableLocalData shows as
// user_data in Chromium and Chromium's as onUserDataStart; sendData (ArrayBuffer and typed
// array) arrives in order in Chromium, Chromium's sendData as onUserDataReceiveMessage(uid,
// ArrayBuffer); once both SCTP data channels are open, 60 messages of mixed sizes each way
// arrive in order through Chromium's RTCDataChannel (its own stats count them, the server's
// metrics say SCTP); the argument codes of the uid-list methods and switchChannel.
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

  // Both data channels open (the engine's and Chromium's): mixed sizes each way, all over SCTP.
  const metricsUrl = `${state.url.replace(/^ws/, 'http').replace(/\/rtc\/v1$/, '')}/metrics`;
  const metric = async (line) => {
    const body = await (await fetch(metricsUrl)).text();
    return Number(body.split('\n').find((l) => l.startsWith(`${line} `))?.split(' ')[1] ?? NaN);
  };
  const sctp = async () => [await metric('nertc_data_messages_total{path="sctp",dir="in"}'), await metric('nertc_data_messages_total{path="sctp",dir="out"}')];
  const signaling = async () => [await metric('nertc_data_messages_total{path="signaling",dir="in"}'), await metric('nertc_data_messages_total{path="signaling",dir="out"}')];
  await until('two data channels open at the server', async () => (await metric('nertc_data_channels')) === 2);
  await until('Chromium sends on its data channel', () => page.evaluate(() => window.nertcClient.dataChannel?.readyState === 'open'));
  const [sctp0, signaling0] = [await sctp(), await signaling()];
  const mixed = (i, salt) => {
    const n = [1, 100, 1200, 16384, 16385, 32768][i % 6];
    return Array.from({ length: n }, (_, j) => (i * 7 + j * salt) & 255);
  };
  const chromiumBefore = (await seen('data')).length;
  for (let i = 0; i < 60; i++) t.is(engine.sendData(new Uint8Array(mixed(i, 31))), 0);
  const dataCount = () => page.evaluate(() => window.nertcEvents.filter((e) => e.t === 'data').length);
  await until('60 messages in Chromium', async () => (await dataCount()) >= chromiumBefore + 60);
  // Compared by a digest of each message: moving 1 MB of byte arrays out of the page is slow.
  const digest = (bytes) => bytes.reduce((h, b, j) => (h * 31 + b + j) % 1000000007, 0);
  const toChromium = await page.evaluate((from) => {
    const d = (bytes) => bytes.reduce((h, b, j) => (h * 31 + b + j) % 1000000007, 0); // = digest
    return window.nertcEvents.filter((e) => e.t === 'data').slice(from).map((e) => [e.d.uid, e.d.bytes.length, d(e.d.bytes)]);
  }, chromiumBefore);
  t.deepEqual(toChromium.slice(0, 60), Array.from({ length: 60 }, (_, i) => [3001, mixed(i, 31).length, digest(mixed(i, 31))]),
    'engine -> Chromium: in order and intact');
  const engineBefore = events.filter((e) => e[0] === 'onUserDataReceiveMessage').length;
  await page.evaluate((n) => {
    for (let i = 0; i < n; i++) {
      const len = [1, 100, 1200, 16384, 16385, 32768][i % 6];
      window.nertcClient.sendData(Uint8Array.from({ length: len }, (_, j) => (i * 7 + j * 13) & 255));
    }
  }, 60);
  const toEngine = await until('60 messages at the engine', () => {
    const m = events.filter((e) => e[0] === 'onUserDataReceiveMessage').slice(engineBefore);
    return m.length >= 60 && m;
  });
  t.true(toEngine.every((e, i) => {
    const want = mixed(i, 13);
    const got = new Uint8Array(e[2]);
    return e[1] === 2001 && got.length === want.length && got.every((b, j) => b === want[j]);
  }), 'Chromium -> engine: in order and intact');
  const [sctp1, signaling1] = [await sctp(), await signaling()];
  t.deepEqual([sctp1[0] - sctp0[0], sctp1[1] - sctp0[1]], [120, 120], 'in and out over SCTP');
  t.deepEqual(signaling1, signaling0, 'none over signaling');
  const dcStats = await page.evaluate(async () => {
    const report = await window.nertcClient.subPc.getStats();
    return [...report.values()].filter((r) => r.type === 'data-channel').map((r) => [r.label, r.state, r.messagesSent, r.messagesReceived]);
  });
  const [label, dcState, messagesSent, messagesReceived] = dcStats.find((r) => r[1] === 'open') ?? [];
  t.is(label, 'nertc-data');
  t.true(messagesSent >= 60 && messagesReceived >= 60, `Chromium's RTCDataChannel stats: sent ${messagesSent}, received ${messagesReceived} (${dcState})`);

  await page.evaluate(() => window.nertcClient.enableData(false));
  await until('onUserDataStop(2001)', () => events.find((e) => e[0] === 'onUserDataStop' && e[1] === 2001));

  engine.leaveChannel();
  engine.release();
  await page.close();
});
