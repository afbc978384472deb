"""What keeps held connections cheap and a stalled Redis from holding up others: async
bodies sent from the loop, pools whose threads end, coroutines woken by the change
signal, and the Redis breaker."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, wait

import pytest
import redis
from flask import Flask, Response

from contract_tests.unit.test_bridge import FakeProto, FakeScope, run
from mock_server.domain.changes import ChangeSignal
from mock_server.serving.bridge import WSGIBridge
from mock_server.serving.pool import ElasticPool
from mock_server.storage.reachability import Breaker, Reachability, RedisUnreachable

BOUND = 10.0


class StayingProto(FakeProto):
    """A client that never leaves."""

    async def client_disconnect(self) -> None:
        await asyncio.Event().wait()


class AsyncBody:
    """A body with ``stream_async``: says on which thread each part ran."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"sync\n"

    async def stream_async(
        self, run_blocking: Callable[[Callable[[], str]], Awaitable[str]]
    ) -> AsyncIterator[bytes]:
        yield f"loop {threading.current_thread().name}\n".encode()
        looked = await run_blocking(lambda: threading.current_thread().name)
        yield f"look {looked}\n".encode()


def test_an_async_body_is_sent_from_the_loop_its_looks_in_a_pool() -> None:
    app = Flask(__name__)

    @app.get("/events")
    def events() -> Response:
        return Response(AsyncBody(), mimetype="text/event-stream", direct_passthrough=True)

    bridge = WSGIBridge(app, offload=lambda environ: True, threads=2, may_hold=lambda e: False)
    proto = run(bridge, FakeScope(path="/events"), StayingProto())
    assert proto.status == 200
    assert proto.streamed is not None
    lines = b"".join(proto.streamed).decode().splitlines()
    assert lines[0] == f"loop {threading.current_thread().name}"  # asyncio.run's thread
    assert lines[1].startswith("look quick-")


def _burst(pool: ElasticPool, count: int) -> int:
    """Submit ``count`` jobs that all wait until the last is submitted, then let them end;
    the pool's threads while they all waited."""
    release = threading.Event()
    futures = [pool.submit(release.wait, BOUND) for _ in range(count)]
    threads = pool.threads
    release.set()
    assert all(future.result(BOUND) for future in futures)
    return threads


def test_pool_threads_start_on_demand_within_the_bound_and_end_when_idle() -> None:
    pool = ElasticPool(4, name="t", idle_seconds=0.2)
    assert _burst(pool, 10) == 4
    deadline = time.monotonic() + BOUND
    while pool.threads:
        assert time.monotonic() < deadline, pool.threads
        time.sleep(0.01)
    assert pool.submit(lambda: 42).result(BOUND) == 42  # and start again when needed
    pool.shutdown(cancel_futures=True)


def test_under_light_steady_load_the_threads_a_burst_started_still_end() -> None:
    # Idle threads must not share the work round-robin: then each gets some before its
    # idle time is up and none ends while the light load lasts.
    pool = ElasticPool(6, name="t", idle_seconds=0.5)
    assert _burst(pool, 6) == 6
    deadline = time.monotonic() + 5.0
    while pool.threads > 2:  # one serves the load; a second may catch a submit early
        assert time.monotonic() < deadline, f"{pool.threads} threads still alive"
        assert pool.submit(lambda: 1).result(BOUND) == 1
        time.sleep(0.02)  # six threads in turn would each get work every 0.12 s
    pool.shutdown()


def test_no_work_is_lost_while_threads_time_out_as_it_comes() -> None:
    pool = ElasticPool(4, name="t", idle_seconds=0.0002)
    futures: list[Future[int]] = []
    guard = threading.Lock()

    def submitter(start: int) -> None:
        for n in range(start, start + 1000):
            future = pool.submit(lambda n=n: n)
            with guard:
                futures.append(future)
            if n % 3 == 0:
                time.sleep(0.0002)  # long enough for idle threads to time out

    submitters = [threading.Thread(target=submitter, args=(i * 1000,)) for i in range(8)]
    for thread in submitters:
        thread.start()
    for thread in submitters:
        thread.join(BOUND)
    done, pending = wait(futures, timeout=BOUND)
    assert not pending
    assert sorted(future.result() for future in done) == sorted(
        n for i in range(8) for n in range(i * 1000, i * 1000 + 1000)
    )
    assert pool.threads <= 4
    pool.shutdown()


def test_queued_work_runs_in_order_and_shutdown_cancels_it_or_lets_it_run() -> None:
    pool = ElasticPool(1, name="t", idle_seconds=60)
    ran: list[int] = []
    release = threading.Event()
    first = pool.submit(release.wait, BOUND)
    queued = [pool.submit(ran.append, n) for n in range(5)]
    release.set()
    wait(queued, timeout=BOUND)
    assert ran == [0, 1, 2, 3, 4]
    release.clear()
    first = pool.submit(release.wait, BOUND)
    kept = pool.submit(ran.append, 5)
    pool.shutdown()
    with pytest.raises(RuntimeError):
        pool.submit(ran.append, 6)
    release.set()
    assert first.result(BOUND)
    assert kept.result(BOUND) is None
    assert ran[-1] == 5
    deadline = time.monotonic() + BOUND
    while pool.threads:
        assert time.monotonic() < deadline, pool.threads
        time.sleep(0.01)

    pool = ElasticPool(3, name="t", idle_seconds=60)
    release.clear()
    burst = [pool.submit(release.wait, BOUND) for _ in range(3)]
    release.set()
    assert all(future.result(BOUND) for future in burst)
    pool.shutdown()
    deadline = time.monotonic() + BOUND
    while pool.threads:  # idle threads end at shutdown, not after 60 s
        assert time.monotonic() < deadline, pool.threads
        time.sleep(0.01)

    pool = ElasticPool(1, name="t", idle_seconds=60)
    release.clear()
    started = threading.Event()

    def hold() -> bool:
        started.set()
        return release.wait(BOUND)

    first = pool.submit(hold)
    assert started.wait(BOUND)
    dropped = [pool.submit(ran.append, 7) for _ in range(3)]
    pool.shutdown(cancel_futures=True)
    release.set()
    assert first.result(BOUND)
    assert all(future.cancelled() for future in dropped)
    assert 7 not in ran
    deadline = time.monotonic() + BOUND
    while pool.threads:
        assert time.monotonic() < deadline, pool.threads
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["notify", "stop"])
def test_a_coroutine_waiting_on_the_change_signal_wakes_from_another_thread(how: str) -> None:
    changes = ChangeSignal()

    async def main() -> float:
        seen = changes.generation
        started = time.monotonic()
        waiter = asyncio.ensure_future(changes.wait_async(seen, BOUND))
        await asyncio.sleep(0)  # it is waiting
        threading.Thread(target=getattr(changes, how)).start()
        await asyncio.wait_for(waiter, BOUND)
        return time.monotonic() - started

    assert asyncio.run(main()) < BOUND / 2
    assert changes.stopping is (how == "stop")


def test_the_breaker_fails_at_once_while_open_and_closes_when_the_probe_answers() -> None:
    answers = threading.Event()

    def probe() -> None:
        if not answers.is_set():
            raise redis.TimeoutError("still stalled")

    breaker = Breaker(probe, Reachability("test"))
    breaker.check()  # closed: nothing happens
    breaker.trip(redis.TimeoutError("stalled"))
    with pytest.raises(RedisUnreachable):
        breaker.check()
    answers.set()
    deadline = time.monotonic() + BOUND
    while breaker.open:
        assert time.monotonic() < deadline, "the probe never closed the breaker"
        time.sleep(0.01)
    breaker.check()
    breaker.close()
