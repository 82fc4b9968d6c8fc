#!/usr/bin/env bash
# Read throughput of two promptd binaries in one run, alternating, on identical data:
# GET /prompts/{id}/info and GET /prompts/list at c=32 (wrk -t2), ROUNDS rounds each.
# Usage: bench/reads_compare.sh OLD_BIN NEW_BIN [SECONDS] [ROUNDS]
# Prints a markdown table: median req/s and median p99 per binary and endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 DUR=${3:-5} ROUNDS=${4:-3}
export PROMPTD_MASTER_KEY=sk-bench
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
wait_ready() { for _ in $(seq 1 500); do curl -sf "http://127.0.0.1:$1/health/readiness" >/dev/null && return 0; sleep 0.02; done; return 1; }
auth=(-H "Authorization: Bearer $PROMPTD_MASTER_KEY" -H 'content-type: application/json')

# The same 100 prompts (3 versions each) written through each binary's own API, in its own file.
seed() { # port
  for i in $(seq -w 0 99); do
    for v in 1 2 3; do
      curl -sf "${auth[@]}" "http://127.0.0.1:$1/prompts" -d "{\"prompt_id\":\"bench_prompt_0$i\",\"litellm_params\":{\"prompt_integration\":\"dotprompt\",\"dotprompt_content\":\"---\\nmodel: gpt-4o\\ntemperature: 0.$v\\ninput:\\n  schema:\\n    name: string\\n---\\nSystem: You are prompt $i.\\n\\nUser: Hello {{name}}, version $v.\"},\"prompt_info\":{\"prompt_type\":\"db\",\"environment\":\"production\"}}" >/dev/null
    done
  done
}

measure() { # bin name port path -> "rps p99ms"
  wrk -t2 -c32 -d"${DUR}s" --latency -H "Authorization: Bearer $PROMPTD_MASTER_KEY" "http://127.0.0.1:$3$4" >"$TMP/out"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$TMP/out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$TMP/out")
  echo "$rps $p99"
}

declare -A PORT=([old]=4201 [new]=4202) BIN=([old]=$OLD [new]=$NEW)
for who in old new; do
  "${BIN[$who]}" serve --database-url "sqlite://$TMP/$who.db" --port "${PORT[$who]}" 2>"$TMP/$who.log" &
  wait_ready "${PORT[$who]}"
  seed "${PORT[$who]}"
done
for r in $(seq 1 "$ROUNDS"); do
  for ep in info list; do
    path=/prompts/bench_prompt_050/info; [[ $ep == list ]] && path=/prompts/list
    for who in old new; do
      measure "$who" "$who" "${PORT[$who]}" "$path" >>"$TMP/$who.$ep"
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| endpoint | binary | req/s (median of $ROUNDS) | p99 ms (median) |"
echo "|---|---|---|---|"
for ep in info list; do
  for who in old new; do
    rps=$(awk '{print $1}' "$TMP/$who.$ep" | median)
    p99=$(awk '{print $2}' "$TMP/$who.$ep" | median)
    echo "| $ep | $who | $rps | $p99 |"
  done
done
echo
echo "wrk -t2 -c32 -d${DUR}s, alternating old/new, $ROUNDS rounds; 100 prompts × 3 versions in SQLite; old=$OLD new=$NEW"
