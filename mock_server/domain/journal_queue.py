"""A shared request journal written when it is read, not on every request.

Writing each entry to a shared store (a Redis sorted set, a SQLite table) costs, per
request, making the masked entry, its JSON and the write: on two busy cores that
was about a third of what the server could answer. :class:`QueuedJournal` instead keeps
what arrives in this process (bounded by the journal's limit, the oldest dropped first,
as the store would drop them) and writes it in one batch (:meth:`BatchJournal.append_many`:
one pipeline, one transaction) only when it is needed: when someone reads or clears the
journal, and when the worker stops.

The guarantee a test relies on (an answered request is in the journal) is kept by the
reader: a read of a journal shared by several processes first asks each of them to
flush (an acknowledged announcement, see :mod:`mock_server.http.admin_observer`), and
:meth:`QueuedJournal.flush` returns once everything appended before it is written.
What a worker held is lost only if it is killed outright (SIGKILL).

A batch that cannot be written is kept for the next flush (the newest, up to the
limit) and its error handed to ``on_error`` (the caller logs it once); a request is
never failed by it. The store trims by arrival time, so batches
written out of order (each process flushes when asked) keep the newest entries.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from mock_server.domain.journal import JournalEntry, Recorded

__all__ = ["CHUNK", "BatchJournal", "QueuedJournal"]

#: Most entries written in one pipeline or transaction (a part can hold the whole limit).
CHUNK = 500


class BatchJournal(Protocol):
    """A journal kept in a store that takes several entries in one write."""

    limit: int

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Keep ``entries`` as the newest, in this order, in one write."""
        ...

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, in the order written."""
        ...

    def clear(self) -> None: ...

    def ping(self) -> None: ...

    def close(self) -> None:
        """Let go of what the store holds for this journal alone."""
        ...


class QueuedJournal:
    """A :class:`~mock_server.domain.journal.Journal` whose appends wait here and are
    written to ``store`` by :meth:`flush` (which a read, a clear and :meth:`close` call)."""

    def __init__(
        self,
        store: BatchJournal,
        *,
        on_error: Callable[[Exception], None],
        on_written: Callable[[], None],
    ) -> None:
        self.limit = store.limit
        self._store = store
        self._on_error = on_error
        self._on_written = on_written
        self._waiting: deque[Recorded] = deque(maxlen=max(store.limit, 1))
        self._ready = threading.Lock()  # guards what waits
        self._writing = threading.Lock()  # held from taking a batch until it is written

    def append(self, entry: Recorded) -> None:
        """Keep ``entry`` here until the next flush (made a :class:`JournalEntry` then);
        never raises, never waits for the store."""
        with self._ready:
            self._waiting.append(entry)

    def flush(self) -> None:
        """Return once every entry appended before this call is written (or dropped as
        unwritable)."""
        self._write_waiting()

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, oldest first (by arrival: processes write their batches
        when asked, so the store's order of writing is not the arrival order).

        Raises:
            what the store raises if it cannot be read.
        """
        self.flush()
        return sorted(self._store.entries(), key=lambda entry: entry.at)

    def clear(self) -> None:
        """Drop every entry, those waiting here included.

        Raises:
            what the store raises if it cannot be written.
        """
        with self._writing:
            with self._ready:
                self._waiting.clear()
            self._store.clear()

    def ping(self) -> None:
        self._store.ping()

    def close(self) -> None:
        """Write what waits and close the store."""
        self._write_waiting()
        self._store.close()

    def _write_waiting(self) -> None:
        with self._writing:
            with self._ready:
                batch = list(self._waiting)
                self._waiting.clear()
            for start in range(0, len(batch), CHUNK):
                try:
                    self._store.append_many([item.entry() for item in batch[start : start + CHUNK]])
                except Exception as error:  # kept for the next flush; the caller logs it once
                    with self._ready:  # the newest kept if that passes the limit
                        unwritten = batch[start:] + list(self._waiting)
                        self._waiting = deque(unwritten, maxlen=self._waiting.maxlen)
                    self._on_error(error)
                    return
            if batch:
                self._on_written()
