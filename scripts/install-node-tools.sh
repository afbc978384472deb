#!/usr/bin/env bash
# Install the Node tools pinned in tools/package-lock.json (the Redocly linter).
# Node.js and npm come from Debian's packages when the machine has none.
set -euo pipefail
cd "$(dirname "$0")/../tools"
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "npm not found: installing Debian's nodejs and npm" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
        echo "error: npm is required; install Node.js 20 or newer (e.g. apt-get install nodejs npm)" >&2
        exit 1
    fi
fi
npm ci --no-audit --no-fund --loglevel=error
