"""The connection a Redis store keeps for its creates, out of the pool, and the deadline
each create carries.

A worker's creates mostly come from one thread; sending each on the same connection
skips the pool's bookkeeping (about 15-40 µs a create). Another thread that writes at
the same moment takes a pooled connection instead of waiting.
"""

from __future__ import annotations

import os
import threading
import time

import redis
from redis.connection import Connection, ConnectionPool

__all__ = ["CreateDeadline", "WriteConnection"]


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
