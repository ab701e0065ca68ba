#!/usr/bin/env bash
# Installs every Debian package that chorus needs to build, run, test and benchmark.
# Idempotent and non-interactive: does nothing when all packages are already present.
# Usage: scripts/deps.sh [build|test|bench|all]   (default: all)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
  libh2o-dev libuv1-dev libwslay-dev libjansson-dev libsqlite3-dev libpq-dev
  libhiredis-dev libcurl4-openssl-dev libsodium-dev libssl-dev libutf8proc-dev)
test_pkgs=(libcmocka-dev postgresql redis-server redis-tools clickhouse-server clickhouse-client curl
  python3 python3-pytest python3-yaml python3-jsonschema python3-psycopg2 python3-websockets)
bench_pkgs=(wrk nginx-light redis-tools redis-server sqlite3 curl python3 postgresql postgresql-client nodejs npm)

case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
  all)   want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packaged servers must not start system-wide instances: tests start their own on loopback.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
