#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# Instructions per warm request (docs/benchmarks.md, "Speed pass: warm feeds"): the figure
# that the load of a shared machine does not move. Seeds the demo community once (embedded
# backends), lets a plain chorusd work off the seed's backlog, then for each binary runs
# chorusd under callgrind on a copy of that data, with collection only inside the request
# handlers (ch__on_req: the loop's part with the reads run on the loop; ch__run_blocking and
# ch__after_blocking: a worker's run and its answer; a toggle nested in another would switch
# collection off, so ch__run_call is not one), logged in as maya_1:
# each read 20 times (warm), counters zeroed, 100 more, dumped; the total divided by 100.
# A ranking is reused for 10 min (CHORUS_FEED_REUSE_MS), so that a slow run under valgrind
# never counts a new ranking in the warm home read. Requests may take 2 min
# (CHORUS_REQUEST_TIMEOUT): under valgrind a cold pick read (the first home ranking) could pass
# the default 5 s and stop the script with a 503 on a loaded machine.
#
# Usage: bench/reads/instr.sh [CHORUSD...]   (default: build/chorusd)
# Environment: INSTR_USERS (2000), INSTR_READS (a grep -E pattern on the labels of
# bench/reads/pick.py, default 'story tray|home feed|following feed'), BENCH_KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/reads
py=/usr/bin/python3
users=${INSTR_USERS:-2000}
only=${INSTR_READS:-story tray|home feed|following feed}
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ $# -gt 0 ] || set -- "$root/build/chorusd"
command -v valgrind >/dev/null || die "valgrind not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-instr.XXXXXX")
pid=""
cleanup() {
  local rc=$?
  stop "$pid"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

env_common=(CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192 CHORUS_LOG_LEVEL=warn CHORUS_THREADS=1
  CHORUS_RATE_LIMIT_IP=100000000 CHORUS_RATE_LIMIT_USER=100000000 CHORUS_ACCESS_TTL=86400
  CHORUS_FEED_REUSE_MS=600000 CHORUS_REQUEST_TIMEOUT=120000)

# start BIN DATA [WRAPPER...]: starts chorusd on a free port; sets pid and base.
start() {
  local bin=$1 data=$2 port
  shift 2
  port=$(free_port)
  base="http://127.0.0.1:$port"
  env "${env_common[@]}" CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DATA_DIR="$data" "$@" "$bin" \
    >"$data.out" 2>"$data.log" &
  pid=$!
  for _ in $(seq 1800); do
    kill -0 "$pid" 2>/dev/null || { tail "$data.log" >&2; die "chorusd exited during start-up"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ] && return 0
    sleep 0.1
  done
  die "chorusd not ready"
}

# calm: waits until the worker role's consumers have caught up (as bench/reads/run.sh).
calm() {
  local n=0 lag
  sleep 2
  for _ in $(seq 600); do
    lag=$(curl -s "$base/metrics" | awk '/^chorus_consumer_lag_seconds/ && !/clickhouse/ { if ($2 > m) m = $2 } END { print m + 0 }')
    if awk -v l="$lag" 'BEGIN { exit !(l < 1) }'; then n=$((n + 1)); else n=0; fi
    [ "$n" -ge 4 ] && return 0
    sleep 0.5
  done
}

first=$1
echo "bench: instr: seeding $users users" >&2
env "${env_common[@]}" CHORUS_DATA_DIR="$tmp/seed" "$first" seed --users "$users" >"$tmp/seed.out" 2>"$tmp/seed.log"
start "$first" "$tmp/seed"
calm
stop "$pid"
pid=""

# moved: loop reads run again on a worker (lock or budget) plus those whose handler asked for one.
moved() {
  curl -s "$base/metrics" | awk '/^chorus_loop_reads_(moved|handed)_total / { s += $2 } END { print s + 0 }'
}

printf '| binary | read | instructions per warm request | moved to a worker (of 100) |\n|---|---|---:|---:|\n'
for bin in "$@"; do
  data=$tmp/data-$(basename "$(dirname "$(dirname "$bin")")")-$RANDOM
  cp -a "$tmp/seed" "$data"
  start "$bin" "$data" valgrind --tool=callgrind --toggle-collect=ch__on_req --toggle-collect=ch__run_blocking \
    --toggle-collect=ch__after_blocking \
    --callgrind-out-file="$data.cg.%p" --quiet
  calm
  # under valgrind on a loaded machine a login or a pick can answer 503 (deadline): tried again
  token=""
  for _ in $(seq 10); do
    token=$(curl -sS -H 'Content-Type: application/json' -d '{"handle":"maya_1","password":"chorus-demo"}' \
      "$base/v1/auth/login" | "$py" -c 'import json,sys; print(json.load(sys.stdin).get("access_token", ""))') || true
    [ -n "$token" ] && break
    sleep 2
  done
  [ -n "$token" ] || die "login failed"
  for try in 1 2 3; do
    "$py" "$here/pick.py" "$base" "$token" >"$data.reads.tsv" && break
    [ "$try" = 3 ] && die "pick failed"
    sleep 2
  done
  while IFS=$'\t' read -r label path; do
    echo "$label" | grep -Eq -- "$only" || continue
    for _ in $(seq 20); do curl -s -o /dev/null -H "Authorization: Bearer $token" "$base$path"; done
    m0=$(moved) # before the zeroing: the /metrics read is not counted
    callgrind_control -z "$pid" >/dev/null
    for _ in $(seq 100); do curl -s -o /dev/null -H "Authorization: Bearer $token" "$base$path"; done
    callgrind_control -d "$pid" >/dev/null
    sleep 0.5
    last=$(ls -t "$data".cg.* | head -n 1)
    # summary: the events counted since the zeroing (a dump's totals: line can be larger)
    ir=$(awk '/^summary:/ { print $2 }' "$last")
    mv=$(( $(moved) - m0 ))
    # valgrind's slowdown can blow the loop's 5 ms budget: such a run measured worker reads
    [ "$mv" -ne 0 ] && mv="$mv (!)" && echo "bench: instr: $label: $mv requests moved to a worker" >&2
    printf '| %s | %s | %s | %s |\n' "$bin" "$label" "$(( ${ir:-0} / 100 ))" "$mv"
  done <"$data.reads.tsv"
  stop "$pid"
  pid=""
done
