"""The gate every predictions API request passes, once on the way in and once out.

In: its arrival is noted (for its latency and its journal entry), a held ``Prefer:
wait`` create is counted as held, the body is read once (cached, for the journal);
then, for a request that reached one of the API's routes, the token is checked and
counted against its rate limit, and the app's screens (``X-Mock-*`` headers, rules,
faults) run. Out: a 2xx answer gets the ``ratelimit-*`` headers, the answer is counted
in the metrics and kept in the journal.

One ``before_request`` and one ``after_request`` hook of the app do all of it: each
hook Flask calls costs as much as a small handler, and a GET is mostly hooks. Only the
predictions API (``/v1``, ``/replicate/v1``) passes the gate; a path under it that
matches no route is journaled and counted (route ``none``) but not authenticated, as
the 404 or 405 it gets needs no token. The admin API, health checks, files, pages and
``/metrics`` do not pass it; an event stream counts itself as held (:func:`hold`,
:func:`release`).

The quick lane (:mod:`~mock_server.http.quick_poll`) passes no hook: for the plain
polls it answers it counts and records through the same :func:`count` and
:func:`observe`.

A held create answered later on the serving loop (:mod:`~mock_server.http.held`)
leaves the gate when that answer comes. Recording never fails a request: an error
in the journal or the metrics is logged and the request answered as usual.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

from flask import Flask, Response, g

from mock_server.contract import problems
from mock_server.domain import ratelimit
from mock_server.domain.exchange import Exchange
from mock_server.domain.journal import BODY_LIMIT
from mock_server.http import held
from mock_server.http.context import PREFIXES, MockState, check_token, current_request, state

if TYPE_CHECKING:
    from mock_server.http.admin_observer import Observer

__all__ = ["ROUTE_OF", "count", "hold", "install", "observe", "release"]

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
#: An endpoint (``<blueprint>.<view>``, one blueprint per prefix) -> its route's name.
_ROUTE_OF_ENDPOINT: Final = {
    f"{name}.{view}": route for name in PREFIXES for view, route in ROUTE_OF.items()
}
#: Where the gate notes, in the request's WSGI environ: its arrival (``perf_counter``,
#: the mock's clock, the route's name, the app's observer: what leaving needs), its
#: quota, and that it is held.
_ARRIVED: Final = "imagen_mock.arrived"
_QUOTA: Final = "imagen_mock.quota"
_HELD: Final = "imagen_mock.held"
#: The most of a body the journal keeps: one byte past its limit, to know it was cut.
_KEPT_BYTES: Final = BODY_LIMIT + 1
#: What a journaled environ does not keep: the request object, its streams and socket,
#: what a test client keeps alive.
_NOT_KEPT: Final = (
    "werkzeug.request",
    "wsgi.input",
    "wsgi.errors",
    "werkzeug.socket",
    "werkzeug.debug.preserve_context",
)


def install(app: Flask) -> None:
    """Put the gate in front of the app's predictions API."""
    app.before_request(_enter)
    app.after_request(_leave)


def hold(environ: dict[str, Any]) -> None:
    """Count the request of ``environ`` as held until :func:`release` lets it go."""
    environ[_HELD] = True
    observer = state().observer
    if observer is not None:
        observer.metrics.held.inc()


def release(environ: dict[str, Any], response: Response) -> None:
    """Stop counting a held request once ``response``'s body is closed (at once for an
    answer read whole; when the client leaves or the stream ends for a stream)."""
    observer = state().observer
    if environ.pop(_HELD, False) and observer is not None:
        response.call_on_close(observer.metrics.held.dec)


def _enter() -> Response | None:
    req = current_request()
    environ = req.environ
    if not environ.get("PATH_INFO", "").startswith(_API_PATHS):
        return None
    mock = state()
    now = mock.service.clock.now()
    rule = req.url_rule
    route = _ROUTE_OF_ENDPOINT.get(rule.endpoint) if rule is not None else None
    observer = mock.observer
    environ[_ARRIVED] = (time.perf_counter(), now, route, observer)
    if route == "create" and "HTTP_PREFER" in environ:
        hold(environ)
    if observer is not None and observer.journal is not None and environ.get("CONTENT_LENGTH"):
        length = req.content_length
        limit = req.max_content_length
        if length and (limit is None or length <= limit):
            req.get_data(cache=True)  # the handler's read then takes it from the cache
    if route is None:  # no route: the 404 or 405 needs no token
        return None
    return _admit(mock, environ, route, now)


def _admit(mock: MockState, environ: dict[str, Any], route: str, now: float) -> Response | None:
    """Authenticate the request, count it against its token's rate limit, then run the
    app's screens on it; the first screen's answer, if one answers in the handler's place.

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one; 429
            past the rate limit when limits are enforced; or whatever a screen raises.
    """
    token = check_token(
        environ.get("HTTP_AUTHORIZATION"), mock.token, any_token=mock.accept_any_token
    )
    quota = count(mock, token, route, now)
    if not quota.allowed and mock.enforce_rate_limits:
        raise problems.throttled(max(quota.retry_after, 1))
    environ[_QUOTA] = quota
    for screen in mock.screens:
        answer = screen(environ)
        if answer is not None:
            return answer
    return None


def count(mock: MockState, token: str, route: str, now: float) -> ratelimit.Quota:
    """Count a request to ``route`` against ``token``'s rate limit (a refused one is not
    counted); its quota."""
    kind = ratelimit.CREATE if route == "create" else ratelimit.OTHER
    return mock.rates.take(ratelimit.token_key(token), kind, now)


def _leave(response: Response) -> Response:
    req = current_request()
    environ = req.environ
    arrived = environ.get(_ARRIVED)
    if arrived is None or held.is_deferred(environ):  # it leaves once its answer comes
        return response
    status = response.status_code
    quota = environ.get(_QUOTA)
    if quota is not None and 200 <= status < 300:
        headers = response.headers
        for name, value in quota.header_pairs():  # new names: add, not set (no scan)
            headers.add(name, value)
    started, at, route, observer = arrived
    if environ.pop(_HELD, False) and observer is not None:  # first: whatever follows fails
        observer.metrics.held.dec()
    if observer is None:
        return response
    if observer.journal is None:
        observe(observer, environ, started, at, status, route, None, None, (), None)
        return response
    try:
        if route == "create":  # set by the create handler once the id exists
            prediction_id = g.get("created_prediction_id")
        else:
            prediction_id = (req.view_args or {}).get("prediction_id")
        body: bytes | None = getattr(req, "_cached_data", None) or None
        parts = _answer_parts(response)
    except Exception:  # counted all the same, not journaled
        log.exception("observing a request failed; it is answered all the same")
        observe(observer, environ, started, at, status, route, None, None, (), None, keep=False)
        return response
    headers = response.headers  # the last hook: no one changes them after
    observe(observer, environ, started, at, status, route, prediction_id, body, headers, parts)
    return response


def observe(
    observer: Observer,
    environ: dict[str, Any],
    started: float,
    at: float,
    status: int,
    route: str | None,
    prediction_id: str | None,
    body: bytes | None,
    headers: Iterable[tuple[str, str]],
    parts: Sequence[bytes | str] | None,
    *,
    keep: bool = True,
) -> None:
    """Count an answered request in the metrics and, with ``keep``, keep it in the
    journal, if the journal is on; an error is logged, never raised.

    The journal keeps an :class:`~mock_server.domain.exchange.Exchange`: the request's
    parts as they are, masked and decoded only when the journal is read. The environ is
    copied (shallow: a few microseconds), without the request's body stream, socket and
    request object, so an entry holds no more than the journal shows and nothing
    changes it once kept.
    """
    try:
        seconds = time.perf_counter() - started
        observer.metrics.answered(route, status, seconds)
        if observer.journal is None or not keep:
            return
        kept = environ.copy()
        for key in _NOT_KEPT:
            kept.pop(key, None)
        if body is not None and len(body) > _KEPT_BYTES:  # cut as the entry will cut it
            body = body[:_KEPT_BYTES]
        observer.record(  # by position (see Exchange): id, at, environ, body, status, ...
            Exchange(
                observer.next_id(),
                at,
                kept,
                body,
                status,
                seconds,
                route,
                prediction_id,
                headers,
                parts,
            )
        )
    except Exception:
        log.exception("observing a request failed; it is answered all the same")


def _answer_parts(response: Response) -> Sequence[bytes | str] | None:
    """The answer's body as the journal keeps it: its parts as they are when it is one
    short part (every JSON answer of the API), else cut (None when streamed)."""
    if response.is_streamed:
        return None
    parts = response.response
    if isinstance(parts, list) and len(parts) == 1 and len(parts[0]) <= _KEPT_BYTES:
        return parts
    return [response.get_data()[:_KEPT_BYTES]]
