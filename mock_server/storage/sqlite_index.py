"""Reading a page off the SQLite store's time index: one ranged read, whatever its size.

A row's sort key (:func:`~mock_server.domain.store.sort_key`) is ``(micros, seq)``: the
index on ``micros`` ends in the rowid ``seq``, so a page, a creation-time window and a
cursor are all ranges of it, read in order with a ``LIMIT``, and whether more lies
beyond the page is one probe each side.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Final

from mock_server.domain.store import SEQUENCE_BITS, Page, key_range
from mock_server.storage.encoding import decode

__all__ = ["read_page"]

_MASK: Final = (1 << SEQUENCE_BITS) - 1


def _split(key: int) -> tuple[int, int]:
    """``(micros, seq)`` of a sort key (rowids start at 1, insertion numbers at 0)."""
    return key >> SEQUENCE_BITS, (key & _MASK) + 1


def _key(row_micros: int, seq: int) -> int:
    """The sort key of a row."""
    return (row_micros << SEQUENCE_BITS) | ((seq - 1) & _MASK)


def read_page(
    connection_for: Callable[[], AbstractContextManager[sqlite3.Connection]],
    *,
    limit: int,
    before: int | None,
    after: int | None,
    created_after: float | None,
    created_before: float | None,
) -> Page:
    """A page of the ``predictions`` table as
    :meth:`~mock_server.domain.store.Store.page` says, in one read transaction on a
    connection from ``connection_for`` (none is taken for a page that must be empty):
    one ranged read of the time index, then one probe each side of the page."""
    lowest, end = key_range(
        before=before, after=after, created_after=created_after, created_before=created_before
    )
    if limit < 1 or (end is not None and end <= lowest):
        return Page(records=[], older=None, newer=None)
    where, args = _range(lowest, end)
    order = "ASC" if after is not None else "DESC"
    window_low, window_end = key_range(
        before=None, after=None, created_after=created_after, created_before=created_before
    )
    with connection_for() as connection:
        connection.execute("BEGIN")  # one snapshot for the page and its probes
        try:
            query = (
                f"SELECT micros, seq, record FROM predictions WHERE {where}"  # noqa: S608
                f" ORDER BY micros {order}, seq {order} LIMIT ?"  # fixed fragments only
            )
            rows = connection.execute(query, (*args, limit)).fetchall()
            if not rows:
                return Page(records=[], older=None, newer=None)
            if after is not None:
                rows.reverse()  # newest first
            newest, oldest = _key(rows[0][0], rows[0][1]), _key(rows[-1][0], rows[-1][1])
            has_older = _exists(connection, window_low, oldest)
            has_newer = _exists(connection, newest + 1, window_end)
        finally:
            connection.execute("COMMIT")
    return Page(
        records=[decode(row[2]) for row in rows],
        older=oldest if has_older else None,
        newer=newest if has_newer else None,
    )


def _range(lowest: int, end: int | None) -> tuple[str, tuple[int, ...]]:
    """A WHERE clause for sort keys in ``[lowest, end)``, and its arguments."""
    if end is None:
        return "(micros, seq) >= (?, ?)", _split(lowest)
    return "(micros, seq) >= (?, ?) AND (micros, seq) < (?, ?)", (*_split(lowest), *_split(end))


def _exists(connection: sqlite3.Connection, lowest: int, end: int | None) -> bool:
    """Whether a record has a sort key in ``[lowest, end)``."""
    if end is not None and end <= lowest:
        return False
    where, args = _range(lowest, end)
    query = f"SELECT 1 FROM predictions WHERE {where} LIMIT 1"  # noqa: S608 (values are bound)
    return connection.execute(query, args).fetchone() is not None
