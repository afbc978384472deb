"""Starting ``imagen-mock serve`` as a real process on a free loopback port, for tests."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
START_TIMEOUT = 20.0


@dataclass(frozen=True)
class RunningMock:
    """A mock process: where it listens and, with TLS, the CA to trust."""

    root: str
    """``scheme://127.0.0.1:port``."""
    ca_file: Path | None
    process: subprocess.Popen[bytes]

    @property
    def api(self) -> str:
        return f"{self.root}/v1"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_mock(
    args: Sequence[str] = (),
    *,
    tls: bool = False,
    tmp: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningMock]:
    """Run ``imagen-mock serve`` with ``args`` (and ``env`` added to its environment)
    until the block ends.

    Raises:
        RuntimeError: if the server does not answer within START_TIMEOUT seconds.
    """
    port = free_port()
    command = [str(BIN / "imagen-mock"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    ca_file = None
    if tls:
        assert tmp is not None, "TLS needs a directory for the CA file"
        ca_file = tmp / f"ca-{port}.pem"
        command += ["--tls", "--ca-file", str(ca_file)]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEN_MOCK_")}
    environment.update(env or {})
    process = subprocess.Popen(
        [*command, *args], env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    root = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        _wait_until_up(root, ca_file, process)
        yield RunningMock(root=root, ca_file=ca_file, process=process)
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate a server process, killing it if it has not exited within ``timeout``."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_up(root: str, ca_file: Path | None, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    verify: ssl.SSLContext | bool = True
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"imagen-mock exited with {process.returncode}: {err}")
        if ca_file is None or ca_file.exists():
            if ca_file is not None and not isinstance(verify, ssl.SSLContext):
                verify = ssl.create_default_context(cafile=str(ca_file))
            try:
                httpx.get(f"{root}/openapi.yaml", verify=verify, timeout=1.0)
            except httpx.TransportError:
                pass
            else:
                return
        time.sleep(0.05)
    raise RuntimeError(f"imagen-mock did not answer at {root} within {START_TIMEOUT}s")
