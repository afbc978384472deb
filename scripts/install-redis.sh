#!/usr/bin/env bash
# Make sure Debian's redis-server is on PATH for the Redis store and bus tests
# (contract_tests/support/redis_server.py starts its own throwaway server on a free
# loopback port; no system Redis service is used). Quick and quiet when it is
# already there.
set -euo pipefail
redis_server=/usr/bin/redis-server
if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing Debian's redis-server" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    [ -x "$redis_server" ] || { echo "error: apt-get installed redis-server but $redis_server is missing" >&2; exit 1; }
else
    echo "warning: redis-server not found, so the Redis store tests will be skipped." >&2
    echo "  Install it as root with: apt-get update && apt-get install -y redis-server" >&2
    echo "  (or run: sudo scripts/install-redis.sh)" >&2
fi
