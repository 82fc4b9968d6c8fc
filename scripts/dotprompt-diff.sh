#!/usr/bin/env bash
# Differential check: renders every Dotprompt spec case and a set of generated templates with
# promptd's Dotprompt dialect and with the JavaScript reference (npm `dotprompt`, pinned in
# scripts/dotprompt-diff/package-lock.json), and reports every difference. Exits non-zero on a
# difference that scripts/dotprompt-diff/diff.mjs does not explain.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=scripts/dotprompt-diff
if [ ! -d "$dir/node_modules/dotprompt" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --silent)
fi
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -j2 -p promptd-dotprompt --example dotprompt-render
node "$dir/diff.mjs" "$target/release/examples/dotprompt-render"
