"""What thousands of open event streams cost: the benchmark's held-streams scenario.

One server (one worker, in memory) holds ``count`` event streams of a prediction that
has not started and will not for minutes (nothing happens but a heartbeat every 15 s). Measured: how long until every stream had its headers, the worker's
threads and resident memory before, while open and after they close, its CPU while
nothing happens, and the latency of GET, create and an admin call meanwhile (one client
each, in turn, so a request never waits behind another of ours).

Resident memory is read at start (``before``), after a short probe of the idle server
(``before_streams``: the probe's predictions and journal entries stay), with the
streams open, after they closed (``after``), and after a second round of as many
streams, opened and closed without a probe (``after_second_round``). ``after`` stays
above ``before_streams`` by what Python's allocator keeps of the streams' peak (see the
README); a leak would show as a second round that grows it again.

Run alone: ``python scripts/bench/held_streams.py [count]``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
from measure import AUTH, BIN, CREATE, free_port, server, workers_of

QUIET_SECONDS = 5.0
PROBE_SECONDS = 5.0
#: How long a stream may take to get its headers before it counts as not opened.
OPEN_TIMEOUT = 30.0


def threads_of(pid: int) -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/task").iterdir())


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def open_stream(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    return reader, writer


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else -1.0


async def probe(base: str, prediction: str, seconds: float) -> dict[str, float]:
    """GET, create and an admin read in turn for ``seconds``: each one's p99 (ms)."""
    times: dict[str, list[float]] = {"get": [], "create": [], "admin": []}
    errors = 0
    body = {"input": {"prompt": "probe"}}
    async with httpx.AsyncClient(timeout=30) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for name in times:
                started = time.monotonic()
                try:
                    if name == "get":
                        reply = await client.get(
                            f"{base}/v1/predictions/{prediction}", headers=AUTH
                        )
                    elif name == "create":
                        reply = await client.post(base + CREATE, headers=AUTH, json=body)
                    else:
                        reply = await client.get(f"{base}/_mock/clock", headers=AUTH)
                    errors += reply.status_code >= 400
                except httpx.HTTPError:
                    errors += 1
                times[name].append(time.monotonic() - started)
    found = {f"{name}_p99_ms": round(p99(samples), 2) for name, samples in times.items()}
    found["probe_errors"] = errors
    return found


async def scenario(base: str, port: int, worker: int, count: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.post(base + CREATE, headers=AUTH, json={"input": {"prompt": "held"}})
        prediction = reply.json()["id"]
    figures: dict[str, float] = {"streams": count}
    figures["threads_before"] = threads_of(worker)
    figures["rss_mib_before"] = round(rss_mib(worker), 1)
    figures.update({f"idle_{k}": v for k, v in (await probe(base, prediction, 2.0)).items()})
    figures["rss_mib_before_streams"] = round(rss_mib(worker), 1)
    started = time.monotonic()
    opened = await open_streams(port, prediction, count)
    streams = [s for s in opened if not isinstance(s, BaseException)]
    figures["streams_open"] = len(streams)
    figures["seconds_to_open"] = round(time.monotonic() - started, 2)
    figures["threads_open"] = threads_of(worker)
    figures["rss_mib_open"] = round(rss_mib(worker), 1)
    await asyncio.sleep(2.0)  # the opening's threads settle
    cpu = cpu_seconds(worker)
    await asyncio.sleep(QUIET_SECONDS)
    figures["idle_cpu_percent"] = round((cpu_seconds(worker) - cpu) / QUIET_SECONDS * 100, 1)
    figures.update(await probe(base, prediction, PROBE_SECONDS))
    await close_streams(opened)
    figures["threads_after"] = threads_of(worker)
    figures["rss_mib_after"] = round(rss_mib(worker), 1)
    # The same streams again, without the probe: the memory the first round left is
    # reused (it is kept by the allocators, not leaked), so this ends about where it did.
    await close_streams(await open_streams(port, prediction, count))
    figures["rss_mib_after_second_round"] = round(rss_mib(worker), 1)
    return figures


async def open_streams(port: int, prediction: str, count: int) -> list[object]:
    """``count`` streams of ``prediction`` opened at once: each a (reader, writer) pair,
    or the error that kept it from opening."""
    return await asyncio.gather(
        *(
            asyncio.wait_for(open_stream(port, f"/stream/{prediction}"), OPEN_TIMEOUT)
            for _ in range(count)
        ),
        return_exceptions=True,
    )


async def close_streams(opened: list[object]) -> None:
    """Close the streams, then give the server time to see it and its idle threads time
    to end."""
    for outcome in opened:  # those still waiting for headers are cut too
        if isinstance(outcome, tuple):
            outcome[1].close()
    await asyncio.sleep(8.0)


def measure_held_streams(count: int = 2000, extra_args: tuple[str, ...] = ()) -> dict[str, float]:
    """The figures of one server holding ``count`` streams, keys prefixed ``streams_``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "imagen-mock"), "serve", "--port", str(port),
               "--starting-seconds", "600", "--processing-seconds", "600", *extra_args]  # fmt: skip
    with server(command, f"{base}/v1/predictions") as (process, _):
        time.sleep(0.5)
        worker = workers_of(process.pid)[0]
        figures = asyncio.run(scenario(base, port, worker, count))
    return {f"streams_{key}": value for key, value in figures.items()}


if __name__ == "__main__":
    for key, value in measure_held_streams(int(sys.argv[1]) if len(sys.argv) > 1 else 2000).items():
        print(f"{key}: {value}")
