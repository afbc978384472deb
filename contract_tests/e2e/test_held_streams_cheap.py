"""Open event streams under a real ``imagen-mock serve`` hold no thread each: many more
streams than the server has threads all open, the API and the admin API answer
meanwhile, and the threads and memory they needed for a moment are given back once
they end.

Memory is judged over rounds: the first round of streams leaves the worker's resident
memory above where it started (Python's allocator keeps the arenas its peak filled
wherever one object still lives in them; see the README's benchmark section), so what
is measured is what later rounds add. The worker's Python blocks (asked of a probe the
test loads into it) must come back to where the first round left them: anything a
stream leaves behind (an object kept in a list, a task never forgotten) adds a few
blocks per stream. Its resident memory must not grow much either (what the streams
took is reused).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.servers import run_mock
from contract_tests.support.worker_probe.sitecustomize import VARIABLE

#: The folder whose ``sitecustomize`` answers how many Python blocks a worker holds.
PROBE = Path(__file__).resolve().parents[1] / "support" / "worker_probe"

#: Bound on every wait of the test.
BOUND = 60.0
#: The server's thread bound, and the streams opened each round: many times as many.
THREADS = 16
STREAMS = 300
#: Rounds of streams after the first; each opens STREAMS, uses the API, closes them.
MORE_ROUNDS = 2
#: The most resident memory the later rounds may add together, as a share of what the
#: first round's streams took while they were open (a leak of a stream's objects adds
#: about as much as it keeps at every round).
REUSE_SHARE = 0.1


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


def _held(root: str) -> float:
    """The server's gauge of held requests and open streams."""
    for line in httpx.get(f"{root}/metrics", timeout=BOUND).text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == "imagen_mock_held_connections":
            return float(value)
    raise AssertionError("no imagen_mock_held_connections in /metrics")


async def _open(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    await reader.readuntil(b": open\n\n")  # the stream's first line (in a chunk)
    return reader, writer


async def _hold_streams(
    root: str, port: int, worker: int, prediction: str, *, use_api: bool = True
) -> tuple[int, int, int]:
    """Open the streams, use the API while they are open (unless not ``use_api``: what
    it creates stays), close them; the worker's threads while they were open, how many
    opened, and its resident memory (KiB) then."""
    outcomes = await asyncio.gather(
        *(asyncio.wait_for(_open(port, f"/stream/{prediction}"), BOUND) for _ in range(STREAMS)),
        return_exceptions=True,
    )
    opened = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    try:
        failed = [outcome for outcome in outcomes if not isinstance(outcome, tuple)]
        assert not failed, f"{len(failed)} of {STREAMS} streams did not open: {failed[0]!r}"
        threads_open = _threads(worker)
        if not use_api:
            return threads_open, len(opened), _rss_kib(worker)
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


def _until_ended(root: str) -> None:
    deadline = time.monotonic() + BOUND
    while (held := _held(root)) > 0:
        assert time.monotonic() < deadline, f"{held:g} streams still open"
        time.sleep(0.1)


def _until_given_back(root: str, worker: int, threads_before: int) -> None:
    """Until the server has seen every stream end (its held gauge is back to zero) and
    the pool threads they needed have ended (idle pool threads end by themselves)."""
    deadline = time.monotonic() + BOUND
    while (held := _held(root)) > 0:
        assert time.monotonic() < deadline, f"{held:g} streams still open"
        time.sleep(0.2)
    while _threads(worker) > threads_before + 1:  # asked nothing meanwhile, so they idle
        assert time.monotonic() < deadline, (threads_before, _threads(worker))
        time.sleep(0.2)


def _allocated_blocks(directory: Path, pid: int) -> int:
    """The Python blocks process ``pid`` holds after a garbage collection (asked of the
    probe the test loads into it: :mod:`contract_tests.support.worker_probe`)."""
    answer = directory / f"blocks-{pid}"
    answer.unlink(missing_ok=True)
    (directory / f"ask-{pid}").touch()
    deadline = time.monotonic() + BOUND
    while not answer.exists():
        assert time.monotonic() < deadline, f"worker {pid} did not answer the probe"
        time.sleep(0.05)
    return int(answer.read_text())


def test_open_streams_hold_no_thread_each_and_give_back_what_they_took(tmp_path: Path) -> None:
    args = ["--threads", str(THREADS), "--starting-seconds", "600"]
    env = {"PYTHONPATH": str(PROBE), VARIABLE: str(tmp_path)}
    with run_mock(args, env=env) as mock:
        port = int(mock.root.rsplit(":", 1)[1])
        worker = _worker(mock.process.pid)
        prediction = httpx.post(mock.root + CREATE, headers=AUTH,
                                json={"input": {"prompt": "held"}}, timeout=BOUND).json()["id"]  # fmt: skip
        threads_before = _threads(worker)
        rss_before = _rss_kib(worker)
        threads_open, count, rss_open = asyncio.run(
            _hold_streams(mock.root, port, worker, prediction)
        )
        assert count == STREAMS
        # Streams hold no thread: far fewer threads than streams, and no more than the
        # pools' bounds (the held pool, and the pool for short blocking work).
        assert threads_open < threads_before + THREADS + 16 < STREAMS, threads_open
        _until_given_back(mock.root, worker, threads_before)
        rss_first = _rss_kib(worker)
        blocks_first = _allocated_blocks(tmp_path, worker)
        assert rss_first < rss_open, (rss_before, rss_open, rss_first)
        for more in range(MORE_ROUNDS):
            asyncio.run(_hold_streams(mock.root, port, worker, prediction, use_api=False))
            if more < MORE_ROUNDS - 1:
                _until_ended(mock.root)
        _until_given_back(mock.root, worker, threads_before)
        rss_last = _rss_kib(worker)
        blocks_last = _allocated_blocks(tmp_path, worker)
        # Nothing of the later rounds' streams is left: not one object per stream.
        assert blocks_last - blocks_first < STREAMS // 2, (blocks_first, blocks_last)
        # And what the first round's streams took is reused by the later rounds.
        took = rss_open - rss_before
        assert rss_last - rss_first < took * REUSE_SHARE, (
            rss_before,
            rss_open,
            rss_first,
            rss_last,
        )
