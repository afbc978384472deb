"""The worker processes of one server sharing a data directory (``--data-dir``).

They share the predictions, the webhook signing secret and the clock offset through the
SQLite file (:class:`~mock_server.storage.sqlite_store.SqliteStore`), and tell each
other of cancels, resets, clock moves and journal flushes over unix datagrams
(:class:`~mock_server.storage.datagram_bus.DatagramBus`), which wake held requests and
event streams at once. As with Redis (:mod:`mock_server.storage.replicas`), a reset, a
clock move or a journal flush returns only once the others have confirmed it, so the
next request to any worker sees it; a cancel is read from the file by every worker, so
it needs no wait.

One server at a time uses a directory: :func:`hold` takes an exclusive ``flock`` on
``<data dir>/server.lock`` in the server's main process; a second server is refused.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mock_server.domain.clock import AdjustableClock, Clock, check_step
from mock_server.storage.datagram_bus import DatagramBus
from mock_server.storage.sqlite_store import SqliteStore

__all__ = ["DataDirInUseError", "LocalPeers", "hold", "open_data_dir"]

#: How long a reset or clock move waits for the other workers to confirm it.
ACK_TIMEOUT_SECONDS: Final = 2.0
LOCK_NAME: Final = "server.lock"


class DataDirInUseError(OSError):
    """Another server holds the data directory."""


@contextmanager
def hold(directory: Path) -> Iterator[None]:
    """Hold ``directory`` for this server while the block runs.

    Raises:
        DataDirInUseError: if another server holds it (the message names its pid).
        OSError: if the directory cannot be created or the lock file written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise DataDirInUseError(f"another server (pid {owner}) is using it") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@dataclass(slots=True)
class _Acks:
    condition: threading.Condition = field(default_factory=threading.Condition)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LocalPeers:
    """This worker's link to the others on its data directory."""

    store: SqliteStore
    """The shared predictions."""
    bus: DatagramBus
    """Announcements to and from the other workers."""
    secret: str
    """The webhook signing secret every worker uses (kept in the directory)."""
    _acks: _Acks = field(default_factory=_Acks)

    def announce_changed(self, prediction_id: str) -> None:
        """Tell the others a prediction's record changed (a cancel), to wake their waits."""
        self.bus.publish({"kind": "changed", "id": prediction_id})

    def announce_reset(self) -> int:
        """Tell the others every prediction was forgotten; return once they confirmed."""
        return self._announce({"kind": "reset"})

    def flush_observed(self) -> int:
        """Ask the others to write what they hold of the request journal and the
        metrics; return once they confirmed."""
        return self._announce({"kind": "flush"})

    def advance_clock(self, seconds: float) -> float:
        """Add ``seconds`` to the stored clock offset; return the new total once the
        others have moved to it.

        Raises:
            ValueError: if the total would pass the clock's limit.
        """
        total = self.store.advance_offset(seconds, lambda offset: check_step(offset, seconds))
        self._announce({"kind": "clock", "offset_seconds": total})
        return total

    def clock_offset(self) -> float:
        """The stored clock offset."""
        return self.store.clock_offset()

    def acknowledge(self, event: dict[str, Any]) -> None:
        """Confirm ``event`` to the worker that sent it (if it asks for it)."""
        key, origin = event.get("ack"), event.get("origin")
        if isinstance(key, str) and isinstance(origin, str):
            self.bus.send_to(origin, {"kind": "ack", "key": key})

    def _announce(self, event: dict[str, Any]) -> int:
        key = uuid.uuid4().hex
        acks = self._acks
        with acks.condition:
            acks.counts[key] = 0
        try:
            others = self.bus.publish({**event, "ack": key})
            with acks.condition:
                acks.condition.wait_for(
                    lambda: acks.counts[key] >= others, timeout=ACK_TIMEOUT_SECONDS
                )
                return acks.counts[key]
        finally:
            with acks.condition:
                del acks.counts[key]

    def is_alive(self, origin: str) -> bool:
        """Whether the worker ``origin`` (an id on the bus) still runs: it is sent an
        acknowledgement nobody waits for, which a running worker ignores."""
        return origin == self.bus.origin or self.bus.send_to(origin, {"kind": "ack", "key": ""})

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Hand the other workers' announcements to ``handler``, on a daemon thread."""

        def receive(event: dict[str, Any]) -> None:
            if event.get("kind") != "ack":
                handler(event)
                return
            acks = self._acks
            with acks.condition:
                key = event.get("key")
                if isinstance(key, str) and key in acks.counts:
                    acks.counts[key] += 1
                    acks.condition.notify_all()

        self.bus.listen(receive)

    def close(self) -> None:
        """Stop listening and close the database."""
        self.bus.close()
        self.store.close()


def open_data_dir(directory: Path, *, clock: Clock, secret: str, pin: bool = False) -> LocalPeers:
    """Join the workers sharing ``directory`` (creating what is missing).

    ``secret`` signs webhooks if none is stored yet; with ``pin`` (the operator chose
    it) it replaces the stored one.

    Raises:
        OSError, sqlite3.Error: if the directory or its database cannot be used.
    """
    store = SqliteStore(directory, clock=clock, server_time=isinstance(clock, AdjustableClock))
    try:
        stored = store.share_secret(secret, pin=pin)
        bus = DatagramBus(directory)
    except BaseException:
        store.close()
        raise
    return LocalPeers(store=store, bus=bus, secret=stored)
