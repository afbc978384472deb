"""How a Redis store sends its creates: the add script (:class:`CreateWriter`), on the
connection the store keeps for them out of the pool, with the deadline each carries.

A worker's creates mostly come from one thread; sending each on the same connection
skips the pool's bookkeeping (about 15-40 µs a create). Another thread that writes at
the same moment takes a pooled connection instead of waiting.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

import redis
from redis.connection import Connection, ConnectionPool
from redis.exceptions import NoScriptError

from mock_server.domain.lifecycle import PredictionRecord
from mock_server.storage import redis_scripts as scripts
from mock_server.storage.encoding import encode, time_digits
from mock_server.storage.reachability import REDIS

__all__ = ["CreateDeadline", "CreateWriter", "WriteConnection"]

T = TypeVar("T")


class CreateWriter:
    """The creates of one Redis store: the add script, sent on a :class:`WriteConnection`
    with a :class:`CreateDeadline`. Thread-safe."""

    def __init__(
        self, client: redis.Redis, key: Callable[[str], str], seq: str, index: str
    ) -> None:
        """Write records under ``key(id)``, numbered by ``seq``, listed in ``index``."""
        self._key = key
        self._seq = seq
        self._index = index
        self.script = client.register_script(scripts.ADD)
        """The add script (see :mod:`~mock_server.storage.redis_scripts`)."""
        self.writes = WriteConnection(client.connection_pool)
        """The connection kept for :meth:`add_while`."""
        self._deadlines = CreateDeadline(client)

    def add(self, record: PredictionRecord) -> None:
        """Store a new record at the next position, with the client's retries.

        Raises:
            KeyError: if a record with this id is already stored.
            TypeError: if the record holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached or refuses.
        """
        keys, args = self.arguments(record)
        scripts.check_added(self.script(keys=keys, args=args), record.id)
        REDIS.answered()

    def add_while(
        self,
        record: PredictionRecord,
        meanwhile: Callable[[], T],
        add: Callable[[PredictionRecord], None],
    ) -> T:
        """Store a new record, computing ``meanwhile()`` during the round trip: the
        script is sent on the kept connection, ``meanwhile()`` runs, and only then is
        Redis's answer read. A command that could not be sent is made by ``add`` (the
        store's own, with the client's retries) instead; one that was sent is not
        retried. It raises what
        :meth:`~mock_server.storage.redis_store.RedisStore.add_while` lists.
        """
        keys, args = self.arguments(record)
        connection = self.writes.take()
        try:
            connection.send_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self.script.sha, len(keys), *keys, *args
            )
        except (redis.ConnectionError, redis.TimeoutError):  # not sent; it was disconnected
            self.writes.give_back(connection)
            add(record)
            return meanwhile()
        except BaseException:  # refused on (re)connecting, or interrupted: unusable
            connection.disconnect()  # type: ignore[no-untyped-call]
            self.writes.give_back(connection)
            raise
        position: object = None
        try:
            result = meanwhile()
            with suppress(NoScriptError):  # Redis lost its scripts (restart, flush): none ran
                position = connection.read_response()
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]  # its answer may yet come
            raise
        finally:
            self.writes.give_back(connection)
        if position is None:
            position = self.script(keys=keys, args=args)  # loads the script again
        scripts.check_added(position, record.id)
        REDIS.answered()
        return result

    def arguments(self, record: PredictionRecord) -> tuple[list[str], list[bytes | str]]:
        """The keys and arguments of the add script for ``record``.

        Raises:
            TypeError: if the record holds a value JSON cannot carry.
        """
        keys = [self._key(record.id), self._seq, self._index]
        created = time_digits(record.created_at)
        deadline, raw = self._deadlines.next(), encode(record)
        if deadline:  # mark this call's copy, so that a retry of it knows it (decode skips it)
            raw = raw[:-1] + b',"$add":"' + secrets.token_hex(6).encode() + b'"}'
        return keys, [raw, record.id, created, deadline]

    def close(self) -> None:
        """Give the kept connection back to its pool."""
        self.writes.close()


class WriteConnection:
    """One connection kept for writes, lent to one thread at a time. Thread-safe."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self.connection: Connection | None = None
        """The kept connection, once a write has asked for one."""
        self.lock = threading.Lock()
        """Held by the thread that has the kept connection."""

    def take(self) -> Connection:
        """The kept connection if no other thread has it, else one from the pool.

        A kept connection inherited through a fork (its socket is the parent's) is
        dropped, and one with something left to read (a reply never read, or the end of
        a socket Redis closed) is reconnected.

        Raises:
            redis.RedisError: if a connection cannot be had.
        """
        if not self.lock.acquire(blocking=False):
            return self._pool.get_connection()
        try:
            if self.connection is not None and self.connection.pid != os.getpid():
                self.connection = None
            if self.connection is None:
                self.connection = self._pool.get_connection()
            elif _stale(self.connection):
                self.connection.disconnect()  # type: ignore[no-untyped-call]  # reconnects
        except BaseException:
            self.lock.release()
            raise
        return self.connection

    def give_back(self, connection: Connection) -> None:
        """Return a connection :meth:`take` handed out."""
        if connection is self.connection:
            self.lock.release()
        else:
            self._pool.release(connection)

    def close(self) -> None:
        """Give the kept connection back to the pool it came from, disconnected."""
        with self.lock:
            if self.connection is not None:
                self.connection.disconnect()  # type: ignore[no-untyped-call]
                self._pool.release(self.connection)
                self.connection = None


def _stale(connection: Connection) -> bool:
    """Whether a connection idle between commands has something to read: a reply left
    unread, or the end of a socket Redis closed (it restarted, or dropped the client)."""
    try:
        return bool(connection.can_read())
    except (redis.ConnectionError, redis.TimeoutError):
        return True


class CreateDeadline:
    """Deadlines for creates, in Redis's clock: half the socket timeout from now, after
    which the add script stores nothing (see :mod:`mock_server.storage.redis_scripts`)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._skew: float | None = None  # Redis's time minus this host's, once measured

    def next(self) -> str:
        """The deadline of a create sent now, as text ('' without a socket timeout: an
        answer always comes).

        Raises:
            redis.RedisError: if Redis cannot be reached to measure its clock (once).
        """
        timeout = self._client.connection_pool.connection_kwargs.get("socket_timeout")
        if not timeout:
            return ""
        if self._skew is None:
            before = time.time()
            seconds, micros = self._client.time()
            after = time.time()
            self._skew = seconds + micros / 1_000_000 - (before + after) / 2
        return repr(time.time() + self._skew + float(timeout) / 2)
