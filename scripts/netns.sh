#!/usr/bin/env bash
# Runs a command in a fresh network namespace that has only loopback, so that WebRTC peers
# (ours, Chromium) gather only 127.0.0.1 candidates and no test traffic leaves the machine.
# Falls back to running it directly (with a warning) where namespaces are not permitted.
set -euo pipefail
if [ "${NERTC_IN_NETNS:-}" = 1 ]; then exec "$@"; fi
inner='ip link set lo up && ip route add 224.0.0.0/4 dev lo && exec "$@"'
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
  NERTC_IN_NETNS=1 exec unshare -n sh -c "$inner" sh "$@"
elif unshare -rn true 2>/dev/null; then
  NERTC_IN_NETNS=1 exec unshare -rn sh -c "$inner" sh "$@"
else
  echo "netns: cannot create a network namespace; running on the host network" >&2
  exec "$@"
fi
