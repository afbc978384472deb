"""The signal that wakes held requests: :class:`ChangeSignal`."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from mock_server.domain.clock import Clock

__all__ = ["ChangeSignal"]


class ChangeSignal:
    """Wakes held requests (``Prefer: wait``, event streams) when a prediction may have
    changed early (a cancel, a reset, a clock move, or one of these on another replica),
    and when the server stops.

    Waiters sleep on one condition until their prediction's next known moment, so a
    held request costs no work while nothing happens. Thread-safe. Coroutines wait
    with :meth:`wait_async`: every waiter of one event loop awaits one future, which
    :meth:`notify` and :meth:`stop` settle from whichever thread calls them.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._stopping = False
        self._futures: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

    @property
    def stopping(self) -> bool:
        """Whether the server is stopping: held requests answer with what they have."""
        return self._stopping

    def stop(self) -> None:
        """Wake every waiter for good: from now on :meth:`wait` returns at once."""
        with self._condition:
            self._stopping = True
            self._generation += 1
            self._condition.notify_all()
            self._wake_coroutines()

    @property
    def generation(self) -> int:
        """A number that grows at every :meth:`notify`."""
        return self._generation

    def notify(self) -> None:
        """Wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
            self._wake_coroutines()

    def _wake_coroutines(self) -> None:
        """Settle each loop's future (the condition is held)."""
        futures, self._futures = self._futures, {}
        for loop, future in futures.items():
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_settle, future)

    async def wait_async(self, seen: int, seconds: float) -> None:
        """:meth:`wait` for a coroutine: sleeps on the running loop, not a thread."""
        if self._generation != seen or seconds <= 0 or self._stopping:
            return
        loop = asyncio.get_running_loop()
        with self._condition:
            if self._generation != seen or self._stopping:
                return
            future = self._futures.get(loop)
            if future is None:
                future = self._futures[loop] = loop.create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), seconds)

    def wait(self, seen: int, seconds: float) -> None:
        """Return after ``seconds``, or at once if :meth:`notify` was called since
        :attr:`generation` was ``seen``, or when it is called."""
        with self._condition:
            if self._generation == seen and seconds > 0 and not self._stopping:
                self._condition.wait(seconds)

    def hold(self, clock: Clock, seconds: float) -> None:
        """Sleep ``seconds`` of ``clock``'s time (a clock move counts, as it wakes this
        signal), or less if the server stops meanwhile."""
        end = clock.now() + seconds
        while not self._stopping:
            seen = self._generation
            left = end - clock.now()
            if left <= 0:
                return
            self.wait(seen, left)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
