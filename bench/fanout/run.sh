#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from a trap
# Fan-out benchmark: home-timeline inserts (store/timeline.h) against redis-benchmark's
# pipelined ZADD, measured side by side in one run on this machine.
#
#  1. Baseline: a memory-only redis-server started here, `redis-benchmark -P 64 ZADD` on
#     random keys and members (__rand_int__), its default 50 clients.
#  2. In-process driver, one thread (one core): bench_fanout pushes posts to every one of
#     BENCH_USERS timelines in batches of 1024 followers (as the fan-out worker calls
#     ch_timeline_push_many), empty timelines first, then timelines kept full (800 entries:
#     every insert also drops the oldest), which also gives the memory per entry.
#  3. Redis driver against the same redis-server: the same pushes (one pipelined round trip
#     of one EVALSHA per follower per batch), one thread into empty then full timelines,
#     then BENCH_REDIS_THREADS threads
#     (the fan-out worker's threads each hold a connection); the memory per entry of full
#     timelines (MEMORY USAGE of one sorted set and its meta hash, / 800).
# Goals (issue 11): in-process >= 2x the ZADD rate; Redis driver >= 0.5x.
#
# Usage: bench/fanout/run.sh           (after `make`; `make bench` runs it too)
# Environment (all optional):
#   BENCH_FANOUT     bench_fanout binary               (default: build/bench_fanout)
#   BENCH_USERS      timelines pushed to (in-process)  (default: 100000)
#   BENCH_POSTS      posts fanned out (in-process)     (default: 40)
#   BENCH_REDIS_USERS / BENCH_REDIS_POSTS  the same for Redis (default: 20000 / 20)
#   BENCH_REDIS_THREADS  pushing threads, second Redis run (default: 4)
#   BENCH_ZADD_N     redis-benchmark requests           (default: 2000000)
#   BENCH_STRICT=1   exit 1 when a goal is missed
#   BENCH_KEEP=1     keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BENCH_FANOUT:-$root/build/bench_fanout}
users=${BENCH_USERS:-100000}
posts=${BENCH_POSTS:-40}
rusers=${BENCH_REDIS_USERS:-20000}
rposts=${BENCH_REDIS_POSTS:-20}
rthreads=${BENCH_REDIS_THREADS:-4}
zadd_n=${BENCH_ZADD_N:-2000000}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# shellcheck source=../lib.sh
. "$root/bench/lib.sh"

goal_mem=2.0
goal_redis=0.5

[ -x "$bin" ] || die "$bin not built (run make)"
for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/deps.sh bench)"
done

tmp=$(mktemp -d /tmp/chorus-bench-fanout.XXXXXX)
redis_pid=""
cleanup() {
  stop "$redis_pid" 5
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do
  [ "$(redis-cli -p "$rport" ping 2>/dev/null || true)" = PONG ] && break
  sleep 0.1
done
[ "$(redis-cli -p "$rport" ping 2>/dev/null || true)" = PONG ] || die "redis-server did not start"
rcli() { redis-cli -p "$rport" "$@"; }

# field NAME LINE: the value of NAME=... in a bench_fanout output line.
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<" $2"; }

# redis_cpu: seconds of CPU (user + sys) the Redis server has used so far.
redis_cpu() { rcli info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%f", s }'; }

echo "bench: baseline: redis-benchmark -P 64 ZADD (n=$zadd_n)" >&2
cpu0=$(redis_cpu)
redis-benchmark -p "$rport" -P 64 -n "$zadd_n" -r 100000 --csv \
  ZADD 'bz:{__rand_int__}' __rand_int__ __rand_int__ >"$tmp/zadd.csv" 2>/dev/null
zadd=$("$py" -c 'import csv,sys; rows=[r for r in csv.reader(open(sys.argv[1])) if len(r) > 1 and r[0].startswith("ZADD")]; print(rows[-1][1])' "$tmp/zadd.csv")
cpu1=$(redis_cpu)
zadd_cpu_us=$("$py" -c 'import sys; print("%.3f" % ((float(sys.argv[2]) - float(sys.argv[1])) * 1e6 / float(sys.argv[3])))' "$cpu0" "$cpu1" "$zadd_n")
rcli flushall >/dev/null

echo "bench: in-process, 1 thread, $users timelines x $posts posts" >&2
mem_line=$("$bin" --users "$users" --posts "$posts")
fill_users=$((users / 10 > 0 ? users / 10 : 1))
echo "bench: in-process, 1 thread, $fill_users full timelines x $posts posts" >&2
mem_full_line=$("$bin" --users "$fill_users" --posts "$posts" --fill)

echo "bench: redis driver, 1 thread, $rusers timelines x $rposts posts" >&2
r1_line=$("$bin" --redis "redis://127.0.0.1:$rport" --info-port "$rport" --users "$rusers" --posts "$rposts")
rcli flushall >/dev/null
rfill_users=$((rusers / 10 > 0 ? rusers / 10 : 1))
echo "bench: redis driver, 1 thread, $rfill_users full timelines x $rposts posts" >&2
rf_line=$("$bin" --redis "redis://127.0.0.1:$rport" --info-port "$rport" --users "$rfill_users" --posts "$rposts" --fill)
rcli flushall >/dev/null
echo "bench: redis driver, $rthreads threads" >&2
rn_line=$("$bin" --redis "redis://127.0.0.1:$rport" --info-port "$rport" --users "$rusers" --posts "$rposts" --threads "$rthreads")
rcli flushall >/dev/null
echo "bench: redis driver, memory of full timelines" >&2
"$bin" --redis "redis://127.0.0.1:$rport" --info-port "$rport" --users 200 --posts 1 --fill >/dev/null
zset_bytes=$(rcli memory usage 'tl:{1}' samples 0)
meta_bytes=$(rcli memory usage 'tlm:{1}' samples 0)
zset_card=$(rcli zcard 'tl:{1}')

"$py" - "$zadd:$zadd_cpu_us" "$mem_line" "$mem_full_line" "$r1_line" "$rf_line" "$rn_line" "$zset_bytes" "$meta_bytes" "$zset_card" \
  "$goal_mem" "$goal_redis" "${BENCH_STRICT:-0}" <<'PY'
import sys
zadd, zadd_cpu = (float(x) for x in sys.argv[1].split(":"))
def kv(line):
    return dict(p.split("=", 1) for p in line.split())
mem, full, r1, rf, rn = (kv(a) for a in sys.argv[2:7])
zset_b, meta_b, card = int(sys.argv[7]), int(sys.argv[8]), int(sys.argv[9])
goal_mem, goal_redis, strict = float(sys.argv[10]), float(sys.argv[11]), sys.argv[12] == "1"
rate = lambda d: float(d["inserts_per_s"])
cpu = lambda d: float(d["redis_cpu_us_per_insert"]) if "redis_cpu_us_per_insert" in d else None
rows = [
    ("redis-benchmark -P 64 ZADD (baseline, 50 clients)", zadd, None),
    ("in-process, 1 thread, empty timelines", rate(mem), goal_mem),
    ("in-process, 1 thread, full timelines (800, oldest dropped)", rate(full), goal_mem),
    ("Redis driver, 1 thread, empty timelines", rate(r1), goal_redis),
    ("Redis driver, 1 thread, full timelines (800, oldest dropped)", rate(rf), goal_redis),
    ("Redis driver, %s threads, empty timelines" % rn["threads"], rate(rn), goal_redis),
]
redis_cpu_of = {"Redis driver, 1 thread, empty timelines": cpu(r1),
                "Redis driver, 1 thread, full timelines (800, oldest dropped)": cpu(rf),
                "redis-benchmark -P 64 ZADD (baseline, 50 clients)": zadd_cpu}
print("| fan-out | inserts/s | x ZADD | goal | Redis CPU per insert | ZADD CPU / insert CPU |")
print("|---|---:|---:|---:|---:|---:|")
missed = []
for name, r, goal in rows:
    ratio = r / zadd if zadd else 0
    c = redis_cpu_of.get(name)
    print("| %s | %.0f | %.2fx | %s | %s | %s |" % (name, r, ratio, ">= %.1fx" % goal if goal else "",
          "%.2f us" % c if c else "", "%.2fx" % (zadd_cpu / c) if c else ""))
    if goal and "1 thread" in name and ratio < goal:
        missed.append(name)
print()
print("memory per entry, in-process (full timelines): %s bytes (%s entries, %s bytes)"
      % (full["bytes_per_entry"], full["entries"], full["bytes"]))
print("memory per entry, Redis (one full timeline: sorted set %d B + meta hash %d B over %d members): %.1f bytes"
      % (zset_b, meta_b, card, (zset_b + meta_b) / card if card else 0))
if missed:
    print("bench: goal missed: " + "; ".join(missed), file=sys.stderr)
    sys.exit(1 if strict else 0)
PY
