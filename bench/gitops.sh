#!/usr/bin/env bash
# Prompts as code and backups, end to end with the real binary over HTTP:
#  - `promptd push DIR` of 10,000 new prompts (one version each), SQLite and PostgreSQL;
#  - a no-change `promptd push --dry-run` of the same folder;
#  - `promptd backup` and `promptd restore` of 100,000 versions (10 environments x 10,000 prompts,
#    written by one push), SQLite -> SQLite and SQLite -> PostgreSQL (restore), PostgreSQL backup.
# Usage: bench/gitops.sh   (PostgreSQL part needs PROMPTD_BENCH_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/postgres; databases promptd_bench_gitops_* are created and dropped)
set -euo pipefail
cd "$(dirname "$0")/.."
export PROMPTD_MASTER_KEY=sk-bench PROMPTD_KEY=sk-bench
PG_ADMIN=${PROMPTD_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -j2 -p promptd >/dev/null
BIN="${CARGO_TARGET_DIR:-target}/release/promptd"
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

wait_ready() { for _ in $(seq 1 1500); do curl -sf "http://127.0.0.1:$1/health/readiness" >/dev/null && return 0; sleep 0.02; done; return 1; }
secs() { python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.2f}')" "$1" "$2"; }
timed() { local t0 t1; t0=$(date +%s%N); "$@" >"$TMP/last.out" 2>&1 || { cat "$TMP/last.out"; return 1; }; t1=$(date +%s%N); secs "$t0" "$t1"; }
pg_db() { psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null && psql "$PG_ADMIN" -qc "CREATE DATABASE $1" >/dev/null && echo "${PG_ADMIN%/*}/$1"; }

# A folder: ENVS environment folders of N prompts each (a realistic 300-byte template each).
make_folder() { # dir envs n
  python3 - "$1" "$2" "$3" <<'PY'
import os, sys
root, envs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = ["production", "staging", "development"] + [f"env{i}" for i in range(3, envs)]
for env in names[:envs]:
    d = os.path.join(root, env); os.makedirs(d, exist_ok=True)
    for i in range(n):
        with open(os.path.join(d, f"prompt_{i:05d}.prompt"), "w") as f:
            f.write(f"---\nmodel: gpt-4o\ntemperature: 0.{i % 10}\ninput:\n  schema:\n    name: string\n---\n"
                    f"System: You are assistant number {i} in {env}. Answer briefly and politely.\n\n"
                    f"User: Say hello to {{{{name}}}} and mention the ticket {i}.\n")
PY
}

push_bench() { # name url port
  local name=$1 url=$2 port=$3 pid
  $BIN serve --database-url "$url" --port "$port" 2>"$TMP/$name.log" &
  pid=$!
  wait_ready "$port"
  export PROMPTD_URL="http://127.0.0.1:$port"
  local t_push t_dry
  t_push=$(timed "$BIN" push "$TMP/f10k")
  t_dry=$(timed "$BIN" push "$TMP/f10k" --dry-run)
  printf '| %s | push 10,000 new prompts | %s s |\n' "$name" "$t_push"
  printf '| %s | push --dry-run, no change (10,000) | %s s |\n' "$name" "$t_dry"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

make_folder "$TMP/f10k" 1 10000
make_folder "$TMP/f100k" 10 10000
echo "| backend | what | time |"
echo "|---|---|---|"
push_bench sqlite "sqlite://$TMP/push.db" 4201
PG_OK=0
if PG_URL=$(pg_db promptd_bench_gitops_push); then
  PG_OK=1
  $BIN migrate --database-url "$PG_URL" >/dev/null
  push_bench postgres "$PG_URL" 4202
fi

# 100,000 versions in one SQLite database (one push), then backup and restore.
$BIN serve --database-url "sqlite://$TMP/big.db" --port 4203 2>"$TMP/big.log" &
pid=$!; wait_ready 4203
export PROMPTD_URL=http://127.0.0.1:4203
t=$(timed "$BIN" push "$TMP/f100k")
printf '| sqlite | push 100,000 new versions (10 environments x 10,000) | %s s |\n' "$t"
t=$(timed "$BIN" backup --database-url "sqlite://$TMP/big.db" --out "$TMP/big.jsonl.gz")
printf '| sqlite | backup 100,000 versions (server running) | %s s (%s bytes) |\n' "$t" "$(stat -c %s "$TMP/big.jsonl.gz")"
kill "$pid"; wait "$pid" 2>/dev/null || true
t=$(timed "$BIN" restore "$TMP/big.jsonl.gz" --database-url "sqlite://$TMP/restored.db")
printf '| sqlite | restore 100,000 versions into an empty database | %s s |\n' "$t"
if [ "$PG_OK" = 1 ] && PG_URL=$(pg_db promptd_bench_gitops_big); then
  t=$(timed "$BIN" restore "$TMP/big.jsonl.gz" --database-url "$PG_URL")
  printf '| postgres | restore 100,000 versions into an empty database | %s s |\n' "$t"
  t=$(timed "$BIN" backup --database-url "$PG_URL" --out "$TMP/pg.jsonl.gz")
  printf '| postgres | backup 100,000 versions | %s s |\n' "$t"
  PG2=$(pg_db promptd_bench_gitops_copy)
  t=$(timed "$BIN" copy --from "sqlite://$TMP/big.db" --to "$PG2")
  printf '| sqlite -> postgres | copy 100,000 versions | %s s |\n' "$t"
  for d in push big copy; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS promptd_bench_gitops_$d WITH (FORCE)" >/dev/null; done
else
  echo "| postgres | skipped: no server at $PG_ADMIN | |"
fi
echo
echo "release build; times are wall clock of the promptd command, end to end over HTTP for push."
