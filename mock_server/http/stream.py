"""A prediction's server-sent event stream at ``/stream/<id>`` (its ``urls.stream``).

The events and the loop that follows them are :mod:`mock_server.domain.events`; this
route opens the stream, resumes after ``Last-Event-ID``, and answers 204 once the
final event was seen. No token is needed, as a browser's ``EventSource`` cannot send
one; a token that is sent is ignored.

The body is an :class:`_EventBody`: iterated, it follows the prediction on the thread
that iterates it (a test client, a threaded server); under ``imagen-mock serve`` the
bridge iterates it asynchronously (``stream_async``) on its event loop, so an open
stream holds no thread, and each look at the record runs briefly in a pool thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from flask import Blueprint, Response, request

from mock_server.contract import problems
from mock_server.domain import lifecycle
from mock_server.domain.events import events, follow, follow_async
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.service import PredictionService, RunBlocking
from mock_server.http.context import current_request, links, state
from mock_server.http.gate import hold, release

__all__ = ["bp"]

bp = Blueprint("stream", __name__)


@bp.before_request
def _opened() -> None:
    hold(current_request().environ)  # an open stream is held until its body ends


@bp.after_request
def _answered(response: Response) -> Response:
    release(current_request().environ, response)
    return response


def _last_event_id(header: str | None) -> int:
    """The id to resume after; -1 (from the start) when absent or not one of ours."""
    value = (header or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else -1


#: Sent first, so the status and headers go out at once (before the first event, which
#: comes only when the prediction starts).
_OPENING = b": open\n\n"


class _EventBody:
    """The events of one prediction from ``after`` on, as bytes, iterated in a thread
    or (``stream_async``) on an event loop."""

    def __init__(self, service: PredictionService, prediction_id: str, root: str, after: int):
        self._service = service
        self._id = prediction_id
        self._root = root
        self._after = after
        self.on_close: Callable[[], None] | None = None

    def close(self) -> None:
        """The stream ended (the server closes its body): run the response's close
        callbacks, which a passed-through body would otherwise skip (the held gauge)."""
        on_close, self.on_close = self.on_close, None  # the response's close calls this again
        if on_close is not None:
            on_close()

    def _load(self) -> PredictionRecord | None:
        return self._service.get(self._id)

    def __iter__(self) -> Iterator[bytes]:
        yield _OPENING
        service = self._service
        for text in follow(
            self._load, service.clock, self._root, after=self._after, changes=service.changes
        ):
            yield text.encode()

    async def stream_async(self, run_blocking: RunBlocking) -> AsyncIterator[bytes]:
        """The same bytes from a coroutine; ``run_blocking(fn)`` awaits ``fn()`` run in a
        thread (a look at the record may wait on Redis)."""
        yield _OPENING
        service = self._service
        load = self._load

        async def look() -> PredictionRecord | None:
            return await run_blocking(load)

        async for text in follow_async(
            look, service.clock, self._root, after=self._after, changes=service.changes
        ):
            yield text.encode()


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
    body = _EventBody(service, prediction_id, root, after)
    response = Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        direct_passthrough=True,  # the bridge sees the body itself, and its stream_async
    )
    body.on_close = response.close
    return response
