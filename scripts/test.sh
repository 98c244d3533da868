#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, then the JS (ava) tests, all against
# real servers on loopback inside a loopback-only network namespace, then a smoke run of the
# benchmarks (timings printed, never gated on). Before that, `cargo fmt --check` and clippy with
# warnings as errors. Ends with one "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Habits first: formatting and lints fail the run before anything is built for tests.
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo build --workspace --bins --examples --tests --quiet
npm run --silent build:dev
./scripts/netns.sh cargo run --quiet -p nertc-bench -- all --smoke
./scripts/netns.sh cargo test --workspace --quiet --no-fail-fast 2>&1 | tee "$logs/cargo.log" # every test binary runs even after a failure
./scripts/netns.sh npx ava 2>&1 | tee "$logs/ava.log"
./scripts/netns.sh ./scripts/consumer-test.sh # the npm install an app gets, without Rust (fails the run on any failure)
rust=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$logs/cargo.log" | awk '{s += $4} END {print s + 0}')
js=$(grep -Eo '[0-9]+ tests? passed' "$logs/ava.log" | tail -1 | awk '{print $1 + 0}')
echo "test.sh: $((rust + js)) passed, 0 failed (cargo $rust, ava $js)"
