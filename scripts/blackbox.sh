#!/usr/bin/env bash
# The black-box suite (tests/blackbox) against both backends, the two halves at once: they
# share nothing (each harness starts its own chorusd instances on ports the kernel picks,
# and in cluster mode its own PostgreSQL, Redis and ClickHouse, in its own temp dir), and
# most of their time is spent waiting on servers, not on the CPU.
# Usage: scripts/blackbox.sh CHORUSD [pytest args...]
#   CHORUS_BLACKBOX_SERIAL=1   one half after the other (output as it comes)
#   CHORUS_BLACKBOX_WORKERS=N  pytest-xdist workers per half (default 2; 1: no xdist). Each
#                              worker is a whole session of its own (its own chorusd, Stripe
#                              double and, in cluster mode, PostgreSQL/Redis/ClickHouse);
#                              a test file stays on one worker (--dist loadfile), slowest first
# Each half's output goes to build-asan/blackbox-MODE.log and is printed whole when both
# are done, embedded first; the exit status is non-zero if either half failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/blackbox.sh CHORUSD [pytest args...]}
shift
py=/usr/bin/python3
workers=${CHORUS_BLACKBOX_WORKERS:-2}
case "$workers" in ''|*[!0-9]*|0) echo "CHORUS_BLACKBOX_WORKERS must be a positive number, not '$workers'" >&2; exit 2 ;; esac
xdist=()
if [ "$workers" -gt 1 ]; then
  if "$py" -c 'import xdist' 2>/dev/null; then
    xdist=(-n "$workers" --dist loadfile)
  else
    echo "blackbox: pytest-xdist missing (scripts/deps.sh test installs python3-pytest-xdist): one worker per half" >&2
  fi
fi
# env --default-signal: a background command of a script starts with SIGINT ignored, and
# Python then never raises KeyboardInterrupt (pytest's teardown stops its servers on it).
run() { CHORUS_BIN="$bin" CHORUS_BACKENDS="$1" exec env --default-signal=INT "$py" -m pytest -q -p no:cacheprovider "${xdist[@]}" "${@:2}" tests/blackbox; }

if [ "${CHORUS_BLACKBOX_SERIAL:-}" = 1 ]; then
  rc=0
  for mode in embedded cluster; do
    echo "==== black-box tests, $mode backends"
    (run "$mode" "$@") || rc=1
  done
  exit $rc
fi

logdir=$(dirname "$bin")
declare -A pid status
# Each half in its own process group (job control): it keeps SIGINT (asynchronous commands
# of a script ignore it otherwise), and an interrupt reaches pytest, whose teardown stops
# the servers it started.
set -m
for mode in embedded cluster; do
  (run "$mode" "$@") >"$logdir/blackbox-$mode.log" 2>&1 &
  pid[$mode]=$!
done
trap 'kill -INT -- -${pid[embedded]} -${pid[cluster]} 2>/dev/null' INT TERM
rc=0
for mode in embedded cluster; do
  wait "${pid[$mode]}"
  status[$mode]=$?
  [ "${status[$mode]}" -eq 0 ] || rc=1
done
for mode in embedded cluster; do
  echo "==== black-box tests, $mode backends (exit ${status[$mode]}; $logdir/blackbox-$mode.log)"
  cat "$logdir/blackbox-$mode.log"
done
echo "==== black-box tests: embedded $([ "${status[embedded]}" -eq 0 ] && echo passed || echo FAILED)," \
     "cluster $([ "${status[cluster]}" -eq 0 ] && echo passed || echo FAILED)"
exit $rc
