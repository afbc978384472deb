"""Stopping a real server while clients misbehave: what the shutdown tests share."""

from __future__ import annotations

import socket
import ssl
import time
from contextlib import ExitStack

from contract_tests.support.servers import RunningMock
from contract_tests.support.waiting import wait_until_read


def open_stalled(mock: RunningMock, stack: ExitStack, sent: bytes) -> socket.socket:
    """A connection (TLS if the mock serves it) that sent ``sent``, which the server has
    read, and then nothing; closed with ``stack``."""
    port = int(mock.root.rsplit(":", 1)[1])
    conn = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
    client_port = conn.getsockname()[1]
    if mock.ca_file is not None:
        context = ssl.create_default_context(cafile=str(mock.ca_file))
        conn = stack.enter_context(context.wrap_socket(conn, server_hostname="127.0.0.1"))
    conn.sendall(sent)
    wait_until_read(port, client_port)
    return conn


def answer_of(conn: socket.socket) -> bytes:
    """All the server sent before it closed the connection."""
    conn.settimeout(5)
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


def stop_within(mock: RunningMock, signum: int, bound: float) -> str:
    """Send ``signum`` to the mock, and check that it exits 0 within ``bound`` seconds,
    with no worker killed and no traceback; its log."""
    started = time.monotonic()
    mock.process.send_signal(signum)
    code = mock.process.wait(timeout=bound + 20)
    took = time.monotonic() - started
    assert mock.process.stderr is not None
    log = mock.process.stderr.read().decode()
    assert code == 0, f"exit code {code} after {took:.1f} s: {log}"
    assert took < bound, f"took {took:.1f} s to stop: {log}"
    assert "Killing worker" not in log, log
    assert "Traceback" not in log, log
    return log
