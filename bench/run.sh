#!/usr/bin/env bash
# Reproduces the README's benchmark table: generates the sets, builds in release mode, runs the peers side
# by side on SQLite and on a throwaway local PostgreSQL server (server defaults; see src/pg.rs).
# Arguments go to the bench: [--engine sqlite|postgres|both] [--pairs K] [10|100|1000], --pg-evidence (only
# the PostgreSQL pairs and the server's counts: WAL per relation from pg_waldump, server time per statement
# kind from pg_stat_statements; --pairs 0 skips the pairs), --one-pending (only the paired runs of the
# boot with one pending migration, --pairs K of them per size, on SQLite and PostgreSQL unless --engine says), or --pg-log (scratch: what each tool's applies,
# boot with one pending and boot check send to the server, with durations). The rebuild measurement is bench/rebuild.sh.
set -euo pipefail
cd "$(dirname "$0")"
python3 gen_sets.py
cargo build --release -q
./target/release/migrator-bench "$@"
