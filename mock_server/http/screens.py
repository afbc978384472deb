"""The screen that gives predictions API requests their scenario, fault and latency.

Every predictions API request, once authenticated, goes through the screen that
:func:`screen_for` makes (one of :attr:`~mock_server.http.context.MockState.screens`),
which picks its outcome, fault and latency: an ``X-Mock-*`` header (read by
:mod:`mock_server.domain.mock_headers`) wins over a rule (``/_mock/rules``), a rule
over the global ``--faults`` rates.
``/_mock``, ``/openapi.yaml``, pages and files are never affected.
"""

from __future__ import annotations

import errno
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request

from mock_server.contract import problems
from mock_server.domain.faults import FaultDice, parse_rates
from mock_server.domain.mock_headers import TRIGGERS, read_headers
from mock_server.domain.scenarios import RuleBook, ScenarioError
from mock_server.http.context import EXTENSION, Screen, state
from mock_server.http.gate import ROUTE_OF

__all__ = ["fault_dice", "may_delay", "screen_for"]

log = logging.getLogger(__name__)


def fault_dice(faults: str, seed: int | None) -> FaultDice | None:
    """The global faults of a ``KIND:RATE,...`` list (None when empty), seeded with
    ``seed`` (a random one when None, logged with the rates).

    Raises:
        FaultError: if ``faults`` is not a valid list.
    """
    rates = parse_rates(faults)
    if not rates:
        return None
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    shown = ",".join(f"{fault.kind}:{share:g}" for fault, share in rates)
    log.warning("imagen-mock: global faults %s, seed %d", shown, seed)
    return FaultDice(rates, seed)


def may_delay(app: Flask) -> bool:
    """Whether ``app``'s rules may hold a request back (a rule's ``latency_ms``): true
    while any rule is set. A server runs such requests where waiting blocks no others."""
    return EXTENSION in app.extensions and bool(state(app).rules)


def screen_for(rules: RuleBook, dice: FaultDice | None) -> Screen:
    """The screen applying ``X-Mock-*`` headers, ``rules`` and the global faults of ``dice``."""
    return _ScenarioScreen(rules, dice)


class _ScenarioScreen:
    """The screen of :func:`screen_for`; :meth:`idle` tells, without side effects,
    that it would do nothing (what :mod:`~mock_server.http.quick_poll` asks first)."""

    __slots__ = ("_dice", "_rules")

    def __init__(self, rules: RuleBook, dice: FaultDice | None) -> None:
        self._rules = rules
        self._dice = dice

    def idle(self, environ: dict[str, Any]) -> bool:
        """Whether this request has nothing to apply: none of the ``X-Mock-*`` headers
        that ask for something (:data:`~mock_server.domain.mock_headers.TRIGGERS`), no
        rule set, no global faults."""
        return not self._rules and self._dice is None and TRIGGERS.isdisjoint(environ)

    def __call__(self, environ: dict[str, Any]) -> Response | None:
        if self.idle(environ):
            return None  # nothing to apply: the common case, kept cheap
        return _apply(self._rules, self._dice)


def _apply(rules: RuleBook, dice: FaultDice | None) -> Response | None:
    """Pick this authenticated API request's outcome (kept in ``g.mock_outcome``),
    latency and fault.

    Returns a response that drops the connection for a ``drop`` fault, else None.

    Raises:
        Problem: 422 for an invalid ``X-Mock-*`` header, or the fault.
    """
    route = ROUTE_OF.get((request.endpoint or "").rpartition(".")[2])
    if route is None:
        return None
    try:
        asked = read_headers(request.headers.get, route)
    except ScenarioError as exc:
        raise problems.validation_failed(exc.fields, title="Invalid request header") from None
    outcome, fault, latency = asked.outcome, asked.fault, asked.latency_ms
    rule = rules.take(route, lambda: _prompt(route)) if rules else None
    rolled = dice.roll() if dice is not None else None
    if rule is not None:
        outcome = outcome or rule.outcome
        latency = rule.latency_ms if latency is None else latency
    if not asked.fault_named:
        fault = rule.fault if rule is not None and rule.fault is not None else rolled
    g.mock_outcome = outcome if route == "create" else None
    if latency:
        service = state().service
        if service.changes is None:  # a fake clock: its sleep moves time
            service.clock.sleep(latency / 1000)
        else:  # woken early, and answered, when the server stops
            service.changes.hold(service.clock, latency / 1000)
    if fault is None:
        return None
    problem = fault.problem()
    if problem is not None:
        raise problem
    return _dropped()


def _prompt(route: str) -> str | None:
    """The prompt of the prediction this request creates or names, if it has one."""
    if route == "create":
        if request.mimetype != "application/json":
            return None
        try:
            body = json.loads(request.get_data(cache=True))
        except (ValueError, RecursionError):
            return None
        input_ = body.get("input") if isinstance(body, dict) else None
        prompt = input_.get("prompt") if isinstance(input_, dict) else None
    else:
        prediction_id = (request.view_args or {}).get("prediction_id")
        record = state().service.get(str(prediction_id))
        prompt = None if record is None else record.input.get("prompt")
    return prompt if isinstance(prompt, str) else None


def _dropped() -> Response:
    """A response cut off by a lost connection.

    The headers promise a body (``Content-Length``) that never comes: the body's first
    read raises, and the server closes the connection, before or just after it has sent
    the headers, so clients see a transport error (httpx: ``RemoteProtocolError``). A
    WSGI app cannot close the connection itself; this is the earliest it can make the
    server do so.
    """
    response = Response(_broken(), mimetype="application/json")
    response.headers["Content-Length"] = "64"
    return response


def _broken() -> Iterator[bytes]:
    """A body whose first read raises ``ConnectionAbortedError``."""
    yield from ()
    raise ConnectionAbortedError(errno.ECONNABORTED, "connection dropped by the mock (fault: drop)")
