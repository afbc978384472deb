"""The store interface: where predictions live. The service sees only :class:`Store`;
the implementations are in :mod:`mock_server.storage`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from mock_server.domain.lifecycle import PredictionRecord

__all__ = ["Page", "Store"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, newest first, with positions of its neighbours."""

    records: list[PredictionRecord]
    """The page, newest first."""
    older: int | None
    """Position to continue from for older records, or None if there are none."""
    newer: int | None
    """Position to continue from for newer records, or None if there are none."""


class Store(Protocol):
    """Storage of prediction records. Implementations must be thread-safe."""

    def add(self, record: PredictionRecord) -> None:
        """Store a new record."""
        ...

    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        """Store a new record as :meth:`add` does, computing ``meanwhile()`` while the
        write is under way; its result is returned only once the record is stored."""
        ...

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The record with this id, or None."""
        ...

    def update(
        self, prediction_id: str, change: Callable[[PredictionRecord], PredictionRecord]
    ) -> PredictionRecord | None:
        """Atomically replace a record by ``change(record)``; None if there is no such id."""
        ...

    def page(
        self,
        *,
        limit: int,
        before: int | None = None,
        after: int | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> Page:
        """Up to ``limit`` records newest first, older than position ``before`` or
        newer than position ``after``, created in ``[created_after, created_before)``."""
        ...

    def purge(self, created_before: float) -> int:
        """Drop records created before ``created_before``; return how many went."""
        ...

    def clear(self) -> int:
        """Drop every record; return how many went. Positions handed out stay unused."""
        ...
