"""The request journal in Redis: one capped sorted set that every replica adds to.

Each entry is its JSON (:class:`~mock_server.domain.journal.JournalEntry`, unique by its
id) in the sorted set ``<prefix>requests``, scored by its arrival time; the set is
trimmed to the ``limit`` that arrived last in the same round trip, so the journal of
several workers or hosts is one. Each replica writes its batch when the journal is read
(:class:`~mock_server.domain.journal_queue.QueuedJournal`): one pipeline per batch, in
any order, which the scores put right. It uses the store's connection pool
(:attr:`RedisStore.client`): no connection of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, cast

import redis

from mock_server.domain.journal import JournalEntry

__all__ = ["RedisJournal"]

log = logging.getLogger(__name__)

#: The key of the sorted set, after the store's prefix.
KEY: Final = "requests"


class RedisJournal:
    """A :class:`~mock_server.domain.journal.Journal` kept in a Redis sorted set."""

    def __init__(self, client: redis.Redis, *, prefix: str, limit: int) -> None:
        self.limit = limit
        self._client = client
        self._key = prefix + KEY

    def append(self, entry: JournalEntry) -> None:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        self.append_many((entry,))

    def append_many(self, entries: Sequence[JournalEntry]) -> None:
        """Add ``entries`` and trim the set, in one round trip.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        if not entries:
            return
        with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._key, {entry.to_json(): entry.at for entry in entries})
            pipe.zremrangebyrank(self._key, 0, -self.limit - 1)
            pipe.execute()

    def entries(self) -> list[JournalEntry]:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        found: list[JournalEntry] = []
        raw_entries = cast("list[bytes | str]", self._client.zrange(self._key, 0, -1))
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
