"""What a Redis stall does to a server: the benchmark's Redis-stall scenario.

One server (one worker) on a throwaway redis-server; redis-server is stopped (SIGSTOP)
for ``STALL_SECONDS``. Meanwhile one client polls a running prediction (it needs Redis)
and another fetches ``/openapi.yaml``, the webhook secret and an unknown route
(they do not). Measured: the
slowest and p99 no-Redis answer during the stall against before it, how long the
Redis-needing requests took to be answered 503 (and whether each carried
``Retry-After``), and how long after SIGCONT the polls answer 200 again.

Run alone: ``python scripts/bench/redis_stall.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import redis
from measure import AUTH, BIN, CREATE, free_port, redis_server, server

STALL_SECONDS = 8.0
#: Routes that need no Redis, and their status.
FREE_ROUTES = (("/openapi.yaml", 200), ("/v1/webhooks/default/secret", 200), ("/nowhere", 404))


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else -1.0


async def free_routes(base: str, until: float) -> list[float]:
    """Fetch the routes that need no Redis in turn until ``until``; each one's seconds."""
    times = []
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < until:
            for path, expected in FREE_ROUTES:
                started = time.monotonic()
                reply = await client.get(base + path, headers=AUTH)
                if reply.status_code != expected:
                    raise RuntimeError(f"{path}: {reply.status_code}")
                times.append(time.monotonic() - started)
            await asyncio.sleep(0.01)
    return times


async def redis_polls(base: str, prediction: str, until: float) -> list[tuple[float, int, bool]]:
    """Poll the prediction until ``until``: (seconds, status, had Retry-After) of each."""
    found = []
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            reply = await client.get(f"{base}/v1/predictions/{prediction}", headers=AUTH)
            found.append(
                (time.monotonic() - started, reply.status_code, "retry-after" in reply.headers)
            )
            await asyncio.sleep(0.2)
    return found


async def stall(base: str, prediction: str, pid: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    before = await free_routes(base, time.monotonic() + 2.0)
    figures["free_p99_ms_before"] = round(p99(before), 2)
    os.kill(pid, signal.SIGSTOP)
    try:
        until = time.monotonic() + STALL_SECONDS
        polls_task = asyncio.create_task(redis_polls(base, prediction, until))
        await asyncio.sleep(0.05)  # a poll is stuck on Redis before the others start
        during = await free_routes(base, until)
        polls = await polls_task
    finally:
        os.kill(pid, signal.SIGCONT)
    resumed = time.monotonic()
    figures["free_p99_ms_during"] = round(p99(during), 2)
    figures["free_max_ms_during"] = round(max(during, default=-1) * 1000, 2)
    figures["free_requests_during"] = len(during)
    refused = [seconds for seconds, status, _ in polls if status == 503]
    figures["redis_polls_during"] = len(polls)
    figures["redis_polls_503"] = len(refused)
    figures["redis_polls_without_retry_after"] = sum(
        1 for _, status, retry in polls if status == 503 and not retry
    )
    figures["redis_max_seconds_to_503"] = round(max(refused, default=-1), 2)
    figures["redis_median_seconds_to_503"] = round(
        sorted(refused)[len(refused) // 2] if refused else -1, 3
    )
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() - resumed < 30:
            reply = await client.get(f"{base}/v1/predictions/{prediction}", headers=AUTH)
            if reply.status_code == 200:
                break
            await asyncio.sleep(0.05)
    figures["seconds_to_recover"] = round(time.monotonic() - resumed, 2)
    return figures


def measure_redis_stall() -> dict[str, float]:
    """The figures of one stall, keys prefixed ``stall_``."""
    with redis_server() as redis_url:
        pid = int(redis.Redis.from_url(redis_url).info("server")["process_id"])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [str(BIN / "imagen-mock"), "serve", "--port", str(port),
                   "--redis-url", redis_url, "--processing-seconds", "600"]  # fmt: skip
        with server(command, f"{base}/v1/predictions"):
            prediction = httpx.post(
                base + CREATE, headers=AUTH, json={"input": {"prompt": "stall"}}, timeout=10
            ).json()["id"]
            figures = asyncio.run(stall(base, prediction, pid))
    return {f"stall_{key}": value for key, value in figures.items()}


if __name__ == "__main__":
    for key, value in measure_redis_stall().items():
        print(f"{key}: {value}")
