#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop() and cleanup() run from traps
# HTTP benchmark: chorusd's user lookup (GET /v1/users/{id}, authenticated) against nginx
# serving the very same response body as a static file, in the same run, on the same
# machine, over loopback. Prints absolute figures and the chorusd/nginx ratios; the ratios
# are what docs/benchmarks.md records (absolute numbers on a shared machine are noise).
#
# Usage: bench/http/run.sh            (after `make`; `make bench` does both)
# Environment (all optional):
#   CHORUSD            server binary               (default: build/chorusd)
#   BENCH_DURATION     wrk duration per server     (default: 10s)
#   BENCH_WARMUP       unmeasured warm-up per server (default: 2s; 0 to skip)
#   BENCH_CONNECTIONS  wrk connections             (default: 64)
#   BENCH_WRK_THREADS  wrk threads                 (default: 2)
#   BENCH_THREADS      chorusd event loops = nginx workers (default: nproc)
#   BENCH_STRICT=1     exit 1 when a goal is missed (default: report only)
#   BENCH_KEEP=1       keep the temporary directory (logs, configs) for inspection
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
chorusd=${CHORUSD:-$root/build/chorusd}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
conns=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_WRK_THREADS:-2}
threads=${BENCH_THREADS:-$(nproc)}
nginx_bin=${NGINX:-/usr/sbin/nginx}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# Goals (docs/benchmarks.md): chorusd >= 0.8x nginx req/s, p99 <= 2x nginx's p99.
goal_rps_ratio=0.8
goal_p99_ratio=2.0

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

[ -x "$chorusd" ] || die "$chorusd not found or not executable: run 'make' first (or set CHORUSD)"
command -v wrk >/dev/null || die "wrk not installed (scripts/deps.sh bench)"
[ -x "$nginx_bin" ] || die "$nginx_bin not installed (scripts/deps.sh bench)"
command -v curl >/dev/null || die "curl not installed"
[ "$wrk_threads" -le "$conns" ] || die "BENCH_WRK_THREADS ($wrk_threads) must not exceed BENCH_CONNECTIONS ($conns)"
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-bench.XXXXXX")
chmod 755 "$tmp" # nginx workers may run as another user (nobody) and must read the file
chorusd_pid=""
nginx_pid=""

cleanup() {
  local rc=$?
  stop "$nginx_pid"
  stop "$chorusd_pid"
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp/chorusd.log" "$tmp/nginx-error.log"; do
      [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- chorusd ------------------------------------------------------------------------------
port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$tmp/data"
env CHORUS_LISTEN="127.0.0.1:$port" \
    CHORUS_DATA_DIR="$tmp/data" \
    CHORUS_THREADS="$threads" \
    CHORUS_LOG_LEVEL=warn \
    CHORUS_RATE_LIMIT_IP=100000000 \
    CHORUS_RATE_LIMIT_USER=100000000 \
    CHORUS_ACCESS_TTL=86400 \
    "$chorusd" >"$tmp/chorusd.log" 2>&1 &
chorusd_pid=$!

ready=0
for _ in $(seq 300); do
  kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited during start-up"
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
[ "$ready" = 1 ] || die "chorusd not ready after 30 s ($base/readyz)"

code=$(curl -sS -o "$tmp/register.json" -w '%{http_code}' -X POST "$base/v1/auth/register" \
  -H 'Content-Type: application/json' \
  --data '{"handle":"bench_user","password":"bench-password-1"}')
[ "$code" = 201 ] || die "register answered $code: $(head -c 500 "$tmp/register.json")"
user_id=$(json_field "$tmp/register.json" 'j["user"]["id"]')
token=$(json_field "$tmp/register.json" 'j["access_token"]')
path="/v1/users/$user_id"
auth="Authorization: Bearer $token"

mkdir -p "$tmp/www"
code=$(curl -sS -o "$tmp/www/user.json" -w '%{http_code}' -H "$auth" "$base$path")
[ "$code" = 200 ] || die "GET $path answered $code: $(head -c 500 "$tmp/www/user.json")"
chmod 644 "$tmp/www/user.json"
body_bytes=$(wc -c <"$tmp/www/user.json")

# ---- nginx: the same body as a static file --------------------------------------------------
port2=$(free_port)
mkdir -p "$tmp/nginx-temp"
cat >"$tmp/nginx.conf" <<EOF
worker_processes $threads;
error_log $tmp/nginx-error.log warn;
pid $tmp/nginx.pid;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $tmp/nginx-temp/client_body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    types {}
    default_type application/json;
    sendfile on;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$port2 reuseport;
        location = $path {
            alias $tmp/www/user.json;
        }
    }
}
EOF
"$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" -g 'daemon off;' \
  >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
base2="http://127.0.0.1:$port2"
ready=0
for _ in $(seq 100); do
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$tmp/nginx.out" >&2; die "nginx exited during start-up"; }
  if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "$base2$path" || true)" = 200 ]; then
    ready=1
    break
  fi
  sleep 0.1
done
[ "$ready" = 1 ] || die "nginx not serving $base2$path after 10 s"
cmp -s "$tmp/www/user.json" <(curl -sS -H "$auth" "$base2$path") || die "nginx body differs from chorusd's"

# ---- measure ------------------------------------------------------------------------------
run_wrk() { # name url
  local name=$1 url=$2
  if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    wrk -t"$wrk_threads" -c"$conns" -d"$warmup" -H "$auth" "$url" >/dev/null
  fi
  echo "bench: $name: wrk -t$wrk_threads -c$conns -d$duration --latency $url" >&2
  wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -H "$auth" "$url" >"$tmp/wrk-$name.txt"
  parse_wrk "$tmp/wrk-$name.txt"
}

nginx_res=$(run_wrk nginx "$base2$path")
chorusd_res=$(run_wrk chorusd "$base$path")
read -r n_rps n_p50 n_p99 n_bad n_err <<<"$nginx_res"
read -r c_rps c_p50 c_p99 c_bad c_err <<<"$chorusd_res"
[ "$n_bad" = 0 ] || die "nginx answered $n_bad non-2xx responses"
[ "$c_bad" = 0 ] || die "chorusd answered $c_bad non-2xx responses (see $tmp/wrk-chorusd.txt)"

# ---- report -------------------------------------------------------------------------------
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
status=0
"$py" - "$n_rps" "$n_p50" "$n_p99" "$n_err" "$c_rps" "$c_p50" "$c_p99" "$c_err" \
  "$goal_rps_ratio" "$goal_p99_ratio" <<PY || status=$?
import sys
n_rps, n_p50, n_p99, n_err, c_rps, c_p50, c_p99, c_err, g_rps, g_p99 = map(float, sys.argv[1:])
def fmt_us(v):
    return "%.0f us" % v if v < 1000 else "%.2f ms" % (v / 1000)
print()
print("chorus HTTP benchmark: GET /v1/users/{id} (authenticated), $body_bytes-byte JSON body")
print("rev $rev | $(nproc) cpus (${cpu:-unknown cpu}) | $(uname -sr)")
print("wrk -t$wrk_threads -c$conns -d$duration --latency (after ${warmup} warm-up); chorusd threads = nginx workers = $threads")
print()
print("| server  |      req/s |        p50 |        p99 | p99/p50 | socket errors |")
print("|---------|-----------:|-----------:|-----------:|--------:|--------------:|")
print("| nginx   | %10.0f | %10s | %10s | %7.2f | %13d |" % (n_rps, fmt_us(n_p50), fmt_us(n_p99), n_p99 / n_p50, n_err))
print("| chorusd | %10.0f | %10s | %10s | %7.2f | %13d |" % (c_rps, fmt_us(c_p50), fmt_us(c_p99), c_p99 / c_p50, c_err))
print("| ratio chorusd/nginx | %.2fx req/s | %.2fx p50 | %.2fx p99 | | |" % (c_rps / n_rps, c_p50 / n_p50, c_p99 / n_p99))
print()
rps_ok = c_rps / n_rps >= g_rps
p99_ok = c_p99 / n_p99 <= g_p99
print("goal req/s >= %.1fx nginx: %s (%.2fx)" % (g_rps, "met" if rps_ok else "MISSED", c_rps / n_rps))
print("goal p99 <= %.1fx nginx:   %s (%.2fx)" % (g_p99, "met" if p99_ok else "MISSED", c_p99 / n_p99))
sys.exit(0 if rps_ok and p99_ok else 3)
PY
if [ "$status" -ne 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then
  exit 1
fi
exit 0
