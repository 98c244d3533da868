#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, then the JS (ava) tests, all against
# real servers on loopback inside a loopback-only network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --examples --tests --quiet
npm run --silent build:dev
./scripts/netns.sh cargo test --workspace --quiet
./scripts/netns.sh npx ava
# The bench suite's smoke run, so it cannot rot (timings are printed, never gated on).
./scripts/netns.sh cargo run --quiet -p nertc-bench -- all --smoke
