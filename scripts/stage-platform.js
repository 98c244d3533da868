#!/usr/bin/env node
'use strict';
// Copies a built addon and nertc-server binary into npm/<platform>/ under the names that
// package publishes (`nertc-electron-sdk.<platform>.node`, `nertc-server[.exe]`).
//
//   node scripts/stage-platform.js linux-x64-gnu --addon target/release/libnertc_electron_sdk.so \
//       --server target/release/nertc-server
const fs = require('node:fs');
const path = require('node:path');
const { PLATFORMS, NAME, pkgDir } = require('./platforms');

const [platform, ...rest] = process.argv.slice(2);
const opt = (flag) => {
  const i = rest.indexOf(flag);
  return i >= 0 ? rest[i + 1] : undefined;
};
const p = PLATFORMS[platform];
if (!p || !opt('--addon') || !opt('--server')) {
  console.error(`usage: stage-platform.js <${Object.keys(PLATFORMS).join('|')}> --addon FILE --server FILE`);
  process.exit(2);
}
const dir = pkgDir(platform);
const copies = [
  [opt('--addon'), path.join(dir, `${NAME}.${platform}.node`), 0o644],
  [opt('--server'), path.join(dir, p.exe), 0o755],
];
for (const [from, to, mode] of copies) {
  fs.copyFileSync(from, to);
  fs.chmodSync(to, mode);
  console.log(`stage: ${path.relative(process.cwd(), to)} (${(fs.statSync(to).size / 1048576).toFixed(1)} MiB)`);
}
