#!/usr/bin/env bash
# promptd vs LiteLLM, measured in one run with the same tool (wrk). See bench/README.md.
#
# Usage: bench/run.sh            (from anywhere; about 6-8 minutes on 2 cores)
# Environment (all optional):
#   BENCH_DURATION=10        seconds per wrk measurement
#   BENCH_SCALE_PROMPTS=10000 BENCH_SCALE_VERSIONS=10   the promptd-alone scale test
#   BENCH_SCALE_HTTP_PROMPTS=1000   how many of those are written through HTTP (the rest are
#                            copied in SQLite from rows promptd wrote; =BENCH_SCALE_PROMPTS for all-HTTP)
#   BENCH_WRITE_CLIENTS=4    parallel HTTP clients for the writes
#   PROMPTD_BIN=PATH         use this binary instead of building (cargo build --release -j2 -p promptd);
#   PROMPTD_BIN_DESC=TEXT    where it came from, for the report
#   BENCH_NO_FAST_ECHO=1     skip the second chat round against bench/echo-fast
#   LITELLM_ANCHOR=DIR       the LiteLLM anchor scripts (default /work/shared/anchors/litellm)
#   LITELLM_ANCHOR_DIR=DIR   its state: venv, logs (default /tmp/litellm-anchor)
#   BENCH_NO_WRITE=1         print the table but leave BENCHMARKS.md alone
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"
COMMAND_LINE="bench/run.sh${*:+ $*}"
for v in BENCH_DURATION BENCH_SCALE_PROMPTS BENCH_SCALE_VERSIONS BENCH_SCALE_HTTP_PROMPTS BENCH_WRITE_CLIENTS PROMPTD_BIN; do
  [[ -n "${!v:-}" ]] && COMMAND_LINE="$v=${!v} $COMMAND_LINE"
done
D=${BENCH_DURATION:-10}
SCALE_N=${BENCH_SCALE_PROMPTS:-10000}
SCALE_V=${BENCH_SCALE_VERSIONS:-10}
SCALE_HTTP=${BENCH_SCALE_HTTP_PROMPTS:-1000}
(( SCALE_HTTP > SCALE_N )) && SCALE_HTTP=$SCALE_N
(( SCALE_HTTP < 1 )) && SCALE_HTTP=1
WRITERS=${BENCH_WRITE_CLIENTS:-4}
ANCHOR=${LITELLM_ANCHOR:-/work/shared/anchors/litellm}
export LITELLM_ANCHOR_DIR=${LITELLM_ANCHOR_DIR:-/tmp/litellm-anchor}
export LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-sk-anchor-3f9a2c7e5b1d4086a7e2c9f0b3d5e8a1}
export KEY=$LITELLM_MASTER_KEY
T_START=$(date +%s)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- prerequisites
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]} with apt-get"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
[[ -d "$ANCHOR" ]] || { echo "run.sh: LiteLLM anchor not found at $ANCHOR (set LITELLM_ANCHOR)" >&2; exit 1; }
if [[ ! -x "$LITELLM_ANCHOR_DIR/venv/bin/litellm" ]]; then
  log "installing LiteLLM with $ANCHOR/setup.sh (a few minutes, once)"
  "$ANCHOR/setup.sh" >&2
fi
PY="$LITELLM_ANCHOR_DIR/venv/bin/python"   # has pyyaml, which gen_config.py needs

BIN_GIVEN=0; [[ -n "${PROMPTD_BIN:-}" ]] && BIN_GIVEN=1
if [[ -z "${PROMPTD_BIN:-}" ]]; then
  log "cargo build --release -j2 -p promptd"
  if ! cargo build --release -j2 -p promptd >&2; then
    echo "run.sh: the release build failed (is someone's work in progress in the tree?)." >&2
    echo "        Fix it, or point PROMPTD_BIN at a promptd binary to measure." >&2
    exit 1
  fi
  PROMPTD_BIN="$ROOT/target/release/promptd"
fi
[[ -x "$PROMPTD_BIN" ]] || { echo "run.sh: $PROMPTD_BIN is not executable" >&2; exit 1; }

# ---------------------------------------------------------------- workspace and cleanup
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RES="$ROOT/bench/results/$STAMP"      # raw outputs (git-ignored)
mkdir -p "$RES"
TMP=$(mktemp -d /tmp/promptd-bench.XXXXXX)
PIDS=()   # every server we start runs in its own session; we stop each by its pid's group
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ECHO_PORT=$(free_port); LL_PORT=$(free_port); PD_PORT=$(free_port); SC_PORT=$(free_port)
LL="http://127.0.0.1:$LL_PORT"; PD="http://127.0.0.1:$PD_PORT"; SC="http://127.0.0.1:$SC_PORT"

# start NAME PORT TIMEOUT CMD...: spawn, time to healthy (/health/readiness every 10 ms), remember pid
start() {
  local name=$1 port=$2 timeout=$3; shift 3
  local s
  if ! s=$(python3 "$HERE/startup.py" "$TMP/$name.pid" "$RES/$name.log" \
      "http://127.0.0.1:$port/health/readiness" "$timeout" -- "$@"); then
    [[ -s "$TMP/$name.pid" ]] && PIDS+=("$(cat "$TMP/$name.pid")")
    echo "run.sh: $name did not become healthy" >&2; exit 1
  fi
  PIDS+=("$(cat "$TMP/$name.pid")")
  echo "$s" >"$RES/startup_$name.txt"
  log "$name healthy after ${s}s (pid $(cat "$TMP/$name.pid"))"
}
pid_of() { cat "$TMP/$1.pid"; }
idle_rss() { sleep 2; python3 "$HERE/rss.py" now "$(pid_of "$1")" >"$RES/rss_idle_$1.txt"; log "$1 idle RSS $(cat "$RES/rss_idle_$1.txt") MiB"; }

# bench NAME URL CONNS [wrk args...]: one wrk measurement, raw output in $RES/NAME.wrk; wrk's own
# CPU time in NAME.wrkcpu and, when $SERVER names a started server, that server's CPU seconds in NAME.cpu
bench() {
  local name=$1 url=$2 c=$3; shift 3
  local t=2; ((c < 2)) && t=1
  local cpu0=""
  [[ -n "${SERVER:-}" ]] && cpu0=$(python3 "$HERE/rss.py" cpu "$(pid_of "$SERVER")")
  log "wrk $name: -t$t -c$c -d${D}s $url"
  local TIMEFORMAT='%U %S %R'
  { time wrk -t"$t" -c"$c" -d"${D}s" --timeout 10s --latency "$@" "$url" >"$RES/$name.wrk"; } 2>"$RES/$name.wrkcpu"
  if [[ -n "$cpu0" ]]; then
    python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$cpu0" \
      "$(python3 "$HERE/rss.py" cpu "$(pid_of "$SERVER")")" >"$RES/$name.cpu"
  fi
}
warm() { wrk -t1 -c4 -d2s --timeout 10s "$@" >/dev/null; }
# peak RSS of server SERVER's process tree while a command runs, kept as the max over calls
with_peak() {
  local server=$1; shift
  python3 "$HERE/rss.py" peak "$(pid_of "$server")" "$TMP/peak.tmp" &
  local sampler=$!
  "$@"
  kill -TERM "$sampler"; wait "$sampler" || true
  local prev=0; [[ -f "$RES/rss_peak_$server.txt" ]] && prev=$(cat "$RES/rss_peak_$server.txt")
  python3 -c 'import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))' "$prev" "$(cat "$TMP/peak.tmp")" >"$RES/rss_peak_$server.txt"
}
status_of() { # METHOD URL [BODY]
  curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' ${3:+-d "$3"} "$2"
}

# ---------------------------------------------------------------- machine and versions
{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem_total=$(free -h | awk '/^Mem:/ {print $2}')"
  echo "kernel=$(uname -r)"
  echo "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "promptd_version=$("$PROMPTD_BIN" --version)"
  echo "promptd_bin=$PROMPTD_BIN"
  echo "promptd_bin_given=$BIN_GIVEN"
  echo "promptd_bin_desc=${PROMPTD_BIN_DESC:-}"
  echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty=$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | wc -l)
  echo "git_crates_dirty_files=$dirty"
  echo "litellm_version=$("$LITELLM_ANCHOR_DIR/venv/bin/pip" show litellm 2>/dev/null | awk '/^Version:/ {print $2}')"
  echo "wrk_version=$(wrk -v 2>&1 | head -1 | sed 's/ Copyright.*//')"
  echo "python_version=$(python3 --version | cut -d' ' -f2)"
  echo "rustc_version=$(rustc --version 2>/dev/null || echo unknown)"
  echo "duration_s=$D"
  echo "scale_prompts=$SCALE_N"
  echo "scale_versions=$SCALE_V"
  echo "scale_http_prompts=$SCALE_HTTP"
  echo "write_clients=$WRITERS"
  echo "command=$COMMAND_LINE"
} >"$RES/meta.env"
free -h >"$RES/free.txt"

# ---------------------------------------------------------------- one config for both servers
ECHO_PORT=$ECHO_PORT "$PY" "$ANCHOR/gen_config.py" 100 "$TMP/config.yaml" >&2
cp "$TMP/config.yaml" "$RES/config.yaml"

# echo upstream (the anchor's, for both servers)
setsid bash -c 'echo $$ >"$1"; exec python3 "$2" "$3"' _ "$TMP/echo_py.pid" "$ANCHOR/echo_upstream.py" "$ECHO_PORT" \
  >"$RES/echo_py.log" 2>&1 </dev/null &
for _ in $(seq 1 100); do [[ -s "$TMP/echo_py.pid" ]] && break; sleep 0.05; done
PIDS+=("$(pid_of echo_py)")
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$ECHO_PORT/" && break; sleep 0.05; done

# ---------------------------------------------------------------- start both servers
# LiteLLM as the anchor's start.sh runs it (config-only, no database), but timed by us
start litellm "$LL_PORT" 300 env -u DATABASE_URL LITELLM_LOG=ERROR LITELLM_MODE=PRODUCTION LITELLM_TELEMETRY=False \
  "$LITELLM_ANCHOR_DIR/venv/bin/litellm" --config "$TMP/config.yaml" --host 127.0.0.1 --port "$LL_PORT"
idle_rss litellm
# promptd: the same file, unchanged (its master key is general_settings.master_key = os.environ/LITELLM_MASTER_KEY)
start promptd "$PD_PORT" 60 env -u PROMPTD_MASTER_KEY -u PROMPTD_CONFIG -u PROMPTD_DATABASE_URL \
  "$PROMPTD_BIN" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/promptd.db" --port "$PD_PORT"
idle_rss promptd

log "checking that both servers serve the same config prompts"
python3 "$HERE/check_config.py" "$LL" "$PD" "$KEY" >"$RES/check_config.txt" 2>&1 || true
sed 's/^/    /' "$RES/check_config.txt" >&2

# ---------------------------------------------------------------- reads
H=(-H "Authorization: Bearer $KEY")
for SERVER in promptd litellm; do
  base=$PD; [[ $SERVER == litellm ]] && base=$LL
  for ep in list info; do
    path=/prompts/list; [[ $ep == info ]] && path=/prompts/bench_prompt_050/info
    warm "${H[@]}" "$base$path"
    with_peak "$SERVER" bench "${SERVER}_${ep}_c32" "$base$path" 32 "${H[@]}"
    bench "${SERVER}_${ep}_c1" "$base$path" 1 "${H[@]}"
  done
done
SERVER=

# ---------------------------------------------------------------- chat with prompt_id via an echo upstream
CHAT_BODY='{"model": "echo-gpt", "prompt_id": "echo_prompt", "prompt_variables": {"name": "Ada", "lang": "French"}, "messages": [{"role": "user", "content": "Please keep it short."}]}'
for s in litellm promptd; do
  base=$PD; [[ $s == litellm ]] && base=$LL
  curl -s -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$CHAT_BODY" \
    "$base/chat/completions" >"$RES/chat_sample_$s.json" || true
done
# what a proxy sends upstream for that request, to measure the upstream alone
DIRECT_LUA="$TMP/direct.lua"
cat >"$DIRECT_LUA" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": "echo-upstream", "messages": [{"role": "system", "content": "You are helpful to Ada."}, {"role": "user", "content": "Greet Ada in French."}, {"role": "user", "content": "Please keep it short."}], "temperature": 0.3, "max_tokens": 50}'
LUA
# chat_round UPSTREAM_TAG: the upstream alone, then each server non-streaming and streaming at c=32
chat_round() {
  local up=$1 code stream name
  SERVER=echo_$up
  warm -s "$DIRECT_LUA" "http://127.0.0.1:$ECHO_PORT/v1/chat/completions"
  bench "direct_${up}_c32" "http://127.0.0.1:$ECHO_PORT/v1/chat/completions" 32 -s "$DIRECT_LUA"
  for SERVER in promptd litellm; do
    base=$PD; [[ $SERVER == litellm ]] && base=$LL
    code=$(status_of POST "$base/chat/completions" "$CHAT_BODY")
    echo "$code" >"$RES/chat_status_${SERVER}_$up.txt"
    if [[ $code == 404 ]]; then
      log "$SERVER answers 404 for POST /chat/completions: n/a (endpoint missing)"
      continue
    fi
    [[ $code == 200 ]] || log "warning: $SERVER answers $code for POST /chat/completions (see $RES/chat_sample_$SERVER.json)"
    for stream in 0 1; do
      export STREAM=$stream
      name=${SERVER}_chat_${up}_c32; ((stream)) && name=${SERVER}_chatstream_${up}_c32
      warm -s "$HERE/chat.lua" "$base/chat/completions"
      bench "$name" "$base/chat/completions" 32 -s "$HERE/chat.lua"
    done
  done
  SERVER=
}
chat_round py
# The anchor's echo upstream (Python, HTTP/1.0: a new connection per call, listen backlog 5) is
# itself slower than promptd; the same answers from bench/echo-fast (Rust, keep-alive) on the same
# port show what promptd does when the upstream is not the limit.
if [[ -z "${BENCH_NO_FAST_ECHO:-}" ]]; then
  log "building bench/echo-fast (cached after the first run)"
  if cargo build --release -j2 -q --manifest-path "$HERE/echo-fast/Cargo.toml" >&2; then
    stop_pid "$(pid_of echo_py)"
    setsid bash -c 'echo $$ >"$1"; exec "$2" "$3" 1' _ "$TMP/echo_fast.pid" "$HERE/echo-fast/target/release/echo-fast" "$ECHO_PORT" \
      >"$RES/echo_fast.log" 2>&1 </dev/null &
    for _ in $(seq 1 100); do [[ -s "$TMP/echo_fast.pid" ]] && break; sleep 0.05; done
    PIDS+=("$(pid_of echo_fast)")
    for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$ECHO_PORT/" && break; sleep 0.05; done
    chat_round fast
  else
    log "bench/echo-fast did not build: skipping the fast-upstream chat round"
  fi
fi

log "stopping LiteLLM and the 100-prompt promptd"
stop_pid "$(pid_of litellm)"; stop_pid "$(pid_of promptd)"

# ---------------------------------------------------------------- promptd alone at scale
# same config (100 config prompts) + SCALE_N database prompts x SCALE_V versions
start scale_fresh "$SC_PORT" 60 env -u PROMPTD_MASTER_KEY -u PROMPTD_CONFIG -u PROMPTD_DATABASE_URL \
  "$PROMPTD_BIN" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/scale.db" --port "$SC_PORT"
log "writing $SCALE_HTTP prompts x $SCALE_V versions through HTTP with $WRITERS clients"
python3 "$HERE/create_versions.py" "$SC" "$KEY" "$SCALE_HTTP" "$SCALE_V" "$WRITERS" "$RES/writes.json" scale >&2
stop_pid "$(pid_of scale_fresh)"
if ((SCALE_N > SCALE_HTTP)); then
  log "copying to $SCALE_N prompts in SQLite (promptd stopped)"
  python3 "$HERE/bulk_versions.py" "$TMP/scale.db" scale "$SCALE_HTTP" "$SCALE_N" "$SCALE_V" | tee "$RES/bulk.txt" >&2
fi
ls -l "$TMP"/scale.db* >"$RES/scale_db_size.txt"
start scale "$SC_PORT" 120 env -u PROMPTD_MASTER_KEY -u PROMPTD_CONFIG -u PROMPTD_DATABASE_URL \
  "$PROMPTD_BIN" serve --config "$TMP/config.yaml" --database-url "sqlite://$TMP/scale.db" --port "$SC_PORT"
idle_rss scale
curl -s "$SC/metrics" | grep -E '^promptd_prompt(s|_versions) ' >"$RES/scale_metrics.txt" || true
sed 's/^/    /' "$RES/scale_metrics.txt" >&2
mid=$(printf 'scale_%05d' $((SCALE_N / 2)))
echo "$mid" >"$RES/scale_mid.txt"
curl -s "${H[@]}" "$SC/prompts/$mid/versions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["prompts"]))' \
  >"$RES/scale_mid_versions.txt" || true
SERVER=scale
for ep in list info info10; do
  case $ep in
    list) path="/prompts/list?page=1&page_size=100" ;;
    info) path=/prompts/bench_prompt_050/info ;;
    info10) path=/prompts/$mid/info ;;
  esac
  warm "${H[@]}" "$SC$path"
  with_peak scale bench "scale_${ep}_c32" "$SC$path" 32 "${H[@]}"
done
SERVER=
stop_pid "$(pid_of scale)"

echo "loadavg_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/meta.env"
echo "elapsed_s=$(( $(date +%s) - T_START ))" >>"$RES/meta.env"

# ---------------------------------------------------------------- report
WRITE_ARGS=("$ROOT/BENCHMARKS.md"); [[ -n "${BENCH_NO_WRITE:-}" ]] && WRITE_ARGS=()
python3 "$HERE/report.py" "$RES" "${WRITE_ARGS[@]}"
log "raw results in $RES; done in $(( $(date +%s) - T_START )) s"
