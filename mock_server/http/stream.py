"""A prediction's server-sent event stream at ``/stream/<id>`` (its ``urls.stream``).

The events are those Replicate sends: ``logs`` (one per log line), ``output`` (the
image URL), ``error`` (``{"detail": ...}`` when the prediction fails) and ``done``
(``{}``, or ``{"reason": "error" | "canceled" | "aborted"}``). Each event's id is its
position in the prediction's sequence, which a cancel only ever shortens, so
``Last-Event-ID`` resumes exactly after an event. No token is needed, as a browser's
``EventSource`` cannot send one; a token that is sent is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Response, request

from mock_server.contract import problems
from mock_server.domain import lifecycle
from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.http import api

__all__ = ["Event", "bp", "events", "follow"]

#: Longest wait between looks at the record (a cancel shows up within this).
POLL_SECONDS: Final = 0.05
#: Shortest wait, so that the clock always moves on and the loop always ends.
MIN_STEP_SECONDS: Final = 0.001
#: A comment line is sent after this long without events, to keep proxies from closing.
HEARTBEAT_SECONDS: Final = 15.0
_DONE_REASONS: Final = {"failed": "error", "canceled": "canceled", "aborted": "aborted"}

bp = Blueprint("stream", __name__)


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


def follow(
    load: Callable[[], PredictionRecord | None],
    clock: Clock,
    root: str,
    *,
    after: int = -1,
) -> Iterator[str]:
    """Yield the encoded events with ids above ``after`` as they happen, until ``done``.

    ``load`` reads the record afresh on each look (so a cancel is seen); waiting goes
    through ``clock``, at least :data:`MIN_STEP_SECONDS` a time, so the loop ends once
    the clock passes the prediction's end. It also ends if the record disappears.
    """
    sent = after + 1
    quiet_since = now = clock.now()
    while (record := load()) is not None:  # now: taken before the read (see Store.cancel)
        sequence = events(record, root)
        due = [event for event in sequence if event.at <= now]
        for event in due[sent:]:
            yield event.encode()
            quiet_since = now
        sent = max(sent, len(due))
        if lifecycle.is_terminal(record, now) or sent >= len(sequence):
            return
        if now - quiet_since >= HEARTBEAT_SECONDS:
            yield ": keep-alive\n\n"
            quiet_since = now
        step = min(sequence[len(due)].at - now, POLL_SECONDS)
        clock.sleep(max(step, MIN_STEP_SECONDS))
        now = clock.now()


def _last_event_id(header: str | None) -> int:
    """The id to resume after; -1 (from the start) when absent or not one of ours."""
    value = (header or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else -1


def _opened(body: Iterator[str]) -> Iterator[str]:
    """``body`` after a comment line, so the status and headers go out at once (before
    the first event, which comes only when the prediction starts)."""
    yield ": open\n\n"
    yield from body


@bp.get("/stream/<prediction_id>")
def prediction_stream(prediction_id: str) -> Response:
    """The prediction's events as ``text/event-stream``, held open until it ends.

    Answers 204 when ``Last-Event-ID`` names the final ``done`` event (an
    ``EventSource`` then stops reconnecting).

    Raises:
        Problem: 404 if there is no such prediction.
    """
    state = api.state()
    service = state.service
    now = service.clock.now()  # before the read (see Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    root = api.links().root
    after = _last_event_id(request.headers.get("Last-Event-ID"))
    total = len(events(record, root))
    if after >= total:
        after = -1  # not an id of this prediction's events: start over
    if lifecycle.is_terminal(record, now) and after + 1 >= total:
        return Response(status=204)
    body = follow(lambda: service.get(prediction_id), service.clock, root, after=after)
    return Response(
        _opened(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
