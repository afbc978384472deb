"""The quick lane: a plain poll of one prediction, answered without Flask's request
machinery.

Clients poll ``GET /v1/predictions/<id>`` until the prediction ends; it is most of
what the mock answers. Flask spends about two thirds of such a request on its own
machinery (request context, URL binding and matching, hooks, the response object), and
the gate's journal, rate limit and metrics come on top. This lane answers the plain
poll itself, with the same parts the route uses: the token check
(:func:`~mock_server.http.context.check_token`), the screens' ``idle`` check, the
poll's body (:func:`~mock_server.http.api.poll_body`), the rate count and the
journal and metrics (:func:`~mock_server.http.gate.count`,
:func:`~mock_server.http.gate.observe`), and the headers Flask would send.

A poll is plain when it is a ``GET`` of an id shaped like Replicate's, at
``/v1/predictions/<id>`` or ``/replicate/v1/predictions/<id>`` with no ``SCRIPT_NAME``
(so no ``X-Forwarded-Prefix``), over ``http`` or ``https``, from a host Flask routes
(with Flask's ``TRUSTED_HOSTS`` unset), with no body (no ``Content-Length`` at all, no
``Transfer-Encoding``) and no ``Upgrade``, with a valid token, that no screen acts on
(no ``X-Mock-Scenario``, ``X-Mock-Fault`` or ``X-Mock-Latency-Ms``, no rule set, no
global faults), of a prediction that exists, within the rate limit. Anything else goes
on to Flask before the lane has counted, journaled or answered anything, so every error,
scenario and fault keeps one implementation; the lane may have read the store and the
rules by then, nothing more. A check or read that raises goes on to Flask too, which
does it again and answers the error as always (on a data directory a read does not wait
on writers: SQLite in WAL mode). On Redis, where a failed read can take the store's
whole timeout, the lane answers only polls of records this process holds a copy of
(ended predictions, :class:`~mock_server.domain.store.LocalCopies`), read without a
round trip; and when rate limits are counted in Redis it answers none. Under enforced
rate limits, a poll past the limit is read before the route refuses it.

``contract_tests/http/test_quick_poll.py`` checks that both lanes answer alike: same
status, headers and body, the same journal entry, each counted once in the metrics
and against the token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, cast

from flask import Flask

from mock_server.contract.problems import Problem
from mock_server.domain.ratelimit import MemoryRates
from mock_server.domain.store import LocalCopies
from mock_server.http import gate
from mock_server.http.api import poll_body
from mock_server.http.context import EXTENSION, PREFIXES, MockState, check_token, links_of
from mock_server.storage.replicas import Replicas

__all__ = ["QuickPolls", "install"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: A poll's path under either mount of the API; its id shaped like Replicate's.
_POLL: Final = re.compile(
    "(?:" + "|".join(re.escape(prefix) for prefix in PREFIXES.values()) + ")"
    r"/predictions/([0-9a-z]{1,64})"
)
#: What a plain poll does not carry (a body, an upgrade): Flask answers those.
_NOT_PLAIN: Final = ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "HTTP_UPGRADE")
_STATUS: Final = "200 OK"
_JSON: Final = ("Content-Type", "application/json")


def install(app: Flask) -> None:
    """Put the quick lane in front of ``app`` (a WSGI middleware, inside any other)."""
    app.wsgi_app = QuickPolls(app, app.wsgi_app)  # type: ignore[method-assign]


class QuickPolls:
    """WSGI middleware answering plain polls itself and passing the rest to ``inner``."""

    def __init__(self, app: Flask, inner: WSGIApp) -> None:
        self.inner = inner
        """Where requests the lane does not answer go (Flask's own ``wsgi_app``)."""
        self._extensions = app.extensions  # the state is looked up per request, as Flask does
        self._config = app.config

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            answered = self._answer(environ)
            if answered is not None:
                headers, body = answered
                start_response(_STATUS, headers)
                return (body,)
        return self.inner(environ, start_response)

    def _answer(self, environ: dict[str, Any]) -> tuple[list[tuple[str, str]], bytes] | None:
        """The headers and body of the answer to a plain poll; None for any other request
        (nothing counted, journaled or answered then)."""
        found = _POLL.fullmatch(environ.get("PATH_INFO", ""))
        if found is None or environ.get("SCRIPT_NAME") or any(k in environ for k in _NOT_PLAIN):
            return None
        if self._config.get("TRUSTED_HOSTS") is not None:  # Flask checks the host first
            return None
        started = time.perf_counter()
        prediction_id = found[1]
        try:
            mock: MockState = self._extensions[EXTENSION]
            if not isinstance(mock.rates, MemoryRates):  # counted in Redis: a round trip
                return None
            now = mock.service.clock.now()
            read = _read(mock, environ, prediction_id)
            if read is None:
                return None
            token, body = read
            quota = gate.count(mock, token, "get", now)  # the one step that changes state
        except Exception as error:  # the route does it again and answers the error
            log.debug("quick poll of %s failed (%r); the route answers it", prediction_id, error)
            return None
        if not quota.allowed and mock.enforce_rate_limits:
            return None
        headers = [_JSON, ("Content-Length", str(len(body)))]
        headers.extend(quota.header_pairs())
        observer = mock.observer
        if observer is not None:  # never raises: it logs its own failures
            gate.observe(
                observer, environ, started, now, 200, "get", prediction_id, None, headers, [body]
            )
        return headers, body


def _read(mock: MockState, environ: dict[str, Any], prediction_id: str) -> tuple[str, bytes] | None:
    """The token and the poll's body, if the request is plain up to its rate limit; else
    None. Counts, journals and answers nothing.

    Raises:
        what a screen's check or the store's read raises.
    """
    try:
        token = check_token(
            environ.get("HTTP_AUTHORIZATION"), mock.token, any_token=mock.accept_any_token
        )
    except Problem:
        return None
    for screen in mock.screens:
        idle = getattr(screen, "idle", None)
        if idle is None or not idle(environ):
            return None
    here, routable = links_of(environ)
    if not routable:
        return None
    on_redis = isinstance(mock.replicas, Replicas)  # there, only what needs no round trip
    if on_redis and not cast(LocalCopies, mock.service.store).holds(prediction_id):
        return None
    body = poll_body(mock, prediction_id, here)
    return None if body is None else (token, body)
