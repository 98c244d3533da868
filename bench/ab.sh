#!/usr/bin/env bash
# Alternating fan-out runs of two builds, for changes smaller than the run-to-run noise of a VM.
#   bench/ab.sh DIR_A DIR_B [REPS] [N] [SFUS]
# DIR_A and DIR_B each hold a release `nertc-bench` and `nertc-server` (copy them out of
# target/release after building each version). Prints pkt/s per server core and RSS per run.
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:?DIR_A}; b=${2:?DIR_B}; reps=${3:-3}; n=${4:-200}; sfus=${5:-nertc-1port,nertc,janus}
out=$(mktemp -d)
for rep in $(seq "$reps"); do
  for dir in "$a" "$b"; do
    log="$out/$(basename "$dir")-$rep.log"
    ./scripts/netns.sh "$dir/nertc-bench" fanout --sfu "$sfus" --n "$n" --out "$out/$(basename "$dir")-$rep.json" >"$log" 2>&1
    grep '^bench: fanout' "$log" | sed -E 's/^bench: fanout ([a-z0-9-]+) .*"n":([0-9]+).*"pps_per_server_core":([0-9.]+).*"server_rss_kb":([0-9]+).*/\1 n=\2 pps_per_core=\3 rss_kb=\4/' |
      sed "s|^|$(basename "$dir") run $rep: |"
  done
done
echo "logs in $out"
