"""Running a script with the official ``replicate`` Python client against a TLS mock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

from contract_tests.support.servers import RunningMock


def run_client(mock: RunningMock, base: str, script: str, **replace: str) -> dict[str, Any]:
    """Run ``script`` (each ``replace`` key swapped for its value as JSON) in a fresh Python
    with the client pointed at ``mock.root + base``; the JSON of its last line of output."""
    for key, value in replace.items():
        script = script.replace(key, json.dumps(value))
    env = {
        **os.environ,
        "REPLICATE_BASE_URL": mock.root + base,
        "REPLICATE_API_TOKEN": "r8_mocktoken",
        "REPLICATE_POLL_INTERVAL": "0.05",
        "SSL_CERT_FILE": str(mock.ca_file),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
