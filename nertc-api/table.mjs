#!/usr/bin/env node
// Prints the README's NERTC method and event tables from nertc-api/nertc-5x.json (paste them
// under "## NERTC API coverage"; __test__/nertc-api.spec.mjs checks the README agrees).
//
// Usage: node nertc-api/table.mjs

import fs from 'node:fs';

const api = JSON.parse(fs.readFileSync(new URL('./nertc-5x.json', import.meta.url), 'utf8'));

const shown = (m) => {
  if (m.status === 'real') return m.note ? `yes: ${m.note}` : 'yes';
  const value = m.fail === 30004 ? '30004' : m.fail === '' ? "''" : JSON.stringify(m.fail);
  return `no: returns ${value}${m.note && m.fail !== 30004 ? ` (${m.note})` : ''}`;
};
const cell = (s) => s.replace(/\|/g, '\\|');

const real = api.methods.filter((m) => m.status === 'real').length;
const emitted = api.events.filter((e) => e.status === 'emitted').length;
const out = [];
out.push(
  `${api.methods.length} methods: ${real} implemented, ${api.methods.length - real} not supported. ` +
    `${api.events.length} events: ${emitted} emitted.`,
  '',
  '| method | NERTC signature | here |',
  '|---|---|---|',
);
for (const m of api.methods) out.push(`| \`${m.name}\` | \`${cell(m.signature)}\` | ${cell(shown(m))} |`);
out.push('', '| event | arguments | here |', '|---|---|---|');
for (const e of api.events) out.push(`| \`${e.name}\` | ${cell(e.args.join(', '))} | ${e.status === 'emitted' ? 'emitted' : 'not emitted'} |`);
console.log(out.join('\n'));
