#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# The cost of a durable 1:1 message in chorusd (issue 13; docs/benchmarks.md "Gateway"): runs
# run.sh's "1:1 throughput" workload alone (each sender keeps WSLOAD_WINDOW messages in flight)
# and reports, beside messages delivered/s, what shared-machine noise does not move: chorusd's
# CPU time (user + system, /proc/PID/stat) and user-space instructions (perf stat, when the
# kernel lets us count them) per message sent.
#
# Usage: bench/wsload/msgcost.sh   (after a release build in build/)
# Environment (all optional): CHORUSD, WSLOAD (as run.sh), WSLOAD_PAIRS (default 100),
#   WSLOAD_WINDOW (default 8), BENCH_DURATION (default 10), CHORUS_DB (default: SQLite in a
#   temporary directory), MSGCOST_NODE=1 (the same workload against run.sh's Node `ws` server
#   right after, and the ratio), MSGCOST_CLUSTER=1 (PostgreSQL 15 + Redis 7 started here in the
#   temporary directory, fsync on as shipped, instead of SQLite), MSGCOST_ENV (more VAR=value
#   settings for chorusd, e.g. "CHORUS_CHAT_GROUP_COMMIT=0" for the baseline of a
#   before/after), BENCH_KEEP=1,
#   WSLOAD_GROUP=N (the group workload instead: an N-member group, every member connected, its
#   creator keeping WSLOAD_WINDOW messages in flight; CPU per message and per delivery)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/wsload
chorusd=${CHORUSD:-$root/build/chorusd}
wsload=${WSLOAD:-$(dirname "$chorusd")/wsload}
pairs=${WSLOAD_PAIRS:-100}
window=${WSLOAD_WINDOW:-8}
duration=${BENCH_DURATION:-10}
group=${WSLOAD_GROUP:-0}
py=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found: build first"
[ -x "$wsload" ] || die "$wsload not found: build first"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true # a group's members are one connection each

pgbin=/usr/lib/postgresql/15/bin
cluster=${MSGCOST_CLUSTER:-0}
if [ "$cluster" = 1 ]; then
  [ -x "$pgbin/initdb" ] || die "PostgreSQL 15 not installed (scripts/deps.sh test)"
  command -v redis-server >/dev/null || die "redis-server not installed (scripts/deps.sh test)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-msgcost.XXXXXX")
chorusd_pid="" node_pid="" redis_port="" pg_started=0
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  local rc=$?
  stop "$node_pid" 5
  stop "$chorusd_pid"
  [ -n "$redis_port" ] && redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  [ "$pg_started" = 1 ] && as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ] && [ -s "$tmp/chorusd.log" ]; then tail -n 20 "$tmp/chorusd.log" >&2; fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

db=${CHORUS_DB:-sqlite:$tmp/var/chorus.db}
backends=()
if [ "$cluster" = 1 ]; then
  mkdir -p "$tmp/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$tmp" "$tmp/pg"
  as_pg "$pgbin/initdb" -D "$tmp/pg" -A trust -U chorus >/dev/null
  pg_port=$(free_port)
  as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
    -o "-p $pg_port -k $tmp -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  pg_started=1
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no --daemonize yes \
    --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log"
  for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  db="postgres://chorus@127.0.0.1:$pg_port/postgres"
  backends=(CHORUS_REDIS="redis://127.0.0.1:$redis_port")
fi
read -r -a extra <<<"${MSGCOST_ENV:-}"

port=$(free_port)
mkdir -p "$tmp/var"
env -C "$tmp" CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DB="$db" "${backends[@]}" "${extra[@]}" \
  CHORUS_LOG_LEVEL=warn CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192 \
  CHORUS_RATE_LIMIT_USER=100000000 CHORUS_RATE_LIMIT_IP=100000000 CHORUS_RATE_LIMIT_MESSAGES=100000000 \
  CHORUS_MAX_CONN_PER_IP=0 CHORUS_WS_MAX_CONNECTIONS=1000000 \
  "$chorusd" >"$tmp/chorusd.log" 2>&1 &
chorusd_pid=$!
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited"
  sleep 0.1
done
"$py" "$here/setup.py" "http://127.0.0.1:$port" "$tmp" $((2 * pairs)) "$pairs" "$group" >&2
if [ "$group" -gt 1 ]; then
  convs=$tmp/group.txt mode=group sources=$((group / 20000 + 2))
else
  convs=$tmp/direct.txt mode=direct sources=2
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
before=$(cpu_ticks "$chorusd_pid")
perf_out=$tmp/perf.txt
perf stat -x, -e instructions:u -p "$chorusd_pid" -o "$perf_out" 2>/dev/null &
perf_pid=$!
"$wsload" --port "$port" --users "$tmp/users.txt" --sources "$sources" --convs "$convs" --mode "$mode" \
  --rate 0 --window "$window" --duration "$duration" 2>"$tmp/wsload.log" | tail -n 1 >"$tmp/result.json"
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
after=$(cpu_ticks "$chorusd_pid")
echo '{}' >"$tmp/node.json"
if [ "${MSGCOST_NODE:-0}" = 1 ]; then
  stop "$chorusd_pid"
  chorusd_pid=""
  [ -d "$here/node_modules/ws" ] || npm ci --prefix "$here" --no-audit --no-fund >&2
  node "$here/node_server.js" --port 0 --users "$tmp/users.txt" --convs "$convs" >"$tmp/node.log" 2>&1 &
  node_pid=$!
  for _ in $(seq 100); do grep -q '^listening' "$tmp/node.log" && break; sleep 0.1; done
  node_port=$(awk '/^listening/ { print $2 }' "$tmp/node.log")
  [ -n "$node_port" ] || die "the node server did not start"
  nbefore=$(cpu_ticks "$node_pid")
  "$wsload" --port "$node_port" --users "$tmp/users.txt" --sources "$sources" --convs "$convs" --mode "$mode" \
    --rate 0 --window "$window" --duration "$duration" 2>>"$tmp/wsload.log" | tail -n 1 >"$tmp/node.json"
  nafter=$(cpu_ticks "$node_pid")
  "$py" -c 'import json, sys; j = json.load(open(sys.argv[1])); j["ticks"] = int(sys.argv[2]); json.dump(j, open(sys.argv[1], "w"))' \
    "$tmp/node.json" "$((nafter - nbefore))"
fi
"$py" - "$tmp/result.json" "$((after - before))" "$(getconf CLK_TCK)" "$perf_out" "$tmp/node.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ticks, hz = int(sys.argv[2]), int(sys.argv[3])
instr = None
try:
    for line in open(sys.argv[4]):
        f = line.split(",")
        if len(f) > 2 and f[2].startswith("instructions") and f[0].strip().isdigit():
            instr = int(f[0])
except OSError:
    pass
sent = max(r["sent"], 1)
print(f"delivered/s {r['delivered_per_s']:.0f}  sent {r['sent']}  errors {r['errors']}  "
      f"p50/p99 ms {r['p50_ms']:.2f}/{r['p99_ms']:.2f}")
print(f"chorusd CPU per message: {ticks / hz * 1e6 / sent:.1f} us"
      + (f"; instructions per message: {instr / sent:,.0f}" if instr else "; instructions: no hardware counters here"))
if r.get("group_members"):
    print(f"group of {r['group_members']}: chorusd CPU per delivery {ticks / hz * 1e6 / max(r['delivered'], 1):.2f} us; "
          f"reached every member p50/p99 ms {r['all_reached_p50_ms']:.1f}/{r['all_reached_p99_ms']:.1f}")
n = json.load(open(sys.argv[5]))
if n:
    nsent = max(n["sent"], 1)
    print(f"node ws: delivered/s {n['delivered_per_s']:.0f}  errors {n['errors']}  p50/p99 ms "
          f"{n['p50_ms']:.2f}/{n['p99_ms']:.2f}; CPU per message {n['ticks'] / hz * 1e6 / nsent:.1f} us"
          + (f"; reached every member p50/p99 ms {n['all_reached_p50_ms']:.1f}/{n['all_reached_p99_ms']:.1f}"
             if n.get("group_members") else ""))
    print(f"ratio chorusd / node ws: {r['delivered_per_s'] / max(n['delivered_per_s'], 1):.2f}x delivered/s, "
          f"{(ticks / sent) / max(n['ticks'] / nsent, 1e-9):.2f}x CPU per message")
PY
