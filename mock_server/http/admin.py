"""The mock's own admin API under ``/_mock/``: not part of Replicate's API or its spec.

It takes the same Bearer token as the predictions API (a Replicate-shaped token, or the
pinned one), so a mock started with ``--token`` keeps its state private. It is described
by ``openapi/admin.yaml``, served (without a token) at ``GET /_mock/openapi.yaml``, and
its request bodies and queries are checked against that document (the app state's
``admin`` validator).

``GET /_mock/clock``
    ``{"now": "<RFC 3339>", "offset_seconds": N}``: the mock's time and how far it
    has been moved.
``POST /_mock/clock``
    ``{"advance_seconds": N}`` (0 < N <= one year) moves the clock forward; held
    ``Prefer: wait`` requests, streams and webhook deliveries see the jump at once.
    Answers like ``GET``.
``POST /_mock/reset``
    Forgets every prediction, webhook delivery (logged, pending and retried),
    scenario rule and journaled request (204).
``GET /_mock/webhooks/deliveries``
    Every webhook delivery attempt, oldest first, as ``{"results": [...]}``; each
    has ``prediction_id``, ``event``, ``webhook_id``, ``url``, ``attempt``,
    ``attempted_at``, ``delivered``, ``status_code``, ``error``, ``retry_at`` and
    ``request`` (``headers`` and the exact ``body`` that was signed). Query
    ``prediction_id`` and ``event`` narrow the list.
``DELETE /_mock/webhooks/deliveries``
    Empties the log (204). Pending deliveries and retries are not affected.

With ``--redis-url``, a clock move and a reset reach every replica before they are
answered (see :mod:`mock_server.storage.replicas` and :func:`follow_replicas`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from mock_server.contract import problems
from mock_server.contract.problems import InvalidField, Problem
from mock_server.domain import rendering
from mock_server.domain.clock import AdvanceableClock, check_step
from mock_server.http import context
from mock_server.http.context import MockState, json_response, read_json, state
from mock_server.http.context import authenticate as _authenticate

__all__ = ["bp", "follow_replicas"]

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/_mock")


@bp.before_request
def authenticate() -> None:
    """The predictions API's Bearer rule (the admin spec itself is public).

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one.
    """
    if request.endpoint != "admin.admin_spec":
        _authenticate()


@bp.get("/openapi.yaml")
def admin_spec() -> Response:
    """The admin API's OpenAPI document (the one its requests are checked against)."""
    return Response(state().admin_spec_text, mimetype="application/yaml")


def _clock_doc() -> dict[str, Any]:
    clock = state().service.clock
    offset = clock.offset_seconds if isinstance(clock, AdvanceableClock) else 0.0
    return {"now": rendering.format_time(clock.now()), "offset_seconds": offset}


@bp.get("/clock")
def get_clock() -> Response:
    """The mock's time and how far it has been moved."""
    return json_response(_clock_doc())


@bp.post("/clock")
def advance_clock() -> Response:
    """Move the clock forward by ``advance_seconds``.

    Raises:
        Problem: 415 not JSON, 400 unparsable, 422 not a positive number of seconds up
            to a year (or past the clock's total limit), 409 if this clock cannot move.
    """
    body = read_json()
    mock = state()
    errors = mock.admin.operation("advanceClock").body_errors(body)
    if errors:
        raise problems.validation_failed(errors, title="Invalid clock change")
    clock = mock.service.clock
    if not isinstance(clock, AdvanceableClock):
        raise Problem(409, "This mock runs on a clock that cannot be moved.", "Conflict")
    seconds = float(body["advance_seconds"])
    replicas = mock.replicas
    try:
        if replicas is None:
            clock.advance(seconds)
        else:  # the shared total, moved atomically in Redis, then here
            check_step(replicas.clock_offset(), seconds)
            clock.advance_to(replicas.advance_clock(seconds))
    except ValueError as exc:
        field = InvalidField("maximum", "advance_seconds", str(exc))
        raise problems.validation_failed([field], title="Invalid clock change") from None
    return json_response(_clock_doc())


@bp.post("/reset")
def reset() -> Response:
    """Forget every prediction, webhook delivery, scenario rule and rate-limit count (on
    every replica)."""
    mock = state()
    mock.service.clear()
    mock.rates.clear()  # shared on Redis, so once for every replica
    _forget_local(mock)
    context.observer(current_app).forget()  # the journal (shared on Redis) and endings followed
    if mock.replicas is not None:
        mock.replicas.announce_reset()
    return Response(status=204)


def _forget_local(mock: MockState) -> None:
    """Drop what this process keeps besides the store: bodies, deliveries, rules."""
    mock.bodies.clear()
    if mock.webhooks is not None:
        mock.webhooks.reset()
    mock.rules.clear()


def follow_replicas(app: Flask) -> None:
    """Apply the other replicas' announcements (cancel, reset, clock move, journal flush)
    to ``app``.

    Raises:
        redis.RedisError, TimeoutError: if Redis cannot be reached.
    """
    mock = state(app)
    replicas = mock.replicas
    if replicas is None:
        return
    service = mock.service

    def handle(event: dict[str, Any]) -> None:
        try:
            act(event)
        finally:  # the announcer waits for this: a failure here must not cost it 2 s
            replicas.acknowledge(event)

    def act(event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == "changed":
            prediction_id = str(event.get("id"))
            replicas.store.forget(prediction_id)
            if service.changes is not None:
                service.changes.notify()
            record = service.get(prediction_id)
            if record is not None and mock.webhooks is not None:
                mock.webhooks.changed(record)
        elif kind in {"reset", "resync"}:  # resync: events may have been missed
            replicas.store.forget_all()
            if service.changes is not None:
                service.changes.notify()
            if kind == "reset":
                _forget_local(mock)
            else:
                mock.bodies.clear()
                _catch_up(service.clock, replicas.clock_offset())
        elif kind == "clock":
            _catch_up(service.clock, event.get("offset_seconds"))
        elif kind == "flush":  # another process is about to read the journal or metrics
            if mock.observer is not None:
                mock.observer.flush()
        else:
            log.warning("ignoring an unknown announcement %r", kind)

    replicas.listen(handle)  # first, so that no clock move falls between the two
    _catch_up(service.clock, replicas.clock_offset())


def _catch_up(clock: object, offset: object) -> None:
    """Move an adjustable clock forward to the total ``offset`` (never back)."""
    if not isinstance(clock, AdvanceableClock) or not isinstance(offset, int | float):
        return
    try:
        clock.advance_to(float(offset))
    except ValueError:
        log.warning("cannot move the clock to offset %s", offset)


@bp.get("/webhooks/deliveries")
def list_deliveries() -> Response:
    """The logged delivery attempts, oldest first.

    Raises:
        Problem: 422 if the query breaks the admin spec (``event`` not a webhook event).
    """
    mock = state()
    args = request.args
    errors = mock.admin.operation("listWebhookDeliveries").parameter_errors("query", args)
    if errors:
        raise problems.validation_failed(errors, title="Invalid query")
    webhooks = mock.webhooks
    event = args.get("event")
    prediction_id = args.get("prediction_id")
    attempts = [] if webhooks is None else webhooks.attempts(prediction_id, event)
    return json_response({"results": [attempt.as_dict() for attempt in attempts]})


@bp.delete("/webhooks/deliveries")
def clear_deliveries() -> Response:
    """Empty the delivery log."""
    webhooks = state().webhooks
    if webhooks is not None:
        webhooks.clear()
    return Response(status=204)
