'use strict';
// Where the standalone room server binary (`nertc-server`) of this install is, for
// `npx nertc-server` (bin/nertc-server.js) and for apps that run it as a child process:
//
//   const { nertcServerPath } = require('nertc-electron-sdk/server-bin');
//   child_process.spawn(nertcServerPath(), ['--listen', '127.0.0.1:8480']);
//
// Looked for like the addon: NERTC_SERVER_BIN; a local build (next to this file, or cargo's
// target/release then target/debug in a checkout); the prebuilt package
// `nertc-electron-sdk-<platform>`. A path inside an Electron asar archive is mapped to
// app.asar.unpacked (a binary cannot run from inside the archive: unpack it with asarUnpack).
const fs = require('node:fs');
const path = require('node:path');

const EXE = process.platform === 'win32' ? 'nertc-server.exe' : 'nertc-server';

function platformSuffixes() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    let musl = false;
    try {
      musl = !process.report.getReport().header.glibcVersionRuntime;
    } catch {}
    return musl ? [`linux-${arch}-musl`, `linux-${arch}-gnu`] : [`linux-${arch}-gnu`, `linux-${arch}-musl`];
  }
  if (platform === 'win32') return [`win32-${arch}-msvc`, `win32-${arch}-gnu`];
  if (platform === 'darwin') return [`darwin-${arch}`, 'darwin-universal'];
  return [`${platform}-${arch}`];
}

/** `…/app.asar/…` -> `…/app.asar.unpacked/…` when the unpacked file exists. */
function outsideAsar(file) {
  const marker = `${path.sep}app.asar${path.sep}`;
  const i = file.indexOf(marker);
  if (i < 0) return file;
  const unpacked = file.slice(0, i) + `${path.sep}app.asar.unpacked${path.sep}` + file.slice(i + marker.length);
  return fs.existsSync(unpacked) ? unpacked : file;
}

/** Every place looked at, best first: `[{file, from}]`. */
function serverCandidates() {
  const list = [];
  if (process.env.NERTC_SERVER_BIN) list.push({ file: path.resolve(process.env.NERTC_SERVER_BIN), from: 'NERTC_SERVER_BIN' });
  list.push({ file: path.join(__dirname, EXE), from: 'local build' });
  if (fs.existsSync(path.join(__dirname, 'Cargo.toml'))) {
    for (const profile of ['release', 'debug']) list.push({ file: path.join(__dirname, 'target', profile, EXE), from: `cargo ${profile} build` });
  }
  for (const s of platformSuffixes()) {
    const pkg = `nertc-electron-sdk-${s}`;
    let dir = null;
    try {
      dir = path.dirname(require.resolve(`${pkg}/package.json`));
    } catch {}
    list.push(dir ? { file: outsideAsar(path.join(dir, EXE)), from: pkg } : { file: null, from: `${pkg} (not installed)` });
  }
  return list;
}

/** The path of a runnable `nertc-server`; throws naming the platform and what was tried. */
function nertcServerPath() {
  const tried = [];
  for (const c of serverCandidates()) {
    if (!c.file) {
      tried.push(c.from);
      continue;
    }
    try {
      fs.accessSync(c.file, process.platform === 'win32' ? fs.constants.F_OK : fs.constants.X_OK);
      return c.file;
    } catch (e) {
      tried.push(`${c.file} (${c.from}): ${e.code === 'ENOENT' ? 'not found' : e.code}`);
    }
  }
  throw new Error(
    `nertc-electron-sdk: no nertc-server binary for ${platformSuffixes()[0]}. It ships in the ` +
      `optional package nertc-electron-sdk-${platformSuffixes()[0]} (reinstall without --omit=optional), ` +
      `or build it with \`cargo build --release -p nertc-server\` in a checkout.\nTried:\n  ${tried.join('\n  ')}`,
  );
}

module.exports = { nertcServerPath, serverCandidates };
