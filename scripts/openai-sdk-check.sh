#!/usr/bin/env bash
# Calls promptd with the official openai Python SDK (from PyPI), streaming and not, through a
# loopback echo upstream. Usage: scripts/openai-sdk-check.sh   (needs python3 and cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
VENV=${PROMPTD_SDK_VENV:-/tmp/promptd-openai-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q openai
fi
cargo build -j2 -p promptd -q
ECHO_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/python" scripts/echo_upstream.py "$ECHO_PORT" >"$TMP/echo.log" 2>&1 &
cat >"$TMP/config.yaml" <<YAML
model_list:
  - model_name: echo-gpt
    litellm_params: {model: openai/echo-upstream, api_key: sk-fake, api_base: "http://127.0.0.1:$ECHO_PORT/v1"}
prompts:
  - prompt_id: sdk_prompt
    litellm_params:
      prompt_integration: dotprompt
      dotprompt_content: "---\nmodel: echo-gpt\ntemperature: 0.3\nmax_tokens: 50\ninput:\n  schema:\n    name: string\n---\nSystem: You are helpful to {{name}}.\n\nUser: Greet {{name}} in {{lang}}."
YAML
export PROMPTD_MASTER_KEY=sk-sdk-check
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${CARGO_TARGET_DIR:-target}/debug/promptd" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/p.db" --port "$PORT" 2>"$TMP/promptd.log" &
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null && break; sleep 0.05; done
PROMPTD_URL="http://127.0.0.1:$PORT" "$VENV/bin/python" scripts/openai_sdk_check.py || { cat "$TMP/promptd.log"; exit 1; }
