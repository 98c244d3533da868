#!/usr/bin/env node
'use strict';
// Builds the N-API addon with plain cargo into the workspace's own target dir (sharing every
// compiled dependency with `cargo build`/`cargo test`; `napi build --platform` passes --target
// and so rebuilds the whole dependency tree in a second directory), then copies the library to
// the file name index.js loads. `--release` for an optimised build. Packaging for other
// platforms stays with `npm run build` (@napi-rs/cli).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const release = process.argv.includes('--release');
execFileSync('cargo', ['build', '--quiet', '-p', 'nertc-electron-sdk', '--lib', ...(release ? ['--release'] : [])], {
  cwd: root,
  stdio: 'inherit',
});
const { platform, arch } = process;
const lib = { linux: 'libnertc_electron_sdk.so', darwin: 'libnertc_electron_sdk.dylib', win32: 'nertc_electron_sdk.dll' }[platform];
if (!lib) throw new Error(`unsupported platform ${platform}`);
const suffix = platform === 'linux' ? `linux-${arch}-${process.report?.getReport?.().header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
  : platform === 'win32' ? `win32-${arch}-msvc` : `darwin-${arch}`;
const from = path.join(root, 'target', release ? 'release' : 'debug', lib);
const to = path.join(root, `nertc-electron-sdk.${suffix}.node`);
fs.copyFileSync(from, to);
console.log(`addon: ${path.relative(root, to)}`);
