"""Work waiting to be sent, per receiver, with a limit on each receiver's work in flight.

Pure bookkeeping (no threads, no locks: the caller holds its own). A receiver is a
``scheme://host:port`` (:func:`mock_server.webhooks.sending.receiver_of`). Items of one
receiver are taken first in, first out; receivers take turns, so a receiver with a long
queue does not starve the others, and a receiver at its limit is skipped until one of
its items is done.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["ReceiverQueues"]

T = TypeVar("T")


class ReceiverQueues(Generic[T]):
    """FIFO queues keyed by receiver; at most ``limit`` items of a receiver out at once."""

    def __init__(self, limit: int) -> None:
        """
        Raises:
            ValueError: if ``limit`` is below 1.
        """
        if limit < 1:
            raise ValueError("the per-receiver limit must be at least 1")
        self._limit = limit
        self._waiting: dict[str, deque[T]] = {}
        self._out: dict[str, int] = {}

    def put(self, receiver: str, item: T) -> None:
        """Queue ``item`` behind the receiver's other waiting items."""
        self._waiting.setdefault(receiver, deque()).append(item)

    def take(self) -> tuple[str, T] | None:
        """The oldest item of the first receiver below its limit (counted out until
        :meth:`done`), that receiver moving to the back of the turn; None if none can go."""
        free = (name for name in self._waiting if self._out.get(name, 0) < self._limit)
        receiver = next(free, None)
        if receiver is None:
            return None
        queue = self._waiting.pop(receiver)
        item = queue.popleft()
        if queue:
            self._waiting[receiver] = queue  # back of the turn
        self._out[receiver] = self._out.get(receiver, 0) + 1
        return receiver, item

    def done(self, receiver: str) -> None:
        """An item of ``receiver`` taken with :meth:`take` is no longer out."""
        left = self._out.get(receiver, 0) - 1
        if left > 0:
            self._out[receiver] = left
        else:
            self._out.pop(receiver, None)

    def drain(self) -> list[T]:
        """Every waiting item, whatever the limits (not counted out), oldest receiver first."""
        items = [item for queue in self._waiting.values() for item in queue]
        self._waiting.clear()
        return items

    def clear(self) -> None:
        """Drop the waiting items (items out stay counted until :meth:`done`)."""
        self._waiting.clear()

    def waiting(self) -> int:
        """How many items wait."""
        return sum(len(queue) for queue in self._waiting.values())

    def out(self, receiver: str) -> int:
        """How many items of ``receiver`` are out."""
        return self._out.get(receiver, 0)
