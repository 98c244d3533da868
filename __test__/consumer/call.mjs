// ESM consumer: NERTC's documented `import NERtcSDK from 'nertc-electron-sdk'`, and named
// imports of the same objects.
import NERtcSDK, { NERtcEngine, NERtcServer } from 'nertc-electron-sdk';
import runCall from './call-flow.cjs';

try {
  if (NERtcEngine !== NERtcSDK.NERtcEngine || NERtcServer !== NERtcSDK.NERtcServer) {
    throw new Error('named ESM imports are not the default export\'s classes');
  }
  await runCall(NERtcSDK, 'esm');
} catch (e) {
  console.error(e);
  process.exit(1);
}
