#!/usr/bin/env bash
# Verifies promptd's webhook signatures with the `standardwebhooks` package from PyPI (the
# Standard Webhooks reference verifier). Usage: scripts/webhooks-check.sh   (needs python3, cargo)
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
VENV=${PROMPTD_WEBHOOKS_VENV:-/tmp/promptd-standardwebhooks-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q standardwebhooks
fi
cargo build -j2 -p promptd -q
cat >"$TMP/config.yaml" <<YAML
promptd_settings:
  webhooks_allow_private: true
YAML
export PROMPTD_MASTER_KEY=sk-webhooks-check
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${CARGO_TARGET_DIR:-target}/debug/promptd" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/p.db" --port "$PORT" 2>"$TMP/promptd.log" &
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/health/liveliness" >/dev/null && break; sleep 0.05; done
PROMPTD_URL="http://127.0.0.1:$PORT" PROMPTD_KEY=$PROMPTD_MASTER_KEY "$VENV/bin/python" scripts/webhooks_check.py || { tail -n 30 "$TMP/promptd.log"; exit 1; }
