#!/usr/bin/env bash
# The 1 GB backup benchmark of the README: generates a ~1 GB SQLite database of contacts with two indexes
# (once; kept in bench/target/backup-1g/), then times cp against migrator's backup of it, warm and cold
# cache (cold needs a writable /proc/sys/vm/drop_caches, i.e. root), and the overhead of backup and
# rehearsal on a boot that applies one small migration, then the parts of the copy and of the check alone
# (backup-parts). Medians of RUNS runs (default 5). --boots-only: the boots table alone (no backup table, no
# parts).
#   bash bench/backup-1g.sh [--runs N] [--boots-only]
set -euo pipefail
cd "$(dirname "$0")"
command -v sqlite3 >/dev/null || { echo "needs the sqlite3 command-line shell (apt-get install sqlite3)" >&2; exit 2; }
dir=target/backup-1g
db=$dir/contacts-1g.db
rows=${ROWS:-3950000}
mkdir -p "$dir"
if [ ! -s "$db" ]; then
    echo "generating $db ($rows contacts)..." >&2
    rm -f "$db.partial"
    sqlite3 "$db.partial" <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -1000000;
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    company TEXT,
    notes TEXT,
    created_at TEXT NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO contacts
SELECT i, 'Contact ' || i, 'user' || i || '@example' || (i % 997) || '.com', 'Company ' || (i % 5000),
       hex(randomblob(60)), datetime(1600000000 + i * 7, 'unixepoch')
FROM n;
CREATE INDEX contacts_email ON contacts (email);
CREATE INDEX contacts_created_at ON contacts (created_at);
PRAGMA journal_mode = DELETE;
SQL
    mv "$db.partial" "$db"
fi
cargo build --release -q -p backup-bench
echo "uptime before: $(uptime)"
./target/release/backup-1g "$db" --work "$dir" "$@"
echo "uptime after the backups and boots: $(uptime)"
[[ " $* " == *" --boots-only "* ]] && exit 0
# Where the time goes: each part of the copy and of the check alone, warm, taking turns (medians of 3).
./target/release/backup-parts "$db" --runs 3 2>/dev/null
echo "uptime after the parts: $(uptime)"
