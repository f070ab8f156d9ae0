#!/usr/bin/env bash
# Proves that adding or removing a migration file rebuilds the host on stable Rust (editing one already
# does, through include_bytes!): the example app's build.rs holds the one line
#   println!("cargo:rerun-if-changed=../migrations");
# The script adds a migration, builds, checks the binary carries it, removes it, builds, checks it is gone.
set -euo pipefail
cd "$(dirname "$0")/.."
probe=migrations/29991231235959_rebuild_probe.sql
db=$(mktemp -d)/probe.db
cleanup() { rm -f "$probe"; rm -rf "$(dirname "$db")"; }
trap cleanup EXIT
# Where cargo puts the binary (a CARGO_TARGET_DIR set in the environment moves it).
app="${CARGO_TARGET_DIR:-target}/debug/example-app"

cargo build -q -p example-app
printf -- '-- ============ UP MIGRATION ============\nCREATE TABLE rebuild_probe (x);\n' > "$probe"
cargo build -q -p example-app
if ! "$app" --db "$db" --migrate-status | grep -q 29991231235959; then
  echo "FAIL: a new migration file did not rebuild the host" >&2
  exit 1
fi
rm -f "$probe"
cargo build -q -p example-app
if "$app" --db "$db" --migrate-status | grep -q 29991231235959; then
  echo "FAIL: a deleted migration file did not rebuild the host" >&2
  exit 1
fi
echo "rebuild check: adding and removing a migration file both rebuild the host"

# A malformed file is a compile error from embed_migrations! that names the file and the line.
printf -- '-- ============ UP MIGRATION ============\nSELECT 1;\n-- ============ DOWN MIGRATION ============\nSELECT 2;\n-- ============ DOWN MIGRATION ============\nSELECT 3;\n' > "$probe"
if out=$(cargo build -q -p example-app 2>&1); then
  echo "FAIL: a malformed migration file compiled" >&2
  exit 1
fi
if ! grep -q "29991231235959_rebuild_probe.sql:5: second DOWN MIGRATION section (the first is at line 3)" <<<"$out"; then
  echo "FAIL: the compile error does not name the file and line:" >&2
  echo "$out" >&2
  exit 1
fi
rm -f "$probe"
echo "compile error check: a malformed file fails the build, naming file and line"
