#!/usr/bin/env bash
# The install as an app developer gets it, without Rust: `npm pack` the main package and the
# linux-x64-gnu platform package (the dev build that scripts/test.sh already made: the addon
# from `npm run build:dev`, nertc-server from `cargo build --workspace --bins`), install both
# tarballs offline into a fresh project with a PATH that has no cargo or rustc, and run there
#   cjs / esm   a call on the embedded server with decoded frames (__test__/consumer/call.*)
#   tsc-esm / tsc-cjs   `tsc --noEmit --strict` on TypeScript written against NERTC's usage
#   server-cli  `npx nertc-server --help` / `token`, start, /healthz, SIGINT
#   no-platform without the platform package: a clear error naming the platform
#   asar        electron-demo's electron-builder config packed with @electron/asar: the .node
#               and the server binary outside the archive
# Prints the tarballs' sizes and ends with "consumer-test: N passed, N failed".
# Runs inside scripts/netns.sh (no network needed). KEEP=1 keeps the temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PLATFORM=linux-x64-gnu
addon=nertc-electron-sdk.$PLATFORM.node
# The build under test: the dev build by default; CONSUMER_ADDON / CONSUMER_SERVER name others.
addon_build=${CONSUMER_ADDON:-$addon}
server_build=${CONSUMER_SERVER:-target/debug/nertc-server}
for f in "$addon_build" "$server_build"; do
  [ -f "$f" ] || { echo "consumer-test: $f missing: run \`npm run build:dev\` and \`cargo build --workspace --bins\` first" >&2; exit 1; }
done
work=$(mktemp -d)
if [ "${KEEP:-}" = 1 ]; then echo "consumer-test: keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

# --- Pack -----------------------------------------------------------------------------------
node scripts/platforms.js --check
# The dev build carries debug info (hundreds of MB); a release build has none. Strip the
# staged copies so packing and installing stay quick.
mkdir -p "$work/build"
strip --strip-debug -o "$work/build/addon.node" "$addon_build"
strip --strip-debug -o "$work/build/nertc-server" "$server_build"
node scripts/stage-platform.js "$PLATFORM" --addon "$work/build/addon.node" --server "$work/build/nertc-server"
node scripts/platforms.js --pack "$work/tarballs" "$PLATFORM"

# --- A PATH without Rust --------------------------------------------------------------------
mkdir -p "$work/bin"
for tool in node npm npx; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
clean_path="$work/bin:/usr/bin:/bin"
if PATH=$clean_path command -v cargo >/dev/null || PATH=$clean_path command -v rustc >/dev/null; then
  echo "consumer-test: cargo or rustc is still on $clean_path" >&2
  exit 1
fi
run() { env -u CARGO_HOME -u RUSTUP_HOME -u CARGO_TARGET_DIR PATH="$clean_path" HOME="$work/home" "$@"; }
mkdir -p "$work/home"
npm_flags=(--offline --cache "$work/npm-cache" --no-audit --no-fund --no-update-notifier --loglevel=error)

# --- Install into fresh projects ------------------------------------------------------------
main_tgz=$(ls "$work"/tarballs/nertc-electron-sdk-[0-9]*.tgz)
plat_tgz=$(ls "$work"/tarballs/nertc-electron-sdk-"$PLATFORM"-*.tgz)
mkdir -p "$work/app" "$work/app-noplat"
for dir in app app-noplat; do
  printf '{ "name": "consumer-%s", "version": "1.0.0", "private": true }\n' "$dir" > "$work/$dir/package.json"
done
(cd "$work/app" && run npm install "${npm_flags[@]}" "$main_tgz" "$plat_tgz")
(cd "$work/app-noplat" && run npm install "${npm_flags[@]}" --omit=optional "$main_tgz")
echo "consumer-test: installed: $(cd "$work/app/node_modules" && echo nertc-electron-sdk*)"
cp __test__/consumer/*.cjs __test__/consumer/*.mjs __test__/consumer/*.mts __test__/consumer/*.cts __test__/consumer/tsconfig.*.json "$work/app/"

# --- Checks ---------------------------------------------------------------------------------
passed=0
failed=0
check() {
  local name=$1
  shift
  if (cd "$work/app" && "$@") >"$work/$name.log" 2>&1; then
    passed=$((passed + 1))
    echo "consumer-test: ok   $name: $(grep -v '^\s*$' "$work/$name.log" | tail -1)"
  else
    failed=$((failed + 1))
    echo "consumer-test: FAIL $name"
    tail -40 "$work/$name.log" | sed 's/^/    /'
  fi
}
layout() {
  [ -f node_modules/nertc-electron-sdk-$PLATFORM/$addon ] && [ -x node_modules/nertc-electron-sdk-$PLATFORM/nertc-server ] \
    && ! ls node_modules/nertc-electron-sdk/*.node 2>/dev/null \
    && [ "$(ls -d node_modules/nertc-electron-sdk-* | wc -l)" = 1 ] \
    && [ -x node_modules/.bin/nertc-server ] && echo "platform package installed alone, main package has no .node"
}
no_platform() {
  cd "$work/app-noplat"
  local out
  if out=$(run node -e "require('nertc-electron-sdk')" 2>&1); then echo "require succeeded without a platform package"; return 1; fi
  echo "$out" | grep -q "no native addon loads on $PLATFORM" && echo "$out" | grep -q "nertc-electron-sdk-$PLATFORM" || { echo "$out"; return 1; }
  if out=$(npm_config_offline=true npm_config_yes=false run npx nertc-server --help 2>&1); then echo "npx nertc-server succeeded without a platform package"; return 1; fi
  echo "$out" | grep -q "no nertc-server binary for $PLATFORM" || { echo "$out"; return 1; }
  echo "require and npx nertc-server both name $PLATFORM"
}
tsc=$root/node_modules/.bin/tsc
check layout layout
check cjs run timeout 240 node call.cjs
check esm run timeout 240 node call.mjs
typecheck() { run node "$tsc" -p "$1" --typeRoots "$root/node_modules/@types" && echo "tsc --noEmit --strict -p $1: no errors"; }
check tsc-esm typecheck tsconfig.esm.json
check tsc-cjs typecheck tsconfig.cjs.json
check server-cli run timeout 180 node server-cli.cjs
check no-platform no_platform
check asar run node "$root/__test__/consumer/asar-check.cjs" "$root/electron-demo" "$work/app" "$work/asar"
echo "consumer-test: $passed passed, $failed failed"
[ "$failed" = 0 ]
