"""The in-process :class:`~mock_server.domain.store.Store`: the default for one worker."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.store import Page

__all__ = ["InMemoryStore"]

T = TypeVar("T")


class InMemoryStore:
    """The embedded default: a dict and an insertion-ordered list under one lock.

    A record's position is its insertion number; it stays valid (for cursors)
    when older records are purged from the front.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, PredictionRecord] = {}
        self._order: deque[str] = deque()
        self._purged = 0

    def add(self, record: PredictionRecord) -> None:
        with self._lock:
            if record.id in self._by_id:
                raise KeyError(f"duplicate prediction id {record.id}")
            self._by_id[record.id] = record
            self._order.append(record.id)

    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        self.add(record)  # nothing to wait for: stored first, then computed
        return meanwhile()

    def get(self, prediction_id: str) -> PredictionRecord | None:
        return self._by_id.get(prediction_id)

    def update(
        self, prediction_id: str, change: Callable[[PredictionRecord], PredictionRecord]
    ) -> PredictionRecord | None:
        with self._lock:
            current = self._by_id.get(prediction_id)
            if current is None:
                return None
            updated = change(current)
            self._by_id[prediction_id] = updated
            return updated

    def page(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        with self._lock:
            positions = [
                pos
                for pos, pid in enumerate(self._order, start=self._purged)
                if _created_in(self._by_id[pid], created_after, created_before)
            ]
            if after is not None:
                chosen = [pos for pos in positions if pos > after][:limit]
            else:
                older = [pos for pos in positions if before is None or pos < before]
                chosen = older[-limit:] if limit else []
            chosen.reverse()
            records = [self._by_id[self._order[pos - self._purged]] for pos in chosen]
        if not chosen:
            return Page(records=[], older=None, newer=None)
        oldest, newest = chosen[-1], chosen[0]
        return Page(
            records=records,
            older=oldest if positions and positions[0] < oldest else None,
            newer=newest if positions and positions[-1] > newest else None,
        )

    def purge(self, created_before: float) -> int:
        with self._lock:
            dropped = 0
            while self._order and self._by_id[self._order[0]].created_at < created_before:
                del self._by_id[self._order.popleft()]
                dropped += 1
            self._purged += dropped
            return dropped

    def clear(self) -> int:
        with self._lock:
            dropped = len(self._order)
            self._by_id.clear()
            self._order.clear()
            self._purged += dropped
            return dropped


def _created_in(record: PredictionRecord, after: float | None, before: float | None) -> bool:
    if after is not None and record.created_at < after:
        return False
    return before is None or record.created_at < before
