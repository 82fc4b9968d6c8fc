#!/usr/bin/env bash
# Fuzzes a real promptd against its own /openapi.json with schemathesis (from PyPI), every check
# on: status codes, content types, response schemas, valid data accepted, invalid data rejected,
# missing auth refused, undocumented methods answered 405, use after delete... It fails (exit 1)
# when the server and the document disagree.
#
# Usage: scripts/schemathesis.sh   (needs python3, curl and cargo; about 3.5 minutes on 2 cores)
#   SCHEMATHESIS_MAX_EXAMPLES=N   examples per operation in each round of a phase (default 100)
#   SCHEMATHESIS_MAX_TIME=S       the time budget: rounds repeat until it is spent (default 180)
#   SCHEMATHESIS_SEED=N           the seed of the generated data (default 1)
#   PROMPTD_SCHEMATHESIS_VENV     where schemathesis is installed (default ~/.cache/...)
# Narrow, explained exceptions live in scripts/schemathesis.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VERSION=4.32.5
VENV=${PROMPTD_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/promptd-schemathesis-venv}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-180}
TMP=$(mktemp -d)
PROMPTD_PID=
cleanup() {
  [ -n "$PROMPTD_PID" ] && kill "$PROMPTD_PID" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "schemathesis: installing $VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

cargo build -j2 -p promptd -q
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/promptd"

# A model answered by promptd itself (LiteLLM's mock_response), so runs call no network.
cat >"$TMP/config.yaml" <<YAML
model_list:
  - model_name: mock-gpt
    litellm_params: {model: openai/mock, mock_response: "Hello from the mock."}
YAML
KEY=sk-schemathesis-master-key
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
PROMPTD_MASTER_KEY=$KEY "$BIN" serve --config "$TMP/config.yaml" \
  --database-url "sqlite://$TMP/promptd.db" --host 127.0.0.1 --port "$PORT" 2>"$TMP/promptd.log" &
PROMPTD_PID=$!
for _ in $(seq 1 200); do curl -sf "$BASE/health/liveliness" >/dev/null && break; sleep 0.05; done
curl -sf "$BASE/health/liveliness" >/dev/null || { cat "$TMP/promptd.log"; exit 1; }

# The prompts the document's examples name, so path parameters reach real prompts.
seed() {
  curl -sf "$BASE/prompts" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$1" >/dev/null
}
seed '{"prompt_id": "greeting", "litellm_params": {"prompt_integration": "dotprompt",
  "dotprompt_content": "---\nmodel: mock-gpt\ntemperature: 0.7\ninput:\n  schema:\n    name: string\n---\nSystem: You are friendly.\n\nUser: Say hello to {{name}}."},
  "prompt_info": {"prompt_type": "db", "environment": "production"}}'
seed '{"prompt_id": "greeting", "litellm_params": {"prompt_integration": "dotprompt",
  "dotprompt_content": "---\nmodel: mock-gpt\n---\nUser: Hi {{name}}, draft."},
  "prompt_info": {"prompt_type": "db", "environment": "staging"}}'
seed '{"prompt_id": "summary", "litellm_params": {"prompt_integration": "dotprompt",
  "dotprompt_content": "---\nmodel: mock-gpt\n---\nUser: Summarise {{text}}."}}'

set +e
# One worker: concurrent stateful scenarios share the registry, so one scenario deleting
# `greeting` would make another's "created, then not found" a false failure.
# Run from the temporary folder: schemathesis and hypothesis write state into the current one.
cd "$TMP"
export SCHEMATHESIS_HOOKS="$ROOT/scripts/schemathesis_hooks.py"
"$VENV/bin/schemathesis" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
  -H "Authorization: Bearer $KEY" \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --workers 1 \
  --report junit --report-junit-path "$TMP/junit.xml" \
  --no-color 2>&1 | tee "$TMP/schemathesis.log"
status=${PIPESTATUS[0]}
set -e
# Totals from the JUnit report: one test case per operation (and per stateful scenario).
read -r tests failed < <(python3 - "$TMP/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
total = bad = 0
for c in cases:
    total += 1
    if c.find("failure") is not None or c.find("error") is not None:
        bad += 1
print(total, bad)
PY
)
tests=${tests:-0}
failed=${failed:-0}
if [ "$status" -ne 0 ]; then
  echo "--- promptd log (last 30 lines)"; tail -n 30 "$TMP/promptd.log"
  [ "$failed" -eq 0 ] && failed=1
fi
cases=$(grep -Eo '[0-9]+ generated' "$TMP/schemathesis.log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
echo "schemathesis: $((tests - failed)) passed, $failed failed ($cases requests generated)"
exit "$status"
