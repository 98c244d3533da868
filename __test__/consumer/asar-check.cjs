'use strict';
// Electron packaging check (scripts/consumer-test.sh): lays out electron-demo as
// electron-builder would (its `build.files` plus the consumer project's installed
// node_modules), packs it with @electron/asar using the demo's own `build.asarUnpack`
// patterns, and checks that the JS stays inside app.asar while the N-API addon and the
// nertc-server binary are outside it, in app.asar.unpacked (where Electron loads the addon
// from, and from where a binary can be spawned), intact, the server still executable, and that
// the unpacked addon loads, and that nertcServerPath() maps an in-archive path to
// app.asar.unpacked. electron-builder itself needs the Electron binary, not available
// here.
//
//   node asar-check.cjs DEMO_DIR CONSUMER_PROJECT_DIR OUT_DIR
const fs = require('node:fs');
const path = require('node:path');
const asar = require('@electron/asar');

const [demoDir, projectDir, outDir] = process.argv.slice(2).map((p) => path.resolve(p));
const demoPkg = JSON.parse(fs.readFileSync(path.join(demoDir, 'package.json'), 'utf8'));
const build = demoPkg.build;
const problems = [];
const expect = (ok, what) => {
  if (!ok) problems.push(what);
};

// 1. The app directory: the demo's `files` (plain names and `dir/**`) + node_modules.
const app = path.join(outDir, 'app');
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(app, { recursive: true });
for (const pattern of build.files) {
  const rel = pattern.replace(/\/\*\*$/, '');
  if (/[*?{]/.test(rel)) throw new Error(`asar-check: unsupported files pattern ${pattern}`);
  fs.cpSync(path.join(demoDir, rel), path.join(app, rel), { recursive: true });
}
fs.cpSync(path.join(projectDir, 'node_modules'), path.join(app, 'node_modules'), { recursive: true, dereference: true });

// 2. The archive, unpacking what the config says (electron-builder joins its globs the same way).
const archive = path.join(outDir, 'app.asar');
const unpack = build.asarUnpack.length === 1 ? build.asarUnpack[0] : `{${build.asarUnpack.join(',')}}`;
expect(build.asar === true, 'build.asar is not true');

(async () => {
  await asar.createPackageWithOptions(app, archive, { unpack });
  const unpackedDir = `${archive}.unpacked`;
  const inArchive = new Set(asar.listPackage(archive).map((f) => f.split(path.sep).join('/')));
  const sdk = '/node_modules/nertc-electron-sdk';
  const plat = '/node_modules/nertc-electron-sdk-linux-x64-gnu';
  const mustBeOutside = [`${plat}/nertc-electron-sdk.linux-x64-gnu.node`, `${plat}/nertc-server`];
  const mustBeInside = ['/main.js', '/package.json', '/renderer/app.js', `${sdk}/index.js`, `${sdk}/server-bin.js`, `${sdk}/renderer.js`, `${plat}/package.json`];

  for (const f of mustBeInside) {
    expect(inArchive.has(f), `${f} is not in the archive`);
    if (inArchive.has(f)) expect(!asar.statFile(archive, f.slice(1)).unpacked, `${f} was unpacked (should stay inside app.asar)`);
  }
  for (const f of mustBeOutside) {
    expect(inArchive.has(f), `${f} is not listed in the archive`);
    if (!inArchive.has(f)) continue;
    expect(asar.statFile(archive, f.slice(1)).unpacked === true, `${f} is inside app.asar (asarUnpack missed it)`);
    const file = path.join(unpackedDir, f);
    const source = path.join(app, f);
    expect(fs.existsSync(file), `${file} is missing`);
    if (fs.existsSync(file)) expect(fs.statSync(file).size === fs.statSync(source).size, `${file} differs in size from ${source}`);
  }
  const server = path.join(unpackedDir, plat, 'nertc-server');
  if (fs.existsSync(server)) {
    expect((fs.statSync(server).mode & 0o111) !== 0, `${server} is not executable`);
  }
  // Nothing else native slipped inside the archive.
  for (const f of inArchive) {
    if (f.endsWith('.node')) expect(asar.statFile(archive, f.slice(1)).unpacked === true, `${f}: a .node inside app.asar`);
  }
  // The unpacked addon is a loadable Node-API module.
  const addon = path.join(unpackedDir, plat, 'nertc-electron-sdk.linux-x64-gnu.node');
  if (fs.existsSync(addon)) {
    const native = require(addon);
    expect(typeof native.eventNames === 'function' && native.eventNames().includes('onJoinChannel'), `${addon} does not load as the addon`);
  }
  // What Electron shows the app: app.asar as a directory (its files, the unpacked ones too,
  // though those cannot be executed from there) beside app.asar.unpacked. Here: the archive
  // extracted into a directory named app.asar, without the server binary, so that only the
  // mapping to app.asar.unpacked can find it. nertcServerPath() must return that path.
  const sim = path.join(outDir, 'electron-view');
  asar.extractAll(archive, path.join(sim, 'app.asar'));
  fs.rmSync(path.join(sim, 'app.asar', plat, 'nertc-server'), { force: true });
  fs.cpSync(unpackedDir, path.join(sim, 'app.asar.unpacked'), { recursive: true });
  const found = require(path.join(sim, 'app.asar', sdk, 'server-bin.js')).nertcServerPath();
  expect(found === path.join(sim, 'app.asar.unpacked', plat, 'nertc-server'), `nertcServerPath() inside app.asar gave ${found}`);
  const size = (p) => fs.statSync(p).size;
  const unpackedFiles = fs.readdirSync(unpackedDir, { recursive: true }).filter((f) => fs.statSync(path.join(unpackedDir, f)).isFile());
  console.log(
    `asar-check: app.asar ${(size(archive) / 1048576).toFixed(1)} MiB with ${inArchive.size} entries; ` +
      `app.asar.unpacked: ${unpackedFiles.map((f) => f.split(path.sep).join('/')).join(', ')}`,
  );
  if (problems.length) {
    for (const p of problems) console.error(`asar-check: ${p}`);
    process.exit(1);
  }
  console.log('asar-check: ok');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
