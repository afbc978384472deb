"""A throwaway ``redis-server`` on a free loopback port, for the Redis store and bus tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
import redis

from contract_tests.support.servers import free_port, stop

START_TIMEOUT: Final = 10.0
MISSING: Final = (
    "redis-server not found: run scripts/install-redis.sh (Debian package redis-server)"
)


def redis_server_binary() -> str:
    """Where ``redis-server`` is; fails the test under CI, skips it elsewhere, if it is not found."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return binary


@contextmanager
def run_redis(directory: Path, port: int | None = None) -> Iterator[str]:
    """Run a ``redis-server`` that persists nothing, with its log in ``directory``, until
    the block ends; yields its URL ``redis://127.0.0.1:PORT/0`` (``port``: a free one
    unless given, to restart a server where it was).

    Raises:
        RuntimeError: if the server exits or does not answer PING within START_TIMEOUT seconds.
    """
    binary = redis_server_binary()
    port = port or free_port()
    log = directory / f"redis-{port}.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(directory), "--logfile", str(log)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_ping(url, process, log)
        yield url
    finally:
        stop(process)


def _wait_for_ping(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Raises: RuntimeError: if the server exits or stays silent for START_TIMEOUT seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {process.returncode}: {text}")
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer at {url} within {START_TIMEOUT}s")
