"""The app's observer: its request journal, metrics and the watch over endings.

Built once by :func:`build` when the app is; kept in the app's
:class:`~mock_server.http.context.MockState` (:func:`~mock_server.http.context.observer`
finds it); fed by the
API's gate (:mod:`mock_server.http.gate`) as requests pass it.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis

from mock_server.config import Settings
from mock_server.domain.clock import Clock
from mock_server.domain.endings import EndingWatch
from mock_server.domain.journal import Journal, JournalEntry, MemoryJournal, Recorded
from mock_server.domain.journal_queue import BatchJournal, QueuedJournal
from mock_server.domain.store import Store
from mock_server.http.admin_metrics import Metrics
from mock_server.storage.local_peers import LocalPeers
from mock_server.storage.peers import Peers
from mock_server.storage.reachability import REDIS
from mock_server.storage.redis_journal import RedisJournal
from mock_server.storage.replicas import Replicas
from mock_server.storage.sqlite_journal import SqliteJournal

__all__ = ["Observer", "build"]

log = logging.getLogger(__name__)


class _Health:
    """Whether the journal could be written last time: a failure is logged once, and
    once more when writing works again."""

    def __init__(self) -> None:
        self._failing = threading.Event()

    def failed(self, error: Exception) -> None:
        if isinstance(error, redis.RedisError):  # one line for all of Redis, not one per user
            REDIS.failed(error)
            return
        if not self._failing.is_set():
            self._failing.set()
            log.warning(
                "the request journal cannot be written (%s: %s); requests are answered "
                "but not journaled until it can",
                type(error).__name__,
                error,
            )

    def written(self) -> None:
        if self._failing.is_set():
            self._failing.clear()
            log.warning("the request journal is written again")


@dataclass(frozen=True, slots=True)
class Observer:
    """What watches the API: the journal (None: kept off), metrics and endings."""

    journal: Journal | None
    metrics: Metrics
    endings: EndingWatch
    clock: Clock
    _health: _Health
    peers: Peers | None = None
    """The other processes sharing the journal, asked to flush theirs before a read."""
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _id_prefix: str = field(default_factory=lambda: "req_" + secrets.token_hex(5))

    def next_id(self) -> str:
        """A new entry id: this app's random part, then a count (unique in a shared
        journal, with no system call per request)."""
        return f"{self._id_prefix}{next(self._ids):010x}"

    def record(self, entry: Recorded) -> None:
        """Append to the journal; a failure is logged once, never raised."""
        if self.journal is None:
            return
        try:
            self.journal.append(entry)
        except Exception as error:
            self._health.failed(error)
            return
        if not isinstance(self.journal, QueuedJournal):  # that one reports its writes
            self._health.written()

    def flush(self) -> None:
        """Write what this process holds of the journal and the metrics (another
        process is about to read them)."""
        self.metrics.flush()
        if isinstance(self.journal, QueuedJournal):
            self.journal.flush()

    def exposition(self) -> bytes:
        """The metrics in the text format, with what every worker held a moment ago
        (asked to write it first; if they cannot be asked, Redis or the data directory
        failing, what they wrote before)."""
        if self.metrics.multiprocess and self.peers is not None:
            try:
                self.peers.flush_observed()
            except redis.RedisError as error:
                REDIS.failed(error)
            except OSError as error:
                log.warning("the other workers could not be asked for their metrics: %s", error)
        return self.metrics.exposition()

    def entries(self) -> list[JournalEntry]:
        """Every entry, oldest first, those every process held a moment ago included.

        Raises:
            redis.RedisError, sqlite3.Error: if the shared journal cannot be read.
        """
        if self.journal is None:
            return []
        self._gather()
        return self.journal.entries()

    def clear(self) -> None:
        """Empty the journal, of the entries every process held a moment ago too.

        Raises:
            redis.RedisError, sqlite3.Error: if the shared journal cannot be written.
        """
        if self.journal is None:
            return
        self._gather()
        self.journal.clear()

    def _gather(self) -> None:
        if isinstance(self.journal, QueuedJournal):
            self.journal.flush()
            if self.peers is not None:
                self.peers.flush_observed()

    def forget(self) -> None:
        """Empty the journal and stop following predictions to their end (a reset).

        Raises:
            redis.RedisError: if the journal is in Redis and Redis cannot be reached.
        """
        self.endings.clear()
        self.clear()

    def close(self) -> None:
        """Stop watching; write what this process still holds (it is stopping)."""
        self.endings.close()
        self.metrics.flush()
        if isinstance(self.journal, QueuedJournal):
            self.journal.close()


def build(
    settings: Settings, store: Store, clock: Clock, replicas: Peers | None, *, background: bool
) -> Observer:
    """The observer of an app with these settings, store, clock and replicas (or data
    directory workers): with them the journal is shared (a Redis sorted set, a SQLite
    table), each process's part written when the journal is read; otherwise it is this
    process's."""
    metrics = Metrics()
    health = _Health()
    journal: Journal | None = None
    limit = settings.journal_limit
    if limit > 0:
        shared: BatchJournal | None = None
        if isinstance(replicas, Replicas):
            shared = RedisJournal(replicas.store.client, prefix=replicas.store.prefix, limit=limit)
        elif isinstance(replicas, LocalPeers):
            shared = SqliteJournal(replicas.store.path, limit=limit)
        journal = (
            MemoryJournal(limit)
            if shared is None
            else QueuedJournal(shared, on_error=health.failed, on_written=health.written)
        )
    endings = EndingWatch(store, clock, metrics.ended_as, background=background)
    return Observer(journal, metrics, endings, clock, health, replicas)
