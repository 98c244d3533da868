#!/usr/bin/env node
'use strict';
// The prebuilt platforms, napi-rs style: one npm package each under npm/<platform>/ holding the
// N-API addon `nertc-electron-sdk.<platform>.node` and the standalone `nertc-server` binary,
// each an optionalDependency of the published main package (npm installs only the one whose
// os/cpu/libc match). The optionalDependencies are written at pack time, not kept in the
// repository's package.json: the names are not on the registry yet, and a development
// `npm install` must never fetch a prebuilt (index.js loads the local build first anyway).
//
//   node scripts/platforms.js --check                   npm/*/package.json agree with the table
//   node scripts/platforms.js --write                   (re)write npm/*/package.json
//   node scripts/platforms.js --set-version V           version V everywhere (release workflow)
//   node scripts/platforms.js --pack OUTDIR [PLATFORM…] npm pack the main package (with its
//        optionalDependencies) and the named platform packages into OUTDIR; prints the
//        tarballs' names and sizes. Platform packages need their files staged first
//        (scripts/stage-platform.js).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const NAME = 'nertc-electron-sdk';

/** platform suffix -> Rust target, npm os/cpu/libc, the server binary's file name. */
const PLATFORMS = {
  'linux-x64-gnu': { target: 'x86_64-unknown-linux-gnu', os: 'linux', cpu: 'x64', libc: 'glibc', exe: 'nertc-server' },
  'linux-arm64-gnu': { target: 'aarch64-unknown-linux-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc', exe: 'nertc-server' },
  'darwin-x64': { target: 'x86_64-apple-darwin', os: 'darwin', cpu: 'x64', exe: 'nertc-server' },
  'darwin-arm64': { target: 'aarch64-apple-darwin', os: 'darwin', cpu: 'arm64', exe: 'nertc-server' },
  'win32-x64-msvc': { target: 'x86_64-pc-windows-msvc', os: 'win32', cpu: 'x64', exe: 'nertc-server.exe' },
};

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
const pkgDir = (platform) => path.join(ROOT, 'npm', platform);
const mainPackage = () => readJson(path.join(ROOT, 'package.json'));

/** What npm/<platform>/package.json must say (given the main package.json). */
function platformPackage(platform, main) {
  const p = PLATFORMS[platform];
  return {
    name: `${NAME}-${platform}`,
    version: main.version,
    description: `The ${p.target} prebuilt of ${NAME}: the N-API addon and the nertc-server binary`,
    os: [p.os],
    cpu: [p.cpu],
    ...(p.libc ? { libc: [p.libc] } : {}),
    main: `${NAME}.${platform}.node`,
    files: [`${NAME}.${platform}.node`, p.exe],
    license: main.license,
    engines: main.engines,
  };
}

/** The main package.json as published: the repository's plus one optionalDependency a platform. */
function publishedMainPackage(main) {
  const optionalDependencies = {};
  for (const platform of Object.keys(PLATFORMS)) optionalDependencies[`${NAME}-${platform}`] = main.version;
  return { ...main, optionalDependencies };
}

function check() {
  const main = mainPackage();
  const problems = [];
  for (const platform of Object.keys(PLATFORMS)) {
    const file = path.join(pkgDir(platform), 'package.json');
    if (!fs.existsSync(file)) {
      problems.push(`${file} is missing`);
      continue;
    }
    const got = readJson(file);
    for (const [k, v] of Object.entries(platformPackage(platform, main))) {
      if (JSON.stringify(got[k]) !== JSON.stringify(v)) problems.push(`${file}: ${k} is ${JSON.stringify(got[k])}, want ${JSON.stringify(v)}`);
    }
  }
  const targets = (main.napi && main.napi.targets) || [];
  const want = Object.values(PLATFORMS).map((p) => p.target);
  if (JSON.stringify([...targets].sort()) !== JSON.stringify([...want].sort())) problems.push(`package.json: napi.targets [${targets}] != [${want}]`);
  if ((main.files || []).some((f) => f.endsWith('.node'))) problems.push('package.json: files lists a .node (prebuilts ship in the platform packages)');
  // index.js names the prebuilt platforms in its error message.
  const listed = fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8').match(/const PREBUILT_PLATFORMS = (\[[^\]]*\]);/);
  const names = listed ? JSON.parse(listed[1].replace(/'/g, '"')) : null;
  if (JSON.stringify(names) !== JSON.stringify(Object.keys(PLATFORMS))) problems.push(`index.js: PREBUILT_PLATFORMS is ${JSON.stringify(names)}, want ${JSON.stringify(Object.keys(PLATFORMS))}`);
  return problems;
}

function writeAll(main) {
  for (const platform of Object.keys(PLATFORMS)) {
    fs.mkdirSync(pkgDir(platform), { recursive: true });
    writeJson(path.join(pkgDir(platform), 'package.json'), platformPackage(platform, main));
  }
}

/** `npm pack` of `dir` into `outDir`; returns {file, size}. */
function npmPack(dir, outDir) {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', outDir], { cwd: dir, encoding: 'utf8' });
  const [info] = JSON.parse(out);
  const file = path.join(outDir, info.filename);
  return { file, size: fs.statSync(file).size, unpackedSize: info.unpackedSize, entries: info.entryCount };
}

/** Packs the main package (staged in a temp dir with the published package.json) and the platforms. */
function pack(outDir, platforms) {
  fs.mkdirSync(outDir, { recursive: true });
  const main = mainPackage();
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'nertc-pack-'));
  try {
    for (const entry of main.files) {
      const from = path.join(ROOT, entry);
      fs.cpSync(from, path.join(stage, entry), { recursive: true });
    }
    for (const extra of ['README.md']) fs.copyFileSync(path.join(ROOT, extra), path.join(stage, extra));
    writeJson(path.join(stage, 'package.json'), publishedMainPackage(main));
    const results = [{ name: main.name, ...npmPack(stage, outDir) }];
    for (const platform of platforms) {
      const dir = pkgDir(platform);
      for (const f of platformPackage(platform, main).files) {
        if (!fs.existsSync(path.join(dir, f))) throw new Error(`${path.join(dir, f)} is missing: stage it with scripts/stage-platform.js`);
      }
      results.push({ name: `${NAME}-${platform}`, ...npmPack(dir, outDir) });
    }
    return results;
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

module.exports = { PLATFORMS, NAME, ROOT, pkgDir, platformPackage, publishedMainPackage, check, pack };

if (require.main === module) {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === '--check') {
    const problems = check();
    for (const p of problems) console.error(`platforms: ${p}`);
    if (problems.length) process.exit(1);
    console.log(`platforms: ${Object.keys(PLATFORMS).length} platform packages agree with package.json`);
  } else if (cmd === '--write') {
    writeAll(mainPackage());
  } else if (cmd === '--set-version' && args[0]) {
    const main = { ...mainPackage(), version: args[0] };
    writeJson(path.join(ROOT, 'package.json'), main);
    writeAll(main);
  } else if (cmd === '--pack' && args[0]) {
    const unknown = args.slice(1).filter((p) => !PLATFORMS[p]);
    if (unknown.length) throw new Error(`unknown platform(s) ${unknown}`);
    for (const r of pack(path.resolve(args[0]), args.slice(1))) {
      console.log(`pack: ${path.basename(r.file)}  ${(r.size / 1048576).toFixed(2)} MiB packed, ${(r.unpackedSize / 1048576).toFixed(2)} MiB unpacked, ${r.entries} files`);
    }
  } else {
    console.error('usage: node scripts/platforms.js --check | --write | --set-version VERSION | --pack OUTDIR [PLATFORM...]');
    process.exit(2);
  }
}
