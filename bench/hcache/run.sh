#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup() runs from a trap
# Hydration cache benchmark: warm lookups (every key cached) through store/hcache.h against a
# baseline measured the same way in one run on this machine. Batches of BENCH_BATCH keys (a
# page's items), BENCH_KEYS keys of BENCH_VALUE bytes.
#
#  1. In-process driver (hcache_mem.c, get_many) against the in-process kv store
#     (ch_kv_get per key): 1 thread, then 2.
#  2. Redis driver (pipelined GETs; an EVALSHA per miss, none here) against plain pipelined
#     GETs of the same values on one hiredis connection per thread, both on a memory-only
#     redis-server started here: 1 thread, then BENCH_REDIS_THREADS; plus the Redis CPU per
#     key of each (INFO commandstats).
# No goal is enforced: the figures say what a warm hydration costs next to the plainest
# lookup of the same store.
#
# Usage: bench/hcache/run.sh           (after `make`; `make bench` runs it too)
# Environment (all optional):
#   BENCH_HCACHE     bench_hcache binary         (default: build/bench_hcache)
#   BENCH_SECONDS    seconds per measurement     (default: 3)
#   BENCH_KEYS / BENCH_BATCH / BENCH_VALUE       (default: 100000 / 20 / 300)
#   BENCH_REDIS_THREADS                          (default: 4)
#   BENCH_KEEP=1     keep the temporary directory
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BENCH_HCACHE:-$root/build/bench_hcache}
secs=${BENCH_SECONDS:-3}
keys=${BENCH_KEYS:-100000}
batch=${BENCH_BATCH:-20}
value=${BENCH_VALUE:-300}
rthreads=${BENCH_REDIS_THREADS:-4}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
# shellcheck source=../lib.sh
. "$root/bench/lib.sh"

[ -x "$bin" ] || die "$bin not built (run make)"
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/deps.sh bench)"
done

tmp=$(mktemp -d /tmp/chorus-bench-hcache.XXXXXX)
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
url="redis://127.0.0.1:$rport"
common=(--seconds "$secs" --keys "$keys" --batch "$batch" --value-bytes "$value")

# run DRIVER THREADS [URL]: bench_hcache's "keys_per_s=... hits=..." plus, with a URL, the
# Redis server's CPU (usec) in GET and EVALSHA, counted from after the fill.
run() {
  local driver=$1 threads=$2 line cmd cpu
  echo "bench: $driver, $threads thread(s)" >&2
  if [ $# -lt 3 ]; then
    "$bin" --driver "$driver" --threads "$threads" "${common[@]}"
    return
  fi
  rcli flushall >/dev/null
  line=$("$bin" --driver "$driver" --threads "$threads" --url "$3" "${common[@]}" --reset-stats 1)
  cpu=$(rcli info commandstats | tr -d '\r' |
    awk -F'[=,:]' '$1 == "cmdstat_get" || $1 == "cmdstat_evalsha" { s += $5 } END { print s + 0 }')
  echo "$line redis_usec=${cpu:-0}"
}

mem1=$(run mem 1); kv1=$(run kvmem 1)
mem2=$(run mem 2); kv2=$(run kvmem 2)
r1=$(run redis 1 "$url"); g1=$(run rawget 1 "$url")
rn=$(run redis "$rthreads" "$url"); gn=$(run rawget "$rthreads" "$url")

"$py" - "$mem1" "$kv1" "$mem2" "$kv2" "$r1" "$g1" "$rn" "$gn" "$rthreads" "$secs" "$keys" "$batch" <<'PY'
import sys
kv = lambda line: dict(p.split("=", 1) for p in line.split())
mem1, kv1, mem2, kv2, r1, g1, rn, gn = (kv(a) for a in sys.argv[1:9])
rthreads, secs, keys, batch = sys.argv[9:13]
rate = lambda d: float(d["keys_per_s"])
def cpu_per_key(d):  # the server's CPU in the lookups / keys looked up (rate x seconds)
    n = rate(d) * float(secs)
    return float(d["redis_usec"]) / n if n else 0.0
print("| warm lookups, batches of %s, %s keys | keys/s | x baseline | Redis CPU per key |" % (batch, keys))
print("|---|---:|---:|---:|")
rows = [("in-process hcache, 1 thread", mem1, kv1, False), ("in-process kv (baseline), 1 thread", kv1, kv1, False),
        ("in-process hcache, 2 threads", mem2, kv2, False), ("in-process kv (baseline), 2 threads", kv2, kv2, False),
        ("Redis hcache (GETs, EVALSHA per miss), 1 thread", r1, g1, True), ("pipelined GET (baseline), 1 thread", g1, g1, True),
        ("Redis hcache, %s threads" % rthreads, rn, gn, True), ("pipelined GET (baseline), %s threads" % rthreads, gn, gn, True)]
for name, d, base, redis in rows:
    print("| %s | %.0f | %.2fx | %s |" % (name, rate(d), rate(d) / rate(base) if rate(base) else 0,
          "%.2f us" % cpu_per_key(d) if redis else ""))
for d in (mem1, mem2, r1, rn):
    if float(d["hits"]) < 0.99:
        sys.exit("bench: the cache missed (hits=%s): it does not hold the keys" % d["hits"])
PY
