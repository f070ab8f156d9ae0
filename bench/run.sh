#!/usr/bin/env bash
# Reproduces the README's benchmark table: generates the sets, builds in release mode, runs the peers side
# by side, then measures the rebuild after editing one of 1000 embedded migrations (ours vs diesel).
set -euo pipefail
cd "$(dirname "$0")"
python3 gen_sets.py
cargo build --release -q
./target/release/migrator-bench "$@"
