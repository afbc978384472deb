"""Open event streams under a real ``imagen-mock serve`` hold no thread each: many more
streams than the server has threads all open, the API and the admin API answer
meanwhile, and the threads they needed for a moment are given back once they end."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.servers import run_mock

#: Bound on every wait of the test.
BOUND = 60.0
#: The server's thread bound, and the streams opened: several times as many.
THREADS = 16
STREAMS = 200


def _worker(pid: int) -> int:
    """The one worker process granian started under ``pid``."""
    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]  # fmt: skip
    assert len(children) == 1, children
    return children[0]


def _threads(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


async def _open(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    await reader.readuntil(b": open\n\n")  # the stream's first line (in a chunk)
    return reader, writer


async def _hold_streams(root: str, port: int, worker: int, prediction: str) -> tuple[int, int, int]:
    """Open the streams, use the API while they are open, close them; the worker's
    threads while they were open, how many opened, and its resident memory (KiB) then."""
    outcomes = await asyncio.gather(
        *(asyncio.wait_for(_open(port, f"/stream/{prediction}"), BOUND) for _ in range(STREAMS)),
        return_exceptions=True,
    )
    opened = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    try:
        failed = [outcome for outcome in outcomes if not isinstance(outcome, tuple)]
        assert not failed, f"{len(failed)} of {STREAMS} streams did not open: {failed[0]!r}"
        threads_open = _threads(worker)
        async with httpx.AsyncClient(timeout=BOUND) as client:
            statuses = [
                (await client.get(f"{root}/v1/predictions/{prediction}", headers=AUTH)).status_code,
                (await client.get(f"{root}/_mock/clock", headers=AUTH)).status_code,
                (
                    await client.post(
                        root + CREATE, headers=AUTH, json={"input": {"prompt": "beside"}}
                    )
                ).status_code,
            ]
        assert statuses == [200, 200, 201], statuses
        rss_open = _rss_kib(worker)
    finally:
        for _, writer in opened:
            writer.close()
    return threads_open, len(opened), rss_open


def test_open_streams_hold_no_thread_each_and_give_back_what_they_took() -> None:
    args = ["--threads", str(THREADS), "--starting-seconds", "600"]
    with run_mock(args) as mock:
        port = int(mock.root.rsplit(":", 1)[1])
        worker = _worker(mock.process.pid)
        prediction = httpx.post(mock.root + CREATE, headers=AUTH,
                                json={"input": {"prompt": "held"}}, timeout=BOUND).json()["id"]  # fmt: skip
        threads_before = _threads(worker)
        threads_open, count, rss_open = asyncio.run(
            _hold_streams(mock.root, port, worker, prediction)
        )
        assert count == STREAMS
        # Streams hold no thread: far fewer threads than streams, and no more than the
        # pools' bounds (the held pool, and the pool for short blocking work).
        assert threads_open < threads_before + THREADS + 16 < STREAMS, threads_open
        deadline = time.monotonic() + BOUND
        while _threads(worker) > threads_before + 1:  # idle pool threads end by themselves
            assert time.monotonic() < deadline, (threads_before, _threads(worker))
            time.sleep(0.2)
        # Their memory goes back too: resident memory falls below what it was while they
        # were open (with the allocator's default it only grows; the bench measures how
        # much comes back, with 2000 streams).
        while _rss_kib(worker) >= rss_open:
            assert time.monotonic() < deadline, (rss_open, _rss_kib(worker))
            time.sleep(0.2)
