#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (idempotent), then builds.
# Needs: root (or sudo) for apt, a Rust toolchain (rustup), Node.js >= 20.8 with npm.
set -euo pipefail
cd "$(dirname "$0")/.."

# janus: the peer SFU of the fan-out benchmark (bench/janus, crates/nertc-bench).
# pulseaudio, pulseaudio-utils, libasound2-plugins: the real sound server that
# crates/nertc-engine/tests/pulse_audio.rs starts (ALSA's `pulse` device, pacat/parec).
# xvfb: the X server crates/nertc-engine/tests/screen_share.rs starts to share a window from.
# redis-server: the Redis that crates/nertc-server/tests/cluster.rs starts for cluster mode.
APT_PACKAGES=(pkg-config g++ cmake nasm libclang-dev libasound2-dev chromium janus iproute2 util-linux pulseaudio pulseaudio-utils libasound2-plugins xvfb redis-server ffmpeg)
# libwebrtc-audio-processing-dev: WebRTC's AudioProcessing module (echo cancellation, noise
# suppression, gain control) that nertc-engine's default `apm` feature links (pkg-config).
APT_PACKAGES+=(libwebrtc-audio-processing-dev)
# nginx, libnginx-mod-rtmp: the RTMP server crates/nertc-engine/tests/live_stream.rs pushes a
# live stream to (started there on a loopback port with its own config; the test needs no
# nginx service: where apt starts one, on port 80, it may be stopped).
APT_PACKAGES+=(nginx libnginx-mod-rtmp)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }
# scripts/test.sh checks formatting and lints.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || { echo "setup: cargo fmt / cargo clippy missing and no rustup to add them" >&2; exit 1; }
  rustup component add rustfmt clippy
fi
command -v npm >/dev/null || { echo "setup: npm not found; install Node.js >= 20.8" >&2; exit 1; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  # npm ci refuses a lock that lacks other platforms' optional packages (napi-rs tools list
  # one per platform and this npm records only the current one); fall back to npm install.
  npm ci --no-audit --no-fund --loglevel=error 2>/dev/null || npm install --no-audit --no-fund --loglevel=error
fi

echo "setup: building the room server and the N-API addon"
cargo build --workspace --bins --examples --quiet
npm run --silent build:dev
