'use strict';
// CommonJS consumer: NERTC's documented `require('nertc-electron-sdk').default`.
const runCall = require('./call-flow.cjs');

runCall(require('nertc-electron-sdk').default, 'cjs').catch((e) => {
  console.error(e);
  process.exit(1);
});
