"""Scenarios and faults over HTTP: ``X-Mock-*`` headers, ``/_mock/rules`` and global faults.

Every predictions API request, once authenticated, goes through the screen that
:func:`init_app` gives the API (:attr:`mock_server.http.api.MockState.screens`), which
picks its outcome, fault and latency: a header wins over a rule, a rule over the
global ``--faults`` rates. ``/_mock``, ``/openapi.yaml``, pages and files are
never affected.

Headers (never ``Prefer``, which the real API uses):
``X-Mock-Scenario`` (create only: one of :data:`~mock_server.domain.scenarios.OUTCOMES`),
``X-Mock-Error`` (with ``fail``), ``X-Mock-Slow-Factor`` (with ``slow``),
``X-Mock-Fault`` (``429``, ``402``, ``500``, ``503``, ``drop`` or ``none``),
``X-Mock-Retry-After`` (seconds, with ``429``), ``X-Mock-Latency-Ms``.

``POST /_mock/rules`` adds a rule (201), ``GET /_mock/rules`` lists them,
``DELETE /_mock/rules/<id>`` and ``DELETE /_mock/rules`` remove them (204).
"""

from __future__ import annotations

import errno
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from flask import Blueprint, Flask, Response, current_app, g, request
from jsonschema import Draft202012Validator, FormatChecker

from mock_server.config import Settings
from mock_server.contract import problems
from mock_server.contract.spec import SpecNotFoundError, load_spec
from mock_server.contract.validation import describe_errors
from mock_server.domain.faults import Fault, FaultDice, FaultError, parse_fault, parse_rates
from mock_server.domain.scenarios import (
    Outcome,
    RuleBook,
    ScenarioError,
    parse_latency,
    parse_outcome,
)
from mock_server.domain.service import PredictionService
from mock_server.http import admin, api

__all__ = ["EXTENSION", "ScenarioState", "apply", "bp", "init_app", "may_delay"]

EXTENSION: Final = "imagen_mock_scenarios"
#: The headers that ask for something (the other ``X-Mock-*`` headers only refine these).
_MOCK_HEADERS: Final = frozenset(
    {"HTTP_X_MOCK_SCENARIO", "HTTP_X_MOCK_FAULT", "HTTP_X_MOCK_LATENCY_MS"}
)
_ROUTES: Final = {
    "create_prediction": "create",
    "get_prediction": "get",
    "cancel_prediction": "cancel",
    "list_predictions": "list",
    "webhook_secret": "secret",
}

log = logging.getLogger(__name__)
bp = Blueprint("admin_scenarios", __name__, url_prefix="/_mock")


@dataclass(frozen=True, slots=True)
class ScenarioState:
    """Rules and global faults of one app, in ``app.extensions[EXTENSION]``."""

    rules: RuleBook
    dice: FaultDice | None
    rule_schema: Draft202012Validator
    """``RuleInput`` from ``openapi/admin.yaml``, compiled once: the admin spec rules."""


def init_app(app: Flask) -> None:
    """Set up rules and the global faults of the ``faults`` and ``seed`` settings, the admin
    routes and the API screen that applies them (the app's
    :class:`~mock_server.http.api.MockState` must be in place).

    Raises:
        FaultError: if the ``faults`` setting is not a valid ``KIND:RATE,...`` list.
    """
    settings: Settings = app.config["MOCK_SETTINGS"]
    rates = parse_rates(settings.faults)
    seed = secrets.randbelow(2**31) if settings.seed is None else settings.seed
    dice = FaultDice(rates, seed) if rates else None
    if dice is not None:
        shown = ",".join(f"{fault.kind}:{share:g}" for fault, share in rates)
        log.warning("imagen-mock: global faults %s, seed %d", shown, seed)
    found = admin.admin_spec_path()
    if found is None:
        raise SpecNotFoundError(f"admin.yaml not found in {list(admin.ADMIN_SPEC_CANDIDATES)}")
    admin_spec = load_spec(found)
    rule_schema = admin_spec["components"]["schemas"]["RuleInput"]
    state = ScenarioState(
        RuleBook(), dice, Draft202012Validator(rule_schema, format_checker=FormatChecker())
    )
    app.extensions[EXTENSION] = state
    app.register_blueprint(bp)

    def screen(environ: dict[str, Any]) -> Response | None:
        if not state.rules and state.dice is None and _MOCK_HEADERS.isdisjoint(environ):
            return None  # nothing to apply: the common case, kept cheap
        return apply()

    api.state(app).screens.append(screen)


def _scenarios() -> ScenarioState:
    state: ScenarioState = current_app.extensions[EXTENSION]
    return state


def may_delay(app: Flask) -> bool:
    """Whether ``app``'s rules may hold a request back (a rule's ``latency_ms``): true
    while any rule is set. A server runs such requests where waiting blocks no others."""
    state: ScenarioState = app.extensions[EXTENSION]
    return bool(state.rules)


def _service() -> PredictionService:
    return api.state().service


def apply() -> Response | None:
    """Pick this authenticated API request's outcome (kept in ``g.mock_outcome``),
    latency and fault.

    Returns a response that drops the connection for a ``drop`` fault, else None.

    Raises:
        Problem: 422 for an invalid ``X-Mock-*`` header, or the fault.
    """
    state = _scenarios()
    route = _ROUTES.get((request.endpoint or "").rpartition(".")[2])
    if route is None:
        return None
    outcome, fault, latency = _from_headers(route)
    rule = state.rules.take(route, lambda: _prompt(route)) if state.rules else None
    rolled = state.dice.roll() if state.dice is not None else None
    if rule is not None:
        outcome = outcome or rule.outcome
        latency = rule.latency_ms if latency is None else latency
    if "X-Mock-Fault" not in request.headers:
        fault = rule.fault if rule is not None and rule.fault is not None else rolled
    g.mock_outcome = outcome if route == "create" else None
    if latency:
        _service().clock.sleep(latency / 1000)
    if fault is None:
        return None
    problem = fault.problem()
    if problem is not None:
        raise problem
    return _dropped()


def _from_headers(route: str) -> tuple[Outcome | None, Fault | None, int | None]:
    """Outcome, fault and latency asked for by ``X-Mock-*`` headers.

    Raises:
        Problem: 422 if one is invalid.
    """
    headers = request.headers
    try:
        outcome = None
        name = headers.get("X-Mock-Scenario")
        if name is not None and route == "create":
            factor = headers.get("X-Mock-Slow-Factor")
            outcome = parse_outcome(
                name.strip(),
                headers.get("X-Mock-Error"),
                None if factor is None else _number(factor),
                where="X-Mock-Scenario",
            )
        fault = None
        kind = headers.get("X-Mock-Fault")
        if kind is not None and kind.strip().lower() != "none":
            wait = headers.get("X-Mock-Retry-After")
            retry_after = None if wait is None else parse_latency(wait, where="X-Mock-Retry-After")
            fault = parse_fault(kind, retry_after, where="X-Mock-Fault")
        latency_text = headers.get("X-Mock-Latency-Ms")
        latency = (
            None if latency_text is None else parse_latency(latency_text, where="X-Mock-Latency-Ms")
        )
    except ScenarioError as exc:
        raise problems.validation_failed(exc.fields, title="Invalid request header") from None
    except FaultError as exc:
        raise problems.validation_failed([exc.field], title="Invalid request header") from None
    return outcome, fault, latency


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0  # rejected by parse_outcome's range check


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
        record = _service().get(str(prediction_id))
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


@bp.before_request
def authenticate() -> None:
    """The predictions API's Bearer rule.

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one.
    """
    api.authenticate()


@bp.post("/rules")
def add_rule() -> Response:
    """Add a rule; 201 with the rule and its id.

    Raises:
        Problem: 415 not JSON, 400 unparsable, 422 not a valid rule.
    """
    doc = api.read_json()
    errors = describe_errors(_scenarios().rule_schema.iter_errors(doc))
    if errors:
        raise problems.validation_failed(errors, title="Invalid rule")
    try:
        rule = _scenarios().rules.add(doc)
    except ScenarioError as exc:
        raise problems.validation_failed(exc.fields) from None
    location = f"{api.links().root}/_mock/rules/{rule.id}"
    return api.json_response(rule.as_dict(), 201, {"Location": location})


@bp.get("/rules")
def list_rules() -> Response:
    """Every rule, oldest first, with how often each has applied."""
    return api.json_response({"results": _scenarios().rules.all()})


@bp.delete("/rules/<rule_id>")
def delete_rule(rule_id: str) -> Response:
    """Remove one rule (204).

    Raises:
        Problem: 404 if there is no such rule.
    """
    if not _scenarios().rules.delete(rule_id):
        raise problems.not_found(f"Rule {rule_id}")
    return Response(status=204)


@bp.delete("/rules")
def clear_rules() -> Response:
    """Remove every rule (204)."""
    _scenarios().rules.clear()
    return Response(status=204)
