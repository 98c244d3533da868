// TypeScript consumer, ESM (module/moduleResolution nodenext), written the way NERTC's docs use
// the SDK. Checked with `tsc --noEmit --strict` by scripts/consumer-test.sh against the
// installed package's index.d.ts; never run. The @ts-expect-error lines are the negative half:
// if the typings degrade (to `any`, or lose the event map), each of them becomes an error.
import NERtcSDK from 'nertc-electron-sdk';
import type { NERtcEngineContext, NERtcVideoFrame, ErrorCodeValue, Uid, NERtcStats } from 'nertc-electron-sdk';
import { nertcServerPath } from 'nertc-electron-sdk/server-bin.js';

const server = new NERtcSDK.NERtcServer({ listen: '127.0.0.1:0', apps: { myapp: { secret: 's3cret' } } });
const url: string = await server.start();
const token: string = NERtcSDK.createToken('myapp', 's3cret', 'room 1', 1001, 600);

const rtcEngine = new NERtcSDK.NERtcEngine();
const context: NERtcEngineContext = { app_key: 'myapp', log_dir_path: './logs', log_level: 3, server_config: { channel_server: url } };
const rc: number = rtcEngine.initialize(context);
if (rc !== NERtcSDK.ErrorCode.OK) throw new Error(rtcEngine.getErrorDescription(rc));

rtcEngine.on('onJoinChannel', (cid: number, uid: Uid, result: number, elapsed: number) => {
  const ok: boolean = result === NERtcSDK.ErrorCode.OK;
  console.log(cid, uid, ok, elapsed.toFixed(0));
});
rtcEngine.on('onUserJoined', (uid, userName) => console.log(userName.toUpperCase(), uid));
rtcEngine.on('onUserVideoStart', (uid, maxProfile) => {
  rtcEngine.setupRemoteVideoCanvas(uid, {
    view: { drawFrame: (frame: NERtcVideoFrame) => console.log(frame.width * frame.height, frame.y.byteLength) },
    mode: NERtcSDK.VideoScalingMode.FIT,
  });
  rtcEngine.subscribeRemoteVideoStream(uid, NERtcSDK.RemoteVideoStreamType.HIGH, maxProfile >= 0);
});
rtcEngine.on('onRtcStats', (stats: NERtcStats) => console.log(stats));
rtcEngine.on('onConnectionStateChange', (state, reason) => {
  if (state === NERtcSDK.ConnectionState.FAILED) console.log('failed', reason);
});
rtcEngine.once('onLeaveChannel', (result) => console.log(result + 1));

const code: ErrorCodeValue = NERtcSDK.ErrorCode.ERR_TOKEN;
const joined: number = rtcEngine.joinChannel(token, 'room 1', 1001);
console.log(code, joined, rtcEngine.setupLocalVideoCanvas(null), rtcEngine.enableLocalVideo(true));
const serverBinary: string = nertcServerPath();
console.log(serverBinary);

// --- must not compile ---
// @ts-expect-error an event NERTC does not have
rtcEngine.on('onNoSuchEvent', () => {});
// @ts-expect-error onJoinChannel's first argument is the channel id (a number)
rtcEngine.on('onJoinChannel', (cid: string) => console.log(cid));
// @ts-expect-error joinChannel takes (token, channelName, uid)
rtcEngine.joinChannel('room 1', 1001);
// @ts-expect-error not a result code
const bogus: ErrorCodeValue = 12345;
// @ts-expect-error initialize needs an app_key
rtcEngine.initialize({ log_dir_path: './logs' });
console.log(bogus);
rtcEngine.release();
await server.stop();
