#!/usr/bin/env bash
# Cross-compiles the linux-arm64-gnu prebuilt (the N-API addon and the nertc-server binary) on
# an x86_64 Debian machine and stages it in npm/linux-arm64-gnu/, then checks the results with
# `file` and `readelf` (architecture, the exported Node-API entry point, the newest glibc symbol
# version they need), then runs it under qemu-user with Debian's arm64 Node.js
# (scripts/arm64-qemu-test.sh: a call with decoded video, the arm64 nertc-server). The release
# workflow builds it again on a native arm64 runner.
#
#   scripts/build-arm64.sh                 # release profile (fat LTO: what is published)
#   PROFILE=ci scripts/build-arm64.sh      # optimised without LTO: much faster to build
#   NO_QEMU=1 scripts/build-arm64.sh       # build and inspect only
#
# Installs what it lacks (root or sudo): Debian's aarch64 cross gcc/g++, arm64 multiarch
# libasound2-dev (cpal's ALSA backend links libasound), the rustup target. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
PROFILE=${PROFILE:-release}
PLATFORM=linux-arm64-gnu

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_missing=()
for p in gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libasound2-dev:arm64 pkg-config file binutils; do
  dpkg -s "$p" >/dev/null 2>&1 || apt_missing+=("$p")
done
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "build-arm64: installing ${apt_missing[*]}"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then $SUDO dpkg --add-architecture arm64; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

# The cross toolchain for rustc's linker and for every -sys crate that compiles C/C++
# (cc and cmake crates read CC_<target>/CXX_<target>/AR_<target>), and pkg-config pointed at
# the arm64 multiarch .pc files only (never the host's).
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=/

echo "build-arm64: cargo build --target $TARGET --profile $PROFILE (addon + nertc-server)"
cargo build --quiet --target "$TARGET" --profile "$PROFILE" \
  -p nertc-electron-sdk --lib -p nertc-server --bin nertc-server

out="target/$TARGET/$PROFILE"
node scripts/stage-platform.js "$PLATFORM" --addon "$out/libnertc_electron_sdk.so" --server "$out/nertc-server"

# Checks: the ELF headers say AArch64; the addon exports Node-API's entry point; report the
# shared libraries each needs and the newest GLIBC_ symbol version (the glibc floor).
status=0
for f in "npm/$PLATFORM/nertc-electron-sdk.$PLATFORM.node" "npm/$PLATFORM/nertc-server"; do
  echo "== $f ($(du -h "$f" | cut -f1))"
  file "$f"
  machine=$(readelf -h "$f" | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
  echo "   machine: $machine"
  [ "$machine" = "AArch64" ] || { echo "build-arm64: $f is not AArch64" >&2; status=1; }
  echo "   needs: $(readelf -d "$f" | awk '/NEEDED/ {gsub(/[][]/, "", $5); printf "%s ", $5}')"
  echo "   newest glibc symbol: $(readelf -W --dyn-syms "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
done
addon="npm/$PLATFORM/nertc-electron-sdk.$PLATFORM.node"
if readelf -W --dyn-syms "$addon" | grep -q ' napi_register_module_v1$'; then
  echo "   $addon exports napi_register_module_v1"
else
  echo "build-arm64: $addon does not export napi_register_module_v1" >&2; status=1
fi
[ "$status" = 0 ] || exit $status
[ "${NO_QEMU:-}" = 1 ] || ./scripts/arm64-qemu-test.sh
