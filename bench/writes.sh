#!/usr/bin/env bash
# Write throughput: versions appended per second on SQLite and on PostgreSQL, by wrk PUTting
# new versions of one prompt (the worst case: every write contends for the same counter row).
# Usage: bench/writes.sh [SECONDS] [CONNECTIONS]   (PROMPTD_BIN=PATH uses that binary instead of
# building; the PostgreSQL part needs PROMPTD_BENCH_POSTGRES_URL,
# default postgres://postgres@127.0.0.1:5432/postgres; a database promptd_bench_writes is created and dropped)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONN=${2:-8}
export PROMPTD_MASTER_KEY=sk-bench
PG_ADMIN=${PROMPTD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -n "${PROMPTD_BIN:-}" ]]; then
  BIN=$PROMPTD_BIN
else
  cargo build --release -j2 -p promptd >/dev/null
  BIN="${CARGO_TARGET_DIR:-target}/release/promptd"
fi
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

wait_ready() { for _ in $(seq 1 500); do curl -sf "http://127.0.0.1:$1/health/readiness" >/dev/null && return 0; sleep 0.02; done; return 1; }

run() { # name url port
  local name=$1 url=$2 port=$3
  $BIN serve --database-url "$url" --port "$port" 2>"$TMP/$name.log" &
  local pid=$!
  wait_ready "$port"
  curl -sf -X POST "http://127.0.0.1:$port/prompts" -H "Authorization: Bearer $PROMPTD_MASTER_KEY" -H 'content-type: application/json' \
    -d '{"prompt_id":"bench_writes","litellm_params":{"prompt_integration":"dotprompt","dotprompt_content":"User: hi"}}' >/dev/null
  wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s bench/put.lua "http://127.0.0.1:$port/prompts/bench_writes" >"$TMP/$name.wrk"
  local versions
  versions=$(curl -sf "http://127.0.0.1:$port/prompts/bench_writes/info" -H "Authorization: Bearer $PROMPTD_MASTER_KEY" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prompt_spec"]["version"])')
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/$name.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$TMP/$name.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/$name.wrk")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$TMP/$name.wrk")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$versions" "${non2xx:-0}"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "| backend | versions/s | p50 | p99 | versions written | non-2xx |"
echo "|---|---|---|---|---|---|"
run sqlite "sqlite://$TMP/bench.db" 4101
if psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS promptd_bench_writes' >/dev/null 2>&1 && psql "$PG_ADMIN" -qc 'CREATE DATABASE promptd_bench_writes' >/dev/null; then
  PG_URL="${PG_ADMIN%/*}/promptd_bench_writes"
  $BIN migrate --database-url "$PG_URL" >/dev/null
  run postgres "$PG_URL" 4102
  psql "$PG_ADMIN" -qc 'DROP DATABASE IF EXISTS promptd_bench_writes WITH (FORCE)' >/dev/null
else
  echo "| postgres | skipped: no server at $PG_ADMIN | | | | |"
fi
echo
echo "wrk -t2 -c$CONN -d${DUR}s, PUT /prompts/bench_writes (one prompt: every write contends for one counter row)"
