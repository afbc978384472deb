"""The app's observer: its request journal, metrics and the watch over endings.

Built once by :func:`build` when the app is; kept in the app's
:class:`~mock_server.http.context.MockState`; hooked into requests by
:mod:`mock_server.http.admin_observe`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import redis

from mock_server.config import Settings
from mock_server.domain.clock import Clock
from mock_server.domain.endings import EndingWatch
from mock_server.domain.journal import Journal, JournalEntry, MemoryJournal
from mock_server.domain.store import Store
from mock_server.http.admin_metrics import Metrics
from mock_server.storage.peers import Peers
from mock_server.storage.reachability import REDIS
from mock_server.storage.redis_journal import RedisJournal
from mock_server.storage.replicas import Replicas

__all__ = ["Observer", "build"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Observer:
    """What watches the API: the journal (None: kept off), metrics and endings."""

    journal: Journal | None
    metrics: Metrics
    endings: EndingWatch
    clock: Clock
    _failing: threading.Event

    def record(self, entry: JournalEntry) -> None:
        """Append to the journal; a failure is logged once, never raised."""
        if self.journal is None:
            return
        try:
            self.journal.append(entry)
        except redis.RedisError as error:  # one line for all of Redis, not one per user
            REDIS.failed(error)
            return
        except Exception as error:
            if not self._failing.is_set():
                self._failing.set()
                log.warning(
                    "the request journal cannot be written (%s: %s); requests are answered "
                    "but not journaled until it can",
                    type(error).__name__,
                    error,
                )
            return
        if self._failing.is_set():
            self._failing.clear()
            log.warning("the request journal is written again")

    def close(self) -> None:
        self.endings.close()


def build(
    settings: Settings, store: Store, clock: Clock, replicas: Peers | None, *, background: bool
) -> Observer:
    """The observer of an app with these settings, store, clock and replicas."""
    metrics = Metrics()
    journal: Journal | None = None
    if settings.journal_limit > 0:
        journal = (
            RedisJournal(
                replicas.store.client, prefix=replicas.store.prefix, limit=settings.journal_limit
            )
            if isinstance(replicas, Replicas)
            else MemoryJournal(settings.journal_limit)
        )
    endings = EndingWatch(store, clock, metrics.ended_as, background=background)
    return Observer(journal, metrics, endings, clock, threading.Event())
