#!/usr/bin/env bash
# Times the rebuild of a host (dev profile) after editing one of its 1,000 embedded migrations: migrator
# vs diesel_migrations. Median of 5 edits each.
set -euo pipefail
cd "$(dirname "$0")"
[ -d sets/ours/1000 ] || python3 gen_sets.py 1000
cargo build -q -p host-ours -p host-diesel
ours_file=$(ls sets/ours/1000/*.sql | sed -n 500p)
diesel_file=$(ls -d sets/diesel/1000/*/ | sed -n 500p)up.sql
measure() { # package file
  local times=()
  for i in 1 2 3 4 5; do
    echo "-- edit $i" >> "$2"
    local start end
    start=$(date +%s.%N)
    cargo build -q -p "$1"
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}
ours=$(measure host-ours "$ours_file")
diesel=$(measure host-diesel "$diesel_file")
python3 gen_sets.py 1000 >/dev/null
printf '| rebuild after editing 1 of 1000 (dev profile, median of 5) | %.2f s | %.2f s | ratio %.2f |\n' "$ours" "$diesel" "$(echo "$ours / $diesel" | bc -l)"
