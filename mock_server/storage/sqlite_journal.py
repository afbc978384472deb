"""The request journal in the data directory's database (``--data-dir``): one journal
for all the workers of a server, kept across restarts.

Table (readable with ``sqlite3``)::

    request_journal(seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, doc TEXT)

``doc`` is the :class:`~mock_server.domain.journal.JournalEntry` as JSON, ``at`` its
arrival time (mock clock, indexed). Each batch is one ``BEGIN IMMEDIATE`` transaction
that inserts the entries and deletes all but the ``limit`` that arrived last, so the
table never holds more than the limit. Each worker writes its batch when the journal is
read (:class:`~mock_server.domain.journal_queue.QueuedJournal`): batches come in any
order, so the order of rows is by ``at``, not by ``seq``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from mock_server.domain.journal import JournalEntry
from mock_server.storage.sqlite_files import connect

__all__ = ["SqliteJournal"]

log = logging.getLogger(__name__)

TABLE: Final = "request_journal"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS request_journal (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at REAL NOT NULL, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS request_journal_at ON request_journal (at, seq)",
)


class SqliteJournal:
    """A request journal (:class:`~mock_server.domain.journal_queue.BatchJournal`) in
    the database at ``path``. Thread-safe, and safe for several processes on one file."""

    def __init__(self, path: Path, *, limit: int) -> None:
        """Raises: sqlite3.Error: if the file is not a database this journal can use."""
        self.limit = limit
        self._db = connect(path)
        self._lock = threading.Lock()
        try:
            for statement in _SCHEMA:
                self._db.execute(statement)
        except BaseException:
            self._db.close()
            raise

    def append(self, entry: JournalEntry) -> None:
        """Raises: sqlite3.Error: if the database cannot be written."""
        self.append_many((entry,))

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Insert ``entries`` and drop what passes the limit, in one transaction.

        Raises:
            sqlite3.Error: if the database cannot be written.
        """
        if not entries:
            return
        rows = [(entry.at, entry.to_json()) for entry in entries]
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT INTO request_journal (at, doc) VALUES (?, ?)", rows)
                db.execute(
                    "DELETE FROM request_journal WHERE seq IN (SELECT seq FROM request_journal"
                    " ORDER BY at DESC, seq DESC LIMIT -1 OFFSET ?)",
                    (self.limit,),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, oldest first.

        Raises:
            sqlite3.Error: if the database cannot be read.
        """
        with self._lock:
            rows = self._db.execute("SELECT doc FROM request_journal ORDER BY at, seq").fetchall()
        found: list[JournalEntry] = []
        for (doc,) in rows:
            try:
                found.append(JournalEntry.from_json(doc))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a journal entry that does not parse in %s", TABLE)
        return found

    def clear(self) -> None:
        """Raises: sqlite3.Error: if the database cannot be written."""
        with self._lock:
            self._db.execute("DELETE FROM request_journal")

    def ping(self) -> None:
        """Raises: sqlite3.Error: if the database does not answer."""
        with self._lock:
            self._db.execute("SELECT 1 FROM request_journal LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
