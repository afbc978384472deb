"""A shared request journal written off the request path, in batches.

Writing each entry to a shared store (a Redis list, a SQLite table) before the answer
leaves costs a round trip per request. :class:`QueuedJournal` instead keeps the entry
in this process and returns; one writer thread takes everything waiting and writes it
in one batch (:meth:`BatchJournal.append_many`: one pipeline, one transaction), at once
and without waiting for more, so under load the batches grow by themselves while each
write is under way.

The guarantee a test relies on (an answered request is in the journal) is kept by the
reader: :meth:`QueuedJournal.flush` returns once everything appended before the call
is written, and a read of a journal shared by several processes first asks each of them
to flush (an acknowledged announcement, see :mod:`mock_server.http.admin_observer`).

A batch that cannot be written is dropped and handed to ``on_error`` (the caller logs
it once); a request is never failed by it. What waits is bounded by the journal's limit,
the oldest dropped first, as the store would drop them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from mock_server.domain.journal import JournalEntry, Recorded

__all__ = ["BatchJournal", "QueuedJournal"]


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
    """A :class:`~mock_server.domain.journal.Journal` whose appends are queued here and
    written to ``store`` by a writer thread (``background``) or by :meth:`flush`."""

    def __init__(
        self,
        store: BatchJournal,
        *,
        on_error: Callable[[Exception], None],
        on_written: Callable[[], None],
        background: bool = True,
    ) -> None:
        self.limit = store.limit
        self._store = store
        self._on_error = on_error
        self._on_written = on_written
        self._waiting: deque[Recorded] = deque(maxlen=max(store.limit, 1))
        self._ready = threading.Condition()
        self._writing = threading.Lock()  # held from taking a batch until it is written
        self._closed = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._run, name="imagen-mock-journal", daemon=True
            )
            self._thread.start()

    def append(self, entry: Recorded) -> None:
        """Queue ``entry`` (made a :class:`JournalEntry` by the writer); never raises,
        never waits for the store."""
        with self._ready:
            self._waiting.append(entry)
            if len(self._waiting) == 1:  # the writer sleeps only on an empty queue
                self._ready.notify()

    def flush(self) -> None:
        """Return once every entry appended before this call is written (or dropped as
        unwritable)."""
        self._write_waiting()

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, oldest first (by arrival: processes write their batches in
        their own time, so the store's order is not quite the arrival order).

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
        """Write what waits, stop the writer thread and close the store."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        self._write_waiting()
        self._store.close()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
            self._write_waiting()

    def _write_waiting(self) -> None:
        with self._writing:
            with self._ready:
                batch = list(self._waiting)
                self._waiting.clear()
            if not batch:
                return
            try:
                self._store.append_many([item.entry() for item in batch])
            except Exception as error:  # dropped; the caller tells the log once
                self._on_error(error)
                return
            self._on_written()
