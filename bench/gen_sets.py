#!/usr/bin/env python3
"""Writes the benchmark's migration sets: N migrations, each one small table with an index and its DOWN,
in the three tools' directory formats (ours, diesel_migrations, refinery), for N in 10, 100, 1000."""
import datetime
import os
import shutil
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sets")
sizes = [int(a) for a in sys.argv[1:]] or [10, 100, 1000]
base = datetime.datetime(2024, 1, 1)

def up(i):
    return (f"CREATE TABLE t_{i:04d} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT);\n"
            f"CREATE INDEX idx_t_{i:04d}_name ON t_{i:04d}(name);\n")

def down(i):
    return f"DROP TABLE t_{i:04d};\n"

for n in sizes:
    for tool in ("ours", "diesel", "refinery"):
        d = os.path.join(root, tool, str(n))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    for i in range(1, n + 1):
        t = base + datetime.timedelta(minutes=i)
        stamp = t.strftime("%Y%m%d%H%M%S")
        with open(os.path.join(root, "ours", str(n), f"{stamp}_issue_{i}_t_{i:04d}.sql"), "w") as f:
            f.write(f"-- Issue #{i}: table {i}\n-- ============ UP MIGRATION ============\n{up(i)}"
                    f"-- ============ DOWN MIGRATION ============\n{down(i)}")
        dd = os.path.join(root, "diesel", str(n), t.strftime("%Y-%m-%d-%H%M%S") + f"_t_{i:04d}")
        os.makedirs(dd)
        with open(os.path.join(dd, "up.sql"), "w") as f:
            f.write(up(i))
        with open(os.path.join(dd, "down.sql"), "w") as f:
            f.write(down(i))
        with open(os.path.join(root, "refinery", str(n), f"V{i}__t_{i:04d}.sql"), "w") as f:
            f.write(up(i))
print(f"wrote sets {sizes} under {root}")
