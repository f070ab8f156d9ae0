#!/usr/bin/env bash
# Reproduces the README's "Estimate accuracy" table: builds in release mode and runs the estimate-accuracy
# bench (SQLite files in a temp dir, and the bench's throwaway PostgreSQL server at initdb defaults).
# Arguments go to the bench: [--engine sqlite|postgres|both] [--sizes 10000,100000,1000000].
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p estimates-bench
./target/release/estimates-bench "$@"
