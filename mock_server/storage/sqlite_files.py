"""What the modules keeping state in a data directory share: the database's name, how a
connection to it is opened, and a small token file that tells processes when a table
they keep a copy of has changed.

The predictions (:mod:`~mock_server.storage.sqlite_store`), the scenario rules
(:mod:`~mock_server.storage.sqlite_rules`) and the delivery log
(:mod:`mock_server.webhooks.sqlite_delivery_log`) are tables of one SQLite file, each module
opening its own connections with :func:`connect`.
"""

from __future__ import annotations

import mmap
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Final

__all__ = ["BUSY_TIMEOUT_MS", "DATABASE_NAME", "WAL_LIMIT_BYTES", "ChangeToken", "connect"]

#: The database file in the data directory.
DATABASE_NAME: Final = "predictions.sqlite3"
#: How long a write waits for another process's write to end before it fails.
BUSY_TIMEOUT_MS: Final = 10_000
#: The write-ahead log is cut back to this size after a checkpoint.
WAL_LIMIT_BYTES: Final = 16 * 1024 * 1024
_TOKEN_BYTES: Final = 8


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the database at ``path`` in autocommit mode (transactions are
    begun explicitly), usable from any thread (the caller makes sure one at a time)."""
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
    return connection


class ChangeToken:
    """Eight random bytes in a file, mapped into memory: a process that changed a table
    writes new ones (after its commit); a process keeping a copy of the table compares
    them with those it read before its last load, and loads again if they differ. A read
    costs a memory access, so it can be made on every request; a token read before a
    load that misses a later commit is replaced by that commit's, so no change is missed.
    """

    def __init__(self, path: Path) -> None:
        """Raises: OSError: if the file cannot be created or mapped."""
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(descriptor).st_size < _TOKEN_BYTES:
                os.ftruncate(descriptor, _TOKEN_BYTES)
            self._map = mmap.mmap(descriptor, _TOKEN_BYTES)
        finally:
            os.close(descriptor)

    def read(self) -> bytes:
        """The current token."""
        return self._map[:_TOKEN_BYTES]

    def change(self) -> None:
        """Write a new token (call after committing the change)."""
        self._map[:_TOKEN_BYTES] = secrets.token_bytes(_TOKEN_BYTES)

    def close(self) -> None:
        """Unmap the file."""
        self._map.close()
