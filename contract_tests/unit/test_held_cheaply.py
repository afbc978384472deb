"""What keeps held connections cheap and a stalled Redis from holding up others: async
bodies sent from the loop, pools whose threads end, coroutines woken by the change
signal, and the Redis breaker."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

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


def test_pool_threads_start_on_demand_within_the_bound_and_end_when_idle() -> None:
    pool = ElasticPool(4, name="t", idle_seconds=0.2)
    release = threading.Event()
    futures = [pool.submit(release.wait, BOUND) for _ in range(10)]
    assert pool.threads == 4
    release.set()
    assert all(future.result(BOUND) for future in futures)
    deadline = time.monotonic() + BOUND
    while pool.threads:
        assert time.monotonic() < deadline, pool.threads
        time.sleep(0.01)
    assert pool.submit(lambda: 42).result(BOUND) == 42  # and start again when needed
    pool.shutdown(cancel_futures=True)


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
