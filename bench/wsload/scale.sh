#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# 100,000 idle connections on one box (issue 13; docs/benchmarks.md "100,000 connections
# (wsmem16)"). One process may hold at most its descriptor limit (20,000 here, not raisable),
# so the connections are spread over WSCALE_PROCS chorusd gateway processes in cluster mode
# (CHORUS_ROLES=gateway, one event loop each, one port each) sharing a private PostgreSQL 15
# and Redis 7 started here, and as many wsload processes (one per gateway, a slice of the
# users each, many 127.0.0.x source addresses). A further chorusd (api,worker) serves the
# set-up and the check's REST send and holds no connection.
#
# Steps: users registered (WSCALE_DEVICES connections per user, a user's devices on different
# gateway processes); each gateway warmed up (a batch of connections opened and closed) and its
# RSS read; every wsload opens its slice and waits for each hello; the gateways' RSS read again
# once all are open (total growth / connections = bytes per connection); the connections held
# WSCALE_HOLD s with heartbeats every WSCALE_HEARTBEAT_MS (pings answered by wsload); meanwhile
# scale_check.py connects one user's devices to the first and the last gateway and checks that
# a message sent to the user reaches both; at the end each wsload says how many were still
# open. Then the Node `ws` baseline (node_server.js): one process (its descriptor limit too)
# with as many connections as one chorusd process held, same warm-up, same measure.
# Bounded: every wait has a deadline; everything started here is stopped at exit.
#
# Usage: bench/wsload/scale.sh   (after a release build; `make bench WSCALE=1` runs it)
# Environment (all optional):
#   CHORUSD, WSLOAD        binaries (default: build/chorusd, build/wsload)
#   WSCALE_CONNS           connections in all                 (default: 100000)
#   WSCALE_PROCS           gateway processes (and wsloads)    (default: 6)
#   WSCALE_DEVICES         connections (devices) per user     (default: 2)
#   WSCALE_HOLD            seconds held once all are open     (default: 60)
#   WSCALE_HEARTBEAT_MS    the gateways' heartbeat            (default: 15000, chorusd's own)
#   WSCALE_WARMUP          warm-up connections per process    (default: 1000)
#   WSCALE_PARALLEL        handshakes in flight per wsload    (default: 32: more only queue up
#                          in the gateways and expire on a loaded 2-core machine)
#   BENCH_KEEP=1           keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/wsload
chorusd=${CHORUSD:-$root/build/chorusd}
wsload=${WSLOAD:-$(dirname "$chorusd")/wsload}
conns=${WSCALE_CONNS:-100000}
procs=${WSCALE_PROCS:-6}
devices=${WSCALE_DEVICES:-2}
hold=${WSCALE_HOLD:-60}
hb=${WSCALE_HEARTBEAT_MS:-15000}
warmup=${WSCALE_WARMUP:-1000}
parallel=${WSCALE_PARALLEL:-32}
py=/usr/bin/python3
pgbin=/usr/lib/postgresql/15/bin
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found: build first"
[ -x "$wsload" ] || die "$wsload not found: build first"
[ -x "$pgbin/initdb" ] || die "PostgreSQL 15 not installed (scripts/deps.sh test)"
command -v redis-server >/dev/null || die "redis-server not installed (scripts/deps.sh test)"
command -v node >/dev/null || die "node not installed (scripts/deps.sh bench)"
[ -d "$here/node_modules/ws" ] || npm ci --prefix "$here" --no-audit --no-fund >&2
ulimit -n "$(ulimit -Hn)"
per=$(((conns + procs - 1) / procs))
[ $((per + 1000)) -le "$(ulimit -n)" ] ||
  die "$per connections per process do not fit the descriptor limit ($(ulimit -n)): raise WSCALE_PROCS"
[ "$devices" -ge 1 ] && [ "$devices" -le 16 ] || die "WSCALE_DEVICES is 1-16 (CHORUS_WS_MAX_PER_USER)"
users=$(((conns + devices - 1) / devices))
sources=$((per / 20000 + 2)) # 127.0.0.x addresses per wsload (ports are per source and destination)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-wscale.XXXXXX")
pids=() redis_port="" pg_started=0
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do stop "$p" 10; done
  [ -n "$redis_port" ] && redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  [ "$pg_started" = 1 ] && as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/*.log; do
      [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 5 "$log" >&2; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_ready() { # PORT PID
  for _ in $(seq 600); do
    curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || die "a chorusd exited (logs in $tmp)"
    sleep 0.1
  done
  die "a chorusd on port $1 did not get ready in 60 s"
}

# ---- PostgreSQL and Redis ---------------------------------------------------------------------
echo "bench: PostgreSQL and Redis in $tmp ..." >&2
mkdir -p "$tmp/pg"
[ "$(id -u)" -eq 0 ] && chown postgres "$tmp" "$tmp/pg"
as_pg "$pgbin/initdb" -D "$tmp/pg" -A trust -U chorus >/dev/null
pg_port=$(free_port)
as_pg "$pgbin/pg_ctl" -D "$tmp/pg" -l "$tmp/pg.log" -w \
  -o "-p $pg_port -k $tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
pg_started=1
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no --daemonize yes \
  --pidfile "$tmp/redis.pid" --logfile "$tmp/redis.log" --maxclients 10000
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis_pid=$(cat "$tmp/redis.pid")

common=(CHORUS_DB="postgres://chorus@127.0.0.1:$pg_port/postgres" CHORUS_REDIS="redis://127.0.0.1:$redis_port"
  CHORUS_LOG_LEVEL=warn CHORUS_ACCESS_TTL=7200 CHORUS_WS_HEARTBEAT_MS="$hb" CHORUS_WS_MAX_CONNECTIONS=1000000
  CHORUS_MAX_CONN_PER_IP=0 CHORUS_REQUEST_TIMEOUT=30000 CHORUS_DB_POOL_WAIT=20000 CHORUS_RATE_LIMIT_USER=100000000 CHORUS_RATE_LIMIT_IP=100000000
  CHORUS_RATE_LIMIT_MESSAGES=100000000 CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192)

# ---- the API process and the set-up ---------------------------------------------------------------
api_port=$(free_port)
env -C "$tmp" "${common[@]}" CHORUS_LISTEN="127.0.0.1:$api_port" CHORUS_ROLES=api,worker CHORUS_DB_POOL_SIZE=24 \
  "$chorusd" >"$tmp/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_ready "$api_port" "$api_pid"
echo "bench: registering $users users ..." >&2
"$py" "$here/setup.py" "http://127.0.0.1:$api_port" "$tmp" "$users" 1 0 >&2
# connection k is a device of user k mod users: a user's devices are `users` connections apart,
# so in different slices (different gateway processes) when users >= per
awk -v n="$conns" '{ u[NR - 1] = $0 } END { for (k = 0; k < n; k++) print u[k % NR] }' "$tmp/users.txt" \
  >"$tmp/devices.txt"

# ---- the gateways -------------------------------------------------------------------------------
gw_ports=() gw_pids=()
for i in $(seq 0 $((procs - 1))); do
  p=$(free_port)
  env -C "$tmp" "${common[@]}" CHORUS_LISTEN="127.0.0.1:$p" CHORUS_ROLES=gateway CHORUS_THREADS=1 CHORUS_WORKERS=4 \
    CHORUS_DB_POOL_SIZE=6 "$chorusd" >"$tmp/gw$i.log" 2>&1 &
  gw_pids+=($!)
  pids+=($!)
  gw_ports+=("$p")
done
for i in $(seq 0 $((procs - 1))); do wait_ready "${gw_ports[$i]}" "${gw_pids[$i]}"; done

# warm_up PORT FIRST: a batch opened and closed (fixed growth, not per connection)
warm_up() {
  [ "$warmup" -gt 0 ] || return 0
  "$wsload" --port "$1" --users "$tmp/devices.txt" --first "$2" --conns "$warmup" --sources 2 --mode idle \
    --hold 0 --parallel "$parallel" --open-timeout 300 >/dev/null 2>>"$tmp/wsload-warmup.log"
}
echo "bench: warm-up, $warmup connections per gateway ..." >&2
for i in $(seq 0 $((procs - 1))); do warm_up "${gw_ports[$i]}" $((i * per)); done
sleep 3
before=0
for p in "${gw_pids[@]}"; do before=$((before + $(rss_kb "$p"))); done
redis_before=$(rss_kb "$redis_pid")

echo "bench: opening $conns connections over $procs gateways ..." >&2
wl_pids=()
t_open=$(date +%s.%N)
for i in $(seq 0 $((procs - 1))); do
  first=$((i * per))
  n=$((conns - first < per ? conns - first : per))
  "$wsload" --port "${gw_ports[$i]}" --users "$tmp/devices.txt" --first "$first" --conns "$n" --sources "$sources" \
    --mode idle --hold "$hold" --parallel "$parallel" --open-timeout 900 >"$tmp/wl$i.json" 2>"$tmp/wl$i.log" &
  wl_pids+=($!)
  pids+=($!)
done
# every wsload prints its first line once each of its connections got its hello (or failed)
for _ in $(seq 4800); do
  done_n=0
  for i in $(seq 0 $((procs - 1))); do [ -s "$tmp/wl$i.json" ] && done_n=$((done_n + 1)); done
  [ "$done_n" = "$procs" ] && break
  sleep 0.2
done
[ "$done_n" = "$procs" ] || die "the connections were not all open within 16 minutes"
t_all=$(date +%s.%N)
sleep 5 # settled: presence jobs done, the ramp's heap trimmed
after=0 per_proc=()
for p in "${gw_pids[@]}"; do
  r=$(rss_kb "$p")
  after=$((after + r))
  per_proc+=("$r")
done
redis_after=$(rss_kb "$redis_pid")
opened=0
for i in $(seq 0 $((procs - 1))); do
  opened=$((opened + $(head -n 1 "$tmp/wl$i.json" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["open"])')))
done

echo "bench: cross-process check while held ..." >&2
check=$("$py" "$here/scale_check.py" "$api_port" "${gw_ports[0]},${gw_ports[$((procs - 1))]}" "$tmp/users.txt" \
  "$tmp/direct.txt" 10) || check_rc=$?
metrics=$(curl -fsS "http://127.0.0.1:${gw_ports[0]}/metrics" | grep -E '^chorus_gateway_(dormant_connections|ws_contexts_total|ws_dormant_frames_total)' || true)
echo "bench: the first gateway's counters while the connections are held:" >&2
echo "$metrics" >&2
echo "bench: holding $hold s (heartbeats every $hb ms) ..." >&2
for w in "${wl_pids[@]}"; do wait "$w" || true; done
still=0 closed=0
for i in $(seq 0 $((procs - 1))); do
  read -r s c < <(tail -n 1 "$tmp/wl$i.json" | "$py" -c \
    'import json, sys; j = json.load(sys.stdin); print(j.get("still_open", 0), j.get("closed_by_server", 0))')
  still=$((still + s))
  closed=$((closed + c))
done
for p in "${gw_pids[@]}"; do stop "$p" 10; done

# ---- Node ws: one process with as many connections as one gateway held ------------------------------
echo "bench: node ws, $per connections in one process ..." >&2
node "$here/node_server.js" --port 0 --users "$tmp/users.txt" --convs "$tmp/direct.txt" >"$tmp/node.log" 2>&1 &
node_pid=$!
pids+=("$node_pid")
for _ in $(seq 100); do grep -q '^listening' "$tmp/node.log" && break; sleep 0.1; done
node_port=$(awk '/^listening/ { print $2 }' "$tmp/node.log")
[ -n "$node_port" ] || die "the node server did not start"
warm_up "$node_port" 0
sleep 3
n_before=$(rss_kb "$node_pid")
"$wsload" --port "$node_port" --users "$tmp/devices.txt" --conns "$per" --sources "$sources" --mode idle --hold 8 \
  --parallel "$parallel" --open-timeout 900 \
  >"$tmp/node-idle.json" 2>>"$tmp/node-wsload.log" &
nw=$!
pids+=("$nw")
for _ in $(seq 3000); do [ -s "$tmp/node-idle.json" ] && break; sleep 0.2; done
sleep 5
n_after=$(rss_kb "$node_pid")
wait "$nw" || true
n_open=$(head -n 1 "$tmp/node-idle.json" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["open"])')

"$py" - "$conns" "$procs" "$devices" "$opened" "$still" "$closed" "$before" "$after" "$redis_before" "$redis_after" \
  "$n_open" "$n_before" "$n_after" "$t_open" "$t_all" "${check:-{\}}" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "${per_proc[*]}" <<'PY'
import json, sys
a = sys.argv[1:]
conns, procs, devices, opened, still, closed, before, after, rb, ra, n_open, nb, na = map(int, a[:13])
t_open, t_all = float(a[13]), float(a[14])
check = json.loads(a[15]) if a[15].strip() else {}
per_conn = (after - before) * 1024 / max(opened, 1)
redis_per = (ra - rb) * 1024 / max(opened, 1)
node_per = (na - nb) * 1024 / max(n_open, 1)
print(f"| 100,000 connections ({procs} gateway processes, {devices} devices per user; {a[16]} cores, load {a[17]}) | value |")
print("|---|---:|")
print(f"| connections wanted / got their hello | {conns:,} / {opened:,} |")
print(f"| still open after the hold / closed by a server | {still:,} / {closed:,} |")
print(f"| time to open them all | {t_all - t_open:.1f} s |")
print(f"| chorusd RSS, all gateways: before / with them open | {before / 1024:.1f} / {after / 1024:.1f} MiB |")
print(f"| chorusd RSS per connection (growth / connections) | {per_conn:,.0f} B |")
print(f"| RSS of each gateway with them open | {', '.join(f'{int(x) / 1024:.1f}' for x in a[18].split())} MiB |")
print(f"| Redis RSS growth per connection (presence, subscriptions; apart) | {redis_per:,.0f} B |")
print(f"| node ws, one process, {n_open:,} connections: RSS per connection | {node_per:,.0f} B |")
print(f"| chorusd / node ws | {per_conn / max(node_per, 1):.2f}× |")
print(f"| a message to one user: devices on 2 gateways reached | {check.get('reached', 0)} of {check.get('devices', 2)}"
      f" ({check.get('slowest_ms')} ms) |")
PY
[ "${check_rc:-0}" = 0 ] || die "the cross-process check failed: $check"
[ "$opened" = "$conns" ] || die "$opened of $conns connections got their hello"
