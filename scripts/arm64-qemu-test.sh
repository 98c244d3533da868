#!/usr/bin/env bash
# Runs the cross-compiled linux-arm64-gnu prebuilt (staged in npm/linux-arm64-gnu/ by
# scripts/build-arm64.sh) on this x86_64 machine under qemu-user, with Debian's arm64 Node.js
# (bookworm: Node 18, Node-API 9) unpacked into a private root: pack the main and arm64
# packages, install them into a fresh project, then the consumer test's CommonJS and ESM calls
# (embedded server, test-pattern video decoded by the other engine: the arm64 addon, openh264,
# opus, webrtc all run as arm64 code) and the arm64 nertc-server answering /healthz and
# stopping on SIGINT. Emulated, so slower than a real arm64 machine; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PLATFORM=linux-arm64-gnu
sysroot=target/arm64-node-root
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

if [ "${1:-}" != --run ]; then
  # Set-up (needs the package registry): qemu-user, and Debian's arm64 node with the shared
  # libraries it and the addon load, unpacked into $sysroot (not installed: that would
  # replace the machine's own x86_64 node). Then the test itself, in the loopback-only netns.
  command -v qemu-aarch64 >/dev/null || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends qemu-user >/dev/null
  if [ ! -x "$sysroot/usr/bin/node" ]; then
    debs=$(mktemp -d)
    (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root nodejs:arm64 libnode108:arm64 libbrotli1:arm64 \
      libc-ares2:arm64 libc6:arm64 libicu72:arm64 libnghttp2-14:arm64 libssl3:arm64 libstdc++6:arm64 libgcc-s1:arm64 \
      libuv1:arm64 zlib1g:arm64 libasound2:arm64 node-cjs-module-lexer node-acorn node-undici >/dev/null)
    mkdir -p "$sysroot"
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$sysroot"; done
    rm -rf "$debs"
  fi
  exec ./scripts/netns.sh "$0" --run
fi
sysroot=$(cd "$sysroot" && pwd)
node_arm64() { qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/node" "$@"; }
echo "arm64-qemu: $(node_arm64 -p 'process.arch + " node " + process.version + ", Node-API " + process.versions.napi')"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
node scripts/platforms.js --pack "$work/tarballs" "$PLATFORM"
mkdir -p "$work/app"
printf '{ "name": "consumer-arm64", "version": "1.0.0", "private": true }\n' > "$work/app/package.json"
# --force: npm refuses a package for another cpu even when asked for it by file name.
(cd "$work/app" && npm install --offline --force --cache "$work/npm-cache" --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz)
cp __test__/consumer/call-flow.cjs __test__/consumer/call.cjs __test__/consumer/call.mjs "$work/app/"
cd "$work/app"
node_arm64 call.cjs
node_arm64 call.mjs
server=node_modules/nertc-electron-sdk-$PLATFORM/nertc-server
file -b "$server" | grep -q 'ARM aarch64'
qemu-aarch64 -L "$sysroot" "$server" --help | head -1
node_arm64 -e '
const { spawn } = require("node:child_process");
const [qemu, sysroot, bin] = process.argv.slice(1);
const child = spawn(qemu, ["-L", sysroot, bin, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const limit = setTimeout(() => { console.error("arm64-qemu: nertc-server did not start"); child.kill("SIGKILL"); process.exit(1); }, 120000);
let out = "";
child.stdout.on("data", async (d) => {
  out += d;
  const m = out.match(/listening on (http:\/\/\S+)/);
  if (!m || child.asked) return;
  child.asked = true;
  const health = (await (await fetch(m[1] + "/healthz")).text()).trim();
  console.log(`arm64-qemu: nertc-server at ${m[1]}: /healthz ${health}`);
  if (health !== "ok") process.exitCode = 1;
  child.kill("SIGINT");
});
child.on("exit", (code) => { clearTimeout(limit); console.log(`arm64-qemu: nertc-server exited ${code} after SIGINT`); if (code !== 0) process.exitCode = 1; });
' "$(command -v qemu-aarch64)" "$sysroot" "$server"
echo "arm64-qemu: ok"
