#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, then the JS (ava) tests, all against
# real servers on loopback inside a loopback-only network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins --examples --tests --quiet
./scripts/netns.sh cargo test --workspace --quiet
./scripts/netns.sh npx ava
