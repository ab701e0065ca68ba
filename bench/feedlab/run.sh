#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop() and cleanup() run from traps
# Feed lab (issue 11): a synthetic community driven through the real server.
#
#  1. `chorusd seed --profile feedlab`: power-law follows, celebrities with LAB_CELEB_FOLLOWERS
#     followers each, latent interests, posting and reading rates (timed: the seconds are
#     reported).
#  2. Under each fan-out mode (CHORUS_FEED_FANOUT = hybrid, push, pull), on its own copy of
#     the seeded database, a release chorusd (embedded backends) and bench/feedlab/lab.py:
#       - load: the active users (celebrities' and sampled authors' followers) read their
#         feeds and the authors post, at their rates with time compressed (LAB_SPEEDUP);
#         fan-out writes/s and writes per post from /metrics; delivery latency (post
#         acknowledged -> visible in a follower's /v1/feed/following, polled for a sample
#         of followers) and the server's chorus_feed_delivery_seconds;
#       - celebrity: one post of a celebrity: the fan-out writes it cost (hybrid: 0, the
#         write path is O(1)) and whether the sampled followers see it at their next read;
#       - home feed read with wrk (authenticated, 20 items, warm), against nginx serving a
#         static file of the same bytes in the same run (hybrid only);
#       - engage (hybrid only): simulated users read their ranked home feed and their
#         chronological following feed and react with a probability from the match of the
#         item's hashtags with their interests, over LAB_ROUNDS rounds: engaged / shown for
#         each and the ratio.
#  The cost model (build/feedlab_costmodel) runs separately (`make feedlab` runs both).
#
# Usage: bench/feedlab/run.sh            (after `make`)
# Environment (all optional):
#   CHORUSD              server binary                 (default: build/chorusd)
#   LAB_FULL=1           the full lab: 1.1M users, celebrities with 1M followers
#   LAB_USERS            users                         (default: 120000; full: 1100000)
#   LAB_CELEBRITIES      celebrities                   (default: 3)
#   LAB_CELEB_FOLLOWERS  followers of each celebrity   (default: 100000; full: 1000000)
#   LAB_FOLLOWS          mean follows of a user        (default: 20; full: 10)
#   LAB_MODES            fan-out modes                 (default: "hybrid push pull")
#   LAB_AUTHORS          sampled posting authors       (default: 300)
#   LAB_DURATION         seconds of load per mode      (default: 30)
#   LAB_SPEEDUP          lab hours per real hour       (default: 240)
#   LAB_SIM_USERS        simulated engaging users      (default: 200)
#   LAB_ROUNDS           engagement rounds             (default: 3)
#   BENCH_DURATION       wrk duration                  (default: 10s)
#   BENCH_WARMUP         wrk warm-up                   (default: 2s)
#   BENCH_CONNECTIONS    wrk connections               (default: 64)
#   BENCH_WRK_THREADS    wrk threads                   (default: 2)
#   BENCH_THREADS        chorusd loops = nginx workers (default: nproc)
#   LAB_SEEDED           a directory kept by an earlier run (BENCH_KEEP=1): its seed/ and
#                        rates.csv are reused instead of seeding again
#   BENCH_KEEP=1         keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/feedlab"
chorusd=${CHORUSD:-$root/build/chorusd}
full=${LAB_FULL:-0}
if [ "$full" = 1 ]; then
  users=${LAB_USERS:-1100000} celeb_followers=${LAB_CELEB_FOLLOWERS:-1000000} follows=${LAB_FOLLOWS:-10}
else
  users=${LAB_USERS:-120000} celeb_followers=${LAB_CELEB_FOLLOWERS:-100000} follows=${LAB_FOLLOWS:-20}
fi
celebs=${LAB_CELEBRITIES:-3}
modes=${LAB_MODES:-hybrid push pull}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
conns=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_WRK_THREADS:-2}
threads=${BENCH_THREADS:-$(nproc)}
nginx_bin=${NGINX:-/usr/sbin/nginx}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
export LAB_CELEBRITIES="$celebs"

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found or not executable: run 'make' first (or set CHORUSD)"
for tool in wrk curl; do command -v "$tool" >/dev/null || die "$tool not installed (scripts/deps.sh bench)"; done
[ -x "$nginx_bin" ] || die "$nginx_bin not installed (scripts/deps.sh bench)"
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-feedlab.XXXXXX")
chmod 755 "$tmp"
chorusd_pid=""
nginx_pid=""
cleanup() {
  local rc=$?
  stop "$nginx_pid"
  stop "$chorusd_pid"
  if [ "$rc" -ne 0 ]; then
    for log in "$tmp"/chorusd-*.log "$tmp/nginx-error.log"; do
      [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "feedlab: kept $tmp" >&2; else rm -rf "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Cheap password hashing: the lab logs in thousands of seeded users (the seed stores the
# hash with these parameters, and login verifies with the stored ones).
lab_env=(CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8192 CHORUS_LOG_LEVEL=warn)

# ---- 1. the community -----------------------------------------------------------------------
if [ -n "${LAB_SEEDED:-}" ]; then
  if [ ! -d "$LAB_SEEDED/seed" ] || [ ! -f "$LAB_SEEDED/rates.csv" ]; then
    die "LAB_SEEDED: no seed/ and rates.csv in $LAB_SEEDED"
  fi
  cp -a "$LAB_SEEDED/seed" "$tmp/seed"
  cp "$LAB_SEEDED/rates.csv" "$LAB_SEEDED/seed.out" "$tmp/"
  seed_s="(reused)"
else
  mkdir -p "$tmp/seed"
  echo "feedlab: seeding $users users, $celebs celebrities x $celeb_followers followers, $follows follows each" >&2
  t0=$(date +%s.%N)
  env "${lab_env[@]}" CHORUS_DATA_DIR="$tmp/seed" "$chorusd" seed --profile feedlab --users "$users" \
    --celebrities "$celebs" --celebrity-followers "$celeb_followers" --follows "$follows" \
    --rates "$tmp/rates.csv" >"$tmp/seed.out" 2>"$tmp/seed.log" || { cat "$tmp/seed.log" >&2; die "seed failed"; }
  seed_s=$("$py" -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
fi
cat "$tmp/seed.out" >&2

# ---- 2. the modes ---------------------------------------------------------------------------
start_chorusd() { # mode
  local mode=$1
  port=$(free_port)
  base="http://127.0.0.1:$port"
  rm -rf "$tmp/data-$mode"
  cp -a "$tmp/seed" "$tmp/data-$mode"
  env "${lab_env[@]}" CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DATA_DIR="$tmp/data-$mode" \
      CHORUS_THREADS="$threads" CHORUS_FEED_FANOUT="$mode" \
      CHORUS_RATE_LIMIT_IP=100000000 CHORUS_RATE_LIMIT_USER=100000000 CHORUS_RATE_LIMIT_REACTIONS=100000000 \
      CHORUS_LOGIN_MAX_FAILURES=1000000 CHORUS_LOGIN_IP_MAX_FAILURES=1000000 \
      CHORUS_LOGIN_HANDLE_MAX_FAILURES=1000000 CHORUS_ACCESS_TTL=86400 \
      "$chorusd" >"$tmp/chorusd-$mode.log" 2>&1 &
  chorusd_pid=$!
  for _ in $(seq 600); do
    kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited during start-up ($mode)"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ] && return 0
    sleep 0.1
  done
  die "chorusd not ready after 60 s ($base/readyz)"
}

run_wrk() { # name url token
  local name=$1 url=$2 auth="Authorization: Bearer $3"
  if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    wrk -t"$wrk_threads" -c"$conns" -d"$warmup" -H "$auth" "$url" >/dev/null
  fi
  echo "feedlab: $name: wrk -t$wrk_threads -c$conns -d$duration --latency $url" >&2
  wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -H "$auth" "$url" >"$tmp/wrk-$name.txt"
  parse_wrk "$tmp/wrk-$name.txt" >"$tmp/wrk-$name.res"
}

start_nginx() { # body-file path
  local port2
  port2=$(free_port)
  mkdir -p "$tmp/www" "$tmp/nginx-temp"
  cp "$1" "$tmp/www/home.json"
  chmod 644 "$tmp/www/home.json"
  cat >"$tmp/nginx.conf" <<NGINX
worker_processes $threads;
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
    server {
        listen 127.0.0.1:$port2 reuseport;
        location = /v1/feed/home { alias $tmp/www/home.json; }
    }
}
NGINX
  "$nginx_bin" -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" -g 'daemon off;' >"$tmp/nginx.out" 2>&1 &
  nginx_pid=$!
  nginx_url="http://127.0.0.1:$port2$2"
  for _ in $(seq 100); do
    kill -0 "$nginx_pid" 2>/dev/null || { cat "$tmp/nginx.out" >&2; die "nginx exited during start-up"; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$nginx_url" || true)" = 200 ] && break
    sleep 0.1
  done
  cmp -s "$tmp/www/home.json" <(curl -sS "$nginx_url") || die "nginx body differs from chorusd's"
}

for mode in $modes; do
  echo "feedlab: mode $mode" >&2
  start_chorusd "$mode"
  "$py" "$here/lab.py" login "$base" "$tmp/rates.csv" "$tmp/state-$mode.json"
  "$py" "$here/lab.py" load "$base" "$tmp/rates.csv" "$tmp/state-$mode.json" "$tmp/load-$mode.json" ||
    { echo "feedlab: load failed under $mode" >&2; echo '{"failed": true}' >"$tmp/load-$mode.json"; }
  "$py" "$here/lab.py" celebrity "$base" "$tmp/rates.csv" "$tmp/state-$mode.json" "$tmp/celeb-$mode.json" ||
    echo '{"failed": true}' >"$tmp/celeb-$mode.json"
  if "$py" "$here/lab.py" homebody "$base" "$tmp/state-$mode.json" "$tmp/home-$mode.body"; then
    token=$(json_field "$tmp/home-$mode.body.json" 'j["token"]')
    path=$(json_field "$tmp/home-$mode.body.json" 'j["path"]')
    if [ "$mode" = hybrid ] || [ "$modes" = "$mode" ]; then
      start_nginx "$tmp/home-$mode.body" "$path"
      run_wrk nginx "$nginx_url" "$token"
      stop "$nginx_pid"
      nginx_pid=""
    fi
    run_wrk "chorusd-$mode" "$base$path" "$token"
    if [ "$mode" = hybrid ] || [ "$modes" = "$mode" ]; then
      "$py" "$here/lab.py" engage "$base" "$tmp/rates.csv" "$tmp/state-$mode.json" "$tmp/engage.json" ||
        echo '{"failed": true}' >"$tmp/engage.json"
    fi
  else
    echo "feedlab: no home feed under $mode: wrk and engagement skipped" >&2
  fi
  stop "$chorusd_pid"
  chorusd_pid=""
done

# ---- 3. report ------------------------------------------------------------------------------
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
"$py" "$here/report.py" "$tmp" "$seed_s" "$users" "$celebs" "$celeb_followers" "$follows" "$rev" "$modes" \
  "$(head -c 300 "$tmp/seed.out")"
