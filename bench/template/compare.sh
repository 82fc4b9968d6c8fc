#!/usr/bin/env bash
# Benchmarks promptd-template (criterion) and Python jinja2 on the same templates in one run,
# then prints nanoseconds per operation and the speed-up. Usage: bench/template/compare.sh
# Env: PROMPTD_BENCH_VENV (default /tmp/promptd-bench-venv), CARGO_TARGET_DIR (default target/template).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${PROMPTD_BENCH_VENV:-/tmp/promptd-bench-venv}"
out="$(mktemp -d /tmp/promptd-template-bench.XXXXXX)"
# Absolute: cargo runs benches from the package directory, and criterion writes under it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/template}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# The versions LiteLLM 1.108 runs with (jinja2 3.1.x, PyYAML 6).
"$venv/bin/pip" install --quiet --disable-pip-version-check 'jinja2>=3.1.6,<3.2' 'pyyaml>=6,<7'

# The two sides run one after the other, twice, and the faster round of each side counts:
# on a shared 2-core machine a burst of load in one round would otherwise decide the ratio.
rounds="${PROMPTD_BENCH_ROUNDS:-2}"
for r in $(seq 1 "$rounds"); do
  echo "== round $r: criterion (promptd-template)"
  cargo bench -p promptd-template --bench render -j2 -- --warm-up-time 1 --measurement-time 3 2>&1 \
    | tee "$out/criterion.$r.txt" | grep -E "time:" || true
  echo "== round $r: python jinja2"
  "$venv/bin/python" bench/template/jinja2_bench.py | tee "$out/python.$r.json"
done

echo "== comparison"
python3 - "$out" "$rounds" <<'PY'
import json, re, sys

units = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
rust, py = {}, {}
for r in range(1, int(sys.argv[2]) + 1):
    name = None
    for line in open(f"{sys.argv[1]}/criterion.{r}.txt", encoding="utf-8"):
        m = re.match(r"^((?:parse|render)/\w+)", line)
        if m:
            name = m.group(1)
        t = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if t and name:
            ns = float(t.group(1)) * units[t.group(2)]
            rust[name] = min(ns, rust.get(name, ns))
            name = None
    for k, v in json.load(open(f"{sys.argv[1]}/python.{r}.json")).items():
        py[k] = min(v, py[k]) if isinstance(v, float) and k in py else v
print(f"python {py['python']}, jinja2 {py['jinja2']}, PyYAML {py['pyyaml']}")
print(f"{'operation':<16} {'promptd (ns)':>13} {'jinja2 (ns)':>13} {'speed-up':>9}")
for op in ("parse/typical", "render/typical", "parse/loop", "render/loop"):
    if op in rust and op in py:
        print(f"{op:<16} {rust[op]:>13.0f} {py[op]:>13.0f} {py[op] / rust[op]:>8.1f}x")
for name in ("typical", "loop"):
    op, r = f"request/{name}", rust.get(f"render/{name}")
    if op in py and r:
        print(f"{op:<16} {r:>13.0f} {py[op]:>13.0f} {py[op] / r:>8.1f}x   (promptd render vs LiteLLM's per-request compile+render)")
strict = py.get("render/typical", 0) / rust.get("render/typical", float("inf"))
actual = py.get("request/typical", 0) / rust.get("render/typical", float("inf"))
print(f"typical prompt: {actual:.1f}x faster than LiteLLM's per-request path, "
      f"{strict:.1f}x faster than a precompiled jinja2 render (goal: 20x)")
PY
