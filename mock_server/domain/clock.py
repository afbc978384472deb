"""Time sources. Handlers read time only through a :class:`Clock`, so tests can move it.

:class:`AdjustableClock` (the default of a running mock) is the wall clock plus an
offset that the admin API (``POST /_mock/clock``) can only grow; a ``sleep`` on it
wakes as soon as the clock is moved. :class:`FakeClock` moves only when told to and is
for unit tests. :class:`SystemClock` is the bare wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "AdjustableClock",
    "AdvanceableClock",
    "Clock",
    "FakeClock",
    "SystemClock",
    "check_step",
]

#: The furthest a clock may be moved in total: 1000 years (dates stay printable).
MAX_OFFSET_SECONDS: Final = 1000 * 365.25 * 86400


class Clock(Protocol):
    """What the mock needs from a clock: the time, and a way to let time pass."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...


@runtime_checkable
class AdvanceableClock(Clock, Protocol):
    """A clock the admin API can move forward."""

    @property
    def offset_seconds(self) -> float:
        """How far the clock has been moved in total."""
        ...

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``.

        Raises:
            ValueError: if ``seconds`` is negative or the total would exceed
                :data:`MAX_OFFSET_SECONDS`.
        """
        ...

    def advance_to(self, offset_seconds: float) -> None:
        """Move the clock forward until it has moved ``offset_seconds`` in total; a clock
        already there or further stays. Atomic, so replicas can converge on one total.

        Raises:
            ValueError: if ``offset_seconds`` exceeds :data:`MAX_OFFSET_SECONDS`.
        """
        ...


def check_step(offset: float, seconds: float) -> None:
    """Raises: ValueError: for a negative step or one past :data:`MAX_OFFSET_SECONDS`."""
    if not seconds >= 0:
        raise ValueError("a clock cannot go backwards")
    if offset + seconds > MAX_OFFSET_SECONDS:
        raise ValueError(f"a clock cannot be moved more than {MAX_OFFSET_SECONDS:g} s in total")


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class AdjustableClock:
    """The wall clock plus an offset that only grows. Thread-safe.

    :meth:`sleep` waits in real time but returns as soon as the clock reaches its
    target, so an :meth:`advance` wakes every sleeper at once; callbacks added with
    :meth:`on_advance` are called after each move (the webhook dispatcher uses one
    to wake its own thread).
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._offset = 0.0
        self._changed = threading.Condition()
        self._listeners: list[Callable[[], None]] = []

    @property
    def offset_seconds(self) -> float:
        with self._changed:
            return self._offset

    def now(self) -> float:
        return self._wall() + self._offset  # one read of a float: atomic, no lock needed

    def advance(self, seconds: float) -> None:
        """Move the clock forward and wake every sleeper and listener.

        Raises:
            ValueError: if ``seconds`` is negative or the total would exceed
                :data:`MAX_OFFSET_SECONDS`.
        """
        with self._changed:
            check_step(self._offset, seconds)
            self._offset += seconds
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def advance_to(self, offset_seconds: float) -> None:
        with self._changed:
            step = offset_seconds - self._offset
            if not step > 0:
                return
            check_step(self._offset, step)
            self._offset = offset_seconds
            self._changed.notify_all()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def on_advance(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` after every :meth:`advance`; returns a function that stops it."""
        with self._changed:
            self._listeners.append(listener)

        def remove() -> None:
            with self._changed:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def sleep(self, seconds: float) -> None:
        """Return once this clock has moved ``seconds`` on, by real time or an advance."""
        if not seconds > 0:
            return
        with self._changed:
            target = self._wall() + self._offset + seconds
            while (left := target - (self._wall() + self._offset)) > 0:
                self._changed.wait(left)


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it instantly.

    Thread-safe, so a test can move it while a request is being served.
    """

    def __init__(self, start: float = 1_753_846_126.805) -> None:
        self._start = start
        self._now = start
        self._lock = threading.Lock()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._now - self._start

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward.

        Raises:
            ValueError: if ``seconds`` is negative or the total would exceed
                :data:`MAX_OFFSET_SECONDS`.
        """
        with self._lock:
            check_step(self._now - self._start, seconds)
            self._now += seconds

    def advance_to(self, offset_seconds: float) -> None:
        with self._lock:
            step = offset_seconds - (self._now - self._start)
            if not step > 0:
                return
            check_step(self._now - self._start, step)
            self._now = self._start + offset_seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
