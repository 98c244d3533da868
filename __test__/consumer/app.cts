// TypeScript consumer, CommonJS (the classic Electron main/renderer setup: module commonjs,
// esModuleInterop), written the way NERTC's docs use the SDK. Checked with
// `tsc --noEmit --strict` by scripts/consumer-test.sh; never run.
import NERtcSDK from 'nertc-electron-sdk';
import { ErrorCode, NERtcEngine } from 'nertc-electron-sdk';
import type { NERtcEvents } from 'nertc-electron-sdk';

const engine: NERtcEngine = new NERtcSDK.NERtcEngine();
const onUserLeft: NERtcEvents['onUserLeft'] = (uid, reason) => console.log(uid, reason === NERtcSDK.UserLeftReason.TIMEOUT);
engine.on('onUserLeft', onUserLeft);
engine.on('onFirstVideoFrameDecoded', (uid, width, height) => console.log(uid, width * height));
engine.on('onWarning', (code, msg) => console.log(code === ErrorCode.WARN_HANDLER_THREW, msg.length));
const devices = engine.enumerateVideoCaptureDevices().map((d) => d.device_id);
const rc: number = engine.setVideoDevice(devices[0] ?? 'nertc-test-pattern');
console.log(rc, engine.getConnectionState() === NERtcSDK.ConnectionState.CONNECTED);

// @ts-expect-error listeners are typed per event: onUserLeft's reason is a number
engine.on('onUserLeft', (uid: Uid, reason: string) => console.log(uid, reason));
// @ts-expect-error setVideoDevice takes a device id string
engine.setVideoDevice(0);
type Uid = import('nertc-electron-sdk').Uid;
