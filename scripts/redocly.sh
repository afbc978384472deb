#!/usr/bin/env bash
# Run the pinned Redocly CLI quietly: no telemetry, no update notice, no Node deprecation banner.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
out=$(tools/node_modules/.bin/redocly "$@" 2>&1) && status=0 || status=$?
grep -v -E '[║╔╚]' <<<"$out" | sed '/^[[:space:]]*$/d'
exit "$status"
