'use strict';
// `nertc-server` from the install (scripts/consumer-test.sh, in the consumer project):
// `npx nertc-server --help` and `token`, then the bin shim started, /healthz answered, and a
// SIGINT to the shim ending the server gracefully (exit 0, port closed).
const { spawn, execFileSync } = require('node:child_process');

const LIMIT_MS = 60_000;

// `npx nertc-server ARGS` exactly as typed (npx flags before the name would make npx take
// `--help` as its own); offline and never installing, through npm's environment config.
function npx(args) {
  const env = { ...process.env, npm_config_offline: 'true', npm_config_yes: 'false' };
  return execFileSync('npx', ['nertc-server', ...args], { encoding: 'utf8', timeout: LIMIT_MS, env });
}

async function main() {
  const help = npx(['--help']);
  if (!help.includes('nertc room server')) throw new Error(`npx nertc-server --help printed:\n${help}`);
  console.log('server-cli: npx nertc-server --help ok');

  const token = npx(['token', '--app-key', 'k', '--secret', 's', '--channel', 'room 1', '--uid', '7']).trim();
  if (!/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw new Error(`npx nertc-server token printed ${token}`);
  console.log('server-cli: npx nertc-server token ok');

  const child = spawn('node_modules/.bin/nertc-server', ['--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const limit = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
    exited.then((r) => reject(new Error(`nertc-server exited before listening: ${JSON.stringify(r)}\n${out}\n${err}`)));
  });
  const health = await (await fetch(`${url}/healthz`)).text();
  if (health.trim() !== 'ok') throw new Error(`${url}/healthz -> ${health}`);
  console.log(`server-cli: bin shim started ${url}, /healthz ok`);
  child.kill('SIGINT');
  const { code, signal } = await exited;
  clearTimeout(limit);
  if (code !== 0) throw new Error(`after SIGINT the shim exited with ${code} ${signal}\n${err}`);
  const refused = await fetch(`${url}/healthz`).then(() => false, () => true);
  if (!refused) throw new Error(`${url} still answers after the server stopped`);
  console.log('server-cli: SIGINT stopped the server (exit 0, port closed)');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
