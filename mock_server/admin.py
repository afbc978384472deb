"""The mock's own admin API under ``/_mock/``: not part of Replicate's API or the spec.

It takes the same Bearer token as the predictions API (any non-empty token, or the
pinned one), so a mock started with ``--token`` keeps its delivery log private.

``GET /_mock/webhooks/deliveries``
    Every webhook delivery attempt, oldest first, as ``{"results": [...]}``; each
    has ``prediction_id``, ``event``, ``webhook_id``, ``url``, ``attempt``,
    ``attempted_at``, ``delivered``, ``status_code``, ``error``, ``retry_at`` and
    ``request`` (``headers`` and the exact ``body`` that was signed). Query
    ``prediction_id`` and ``event`` narrow the list.
``DELETE /_mock/webhooks/deliveries``
    Empties the log (204). Pending deliveries and retries are not affected.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, request

from mock_server import api, problems
from mock_server.api import MockState
from mock_server.problems import InvalidField
from mock_server.webhooks import EVENTS

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/_mock")


def _state() -> MockState:
    state: MockState = current_app.extensions["imagen_mock"]
    return state


@bp.before_request
def authenticate() -> None:
    """The predictions API's Bearer rule.

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one.
    """
    api.authenticate()


@bp.get("/webhooks/deliveries")
def list_deliveries() -> Response:
    """The logged delivery attempts, oldest first.

    Raises:
        Problem: 422 if ``event`` is not a webhook event.
    """
    event = request.args.get("event")
    if event is not None and event not in EVENTS:
        allowed = ", ".join(f'"{name}"' for name in EVENTS)
        field = InvalidField("enum", "event", f"event must be one of the following: {allowed}")
        raise problems.validation_failed([field], title="Invalid query")
    webhooks = _state().webhooks
    prediction_id = request.args.get("prediction_id")
    attempts = [] if webhooks is None else webhooks.attempts(prediction_id, event)
    body = json.dumps({"results": [attempt.as_dict() for attempt in attempts]}, ensure_ascii=False)
    return Response(body, mimetype="application/json")


@bp.delete("/webhooks/deliveries")
def clear_deliveries() -> Response:
    """Empty the delivery log."""
    webhooks = _state().webhooks
    if webhooks is not None:
        webhooks.clear()
    return Response(status=204)
