"""The request journal in Redis: one capped list that every replica appends to.

Each entry is its JSON (:class:`~mock_server.domain.journal.JournalEntry`) pushed on the
right of ``<prefix>journal``, and the list is trimmed to the newest ``limit`` in the same
round trip, so the journal of several workers or hosts is one. The mock writes it in
batches off the request path (:class:`~mock_server.domain.journal_queue.QueuedJournal`):
one pipeline per batch. It uses the store's connection pool (:attr:`RedisStore.client`):
no connection of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import redis

from mock_server.domain.journal import JournalEntry

__all__ = ["RedisJournal"]

log = logging.getLogger(__name__)

#: The key of the list, after the store's prefix.
KEY: Final = "journal"


class RedisJournal:
    """A :class:`~mock_server.domain.journal.Journal` kept in a Redis list."""

    def __init__(self, client: redis.Redis, *, prefix: str, limit: int) -> None:
        self.limit = limit
        self._client = client
        self._key = prefix + KEY

    def append(self, entry: JournalEntry) -> None:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        self.append_many((entry,))

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Push ``entries`` and trim the list, in one round trip.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        if not entries:
            return
        with self._client.pipeline(transaction=False) as pipe:
            pipe.rpush(self._key, *(entry.to_json() for entry in entries))
            pipe.ltrim(self._key, -self.limit, -1)
            pipe.execute()

    def entries(self) -> list[JournalEntry]:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        found: list[JournalEntry] = []
        raw_entries: list[bytes | str] = self._client.lrange(self._key, 0, -1)
        for raw in raw_entries:
            try:
                found.append(JournalEntry.from_json(raw))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a journal entry that does not parse in %s", self._key)
        return found

    def clear(self) -> None:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        self._client.delete(self._key)

    def ping(self) -> None:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        self._client.ping()

    def close(self) -> None:
        """Nothing to do: the connections are the store's."""
