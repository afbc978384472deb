"""A prediction's server-sent event stream at ``/stream/<id>`` (its ``urls.stream``).

The events and the loop that follows them are :mod:`mock_server.domain.events`; this
route opens the stream, resumes after ``Last-Event-ID``, and answers 204 once the
final event was seen. No token is needed, as a browser's ``EventSource`` cannot send
one; a token that is sent is ignored.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response, request

from mock_server.contract import problems
from mock_server.domain import lifecycle
from mock_server.domain.events import events, follow
from mock_server.http.context import links, state

__all__ = ["bp"]

bp = Blueprint("stream", __name__)


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
    service = state().service
    now = service.clock.now()  # before the read (see Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    root = links().root
    after = _last_event_id(request.headers.get("Last-Event-ID"))
    total = len(events(record, root))
    if after >= total:
        after = -1  # not an id of this prediction's events: start over
    if lifecycle.is_terminal(record, now) and after + 1 >= total:
        return Response(status=204)
    body = follow(
        lambda: service.get(prediction_id),
        service.clock,
        root,
        after=after,
        changes=service.changes,
    )
    return Response(
        _opened(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
