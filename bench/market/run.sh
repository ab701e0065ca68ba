#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from a trap
# Marketplace benchmark (issue 15; embedded mode: SQLite + in-process kv), against the
# Stripe test double (tests/stripe_double/server.js, on loopback, checking every request
# against Stripe's spec) started here:
#
#  1. Orders through the whole flow: BENCH_ORDERS orders, BENCH_ORDER_CONC at a time, each
#     create (POST /v1/orders: the order row, then its PaymentIntent at the double) → paid
#     (the double succeeds the PaymentIntent and delivers the signed webhook; the driver
#     polls the order) → shipped → confirmed → completed (the worker's transfer job at the
#     double). Throughput (orders/s end to end) and p50/p99 per step.
#  2. Webhook ingestion (verify the signature, store the event durably once, answer) with wrk,
#     each request a distinct signed event, against durable reaction writes
#     (PUT /v1/posts/{id}/reaction, bench/engage/react.lua) on the same server in the same
#     run: the goal is webhooks/s >= 1x reactions/s.
#
# Usage: bench/market/run.sh             (after `make`; `make bench` runs it too)
# Environment (all optional):
#   CHORUSD            server binary                   (default: build/chorusd)
#   BENCH_ORDERS       orders through the flow         (default: 200)
#   BENCH_ORDER_CONC   orders at a time                (default: 8)
#   BENCH_DURATION     wrk duration per measurement    (default: 10s)
#   BENCH_CONNECTIONS  wrk connections                 (default: 32)
#   BENCH_WRK_THREADS  wrk threads                     (default: 2)
#   BENCH_KEEP=1       keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/market"
chorusd=${CHORUSD:-$root/build/chorusd}
n_orders=${BENCH_ORDERS:-200}
order_conc=${BENCH_ORDER_CONC:-8}
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
wrk_threads=${BENCH_WRK_THREADS:-2}
export BENCH_WRK_THREADS=$wrk_threads
py=/usr/bin/python3
[ -x "$py" ] || py=python3
node="$root/tools/api/node_modules/.bin/node"
[ -x "$node" ] || node=$(command -v node || true)

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found or not executable: run 'make' first (or set CHORUSD)"
[ -n "$node" ] || die "node not found (scripts/deps.sh test installs tools/api/node_modules)"
command -v wrk >/dev/null || die "wrk not installed (scripts/deps.sh bench)"
spec=""
for d in "$root" "$root"/..  "$root"/../..; do
  [ -f "$d/../shared/specs/stripe/spec3.yaml" ] && spec=$(cd "$d/../shared/specs/stripe" && pwd) && break
done
[ -n "$spec" ] || die "../shared/specs/stripe/spec3.yaml not found next to the project root"
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-bench-market.XXXXXX")
chorusd_pid=""
double_pid=""
cleanup() {
  local rc=$?
  stop "$chorusd_pid"
  stop "$double_pid" 5
  if [ "$rc" -ne 0 ] && [ -s "$tmp/chorusd.log" ]; then
    echo "--- last lines of $tmp/chorusd.log" >&2
    tail -n 20 "$tmp/chorusd.log" >&2
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the Stripe double ----------------------------------------------------------------------
sk="sk_test_bench_$RANDOM$RANDOM"
whsec="whsec_bench_$RANDOM$RANDOM"
"$node" "$root/tests/stripe_double/server.js" --port-file "$tmp/double.port" --secret-key "$sk" \
  --webhook-secret "$whsec" --spec "$spec/spec3.yaml" --fixtures "$spec/fixtures3.2023-09-12.json" \
  --cache-dir "${TMPDIR:-/tmp}" >"$tmp/double.log" 2>&1 &
double_pid=$!
for _ in $(seq 600); do [ -s "$tmp/double.port" ] && break; sleep 0.1; done
[ -s "$tmp/double.port" ] || die "the Stripe double did not start (log: $tmp/double.log)"
double="http://127.0.0.1:$(cat "$tmp/double.port")"

# ---- chorusd --------------------------------------------------------------------------------
port=$(free_port)
base="http://127.0.0.1:$port"
env CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DATA_DIR="$tmp/data" CHORUS_LOG_LEVEL=warn CHORUS_ACCESS_TTL=86400 \
    CHORUS_RATE_LIMIT_IP=1000000000 CHORUS_RATE_LIMIT_USER=1000000000 CHORUS_RATE_LIMIT_REACTIONS=1000000000 \
    CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8388608 \
    CHORUS_STRIPE_API="$double" CHORUS_STRIPE_SECRET_KEY="$sk" CHORUS_STRIPE_WEBHOOK_SECRET="$whsec" \
    "$chorusd" >>"$tmp/chorusd.log" 2>&1 &
chorusd_pid=$!
for _ in $(seq 300); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited during start-up"
  sleep 0.1
done

# ---- 1. orders through the flow ----------------------------------------------------------------
echo "bench: $n_orders orders through the flow, $order_conc at a time" >&2
"$py" "$here/drive.py" orders "$base" "$double" "$tmp" "$n_orders" "$order_conc" >/dev/null

# ---- 2. webhooks vs reactions ------------------------------------------------------------------
"$py" "$root/bench/engage/setup.py" "$base" "$tmp" 200 100 >/dev/null
"$py" "$here/drive.py" hooks "$base" "$whsec" "$tmp/hooks.txt" 400000
BENCH_DIR="$tmp" wrk -t"$wrk_threads" -c"$conns" -d2s -s "$root/bench/engage/react.lua" "$base" >/dev/null
echo "bench: reactions: wrk -t$wrk_threads -c$conns -d$duration --latency" >&2
# chorusd's CPU time (user + system, clock ticks) from /proc: CPU per request is the figure a
# shared, noisy machine changes least.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$chorusd_pid/stat"; }
# wrk_requests FILE: the requests a wrk run completed.
wrk_requests() { awk '/requests in/ {print $1; exit}' "$1"; }
t0=$(cpu_ticks)
BENCH_DIR="$tmp" wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -s "$root/bench/engage/react.lua" "$base" \
  >"$tmp/wrk-react.txt" 2>&1
t1=$(cpu_ticks)
echo "bench: webhooks: wrk -t$wrk_threads -c$conns -d$duration --latency" >&2
BENCH_HOOKS="$tmp/hooks.txt" wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -s "$here/hook.lua" "$base" \
  >"$tmp/wrk-hooks.txt" 2>&1
t2=$(cpu_ticks)
hz=$(getconf CLK_TCK)
r_cpu=$(( (t1 - t0) * 1000000 / hz / $(wrk_requests "$tmp/wrk-react.txt") ))
h_cpu=$(( (t2 - t1) * 1000000 / hz / $(wrk_requests "$tmp/wrk-hooks.txt") ))
read -r r_rps r_p50 r_p99 r_bad r_err < <(parse_wrk "$tmp/wrk-react.txt")
read -r h_rps h_p50 h_p99 h_bad h_err < <(parse_wrk "$tmp/wrk-hooks.txt")
stored=$(curl -fs "$base/metrics" >/dev/null && sqlite3 "$tmp/data/chorus.db" "SELECT COUNT(*) FROM stripe_events" 2>/dev/null || echo "?")

"$py" - "$tmp/orders.json" "$r_rps" "$r_p50" "$r_p99" "$r_bad" "$h_rps" "$h_p50" "$h_p99" "$h_bad" "$stored" \
  "$r_cpu" "$h_cpu" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
r_rps, r_p50, r_p99, r_bad, h_rps, h_p50, h_p99, h_bad, stored, r_cpu, h_cpu = sys.argv[2:]
print("market benchmark (embedded, Stripe double on loopback)")
print(f"  orders through the flow: {o['orders']} in {o['seconds']} s = {o['orders_per_s']} orders/s")
for k, v in o["steps"].items():
    print(f"    {k:<10} p50 {v['p50_ms']:>8} ms   p99 {v['p99_ms']:>8} ms")
print(f"  durable reaction writes: {float(r_rps):.0f} req/s  p50 {float(r_p50)/1e3:.2f} ms  p99 {float(r_p99)/1e3:.2f} ms  non-2xx {r_bad}")
print(f"  webhook ingestion:       {float(h_rps):.0f} req/s  p50 {float(h_p50)/1e3:.2f} ms  p99 {float(h_p99)/1e3:.2f} ms  non-2xx {h_bad}  events stored {stored}")
ratio = float(h_rps) / float(r_rps) if float(r_rps) else 0.0
print(f"  webhooks / reactions: {ratio:.2f}x (goal >= 1x)")
print(f"  chorusd CPU per request: reactions {r_cpu} us, webhooks {h_cpu} us")
PY
