"""The signal that wakes held requests: :class:`ChangeSignal`."""

from __future__ import annotations

import threading

from mock_server.domain.clock import Clock

__all__ = ["ChangeSignal"]


class ChangeSignal:
    """Wakes held requests (``Prefer: wait``, event streams) when a prediction may have
    changed early (a cancel, a reset, a clock move, or one of these on another replica),
    and when the server stops.

    Waiters sleep on one condition until their prediction's next known moment, so a
    held request costs no work while nothing happens. Thread-safe.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._generation = 0
        self._stopping = False

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

    @property
    def generation(self) -> int:
        """A number that grows at every :meth:`notify`."""
        return self._generation

    def notify(self) -> None:
        """Wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

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
