#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# Home-read benchmark (docs/benchmarks.md, "Feed lab", "Home read"): a seeded community
# (`chorusd seed --profile feedlab`, embedded backends), one release chorusd with one event
# loop, one warm active user's `GET /v1/feed/home?limit=20` under wrk, and nginx with one
# worker serving that very body as a static file, in the same run over loopback.
#
# Usage: bench/feedhome/run.sh     (after a release build in build/)
# Environment (all optional):
#   CHORUSD            server binary           (default: build/chorusd)
#   HOME_USERS         seeded users            (default: 2000)
#   BENCH_DURATION     wrk duration per server (default: 10s)
#   BENCH_CONNECTIONS  wrk connections         (default: 64)
#   BENCH_WRK_THREADS  wrk threads             (default: 1)
#   FEEDHOME_PERF=1    also `perf record` chorusd under load; report to FEEDHOME_PERF_OUT
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
chorusd=${CHORUSD:-$root/build/chorusd}
users=${HOME_USERS:-2000}
duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_WRK_THREADS:-1}
nginx_bin=${NGINX:-/usr/sbin/nginx}
py=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found: build first (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-feedhome.XXXXXX")
chmod 755 "$tmp"
chorusd_pid="" nginx_pid=""
cleanup() {
  local rc=$?
  stop "$nginx_pid"
  stop "$chorusd_pid"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lab_env=(CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192 CHORUS_LOG_LEVEL=warn)
env "${lab_env[@]}" CHORUS_DATA_DIR="$tmp/data" "$chorusd" seed --profile feedlab --users "$users" \
  --celebrities 1 --celebrity-followers $((users / 2)) --follows 20 --rates "$tmp/rates.csv" \
  >"$tmp/seed.out" 2>"$tmp/seed.log" || { cat "$tmp/seed.log" >&2; die "seed failed"; }

port=$(free_port)
base="http://127.0.0.1:$port"
env "${lab_env[@]}" CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DATA_DIR="$tmp/data" CHORUS_THREADS=1 \
  CHORUS_RATE_LIMIT_IP=100000000 CHORUS_RATE_LIMIT_USER=100000000 CHORUS_ACCESS_TTL=86400 \
  "$chorusd" >"$tmp/chorusd.log" 2>&1 &
chorusd_pid=$!
for _ in $(seq 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ] && break
  sleep 0.1
done
# the active user with the most follows' worth of reads: the first row with a read rate
handle=$("$py" -c 'import csv,sys; r=[x for x in csv.DictReader(open(sys.argv[1])) if float(x["read_rate"])>0]; r.sort(key=lambda x:-float(x["read_rate"])); print(r[0]["handle"])' "$tmp/rates.csv")
token=$(curl -sS -H 'Content-Type: application/json' -d "{\"handle\":\"$handle\",\"password\":\"chorus-demo\"}" \
  "$base/v1/auth/login" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
path="/v1/feed/home?limit=20"
for _ in 1 2 3; do curl -sS -o "$tmp/home.json" -H "Authorization: Bearer $token" "$base$path"; done

port2=$(free_port)
mkdir -p "$tmp/www" "$tmp/nginx-temp"
cp "$tmp/home.json" "$tmp/www/home.json"
chmod 644 "$tmp/www/home.json"
cat >"$tmp/nginx.conf" <<NGINX
worker_processes 1;
error_log $tmp/nginx-error.log warn;
pid $tmp/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx-temp/client_body;
    proxy_temp_path $tmp/nginx-temp/proxy;
    fastcgi_temp_path $tmp/nginx-temp/fastcgi;
    uwsgi_temp_path $tmp/nginx-temp/uwsgi;
    scgi_temp_path $tmp/nginx-temp/scgi;
    types {}
    default_type application/json;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$port2; location = /v1/feed/home { alias $tmp/www/home.json; } }
}
NGINX
"$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" -g 'daemon off;' >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
sleep 0.5

# cpu_ticks PID...: user + system clock ticks of the processes (all their threads).
cpu_ticks() {
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$t"
}

run() { # name url pid...: also the server's CPU per request (steadier than req/s on a shared machine)
  local name=$1 url=$2 c0 c1 reqs
  shift 2
  wrk -t"$wrk_threads" -c"$conns" -d2s -H "Authorization: Bearer $token" "$url" >/dev/null
  c0=$(cpu_ticks "$@")
  wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -H "Authorization: Bearer $token" "$url" >"$tmp/wrk-$name.txt"
  c1=$(cpu_ticks "$@")
  reqs=$(awk '/requests in/ { print $1 }' "$tmp/wrk-$name.txt")
  echo "$name: $(parse_wrk "$tmp/wrk-$name.txt") $(awk -v d=$((c1 - c0)) -v r="${reqs:-0}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f", (r > 0) ? d * 1e6 / hz / r : 0 }')"
}
echo "feedhome: $users users, body $(wc -c <"$tmp/home.json") bytes, $(grep -o '"id"' "$tmp/home.json" | wc -l) ids"
run nginx "http://127.0.0.1:$port2$path" "$nginx_pid" $(pgrep -P "$nginx_pid" || true)
run chorusd "$base$path" "$chorusd_pid"
if [ "${FEEDHOME_PERF:-0}" = 1 ]; then # a profile of the loaded server -> $FEEDHOME_PERF_OUT
  wrk -t"$wrk_threads" -c"$conns" -d8s -H "Authorization: Bearer $token" "$base$path" >/dev/null &
  perf record --call-graph dwarf,16384 -F 499 -p "$chorusd_pid" -o "$tmp/perf.data" -- sleep 3 >"$tmp/perf.log" 2>&1 || cat "$tmp/perf.log" >&2
  wait "$!" || true
  perf report -i "$tmp/perf.data" --stdio --no-children --percent-limit 1 >"${FEEDHOME_PERF_OUT:-/tmp/feedhome.perf.txt}" ||
    echo "feedhome: perf report failed" >&2
fi
echo "(parse_wrk: rps p50_us p99_us non2xx errors; then the server's CPU µs per request)"
