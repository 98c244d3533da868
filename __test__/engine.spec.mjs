// NERtcEngine in Node against the embedded room server (NERtcServer) on loopback: two engines
// on synthetic devices (test-pattern camera, tone microphone, null speaker) exchange video;
// events, their arguments and order; canvases fed by the frame pump; bad input and wrong state
// with their NERTC codes; release in any state; throwing event handlers.
//
// Needs the addon built next to index.js (`npm run build:debug`). Run inside a loopback-only
// network namespace: ./scripts/netns.sh npx ava __test__/engine.spec.mjs

import test from 'ava';
import fs from 'node:fs';

import {
  EVENT_NAMES,
  ErrorCode,
  NERtcEngine,
  NERtcServer,
  channelName,
  frameSink,
  makeEngine,
  record,
  sdk,
  sleep,
  useEmbeddedServer,
} from './helpers.mjs';

let url;
useEmbeddedServer(test, (u) => {
  url = u;
});

// ---------------------------------------------------------------------------------------------
// Module shape and codes

test.serial('module exports: default, classes, codes that match the engine', (t) => {
  t.is(typeof sdk.default.NERtcEngine, 'function');
  t.is(typeof sdk.default.NERtcServer, 'function');
  t.is(sdk.NERtcEngine, sdk.default.NERtcEngine);
  const engine = new NERtcEngine();
  t.regex(engine.getVersion(), /^\d+\.\d+\.\d+/);
  const native = sdk.errorCodes();
  const jsCodes = new Set(Object.values(ErrorCode));
  t.true(native.length >= 10);
  for (const [code, desc] of native) {
    t.true(jsCodes.has(code), `ErrorCode lacks ${code} (${desc})`);
    t.is(engine.getErrorDescription(code), desc);
  }
  t.is(jsCodes.size, native.length, 'ErrorCode lists a code the engine does not');
  t.is(typeof engine.getErrorDescription(123456), 'string');
});

test.serial("EVENT_NAMES: exactly the engine's events (one per EngineEvent variant) plus the documented JS-only ones", (t) => {
  const native = sdk.eventNames();
  const jsOnly = sdk.JS_ONLY_EVENT_NAMES;
  t.true(Array.isArray(native) && native.length >= 20, `native list: ${JSON.stringify(native)}`);
  t.is(new Set(native).size, native.length, 'the engine names no event twice');
  t.is(new Set(EVENT_NAMES).size, EVENT_NAMES.length, 'EVENT_NAMES lists no name twice');
  for (const name of jsOnly) t.false(native.includes(name), `${name} is documented as JS-only but the engine emits it`);
  // With no duplicates on either side, equal sorted lists are equal sets.
  t.deepEqual([...EVENT_NAMES].sort(), [...native, ...jsOnly].sort());
  // index.d.ts types a listener for every event the engine emits, and only those.
  const dts = fs.readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const block = /export interface NERtcEvents \{([\s\S]*?)\n\}/.exec(dts);
  t.truthy(block, 'index.d.ts declares NERtcEvents');
  const typed = [...block[1].matchAll(/^\s+(on\w+):/gm)].map((m) => m[1]);
  t.deepEqual(typed.sort(), [...native].sort());
});

test.serial('NERtcServer: options, url, createToken', async (t) => {
  t.throws(() => new NERtcServer({ bogus: 1 }), { message: /bogus/ });
  const s = new NERtcServer({ apps: { prod: { secret: 's3cret', debug: false } } });
  t.is(s.url, null);
  const u = await s.start();
  t.regex(u, /^ws:\/\/127\.0\.0\.1:\d+$/);
  t.is(s.url, u);
  t.is(await s.start(), u, 'start() while running resolves with the same URL');
  await s.stop();
  await s.stop();
  t.is(s.url, null);
  const token = NERtcServer.createToken('prod', 's3cret', 'room', 42, 60);
  t.is(token.split('.').length, 3);
  t.is(sdk.createToken('prod', 's3cret', 'room', 42n, 60).split('.').length, 3);
  t.throws(() => sdk.createToken('prod', 's3cret', 'room', 0, 60), { instanceOf: TypeError });
  t.throws(() => sdk.createToken('prod', 's3cret', '', 1, 60), { instanceOf: TypeError });
});

// ---------------------------------------------------------------------------------------------
// Two engines in one channel

test.serial('two engines: join, publish, subscribe, decode, render, leave', async (t) => {
  const channel = channelName('call');
  const uidA = 1001;
  const uidB = 1002;
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);

  // A's local preview and B's view of A, bound before anything flows.
  const localA = frameSink();
  const remoteOnB = frameSink();
  t.is(a.setupLocalVideoCanvas({ view: localA, mode: 0, mirror: true }), 0);
  t.is(b.setupRemoteVideoCanvas(uidA, { view: remoteOnB, mode: 1 }), 0);

  t.is(a.setVideoConfig({ width: 320, height: 240, framerate: 15 }), 0);
  b.on('onUserVideoStart', (uid) => {
    if (uid === uidA) t.is(b.subscribeRemoteVideoStream(uid, 0, true), 0);
  });

  const t0 = Date.now();
  t.is(a.joinChannel(null, channel, uidA), 0);
  const [cidA, jUidA, resA, elapsedA] = await ra.waitFor('onJoinChannel');
  t.true(typeof cidA === 'number' && cidA > 0, `cid ${cidA}`);
  t.is(jUidA, uidA);
  t.is(resA, 0);
  t.true(typeof elapsedA === 'number' && elapsedA >= 0 && elapsedA <= Date.now() - t0 + 50, `elapsed ${elapsedA}`);
  t.is(a.getConnectionState(), 3);
  t.is(a.enableLocalVideo(true), 0);

  t.is(b.joinChannel('', channel, uidB), 0);
  const [cidB, jUidB, resB] = await rb.waitFor('onJoinChannel');
  t.is(cidB, cidA, 'same channel, same cid');
  t.is(jUidB, uidB);
  t.is(resB, 0);

  // Presence both ways.
  const [joinedOnB, nameOnB] = await rb.waitFor('onUserJoined', (uid) => uid === uidA);
  t.is(joinedOnB, uidA);
  t.is(typeof nameOnB, 'string');
  await ra.waitFor('onUserJoined', (uid) => uid === uidB);

  // Video: B is told, subscribes (handler above), receives and decodes at A's size.
  const [, maxProfile] = await rb.waitFor('onUserVideoStart', (uid) => uid === uidA);
  t.true(Number.isInteger(maxProfile) && maxProfile >= 0 && maxProfile <= 4);
  const [decUid, w, h] = await rb.waitFor('onFirstVideoFrameDecoded', (uid) => uid === uidA, 30_000);
  t.deepEqual([decUid, w, h], [uidA, 320, 240]);

  // Order on B: joined before anything about A's media; start before decode.
  const iJoin = rb.indexOf('onJoinChannel');
  const iUser = rb.indexOf('onUserJoined', (u) => u === uidA);
  const iStart = rb.indexOf('onUserVideoStart', (u) => u === uidA);
  const iDecoded = rb.indexOf('onFirstVideoFrameDecoded', (u) => u === uidA);
  t.true(iJoin >= 0 && iJoin < iUser && iUser < iStart && iStart < iDecoded, rb.names().join(' '));
  const iData = rb.indexOf('onFirstVideoDataReceived', (u) => u === uidA);
  if (iData >= 0) t.true(iData < iDecoded, 'first data before first decoded frame');
  // Order on A: a connecting state change (if any) comes before onJoinChannel.
  const iConnecting = ra.indexOf('onConnectionStateChange', (s) => s === 2);
  if (iConnecting >= 0) t.true(iConnecting < ra.indexOf('onJoinChannel'));

  // B's canvas draws A's test pattern: real picture content, tightly packed planes.
  const f = await remoteOnB.waitFor((fr) => fr.width === 320 && fr.height === 240 && fr.yMax - fr.yMin > 30, 20_000);
  t.is(f.uid, uidA);
  t.is(f.mode, 1);
  t.deepEqual(f.strides, { y: 320, u: 160, v: 160 });
  t.is(f.y.length, 320 * 240);
  t.is(f.u.length, 160 * 120);
  t.is(f.v.length, 160 * 120);
  t.true(f.y instanceof Uint8Array);
  t.is(typeof f.timestamp, 'number');
  // Planes are allocated once per canvas and size: later frames reuse the same buffers.
  const before = remoteOnB.frames.length;
  await remoteOnB.waitFor((fr) => remoteOnB.frames.indexOf(fr) >= before + 2 && fr.width === 320, 10_000);
  const sameSize = remoteOnB.frames.filter((fr) => fr.width === 320 && fr.height === 240);
  t.true(sameSize.length >= 3);
  t.true(sameSize.every((fr) => fr.yRef === sameSize[0].yRef && fr.uRef === sameSize[0].uRef && fr.vRef === sameSize[0].vRef));

  // A's local preview is drawn too (mirrored on request).
  const lf = await localA.waitFor((fr) => fr.width === 320 && fr.height === 240, 10_000);
  t.true(lf.mirrored);
  t.is(lf.uid, 0);

  // Periodic stats arrive in NERTC's shapes.
  const [count, list] = await rb.waitFor('onRemoteVideoStats', (n) => n >= 1, 10_000);
  t.is(count, list.length);
  const entry = list.find((s) => s.uid === uidA);
  t.truthy(entry, JSON.stringify(list));
  t.is(entry.video_layers_list[0].width, 320);
  const [nqCount, nq] = await rb.waitFor('onNetworkQuality', () => true, 10_000);
  t.is(nqCount, nq.length);
  const [stats] = await rb.waitFor('onRtcStats', () => true, 10_000);
  t.is(typeof stats.rx_bytes, 'number');
  t.true(stats.rx_bytes > 0);

  // Leave: A gets onLeaveChannel(0), B gets onUserLeft(A, 0 normal).
  t.is(a.leaveChannel(), 0);
  t.deepEqual(await ra.waitFor('onLeaveChannel'), [0]);
  t.deepEqual(await rb.waitFor('onUserLeft', (uid) => uid === uidA), [uidA, 0]);
  t.is(a.leaveChannel(), ErrorCode.ERR_NOT_JOINED);
  await sleep(100);
  t.is(a.getConnectionState(), 1);
  t.is(b.leaveChannel(), 0);
  t.deepEqual(await rb.waitFor('onLeaveChannel'), [0]);

  // No handler threw along the way.
  t.is(ra.indexOf('onWarning', (c) => c === 30900), -1);
  t.is(rb.indexOf('onWarning', (c) => c === 30900), -1);

  t.is(a.release(), 0);
  t.is(b.release(), 0);
  t.is(a.release(), 0);
});

test.serial('a BigInt uid above 2^53 round-trips as BigInt', async (t) => {
  const e = makeEngine(url);
  const r = record(e);
  const big = 2n ** 53n + 7n;
  t.is(e.joinChannel(null, channelName('big'), big), 0);
  const [, uid, result] = await r.waitFor('onJoinChannel');
  t.is(result, 0);
  t.is(uid, big);
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
});

test.serial('tokens: a non-debug app refuses a bad token (403) and accepts a minted one', async (t) => {
  const s = new NERtcServer({ apps: { prod: { secret: 's3cret', debug: false } } });
  const u = await s.start();
  try {
    const channel = channelName('tok');
    const bad = makeEngine(u, { app_key: 'prod' });
    const rBad = record(bad);
    t.is(bad.joinChannel('not-a-token', channel, 5), 0);
    const [, , result] = await rBad.waitFor('onJoinChannel');
    t.is(result, ErrorCode.ERR_PERMISSION_DENIED);
    bad.release();

    // A 1 MB token: 403 too (refused before sending; the server would close the socket on a
    // frame that size), not a connection failure after retries.
    const huge = makeEngine(u, { app_key: 'prod' });
    const rHuge = record(huge);
    t.is(huge.joinChannel('x'.repeat(1 << 20), channel, 7), 0);
    const [, , hugeResult] = await rHuge.waitFor('onJoinChannel');
    t.is(hugeResult, ErrorCode.ERR_PERMISSION_DENIED);
    huge.release();

    const good = makeEngine(u, { app_key: 'prod' });
    const rGood = record(good);
    t.is(good.joinChannel(NERtcServer.createToken('prod', 's3cret', channel, 6, 60), channel, 6), 0);
    const [, uid, ok] = await rGood.waitFor('onJoinChannel');
    t.deepEqual([uid, ok], [6, 0]);
    good.release();
    await rGood.waitFor('onLeaveChannel');
  } finally {
    await s.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// Wrong state and bad input

test.serial('every method before initialize: 30005 (lists empty, state disconnected)', (t) => {
  const e = new NERtcEngine();
  const NI = ErrorCode.ERR_INVALID_STATE;
  t.is(NI, 30005, "NERTC's kNERtcErrInvalidState, also for an engine not initialized");
  const calls = {
    setParameters: () => e.setParameters('{}'),
    setChannelProfile: () => e.setChannelProfile(0),
    setClientRole: () => e.setClientRole(0),
    joinChannel: () => e.joinChannel(null, 'room', 1),
    leaveChannel: () => e.leaveChannel(),
    setupLocalVideoCanvas: () => e.setupLocalVideoCanvas({ view: frameSink() }),
    setupRemoteVideoCanvas: () => e.setupRemoteVideoCanvas(1, { view: frameSink() }),
    setVideoConfig: () => e.setVideoConfig({ max_profile: 2 }),
    startVideoPreview: () => e.startVideoPreview(),
    stopVideoPreview: () => e.stopVideoPreview(),
    enableLocalVideo: () => e.enableLocalVideo(true),
    muteLocalVideoStream: () => e.muteLocalVideoStream(true),
    setLocalVideoMirrorMode: () => e.setLocalVideoMirrorMode(1),
    enableLocalAudio: () => e.enableLocalAudio(true),
    muteLocalAudioStream: () => e.muteLocalAudioStream(true),
    adjustRecordingSignalVolume: () => e.adjustRecordingSignalVolume(100),
    adjustPlaybackSignalVolume: () => e.adjustPlaybackSignalVolume(100),
    enableAudioVolumeIndication: () => e.enableAudioVolumeIndication(true, 200),
    subscribeRemoteVideoStream: () => e.subscribeRemoteVideoStream(1, 0, true),
    subscribeRemoteAudioStream: () => e.subscribeRemoteAudioStream(1, true),
    setRecordDevice: () => e.setRecordDevice('x'),
    setPlayoutDevice: () => e.setPlayoutDevice('x'),
    setVideoDevice: () => e.setVideoDevice('x'),
    setExternalVideoSource: () => e.setExternalVideoSource(true),
    pushExternalVideoFrame: () => e.pushExternalVideoFrame({ format: 'I420', width: 2, height: 2, data: new Uint8Array(6) }),
    setExternalAudioSource: () => e.setExternalAudioSource(true, 48000, 1),
    pushExternalAudioFrame: () => e.pushExternalAudioFrame({ data: new Int16Array(480), sample_rate: 48000, channels: 1 }),
  };
  for (const [name, call] of Object.entries(calls)) t.is(call(), NI, name);
  t.deepEqual(e.enumerateRecordDevices(), []);
  t.deepEqual(e.enumeratePlayoutDevices(), []);
  t.deepEqual(e.enumerateVideoCaptureDevices(), []);
  t.is(e.getRecordDevice(), '');
  t.is(e.getConnectionState(), 1);
  t.is(e.release(), 0);
  t.is(e.release(), 0);
});

test.serial('initialize validates its context and refuses a second call', (t) => {
  const e = new NERtcEngine();
  t.is(e.initialize(), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.initialize({}), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.initialize({ app_key: '' }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.initialize({ app_key: 'k', log_level: 'loud' }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.initialize({ app_key: 'k', server_config: { channel_server: url } }), 0);
  t.is(e.initialize({ app_key: 'k', server_config: { channel_server: url } }), ErrorCode.ERR_INVALID_STATE);
  t.is(e.release(), 0);
  t.is(e.joinChannel(null, 'room', 1), ErrorCode.ERR_INVALID_STATE, 'released: 30005 again');
  t.is(e.initialize({ app_key: 'k', server_config: { channel_server: url } }), 0, 'initialize after release');
  t.is(e.release(), 0);
});

test.serial('channel names and uids: 30003 for bad ones', async (t) => {
  const e = makeEngine(url);
  const P = ErrorCode.ERR_INVALID_PARAM;
  const badNames = ['', 'a'.repeat(65), 'a/b', 'café', 'tab\t', 'new\nline', '"quoted"', null, undefined, 42];
  for (const name of badNames) t.is(e.joinChannel(null, name, 1), P, `channel ${JSON.stringify(name)}`);
  const badUids = [0, -1, 1.5, NaN, Infinity, '5', null, undefined, 0n, -3n, 2n ** 64n, {}];
  for (const uid of badUids) t.is(e.joinChannel(null, 'room', uid), P, `uid ${String(uid)}`);
  t.is(e.joinChannel(42, 'room', 1), P, 'token of the wrong type');
  t.is(e.getConnectionState(), 1, 'nothing was joined');

  // The longest valid name, with every allowed punctuation mark, is accepted.
  const punct = '!#$%&()+-:;<=.,>?@[]^_{|}~ ';
  const longest = (punct + 'x'.repeat(64)).slice(0, 64);
  t.is(Buffer.byteLength(longest), 64);
  const r = record(e);
  t.is(e.joinChannel(null, longest, 7), 0);
  const [, , result] = await r.waitFor('onJoinChannel');
  t.is(result, 0);
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
});

test.serial('join twice: 30100; leave when not joined: 30101; re-entrant calls from a handler', async (t) => {
  const e = makeEngine(url);
  const r = record(e);
  t.is(e.leaveChannel(), ErrorCode.ERR_NOT_JOINED);
  t.is(e.subscribeRemoteVideoStream(5, 0, true), ErrorCode.ERR_NOT_JOINED);
  const channel = channelName('twice');
  let leaveFromHandler = null;
  e.once('onJoinChannel', () => {
    // Events arrive on a later tick, so engine methods may be called from handlers.
    leaveFromHandler = e.leaveChannel();
  });
  t.is(e.joinChannel(null, channel, 11), 0);
  t.is(e.joinChannel(null, channel, 11), ErrorCode.ERR_ALREADY_JOINED);
  t.is(e.joinChannel(null, channelName('other'), 12), ErrorCode.ERR_ALREADY_JOINED);
  await r.waitFor('onJoinChannel');
  t.deepEqual(await r.waitFor('onLeaveChannel'), [0]);
  t.is(leaveFromHandler, 0);
  t.is(e.leaveChannel(), ErrorCode.ERR_NOT_JOINED);
});

test.serial('enableEncryption: NERtcEncryptionConfig, modes, before joining only', async (t) => {
  const e = makeEngine(url);
  const r = record(e);
  const { NERtcEncryptionMode: M } = sdk;
  t.is(e.enableEncryption(true, { mode: M.kNERtcEncryptionModeCustom, key: null }), ErrorCode.ERR_NOT_SUPPORTED);
  t.is(e.enableEncryption(true, { mode: 2, key: 'k' }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.enableEncryption(true, { mode: M.kNERtcGMCryptoSM4ECB, key: '' }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.enableEncryption(true, { mode: 0, key: 42 }), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.enableEncryption(true), ErrorCode.ERR_INVALID_PARAM, 'no config to enable with');
  t.is(e.enableEncryption(false), 0);
  t.is(e.enableEncryption(true, { mode: M.kNERtcGMCryptoSM4ECB, key: 'channel key' }), 0);
  t.is(e.joinChannel(null, channelName('encrypted'), 21), 0);
  await r.waitFor('onJoinChannel');
  t.is(e.enableEncryption(false, { mode: 0, key: 'channel key' }), ErrorCode.ERR_INVALID_STATE, 'not in a channel');
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
  t.is(e.enableEncryption(false), 0);
});

test.serial('parameters out of range: 30003', (t) => {
  const e = makeEngine(url);
  const P = ErrorCode.ERR_INVALID_PARAM;
  t.is(e.setChannelProfile(2), P);
  t.is(e.setChannelProfile('0'), P);
  t.is(e.setClientRole(-1), P);
  t.is(e.setLocalVideoMirrorMode(3), P);
  t.is(e.adjustRecordingSignalVolume(401), P);
  t.is(e.adjustPlaybackSignalVolume(-1), P);
  t.is(e.adjustPlaybackSignalVolume(1.5), P);
  t.is(e.enableAudioVolumeIndication(true, 150), P);
  t.is(e.setVideoConfig(null), P);
  t.is(e.setVideoConfig({ max_profile: 9 }), ErrorCode.ERR_INVALID_VIDEO_PROFILE, "NERTC's 30010 for a profile outside 0-4");
  t.is(e.setVideoConfig({ max_profile: 1.5 }), P);
  t.is(e.setVideoConfig({ width: 321, height: 240 }), P);
  t.is(e.setVideoConfig({ width: -2, height: 240 }), P);
  t.is(e.setParameters('not json'), P);
  t.is(e.setParameters(42), P);
  t.is(e.setupRemoteVideoCanvas(0, { view: frameSink() }), P);
  t.is(e.setupLocalVideoCanvas({ view: frameSink(), mode: 7 }), P);
  t.is(e.subscribeRemoteVideoStream(-1, 0, true), P);
  // Valid ones still work.
  t.is(e.setParameters({ auto_subscribe_video: false }), 0);
  t.is(e.setVideoConfig({ max_profile: 1 }), 0);
  t.is(e.setLocalVideoMirrorMode(2), 0);
  t.is(e.adjustRecordingSignalVolume(0), 0);
  t.is(e.adjustPlaybackSignalVolume(400), 0);
  t.is(e.enableAudioVolumeIndication(true, 200), 0);
  t.is(e.enableAudioVolumeIndication(false, 0), 0);
});

test.serial('values the addon checks (src/convert.rs): fractional, out-of-range, non-finite → 30003', (t) => {
  const e = makeEngine(url);
  const P = ErrorCode.ERR_INVALID_PARAM;
  t.is(e.setChannelProfile(2 ** 40), P, 'beyond int32');
  t.is(e.setClientRole(0.5), P, 'fractional');
  t.is(e.adjustRecordingSignalVolume(NaN), P, 'NaN');
  t.is(e.enableAudioVolumeIndication(true, 200.5), P, 'fractional interval');
  t.is(e.setVideoConfig({ framerate: 15.5 }), P, 'fractional field');
  t.is(e.setVideoConfig({ width: '320', height: 240 }), P, 'a field of the wrong type');
  t.is(e.setVideoConfig({ width: null, height: undefined, crop_mode: 1 }), 0, 'null/absent fields keep their default, unknown ones are ignored');
  t.is(e.setExternalAudioSource(false, -5, 1), P, 'negative rate, even when disabling');
  t.is(e.joinChannel(null, 'room', 2 ** 64), P, 'a number uid that rounds to 2^64');
  t.is(e.setupRemoteVideoCanvas(2n ** 64n - 1n, { view: frameSink() }), 0, 'the largest uid keys a canvas');

  t.is(e.setExternalVideoSource(true), 0);
  const frame = (extra) => ({ format: 'I420', width: 4, height: 2, data: new Uint8Array(12), ...extra });
  t.is(e.pushExternalVideoFrame(frame({ timestamp: -1 })), P, 'negative timestamp');
  t.is(e.pushExternalVideoFrame(frame({ timestamp: NaN })), P, 'NaN timestamp');
  t.is(e.pushExternalVideoFrame(frame({ timestamp: '5' })), P, 'timestamp of the wrong type');
  t.is(e.pushExternalVideoFrame(frame({ format: 2 })), P, 'format number other than 0/1');
  t.is(e.pushExternalVideoFrame(frame({ width: 4.5 })), P, 'fractional width');
  t.is(e.pushExternalVideoFrame({ format: 'i420', width: 7682, height: 2, data: new Uint8Array(7682 * 3) }), P, 'wider than 7680');
  // A well-formed frame passes the conversion; with neither preview nor local video on, nothing consumes it.
  t.is(e.pushExternalVideoFrame(frame({ format: 0, timestamp: 5n })), ErrorCode.ERR_INVALID_STATE);
  t.is(e.pushExternalVideoFrame({ format: 'rgba', width: 2, height: 2, data: new Uint8ClampedArray(16) }), ErrorCode.ERR_INVALID_STATE);

  t.is(e.setExternalAudioSource(true, 48000, 1), 0);
  const audio = (extra) => ({ data: new Int16Array(480), sample_rate: 48000, channels: 1, ...extra });
  t.is(e.pushExternalAudioFrame(audio({ timestamp: -1 })), P, 'negative timestamp');
  t.is(e.pushExternalAudioFrame(audio({ sample_rate: 48000.5 })), P, 'fractional rate');
  t.is(e.pushExternalAudioFrame(audio({ channels: 0 })), P, 'zero channels');

  // Live streaming (the push itself: crates/nertc-engine/tests/live_stream.rs).
  const live = (extra, layout) => ({
    task_id: 't', stream_url: 'rtmp://127.0.0.1:1935/live/k', ls_mode: 0,
    layout: { width: 640, height: 360, background_color: 0, users: [{ uid: 1, x: 0, y: 0, width: 320, height: 360, video_push: true, audio_push: true }], ...layout },
    config: { sample_rate: 48000, channels: 2, audio_bitrate: 64 },
    ...extra,
  });
  t.is(e.addLiveStreamTask(live()), ErrorCode.ERR_INVALID_STATE, 'well-formed, but not in a channel');
  t.is(e.addLiveStreamTask(live({ stream_url: 'http://127.0.0.1/live/k' })), P, 'not an RTMP URL');
  t.is(e.addLiveStreamTask(live({ task_id: 5 })), P, 'task_id of the wrong type');
  t.is(e.addLiveStreamTask(live({}, { users: [{ uid: '1', width: 10, height: 10 }] })), P, 'uid of the wrong type');
  t.is(e.addLiveStreamTask(live({}, { users: [{ uid: 1, x: 0.5, width: 10, height: 10 }] })), P, 'fractional x');
  t.is(e.addLiveStreamTask(live({}, { users: [{ uid: 1, x: 400, width: 320, height: 10 }] })), P, 'past the canvas');
  t.is(e.addLiveStreamTask(live({}, { user_count: 2 })), P, 'user_count beyond users');
  t.is(e.addLiveStreamTask(live({ config: { sample_rate: 16000 } })), P, 'a rate NERTC does not list');
  t.is(e.updateLiveStreamTask(live()), ErrorCode.ERR_INVALID_STATE, 'no task, not in a channel');
  t.is(e.removeLiveStreamTask(7), P, 'task id of the wrong type');

  t.is(e.getErrorDescription(30003.5), e.getErrorDescription(123456), 'not an int32: an unknown code');
  t.is(e.getErrorDescription('30003'), e.getErrorDescription(123456), 'not a number: an unknown code');
  for (const [what, call] of [
    ['fractional ttl', () => sdk.createToken('prod', 's3cret', 'room', 1, 1.5)],
    ['negative ttl', () => sdk.createToken('prod', 's3cret', 'room', 1, -1)],
    ['channel name', () => sdk.createToken('prod', 's3cret', 'café', 1, 60)],
    ['uid 2^64', () => sdk.createToken('prod', 's3cret', 'room', 2n ** 64n, 60)],
    ['uid string', () => sdk.createToken('prod', 's3cret', 'room', '5', 60)],
  ]) {
    t.throws(call, { instanceOf: TypeError }, what);
  }
});

test.serial('devices: synthetic defaults, set/get, unknown id → 30008', (t) => {
  const e = makeEngine(url);
  for (const list of [e.enumerateRecordDevices(), e.enumeratePlayoutDevices(), e.enumerateVideoCaptureDevices()]) {
    t.true(Array.isArray(list) && list.length >= 1, JSON.stringify(list));
    for (const d of list) {
      t.is(typeof d.device_id, 'string');
      t.is(typeof d.device_name, 'string');
      t.is(typeof d.transport_type, 'number');
      t.is(typeof d.suspected_unavailable, 'boolean');
      t.is(typeof d.system_default_device, 'boolean');
    }
  }
  t.is(e.setRecordDevice('no-such-device'), ErrorCode.ERR_DEVICE_NOT_FOUND);
  t.is(e.setPlayoutDevice('no-such-device'), ErrorCode.ERR_DEVICE_NOT_FOUND);
  t.is(e.setVideoDevice('no-such-device'), ErrorCode.ERR_DEVICE_NOT_FOUND);
  t.is(e.setVideoDevice(''), ErrorCode.ERR_INVALID_PARAM);
  t.is(e.setRecordDevice(7), ErrorCode.ERR_INVALID_PARAM);
  const mic = e.enumerateRecordDevices()[0].device_id;
  const cam = e.enumerateVideoCaptureDevices()[0].device_id;
  const spk = e.enumeratePlayoutDevices()[0].device_id;
  t.is(e.setRecordDevice(mic), 0);
  t.is(e.getRecordDevice(), mic);
  t.is(e.setVideoDevice(cam), 0);
  t.is(e.getVideoDevice(), cam);
  t.is(e.setPlayoutDevice(spk), 0);
  t.is(e.getPlayoutDevice(), spk);
});

test.serial('external video: not enabled → 30005, malformed → 30003, pushed frames reach the preview', async (t) => {
  const e = makeEngine(url);
  const w = 64;
  const h = 48;
  const i420 = (fill) => {
    const buf = new Uint8Array(w * h * 1.5);
    for (let i = 0; i < w * h; i++) buf[i] = fill === 'ramp' ? (i % w) * 4 : fill;
    buf.fill(128, w * h);
    return buf;
  };
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: i420(100) }), ErrorCode.ERR_INVALID_STATE);
  t.is(e.setExternalVideoSource(true), 0);
  const P = ErrorCode.ERR_INVALID_PARAM;
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: new Uint8Array(w * h) }), P, 'too short');
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: new Uint8Array(w * h * 2) }), P, 'too long');
  t.is(e.pushExternalVideoFrame({ format: 'RGBA', width: w, height: h, data: i420(1) }), P, 'RGBA size');
  t.is(e.pushExternalVideoFrame({ format: 'NV12', width: w, height: h, data: i420(1) }), P, 'format');
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: 0, height: h, data: new Uint8Array(0) }), P, 'zero width');
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h }), P, 'no data');
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: Array.from(i420(1)) }), P, 'not bytes');
  t.is(e.pushExternalVideoFrame(null), P);

  const preview = frameSink();
  t.is(e.setupLocalVideoCanvas({ view: preview }), 0);
  t.is(e.startVideoPreview(), 0);
  let pushed = 0;
  const timer = setInterval(() => {
    const code = e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: i420('ramp'), timestamp: Date.now() });
    if (code === 0) pushed += 1;
  }, 30);
  try {
    const f = await preview.waitFor((fr) => fr.width === w && fr.height === h && fr.yMax - fr.yMin > 100, 10_000);
    t.is(f.y[5], 20);
    t.true(pushed > 0);
    const rgba = new Uint8Array(w * h * 4).fill(255);
    t.is(e.pushExternalVideoFrame({ format: 'RGBA', width: w, height: h, data: rgba }), 0);
  } finally {
    clearInterval(timer);
  }
  t.is(e.stopVideoPreview(), 0);
  t.is(e.setExternalVideoSource(false), 0);
  t.is(e.pushExternalVideoFrame({ format: 'I420', width: w, height: h, data: i420(1) }), ErrorCode.ERR_INVALID_STATE);
});

test.serial('external audio: not enabled → 30005, mismatched or malformed → 30003, accepted in a channel', async (t) => {
  const e = makeEngine(url);
  const frame = (n, rate = 48000, channels = 1) => ({ data: new Int16Array(n * channels).fill(1000), sample_rate: rate, channels });
  t.is(e.pushExternalAudioFrame(frame(480)), ErrorCode.ERR_INVALID_STATE);
  const P = ErrorCode.ERR_INVALID_PARAM;
  t.is(e.setExternalAudioSource(true, 12345, 1), P);
  t.is(e.setExternalAudioSource(true, 48000, 3), P);
  t.is(e.setExternalAudioSource(true, 48000, 2), 0);
  t.is(e.pushExternalAudioFrame(frame(480, 16000, 2)), P, 'rate differs');
  t.is(e.pushExternalAudioFrame(frame(480, 48000, 1)), P, 'channels differ');
  t.is(e.pushExternalAudioFrame({ data: new Int16Array(481), sample_rate: 48000, channels: 2 }), P, 'odd sample count for stereo');
  t.is(e.pushExternalAudioFrame({ data: new Int16Array(0), sample_rate: 48000, channels: 2 }), P, 'empty');
  t.is(e.pushExternalAudioFrame({ data: new Uint8Array(960), sample_rate: 48000, channels: 2 }), P, 'not Int16Array');
  t.is(e.pushExternalAudioFrame({ ...frame(480, 48000, 2), samples_per_channel: 100 }), P, 'samples_per_channel mismatch');

  const r = record(e);
  t.is(e.joinChannel(null, channelName('ext-audio'), 21), 0);
  await r.waitFor('onJoinChannel', (_c, _u, res) => res === 0);
  let code = -1;
  for (let i = 0; i < 50 && code !== 0; i++) {
    code = e.pushExternalAudioFrame({ ...frame(480, 48000, 2), samples_per_channel: 480 });
    if (code !== 0) await sleep(20);
  }
  t.is(code, 0);
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
});

// ---------------------------------------------------------------------------------------------
// Release, canvases, throwing handlers

test.serial('release: twice, in any state, right after leaveChannel (onLeaveChannel still fires)', async (t) => {
  const a = makeEngine(url);
  const ra = record(a);
  t.is(a.joinChannel(null, channelName('rel'), 31), 0);
  await ra.waitFor('onJoinChannel');
  t.is(a.leaveChannel(), 0);
  t.is(a.release(), 0);
  t.is(a.release(), 0);
  t.deepEqual(await ra.waitFor('onLeaveChannel', () => true, 10_000), [0]);
  t.is(a.leaveChannel(), ErrorCode.ERR_INVALID_STATE);
  t.is(a.joinChannel(null, 'room', 1), ErrorCode.ERR_INVALID_STATE);

  // Released while joined (no leaveChannel): onLeaveChannel fires, and the other side sees us go.
  const channel = channelName('rel2');
  const b = makeEngine(url);
  const c = makeEngine(url);
  const rb = record(b);
  const rc = record(c);
  t.is(b.joinChannel(null, channel, 32), 0);
  t.is(c.joinChannel(null, channel, 33), 0);
  await rb.waitFor('onJoinChannel');
  await rc.waitFor('onUserJoined', (u) => u === 32);
  t.is(b.release(), 0);
  t.deepEqual(await rb.waitFor('onLeaveChannel', () => true, 10_000), [0]);
  const [leftUid, reason] = await rc.waitFor('onUserLeft', (u) => u === 32, 20_000);
  t.is(leftUid, 32);
  t.is(reason, 0);

  // Released while joining; released with a preview and canvases bound.
  const d = makeEngine(url);
  t.is(d.setupLocalVideoCanvas({ view: frameSink() }), 0);
  t.is(d.startVideoPreview(), 0);
  t.is(d.joinChannel(null, channelName('rel3'), 34), 0);
  t.is(d.release(), 0);
  t.is(d.release(), 0);
  t.is(new NERtcEngine().release(), 0);
});

test.serial('canvases: unbind with {view: null}; views without drawFrame are ignored with onWarning(30012)', async (t) => {
  const e = makeEngine(url);
  const r = record(e);
  const sink = frameSink();
  t.is(e.setupLocalVideoCanvas({ view: sink }), 0);
  t.is(e.startVideoPreview(), 0);
  await sink.waitFor((f) => f.width > 0, 10_000);
  t.is(e.setupLocalVideoCanvas({ view: null }), 0);
  await sleep(100);
  const n = sink.frames.length;
  await sleep(300);
  t.is(sink.frames.length, n, 'no frames after unbinding');
  t.is(e.setupLocalVideoCanvas(null), 0);

  t.is(e.setupRemoteVideoCanvas(77, { view: { nothing: true } }), 0);
  const [code, msg] = await r.waitFor('onWarning', (c) => c === ErrorCode.ERR_INVALID_RENDER);
  t.is(code, 30012, "NERTC's kNERtcErrInvalidRender");
  t.regex(msg, /drawFrame/);
  t.is(e.setupRemoteVideoCanvas(77, { view: null }), 0);
  t.is(e.stopVideoPreview(), 0);
});

test.serial('a throwing event handler: caught, onWarning(30900), process survives, others still called', async (t) => {
  const e = makeEngine(url);
  const warnings = [];
  let otherCalled = 0;
  let warningThrows = 0;
  e.on('onJoinChannel', () => {
    throw new Error('handler boom');
  });
  e.on('onJoinChannel', async () => {
    await sleep(1);
    throw new Error('async handler boom');
  });
  e.on('onJoinChannel', () => {
    otherCalled += 1;
  });
  e.on('onWarning', (code, msg) => warnings.push([code, msg]));
  e.on('onWarning', () => {
    // A throwing onWarning handler must not recurse into another onWarning.
    warningThrows += 1;
    throw new Error('warning handler boom');
  });
  const r = record(e);
  const origWarn = console.warn;
  console.warn = () => {};
  try {
    t.is(e.joinChannel(null, channelName('throw'), 41), 0);
    await r.waitFor('onJoinChannel');
    await sleep(50);
  } finally {
    console.warn = origWarn;
  }
  t.is(otherCalled, 1);
  const w = warnings.find(([c]) => c === ErrorCode.WARN_HANDLER_THREW);
  t.truthy(w, JSON.stringify(warnings));
  t.regex(w[1], /onJoinChannel/);
  t.regex(w[1], /handler boom/);
  t.truthy(warnings.find(([c, m]) => c === 30900 && /async handler boom/.test(m)), 'a rejected async handler is reported too');
  t.is(warningThrows, warnings.length, 'no recursion: one onWarning per reported throw');

  // A drawFrame that throws is reported once, and frames keep being pulled for other canvases.
  let drawCalls = 0;
  const good = frameSink();
  console.warn = () => {};
  try {
    t.is(e.setupLocalVideoCanvas({ view: { drawFrame: () => { drawCalls += 1; throw new Error('draw boom'); } } }), 0);
    t.is(e.setupRemoteVideoCanvas(999, { view: good }), 0);
    t.is(e.startVideoPreview(), 0);
    await r.waitFor('onWarning', (c, m) => c === 30900 && /draw boom/.test(m), 10_000);
    await sleep(300);
  } finally {
    console.warn = origWarn;
  }
  t.true(drawCalls >= 1);
  t.is(warnings.filter(([c, m]) => c === 30900 && /draw boom/.test(m)).length, 1, 'reported once');
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
});

async function runChild(body, ms = 30_000) {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const index = fileURLToPath(new URL('../index.js', import.meta.url));
  const script = `
    const { NERtcEngine } = require(${JSON.stringify(index)});
    process.on('exit', (c) => console.log('exit', c));
    const e = new NERtcEngine();
    console.log('init', e.initialize({ app_key: 'k', log_level: 2, server_config: { channel_server: ${JSON.stringify(url)} } }));
    ${body}
  `;
  const started = Date.now();
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', () => {});
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('timeout');
    }, ms);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  return { code, out, ms: Date.now() - started };
}

test.serial('Node lifetime: an idle engine never keeps it alive; a joined one does until it leaves', async (t) => {
  // Initialized, a canvas bound, not in a channel: the script ends at once.
  const idle = await runChild(`e.setupLocalVideoCanvas({ view: { drawFrame() {} } }); console.log('idle');`);
  t.is(idle.code, 0, idle.out);
  t.regex(idle.out, /init 0\nidle\nexit 0/);

  // Joined, with a throwing handler: stays alive (no timer of its own), reports the throw,
  // leaves from a handler and then ends by itself.
  const joined = await runChild(`
    e.on('onJoinChannel', () => { console.log('joined'); throw new Error('nope'); });
    e.on('onWarning', (c) => { console.log('warning', c); console.log('leave', e.leaveChannel()); });
    e.on('onLeaveChannel', (r) => console.log('left', r));
    console.log('join', e.joinChannel(null, 'alive-${process.pid}', 51));
  `);
  t.is(joined.code, 0, joined.out);
  t.regex(joined.out, /init 0\njoin 0\njoined\nwarning 30900\nleave 0\nleft 0\nexit 0/);

  // Released while joined, from a handler: onLeaveChannel is still delivered, then it ends.
  const released = await runChild(`
    e.on('onJoinChannel', () => { console.log('joined'); console.log('release', e.release()); });
    e.on('onLeaveChannel', (r) => console.log('left', r));
    console.log('join', e.joinChannel(null, 'alive2-${process.pid}', 52));
  `);
  t.is(released.code, 0, released.out);
  t.regex(released.out, /join 0\njoined\nrelease 0\nleft 0\nexit 0/);
  t.true(released.ms < 20_000);
});
