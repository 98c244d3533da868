#!/usr/bin/env node
// Re-reads NERTC's Electron SDK 5.x API surface and refreshes nertc-api/nertc-5x.json.
//
// Usage (from the repository root):
//   node nertc-api/extract.mjs <git-dir of netease-im/node-nertc-sdk> [ref=support/5xx]
//
// What it takes from NERTC's TypeScript (`nertc_sdk_ts/api/index.ts` and `defs.ts` at `ref`):
// only the contract — each public `NERtcEngine` method's name, parameter list and return type,
// each event's name and argument names (`fire('name', ...)` in `initEventHandler`), and each
// enum's member names and values. No doc text is copied.
//
// What it keeps from the existing JSON: everything this SDK decides per method (`status`,
// `fail`, `note`, `args`) and per event (`status`), matched by name. Methods new in NERTC's
// file come in as `status: "unsupported"` until someone implements them; methods that
// disappeared are dropped (and reported on stderr).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, 'nertc-5x.json');
const [gitDir, ref = 'support/5xx'] = process.argv.slice(2);
if (!gitDir) {
  console.error('usage: node nertc-api/extract.mjs <git-dir> [ref]');
  process.exit(2);
}
const git = (...args) => execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
const commit = git('rev-parse', ref).trim();
const INDEX = 'nertc_sdk_ts/api/index.ts';
const DEFS = 'nertc_sdk_ts/api/defs.ts';
const index = git('show', `${commit}:${INDEX}`);
const defs = git('show', `${commit}:${DEFS}`);

/** Helpers of NERtcEngine that are not part of its API (rendering plumbing, event wiring). */
const INTERNAL = new Set([
  'constructor',
  'initEventHandler',
  'doVideoFrameReceived',
  'initRender',
  'initSubStreamRender',
  'captureRender',
  'destroyRender',
  'destroySubStreamRender',
]);

function classBody(src, name) {
  const start = src.indexOf(`class ${name} `);
  if (start < 0) throw new Error(`class ${name} not found`);
  let depth = 0;
  for (let i = src.indexOf('{', start); i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) return src.slice(start, i + 1);
  }
  throw new Error(`class ${name} not closed`);
}

/** Public methods: a line indented 4-6 spaces starting `name(`, its signature up to the `{`. */
function methods(body) {
  const lines = body.split('\n');
  const found = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {4,6}([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(lines[i]);
    if (!m || m[1].startsWith('_') || INTERNAL.has(m[1]) || /^(if|for|while|switch|return)$/.test(m[1])) continue;
    let sig = '';
    let depth = 0;
    let done = false;
    for (let j = i; j < lines.length && !done; j++) {
      const line = lines[j].replace(/\/\/.*$/, '');
      for (const ch of line) {
        if (ch === '(') depth++;
        if (ch === ')') depth--;
        if (ch === '{' && depth === 0) {
          done = true;
          break;
        }
        sig += ch;
      }
      sig += ' ';
    }
    sig = sig.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').replace(/,\s*\)/g, ')').trim();
    const ret = /\)\s*:\s*(.+)$/.exec(sig);
    found.push({ name: m[1], signature: sig, returns: ret ? ret[1].trim() : 'void' });
  }
  return found;
}

/** Events: `fire('name', a, b)` in initEventHandler, with the argument names passed. */
function events(body) {
  const seen = new Map();
  for (const m of body.matchAll(/fire\(\s*'([A-Za-z0-9_]+)'\s*((?:,[^;]*?)?)\)\s*;/g)) {
    if (seen.has(m[1])) continue;
    const args = m[2]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    seen.set(m[1], args);
  }
  return [...seen].map(([name, args]) => ({ name, args }));
}

/** Enums of defs.ts: members in order with their numeric values (implicit ones counted on). */
function enums(src) {
  const list = [];
  for (const m of src.matchAll(/export enum\s+([A-Za-z0-9_]+)\s*\{([^}]*)\}/g)) {
    const body = m[2].replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    const members = [];
    const values = new Map();
    let next = 0;
    for (const part of body.split(',')) {
      const p = part.trim();
      if (!p) continue;
      const [k, v] = p.split('=').map((s) => s.trim());
      let value;
      if (v === undefined) value = next;
      else if (/^-?\d+$/.test(v)) value = Number(v);
      else if (/^0x[0-9a-f]+$/i.test(v)) value = Number(v);
      else if (values.has(v)) value = values.get(v);
      else if (/^'.*'$|^".*"$/.test(v)) value = v.slice(1, -1);
      else throw new Error(`${m[1]}.${k}: cannot evaluate ${v}`);
      values.set(k, value);
      members.push([k, value]);
      if (typeof value === 'number') next = value + 1;
    }
    list.push({ name: m[1], members });
  }
  return list;
}

const body = classBody(index, 'NERtcEngine');
const prev = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : { methods: [], events: [] };
const prevMethods = new Map(prev.methods.map((m) => [m.name, m]));
const prevEvents = new Map(prev.events.map((e) => [e.name, e]));

const methodList = methods(body).map((m) => {
  const p = prevMethods.get(m.name);
  prevMethods.delete(m.name);
  const keep = p ? { status: p.status, fail: p.fail, args: p.args, note: p.note } : { status: 'unsupported' };
  return { ...m, ...Object.fromEntries(Object.entries(keep).filter(([, v]) => v !== undefined)) };
});
const eventList = events(body).map((e) => {
  const p = prevEvents.get(e.name);
  prevEvents.delete(e.name);
  return { ...e, status: p ? p.status : 'not emitted', ...(p && p.note ? { note: p.note } : {}) };
});
for (const name of prevMethods.keys()) console.error(`dropped method (no longer in NERTC's file): ${name}`);
for (const name of prevEvents.keys()) console.error(`dropped event (no longer in NERTC's file): ${name}`);

const doc = {
  about:
    "NERTC Electron SDK 5.x's public NERtcEngine surface (names, parameter lists, return types, events, enums: the API contract) and this SDK's status for each. Refresh with nertc-api/extract.mjs.",
  source: {
    repo: 'netease-im/node-nertc-sdk',
    branch: ref,
    commit,
    files: [INDEX, DEFS],
  },
  statuses: {
    real: 'implemented',
    unsupported: 'exists, never throws, logs once and returns `fail` (30004 for methods returning a code)',
  },
  methods: methodList,
  events: eventList,
  enums: enums(defs),
};
/** Pretty at the top, one line per method, event and enum: reviewable diffs. */
function format(value) {
  const lines = ['{'];
  const keys = Object.keys(value);
  keys.forEach((k, i) => {
    const v = value[k];
    const comma = i < keys.length - 1 ? ',' : '';
    if (Array.isArray(v)) {
      lines.push(`  ${JSON.stringify(k)}: [`);
      v.forEach((item, j) => lines.push(`    ${JSON.stringify(item)}${j < v.length - 1 ? ',' : ''}`));
      lines.push(`  ]${comma}`);
    } else {
      lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}${comma}`);
    }
  });
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
fs.writeFileSync(out, format(doc));
const count = (s) => methodList.filter((m) => m.status === s).length;
console.log(
  `${out}: ${methodList.length} methods (${count('real')} real, ${count('unsupported')} unsupported), ` +
    `${eventList.length} events (${eventList.filter((e) => e.status === 'emitted').length} emitted), ${doc.enums.length} enums`,
);
