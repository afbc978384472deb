"""Stopping a real server while a client does not read a large answer.

A client that asks for an answer larger than the kernel's buffers and then reads
nothing, but stays connected, kept granian writing the rest for as long as it stayed:
the worker did not end until granian killed it, ``--drain-seconds`` plus 5 s after the
signal. Now every connection still open half a second before the drain bound is shut
down, and the process exits 0 within the bound; the client gets part of its answer and
then the connection closed.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.support.stopping import stop_within
from contract_tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

DRAIN_SECONDS = 2.0
#: What the process may take beyond its drain bound to exit (it exits about 1.8 s after
#: the signal here; without the fix it took drain + 5 s, when granian killed the worker).
MARGIN_SECONDS = 1.0
AUTH = {"Authorization": "Bearer r8_unread"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
#: Requests whose 64 KiB bodies the journal keeps (it keeps at most that much of each):
#: listing them is an answer of about 5 MB, more than the server's socket can hold.
ENTRIES = 80
BODY = b"x" * 64 * 1024
#: The unread client's receive buffer, set before it connects (its window stays small).
RECEIVE_BUFFER = 4096
#: Bytes waiting in the server's socket for the client that show it writes and is stuck.
STUCK_BYTES = 1024 * 1024


@pytest.fixture(params=["one-worker", "two-workers"])
def mock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningMock]:
    args = ["--drain-seconds", str(DRAIN_SECONDS)]
    if request.param == "two-workers":  # the journal is shared through the data directory
        args += ["--workers", "2", "--data-dir", str(tmp_path / "data")]
    with run_mock(args, tmp=tmp_path) as running:
        yield running


def _large_answer(mock: RunningMock) -> int:
    """Fill the journal until its listing is larger than the kernel's buffers; return
    the listing's size in bytes."""
    headers = {**AUTH, "Content-Type": "application/json"}
    with httpx.Client(base_url=mock.root, timeout=10) as client:
        for _ in range(ENTRIES):
            assert client.post(CREATE, content=BODY, headers=headers).status_code == 400

        def listed() -> int | None:  # with two workers, each writes its entries in turn
            answer = client.get("/_mock/requests", headers=AUTH)
            return len(answer.content) if len(answer.json()["results"]) >= ENTRIES else None

        return wait_for(listed)


def _unsent(server_port: int, client_port: int) -> int:
    """Bytes the server's end of a loopback connection has written that the client has
    not taken (its ``tx_queue`` in ``/proc/net/tcp``, Linux)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[0], 16)
    return 0


def _rest(conn: socket.socket) -> int:
    """How many bytes the client can still read before its connection ends."""
    conn.settimeout(5)
    received = 0
    try:
        while chunk := conn.recv(65536):
            received += len(chunk)
    except ConnectionResetError:  # the server's end was closed with bytes still unread
        pass
    return received


def test_a_client_that_does_not_read_its_answer_does_not_keep_the_server_past_its_drain_bound(
    mock: RunningMock,
) -> None:
    size = _large_answer(mock)
    port = int(mock.root.rsplit(":", 1)[1])
    with closing(socket.socket()) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        conn.settimeout(5)
        conn.connect(("127.0.0.1", port))
        client_port = conn.getsockname()[1]
        conn.sendall(
            b"GET /_mock/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer r8_unread\r\n\r\n"
        )
        wait_for(lambda: _unsent(port, client_port) >= STUCK_BYTES)
        log = stop_within(mock, signal.SIGTERM, DRAIN_SECONDS + MARGIN_SECONDS)
        assert "1 connection(s) still open at the drain bound closed" in log, log
        # The client's connection was cut: what it can still read ends short of the answer.
        assert _rest(conn) < size
