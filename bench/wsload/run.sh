#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# Gateway benchmarks (issue 13; docs/benchmarks.md, "Gateway"): chorusd's WebSocket gateway
# (embedded backends: every message is stored, durable, before it is acknowledged) against a
# Node.js `ws` server doing the same fan-out without storage (node_server.js), in the same run,
# over loopback, driven by the same C load generator (wsload, epoll, many 127.0.0.x source
# addresses). Workloads:
#   idle    WSLOAD_IDLE connections held open; each server's RSS growth per connection
#   direct  1:1 messages: at a fixed rate both can hold (latency), then as fast as acks allow
#           (throughput)
#   group   a WSLOAD_GROUP-member group, every member connected, one sender: at
#           WSLOAD_GROUP_RATE messages/s (delivery p99, "reached every member" p99), then as
#           fast as its acks allow (WSLOAD_GROUP_WINDOW in flight): deliveries/s
# Prints a markdown table.
#
# Usage: bench/wsload/run.sh   (after a release build in build/; `make bench` does both)
# Environment (all optional):
#   CHORUSD          server binary                          (default: build/chorusd)
#   WSLOAD           load generator                         (default: next to CHORUSD)
#   WSLOAD_IDLE      idle connections                       (default: 100000, or the
#                    descriptor limit less 2000 when that is lower)
#   WSLOAD_PAIRS     1:1 conversations (two devices each)   (default: 500)
#   WSLOAD_RATE      fixed 1:1 rate, messages/s             (default: 2000)
#   WSLOAD_GROUP     group members                          (default: 1000)
#   WSLOAD_GROUP_RATE messages/s to the group               (default: 10)
#   WSLOAD_GROUP_WINDOW group messages in flight, throughput (default: 8)
#   BENCH_DURATION   seconds per message workload and server (default: 10)
#   WSLOAD_WARMUP    connections opened and closed on each server before its idle "before"
#                    RSS, so that fixed growth (page caches of the token checks' database
#                    connections, malloc arenas of threads) is not counted per connection
#                    (default: 1000; 0: none)
#   WSLOAD_ONLY=idle only the idle workload (memory per connection); =group only the group
#                    workloads; =direct only the 1:1 ones
#   BENCH_KEEP=1     keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/wsload
chorusd=${CHORUSD:-$root/build/chorusd}
wsload=${WSLOAD:-$(dirname "$chorusd")/wsload}
idle=${WSLOAD_IDLE:-100000}
pairs=${WSLOAD_PAIRS:-500}
rate=${WSLOAD_RATE:-2000}
group=${WSLOAD_GROUP:-1000}
group_rate=${WSLOAD_GROUP_RATE:-10}
group_window=${WSLOAD_GROUP_WINDOW:-8}
duration=${BENCH_DURATION:-10}
warmup=${WSLOAD_WARMUP:-1000}
only=${WSLOAD_ONLY:-}
case "$only" in "" | idle | group | direct) ;; *) die "WSLOAD_ONLY is idle, group or direct" ;; esac
[ "$only" = group ] && idle=$group # the group's members are the connections
[ "$only" = direct ] && idle=$((2 * pairs))
py=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found: build first"
[ -x "$wsload" ] || die "$wsload not found: build first"
command -v node >/dev/null && command -v npm >/dev/null || die "node/npm not installed (scripts/deps.sh bench)"
[ -d "$here/node_modules/ws" ] || npm ci --prefix "$here" --no-audit --no-fund >&2 # the lockfile's ws
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# one process holds every idle connection: a hard descriptor limit below the goal (a container
# without CAP_SYS_RESOURCE) caps the idle workload, said in the output
fd_cap=$(($(ulimit -n) - 2000))
if [ "$idle" -gt "$fd_cap" ]; then
  echo "bench: the descriptor limit ($(ulimit -n), not raisable here) caps the idle connections at $fd_cap" >&2
  idle=$fd_cap
fi
# sources: enough 127.0.0.x addresses for $idle connections (~28k ephemeral ports each)
sources=$(((idle + 19999) / 20000 + 1))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-wsload.XXXXXX")
chorusd_pid="" node_pid=""
cleanup() {
  local rc=$?
  stop "$node_pid" 5
  stop "$chorusd_pid"
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/chorusd.log "$tmp"/node.log; do
      [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ---- chorusd, embedded ------------------------------------------------------------------------
port=$(free_port)
mkdir -p "$tmp/var"
env -C "$tmp" CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DB="sqlite:$tmp/var/chorus.db" CHORUS_LOG_LEVEL=warn \
  CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192 \
  CHORUS_RATE_LIMIT_USER=100000000 CHORUS_RATE_LIMIT_IP=100000000 CHORUS_RATE_LIMIT_MESSAGES=100000000 \
  CHORUS_MAX_CONN_PER_IP=0 CHORUS_WS_MAX_CONNECTIONS=1000000 \
  "$chorusd" >"$tmp/chorusd.log" 2>&1 &
chorusd_pid=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited"
  sleep 0.1
done
echo "bench: set-up (users, conversations) ..." >&2
"$py" "$here/setup.py" "http://127.0.0.1:$port" "$tmp" "$idle" "$pairs" "$group" >&2
cat "$tmp/group.txt" "$tmp/direct.txt" >"$tmp/convs.txt"

node "$here/node_server.js" --port 0 --users "$tmp/users.txt" --convs "$tmp/convs.txt" >"$tmp/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 100); do grep -q '^listening' "$tmp/node.log" && break; sleep 0.1; done
node_port=$(awk '/^listening/ { print $2 }' "$tmp/node.log")
[ -n "$node_port" ] || die "the node server did not start"

# run PORT ARGS...: wsload's JSON result line
run() {
  local port=$1
  shift
  "$wsload" --port "$port" --users "$tmp/users.txt" --sources "$sources" "$@" 2>>"$tmp/wsload.log" | tail -n 1
}

# idle SERVER_PID PORT -> "open bytes_per_conn": RSS growth from before the connections (after
# a warm-up batch opened and closed) to while they are held, per connection open
idle_run() {
  local pid=$1 port=$2 before after out
  if [ "$warmup" -gt 0 ]; then
    "$wsload" --port "$port" --users "$tmp/users.txt" --sources "$sources" --mode idle \
      --conns "$((warmup < idle ? warmup : idle))" --hold 0 >/dev/null 2>>"$tmp/wsload.log"
    sleep 2 # the server saw them close
  fi
  before=$(rss_kb "$pid")
  "$wsload" --port "$port" --users "$tmp/users.txt" --sources "$sources" --mode idle --conns "$idle" \
    --hold 8 >"$tmp/idle.json" 2>>"$tmp/wsload.log" &
  local w=$!
  for _ in $(seq 1800); do [ -s "$tmp/idle.json" ] && break; sleep 0.1; done
  sleep 4 # all open, the server settled
  after=$(rss_kb "$pid")
  wait "$w"
  head -n 1 "$tmp/idle.json" >"$tmp/idle1.json"
  out=$(json_field "$tmp/idle1.json" 'j["open"]')
  echo "$out $(((after - before) * 1024 / (out > 0 ? out : 1)))"
}

c_open=0 c_bytes=0 n_open=0 n_bytes=0
if [ -z "$only" ] || [ "$only" = idle ]; then
  echo "bench: idle connections ..." >&2
  read -r c_open c_bytes < <(idle_run "$chorusd_pid" "$port")
  read -r n_open n_bytes < <(idle_run "$node_pid" "$node_port")
fi
if [ "$only" = idle ]; then
  echo "| idle connections | chorusd | node ws | ratio |"
  echo "|---|---:|---:|---:|"
  echo "| open (warm-up $warmup) | $c_open | $n_open | |"
  echo "| RSS per idle connection | $c_bytes B | $n_bytes B | $("$py" -c "print(f'{$c_bytes / max($n_bytes, 1):.2f}')")× |"
  exit 0
fi
none='{}'
c_fixed=$none n_fixed=$none c_max=$none n_max=$none
if [ "$only" != group ]; then
  echo "bench: 1:1 at $rate/s ..." >&2
  c_fixed=$(run "$port" --convs "$tmp/direct.txt" --mode direct --rate "$rate" --duration "$duration")
  n_fixed=$(run "$node_port" --convs "$tmp/direct.txt" --mode direct --rate "$rate" --duration "$duration")
  echo "bench: 1:1 throughput ..." >&2
  c_max=$(run "$port" --convs "$tmp/direct.txt" --mode direct --rate 0 --window 8 --duration "$duration")
  n_max=$(run "$node_port" --convs "$tmp/direct.txt" --mode direct --rate 0 --window 8 --duration "$duration")
fi
c_group=$none n_group=$none c_gmax=$none n_gmax=$none
if [ "$only" != direct ]; then
  # chorusd, then Node, then chorusd and Node again at the maximum: each pair in the same minute
  echo "bench: group of $group at $group_rate/s ..." >&2
  c_group=$(run "$port" --convs "$tmp/group.txt" --mode group --rate "$group_rate" --duration "$duration")
  n_group=$(run "$node_port" --convs "$tmp/group.txt" --mode group --rate "$group_rate" --duration "$duration")
  echo "bench: group of $group as fast as acks allow ($group_window in flight) ..." >&2
  c_gmax=$(run "$port" --convs "$tmp/group.txt" --mode group --rate 0 --window "$group_window" --duration "$duration")
  n_gmax=$(run "$node_port" --convs "$tmp/group.txt" --mode group --rate 0 --window "$group_window" --duration "$duration")
fi

"$py" - "$c_open" "$c_bytes" "$n_open" "$n_bytes" "$c_fixed" "$n_fixed" "$c_max" "$n_max" "$c_group" "$n_group" \
  "$c_gmax" "$n_gmax" <<'PY'
import json, sys
c_open, c_bytes, n_open, n_bytes = map(int, sys.argv[1:5])
cf, nf, cm, nm, cg, ng, cx, nx = (json.loads(a) for a in sys.argv[5:13])
print("| workload | chorusd | node ws | ratio |")
print("|---|---:|---:|---:|")
if c_open or n_open:
    print(f"| idle connections open | {c_open} | {n_open} | |")
    print(f"| RSS per idle connection | {c_bytes} B | {n_bytes} B | {c_bytes / max(n_bytes, 1):.2f}× |")
for label, c, n in (("1:1 at a fixed rate", cf, nf), ("1:1 as fast as acks allow", cm, nm)):
    if not c:
        continue
    print(f"| {label}: delivered/s | {c['delivered_per_s']:.0f} | {n['delivered_per_s']:.0f} | "
          f"{c['delivered_per_s'] / max(n['delivered_per_s'], 1):.2f}× |")
    print(f"| {label}: p50 / p99 ms | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} | {n['p50_ms']:.2f} / {n['p99_ms']:.2f} | |")
    print(f"| {label}: errors, undelivered | {c['errors']}, {c['expected'] - c['delivered']} | "
          f"{n['errors']}, {n['expected'] - n['delivered']} | |")
for label, c, n in (("at a fixed rate", cg, ng), ("as fast as acks allow", cx, nx)):
    if not c:
        continue
    print(f"| group of {c.get('group_members')}, {label}: messages sent/s | {c['sent_per_s']:.1f} | "
          f"{n['sent_per_s']:.1f} | {c['sent_per_s'] / max(n['sent_per_s'], 1e-9):.2f}× |")
    print(f"| group, {label}: deliveries/s | {c['delivered_per_s']:.0f} | {n['delivered_per_s']:.0f} | "
          f"{c['delivered_per_s'] / max(n['delivered_per_s'], 1):.2f}× |")
    print(f"| group, {label}: delivery p50 / p99 ms | {c['p50_ms']:.2f} / {c['p99_ms']:.2f} | "
          f"{n['p50_ms']:.2f} / {n['p99_ms']:.2f} | |")
    print(f"| group, {label}: reached every member, p50 / p99 ms | {c['all_reached_p50_ms']:.2f} / "
          f"{c['all_reached_p99_ms']:.2f} | {n['all_reached_p50_ms']:.2f} / {n['all_reached_p99_ms']:.2f} | |")
    print(f"| group, {label}: errors, undelivered | {c['errors']}, {c['expected'] - c['delivered']} | "
          f"{n['errors']}, {n['expected'] - n['delivered']} | |")
PY
