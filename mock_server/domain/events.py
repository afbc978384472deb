"""A prediction's server-sent events, derived from its record, and the loop that
yields them as they happen. No HTTP here: :mod:`mock_server.http.stream` serves them.

The events are those Replicate sends: ``logs`` (one per log line), ``output`` (the
image URL), ``error`` (``{"detail": ...}`` when the prediction fails) and ``done``
(``{}``, or ``{"reason": "error" | "canceled" | "aborted"}``). Each event's id is its
position in the prediction's sequence, which a cancel only ever shortens, so
``Last-Event-ID`` resumes exactly after an event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Final

from mock_server.domain import lifecycle
from mock_server.domain.changes import ChangeSignal
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord

__all__ = ["HEARTBEAT_SECONDS", "Event", "events", "follow", "follow_async"]

#: Longest wait between looks at the record on a clock that cannot wake the stream
#: (a fake clock in tests); a real clock's streams are woken by a ChangeSignal instead.
POLL_SECONDS: Final = 0.05
#: Shortest wait, so that the clock always moves on and the loop always ends.
MIN_STEP_SECONDS: Final = 0.001
#: A comment line is sent after this long without events, to keep proxies from closing.
HEARTBEAT_SECONDS: Final = 15.0
_DONE_REASONS: Final = {"failed": "error", "canceled": "canceled", "aborted": "aborted"}


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event."""

    id: int
    """Position in the prediction's event sequence, from 0."""
    at: float
    """When it happens, seconds since the epoch."""
    event: str
    """``logs``, ``output``, ``error`` or ``done``."""
    data: str

    def encode(self) -> str:
        """The event as ``text/event-stream`` text, ending with its blank line."""
        data = "".join(f"data: {line}\n" for line in self.data.split("\n"))
        return f"event: {self.event}\nid: {self.id}\n{data}\n"


def events(record: PredictionRecord, root: str) -> list[Event]:
    """Every event of the prediction as its record now stands, in order, output URLs
    under ``root``. Those that have happened by any instant form a prefix that a later
    cancel does not change."""
    found: list[tuple[float, str, str]] = []
    for moment in lifecycle.moments(record):
        if moment.kind == "logs":
            found.append((moment.at, "logs", moment.text))
        elif moment.kind == "output":
            found.append((moment.at, "output", root + moment.text))
        elif moment.kind == "completed":
            status = lifecycle.status_at(record, moment.at)
            if status == "failed":
                error = json.dumps({"detail": lifecycle.error_of(record)})
                found.append((moment.at, "error", error))
            reason = _DONE_REASONS.get(status)
            found.append((moment.at, "done", json.dumps({"reason": reason} if reason else {})))
    return [Event(index, at, kind, data) for index, (at, kind, data) in enumerate(found)]


class _Follower:
    """What a stream has sent; each look at the record says what to send next and how
    long to sleep before the following look."""

    def __init__(self, root: str, after: int, now: float) -> None:
        self._root = root
        self._sent = after + 1
        self._quiet_since = now

    def look(self, record: PredictionRecord | None, now: float) -> tuple[list[str], float | None]:
        """The text to send now (events due, or a heartbeat), and how long to wait before
        looking again: None once the stream is over."""
        if record is None:
            return [], None
        sequence = events(record, self._root)
        due = [event for event in sequence if event.at <= now]
        chunks = [event.encode() for event in due[self._sent :]]
        if chunks:
            self._quiet_since = now
        self._sent = max(self._sent, len(due))
        if lifecycle.is_terminal(record, now) or self._sent >= len(sequence):
            return chunks, None
        if now - self._quiet_since >= HEARTBEAT_SECONDS:
            chunks.append(": keep-alive\n\n")
            self._quiet_since = now
        step = min(sequence[len(due)].at - now, self._quiet_since + HEARTBEAT_SECONDS - now)
        return chunks, max(step, MIN_STEP_SECONDS)


def follow(
    load: Callable[[], PredictionRecord | None],
    clock: Clock,
    root: str,
    *,
    after: int = -1,
    changes: ChangeSignal | None = None,
) -> Iterator[str]:
    """Yield the encoded events with ids above ``after`` as they happen, until ``done``.

    ``load`` reads the record afresh on each look (so a cancel is seen). Between looks
    the stream sleeps until its next event is due or a heartbeat is, woken early by
    ``changes`` (a cancel, a reset, a clock move); without it (a fake clock), it waits
    through ``clock`` at most :data:`POLL_SECONDS` at a time. Waits are at least
    :data:`MIN_STEP_SECONDS`, so the loop ends once the clock passes the prediction's
    end. It also ends if the record disappears, or when ``changes`` says the server is
    stopping (the client resumes with ``Last-Event-ID``).
    """
    follower = _Follower(root, after, clock.now())
    while True:
        seen = changes.generation if changes is not None else 0
        now = clock.now()  # before the read (see Store.cancel)
        chunks, step = follower.look(load(), now)
        yield from chunks
        if step is None:
            return
        if changes is None:
            clock.sleep(min(step, POLL_SECONDS))
        elif changes.stopping:
            return
        else:
            changes.wait(seen, step)


async def follow_async(
    load: Callable[[], Awaitable[PredictionRecord | None]],
    clock: Clock,
    root: str,
    *,
    after: int = -1,
    changes: ChangeSignal | None = None,
) -> AsyncIterator[str]:
    """:func:`follow` for an event loop: ``load`` is awaited, and the waits between
    looks are coroutines asleep on ``changes`` (:meth:`ChangeSignal.wait_async`), so an
    open stream holds no thread."""
    follower = _Follower(root, after, clock.now())
    while True:
        seen = changes.generation if changes is not None else 0
        now = clock.now()  # before the read (see Store.cancel)
        chunks, step = follower.look(await load(), now)
        for chunk in chunks:
            yield chunk
        if step is None:
            return
        if changes is None:
            await asyncio.sleep(min(step, POLL_SECONDS))
        elif changes.stopping:
            return
        else:
            await changes.wait_async(seen, step)
