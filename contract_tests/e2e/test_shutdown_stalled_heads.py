"""Stopping a real server while clients hold half-sent request heads open.

A client that sends part of its request line and headers, then nothing, but stays
connected, used to hold its worker for up to ``--header-timeout-seconds`` (10 s by
default) after a stop signal: past a shorter ``--drain-seconds``, until granian killed
the worker. Now such a connection is closed 1 s after the signal (or ``--drain-seconds``,
if shorter), as the header timeout would have closed it: no answer. A request in flight
on another connection at that moment is not cut: a half-sent body still gets its 503.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.support.stopping import answer_of, open_stalled, stop_within

pytestmark = pytest.mark.slow

DRAIN_SECONDS = 2.0
#: What the process may take beyond its drain bound to exit (it takes about 1.2 s in all
#: here; without the fix it took drain + 5 s, when granian killed the worker).
MARGIN_SECONDS = 2.0
#: Half-sent heads held open at once (with two workers, most likely on both).
HEADS = 4
HEAD = b"GET /v1/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer r8_"
#: A create whose body stops after its first bytes: in flight when the heads are closed.
BODY = (
    b"POST /v1/models/google/imagen-4-ultra/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Authorization: Bearer r8_stalled\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"input": {'
)


@pytest.fixture(params=["one-worker", "two-workers", "tls"])
def mock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningMock]:
    # The header timeout is left at its default (10 s), longer than the drain bound.
    args = ["--drain-seconds", str(DRAIN_SECONDS)]
    if request.param == "two-workers":
        args += ["--workers", "2", "--data-dir", str(tmp_path / "data")]
    with run_mock(args, tls=request.param == "tls", tmp=tmp_path) as running:
        yield running


def test_half_sent_heads_held_open_do_not_keep_the_server_past_its_drain_bound(
    mock: RunningMock,
) -> None:
    with ExitStack() as stack:
        heads = [open_stalled(mock, stack, HEAD) for _ in range(HEADS)]
        body = open_stalled(mock, stack, BODY)
        log = stop_within(mock, signal.SIGTERM, DRAIN_SECONDS + MARGIN_SECONDS)
        # Closed at the grace, as heads (the close at the drain bound would close them
        # too, but counts them as connections still open at the bound).
        closed_as_heads = re.findall(r"(\d+) connection\(s\) still sending a request head", log)
        assert sum(map(int, closed_as_heads)) == HEADS, log
        # Each half-sent head was closed unanswered, as its header timeout would have.
        for conn in heads:
            assert answer_of(conn) == b""
        # The request in flight meanwhile was answered, not cut with the heads.
        head, _, payload = answer_of(body).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), head
        assert json.loads(payload)["status"] == 503
