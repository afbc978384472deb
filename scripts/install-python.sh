#!/usr/bin/env bash
# Create the virtualenv and install the pinned, hash-checked dependencies,
# then this project and the generated client without touching their pins.
set -euo pipefail
python=${1:-python3.11}
venv=${2:-.venv}
cd "$(dirname "$0")/.."
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    -e . -e generated_client
