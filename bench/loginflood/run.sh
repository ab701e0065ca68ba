#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop() and cleanup() run from traps
# Login flood benchmark (embedded mode): does password hashing starve other requests?
#
# Every login costs an Argon2id check (64 MiB, ~100 ms of CPU at the libsodium
# interactive cost). The same run measures the latency of POST /v1/posts (a durable SQLite
# write: token check, rate limits, insert, fsync) three times:
#   idle      no other load;
#   flood     while BENCH_FLOOD (40) clients send logins with a wrong password, through
#             the password hasher with its default bounds (CHORUS_PWHASH_MAX_MEMORY = 2
#             hashes at once, at most cores - 1; CHORUS_PWHASH_QUEUE = 8 waiting): clients
#             that wait the Retry-After of a 503 (flood.py, the goal's row), then wrk, whose
#             connections retry at once (the event loops then mostly answer 503s);
#   unbounded the same flood against a chorusd whose hasher admits 1024 waiting hashes
#             (threads are capped at cores - 1 anyway): every one of the 16 shared workers
#             may wait for a hash, as when they hashed themselves before the hasher existed
#             (for comparison only; BENCH_UNBOUNDED=0 skips it).
# Login throttling is set out of the way (it would turn the flood into cheap 429s): this
# measures the hasher's admission alone. Goal: flood p99 <= 3x idle p99.
#
# Usage: bench/loginflood/run.sh        (after `make`; `make bench` runs it too)
# Environment (all optional):
#   CHORUSD            server binary                          (default: build/chorusd)
#   BENCH_DURATION     wrk duration per measurement           (default: 10s)
#   BENCH_WARMUP       unmeasured warm-up, also lets the flood build up (default: 2s)
#   BENCH_POST_CONNECTIONS  connections writing posts         (default: 1: two writers on one
#                      SQLite file make p99 measure SQLite's busy-handler sleeps, not the flood)
#   BENCH_FLOOD        concurrent login connections           (default: 40)
#   BENCH_THREADS      chorusd event loops                    (default: nproc)
#   BENCH_UNBOUNDED    0 skips the unbounded comparison       (default: 1)
#   BENCH_STRICT=1     exit 1 when the goal is missed
#   BENCH_KEEP=1       keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/loginflood"
chorusd=${CHORUSD:-$root/build/chorusd}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
post_conns=${BENCH_POST_CONNECTIONS:-1}
flood=${BENCH_FLOOD:-40}
threads=${BENCH_THREADS:-$(nproc)}
unbounded=${BENCH_UNBOUNDED:-1}
py=/usr/bin/python3
[ -x "$py" ] || py=python3

goal_p99_ratio=3.0 # flood p99 of POST /v1/posts <= 3x its idle p99 (docs/benchmarks.md)

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found or not executable: run 'make' first (or set CHORUSD)"
for tool in wrk curl; do
  command -v "$tool" >/dev/null || die "$tool not installed (scripts/deps.sh bench)"
done
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-bench-loginflood.XXXXXX")
chorusd_pid=""
flood_pid=""

cleanup() {
  local rc=$?
  [ -z "$flood_pid" ] || { kill "$flood_pid" 2>/dev/null || true; wait "$flood_pid" 2>/dev/null || true; }
  stop "$chorusd_pid"
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

secs() { # "10s" / "2" / "1m" -> seconds
  case $1 in *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac
}

# start_chorusd NAME [VAR=VALUE ...]: a fresh chorusd on a fresh database; sets base.
start_chorusd() {
  local name=$1
  shift
  local port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  mkdir -p "$tmp/$name"
  env CHORUS_LISTEN="127.0.0.1:$port" \
      CHORUS_DATA_DIR="$tmp/$name" \
      CHORUS_THREADS="$threads" \
      CHORUS_LOG_LEVEL=warn \
      CHORUS_RATE_LIMIT_IP=100000000 \
      CHORUS_RATE_LIMIT_USER=100000000 \
      CHORUS_LOGIN_MAX_FAILURES=1000000 \
      CHORUS_LOGIN_IP_MAX_FAILURES=1000000 \
      CHORUS_LOGIN_HANDLE_MAX_FAILURES=100000000 \
      CHORUS_ACCESS_TTL=86400 \
      "$@" "$chorusd" >"$tmp/chorusd-$name.log" 2>&1 &
  chorusd_pid=$!
  for _ in $(seq 300); do
    kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd ($name) exited during start-up"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ]; then
      return 0
    fi
    sleep 0.1
  done
  die "chorusd ($name) not ready after 30 s ($base/readyz)"
}

register() { # handle -> prints the access token
  local code
  code=$(curl -sS -o "$tmp/register.json" -w '%{http_code}' -X POST "$base/v1/auth/register" \
    -H 'Content-Type: application/json' --data "{\"handle\":\"$1\",\"password\":\"bench-password-1\"}")
  [ "$code" = 201 ] || die "register answered $code: $(head -c 500 "$tmp/register.json")"
  json_field "$tmp/register.json" 'j["access_token"]'
}

posts() { # name -> "rps p50_us p99_us non2xx errors"
  local name=$1
  wrk -t1 -c"$post_conns" -d"$duration" --latency -s "$here/post.lua" -H "Authorization: Bearer $token" \
    "$base/v1/posts" >"$tmp/wrk-posts-$name.txt"
  parse_wrk "$tmp/wrk-posts-$name.txt"
}

metric() { # name -> value (0 when absent)
  curl -sS "$base/metrics" | awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

rss_mb() { awk '/^VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$chorusd_pid/status"; }

# flood_run NAME [polite]: posts under a login flood; prints "rps p50 p99 bad errs logins_per_s
# rejected_total". The flood is wrk (it ignores Retry-After and retries at once), or with
# "polite" flood.py, whose clients wait the Retry-After of a 503/429 as real clients do.
flood_run() {
  local name=$1 flood_secs res logins0 logins1
  flood_secs=$(($(secs "$warmup") + $(secs "$duration") + 2))
  logins0=$(metric chorus_pwhash_total)
  if [ "${2:-}" = polite ]; then
    "$py" "$here/flood.py" "$base" victim "$flood" "$flood_secs" >"$tmp/flood-$name.txt" 2>&1 &
  else
    BENCH_VICTIM=victim wrk -t1 -c"$flood" -d"${flood_secs}s" -s "$here/login.lua" "$base/v1/auth/login" \
      >"$tmp/wrk-flood-$name.txt" 2>&1 &
  fi
  flood_pid=$!
  sleep "$(secs "$warmup")"
  res=$(posts "$name")
  logins1=$(metric chorus_pwhash_total)
  wait "$flood_pid" || true
  flood_pid=""
  echo "$res $(awk -v a="$logins0" -v b="$logins1" -v d="$(secs "$duration")" 'BEGIN { printf "%.1f", (b - a) / d }') $(metric chorus_pwhash_rejected_total)"
}

# ---- bounded (the defaults) -----------------------------------------------------------------
start_chorusd bounded ${BENCH_BOUNDED_ENV:-}
token=$(register bench_writer)
register victim >/dev/null
echo "bench: warm-up, then idle: wrk -t1 -c$post_conns -d$duration POST /v1/posts" >&2
[ "$(secs "$warmup")" = 0 ] || { duration=$warmup posts warmup >/dev/null; }
read -r i_rps i_p50 i_p99 i_bad _ <<<"$(posts idle)"
echo "bench: flood: $flood connections of wrong-password logins, posts measured meanwhile" >&2
read -r p_rps p_p50 p_p99 p_bad _ p_logins p_rejected0 <<<"$(flood_run polite polite)"
read -r f_rps f_p50 f_p99 f_bad _ f_logins f_rejected <<<"$(flood_run bounded)"
f_rss=$(rss_mb)
p_rejected=$p_rejected0
f_rejected=$((f_rejected - p_rejected0))
if [ "$i_bad" != 0 ] || [ "$f_bad" != 0 ] || [ "$p_bad" != 0 ]; then
  die "POST /v1/posts answered non-2xx (idle $i_bad, flood $f_bad, polite flood $p_bad)"
fi
stop "$chorusd_pid"
chorusd_pid=""

u_line=""
if [ "$unbounded" = 1 ]; then
  start_chorusd unbounded CHORUS_PWHASH_MAX_MEMORY=$((16 * 67108864)) CHORUS_PWHASH_QUEUE=1024
  token=$(register bench_writer)
  register victim >/dev/null
  echo "bench: unbounded hasher queue (1024 waiting): same flood" >&2
  read -r u_rps u_p50 u_p99 _ _ u_logins u_rejected <<<"$(flood_run unbounded)"
  u_rss=$(rss_mb)
  if awk -v r="$u_rps" 'BEGIN { exit !(r == 0) }'; then # wrk saw no post answered at all
    u_line=$(printf '%-30s %8s %9s %9s %8s %9s %8s %6s' "flood, unbounded hasher" 0 "starved" "starved" "-" \
      "$u_logins" "$u_rejected" "$u_rss")
  else
    u_line=$(printf '%-30s %8.0f %9.2f %9.2f %7.1fx %9s %8s %6s' "flood, unbounded hasher" "$u_rps" \
      "$(awk -v v="$u_p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$u_p99" 'BEGIN { print v / 1000 }')" \
      "$(awk -v a="$u_p99" -v b="$i_p99" 'BEGIN { print a / b }')" "$u_logins" "$u_rejected" "$u_rss")
  fi
  # Its workers are all still waiting for hashes: a graceful stop would wait out the drain
  # timeout, so this one is killed.
  kill -KILL "$chorusd_pid" 2>/dev/null || true
  wait "$chorusd_pid" 2>/dev/null || true
  chorusd_pid=""
fi

ratio=$(awk -v a="$p_p99" -v b="$i_p99" 'BEGIN { printf "%.2f", a / b }')
echo
echo "POST /v1/posts ($post_conns connections) while $flood connections flood POST /v1/auth/login"
printf '%-30s %8s %9s %9s %8s %9s %8s %6s\n' "" "posts/s" "p50 ms" "p99 ms" "p99/idle" "hashes/s" "503s" "RSS MB"
printf '%-30s %8.0f %9.2f %9.2f %8s %9s %8s %6s\n' "idle" "$i_rps" "$(awk -v v="$i_p50" 'BEGIN { print v / 1000 }')" \
  "$(awk -v v="$i_p99" 'BEGIN { print v / 1000 }')" "1.0x" "-" "-" "-"
printf '%-30s %8.0f %9.2f %9.2f %7.1fx %9s %8s %6s\n' "flood honouring Retry-After" "$p_rps" \
  "$(awk -v v="$p_p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$p_p99" 'BEGIN { print v / 1000 }')" \
  "$ratio" "$p_logins" "$p_rejected" "-"
printf '%-30s %8.0f %9.2f %9.2f %7.1fx %9s %8s %6s\n' "flood ignoring it (wrk)" "$f_rps" \
  "$(awk -v v="$f_p50" 'BEGIN { print v / 1000 }')" "$(awk -v v="$f_p99" 'BEGIN { print v / 1000 }')" \
  "$(awk -v a="$f_p99" -v b="$i_p99" 'BEGIN { print a / b }')" "$f_logins" "$f_rejected" "$f_rss"
[ -z "$u_line" ] || echo "$u_line"
echo "goal: p99 under the flood honouring Retry-After <= ${goal_p99_ratio}x idle p99: $(awk -v r="$ratio" -v g="$goal_p99_ratio" 'BEGIN { print (r <= g) ? "met" : "MISSED" }')"
if [ "${BENCH_STRICT:-0}" = 1 ] && awk -v r="$ratio" -v g="$goal_p99_ratio" 'BEGIN { exit !(r > g) }'; then
  exit 1
fi
