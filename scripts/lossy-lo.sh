#!/usr/bin/env bash
# Random packet loss on the loopback interface of the current network namespace (run it inside
# scripts/netns.sh: it changes `lo` for everything in that namespace, TCP included).
#
#   scripts/lossy-lo.sh PERCENT   drop each packet independently with this probability
#   scripts/lossy-lo.sh off       remove it
#
# This kernel has no sch_netem, so: an htb root whose class 1:2 ends in `pfifo limit 0` (every
# packet classified there is dropped), fed by a classic-BPF cls_bpf filter that loads the
# kernel's per-packet random number (SKF_AD_RANDOM) and returns "match" when it is below
# PERCENT% of 2^32. Each packet, retransmissions included, is drawn on its own.
set -euo pipefail
dev=lo
tc qdisc del dev "$dev" root 2>/dev/null || true
[ "${1:-}" = off ] && exit 0
pct=${1:?usage: lossy-lo.sh PERCENT|off}
threshold=$(awk -v p="$pct" 'BEGIN { if (p < 0 || p > 100) exit 1; printf "%.0f", p / 100 * 4294967295 }') || { echo "lossy-lo: bad percent $pct" >&2; exit 2; }
tc qdisc add dev "$dev" root handle 1: htb default 1
tc class add dev "$dev" parent 1: classid 1:1 htb rate 100gbit quantum 65536
tc class add dev "$dev" parent 1: classid 1:2 htb rate 100gbit quantum 65536
tc qdisc add dev "$dev" parent 1:2 handle 20: pfifo limit 0
# ld [SKF_AD_OFF + SKF_AD_RANDOM]; jge #threshold -> ret 0 (no match) else ret -1 (flowid 1:2)
tc filter add dev "$dev" parent 1: bpf bytecode "4,32 0 0 4294963256,53 1 0 $threshold,6 0 0 4294967295,6 0 0 0" flowid 1:2
