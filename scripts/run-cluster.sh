#!/usr/bin/env bash
# Cluster mode on one machine: starts a private PostgreSQL 15 and Redis 7 on loopback in
# ./var/cluster (kept between runs), then chorusd pointed at them. Ctrl-C stops everything.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/var/cluster
pg_port=${PG_PORT:-55432}
redis_port=${REDIS_PORT:-56379}
pgbin=/usr/lib/postgresql/15/bin
mkdir -p "$dir"

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ ! -f "$dir/pg/PG_VERSION" ]; then
  mkdir -p "$dir/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir" "$dir/pg"
  as_pg "$pgbin/initdb" -D "$dir/pg" -A trust -U chorus >/dev/null
fi
as_pg "$pgbin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
  -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"

cleanup() {
  redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
  as_pg "$pgbin/pg_ctl" -D "$dir/pg" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

export CHORUS_DB="postgres://chorus@127.0.0.1:$pg_port/postgres"
export CHORUS_REDIS="redis://127.0.0.1:$redis_port"
echo "cluster: PostgreSQL on 127.0.0.1:$pg_port, Redis on 127.0.0.1:$redis_port" >&2
"$root/build/chorusd" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' INT TERM
wait $pid || true
wait $pid 2>/dev/null || true
