#!/usr/bin/env bash
# Times the rebuild of a host (dev profile) after editing one of its 1,000 embedded migrations (a comment
# appended to the 500th file), then after touching it without a change: migrator vs diesel_migrations,
# median of 5 of each. Prints the wall time and the CPU time (user + sys of cargo and rustc: less moved by
# other jobs on a shared machine than the wall time).
#
# The proc-macros (and migrator-format, which the macro runs) are built at the dev profile's opt-level 0,
# as in a host without `[profile.dev.build-override]`; `BUILD_OVERRIDE_OPT_LEVEL=3 bash bench/rebuild.sh`
# measures with the override this workspace's Cargo.toml sets for its other benches.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_PROFILE_DEV_BUILD_OVERRIDE_OPT_LEVEL=${BUILD_OVERRIDE_OPT_LEVEL:-0}
[ -d sets/ours/1000 ] || python3 gen_sets.py 1000 >/dev/null
# One package at a time, as measured below: built together, cargo unifies the features of their shared
# dependencies differently, and the first timed build would rebuild them.
cargo build -q -p host-ours
cargo build -q -p host-diesel
ours_file=$(ls sets/ours/1000/*.sql | sed -n 500p)
diesel_file=$(ls -d sets/diesel/1000/*/ | sed -n 500p)up.sql
times=$(mktemp)
trap 'rm -f "$times"' EXIT
median() { sort -n | sed -n 3p; }
measure() { # package file edit|touch -> "wall cpu" (medians)
  local walls=() cpus=() out
  for i in 1 2 3 4 5; do
    if [ "$3" = edit ]; then echo "-- edit $i" >> "$2"; else touch "$2"; fi
    /usr/bin/time -o "$times" -f '%e %U %S' cargo build -q -p "$1"
    out=$(tail -1 "$times")
    walls+=("$(awk '{print $1}' <<<"$out")")
    cpus+=("$(awk '{print $2 + $3}' <<<"$out")")
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median)"
}
row() { # label ours diesel
  read -r ow oc <<<"$2"
  read -r dw dc <<<"$3"
  printf '| %s | %.2f s (CPU %.2f s) | %.2f s (CPU %.2f s) | %.2f (CPU %.2f) |\n' "$1" "$ow" "$oc" "$dw" "$dc" \
    "$(echo "$ow / $dw" | bc -l)" "$(echo "$oc / $dc" | bc -l)"
}
ours=$(measure host-ours "$ours_file" edit)
diesel=$(measure host-diesel "$diesel_file" edit)
ours_touch=$(measure host-ours "$ours_file" touch)
diesel_touch=$(measure host-diesel "$diesel_file" touch)
python3 gen_sets.py 1000 >/dev/null
echo "| measure (dev profile, build-override opt-level $CARGO_PROFILE_DEV_BUILD_OVERRIDE_OPT_LEVEL, median of 5) | migrator | diesel_migrations | migrator / diesel |"
echo "|---|---|---|---|"
row "rebuild after editing 1 of 1000" "$ours" "$diesel"
row "rebuild after touching 1 of 1000 (no change)" "$ours_touch" "$diesel_touch"
