"""The in-process :class:`~mock_server.domain.store.Store`: the default for one worker.

Records sit in a dict by id; a list of sort keys, kept in order, is the index that
pages and purges read. Creates arrive in creation order, so a new key is appended;
a page or a window is two binary searches and a slice, whatever the number stored.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.store import SEQUENCE_BITS, Page, key_range, micros, sort_key

__all__ = ["PURGE_BATCH", "InMemoryStore"]

#: Records a purge drops at a time, under the lock.
PURGE_BATCH: Final = 1000

T = TypeVar("T")


class InMemoryStore:
    """Prediction records in this process, under one lock. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, PredictionRecord] = {}
        self._keys: list[int] = []  # sort keys, ascending: the index
        self._id_of: dict[int, str] = {}
        self._sequence = 0

    def add(self, record: PredictionRecord) -> None:
        """Raises: KeyError: if a record with this id is already stored."""
        with self._lock:
            if record.id in self._by_id:
                raise KeyError(f"duplicate prediction id {record.id}")
            key = sort_key(record.created_at, self._sequence)
            self._sequence += 1
            self._by_id[record.id] = record
            self._id_of[key] = record.id
            if not self._keys or key > self._keys[-1]:
                self._keys.append(key)
            else:  # created earlier than the last one stored (a thread overtaken)
                bisect.insort(self._keys, key)

    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        self.add(record)  # nothing to wait for: stored first, then computed
        return meanwhile()

    def get(self, prediction_id: str) -> PredictionRecord | None:
        return self._by_id.get(prediction_id)

    def update(
        self, prediction_id: str, change: Callable[[PredictionRecord], PredictionRecord]
    ) -> PredictionRecord | None:
        """Raises: ValueError: if ``change`` moves the record's creation time."""
        with self._lock:
            current = self._by_id.get(prediction_id)
            if current is None:
                return None
            updated = change(current)
            if updated.created_at != current.created_at or updated.id != current.id:
                raise ValueError("an update keeps a record's id and creation time")
            self._by_id[prediction_id] = updated
            return updated

    def cancel(self, prediction_id: str, now: Callable[[], float]) -> PredictionRecord | None:
        """The time is read under the lock, so no reader sees the record between the
        moment a cancel is timed and the moment it is stored."""
        return self.update(prediction_id, lambda record: lifecycle.cancel(record, now()))

    def page(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        lowest, end = key_range(
            before=before, after=after, created_after=created_after, created_before=created_before
        )
        with self._lock:
            keys = self._keys
            start = bisect.bisect_left(keys, lowest)
            stop = len(keys) if end is None else bisect.bisect_left(keys, end, lo=start)
            if limit < 1 or start >= stop:
                return Page(records=[], older=None, newer=None)
            if after is not None:  # the oldest ``limit`` above ``after``
                first, last = start, min(start + limit, stop)
            else:  # the newest ``limit`` below ``before``
                first, last = max(stop - limit, start), stop
            chosen = keys[first:last]
            records = [self._by_id[self._id_of[key]] for key in reversed(chosen)]
            window_start, window_stop = self._window(created_after, created_before)
            has_older = first > window_start
            has_newer = last < window_stop
        return Page(
            records=records,
            older=chosen[0] if has_older else None,
            newer=chosen[-1] if has_newer else None,
        )

    def _window(self, created_after: float | None, created_before: float | None) -> tuple[int, int]:
        """Index bounds of the records created in the window (the lock is held)."""
        lowest, end = key_range(
            before=None, after=None, created_after=created_after, created_before=created_before
        )
        start = bisect.bisect_left(self._keys, lowest)
        stop = len(self._keys) if end is None else bisect.bisect_left(self._keys, end)
        return start, stop

    def purge(self, created_before: float) -> int:
        """Drop the expired records :data:`PURGE_BATCH` at a time, letting other threads
        in between: a purge of many never holds up a create or a read for long."""
        end = micros(created_before) << SEQUENCE_BITS
        dropped = 0
        while True:
            with self._lock:
                batch = min(len(self._keys), PURGE_BATCH)
                cut = bisect.bisect_left(self._keys, end, hi=batch)
                for key in self._keys[:cut]:
                    del self._by_id[self._id_of.pop(key)]
                del self._keys[:cut]
            dropped += cut
            if cut < PURGE_BATCH:
                return dropped

    def clear(self) -> int:
        with self._lock:
            dropped = len(self._keys)
            self._by_id.clear()
            self._id_of.clear()
            self._keys.clear()
            return dropped
