#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from traps
# Read benchmark (issue 12; docs/benchmarks.md, "Reads"): on a seeded community
# (`chorusd seed --users 2000`), logged in as a seeded user, every read of the issue's table
# plus the feeds and the other lists, each against nginx serving the very bytes chorusd
# answered as a static file, in the same run, over loopback: one chorusd event loop
# (CHORUS_THREADS=1) against one nginx worker, `wrk -t1 -c64`, with the access log on
# (CHORUS_LOG_LEVEL=info, the default; stderr goes to a pipe read by a collector, as under
# systemd or a container runtime). Embedded backends, then PostgreSQL + Redis started here.
# Prints a markdown table: req/s of both, their ratio, p50 and p99 of both, and the CPU time
# each server spent per request (user + system, all its threads, over the measured run).
# and, for chorusd, the share of requests answered on its event loop and moved from the loop
# to a worker (`chorus_loop_reads_total`, `chorus_loop_reads_moved_total`; in cluster mode a
# moved read ran twice: a fact missing from the L1).
#
# Usage: bench/reads/run.sh     (after a release build in build/; `make bench` does both)
# Environment (all optional):
#   CHORUSD            server binary                    (default: build/chorusd)
#   READS_USERS        seeded users                     (default: 2000)
#   READS_BACKENDS     backend sets, in order           (default: "embedded cluster")
#   READS_ONLY         a grep -E pattern on read labels (default: all)
#   READS_LOG_LEVEL    chorusd's CHORUS_LOG_LEVEL       (default: info)
#   BENCH_DURATION     wrk duration per server and read (default: 5s)
#   BENCH_WARMUP       unmeasured chorusd warm-up per read (default: 0: the two fetches
#                      of the body before it warm the caches)
#   BENCH_CONNECTIONS  wrk connections                  (default: 64)
#   BENCH_KEEP=1       keep the temporary directory
#   BENCH_LOGCOST      bench_logcost binary, run last (default: next to CHORUSD)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/bench/reads
chorusd=${CHORUSD:-$root/build/chorusd}
users=${READS_USERS:-2000}
backends=${READS_BACKENDS:-embedded cluster}
only=${READS_ONLY:-.}
log_level=${READS_LOG_LEVEL:-info}
duration=${BENCH_DURATION:-5s}
warmup=${BENCH_WARMUP:-0}
conns=${BENCH_CONNECTIONS:-64}
nginx_bin=${NGINX:-/usr/sbin/nginx}
pg_bin=/usr/lib/postgresql/15/bin
py=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found: build first (cmake -S . -B build -DCMAKE_BUILD_TYPE=Release)"
for tool in wrk curl; do command -v "$tool" >/dev/null || die "$tool not installed (scripts/deps.sh bench)"; done
[ -x "$nginx_bin" ] || die "$nginx_bin not installed (scripts/deps.sh bench)"
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-reads.XXXXXX")
chmod 755 "$tmp" # nginx workers and postgres may run as other users
chorusd_pid="" nginx_pid="" redis_pid="" pg_data=""
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_backends() {
  stop "$redis_pid"
  redis_pid=""
  [ -z "$pg_data" ] || as_pg "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
  pg_data=""
}
cleanup() {
  local rc=$?
  stop "$nginx_pid"
  stop "$chorusd_pid"
  stop_backends
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/*/chorusd.log "$tmp"/*/seed.log; do
      [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- nginx: one worker, serving $tmp/www/N.json at /r/N ----------------------------------------
port_nginx=$(free_port)
mkdir -p "$tmp/www" "$tmp/nginx-temp"
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
    sendfile on;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$port_nginx; location /r/ { alias $tmp/www/; } }
}
NGINX
"$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" -g 'daemon off;' >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
nginx_worker=""
for _ in $(seq 100); do # its one worker process (for its CPU time)
  nginx_worker=$(pgrep -P "$nginx_pid" | head -n 1 || true)
  [ -n "$nginx_worker" ] && break
  sleep 0.1
done
[ -n "$nginx_worker" ] || { cat "$tmp/nginx.out" >&2; die "nginx did not start"; }

common_env=(CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192)

# start_cluster_backends DIR: PostgreSQL 15 and a memory-only Redis on free ports; sets
# cluster_env.
start_cluster_backends() {
  local dir=$1 pgport rport
  [ -x "$pg_bin/initdb" ] || die "PostgreSQL 15 not installed ($pg_bin; scripts/deps.sh test)"
  command -v redis-server >/dev/null || die "redis-server not installed (scripts/deps.sh test)"
  mkdir -p "$dir/pg/sock"
  [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$dir/pg"
  pgport=$(free_port)
  as_pg "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U chorus -E UTF8 --locale=C >/dev/null
  as_pg "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" -w -t 60 \
    -o "-p $pgport -k $dir/pg/sock -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  pg_data=$dir/pg/data
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --logfile "$dir/redis.log" >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$rport" ping 2>/dev/null || true)" = PONG ] && break
    sleep 0.1
  done
  cluster_env=(CHORUS_DB="postgres://chorus@127.0.0.1:$pgport/postgres" CHORUS_REDIS="redis://127.0.0.1:$rport")
}

# CPU time (user + system, all threads) that process PID has used, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME URL TOKEN PID -> "rps p50_us p99_us non2xx errors cpu_us_per_request": the
# last is PID's CPU time over the measured run divided by the requests answered in it (a
# figure much less sensitive than req/s to whatever else loads the machine).
measure() {
  local name=$1 url=$2 token=$3 pid=$4 t0 t1
  if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    wrk -t1 -c"$conns" -d"$warmup" -H "Authorization: Bearer $token" "$url" >/dev/null
  fi
  t0=$(cpu_ticks "$pid")
  wrk -t1 -c"$conns" -d"$duration" --latency -H "Authorization: Bearer $token" "$url" >"$tmp/wrk-$name.txt"
  t1=$(cpu_ticks "$pid")
  echo "$(parse_wrk "$tmp/wrk-$name.txt") $("$py" -c 'import os, re, sys
n = int(re.search(r"(\d+) requests in", open(sys.argv[1]).read()).group(1))
print("%.1f" % ((int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / os.sysconf("SC_CLK_TCK") / max(n, 1)))' \
    "$tmp/wrk-$name.txt" "$t0" "$t1")"
}

# loop_counts -> "answered moved": chorusd's calls answered on its event loop and calls moved
# from the loop to a worker (a fact missing from the L1, or a statement), so far.
loop_counts() {
  curl -s "$base/metrics" | awk '$1 == "chorus_loop_reads_total" { a = $2 }
    $1 == "chorus_loop_reads_moved_total" { m = $2 } END { print a + 0, m + 0 }'
}

results=$tmp/results.tsv
: >"$results"
for set in $backends; do
  dir=$tmp/$set
  mkdir -p "$dir"
  set_env=()
  case $set in
    embedded) ;;
    cluster) start_cluster_backends "$dir"; set_env=("${cluster_env[@]}") ;;
    *) die "READS_BACKENDS: unknown set '$set' (embedded, cluster)" ;;
  esac
  echo "bench: reads ($set): seeding $users users" >&2
  env "${common_env[@]}" "${set_env[@]}" CHORUS_LOG_LEVEL=warn CHORUS_DATA_DIR="$dir/data" \
    "$chorusd" seed --users "$users" >"$dir/seed.out" 2>"$dir/seed.log" || die "seed failed ($set)"

  port=$(free_port)
  base="http://127.0.0.1:$port"
  # stderr: a pipe that a collector reads (the last 256 KiB are kept for a failure report)
  env "${common_env[@]}" "${set_env[@]}" CHORUS_LOG_LEVEL="$log_level" CHORUS_LISTEN="127.0.0.1:$port" \
    CHORUS_DATA_DIR="$dir/data" CHORUS_THREADS=1 CHORUS_RATE_LIMIT_IP=100000000 \
    CHORUS_RATE_LIMIT_USER=100000000 CHORUS_ACCESS_TTL=86400 \
    "$chorusd" >"$dir/chorusd.out" 2> >(tail -c 262144 >"$dir/chorusd.log") &
  chorusd_pid=$!
  ready=0
  for _ in $(seq 600); do
    kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited during start-up ($set)"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ] && { ready=1; break; }
    sleep 0.1
  done
  [ "$ready" = 1 ] || die "chorusd not ready after 60 s ($set)"
  # The seed leaves a backlog for the worker role's consumers (notifications, signals,
  # fan-out): measured while they catch up, a read would pay for their SQL and WAL writes
  # too. Wait (up to 3 min) until every consumer but the ClickHouse shipper is caught up.
  # (A consumer reports its lag once it has read a batch: the first polls may say 0.)
  sleep 2
  calm=0
  for _ in $(seq 360); do
    lag=$(curl -s "$base/metrics" | awk '/^chorus_consumer_lag_seconds/ && !/clickhouse/ { if ($2 > m) m = $2 } END { print m + 0 }')
    if awk -v l="$lag" 'BEGIN { exit !(l < 1) }'; then calm=$((calm + 1)); else calm=0; fi
    [ "$calm" -ge 4 ] && break
    sleep 0.5
  done
  echo "bench: reads ($set): consumers caught up (largest lag ${lag:-?} s)" >&2
  # The first demo account: followed by nearly everyone, follows a few dozen.
  token=$(curl -sS -H 'Content-Type: application/json' -d '{"handle":"maya_1","password":"chorus-demo"}' \
    "$base/v1/auth/login" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  "$py" "$here/pick.py" "$base" "$token" >"$dir/reads.tsv" || die "picking ids failed ($set)"

  n=0
  while IFS=$'\t' read -r label path; do
    n=$((n + 1))
    echo "$label" | grep -Eq -- "$only" || continue
    # The body once (twice: the second read is the warm one), then as nginx's file; a 503
    # (a cold read past the request deadline on a loaded machine) is tried again.
    curl -sS -o /dev/null -H "Authorization: Bearer $token" "$base$path"
    for _ in 1 2 3 4 5; do
      code=$(curl -sS -o "$tmp/www/$set-$n.json" -w '%{http_code}' -H "Authorization: Bearer $token" "$base$path")
      [ "$code" = 503 ] || break
      sleep 1
    done
    [ "$code" = 200 ] || die "GET $path answered $code ($set): $(head -c 300 "$tmp/www/$set-$n.json")"
    chmod 644 "$tmp/www/$set-$n.json"
    bytes=$(wc -c <"$tmp/www/$set-$n.json")
    cmp -s "$tmp/www/$set-$n.json" <(curl -sS "http://127.0.0.1:$port_nginx/r/$set-$n.json") ||
      die "nginx does not serve the body of $path"
    echo "bench: reads ($set): $label: GET $path ($bytes B)" >&2
    read -r n_rps n_p50 n_p99 n_bad _ n_cpu \
      <<<"$(measure "$set-$n-nginx" "http://127.0.0.1:$port_nginx/r/$set-$n.json" "$token" "$nginx_worker")"
    read -r l0 m0 <<<"$(loop_counts)"
    read -r c_rps c_p50 c_p99 c_bad c_err c_cpu <<<"$(measure "$set-$n-chorusd" "$base$path" "$token" "$chorusd_pid")"
    read -r l1 m1 <<<"$(loop_counts)"
    reqs=$(grep -oE '[0-9]+ requests in' "$tmp/wrk-$set-$n-chorusd.txt" | cut -d' ' -f1)
    c_loop=$(awk -v a=$((l1 - l0)) -v n="${reqs:-0}" 'BEGIN { printf "%d", n ? 100 * a / n : 0 }')
    c_moved=$(awk -v a=$((m1 - m0)) -v n="${reqs:-0}" 'BEGIN { printf "%d", n ? 100 * a / n : 0 }')
    [ "$n_bad" = 0 ] || die "nginx answered $n_bad non-2xx responses"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$set" "$label" "$path" "$bytes" \
      "$c_rps" "$c_p50" "$c_p99" "$n_rps" "$n_p50" "$n_p99" "$c_bad" "$c_err" "$c_cpu" "$n_cpu" "$c_loop" \
      "$c_moved" >>"$results"
  done <"$dir/reads.tsv"
  dropped=$(curl -s "$base/metrics" | awk '$1 == "chorus_log_dropped_total" { print $2 }')
  echo "$set ${dropped:-0}" >>"$tmp/dropped.txt"
  stop "$chorusd_pid"
  chorusd_pid=""
  stop_backends
done

# ---- report -------------------------------------------------------------------------------
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
"$py" - "$results" "$tmp/dropped.txt" <<PY
import re, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
dropped = dict(line.split() for line in open(sys.argv[2]))
def ms(us):
    return "%.2f" % (float(us) / 1000)
def size(b):
    b = int(b)
    return "%d B" % b if b < 1000 else "%.1f KB" % (b / 1000)
print()
print("chorus read benchmark: $users seeded users, logged in as maya_1, CHORUS_LOG_LEVEL=$log_level")
print("rev $rev | $(nproc) cpus (${cpu:-unknown cpu}) | $(uname -sr)")
print("wrk -t1 -c$conns -d$duration --latency (unmeasured warm-up: $warmup); one chorusd loop thread vs one nginx worker, same bytes")
for s in dict.fromkeys(r[0] for r in rows):
    print()
    print("**%s** (access-log lines dropped: %s)" % (s, dropped.get(s, "?")))
    print()
    print("| read | body | chorusd req/s | nginx req/s | ÷ nginx | chorusd p50 / p99 ms | nginx p50 / p99 ms | CPU µs/req chorusd / nginx | non-2xx | on the loop / moved |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r[0] != s:
            continue
        _, label, path, b, c_rps, c_p50, c_p99, n_rps, n_p50, n_p99, c_bad, c_err, c_cpu, n_cpu, c_loop, c_moved = r
        path = re.sub(r"/[0-9]{6,}", "/{id}", path)
        loop = "%s%% / %s%%" % (c_loop, c_moved)
        print("| %s \`GET %s\` | %s | %s | %s | %.2fx | %s / %s | %s / %s | %s / %s | %s | %s |" % (
            label, path, size(b), format(round(float(c_rps)), ","), format(round(float(n_rps)), ","),
            float(c_rps) / float(n_rps), ms(c_p50), ms(c_p99), ms(n_p50), ms(n_p99), c_cpu, n_cpu, c_bad, loop))
PY

# ---- what an access-log line costs a loop (bench/reads/logcost.c) --------------------------
logcost=${BENCH_LOGCOST:-$(dirname "$chorusd")/bench_logcost}
if [ -x "$logcost" ]; then
  echo
  "$logcost"
fi
