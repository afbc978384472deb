"""When a stopping worker closes its connections (:class:`StopClosing`), with a closer
that records its calls instead of touching sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest

from mock_server.serving import connections
from mock_server.serving.connections import StopClosing


class RecordingCloser:
    """A :class:`~mock_server.serving.connections.ConnectionCloser` that records when
    each of its calls came (by the loop's clock)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, broken: bool = False) -> None:
        self._loop = loop
        self._broken = broken
        self.noted = 0
        self.heads: list[tuple[float, set[int]]] = []
        self.all_closed: list[float] = []
        self.done = asyncio.Event()

    def note_listeners(self) -> None:
        self.noted += 1
        if self._broken:
            raise OSError("no /dev/fd")

    def close(self, spared: Collection[int]) -> int:
        self.heads.append((self._loop.time(), set(spared)))
        return 2

    def close_all(self) -> int:
        self.all_closed.append(self._loop.time())
        self.done.set()
        return 1


def _stop(closing: StopClosing, grace: float, in_flight: list[str]) -> float:
    """Stop on the running loop, closing heads at the end of the grace; return when the
    stop came (by the loop's clock)."""
    loop = asyncio.get_running_loop()
    closing.stopped(loop, grace, lambda: closing.close_heads(in_flight))
    return loop.time()


def test_every_connection_is_closed_just_before_the_bound_after_the_heads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The heads are closed at the end of the grace, sparing the clients in flight and
    those answered since the stop; every connection still open is closed
    :data:`BEFORE_BOUND_SECONDS` before the drain bound, none spared, and each close is
    logged once."""

    async def main() -> tuple[RecordingCloser, float]:
        closer = RecordingCloser(asyncio.get_running_loop())
        closing = StopClosing(closer, bound=0.9)  # the bound is near 0.4 s after the stop
        closing.answered("[::1]:4002")
        started = _stop(closing, 0.1, ["127.0.0.1:4001"])
        await asyncio.wait_for(closer.done.wait(), timeout=5)
        return closer, started

    with caplog.at_level("WARNING"):
        closer, started = asyncio.run(main())
    assert closer.noted == 1
    [(heads_at, spared)] = closer.heads
    assert spared == {4001, 4002}
    [all_at] = closer.all_closed
    assert heads_at - started >= 0.1 - 0.01  # the loop's clock has a millisecond's grain
    assert all_at - started >= 0.9 - connections.BEFORE_BOUND_SECONDS - 0.01
    assert all_at > heads_at
    messages = [record.getMessage() for record in caplog.records]
    assert sum("still sending a request head closed" in m for m in messages) == 1
    assert sum("still open at the drain bound closed" in m for m in messages) == 1


def test_a_bound_within_the_grace_closes_everything_when_the_grace_is_over() -> None:
    async def main() -> tuple[RecordingCloser, float]:
        closer = RecordingCloser(asyncio.get_running_loop())
        closing = StopClosing(closer, bound=0.3)
        started = _stop(closing, 0.3, [])  # a bridge's grace is at most its bound
        await asyncio.wait_for(closer.done.wait(), timeout=5)
        return closer, started

    closer, started = asyncio.run(main())
    [(heads_at, _)] = closer.heads
    [all_at] = closer.all_closed
    assert all_at >= heads_at
    assert all_at - started >= 0.3 - 0.01


def test_the_clocks_start_even_when_the_listeners_cannot_be_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> RecordingCloser:
        closer = RecordingCloser(asyncio.get_running_loop(), broken=True)
        _stop(StopClosing(closer, bound=0.5), 0.05, [])
        await asyncio.wait_for(closer.done.wait(), timeout=5)
        return closer

    closer = asyncio.run(main())
    assert closer.noted == 1
    assert len(closer.heads) == 1
    assert len(closer.all_closed) == 1
    assert "cannot note the listening ports" in caplog.text


def test_without_a_closer_only_the_grace_runs() -> None:
    async def main() -> list[str]:
        graced: list[str] = []
        over = asyncio.Event()
        closing = StopClosing(None, bound=0.2)

        def grace_over() -> None:
            closing.close_heads(["127.0.0.1:4001"])  # nothing to close with: a no-op
            graced.append("over")
            over.set()

        closing.stopped(asyncio.get_running_loop(), 0.05, grace_over)
        await asyncio.wait_for(over.wait(), timeout=5)
        return graced

    assert asyncio.run(main()) == ["over"]


def test_what_remains_of_the_bound_is_counted_from_the_stop() -> None:
    closing = StopClosing(None, bound=30.0)
    assert closing.remaining() == 30.0  # no stop yet: the whole bound
    closing.stopped(None, 1.0, lambda: None)  # no loop: only the bound's clock starts
    left = closing.remaining()
    assert left is not None
    assert 29.0 < left <= 30.0
    assert StopClosing(None, bound=None).remaining() is None
