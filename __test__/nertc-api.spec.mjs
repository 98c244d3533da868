// NERTC 5.x's whole NERtcEngine surface, walked from the data file nertc-api/nertc-5x.json:
// every method exists; the ones this SDK lacks never throw, log, and return NERTC's "not
// supported" (30004) or NERTC's empty result of their type; index.d.ts declares each of them as
// "Not supported"; codes and enums carry NERTC's names and numbers.
//
// Run inside the loopback-only namespace: ./scripts/netns.sh npx ava __test__/nertc-api.spec.mjs

import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { EVENT_NAMES, ErrorCode, NERtcEngine, NERtcServer, channelName, frameSink, makeEngine, record, sdk, useEmbeddedServer } from './helpers.mjs';

const api = JSON.parse(fs.readFileSync(new URL('../nertc-api/nertc-5x.json', import.meta.url), 'utf8'));
const dts = fs.readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
const UNSUPPORTED = Symbol.for('nertc.unsupported');
const unsupported = api.methods.filter((m) => m.status === 'unsupported');
const real = api.methods.filter((m) => m.status === 'real');

/** Arguments of the types a NERTC signature names, as an app would pass them. */
function plausibleArgs(signature) {
  const inner = signature.slice(signature.indexOf('(') + 1, signature.lastIndexOf(')')).trim();
  if (!inner) return [];
  return inner.split(',').map((param) => {
    const type = (param.split(':')[1] || 'any').split('=')[0].trim();
    if (/^(number|Number)$/.test(type) || /Type$|Mode$|Band$|Quality$/.test(type)) return 1;
    if (/^(boolean|Boolean)$/.test(type)) return true;
    if (/^(string|String)$/.test(type)) return 'nertc-test';
    if (type === "'local' | number") return 'local';
    if (type === 'ArrayBuffer') return new ArrayBuffer(8);
    if (/^Array</.test(type)) return [1, 2];
    return { file_path: '/nonexistent/a.wav', enable: true };
  });
}

/** Calls `fn` with console.warn captured; returns [result, warnings]. */
function withWarnings(fn) {
  const warnings = [];
  const original = console.warn;
  console.warn = (...args) => warnings.push(args.join(' '));
  try {
    return [fn(), warnings];
  } finally {
    console.warn = original;
  }
}

let url;
useEmbeddedServer(test, (u) => {
  url = u;
});

test.serial('the data file names its source and lists every method once', (t) => {
  const { source } = api;
  t.is(source.repo, 'netease-im/node-nertc-sdk');
  t.is(source.branch, 'support/5xx');
  t.regex(source.commit, /^[0-9a-f]{40}$/);
  t.deepEqual(source.files, ['nertc_sdk_ts/api/index.ts', 'nertc_sdk_ts/api/defs.ts']);
  const names = api.methods.map((m) => m.name);
  t.is(new Set(names).size, names.length, 'no method twice');
  t.true(names.length >= 183, `${names.length} methods`);
  for (const m of api.methods) {
    t.true(['real', 'unsupported'].includes(m.status), `${m.name}: status ${m.status}`);
    t.true(m.signature.startsWith(`${m.name}(`), `${m.name}: signature ${m.signature}`);
    if (m.status === 'unsupported') t.true('fail' in m, `${m.name}: what it returns`);
  }
  t.log(`${names.length} NERTC methods: ${real.length} real, ${unsupported.length} not supported (30004 or an empty result)`);
});

test.serial('every NERTC method exists; the implemented ones are not stubs, the others are', (t) => {
  const e = new NERtcEngine();
  for (const m of api.methods) {
    t.is(typeof e[m.name], 'function', `${m.name} exists`);
    t.is(e[m.name][UNSUPPORTED] === true, m.status === 'unsupported', `${m.name} is ${m.status}`);
  }
});

test.serial('unsupported methods before initialize: NERTC\'s "not supported" result, no throw, a console line once', (t) => {
  const e = new NERtcEngine();
  for (const m of unsupported) {
    const [first, warnings] = withWarnings(() => e[m.name](...plausibleArgs(m.signature)));
    t.deepEqual(first, m.fail, `${m.name}(${m.signature})`);
    // The console line comes once per method per process; a test that ran first may have taken it.
    t.true(warnings.length <= 1 && warnings.every((w) => w.includes(m.name) && /not supported/.test(w)), `${m.name}: ${warnings}`);
    const [again, more] = withWarnings(() => e[m.name]());
    t.deepEqual(again, m.fail, `${m.name}() without arguments`);
    t.is(more.length, 0, `${m.name}: no second console line`);
  }
});

test.serial('unsupported methods on an initialized engine, with plausible and with wrong arguments', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nertc-api-'));
  const e = new NERtcEngine();
  t.is(e.initialize({ app_key: 'k', log_dir_path: dir, server_config: { channel_server: url } }), 0);
  try {
    withWarnings(() => {
      for (const m of unsupported) {
        t.deepEqual(e[m.name](...plausibleArgs(m.signature)), m.fail, m.name);
        t.deepEqual(e[m.name](null, 'x', {}, -1, Symbol('s'), 2n), m.fail, `${m.name} with wrong arguments`);
      }
    });
    if (unsupported.some((m) => m.fail === 30004)) t.is(ErrorCode.ERR_NOT_SUPPORTED, 30004);
    // Each call is in the SDK's log (a warn line the first time each method is called).
    e.release();
    const log = fs.readFileSync(path.join(dir, 'nertc.log'), 'utf8');
    t.regex(log, /enableSuperResolution: not supported/);
  } finally {
    e.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.serial('an array result is a fresh array each call', (t) => {
  const e = new NERtcEngine();
  withWarnings(() => {
    const a = e.enumerateScreenCaptureSourceInfo(1, 1, 1, 1);
    a.push('x');
    t.deepEqual(e.enumerateScreenCaptureSourceInfo(1, 1, 1, 1), []);
  });
});

test.serial('index.d.ts declares every NERTC method; each unsupported one says "Not supported: returns ..."', (t) => {
  const cls = /export declare class NERtcEngine extends EventEmitter \{([\s\S]*?)\n\}/.exec(dts);
  t.truthy(cls, 'NERtcEngine is declared');
  for (const m of api.methods) {
    const decl = new RegExp(`\\n  ${m.name}\\(`).exec(cls[1]);
    t.truthy(decl, `${m.name} is declared`);
    if (m.status !== 'unsupported') continue;
    const before = cls[1].slice(0, decl.index);
    const doc = before.slice(before.lastIndexOf('/**'));
    const shown = m.fail === 30004 ? '30004' : m.fail === '' ? "''" : JSON.stringify(m.fail);
    t.true(doc.includes(`Not supported: returns ${shown}`), `${m.name}: ${doc}`);
  }
});

test.serial("NERTC's enums under NERTC's names, numeric ones mapping both ways", (t) => {
  t.true(api.enums.length >= 50, `${api.enums.length} enums`);
  for (const { name, members } of api.enums) {
    const e = sdk[name];
    t.is(typeof e, 'object', `${name} is exported`);
    t.is(sdk.default[name], e, `${name} is on the default export`);
    t.true(new RegExp(`export declare enum ${name} \\{`).test(dts), `index.d.ts declares ${name}`);
    for (const [k, v] of members) {
      t.is(e[k], v, `${name}.${k}`);
      if (typeof v === 'number') t.true(typeof e[v] === 'string' && e[e[v]] === v, `${name}[${v}]`);
    }
  }
  const { NERtcErrorCode: N } = sdk;
  t.is(N.kNERtcErrNotSupported, 30004);
  t.is(N.kNERtcErrInvalidState, 30005);
  t.is(N[30004], 'kNERtcErrNotSupported');
});

test.serial("every code the SDK returns is NERTC's, or ours in the documented range NERTC does not use", (t) => {
  const nertc = new Set(api.enums.find((e) => e.name === 'NERtcErrorCode').members.map(([, v]) => v));
  // NERTC's native NERtcErrorCode has codes its Electron defs.ts enum lacks; the ones this SDK
  // returns, each named in NERTC's Electron documentation: 30113 kNERtcErrEncryptNotSuitable
  // (enableEncryption).
  nertc.add(30113);
  const { min, max } = sdk.OWN_CODE_RANGE;
  for (const v of nertc) t.false(v >= min && v <= max, `NERTC uses ${v}, inside our range`);
  for (const [code, desc] of sdk.errorCodes()) t.true(nertc.has(code) || (code >= min && code <= max), `${code} ${desc}`);
  for (const [name, code] of Object.entries(ErrorCode)) t.true(nertc.has(code) || (code >= min && code <= max), `ErrorCode.${name}`);
  // The numbers that changed meaning, pinned to NERTC's names.
  const N = sdk.NERtcErrorCode;
  t.is(ErrorCode.ERR_NOT_SUPPORTED, N.kNERtcErrNotSupported);
  t.is(ErrorCode.ERR_INVALID_STATE, N.kNERtcErrInvalidState);
  t.is(ErrorCode.ERR_INVALID_VIDEO_PROFILE, N.kNERtcErrInvalidVideoProfile);
  t.is(ErrorCode.ERR_CONNECT_FAIL, N.kNERtcErrConnectFail);
  t.is(ErrorCode.ERR_KICKED, N.kNERtcErrServerKicked);
  t.is(ErrorCode.ERR_ROOM_CLOSED, N.kNERtcErrKickedForRoomClosed);
  t.is(ErrorCode.ERR_MEDIA_DISCONNECTED, N.kNERtcErrMediaConnectionDisconnected);
  t.is(ErrorCode.ERR_JOIN_TIMEOUT, N.kNERtcErrChannelJoinTimeOut);
  t.is(ErrorCode.ERR_PERMISSION_DENIED, N.kNERtcErrChannelReservePermissionDenied);
  t.is(ErrorCode.ERR_REQUEST_JOIN_FAILED, N.kNERtcErrRequestJoinChannelFail);
  t.is(ErrorCode.ERR_INVALID_RENDER, N.kNERtcErrInvalidRender);
});

test.serial("the events the SDK emits are NERTC's, and the data file says which", (t) => {
  const nertc = new Map(api.events.map((e) => [e.name, e]));
  const emitted = new Set(sdk.eventNames());
  for (const name of emitted) t.true(nertc.has(name), `${name} is a NERTC event`);
  for (const name of EVENT_NAMES) t.true(nertc.has(name), `${name} is a NERTC event`);
  for (const e of api.events) t.is(e.status === 'emitted', emitted.has(e.name), `${e.name}: ${e.status}`);
  t.log(`${api.events.length} NERTC events: ${emitted.size} emitted`);
});

test.serial('*WithType: the main stream works, the substream only for muting (screen sharing has its own methods)', (t) => {
  const e = new NERtcEngine();
  withWarnings(() => {
    t.is(e.enableLocalVideoWithType(1, true), 30004);
    t.is(e.enableLocalVideoWithType(0, true), 30005, 'main stream: as enableLocalVideo before initialize');
  });
  t.is(e.getVideoDeviceWithType(1), '');
  t.false(e.isFeatureSupported(0));
  const i = makeEngine(url);
  withWarnings(() => {
    t.is(i.startVideoPreviewWithType(1), 30004);
    t.is(i.setVideoConfigWithType(1, { max_profile: 2 }), 30004);
    t.is(i.setVideoConfigWithType(0, { max_profile: 2 }), 0);
    t.is(i.setVideoConfigWithType(0, { max_profile: 7 }), 30010);
    t.is(i.setLocalVideoMirrorModeWithType(0, 2), 0);
    t.is(i.muteLocalVideoStreamWithType(0, true), 0);
    t.is(i.muteLocalVideoStreamWithType(1, true), 0, 'the screen share (substream) can be muted');
    t.is(i.muteLocalVideoStreamWithType(1, false), 0);
    t.is(i.muteLocalVideoStreamWithType(2, true), 30003);
    t.is(e.muteLocalVideoStreamWithType(1, true), 30005, 'before initialize');
    t.is(i.startVideoPreviewWithType(0), 0);
    t.is(i.stopVideoPreviewWithType(0), 0);
    t.is(i.enableLocalVideoWithType(7, true), 30003);
    t.is(i.setVideoDeviceWithType('no-such-device', 0), 30008);
    t.is(i.getVideoDeviceWithType(0), i.getVideoDevice());
  });
});

test.serial("setRenderMode and captureImageByUid: NERTC's results", (t) => {
  const e = makeEngine(url);
  t.is(e.setRenderMode('local', 1), -1, 'no canvas bound');
  t.is(e.captureImageByUid('local'), '', 'nothing drawn');
  const modes = [];
  const view = { ...frameSink(), setMode: (m) => modes.push(m), captureImage: () => 'data:image/png;base64,AAAA' };
  t.is(e.setupRemoteVideoCanvas(5, { view }), 0);
  t.is(e.setRenderMode(5, 2), 0);
  t.deepEqual(modes, [2], "the renderer's mode follows");
  t.is(e.setRenderMode(5, 3), 30003);
  t.is(e.captureImageByUid(5), 'data:image/png;base64,AAAA');
  t.is(e.captureImageByUid(5, 1), '', 'no substream canvas');
  t.is(e.captureImageByUid(6), '', 'no canvas');
  // The substream's canvases are their own: mode and capture per stream.
  const subModes = [];
  const subView = { ...frameSink(), setMode: (m) => subModes.push(m), captureImage: () => 'data:image/png;base64,U1VC' };
  t.is(e.setSubStreamRenderMode(5, 1), -1, 'no substream canvas bound');
  t.is(e.setupRemoteSubStreamVideoCanvas(5, { view: subView }), 0);
  t.is(e.setSubStreamRenderMode(5, 1), 0);
  t.deepEqual([modes, subModes], [[2], [1]], 'each stream its own mode');
  t.is(e.captureImageByUid(5, 1), 'data:image/png;base64,U1VC');
  t.is(e.captureImageByUid(5, 0), 'data:image/png;base64,AAAA');
  t.is(e.setupLocalSubStreamVideoCanvas({ view: frameSink() }), 0);
  t.is(e.setSubStreamRenderMode('local', 2), 0);
  t.is(e.setupRemoteSubStreamVideoCanvas(0, { view: frameSink() }), 30003, 'uid 0');
});

test.serial('joinChannelWithOptions joins like joinChannel; setChannelProfile only outside a channel', async (t) => {
  const e = makeEngine(url);
  const r = record(e);
  t.is(e.joinChannelWithOptions(null, 'room', 1, 'options'), 30003);
  t.is(e.joinChannelWithOptions(null, 'room', 1, { custom_info: 5 }), 30003);
  t.is(new NERtcEngine().joinChannelWithOptions(null, 'room', 1, {}), 30005);
  const [code] = withWarnings(() => e.joinChannelWithOptions(null, channelName('opts'), 71, { custom_info: 'hi', permission_key: '' }));
  t.is(code, 0);
  const [, uid, result] = await r.waitFor('onJoinChannel');
  t.is(uid, 71);
  t.is(result, 0);
  t.is(e.setChannelProfile(1), 30005, 'the channel profile is set before joining');
  t.is(e.leaveChannel(), 0);
  await r.waitFor('onLeaveChannel');
  t.is(e.setChannelProfile(1), 0);
});

test.serial("the README's coverage table agrees with the data file", (t) => {
  const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## NERTC API coverage'));
  t.true(section.length > 100, 'README has the section');
  t.true(section.includes(`${api.methods.length} methods: ${real.length} implemented, ${unsupported.length} not supported.`));
  for (const m of api.methods) {
    const row = section.split('\n').find((l) => l.startsWith(`| \`${m.name}\` |`));
    t.truthy(row, `${m.name} has a row`);
    t.true(row.endsWith(' |') && row.includes(m.status === 'real' ? '| yes' : '| no: returns'), `${m.name}: ${row}`);
  }
});

test.serial('implemented methods never throw on arguments of the wrong type', (t) => {
  const e = makeEngine(url);
  const garbage = [
    [],
    [null, null, null, null],
    [Symbol('s'), {}, -1, 'x'],
    [2n ** 70n, [], NaN, () => {}],
  ];
  withWarnings(() => {
    for (const m of real) {
      if (m.name === 'initialize' || m.name === 'release') continue;
      for (const args of garbage) t.notThrows(() => e[m.name](...args), `${m.name}(${args.map(String).join(', ')})`);
    }
  });
  t.is(e.getConnectionState(), 1, 'none of it joined a channel');
});

test.serial('roles apply in the live profile: audience in communication still publishes; in live it is unseen until a broadcaster', async (t) => {
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);
  const channel = channelName('roles');
  t.is(b.joinChannel(null, channel, 82), 0);
  await rb.waitFor('onJoinChannel');

  // Communication profile (the default): the audience request is kept but everyone broadcasts.
  t.is(a.setClientRole(1), 0);
  t.is(a.joinChannel(null, channel, 81), 0);
  await rb.waitFor('onUserAudioStart', (uid) => uid === 81);
  t.is(a.leaveChannel(), 0);
  await rb.waitFor('onUserLeft', (uid) => uid === 81);

  // Live profile: the kept audience role applies and reaches the server: B does not see A
  // join or publish; switching to broadcaster makes A appear and publish. A fresh recorder
  // sees only what follows.
  const live = record(b);
  const liveA = record(a);
  t.is(a.setChannelProfile(1), 0);
  t.is(a.joinChannel(null, channel, 81), 0);
  await liveA.waitFor('onJoinChannel', (cid, uid, result) => uid === 81 && result === 0);
  // Two stats periods of B (2 s each) after A is in: a broadcaster would have been seen.
  const stats = live.events.filter((e) => e.name === 'onRtcStats').length;
  await live.waitFor('onRtcStats', () => live.events.filter((e) => e.name === 'onRtcStats').length >= stats + 2);
  t.is(live.indexOf('onUserJoined', (uid) => uid === 81), -1, 'an audience member is not seen');
  t.is(live.indexOf('onUserAudioStart', (uid) => uid === 81), -1, 'an audience member does not publish');
  t.is(a.setClientRole(0), 0);
  await live.waitFor('onUserJoined', (uid) => uid === 81);
  await live.waitFor('onUserAudioStart', (uid) => uid === 81);
  t.deepEqual(await ra.waitFor('onClientRoleChanged'), [1, 0]);
  t.is(ra.events.filter((e) => e.name === 'onClientRoleChanged').length, 1, 'only the switch in the live channel changed the role that applies');
  // Audience again: A leaves B's view (reason 0, normal).
  t.is(a.setClientRole(1), 0);
  t.deepEqual(await live.waitFor('onUserLeft', (uid) => uid === 81), [81, 0]);
});

// A JWT as the SDK's tokens are (HS256), for the embedded server's debug app, which does not
// check tokens: the engine reads the expiry from it.
function jwt(claims) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.createHmac('sha256', 'unknown-to-the-server').update(input).digest('base64url')}`;
}

test.serial('permission keys: joinChannelWithOptions joins with one, onPermissionKeyWillExpire, updatePermissionKey answers', async (t) => {
  const a = makeEngine(url);
  const ra = record(a);
  const channel = channelName('permkey');
  const now = Math.floor(Date.now() / 1000);
  const claims = { app_key: 'nertc-test', channel, uid: 91, iat: now };
  t.is(a.updatePermissionKey('x'), ErrorCode.ERR_NOT_JOINED, 'outside a channel');
  t.is(a.updatePermissionKey(42), ErrorCode.ERR_INVALID_PARAM);
  // The permission key is the join token; it expires in 32 s: the warning comes ~2 s in.
  t.is(a.joinChannelWithOptions('', channel, 91, { permission_key: jwt({ ...claims, exp: now + 32 }) }), 0);
  await ra.waitFor('onJoinChannel', (cid, uid, result) => result === 0);
  const joined = Date.now();
  await ra.waitFor('onPermissionKeyWillExpire', () => true, 8000);
  t.log(`onPermissionKeyWillExpire ${Date.now() - joined} ms after joining`);
  const renewed = jwt({ ...claims, exp: now + 600 });
  t.is(a.updatePermissionKey(''), ErrorCode.ERR_INVALID_PARAM);
  t.is(a.updatePermissionKey(renewed), 0);
  const [key, code, time] = await ra.waitFor('onUpdatePermissionKey');
  t.is(key, renewed);
  t.is(code, 0);
  t.true(time >= 590 && time <= 600, `${time} s left`);
  t.is(ra.events.filter((e) => e.name === 'onPermissionKeyWillExpire').length, 1, 'once per token');
  t.is(a.leaveChannel(), 0);
});

test.serial("NERTC's demo flow runs: enableDualStreamMode → setVideoConfig → canvases → join → remote video (high, then low) → leave", async (t) => {
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);
  const channel = channelName('demo-flow');
  t.is(a.enableDualStreamMode(true), 0);
  const config = { max_profile: 2, framerate: 15, min_framerate: 0, bitrate: 0, min_bitrate: 0, crop_mode: 0, degradation_preference: 0, mirror_mode: 0, orientation_mode: 0 };
  t.is(a.setVideoConfig(config), 0);
  t.is(a.setupLocalVideoCanvas({ view: frameSink(), mode: 0 }), 0);
  t.is(a.enableLocalVideo(true), 0);
  const remote = frameSink();
  b.on('onUserVideoStart', (uid) => {
    if (uid !== 61) return;
    t.is(b.setupRemoteVideoCanvas(uid, { view: remote, mode: 0 }), 0);
    t.is(b.subscribeRemoteVideoStream(uid, 0, true), 0);
  });
  t.is(b.joinChannel('', channel, 62), 0);
  t.is(a.joinChannel('', channel, 61), 0);
  t.is((await ra.waitFor('onJoinChannel'))[2], 0);
  // max_profile 2 (kNERtcVideoProfileStandard) is 640x480. The low layer may stand in for the
  // first frames, while the high one is not flowing yet.
  const frame = await remote.waitFor((f) => f.width === 640);
  t.is(frame.height, 480);
  // The low stream: half the width and height, announced by onRemoteVideoReceiveSizeChanged.
  t.is(b.subscribeRemoteVideoStream(61, 1, true), 0);
  const low = await remote.waitFor((f) => f.width === frame.width / 2);
  t.is(low.height, frame.height / 2);
  await rb.waitFor('onRemoteVideoReceiveSizeChanged', (uid, type, w, h) => uid === 61 && type === 0 && w === low.width && h === low.height);
  t.is(a.leaveChannel(), 0);
  await ra.waitFor('onLeaveChannel');
  await rb.waitFor('onUserLeft', (uid) => uid === 61);
});

test.serial('sendSEIMsg: data in the video reaches onRecvSEIMsg as an ArrayBuffer, in order', async (t) => {
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);
  const channel = channelName('sei');
  t.is(a.enableLocalVideo(true), 0);
  b.on('onUserVideoStart', (uid) => {
    if (uid === 71) b.subscribeRemoteVideoStream(uid, 0, true);
  });
  t.is(b.joinChannel('', channel, 72), 0);
  t.is(a.joinChannel('', channel, 71), 0);
  t.is((await ra.waitFor('onJoinChannel'))[2], 0);
  await rb.waitFor('onFirstVideoFrameDecoded', (uid) => uid === 71);
  t.is(a.sendSEIMsg('text'), ErrorCode.ERR_INVALID_PARAM, 'not bytes');
  t.is(a.sendSEIMsg(new ArrayBuffer(0)), ErrorCode.ERR_INVALID_PARAM);
  t.is(a.sendSEIMsg(new Uint8Array(4097)), ErrorCode.ERR_INVALID_PARAM);
  t.is(a.sendSEIMsgWithType(new Uint8Array([1]), 1), ErrorCode.ERR_INVALID_STATE, 'no substream is sent');
  t.is(b.sendSEIMsg(new Uint8Array([1])), ErrorCode.ERR_INVALID_STATE, 'B sends no video');
  const texts = ['one', 'two \u0000\u0000\u0003 three'];
  t.is(a.sendSEIMsg(new TextEncoder().encode(texts[0]).buffer), 0);
  const view = new Uint8Array(64);
  const encoded = new TextEncoder().encode(texts[1]);
  view.set(encoded, 10);
  t.is(a.sendSEIMsgWithType(view.subarray(10, 10 + encoded.length), 0), 0, 'a view into a larger buffer sends only its bytes');
  await rb.waitFor('onRecvSEIMsg', () => rb.events.filter((e) => e.name === 'onRecvSEIMsg').length >= 2);
  const got = rb.events.filter((e) => e.name === 'onRecvSEIMsg').map((e) => e.args);
  for (const [uid, data] of got) {
    t.is(uid, 71);
    t.true(data instanceof ArrayBuffer);
  }
  t.deepEqual(got.map(([, data]) => new TextDecoder().decode(data)), texts);
  t.is(a.leaveChannel(), 0);
  t.is(b.leaveChannel(), 0);
});

test.serial('canvas.scaling_mode is the scaling mode (NERTC\'s `mode`, which wins when both are set)', async (t) => {
  const e = makeEngine(url);
  t.is(e.setupLocalVideoCanvas({ view: frameSink(), scaling_mode: 3 }), ErrorCode.ERR_INVALID_PARAM);
  const sink = frameSink();
  t.is(e.setupLocalVideoCanvas({ view: sink, scaling_mode: 2 }), 0);
  t.is(e.startVideoPreview(), 0);
  t.is((await sink.waitFor((f) => f.width > 0)).mode, 2);
  const both = frameSink();
  t.is(e.setupLocalVideoCanvas({ view: both, mode: 1, scaling_mode: 2 }), 0);
  t.is((await both.waitFor((f) => f.width > 0)).mode, 1);
  t.is(e.stopVideoPreview(), 0);
});

test.serial("joinChannelWithOptions' custom_info is the userName the others get in onUserJoined", async (t) => {
  const a = makeEngine(url);
  const b = makeEngine(url);
  const ra = record(a);
  const rb = record(b);
  const channel = channelName('username');
  t.is(b.joinChannel('', channel, 52), 0);
  await rb.waitFor('onJoinChannel');
  t.is(a.joinChannelWithOptions('', channel, 51, { custom_info: 'x'.repeat(128) }), ErrorCode.ERR_INVALID_PARAM, 'NERTC allows 127 characters');
  t.is(a.joinChannelWithOptions('', channel, 51, { custom_info: 'Alice (测试)' }), 0);
  t.deepEqual(await rb.waitFor('onUserJoined', (uid) => uid === 51), [51, 'Alice (测试)']);
  // And the other way round: a plain joinChannel is an empty name.
  t.deepEqual(await ra.waitFor('onUserJoined', (uid) => uid === 52), [52, '']);
  t.is(a.leaveChannel(), 0);
  t.is(b.leaveChannel(), 0);
});

test.serial("getErrorDescription explains every code of NERTC's enum", (t) => {
  const e = new NERtcEngine();
  for (const [name, code] of api.enums.find((x) => x.name === 'NERtcErrorCode').members) {
    const desc = e.getErrorDescription(code);
    t.true(typeof desc === 'string' && desc.length > 0 && desc !== 'unknown error code', `${name} (${code}): ${desc}`);
  }
  t.is(e.getErrorDescription(12345), 'unknown error code');
});
