// NERtcChannel (NERtcEngine.createChannel) on the embedded server: engine E is in channel A with
// a peer; a channel object of E joins channel B, where a second engine publishes its camera (the
// synthetic test pattern). The channel object gets B's onJoinChannel, onUserJoined,
// onUserVideoStart and decoded frames of B's user; E (the main channel) hears nothing of B and
// keeps receiving A's peer. Also: the method list of NERTC's NERtcChannel, 30004 for the ones
// this SDK lacks, release in any state.
//
// ./scripts/netns.sh npx ava __test__/channel.spec.mjs

import test from 'ava';

import { ErrorCode, channelName, frameSink, makeEngine, record, sdk, useEmbeddedServer } from './helpers.mjs';

let url;
useEmbeddedServer(test, (u) => {
  url = u;
});

const UNSUPPORTED = Symbol.for('nertc.unsupported');

// The public methods of NERTC 5.x's NERtcChannel (netease-im/node-nertc-sdk, branch support/5xx,
// nertc_sdk_ts/api/channel.ts), in its order.
const NERTC_CHANNEL_METHODS = [
  'release', 'getChannelName', 'joinChannel', 'joinChannelWithUid', 'joinChannelWithOptions', 'leaveChannel',
  'enableLocalAudio', 'enableLocalSubStreamAudio', 'muteLocalAudioStream', 'muteLocalSubStreamAudio',
  'enableLocalVideo', 'enableLocalVideoWithType', 'muteLocalVideoStream', 'muteLocalVideoStreamWithType',
  'enableAudioVolumeIndication', 'startScreenCaptureByScreenRect', 'startScreenCaptureByDisplayId',
  'startScreenCaptureByWindowId', 'updateScreenCaptureRegion', 'setScreenCaptureMouseCursor', 'stopScreenCapture',
  'pauseScreenCapture', 'resumeScreenCapture', 'setExcludeWindowList', 'updateScreenCaptureParameters',
  'setupLocalVideoCanvas', 'setupLocalSubStreamVideoCanvas', 'setRenderMode', 'setSubStreamRenderMode',
  'setLocalVideoMirrorMode', 'setLocalVideoMirrorModeWithType', 'setupRemoteVideoCanvas',
  'setupRemoteSubStreamVideoCanvas', 'setClientRole', 'setLocalMediaPriority', 'getConnectionState',
  'setCameraCaptureConfig', 'setCameraCaptureConfigWithType', 'setVideoConfig', 'setVideoConfigWithType',
  'enableDualStreamMode', 'subscribeRemoteAudioStream', 'subscribeRemoteSubStreamAudio',
  'subscribeAllRemoteAudioStream', 'setAudioSubscribeOnlyBy', 'subscribeRemoteVideoStream',
  'subscribeRemoteVideoSubStream', 'addLiveStreamTask', 'updateLiveStreamTask', 'removeLiveStreamTask',
  'sendSEIMsg', 'sendSEIMsgWithType', 'captureImageByUid', 'adjustUserPlaybackSignalVolume',
  'adjustChannelPlaybackSignalVolume', 'startChannelMediaRelay', 'updateChannelMediaRelay', 'stopChannelMediaRelay',
  'setLocalPublishFallbackOption', 'setRemoteSubscribeFallbackOption', 'setRemoteHighPriorityAudioStream',
  'enableMediaPub', 'updatePermissionKey', 'setSubscribeAudioAllowlist', 'setSubscribeAudioBlocklist',
  'setRangeAudioMode', 'setRangeAudioTeamID', 'setAudioRecvRange', 'updateSelfPosition',
  'enableSpatializerRoomEffects', 'setSpatializerRoomProperty', 'setSpatializerRenderMode', 'initSpatializer',
  'enableSpatializer',
];

/** Events whose first argument is a remote uid. */
const USER_EVENTS = new Set([
  'onUserJoined', 'onUserLeft', 'onUserAudioStart', 'onUserAudioStop', 'onUserVideoStart', 'onUserVideoStop',
  'onFirstAudioDataReceived', 'onFirstVideoDataReceived', 'onFirstAudioFrameDecoded', 'onFirstVideoFrameDecoded',
]);

/** Quiet console.warn while `fn` runs (stubs print one line per method per process). */
function quiet(fn) {
  const warn = console.warn;
  console.warn = () => {};
  try {
    return fn();
  } finally {
    console.warn = warn;
  }
}

test.serial('a channel object of an engine in channel A receives channel B; the main channel is unaffected', async (t) => {
  const chA = channelName('chan-a');
  const chB = channelName('chan-b');
  const main = makeEngine(url);
  const peerA = makeEngine(url);
  const pubB = makeEngine(url);
  const rMain = record(main);
  const rPub = record(pubB);

  // Channel A: main (uid 11) receives peerA's camera (uid 12).
  const mainView = frameSink();
  t.is(main.setupRemoteVideoCanvas(12, { view: mainView }), 0);
  main.on('onUserVideoStart', (uid) => main.subscribeRemoteVideoStream(uid, 0, true));
  for (const e of [peerA, pubB]) t.is(e.setVideoConfig({ width: 320, height: 240, framerate: 15 }), 0);
  t.is(main.joinChannel('', chA, 11), 0);
  t.is(peerA.joinChannel('', chA, 12), 0);
  t.is(peerA.enableLocalVideo(true), 0);
  await rMain.waitFor('onJoinChannel', (_cid, uid, res) => uid === 11 && res === 0);
  await mainView.waitFor((f) => f.width === 320);
  const [cidA] = rMain.events.find((e) => e.name === 'onJoinChannel').args;

  // Channel B through a channel object of main (uid 21); pubB (uid 22) publishes there.
  const channel = main.createChannel(chB);
  t.true(channel instanceof sdk.NERtcChannel);
  t.is(main.createChannel(chB), null, 'one live channel object per name');
  t.is(channel.getChannelName(), chB);
  const rCh = record(channel);
  const chView = frameSink();
  t.is(channel.setupRemoteVideoCanvas(22, { view: chView }), 0);
  // The rejoin below is followed at once by release(): an onUserVideoStart of that session may
  // be dispatched after it, when subscribing answers 30005. While joined, it must succeed.
  channel.on('onUserVideoStart', (uid) => {
    const joined = channel.getConnectionState() === 3;
    const code = channel.subscribeRemoteVideoStream(uid, 0, true);
    if (joined) t.is(code, 0);
  });
  t.is(channel.getConnectionState(), 1);
  const t0 = Date.now();
  t.is(channel.joinChannelWithUid('', 21), 0);
  const [cidB, uidB, resB] = await rCh.waitFor('onJoinChannel');
  t.deepEqual([uidB, resB], [21, 0]);
  t.not(cidB, cidA, 'B is another channel');
  t.is(channel.getConnectionState(), 3);
  t.is(pubB.joinChannel('', chB, 22), 0);
  t.is(pubB.enableLocalVideo(true), 0);
  await rCh.waitFor('onUserJoined', (uid) => uid === 22);
  await rCh.waitFor('onUserVideoStart', (uid) => uid === 22);
  const [, w, h] = await rCh.waitFor('onFirstVideoFrameDecoded', (uid) => uid === 22, 30_000);
  t.deepEqual([w, h], [320, 240]);
  const frame = await chView.waitFor((f) => f.width === 320 && f.height === 240 && f.uid === 22);
  t.true(frame.yMax - frame.yMin > 50, `B's test pattern has contrast (Y ${frame.yMin}..${frame.yMax})`);
  t.log(`channel B: joined to first frame drawn ${Date.now() - t0} ms`);

  // The main channel: nothing of B, still A's peer's video.
  const aboutB = rMain.events.filter((e) => (USER_EVENTS.has(e.name) && [21, 22].includes(e.args[0])) || (e.name === 'onJoinChannel' && e.args[0] === cidB));
  t.deepEqual(aboutB.map((e) => e.name), [], 'the main engine hears nothing of channel B');
  t.false(rMain.events.some((e) => e.name === 'onLeaveChannel'));
  const before = mainView.frames.length;
  await mainView.waitFor((f) => mainView.frames.indexOf(f) >= before && f.uid === 12);
  t.is(main.getConnectionState(), 3);
  t.false(rCh.events.some((e) => USER_EVENTS.has(e.name) && [11, 12].includes(e.args[0])), 'the channel object hears nothing of A');

  // pubB sees the channel's user; leaving the channel is seen by pubB and reported to the channel.
  await rPub.waitFor('onUserJoined', (uid) => uid === 21);
  t.is(channel.leaveChannel(), 0);
  await rCh.waitFor('onLeaveChannel');
  await rPub.waitFor('onUserLeft', (uid) => uid === 21);
  t.false(rMain.events.some((e) => e.name === 'onLeaveChannel'), 'the main engine is still in A');
  t.is(main.getConnectionState(), 3);

  // A channel can join again after a leave (random uid through joinChannel(token)).
  t.is(channel.joinChannel(''), 0);
  const [, uidAgain, resAgain] = await rCh.waitFor('onJoinChannel', (_c, uid) => uid !== 21);
  t.is(resAgain, 0);
  t.true(Number.isInteger(uidAgain) && uidAgain >= 1, `uid ${uidAgain}`);

  // Releasing the engine releases its channel too (onLeaveChannel still comes).
  main.release();
  await rCh.waitFor('onLeaveChannel', () => rCh.events.filter((e) => e.name === 'onLeaveChannel').length === 2);
  t.is(channel.joinChannelWithUid('', 23), ErrorCode.ERR_INVALID_STATE);
  t.is(channel.release(), 0);
});

test.serial("NERtcChannel has NERTC's methods; the ones this SDK lacks return 30004; release in any state", async (t) => {
  const main = makeEngine(url);
  const channel = main.createChannel(channelName('chan-api'));
  for (const name of NERTC_CHANNEL_METHODS) t.is(typeof channel[name], 'function', `${name} exists`);
  const stubs = NERTC_CHANNEL_METHODS.filter((name) => channel[name][UNSUPPORTED] === true);
  t.true(stubs.length > 0);
  quiet(() => {
    for (const name of stubs) {
      t.is(channel[name](), ErrorCode.ERR_NOT_SUPPORTED, name);
      t.is(channel[name](1, true, {}), ErrorCode.ERR_NOT_SUPPORTED, `${name} with arguments`);
    }
  });
  // The implemented ones are NERtcEngine's, not stubs.
  for (const name of NERTC_CHANNEL_METHODS.filter((n) => !stubs.includes(n))) {
    if (typeof main[name] === 'function') t.not(main[name][UNSUPPORTED], true, `${name} is real on the engine`);
  }
  t.log(`${NERTC_CHANNEL_METHODS.length} NERtcChannel methods, ${stubs.length} return 30004`);
  // The channel's events are ones the engine emits.
  for (const name of sdk.CHANNEL_EVENT_NAMES) t.true(sdk.eventNames().includes(name), `${name} is emitted`);
  // Bad input.
  t.is(channel.joinChannelWithUid('', 0), ErrorCode.ERR_INVALID_PARAM);
  t.is(channel.joinChannelWithOptions('', 5, 'x'), ErrorCode.ERR_INVALID_PARAM);
  t.is(main.createChannel(''), null);
  t.is(main.createChannel(7), null);
  t.is(new sdk.NERtcEngine().createChannel('x'), null, 'null before initialize');
  // Release before join, twice; a new channel of the same name after.
  t.is(channel.release(), 0);
  t.is(channel.release(), 0);
  t.is(channel.leaveChannel(), ErrorCode.ERR_INVALID_STATE);
  t.is(channel.getConnectionState(), 1);
  const again = main.createChannel(channel.getChannelName());
  t.truthy(again);
  // Release while joining, and the engine's release after.
  t.is(again.joinChannelWithUid('', 31), 0);
  t.is(again.release(), 0);
  t.is(again.getConnectionState(), 1);
  t.is(main.release(), 0);
  t.is(main.release(), 0);
  // Releasing a channel after its engine.
  const third = makeEngine(url).createChannel('x');
  t.truthy(third);
});
