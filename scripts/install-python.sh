#!/usr/bin/env bash
# Fill the virtualenv from the hash-checked locks, saying what each step does.
#   install-python.sh runtime PYTHON VENV   what serving needs (requirements-run.lock) and
#                                           this project, editable, without its dependencies
#   install-python.sh dev PYTHON VENV       the rest of requirements.lock (the development
#                                           tools) on top, and the generated client
# Both leave every pin as the lock says; packages already installed are not fetched again.
set -euo pipefail
mode=${1:?usage: install-python.sh runtime|dev PYTHON VENV}
python=${2:-python3.11}
venv=${3:-.venv}
cd "$(dirname "$0")/.."
packages() { grep -c '^[A-Za-z0-9]' "$1"; }
case "$mode" in
    runtime) lock=requirements-run.lock
        what="$(packages "$lock") runtime packages from $lock" ;;
    dev) lock=requirements.lock  # a superset of requirements-run.lock, pin for pin
        what="$(($(packages "$lock") - $(packages requirements-run.lock))) development packages from $lock, beside the runtime ones" ;;
    *) echo "install-python.sh: unknown mode '$mode' (runtime or dev)" >&2; exit 2 ;;
esac
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if [ ! -x "$venv/bin/python" ]; then
    if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
        echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
        exit 1
    fi
    echo "creating $venv with $("$python" -c 'import sys; print(sys.executable)')"
    "$python" -m venv "$venv"
fi
echo "installing $what (pinned, hash-checked)"
"${pip[@]}" --require-hashes -r "$lock"
if [ "$mode" = runtime ]; then
    echo "installing the project (editable, no dependencies)"
    "${pip[@]}" --no-deps --no-build-isolation -e .
else
    echo "installing the project and the generated client (editable, no dependencies)"
    "${pip[@]}" --no-deps --no-build-isolation -e . -e generated_client
fi
