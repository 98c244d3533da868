#!/usr/bin/env node
'use strict';
// `npx nertc-server [args]`: runs the standalone room server of this install (the binary from
// the platform package, see server-bin.js) with the same arguments, stdio and exit status.
const { spawn } = require('node:child_process');
const { nertcServerPath } = require('../server-bin');

let bin;
try {
  bin = nertcServerPath();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
const child = spawn(bin, process.argv.slice(2), { stdio: 'inherit', windowsHide: true });
// A Ctrl-C in a terminal reaches the server itself (same process group); a signal sent to this
// shim alone (a process manager's SIGTERM, `kill -INT`) is passed on. The server ends on SIGINT
// gracefully; a second one is harmless.
const forward = (signal) => {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward);
child.on('error', (e) => {
  console.error(`nertc-server: cannot run ${bin}: ${e.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so the caller sees what the server saw.
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.removeListener(s, forward);
    process.kill(process.pid, signal);
  } else {
    process.exit(code === null ? 1 : code);
  }
});
