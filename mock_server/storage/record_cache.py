"""The Redis store's local copies of ended records.

A record that has ended can never change again (a cancel leaves an ended prediction as
it is, see :mod:`mock_server.storage.redis_scripts`, and clocks only move forward), so
a replica may keep it instead of reading it from Redis on every poll. "Ended" is
judged at a time taken *before* the record was read: a record read before a cancel
reached Redis is then never taken for ended unless the cancel was too late to change it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import PredictionRecord

__all__ = ["RecordCache"]


class RecordCache:
    """At most ``size`` ended records, least recently used dropped first. Thread-safe."""

    def __init__(self, size: int) -> None:
        """Raises: ValueError: if ``size`` is negative."""
        if size < 0:
            raise ValueError("cache_size must not be negative")
        self._size = size
        self._records: OrderedDict[str, PredictionRecord] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget, so a slow read cannot re-cache

    @property
    def generation(self) -> int:
        """Take it before reading from Redis, and hand it to :meth:`remember`."""
        return self._generation

    def holds(self, prediction_id: str) -> bool:
        """Whether the record of ``prediction_id`` is kept (a read without locking: a
        record forgotten a moment later is read again, at worst from its store)."""
        return prediction_id in self._records

    def get(self, prediction_id: str) -> PredictionRecord | None:
        with self._lock:
            cached = self._records.get(prediction_id)
            if cached is not None:
                self._records.move_to_end(prediction_id)
            return cached

    def get_many(self, ids: Iterable[str]) -> tuple[list[PredictionRecord | None], int]:
        """The cached records of ``ids`` (None where not cached), and the generation."""
        with self._lock:
            return [self._records.get(pid) for pid in ids], self._generation

    def remember(self, record: PredictionRecord, generation: int, read_at: float) -> None:
        """Keep ``record`` if it had ended at ``read_at`` (a clock time taken before it
        was read) and nothing was forgotten since ``generation`` was taken."""
        if self._size == 0 or lifecycle.ends_at(record) > read_at:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._records[record.id] = record
            self._records.move_to_end(record.id)
            while len(self._records) > self._size:
                self._records.popitem(last=False)

    def forget(self, ids: Iterable[str]) -> None:
        with self._lock:
            self._generation += 1
            for prediction_id in ids:
                self._records.pop(prediction_id, None)

    def forget_all(self) -> None:
        with self._lock:
            self._generation += 1
            self._records.clear()
