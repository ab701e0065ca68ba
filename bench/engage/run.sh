#!/usr/bin/env bash
# shellcheck disable=SC2317  # stop() and cleanup() run from traps
# Engagement benchmark (embedded mode: SQLite + in-process kv).
#
#  1. Reaction writes through the HTTP API: wrk PUTs /v1/posts/{id}/reaction for random
#     users, targets and kinds; every answer must be 200, and afterwards every target's
#     counters must equal its rows. Compared, in the same run, with
#       - SQLite's own insert rate into a table shaped like `reactions` (same indexes,
#         WAL, synchronous=FULL as chorusd): all rows in one transaction (the ceiling of
#         any batching) and one durable transaction per row (what a transaction per
#         request gets without group commit);
#       - redis-benchmark INCR with as many connections (a networked write through an
#         event loop; in memory, not durable);
#       - the same PUT refused by chorusd with 422 (an unknown kind: parsed, authenticated,
#         nothing stored): the ceiling of any write through this server on this machine;
#       - GET of one post through chorusd itself (section 2).
#  2. Reading an item with its counts and my_reaction: GET /v1/posts/{id} of a post with
#     1,000,000 reactions (rows made directly in SQLite) against a post with none.
#  3. The same reaction writes with PostgreSQL 15 (fsync on, synchronous_commit on) and
#     Redis, both started here in the temporary directory (BENCH_CLUSTER=0 skips it).
#
# Usage: bench/engage/run.sh            (after `make`; `make bench` runs it too)
# Environment (all optional):
#   CHORUSD             server binary                      (default: build/chorusd)
#   BENCH_DURATION      wrk duration per measurement       (default: 10s)
#   BENCH_WARMUP        unmeasured warm-up                  (default: 2s; 0 to skip)
#   BENCH_CONNECTIONS   wrk connections = redis-benchmark clients (default: 64)
#   BENCH_WRK_THREADS   wrk threads                         (default: 2)
#   BENCH_THREADS       chorusd event loops                 (default: nproc)
#   BENCH_USERS         reacting users                      (default: 2000)
#   BENCH_TARGETS       posts reacted to                    (default: 200)
#   BENCH_BIG           reactions on the big post           (default: 1000000)
#   BENCH_ROLES         chorusd roles (CHORUS_ROLES)        (default: api; "all" adds the
#                       worker role's notification/signal consumers to the same process)
#   BENCH_CLUSTER       0 skips section 3                   (default: 1)
#   BENCH_STRICT=1      exit 1 when a goal is missed
#   BENCH_KEEP=1        keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$root/bench/engage"
chorusd=${CHORUSD:-$root/build/chorusd}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
conns=${BENCH_CONNECTIONS:-64}
wrk_threads=${BENCH_WRK_THREADS:-2}
threads=${BENCH_THREADS:-$(nproc)}
users=${BENCH_USERS:-2000}
targets=${BENCH_TARGETS:-200}
big_n=${BENCH_BIG:-1000000}
roles=${BENCH_ROLES:-api}
cluster=${BENCH_CLUSTER:-1}
pg_bin=/usr/lib/postgresql/15/bin
py=/usr/bin/python3
[ -x "$py" ] || py=python3

# Goals (docs/benchmarks.md).
goal_writes=20000     # reaction writes/s through the API
goal_read_ratio=0.8   # GET of the 1M-reaction post >= 0.8x the req/s of the empty one

# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
[ -x "$chorusd" ] || die "$chorusd not found or not executable: run 'make' first (or set CHORUSD)"
for tool in wrk sqlite3 redis-server redis-benchmark curl; do
  command -v "$tool" >/dev/null || die "$tool not installed (scripts/deps.sh bench)"
done
ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/chorus-bench-engage.XXXXXX")
chorusd_pid=""
redis_pid=""
pg_started=""

cleanup() {
  local rc=$?
  stop "$redis_pid"
  stop "$chorusd_pid"
  [ -z "$pg_started" ] || runuser -u postgres -- "$pg_bin/pg_ctl" -D "$tmp/pg/data" -m immediate -w stop \
    >/dev/null 2>&1 || true
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

now_ns() { date +%s%N; }

# ---- baselines ------------------------------------------------------------------------------
schema="PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
CREATE TABLE reactions (target_type TEXT NOT NULL, target_id BIGINT NOT NULL, user_id BIGINT NOT NULL,
  kind TEXT NOT NULL, prev_kind TEXT, id BIGINT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (target_type, target_id, user_id));
CREATE INDEX reactions_target_id ON reactions(target_type, target_id, id);
CREATE INDEX reactions_target_kind_id ON reactions(target_type, target_id, kind, id);"

sqlite_rate() { # mode(one|each) rows -> rows per second
  local mode=$1 n=$2 db="$tmp/baseline-$1.db" t0 t1
  rm -f "$db"*
  sqlite3 "$db" "$schema" >/dev/null
  if [ "$mode" = one ]; then
    t0=$(now_ns)
    sqlite3 "$db" "PRAGMA synchronous=FULL; BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
      WHERE i < $n) INSERT INTO reactions SELECT 'post', 1000 + abs(random()) % $targets, i,
      'like', i, 0, 0 FROM n; COMMIT;"
    t1=$(now_ns)
  else
    "$py" - "$n" "$targets" >"$tmp/each.sql" <<'PY'
import random, sys
n, targets = int(sys.argv[1]), int(sys.argv[2])
print("PRAGMA synchronous=FULL;")
for i in range(1, n + 1):
    print("INSERT INTO reactions VALUES('post', %d, %d, 'like', NULL, %d, 0);" % (1000 + random.randrange(targets), i, i))
PY
    t0=$(now_ns)
    sqlite3 "$db" <"$tmp/each.sql"
    t1=$(now_ns)
  fi
  "$py" -c "print('%.0f' % ($n / (($t1 - $t0) / 1e9)))"
}

# start_redis LOG: a memory-only Redis on a free port in $tmp (sets rport and redis_pid),
# answering PING before it returns (or after 10 s).
start_redis() {
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
    --logfile "$tmp/$1" >/dev/null 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    [ "$(redis-cli -p "$rport" ping 2>/dev/null || true)" = PONG ] && break
    sleep 0.1
  done
}

echo "bench: baseline: SQLite inserts (one transaction, then one per row)" >&2
sq_one=$(sqlite_rate one 200000)
sq_each=$(sqlite_rate each 2000)

echo "bench: baseline: redis-benchmark INCR -c $conns" >&2
start_redis redis.log
redis-benchmark -p "$rport" -c "$conns" -n 1000000 -t incr -q >"$tmp/redis-bench.txt" 2>&1 || true
redis_rps=$("$py" - "$tmp/redis-bench.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read().replace("\r", "\n")
m = re.findall(r"INCR: ([\d.]+) requests per second", text)
print(m[-1] if m else "0")
PY
)
stop "$redis_pid"
redis_pid=""

# ---- chorusd ------------------------------------------------------------------------------------
port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$tmp/data"
start_chorusd() {
  env CHORUS_LISTEN="127.0.0.1:$port" CHORUS_DATA_DIR="$tmp/data" CHORUS_THREADS="$threads" \
      CHORUS_ROLES="$roles" CHORUS_LOG_LEVEL=warn CHORUS_ACCESS_TTL=86400 \
      CHORUS_RATE_LIMIT_IP=1000000000 CHORUS_RATE_LIMIT_USER=1000000000 CHORUS_RATE_LIMIT_REACTIONS=1000000000 \
      CHORUS_PWHASH_OPSLIMIT=1 CHORUS_PWHASH_MEMLIMIT=8388608 "$@" \
      "$chorusd" >>"$tmp/chorusd.log" 2>&1 &
  chorusd_pid=$!
  for _ in $(seq 300); do
    kill -0 "$chorusd_pid" 2>/dev/null || die "chorusd exited during start-up"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ] && return 0
    sleep 0.1
  done
  die "chorusd not ready after 30 s"
}
start_chorusd
echo "bench: setup: $users users, $targets posts" >&2
"$py" "$here/setup.py" "$base" "$tmp" "$users" "$targets"

# ---- 1. reaction writes -----------------------------------------------------------------------
export BENCH_DIR="$tmp"
# Runs the write load against $base; prints "rps p50_us p99_us non2xx socket_errors".
write_run() {
  if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    wrk -t"$wrk_threads" -c"$conns" -d"$warmup" -s "$here/react.lua" "$base" >/dev/null
  fi
  echo "bench: writes: wrk -t$wrk_threads -c$conns -d$duration --latency -s react.lua ($1)" >&2
  wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -s "$here/react.lua" "$base" >"$tmp/wrk-writes-$1.txt" 2>&1
  parse_wrk "$tmp/wrk-writes-$1.txt"
}

# Every answered write committed: the counters must equal the rows, kind by kind. $1 is a
# command that runs SQL from its standard input and prints the last result's value alone.
check_counts() {
  local run=$1 drift missing
  drift=$($run <<'SQL'
SELECT COUNT(*) FROM target_counters tc WHERE tc.target_type = 'post' AND (
  tc.r_like <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'like') OR
  tc.r_love <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'love') OR
  tc.r_haha <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'haha') OR
  tc.r_wow <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'wow') OR
  tc.r_sad <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'sad') OR
  tc.r_angry <> (SELECT COUNT(*) FROM reactions r WHERE r.target_type = 'post' AND r.target_id = tc.target_id AND r.kind = 'angry'));
SQL
)
  [ "$drift" = 0 ] || die "$drift target(s) whose counters differ from their rows"
  missing=$($run <<'SQL'
SELECT (SELECT COUNT(*) FROM reactions WHERE target_type = 'post') - (SELECT COALESCE(SUM(r_like + r_love + r_haha
  + r_wow + r_sad + r_angry), 0) FROM target_counters WHERE target_type = 'post');
SQL
)
  [ "$missing" = 0 ] || die "reaction rows and counters differ by $missing in total"
  echo "SELECT COUNT(*) FROM reactions;" | $run
}
sqlite_sql() { { echo "PRAGMA busy_timeout=10000;"; cat; } | sqlite3 "$tmp/data/chorus.db" | tail -1; }

curl -s "$base/metrics" >"$tmp/metrics-before-writes.txt"
read -r w_rps w_p50 w_p99 w_bad w_err <<<"$(write_run embedded)"
curl -s "$base/metrics" >"$tmp/metrics-after-writes.txt"
read -r lag_p99 lag_max lag_n <<<"$(loop_lag "$tmp/metrics-before-writes.txt" "$tmp/metrics-after-writes.txt")"
[ "$w_bad" = 0 ] || die "chorusd answered $w_bad non-2xx responses (see $tmp/wrk-writes-embedded.txt)"
commits=$(curl -s "$base/metrics" | awk '$1 == "chorus_group_commits_total" {c = $2}
  $1 == "chorus_group_commit_writes_total" {w = $2} END {printf "%.1f", c ? w / c : 0}')
rows=$(check_counts sqlite_sql)
# The same request refused before any storage (unknown kind: 422): what HTTP, JSON and the
# token check cost alone on this machine, i.e. the ceiling of any write through the API.
read -r f_rps f_p50 f_p99 _ _ <<<"$(BENCH_REFUSED=1 write_run refused)"
! grep -q '^unexpected' "$tmp/wrk-writes-refused.txt" || die "a refused write was not answered 422 (see $tmp/wrk-writes-refused.txt)"
[ "$(check_counts sqlite_sql)" = "$rows" ] || die "refused writes changed the reaction rows"

# ---- 2. reads of an item with a million reactions --------------------------------------------------
big=$(json_field "$tmp/viewer.json" 'j["big"]')
small=$(json_field "$tmp/viewer.json" 'j["small"]')
viewer=$(json_field "$tmp/viewer.json" 'j["user_id"]')
token=$(json_field "$tmp/viewer.json" 'j["token"]')
stop "$chorusd_pid"
chorusd_pid=""
echo "bench: setup: $big_n reactions on post $big, written directly in SQLite" >&2
sqlite3 "$tmp/data/chorus.db" >/dev/null <<SQL
PRAGMA busy_timeout=10000;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $big_n)
INSERT INTO users(id, handle, password_hash, display_name, created_at, updated_at)
  SELECT 900000000000000000 + i, 'bulk_' || i, '-', 'Bulk ' || i, 0, 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $big_n)
INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at)
  SELECT 'post', $big, 900000000000000000 + i,
    CASE i % 6 WHEN 0 THEN 'like' WHEN 1 THEN 'love' WHEN 2 THEN 'haha' WHEN 3 THEN 'wow' WHEN 4 THEN 'sad'
    ELSE 'angry' END, 800000000000000000 + i, 0 FROM n;
INSERT INTO reactions(target_type, target_id, user_id, kind, id, created_at)
  VALUES('post', $big, $viewer, 'love', 890000000000000000, 0), ('post', $small, $viewer, 'love', 890000000000000001, 0);
INSERT INTO target_counters(target_type, target_id, r_like, r_love, r_haha, r_wow, r_sad, r_angry)
  SELECT 'post', $big, SUM(kind = 'like'), SUM(kind = 'love'), SUM(kind = 'haha'), SUM(kind = 'wow'),
    SUM(kind = 'sad'), SUM(kind = 'angry') FROM reactions WHERE target_type = 'post' AND target_id = $big;
INSERT INTO target_counters(target_type, target_id, r_love) VALUES('post', $small, 1);
COMMIT;
SQL
start_chorusd
total=$(curl -sS -H "Authorization: Bearer $token" "$base/v1/posts/$big" |
  "$py" -c 'import json, sys; j = json.load(sys.stdin); print(j["counts"]["reactions_total"], j["my_reaction"])')
[ "$total" = "$((big_n + 1)) love" ] || die "post $big shows '$total', expected '$((big_n + 1)) love'"

read_run() { # name path
  local name=$1 path=$2
  if [ "$warmup" != 0 ] && [ "$warmup" != 0s ]; then
    wrk -t"$wrk_threads" -c"$conns" -d"$warmup" -H "Authorization: Bearer $token" "$base$path" >/dev/null
  fi
  echo "bench: reads: wrk -t$wrk_threads -c$conns -d$duration --latency GET $path ($name)" >&2
  wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -H "Authorization: Bearer $token" "$base$path" \
    >"$tmp/wrk-$name.txt"
  parse_wrk "$tmp/wrk-$name.txt"
}
read -r s_rps s_p50 s_p99 s_bad _ <<<"$(read_run small "/v1/posts/$small")"
read -r b_rps b_p50 b_p99 b_bad _ <<<"$(read_run big "/v1/posts/$big")"
[ "$s_bad$b_bad" = 00 ] || die "non-2xx answers to the reads"
stop "$chorusd_pid"
chorusd_pid=""

# ---- 3. reaction writes with PostgreSQL + Redis ------------------------------------------------
c_rps=0 c_p50=0 c_p99=0 c_err=0 c_rows=0
if [ "$cluster" != 0 ] && [ -x "$pg_bin/initdb" ]; then
  echo "bench: cluster: PostgreSQL 15 (fsync on) and Redis in $tmp" >&2
  mkdir -p "$tmp/pg/sock"
  chown -R postgres:postgres "$tmp/pg"
  chmod 755 "$tmp"
  pgport=$(free_port)
  runuser -u postgres -- "$pg_bin/initdb" -D "$tmp/pg/data" -A trust -U chorus -E UTF8 --locale=C >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$tmp/pg/data" -l "$tmp/pg/postgres.log" -w -t 60 \
    -o "-p $pgport -k $tmp/pg/sock -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  pg_started=1
  start_redis redis-cluster.log
  start_chorusd CHORUS_DB="postgres://chorus@127.0.0.1:$pgport/postgres" CHORUS_REDIS="redis://127.0.0.1:$rport"
  echo "bench: setup (cluster): $users users, $targets posts" >&2
  mkdir -p "$tmp/cluster"
  "$py" "$here/setup.py" "$base" "$tmp/cluster" "$users" "$targets"
  BENCH_DIR="$tmp/cluster"
  export BENCH_DIR
  read -r c_rps c_p50 c_p99 c_bad c_err <<<"$(write_run cluster)"
  [ "$c_bad" = 0 ] || die "chorusd answered $c_bad non-2xx responses (see $tmp/wrk-writes-cluster.txt)"
  pg_sql() { "$pg_bin/psql" -X -q -t -A -h 127.0.0.1 -p "$pgport" -U chorus postgres | tail -1; }
  c_rows=$(check_counts pg_sql)
  stop "$chorusd_pid"
  chorusd_pid=""
fi

# ---- report ---------------------------------------------------------------------------------------
rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
status=0
"$py" - "$w_rps" "$w_p50" "$w_p99" "$w_err" "$sq_one" "$sq_each" "$redis_rps" "$rows" \
  "$s_rps" "$s_p50" "$s_p99" "$b_rps" "$b_p50" "$b_p99" "$goal_writes" "$goal_read_ratio" "$commits" \
  "$c_rps" "$c_p50" "$c_p99" "$c_err" "$c_rows" "$f_rps" "$f_p50" "$f_p99" "$lag_p99" "$lag_max" "$lag_n" <<PY || status=$?
import sys
(w_rps, w_p50, w_p99, w_err, sq_one, sq_each, redis_rps, rows,
 s_rps, s_p50, s_p99, b_rps, b_p50, b_p99, goal_w, goal_r, batch,
 c_rps, c_p50, c_p99, c_err, c_rows, f_rps, f_p50, f_p99, lag_p99, lag_max, lag_n) = map(float, sys.argv[1:])
def ms(v):
    return "%.0f us" % v if v < 1000 else "%.2f ms" % (v / 1000)
print()
print("chorus engagement benchmark | rev $rev | $(nproc) cpus (${cpu:-unknown cpu}) | $(uname -sr)")
print("chorusd: embedded (SQLite WAL, synchronous=FULL: each commit fsynced), roles=$roles, $threads loops; "
      "wrk -t$wrk_threads -c$conns -d$duration (after $warmup warm-up)")
print()
print("1. reaction writes: PUT /v1/posts/{id}/reaction, $users users x $targets posts, random kinds")
print()
print("| what | writes/s | p50 | p99 | chorusd / this |")
print("|---|---:|---:|---:|---:|")
print("| chorusd, HTTP API (group commit) | %.0f | %s | %s | 1 |" % (w_rps, ms(w_p50), ms(w_p99)))
print("| chorusd, HTTP API, the same PUT refused (422: parsed, authenticated, nothing stored) | %.0f | %s | %s | %.2fx |" % (f_rps, ms(f_p50), ms(f_p99), w_rps / f_rps))
print("| chorusd, HTTP API, GET of one post (section 2) | %.0f | %s | %s | %.2fx |" % (s_rps, ms(s_p50), ms(s_p99), w_rps / s_rps))
print("| SQLite, one durable transaction per row (sqlite3 CLI) | %.0f | | | %.2fx |" % (sq_each, w_rps / sq_each))
print("| SQLite, all rows in one transaction (sqlite3 CLI) | %.0f | | | %.3fx |" % (sq_one, w_rps / sq_one))
print("| redis-benchmark INCR, -c $conns (memory only) | %.0f | | | %.3fx |" % (redis_rps, w_rps / redis_rps if redis_rps else 0))
print()
print("socket errors %d; %.1f writes per group commit on average; after the run %d reaction rows, "
      "every target's counters equal to its rows" % (w_err, batch, rows))
print("event-loop lag during the writes (reaction PUTs run their reads on the loops): p99 <= %g ms, "
      "max %.1f ms (%d samples of a 100 ms timer)" % (lag_p99, lag_max, lag_n))
print()
print("2. GET /v1/posts/{id} with counts and my_reaction")
print()
print("| post | req/s | p50 | p99 |")
print("|---|---:|---:|---:|")
print("| no other reactions | %.0f | %s | %s |" % (s_rps, ms(s_p50), ms(s_p99)))
print("| $big_n reactions | %.0f | %s | %s |" % (b_rps, ms(b_p50), ms(b_p99)))
print("| ratio big / empty | %.2fx | %.2fx | %.2fx |" % (b_rps / s_rps, b_p50 / s_p50, b_p99 / s_p99))
print()
if c_rps:
    print("3. the same writes with PostgreSQL 15 (fsync on) + Redis, chorusd defaults otherwise")
    print()
    print("| what | writes/s | p50 | p99 | / embedded |")
    print("|---|---:|---:|---:|---:|")
    print("| chorusd, HTTP API, PostgreSQL + Redis | %.0f | %s | %s | %.2fx |" % (c_rps, ms(c_p50), ms(c_p99), c_rps / w_rps))
    print()
    print("socket errors %d; after the run %d reaction rows, every target's counters equal to its rows" % (c_err, c_rows))
    print()
w_ok = w_rps >= goal_w
r_ok = b_rps / s_rps >= goal_r
print("goal writes >= %.0f/s:            %s (%.0f/s)" % (goal_w, "met" if w_ok else "MISSED", w_rps))
print("goal big-post reads >= %.1fx empty: %s (%.2fx)" % (goal_r, "met" if r_ok else "MISSED", b_rps / s_rps))
sys.exit(0 if w_ok and r_ok else 3)
PY
if [ "$status" -ne 0 ] && [ "${BENCH_STRICT:-0}" = 1 ]; then
  exit 1
fi
exit 0
