"""The store interface: where predictions live. The service sees only :class:`Store`;
the implementations are in :mod:`mock_server.storage`.

Records are listed in one order: by creation time, then by insertion. Each record
gets a *sort key* when it is stored, an integer made of its creation time in whole
microseconds and its insertion number (:func:`sort_key`); pages and cursors speak in
sort keys, and a creation-time window is a range of them (:func:`key_range`). Every
store keeps an index ordered by sort key, so a page costs the same with a hundred
records stored or a hundred thousand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from mock_server.domain.lifecycle import PredictionRecord

__all__ = ["SEQUENCE_BITS", "LocalCopies", "Page", "Store", "key_range", "micros", "sort_key"]

T = TypeVar("T")

#: Bits of a sort key that hold the insertion number (below the creation time).
SEQUENCE_BITS: Final = 40
_SEQUENCE_MASK: Final = (1 << SEQUENCE_BITS) - 1


def micros(seconds: float) -> int:
    """Seconds since the epoch as whole microseconds (never below zero): the precision to
    which creation times are ordered and windows are judged."""
    return max(round(seconds * 1_000_000), 0)


def sort_key(created_at: float, sequence: int) -> int:
    """The sort key of the record created at ``created_at`` and stored ``sequence``-th."""
    return (micros(created_at) << SEQUENCE_BITS) | (sequence & _SEQUENCE_MASK)


def key_range(
    *,
    before: int | None,
    after: int | None,
    created_after: float | None,
    created_before: float | None,
) -> tuple[int, int | None]:
    """The sort keys a page may take, as ``(lowest, end)``: ``lowest`` included, ``end``
    excluded (None: no end). ``after`` wins over ``before`` when both are given."""
    lowest = 0 if created_after is None else micros(created_after) << SEQUENCE_BITS
    end = None if created_before is None else micros(created_before) << SEQUENCE_BITS
    if after is not None:
        lowest = max(lowest, after + 1)
    elif before is not None:
        end = before if end is None else min(end, before)
    return lowest, end


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, newest first, with the sort keys to go on from."""

    records: list[PredictionRecord]
    """The page, newest first."""
    older: int | None
    """Sort key to continue from for older records, or None if there are none."""
    newer: int | None
    """Sort key to continue from for newer records, or None if there are none."""


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
        """Atomically replace a record by ``change(record)``, which keeps its id and
        creation time (so its place in the order); None if there is no such id."""
        ...

    def cancel(self, prediction_id: str, now: Callable[[], float]) -> PredictionRecord | None:
        """Atomically cancel the prediction as :func:`~mock_server.domain.lifecycle.cancel`
        does (an ended one is left as it is) and return the record as it then stands;
        None if there is no such id.

        The cancel time is read inside the atomic step, ``now()`` or a shared store's
        own clock, never before it: a reader takes its time before it reads, so a
        reader that saw the record as it stood before the cancel saw it at a time no
        later than the cancel's, and a prediction it showed ended stays ended.
        """
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
        """Up to ``limit`` records newest first, with sort keys below ``before`` or above
        ``after`` (``after`` wins if both are given), created in
        ``[created_after, created_before)``; a ``limit`` below 1 gives an empty page."""
        ...

    def purge(self, created_before: float) -> int:
        """Drop records created before ``created_before``; return how many went."""
        ...

    def clear(self) -> int:
        """Drop every record; return how many went. Insertion numbers handed out stay
        unused."""
        ...


class LocalCopies(Protocol):
    """A store that keeps local copies of some records (a shared store's cache of ended
    ones): a server may answer a read of those without waiting on the store."""

    def holds(self, prediction_id: str) -> bool:
        """Whether a read of this id would be answered from a local copy."""
        ...
