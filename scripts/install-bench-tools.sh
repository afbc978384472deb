#!/usr/bin/env bash
# The benchmark's load generator: Debian's wrk (Prism comes with tools/node_modules;
# redis-server with scripts/install-redis.sh).
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
else
    echo "error: wrk is required for the benchmark (apt-get install wrk)" >&2
    exit 1
fi
