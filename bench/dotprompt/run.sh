#!/usr/bin/env bash
# Renders a typical Dotprompt template (bench/dotprompt/case.json: roles, a loop over three
# documents, Picoschema input and output; case-partials.json: the same composed from two
# partials) with promptd's dialect and with the npm reference in the same run, and prints µs
# per render (median of batches) and the speed-up. Results: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
n=${N:-20000}
dir=scripts/dotprompt-diff
[ -d "$dir/node_modules/dotprompt" ] || (cd "$dir" && npm ci --no-audit --no-fund --silent)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --quiet --release -j2 -p promptd-dotprompt --example dotprompt-render
for case in case case-partials; do
case_line=$(tr -d '\n' < "bench/dotprompt/$case.json")
for round in 1 2; do
  rust=$(echo "$case_line" | "$target/release/examples/dotprompt-render" --bench "$n")
  rust_ns=$(echo "$rust" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);if(!v.ok)throw new Error(s);if(!v.ok.compiled)throw new Error("the template did not compile: "+s);console.log(v.ok.ns_per_render, v.ok.handlebars_ns_per_render)})')
  # The reference resolves `dotprompt` from scripts/dotprompt-diff/node_modules.
  cp bench/dotprompt/bench.mjs "$dir/.bench.mjs"
  js=$(node "$dir/.bench.mjs" "$root/bench/dotprompt/$case.json" "$n")
  rm -f "$dir/.bench.mjs"
  node -e '
    const [rs, hb] = process.argv[1].split(" ").map((x) => Number(x) / 1000);
    const js = JSON.parse(process.argv[2]);
    const f = (x) => x.toFixed(2);
    console.log(`${process.argv[4]} round ${process.argv[3]}: promptd ${f(rs)} µs/render (handlebars-rust alone ${f(hb)} µs); reference compiled ${f(js.compiled_us)} µs (${(js.compiled_us / rs).toFixed(1)}x), reference render() ${f(js.render_us)} µs (${(js.render_us / rs).toFixed(1)}x)`);
  ' "$rust_ns" "$js" "$round" "$case"
done
done
