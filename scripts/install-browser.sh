#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests
# (contract_tests/e2e/test_browser.py and test_har_devtools.py drive it with Playwright;
# Playwright's own browser download is never used). Quick and quiet when it is already there.
set -euo pipefail
chromium=/usr/bin/chromium
if [ -x "$chromium" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "$chromium not found: installing Debian's chromium" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    [ -x "$chromium" ] || { echo "error: apt-get installed chromium but $chromium is missing" >&2; exit 1; }
else
    echo "warning: $chromium not found, so the browser test will be skipped." >&2
    echo "  Install it as root with: apt-get update && apt-get install -y chromium" >&2
    echo "  (or run: sudo scripts/install-browser.sh)" >&2
fi
