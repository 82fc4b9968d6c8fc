#!/usr/bin/env bash
# The real LiteLLM proxy (litellm[proxy]==1.108.7 from PyPI) with promptd as its prompt store:
# LiteLLM's generic_prompt_management integration reads GET /beta/litellm_prompt_management,
# fills the variables in and calls a loopback echo upstream, which answers with the body it got.
# Usage: scripts/litellm-gateway-check.sh   (needs python3, curl and cargo; installs LiteLLM into
# a cached virtualenv, $PROMPTD_LITELLM_VENV or ~/.cache/promptd/litellm-1.108.7, on first run)
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_VERSION=1.108.7
VENV=${PROMPTD_LITELLM_VENV:-$HOME/.cache/promptd/litellm-$LITELLM_VERSION}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  # Each service runs in its own session (setsid), so its whole process group is ended.
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

if ! "$VENV/bin/python" -c "import litellm, importlib.metadata as m; assert m.version('litellm') == '$LITELLM_VERSION'" 2>/dev/null; then
  echo "installing litellm[proxy]==$LITELLM_VERSION into $VENV"
  python3 -m venv "$VENV"
  # prisma: without it LiteLLM answers a request with a missing key with a bare 500.
  "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" 'prisma>=0.11,<1'
fi
cargo build -j2 -p promptd -q
PROMPTD="${CARGO_TARGET_DIR:-target}/debug/promptd"

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # url pid name log
  for _ in $(seq 1 900); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited:"; tail -40 "$4"; exit 1; }
    sleep 0.2
  done
  echo "$3 did not start in 180 s:"; tail -40 "$4"; exit 1
}

ECHO_PORT=$(free_port)
setsid "$VENV/bin/python" scripts/echo_upstream.py "$ECHO_PORT" >"$TMP/echo.log" 2>&1 </dev/null &
PIDS+=($!)

PROMPTD_PORT=$(free_port)
export PROMPTD_MASTER_KEY=sk-gateway-check-master
setsid "$PROMPTD" serve --database-url "sqlite://$TMP/promptd.db" --host 127.0.0.1 --port "$PROMPTD_PORT" \
  >"$TMP/promptd.log" 2>&1 </dev/null &
PIDS+=($!)
wait_up "http://127.0.0.1:$PROMPTD_PORT/health/liveliness" "${PIDS[-1]}" promptd "$TMP/promptd.log"

# The prompt: a draft in development and the reviewed version in production; the gateway must
# get production. The gateway's key may read only this prompt.
export PROMPTD_URL="http://127.0.0.1:$PROMPTD_PORT"
GATEWAY_KEY=$("$VENV/bin/python" scripts/litellm_gateway_check.py setup)

LITELLM_PORT=$(free_port)
LITELLM_MASTER_KEY=sk-gateway-check-litellm-7d41c2
cat >"$TMP/litellm.yaml" <<YAML
model_list:
  - model_name: echo-gpt
    litellm_params: {model: openai/echo-upstream, api_key: sk-fake, api_base: "http://127.0.0.1:$ECHO_PORT/v1"}
prompts:
  - prompt_id: support_reply
    litellm_params:
      prompt_id: support_reply
      prompt_integration: generic_prompt_management
      api_base: "http://127.0.0.1:$PROMPTD_PORT"
      api_key: "$GATEWAY_KEY"
      provider_specific_query_params:
        environment: production
  - prompt_id: branchy_reply
    litellm_params:
      prompt_id: branchy_reply
      prompt_integration: generic_prompt_management
      api_base: "http://127.0.0.1:$PROMPTD_PORT"
      api_key: "$GATEWAY_KEY"
general_settings:
  master_key: $LITELLM_MASTER_KEY
YAML
(
  cd "$TMP"
  export LITELLM_LOG=ERROR LITELLM_MODE=PRODUCTION LITELLM_TELEMETRY=False LITELLM_LOCAL_MODEL_COST_MAP=True
  unset DATABASE_URL
  exec setsid "$VENV/bin/litellm" --config "$TMP/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT"
) >"$TMP/litellm.log" 2>&1 </dev/null &
PIDS+=($!)
t0=$(date +%s%N)
wait_up "http://127.0.0.1:$LITELLM_PORT/health/liveliness" "${PIDS[-1]}" litellm "$TMP/litellm.log"
echo "litellm $LITELLM_VERSION up in $(( ($(date +%s%N) - t0) / 1000000 )) ms"

LITELLM_URL="http://127.0.0.1:$LITELLM_PORT" LITELLM_KEY=$LITELLM_MASTER_KEY \
  "$VENV/bin/python" scripts/litellm_gateway_check.py check \
  || { echo "--- promptd log"; tail -20 "$TMP/promptd.log"; echo "--- litellm log"; tail -40 "$TMP/litellm.log"; exit 1; }
