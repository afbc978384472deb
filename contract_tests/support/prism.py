"""Prism (``@stoplight/prism-cli``, pinned in ``tools/``) as a validating proxy, for tests.

``prism proxy SPEC UPSTREAM`` forwards every request to the upstream and validates both
the request and the answer against SPEC. Without ``--errors`` it changes nothing in the
exchange and reports what it found in an ``sl-violations`` header on the answer: a JSON
list of ``{location, severity, code, message}``. (``--errors`` would turn the first
violation into a 4xx/5xx of Prism's own, hiding every later one; a session must go on
to count them all.)
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from contract_tests.support.constants import REPO
from contract_tests.support.servers import free_port, stop

PRISM = REPO / "tools" / "node_modules" / ".bin" / "prism"
START_TIMEOUT = 90.0
VIOLATIONS_HEADER = "sl-violations"


class PrismMissingError(RuntimeError):
    """Node.js or the pinned Prism is not installed."""


@dataclass(frozen=True)
class Violation:
    """One finding of Prism on one exchange."""

    route: str
    """``METHOD path -> status``."""
    where: str
    """Where in the exchange, e.g. ``response.body.deadline``."""
    severity: str
    code: str
    message: str

    def __str__(self) -> str:
        code = f" [{self.code}]" if self.code else ""
        return f"{self.severity}: {self.route}: {self.where}: {self.message}{code}"


def violations_of(response: httpx.Response) -> list[Violation]:
    """What Prism reported on ``response`` (none when it carries no header)."""
    raw = response.headers.get(VIOLATIONS_HEADER)
    if not raw:
        return []
    found: list[dict[str, Any]] = json.loads(raw)
    route = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    return [
        Violation(
            route=route,
            where=".".join(str(part) for part in item.get("location", [])),
            severity=str(item.get("severity", "")),
            code=str(item.get("code", "")),
            message=str(item.get("message", "")),
        )
        for item in found
    ]


def check_installed() -> None:
    """Raises:
    PrismMissingError: naming the command that installs what is missing.
    """
    if shutil.which("node") is None:
        raise PrismMissingError(
            "Node.js is not installed: run `make install` (scripts/install-node-tools.sh)"
        )
    if not PRISM.exists():
        raise PrismMissingError(
            f"{PRISM} is missing: run `make install` (scripts/install-node-tools.sh)"
        )


@contextmanager
def prism_proxy(spec: Path, upstream: str, log: Path) -> Iterator[str]:
    """``http://127.0.0.1:port`` of ``prism proxy spec upstream`` until the block ends.

    Raises:
        PrismMissingError: when Node.js or Prism is not installed.
        RuntimeError: when Prism does not listen within START_TIMEOUT seconds.
    """
    check_installed()
    port = free_port()
    command = [str(PRISM), "proxy", str(spec), upstream, "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait_listening(port, process, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prism exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"prism did not listen on {port} within {START_TIMEOUT:g}s")
