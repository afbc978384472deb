"""Watching the predictions API: each request journaled and counted, held ones gauged.

:func:`~mock_server.http.admin_observer.build` makes the app's observer (journal,
metrics, the watch that counts predictions as they end); :func:`install` hooks it in:
a ``before_request`` that notes the arrival (and reads the body once, cached, for the
journal) and an ``after_request`` that writes the entry and counts the answer (for a
held ``Prefer: wait`` create answered on the serving loop, once that answer comes:
:mod:`~mock_server.http.held`). Only the predictions API (``/v1``, ``/replicate/v1``)
is journaled and counted; the admin API, health checks,
files, pages and ``/metrics`` are not.

Recording never fails a request: an error writing the journal (Redis unreachable) is
logged once, the request answered as usual, and one more line is logged when writing
works again. What is kept is the request and its answer as they are (an
:class:`~mock_server.domain.exchange.Exchange`, bodies cut at the journal's limit); the
masked entry is made when the journal is read. A shared journal (Redis, a data
directory) keeps this process's part here until a read asks every process to flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from flask import Flask, Request, Response, g

from mock_server.domain.exchange import Exchange
from mock_server.domain.journal import BODY_LIMIT
from mock_server.http import held
from mock_server.http.admin_observer import Observer
from mock_server.http.context import PREFIXES, current_request, state

__all__ = ["forget", "install", "observer"]

log = logging.getLogger(__name__)

#: The API's paths start so.
_API_PATHS: Final = tuple(prefix + "/" for prefix in PREFIXES.values())
#: A view function's name -> its route's name (as rules and the journal name routes).
ROUTE_OF: Final = {
    "create_prediction": "create",
    "get_prediction": "get",
    "cancel_prediction": "cancel",
    "list_predictions": "list",
    "webhook_secret": "secret",
}
#: Where a request's arrival is noted in its WSGI environ.
_STARTED: Final = "imagen_mock.started"
_AT: Final = "imagen_mock.at"
_HELD: Final = "imagen_mock.held"
#: The most of a body the journal keeps: one byte past its limit, to know it was cut.
_KEPT_BYTES: Final = BODY_LIMIT + 1
#: What a journaled environ does not keep: the request object, its streams and sockets,
#: what a test client keeps alive.
_NOT_KEPT: Final = (
    "werkzeug.request",
    "wsgi.input",
    "wsgi.errors",
    "werkzeug.socket",
    "werkzeug.debug.preserve_context",
)


def observer(app: Flask) -> Observer:
    """The observer of ``app`` (kept in its :class:`~mock_server.http.context.MockState`).

    Raises:
        LookupError: if the app was built without one.
    """
    found = state(app).observer
    if found is None:
        raise LookupError("this app has no observer")
    return found


def forget(app: Flask) -> None:
    """Empty the journal and stop following predictions to their end (a reset).

    Raises:
        redis.RedisError: if the journal is in Redis and Redis cannot be reached.
    """
    watching = observer(app)
    watching.endings.clear()
    watching.clear()


def install(app: Flask) -> None:
    """Hook the app's observer into its requests."""
    app.before_request(_arrived)
    app.after_request(_answered)
    app.teardown_request(_done)


def _arrived() -> None:
    req = current_request()
    environ = req.environ
    path: str = environ.get("PATH_INFO", "")
    api = path.startswith(_API_PATHS)
    if not api and path.rpartition("/")[0] != "/stream":
        return
    watching = _watching()
    environ[_STARTED] = time.perf_counter()
    environ[_AT] = watching.clock.now()
    if not api or ("HTTP_PREFER" in environ and _route(req) == "create"):
        environ[_HELD] = True
        watching.metrics.held.inc()
    if api and watching.journal is not None and environ.get("CONTENT_LENGTH"):
        length = req.content_length
        limit = req.max_content_length
        if length and (limit is None or length <= limit):
            req.get_data(cache=True)  # the handler's read then takes it from the cache


def _answered(response: Response) -> Response:
    req = current_request()
    environ = req.environ
    started = environ.get(_STARTED)
    if started is None or held.is_deferred(environ):  # observed once its answer comes
        return response
    try:
        seconds = time.perf_counter() - started
        watching = _watching()
        path: str = environ.get("PATH_INFO", "")
        if path.startswith(_API_PATHS):
            route = _route(req)
            watching.metrics.answered(route, response.status_code, seconds)
            if watching.journal is not None:
                watching.record(_exchange(req, response, route, seconds, watching.next_id()))
        elif environ.pop(_HELD, False):  # an event stream: held until its body ends
            response.call_on_close(watching.metrics.held.dec)
    except Exception:
        log.exception("observing a request failed; it is answered all the same")
    return response


def _done(_: BaseException | None) -> None:
    environ = current_request().environ
    if not held.is_deferred(environ) and environ.pop(_HELD, False):
        _watching().metrics.held.dec()


def _watching() -> Observer:
    found = state().observer  # installed only on apps that have one
    assert found is not None
    return found


def _route(req: Request) -> str | None:
    endpoint = req.url_rule.endpoint if req.url_rule is not None else ""
    return ROUTE_OF.get(endpoint.rpartition(".")[2])


def _exchange(
    req: Request, response: Response, route: str | None, seconds: float, entry_id: str
) -> Exchange:
    """What the journal keeps of this request: its parts as they are, masked and
    decoded only when the journal is read (:mod:`mock_server.domain.exchange`)."""
    environ: dict[str, Any] = req.environ
    if route == "create":  # set by the create handler once the id exists
        prediction_id = g.get("created_prediction_id")
    else:
        prediction_id = (req.view_args or {}).get("prediction_id")
    kept = environ.copy()  # a shallow copy, without what a request holds beyond itself
    for key in _NOT_KEPT:
        kept.pop(key, None)
    body: bytes | None = getattr(req, "_cached_data", None) or None
    if body is not None and len(body) > _KEPT_BYTES:  # cut as the entry will cut it
        body = body[:_KEPT_BYTES]
    return Exchange(
        id=entry_id,
        at=environ[_AT],
        path=req.path,
        environ=kept,
        body=body,
        status=response.status_code,
        seconds=seconds,
        route=route,
        prediction_id=prediction_id,
        response_headers=response.headers,  # the last hook: no one changes them after
        response_body=_answer_parts(response),
    )


def _answer_parts(response: Response) -> Sequence[bytes | str] | None:
    """The answer's body as the journal keeps it: its parts as they are when it is one
    short part (every JSON answer of the API), else cut (None when streamed)."""
    if response.is_streamed:
        return None
    parts = response.response
    if isinstance(parts, list) and len(parts) == 1 and len(parts[0]) <= _KEPT_BYTES:
        return parts
    return [response.get_data()[:_KEPT_BYTES]]
