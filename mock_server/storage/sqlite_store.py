"""A :class:`~mock_server.domain.store.Store` in an SQLite file: predictions that outlive
the process, shared by the worker processes of one server on one host.

The file is ``predictions.sqlite3`` in the data directory, in WAL mode (readers never
wait for the writer; a commit is a write to the log, no ``fsync``: a killed process
loses nothing it committed, only the machine losing power could), and readable with
``sqlite3`` itself::

    predictions(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, micros, record)
    state(key TEXT PRIMARY KEY, value)

``seq`` is the insertion number (AUTOINCREMENT never hands one out twice, even after
a reset); ``micros`` the creation time in microseconds, indexed, so that the sort key
of :func:`~mock_server.domain.store.sort_key` is ``(micros, seq)``: the index on
``micros`` ends in the rowid, and pages (:mod:`~mock_server.storage.sqlite_index`),
windows and purges are ranges of it, whatever the number stored. ``record`` is the
compact JSON of :mod:`~mock_server.storage.encoding`. ``state`` holds the webhook
signing secret and the clock offset.

Every write is one transaction committed before the method returns, so a response is
sent only for what is on disk. A cancel reads the record, the time and the stored clock
offset inside one ``BEGIN IMMEDIATE`` transaction (no other process writes meanwhile):
the cancel time is the wall clock plus the offset stored then, never earlier than any
reader's time taken before it read, so what any worker showed ended stays ended.
Purges delete in batches and give the freed pages back to the file system
(``auto_vacuum = INCREMENTAL``), so the file's size follows what retention keeps.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

from mock_server.domain import lifecycle
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.store import Page, micros
from mock_server.storage.encoding import decode, encode
from mock_server.storage.record_cache import RecordCache
from mock_server.storage.sqlite_files import DATABASE_NAME, connect
from mock_server.storage.sqlite_index import read_page

__all__ = ["DATABASE_NAME", "PURGE_BATCH", "SqliteStore"]

#: Records a purge deletes per transaction.
PURGE_BATCH: Final = 1000

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS predictions (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE, micros INTEGER NOT NULL, record BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions (micros)",
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_SECRET: Final = "webhook-secret"  # noqa: S105 (the key, not the secret)
_OFFSET: Final = "clock-offset"

T = TypeVar("T")


class SqliteStore:
    """Prediction records in ``<directory>/predictions.sqlite3``. Thread-safe, and safe
    for several processes on the same directory.

    Each thread takes a connection from a small pool for the length of one call. Ended
    records are kept in a local cache (:class:`RecordCache`); :meth:`forget` and
    :meth:`forget_all` drop what another process changed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        clock: Clock,
        server_time: bool = False,
        cache_size: int = 4096,
    ) -> None:
        """Open (creating if need be) the database in ``directory``.

        With ``server_time`` (the real clock plus an offset) a cancel is timed by the
        wall clock plus the offset stored in the database, read in the cancel's own
        transaction; else by ``clock``.

        Raises:
            OSError: if the directory cannot be created or written.
            sqlite3.Error: if the file is not a database this store can use.
        """
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / DATABASE_NAME
        self._clock = clock
        self._server_time = server_time
        self._cache = RecordCache(cache_size)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        with (directory / "schema.lock").open("a") as guard:  # one process sets it up at a time
            fcntl.flock(guard, fcntl.LOCK_EX)
            connection = self._open()
            connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table
            connection.execute("PRAGMA journal_mode = WAL")
            for statement in _SCHEMA:
                connection.execute(statement)
        self._idle.append(connection)

    def _open(self) -> sqlite3.Connection:
        return connect(self.path)

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _give(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        connection = self._take()
        try:
            yield connection
        finally:
            self._give(connection)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A connection in a ``BEGIN IMMEDIATE`` transaction, committed at the end (rolled
        back if the block raises)."""
        with self._connection() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def ping(self) -> None:
        """Return once the file answers a read.

        Raises:
            sqlite3.Error: if it does not.
        """
        with self._connection() as connection:
            connection.execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close the pooled connections (those in use close when given back)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # -- records -----------------------------------------------------------------------

    def add(self, record: PredictionRecord) -> None:
        """Store a new record (committed on return).

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
        """
        raw = encode(record)
        with self._connection() as connection:
            try:
                connection.execute(
                    "INSERT INTO predictions (id, micros, record) VALUES (?, ?, ?)",
                    (record.id, micros(record.created_at), raw),
                )
            except sqlite3.IntegrityError:
                raise KeyError(f"duplicate prediction id {record.id}") from None

    def add_while(self, record: PredictionRecord, meanwhile: Callable[[], T]) -> T:
        self.add(record)  # a local write: stored first, then computed
        return meanwhile()

    def holds(self, prediction_id: str) -> bool:
        """Whether :meth:`get` of this id would answer from the local cache, without the file."""
        return self._cache.holds(prediction_id)

    def get(self, prediction_id: str) -> PredictionRecord | None:
        cached = self._cache.get(prediction_id)
        if cached is not None:
            return cached
        generation = self._cache.generation
        read_at = self._clock.now()  # before the read: see RecordCache.remember
        connection = self._take()
        try:
            row = connection.execute(
                "SELECT record FROM predictions WHERE id = ?", (prediction_id,)
            ).fetchone()
        finally:
            self._give(connection)
        if row is None:
            return None
        record = decode(row[0])
        self._cache.remember(record, generation, read_at)
        return record

    def update(
        self, prediction_id: str, change: Callable[[PredictionRecord], PredictionRecord]
    ) -> PredictionRecord | None:
        """Raises: ValueError: if ``change`` moves the record's id or creation time."""
        with self._writing() as connection:
            updated = self._change(connection, prediction_id, change)
        self._cache.forget([prediction_id])
        return updated

    def cancel(self, prediction_id: str, now: Callable[[], float]) -> PredictionRecord | None:
        """The time is read inside the write transaction (see the module's notes)."""
        with self._writing() as connection:

            def timed(record: PredictionRecord) -> PredictionRecord:
                at = now()
                if self._server_time:
                    at = max(at, time.time() + _offset(connection))
                return lifecycle.cancel(record, at)

            canceled = self._change(connection, prediction_id, timed)
        self._cache.forget([prediction_id])
        return canceled

    @staticmethod
    def _change(
        connection: sqlite3.Connection,
        prediction_id: str,
        change: Callable[[PredictionRecord], PredictionRecord],
    ) -> PredictionRecord | None:
        row = connection.execute(
            "SELECT record FROM predictions WHERE id = ?", (prediction_id,)
        ).fetchone()
        if row is None:
            return None
        current = decode(row[0])
        updated = change(current)
        if updated.created_at != current.created_at or updated.id != current.id:
            raise ValueError("an update keeps a record's id and creation time")
        if updated != current:
            connection.execute(
                "UPDATE predictions SET record = ? WHERE id = ?", (encode(updated), prediction_id)
            )
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
        """As :meth:`~mock_server.domain.store.Store.page` says, in one read transaction
        (:func:`~mock_server.storage.sqlite_index.read_page`)."""
        return read_page(
            self._connection,
            limit=limit,
            before=before,
            after=after,
            created_after=created_after,
            created_before=created_before,
        )

    def purge(self, created_before: float) -> int:
        """Drop the expired records :data:`PURGE_BATCH` per transaction, then give the
        freed pages back to the file system."""
        cut = micros(created_before)
        dropped = 0
        while True:
            with self._connection() as connection:
                ids = connection.execute(
                    "DELETE FROM predictions WHERE seq IN (SELECT seq FROM predictions"
                    " WHERE micros < ? ORDER BY micros LIMIT ?) RETURNING id",
                    (cut, PURGE_BATCH),
                ).fetchall()
            count = len(ids)
            self._cache.forget(row[0] for row in ids)  # no local copy outlives its row
            dropped += count
            if count < PURGE_BATCH:
                break
        if dropped:
            self._vacuum()
        return dropped

    def clear(self) -> int:
        with self._connection() as connection:
            dropped = connection.execute("DELETE FROM predictions").rowcount
        self._cache.forget_all()
        self._vacuum()
        return dropped

    def count(self) -> int:
        """How many records are stored."""
        with self._connection() as connection:
            return int(connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def _vacuum(self) -> None:
        with self._connection() as connection:
            # executescript steps the pragma to its end (execute frees one page per call)
            connection.executescript("PRAGMA incremental_vacuum;")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def forget(self, prediction_id: str) -> None:
        """Drop this record from the local cache (another process changed it)."""
        self._cache.forget([prediction_id])

    def forget_all(self) -> None:
        """Empty the local cache (another process dropped records)."""
        self._cache.forget_all()

    # -- what the workers share besides records ------------------------------------------

    def share_secret(self, candidate: str, *, pin: bool = False) -> str:
        """The stored webhook signing secret; ``candidate`` is stored first if none is
        (with ``pin``, in any case)."""
        with self._writing() as connection:
            if pin:
                connection.execute(
                    "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (_SECRET, candidate)
                )
            else:
                connection.execute(
                    "INSERT OR IGNORE INTO state (key, value) VALUES (?, ?)", (_SECRET, candidate)
                )
            row = connection.execute("SELECT value FROM state WHERE key = ?", (_SECRET,)).fetchone()
        return str(row[0])

    def clock_offset(self) -> float:
        """How far the mock clock has been moved in total (0 if never)."""
        with self._connection() as connection:
            return _offset(connection)

    def advance_offset(self, seconds: float, check: Callable[[float], None]) -> float:
        """Add ``seconds`` to the stored clock offset, after ``check(offset)`` passes;
        return the new total.

        Raises:
            ValueError: whatever ``check`` raises (nothing is then stored).
        """
        with self._writing() as connection:
            offset = _offset(connection)
            check(offset)
            total = offset + seconds
            connection.execute(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (_OFFSET, repr(total))
            )
        return total


def _offset(connection: sqlite3.Connection) -> float:
    row = connection.execute("SELECT value FROM state WHERE key = ?", (_OFFSET,)).fetchone()
    return 0.0 if row is None else float(row[0])
