// Roles through the JS binding and the browser client (docs/protocol.md §8.10), on the embedded
// server: the engine joins the live profile as an audience member and Chromium
// (web/nertc-web.js) never hears of it while the engine receives Chromium's video; after
// setClientRole(0) Chromium sees it join and publish; Chromium's setRole('audience') makes it
// leave the engine's view (onUserLeft, reason 0), and its publish is then refused.
import test from 'ava';
import { NERtcEngine, sleep, until, useBrowserRoom } from './helpers.mjs';

const state = {};

useBrowserRoom(test, 'roles', state);

test('an audience member is unseen, setClientRole and setRole switch roles both ways', async (t) => {
  const channel = `roles-${process.pid}`;
  const engine = new NERtcEngine();
  t.is(engine.initialize({ app_key: 'demo', server_config: { channel_server: state.url } }), 0);
  const events = [];
  for (const ev of ['onJoinChannel', 'onUserJoined', 'onUserLeft', 'onUserVideoStart', 'onFirstVideoFrameDecoded', 'onClientRoleChanged']) {
    engine.on(ev, (...args) => events.push([ev, ...args]));
  }
  engine.on('onUserVideoStart', (uid) => {
    engine.setupRemoteVideoCanvas(uid, { view: { drawFrame() {} } });
    engine.subscribeRemoteVideoStream(uid, 0, true);
  });
  t.is(engine.setChannelProfile(1), 0);
  t.is(engine.setClientRole(1), 0);
  t.is(engine.enableLocalVideo(true), 0);
  t.is(engine.joinChannel('', channel, 3001), 0);
  await until('engine joined', () => events.find((e) => e[0] === 'onJoinChannel' && e[3] === 0));

  const page = await state.ctx.newPage();
  await page.goto(`http://127.0.0.1:${state.web.address().port}/test.html`);
  const { join } = await page.evaluate((o) => window.runPublisher(o), {
    url: `${state.url}/rtc/v1`, appKey: 'demo', channel, uid: 2001, name: 'chromium',
  });
  t.deepEqual(join.users.map((u) => u.uid), [], 'the audience member is not in the join snapshot');
  // The audience receives: the engine decodes Chromium's video.
  await until('engine decodes Chromium', () => events.find((e) => e[0] === 'onFirstVideoFrameDecoded' && e[1] === 2001));
  t.truthy(events.find((e) => e[0] === 'onUserJoined' && e[1] === 2001 && e[2] === 'chromium'));
  await sleep(1000);
  const heard = (uid) => page.evaluate((u) => window.nertcEvents.filter((e) => e.d?.uid === u).map((e) => e.t), uid);
  t.deepEqual(await heard(3001), [], 'Chromium heard nothing of the audience member');

  // Broadcaster: Chromium sees the engine join and its tracks come.
  t.is(engine.setClientRole(0), 0);
  await until('onClientRoleChanged(1, 0)', () => events.find((e) => e[0] === 'onClientRoleChanged' && e[1] === 1 && e[2] === 0));
  await until('Chromium sees user_joined 3001', async () => (await heard(3001)).includes('user_joined'));
  await until('Chromium sees the engine publish', async () => (await heard(3001)).filter((x) => x === 'track_published').length >= 2);

  // Chromium turns audience: its tracks go and it leaves the engine's view; it cannot publish.
  t.deepEqual(await page.evaluate(() => window.runSetRole('audience')), { ok: true });
  const left = await until('onUserLeft 2001', () => events.find((e) => e[0] === 'onUserLeft' && e[1] === 2001));
  t.is(left[2], 0, 'reason: normal');
  const refused = await page.evaluate(() => window.runPublishAgain());
  t.is(refused.ok, false);
  t.is(refused.code, 'permission_denied');
  // Broadcaster again: it reappears at the engine and may publish.
  t.deepEqual(await page.evaluate(() => window.runSetRole('broadcaster')), { ok: true });
  await until('onUserJoined 2001 again', () => events.filter((e) => e[0] === 'onUserJoined' && e[1] === 2001).length === 2);
  const again = await page.evaluate(() => window.runPublishAgain());
  t.true(again.ok, JSON.stringify(again));
  t.is(again.published.length, 2);

  engine.leaveChannel();
  engine.release();
  await page.close();
});
