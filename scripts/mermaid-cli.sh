#!/usr/bin/env bash
# Installs Mermaid's own CLI (mmdc, pinned by scripts/mermaid/package-lock.json) into target/mermaid-cli,
# once: a second run with the same lock file does nothing. Puppeteer's browser download is skipped; the ER
# diagram test renders with Debian's chromium (.ci/run installs it). Prints the path of mmdc.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/target/mermaid-cli"
if [ ! -x "$dest/node_modules/.bin/mmdc" ] || ! cmp -s "$root/scripts/mermaid/package-lock.json" "$dest/package-lock.json"; then
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$root/scripts/mermaid/package.json" "$root/scripts/mermaid/package-lock.json" "$dest/"
  (cd "$dest" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dest/node_modules/.bin/mmdc"
