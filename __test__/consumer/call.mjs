// ESM consumer: NERTC's documented `import NERtcSDK from 'nertc-electron-sdk'`.
import NERtcSDK from 'nertc-electron-sdk';
import runCall from './call-flow.cjs';

try {
  await runCall(NERtcSDK, 'esm');
} catch (e) {
  console.error(e);
  process.exit(1);
}
