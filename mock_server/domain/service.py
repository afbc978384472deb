"""The prediction operations, free of HTTP: create, read, cancel, wait and list.

Everything time-dependent goes through the injected clock, so tests drive the
lifecycle without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

from mock_server.domain import lifecycle, scenarios
from mock_server.domain.changes import ChangeSignal
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.scenarios import Outcome
from mock_server.domain.store import Page, Store

__all__ = [
    "ChangeSignal",
    "InvalidCursorError",
    "Listeners",
    "PredictionListener",
    "PredictionService",
    "RunBlocking",
    "decode_cursor",
    "encode_cursor",
]

T = TypeVar("T")


class RunBlocking(Protocol):
    """Awaits ``fn()`` run in a thread."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


PAGE_SIZE: Final = 100
#: Expired records are dropped by a create at most this often (reads hide them anyway).
PURGE_INTERVAL_SECONDS: Final = 1.0
#: How often a held ``Prefer: wait`` request looks for a cancel when no
#: :class:`ChangeSignal` tells it of one.
WAIT_POLL_SECONDS: Final = 0.05


def _record_itself(record: PredictionRecord) -> PredictionRecord:
    return record


class InvalidCursorError(ValueError):
    """A list cursor that this server did not hand out."""


class PredictionListener(Protocol):
    """Told about new and changed predictions (the webhook dispatcher is one)."""

    def created(self, record: PredictionRecord) -> None:
        """A prediction was stored."""
        ...

    def changed(self, record: PredictionRecord) -> None:
        """A prediction's record was replaced (a cancel)."""
        ...


class _Every:
    """Says yes at most once per ``seconds`` of a clock. Thread-safe."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._next = -math.inf
        self._lock = threading.Lock()

    def due(self, now: float) -> bool:
        with self._lock:
            if now < self._next:
                return False
            self._next = now + self._seconds
            return True


class Listeners:
    """Several listeners told in turn."""

    def __init__(self, *listeners: PredictionListener) -> None:
        self._listeners = listeners

    def created(self, record: PredictionRecord) -> None:
        for listener in self._listeners:
            listener.created(record)

    def changed(self, record: PredictionRecord) -> None:
        for listener in self._listeners:
            listener.changed(record)


@dataclass(frozen=True, slots=True)
class PredictionService:
    """Predictions of one mock instance."""

    store: Store
    clock: Clock
    starting_seconds: float
    processing_seconds: float
    retention_seconds: float
    """Input, output and logs are removed this long after a prediction ends."""
    record_ttl_seconds: float
    """Records are dropped this long after creation."""
    log_lines: tuple[str, ...] = ()
    """Log lines of every prediction instead of the defaults (from a recording)."""
    listener: PredictionListener | None = None
    """Told of every create and cancel, after the store has the record."""
    changes: ChangeSignal | None = None
    """Wakes held waits on a cancel or reset; None: they poll the store (for fake clocks,
    whose ``sleep`` moves time instead of waiting)."""
    purger: Callable[[float], None] | None = None
    """Drops records created before the time it is given, off the request path (a
    :class:`~mock_server.domain.purging.BackgroundPurger`); None: the create that asks
    for a purge runs it (fake clocks, so tests see it done)."""
    _purges: _Every = field(default_factory=lambda: _Every(PURGE_INTERVAL_SECONDS))

    def create(
        self,
        input_: dict[str, Any],
        extra: dict[str, Any] | None = None,
        *,
        cancel_after: float | None = None,
        outcome: Outcome | None = None,
    ) -> PredictionRecord:
        """Start a prediction now and store it; ``outcome`` says how it ends (a scenario).

        Raises:
            KeyError: if the store already holds the new id.
            redis.RedisError: if a shared store cannot be reached.
        """
        return self.create_answered(
            _record_itself, input_, extra, cancel_after=cancel_after, outcome=outcome
        )

    def create_answered(
        self,
        answer: Callable[[PredictionRecord], T],
        input_: dict[str, Any],
        extra: dict[str, Any] | None = None,
        *,
        cancel_after: float | None = None,
        outcome: Outcome | None = None,
    ) -> T:
        """:meth:`create`, returning ``answer(record)`` instead of the record. The answer
        is computed while the store writes (:meth:`Store.add_while`), and returned only
        once the record is stored and listeners are told.

        Raises:
            KeyError: if the store already holds the new id.
            redis.RedisError: if a shared store cannot be reached.
            Exception: whatever ``answer`` raises (the record may then be stored, and
                listeners are not told of it).
        """
        record = lifecycle.new_record(
            input_,
            now=self.clock.now(),
            starting_seconds=self.starting_seconds,
            processing_seconds=self.processing_seconds,
            cancel_after=cancel_after,
            retention_seconds=self.retention_seconds,
            log_lines=self.log_lines,
        )
        if outcome is not None:
            record = scenarios.shape(record, outcome)
        if extra:
            record = lifecycle.replace_extra(record, extra)
        answered = self.store.add_while(record, lambda: answer(record))
        if self._purges.due(record.created_at):
            cutoff = record.created_at - self.record_ttl_seconds
            if self.purger is None:
                self.store.purge(cutoff)
            else:
                self.purger(cutoff)
        if self.listener is not None:
            self.listener.created(record)
        return answered

    def get(self, prediction_id: str) -> PredictionRecord | None:
        """The prediction, or None if there is no such id (or it outlived the record TTL)."""
        record = self.store.get(prediction_id)
        if record is None or record.created_at < self.clock.now() - self.record_ttl_seconds:
            return None  # an expired record is dropped by the next create's purge
        return record

    def cancel(self, prediction_id: str) -> PredictionRecord | None:
        """Cancel a running prediction (an ended one is left as it is); None if unknown.

        The store times the cancel inside its atomic update (:meth:`Store.cancel`), never
        from a clock read taken before: a prediction any reader has shown ended (readers
        take their time before they read) is then never canceled after the fact.
        """
        if self.get(prediction_id) is None:
            return None
        updated = self.store.cancel(prediction_id, self.clock.now)
        if updated is not None:
            if self.changes is not None:
                self.changes.notify()
            if self.listener is not None:
                self.listener.changed(updated)
        return updated

    def clear(self) -> int:
        """Forget every prediction (held waits end with KeyError); return how many went."""
        dropped = self.store.clear()
        if self.changes is not None:
            self.changes.notify()
        return dropped

    def wait(self, prediction_id: str, seconds: float) -> tuple[PredictionRecord, bool]:
        """Hold until the prediction ends or ``seconds`` pass, or the server stops.

        Returns the record as it then is and whether it has ended.

        Raises:
            KeyError: if there is no such prediction.
        """
        record, at = self.wait_at(prediction_id, seconds)
        return record, lifecycle.is_terminal(record, at)

    def wait_at(self, prediction_id: str, seconds: float) -> tuple[PredictionRecord, float]:
        """:meth:`wait`, returning the record and the time to show it at: one taken before
        the record was read (as every reader does; see :meth:`cancel`).

        Raises:
            KeyError: if there is no such prediction.
        """
        give_up = self.clock.now() + seconds
        while True:
            seen = self.changes.generation if self.changes is not None else 0
            now = self.clock.now()  # before the read
            record = self.get(prediction_id)
            if record is None:
                raise KeyError(prediction_id)
            step = self._wait_step(record, now, give_up)
            if step is None:
                return record, now
            if self.changes is None:
                self.clock.sleep(min(step, WAIT_POLL_SECONDS))
            else:
                self.changes.wait(seen, step)

    async def wait_at_async(
        self, prediction_id: str, seconds: float, run_blocking: RunBlocking
    ) -> tuple[PredictionRecord, float]:
        """:meth:`wait_at` for an event loop: each look at the record is awaited through
        ``run_blocking(fn)``, which runs ``fn`` in a thread (it may wait on Redis); the waits
        between looks are coroutines asleep on the change signal, so a held request
        holds no thread.

        Raises:
            KeyError: if there is no such prediction.
        """
        give_up = self.clock.now() + seconds
        load = functools.partial(self.get, prediction_id)
        while True:
            seen = self.changes.generation if self.changes is not None else 0
            now = self.clock.now()  # before the read
            record = await run_blocking(load)
            if record is None:
                raise KeyError(prediction_id)
            step = self._wait_step(record, now, give_up)
            if step is None:
                return record, now
            if self.changes is None:
                await asyncio.sleep(min(step, WAIT_POLL_SECONDS))
            else:
                await self.changes.wait_async(seen, step)

    def _wait_step(self, record: PredictionRecord, now: float, give_up: float) -> float | None:
        """How long a held wait sleeps before its next look: None when it is over (the
        prediction ended, the wait ran out, or the server stops)."""
        if lifecycle.is_terminal(record, now) or now >= give_up:
            return None
        if self.changes is not None and self.changes.stopping:
            return None
        return min(lifecycle.ends_at(record) - now, give_up - now)

    def page(
        self,
        cursor: str | None,
        created_after: float | None = None,
        created_before: float | None = None,
    ) -> tuple[Page, float]:
        """One page of predictions, newest first, and the time it was taken at.

        Raises:
            InvalidCursorError: if ``cursor`` was not made by :func:`encode_cursor`.
        """
        before, after = decode_cursor(cursor) if cursor else (None, None)
        now = self.clock.now()
        oldest_kept = now - self.record_ttl_seconds
        page = self.store.page(
            limit=PAGE_SIZE,
            before=before,
            after=after,
            created_after=oldest_kept if created_after is None else max(created_after, oldest_kept),
            created_before=created_before,
        )
        return page, now


def encode_cursor(*, before: int | None = None, after: int | None = None) -> str:
    """An opaque cursor for the page older than ``before`` or newer than ``after``."""
    doc = {"b": before} if before is not None else {"a": after}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int | None, int | None]:
    """``(before, after)`` from a cursor.

    Raises:
        InvalidCursorError: if the cursor is malformed.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        doc = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise InvalidCursorError(cursor) from exc
    if not isinstance(doc, dict) or len(doc) != 1:
        raise InvalidCursorError(cursor)
    key, value = next(iter(doc.items()))
    if key not in {"a", "b"} or type(value) is not int or value < 0:
        raise InvalidCursorError(cursor)
    return (value, None) if key == "b" else (None, value)
