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
  python3 python3-pytest python3-yaml python3-jsonschema)
bench_pkgs=(wrk nginx-light redis-tools redis-server sqlite3 curl python3 postgresql postgresql-client)

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
# tools/api/package-lock.json. node and npm come from apt when missing (the machine image may
# ship a newer nodejs with its own npm: then nothing is installed). npm ci runs only when
# node_modules is missing or the lockfile changed since the last install (a stamp file).
API_NODE_MAJOR_MIN=20
api_tools_install() {
  local dir lock stamp sum
  dir="$(cd "$(dirname "$0")/.." && pwd)/tools/api"
  lock="$dir/package-lock.json"; stamp="$dir/node_modules/.chorus-lock.sha256"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt "$API_NODE_MAJOR_MIN" ]; then
    echo "deps: node $(node --version) is too old for tools/api (needs >= $API_NODE_MAJOR_MIN.19)" >&2
    exit 1
  fi
  sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  echo "deps: npm ci in tools/api" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
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
