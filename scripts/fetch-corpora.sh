#!/usr/bin/env bash
# Downloads the real migration histories listed in scripts/corpora.tsv from the crates.io registry into
# target/corpora/<name>/ (checksum-checked; a corpus already there is kept). Tests that read them call this
# script; CI reaches the registry, nothing else. Usage: scripts/fetch-corpora.sh [NAME ...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${CORPORA_DIR:-$root/target/corpora}"
cache="$out/.crates"
mkdir -p "$cache"
want=("$@")
while IFS=$'\t' read -r name crate version sum dir layout engine; do
  case "$name" in ''|'#'*) continue ;; esac
  if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  [ -f "$out/$name/.complete" ] && continue
  file="$cache/$crate-$version.crate"
  if [ ! -f "$file" ] || ! echo "$sum  $file" | sha256sum --check --status; then
    curl -sSf --retry 3 -o "$file.part" "https://static.crates.io/crates/$crate/$crate-$version.crate"
    if ! echo "$sum  $file.part" | sha256sum --check --status; then
      echo "fetch-corpora: $crate $version does not match its pinned sha256" >&2
      rm -f "$file.part"; exit 1
    fi
    mv "$file.part" "$file"
  fi
  rm -rf "$out/$name" "$out/.unpack-$name"
  mkdir -p "$out/.unpack-$name"
  tar -xzf "$file" -C "$out/.unpack-$name" "$crate-$version/$dir"
  mv "$out/.unpack-$name/$crate-$version/$dir" "$out/$name"
  rm -rf "$out/.unpack-$name"
  printf '%s\t%s\t%s\t%s\n' "$crate" "$version" "$layout" "$engine" > "$out/$name/.complete"
done < "$root/scripts/corpora.tsv"
