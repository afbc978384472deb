"""What the HTTP layer needs of the other processes sharing its predictions, whether on
one Redis (:class:`~mock_server.storage.replicas.Replicas`) or one data directory
(:class:`~mock_server.storage.local_peers.LocalPeers`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mock_server.domain.store import Store

__all__ = ["Peers", "SharedStore"]


class SharedStore(Store, Protocol):
    """A store other processes write to, with local copies to drop when they do."""

    def forget(self, prediction_id: str) -> None:
        """Drop the local copy of this record."""
        ...

    def forget_all(self) -> None:
        """Drop every local copy."""
        ...

    def ping(self) -> None:
        """Return once the store answers.

        Raises:
            redis.RedisError, sqlite3.Error, OSError: if it does not.
        """
        ...


class Peers(Protocol):
    """This process's link to the others sharing its store."""

    @property
    def store(self) -> SharedStore:
        """The shared predictions."""
        ...

    @property
    def secret(self) -> str:
        """The webhook signing secret they all use."""
        ...

    def announce_changed(self, prediction_id: str) -> None:
        """Tell the others a prediction's record changed (a cancel)."""
        ...

    def announce_reset(self) -> int:
        """Tell the others every prediction was forgotten; how many confirmed."""
        ...

    def advance_clock(self, seconds: float) -> float:
        """Move the shared clock; the new total offset, once the others moved."""
        ...

    def flush_observed(self) -> int:
        """Ask the others to write what they hold of the request journal and the
        metrics; return once they confirmed, with how many did."""
        ...

    def clock_offset(self) -> float:
        """The shared clock offset."""
        ...

    def acknowledge(self, event: dict[str, Any]) -> None:
        """Confirm an announcement to its sender, if it asks for it."""
        ...

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Hand the others' announcements to ``handler`` on a thread of its own."""
        ...

    def close(self) -> None:
        """Stop listening and close connections."""
        ...
