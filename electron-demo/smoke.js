#!/usr/bin/env node
'use strict';
// Smoke test of the Electron demo, for machines that have Electron:
//
//   node electron-demo/smoke.js [nertc|secure ...]      (npm run test:electron from the root)
//
// For each mode (default: both) it launches the demo hidden with the embedded room server
// (`electron electron-demo --smoke --mode=M`); main.js joins a channel from the page, adds a
// second participant in the main process, waits until the page drew local and remote frames,
// reloads the page once (a reload while frames and events are in flight is where
// thread-safe-function misuse crashes), checks again and exits 0 or 1.
//
// Where Electron is not installed it prints why and exits 0 with "skipped". On Linux without a
// display it runs under xvfb-run when that exists.

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const DEMO_DIR = __dirname;
const TIMEOUT_MS = 180000;

/** The Electron binary: ELECTRON_PATH, else the `electron` npm package (demo's, then repo's). */
function findElectron() {
  if (process.env.ELECTRON_PATH) {
    return fs.existsSync(process.env.ELECTRON_PATH) ? { bin: process.env.ELECTRON_PATH } : { why: `ELECTRON_PATH=${process.env.ELECTRON_PATH} does not exist` };
  }
  let why = 'the electron package is not installed (npm --prefix electron-demo install)';
  for (const base of [DEMO_DIR, path.resolve(DEMO_DIR, '..')]) {
    let pkg;
    try {
      pkg = require.resolve('electron', { paths: [base] });
    } catch {
      continue;
    }
    try {
      // The electron package's main export is the path of the downloaded binary; requiring it
      // throws when the download never happened.
      const bin = require(pkg);
      if (typeof bin === 'string' && fs.existsSync(bin)) return { bin };
      why = `the electron package at ${path.dirname(pkg)} has no binary (its download failed?)`;
    } catch (e) {
      why = `the electron package at ${path.dirname(pkg)} is unusable: ${String((e && e.message) || e).split('\n')[0]}`;
    }
  }
  return { why };
}

function hasCommand(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return r.status === 0;
}

function runMode(bin, mode) {
  return new Promise((resolve) => {
    const electronArgs = [DEMO_DIR, '--smoke', `--mode=${mode}`];
    // Chromium refuses to run as root with its sandbox on.
    if (typeof process.getuid === 'function' && process.getuid() === 0) electronArgs.unshift('--no-sandbox');
    let cmd = bin;
    let cmdArgs = electronArgs;
    const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
    if (headless) {
      if (hasCommand('xvfb-run')) {
        cmd = 'xvfb-run';
        cmdArgs = ['-a', bin, ...electronArgs];
      } else {
        console.warn('smoke: no DISPLAY and no xvfb-run; trying Electron anyway (apt-get install xvfb if it fails)');
      }
    }
    const started = Date.now();
    const child = spawn(cmd, cmdArgs, { cwd: DEMO_DIR, env: { ...process.env, ELECTRON_ENABLE_LOGGING: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let result = null;
    const onData = (chunk, stream) => {
      const text = chunk.toString();
      out += text;
      if (out.length > 200000) out = out.slice(-100000);
      for (const line of text.split('\n')) {
        const m = /SMOKE-RESULT (\{.*\})/.exec(line);
        if (m) {
          try {
            result = JSON.parse(m[1]);
          } catch {
            // keep looking
          }
        }
      }
      if (process.env.SMOKE_VERBOSE) stream.write(text);
    };
    child.stdout.on('data', (c) => onData(c, process.stdout));
    child.stderr.on('data', (c) => onData(c, process.stderr));
    const timer = setTimeout(() => {
      console.error(`smoke[${mode}]: timed out after ${TIMEOUT_MS} ms; killing Electron`);
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ mode, ok: false, error: `cannot start ${cmd}: ${e.message}`, output: out });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const ok = code === 0 && !!result && result.ok === true;
      resolve({ mode, ok, code, signal, result, ms: Date.now() - started, output: out });
    });
  });
}

async function main() {
  const modes = process.argv.slice(2).filter((a) => a === 'nertc' || a === 'secure');
  const found = findElectron();
  if (!found.bin) {
    console.log(`electron-demo smoke test: skipped (${found.why})`);
    process.exit(0);
  }
  let failed = 0;
  for (const mode of modes.length ? modes : ['nertc', 'secure']) {
    const r = await runMode(found.bin, mode);
    if (r.ok) {
      const steps = (r.result.steps || []).map((s) => `${s.step}: frames ${JSON.stringify(s.frames)} (${s.backend})`).join('; ');
      console.log(`smoke[${mode}]: ok in ${r.ms} ms — ${steps}`);
    } else {
      failed++;
      console.log(`smoke[${mode}]: FAILED (exit ${r.code}${r.signal ? `, signal ${r.signal}` : ''}) ${r.result ? JSON.stringify(r.result) : r.error || 'no SMOKE-RESULT line'}`);
      console.log(r.output.split('\n').slice(-60).join('\n'));
    }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`smoke: ${(e && e.stack) || e}`);
  process.exit(1);
});
