// Headless Chromium for the tests (__test__/*.spec.mjs) and the benchmark (bench/chromium/run.mjs),
// through playwright-core: finds the binary, launches it with one set of switches, opens pages
// that collect their console, and closes everything (including processes a hung close leaves).
//
//   import { launchChromium } from '../scripts/chromium.mjs';
//   const chromium = await launchChromium({ name: 'renderer', viewport: { width: 800, height: 600 } });
//   const page = await chromium.openPage(url, { ready: () => window.ready === true });
//   ...
//   await chromium.close();
//
// Lives in scripts/ (not __test__/) because the benchmark uses it too and ava must not take it
// for a spec. Env: CHROMIUM_BIN (the binary; else the first of CANDIDATES that exists, else
// playwright's own download), CHROMIUM_EXTRA_ARGS (appended to every launch).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/** Where a system Chromium usually is (Debian/Ubuntu, Fedora, Chrome, snap, macOS). */
export const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
  '/snap/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
];

/**
 * Every launch gets these (playwright adds --headless, --no-sandbox and its own set):
 * - no GPU: WebGL 1/2 through ANGLE on SwiftShader; --enable-unsafe-swiftshader keeps that on
 *   builds where the automatic software fallback for WebGL is off (the renderer tests need it);
 * - fake camera and microphone, permission prompts auto-accepted, autoplay without a gesture,
 *   WebRTC allowed on loopback (the tests and the benchmark run in a loopback-only namespace);
 * - no background work or network (updates, sync, QUIC), no throttling of pages not in front.
 */
export const CHROMIUM_ARGS = Object.freeze([
  '--no-sandbox',
  '--disable-gpu',
  '--enable-unsafe-swiftshader',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The Chromium binary: $CHROMIUM_BIN, else the first existing candidate, else playwright's. */
export function findChromium() {
  const env = process.env.CHROMIUM_BIN;
  if (env) {
    if (!fs.existsSync(env)) throw new Error(`CHROMIUM_BIN=${env} does not exist`);
    return env;
  }
  const tried = [...CANDIDATES];
  for (const file of CANDIDATES) if (fs.existsSync(file)) return file;
  try {
    const bundled = chromium.executablePath();
    if (bundled && fs.existsSync(bundled)) return bundled;
    tried.push(bundled);
  } catch {
    // playwright-core without a browser download
  }
  throw new Error(`no Chromium found (set CHROMIUM_BIN); tried:\n  ${tried.join('\n  ')}`);
}

/** Extra switches from $CHROMIUM_EXTRA_ARGS (space-separated). */
function envArgs() {
  return (process.env.CHROMIUM_EXTRA_ARGS ?? '').split(/\s+/).filter(Boolean);
}

/**
 * pids of the processes of the Chromium using profile `dir` (its command line names the
 * directory) and their descendants. Linux (/proc); empty elsewhere.
 */
export function profileProcesses(dir) {
  let names;
  try {
    names = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const parent = new Map();
  const roots = [];
  for (const name of names) {
    const pid = Number(name);
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) roots.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  const members = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parent) {
      if (!members.has(pid) && members.has(ppid)) {
        members.add(pid);
        grew = true;
      }
    }
  }
  return [...members].filter((pid) => pid !== process.pid);
}

/**
 * Launches one Chromium instance with its own temporary profile (a persistent context: its
 * process tree is findable by that directory). Options: `name` (the profile directory's
 * prefix), `args` (switches after CHROMIUM_ARGS and $CHROMIUM_EXTRA_ARGS), and any
 * playwright context option (`viewport`, `deviceScaleFactor`, ...).
 */
export async function launchChromium({ name = 'chromium', args = [], ...contextOptions } = {}) {
  const executablePath = findChromium();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nertc-${name}-`));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(dir, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...envArgs(), ...args],
      ...contextOptions,
    });
  } catch (e) {
    await killAndRemove(dir);
    throw e;
  }
  return new ChromiumInstance(ctx, dir, executablePath);
}

async function killAndRemove(dir) {
  const left = profileProcesses(dir);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (left.length) await sleep(300);
  fs.rmSync(dir, { recursive: true, force: true });
}

export class ChromiumInstance {
  constructor(ctx, dir, executablePath) {
    /** The playwright BrowserContext. */
    this.ctx = ctx;
    /** The temporary profile directory (also how this instance's processes are found). */
    this.dir = dir;
    this.executablePath = executablePath;
    this._closing = null;
  }

  /** Chromium's version, e.g. "156.0.8078.108" ('' when unknown). */
  get version() {
    return this.ctx.browser()?.version() ?? '';
  }

  /**
   * A page, with its console lines (`[<name> ]console.<type>] text`, `[<name> ]pageerror] msg`,
   * `[<name> ]crash]`) kept in `page.logs` (those matching `noise` are dropped) and passed to
   * `onLog(line, type)`. `reuse`: take the tab the browser opened with when it is still
   * blank. `initScript` runs before the page's own scripts. With `url` the page is loaded and,
   * with `ready` (a function evaluated in the page), waited for until it returns truthy.
   */
  async openPage(url = null, { name = '', noise = null, onLog = null, initScript = null, ready = null, readyTimeout = 30_000, reuse = false } = {}) {
    const blank = reuse ? this.ctx.pages().find((p) => p.url() === 'about:blank') : undefined;
    const page = blank ?? (await this.ctx.newPage());
    const logs = [];
    const prefix = name ? `${name} ` : '';
    const keep = (line, type) => {
      logs.push(line);
      if (onLog) onLog(line, type);
    };
    page.on('console', (m) => {
      const text = m.text();
      if (!noise || !noise.test(text)) keep(`[${prefix}console.${m.type()}] ${text}`, m.type());
    });
    page.on('pageerror', (e) => keep(`[${prefix}pageerror] ${e.message}`, 'pageerror'));
    page.on('crash', () => keep(`[${prefix}crash] page crashed`, 'crash'));
    page.logs = logs;
    if (initScript) await page.addInitScript(initScript);
    if (url) {
      await page.goto(url);
      if (ready) await page.waitForFunction(ready, null, { timeout: readyTimeout });
    }
    return page;
  }

  /**
   * Closes every page and the browser (at most `timeoutMs`), then kills whatever is left of
   * this instance's process tree and removes its profile. Safe to call twice.
   */
  close({ timeoutMs = 5000 } = {}) {
    if (!this._closing) {
      this._closing = (async () => {
        await Promise.race([this.ctx.close().catch(() => {}), sleep(timeoutMs)]);
        await killAndRemove(this.dir);
      })();
    }
    return this._closing;
  }
}
