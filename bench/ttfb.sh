#!/usr/bin/env bash
# Added latency to first byte: the same streaming chat request sent straight to an echo upstream
# and through promptd (with prompt_id, so rendering is included), interleaved in one run.
# Usage: bench/ttfb.sh [REQUESTS]   Prints p50/p99 of both and the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
cargo build --release -j2 -p promptd >/dev/null 2>&1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ECHO_PORT=$(free_port); PORT=$(free_port)
python3 scripts/echo_upstream.py "$ECHO_PORT" >/dev/null 2>&1 &
cat >"$TMP/config.yaml" <<YAML
model_list:
  - model_name: echo-gpt
    litellm_params: {model: openai/echo-upstream, api_key: sk-fake, api_base: "http://127.0.0.1:$ECHO_PORT/v1"}
prompts:
  - prompt_id: echo_prompt
    litellm_params:
      prompt_integration: dotprompt
      dotprompt_content: "---\nmodel: echo-gpt\ntemperature: 0.3\nmax_tokens: 50\n---\nSystem: You are helpful to {{name}}.\n\nUser: Greet {{name}} in {{lang}}."
YAML
PROMPTD_MASTER_KEY=sk-bench "${CARGO_TARGET_DIR:-target}/release/promptd" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/p.db" --port "$PORT" 2>/dev/null &
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null && curl -s "http://127.0.0.1:$ECHO_PORT/" >/dev/null 2>&1 && break; sleep 0.05; done
DIRECT='{"model":"echo-upstream","messages":[{"role":"system","content":"You are helpful to Ada."},{"role":"user","content":"Greet Ada in French."}],"temperature":0.3,"max_tokens":50,"stream":true}'
VIA='{"model":"echo-gpt","prompt_id":"echo_prompt","prompt_variables":{"name":"Ada","lang":"French"},"stream":true}'
for i in $(seq 1 "$N"); do
  curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' -d "$DIRECT" "http://127.0.0.1:$ECHO_PORT/v1/chat/completions" >>"$TMP/direct"
  curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' -H 'Authorization: Bearer sk-bench' -d "$VIA" "http://127.0.0.1:$PORT/chat/completions" >>"$TMP/via"
done
python3 - "$TMP/direct" "$TMP/via" <<'PY'
import sys
def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
d = [float(x) * 1000 for x in open(sys.argv[1])]
v = [float(x) * 1000 for x in open(sys.argv[2])]
print("| path | p50 ms | p99 ms |")
print("|---|---|---|")
print(f"| direct to the echo upstream | {pct(d,50):.3f} | {pct(d,99):.3f} |")
print(f"| through promptd (prompt_id, render, proxy) | {pct(v,50):.3f} | {pct(v,99):.3f} |")
print(f"| **added by promptd** | **{pct(v,50)-pct(d,50):.3f}** | **{pct(v,99)-pct(d,99):.3f}** |")
print(f"\n{len(d)} interleaved streaming requests each, time to first byte measured by curl (new connection per request).")
PY
