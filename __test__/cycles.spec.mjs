// Resource hygiene: 50 join/leave cycles (camera, microphone, encoders, a publishing peer whose
// video is subscribed and decoded) and 10 initialize/release cycles return the thread count and
// RSS to their baseline.
//
// Run in a child process with MALLOC_ARENA_MAX=2: with glibc's default of up to 8 arenas per
// core, memory freed by short-lived media threads stays cached in their arenas and RSS wanders
// by tens of MiB without any leak (measured: 65 -> 150 MiB over 100 cycles, then falling back
// to 146), which would hide a real leak. Tolerances: threads within +4 of baseline (a runtime
// thread may still be parking); RSS within +24 MiB after 50 cycles, and the last 20 cycles may
// add at most 8 MiB (a leak of one peer connection or decoder per cycle would exceed both).
import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('50 join/leave and 10 initialize/release cycles return to baseline', async (t) => {
  t.timeout(180_000);
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, '__test__/fixtures/cycles-child.js'), '50', '10'],
      { env: { ...process.env, MALLOC_ARENA_MAX: '2' }, maxBuffer: 16 << 20, timeout: 170_000 },
      (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut.slice(-2000)}`)) : resolve(out)));
  });
  const r = JSON.parse(stdout.trim().split('\n').pop());
  t.log(r);
  t.falsy(r.error);
  t.deepEqual(r.failures, []);
  t.true(r.afterJoins.threads <= r.base.threads + 4, `threads ${r.base.threads} -> ${r.afterJoins.threads}`);
  t.true(r.afterJoins.rss <= r.base.rss + 24, `RSS ${r.base.rss} -> ${r.afterJoins.rss} MiB`);
  const [c30, , c50] = r.checkpoints.slice(2);
  t.true(c50.rss - c30.rss <= 8, `RSS grew ${c30.rss} -> ${c50.rss} MiB over the last 20 cycles`);
  t.true(r.afterInits.threads <= r.initBase.threads + 4, `threads ${r.initBase.threads} -> ${r.afterInits.threads}`);
  t.true(r.afterInits.rss <= r.initBase.rss + 24, `RSS ${r.initBase.rss} -> ${r.afterInits.rss} MiB`);
});
