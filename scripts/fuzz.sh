#!/usr/bin/env bash
# Coverage-guided fuzzing on the stable toolchain: builds fuzz/fuzz_targets/TARGET.rs with
# libFuzzer (libfuzzer-sys) and SanitizerCoverage, then runs it on fuzz/corpus/TARGET plus
# target/fuzz/corpus/TARGET (where new inputs go). Extra arguments go to libFuzzer.
#
#   scripts/fuzz.sh signaling -runs=10000000       # 10 M executions, then stop
#   scripts/fuzz.sh sdp -max_total_time=600        # 10 minutes
#   scripts/fuzz.sh sdp target/fuzz/crash-...      # re-run one input (a crash found earlier)
#
# Targets: signaling, sdp (fuzz/src/lib.rs says what each covers). fuzz/found/TARGET (what
# earlier runs found, minimised) is read too. A crash leaves
# target/fuzz/crash-* and a non-zero exit. No AddressSanitizer: that needs nightly
# `-Z sanitizer` (what cargo-fuzz uses), and the code under test is safe Rust.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [libFuzzer flags or inputs]}
shift
host=$(rustc -vV | sed -n 's/^host: //p')
# The instrumentation cargo-fuzz adds, minus the sanitizer. --target keeps it off build
# scripts and proc macros (they run on the host and do not link libFuzzer).
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers"
cargo build --quiet --profile ci --target "$host" --target-dir target/fuzz -p nertc-fuzz --features libfuzzer --bin "$target"
mkdir -p "target/fuzz/corpus/$target"
# Inputs given on the command line are re-run instead of fuzzed.
corpus=("target/fuzz/corpus/$target" "fuzz/corpus/$target")
[[ -d "fuzz/found/$target" ]] && corpus+=("fuzz/found/$target")
for a in "$@"; do [[ $a == -* ]] || corpus=(); done
exec "target/fuzz/$host/ci/$target" -artifact_prefix=target/fuzz/ -max_len=65536 -timeout=10 -rss_limit_mb=4096 "$@" "${corpus[@]}"
