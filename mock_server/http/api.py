"""The predictions API blueprint, mounted at ``/v1`` and ``/replicate/v1``.

Each handler is the same short pipeline: validate against the spec, call the
service, render the prediction with URLs of this server. Every request has passed
the gate by then (:mod:`mock_server.http.gate`: token, rate limit, screens).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, g, request

from mock_server.contract import problems
from mock_server.domain import lifecycle, rendering
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.service import InvalidCursorError, encode_cursor
from mock_server.http import held
from mock_server.http.context import (
    MockState,
    current_request,
    dump,
    json_response,
    links,
    read_json,
    state,
)

__all__ = ["bp", "poll_body"]

bp = Blueprint("api", __name__)

T = TypeVar("T")


def poll_body(mock: MockState, prediction_id: str, here: Links) -> bytes | None:
    """The body answering a poll of the prediction ``prediction_id`` now, with URLs under
    ``here``; None if there is no such prediction. What both the route below and
    :mod:`~mock_server.http.quick_poll` answer."""
    service = mock.service
    now = service.clock.now()  # before the read, so what ended stays ended (Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        return None
    shape = mock.shape
    return mock.bodies.body(
        record,
        now,
        here,
        lambda record, now, here: dump(rendering.render(record, now, here, shape=shape)),
    )


def _show(record: PredictionRecord, *, as_created: bool = False) -> dict[str, Any]:
    mock = state()
    now = mock.service.clock.now()
    return rendering.render(record, now, links(), as_created=as_created, shape=mock.shape)


@bp.post("/models/<model_owner>/<model_name>/predictions")
def create_prediction(model_owner: str, model_name: str) -> Response:
    """Create a prediction, holding the request under ``Prefer: wait``.

    Raises:
        Problem: 404 unknown model, 415 not JSON, 400 unparsable, 422 invalid.
    """
    mock = state()
    validator = mock.validator
    if model_owner not in validator.model_owners or model_name not in validator.model_names:
        raise problems.not_found(f"Model {model_owner}/{model_name}")
    environ = current_request().environ  # raw headers: no Headers view for two lookups
    wait, header_errors = validator.prefer_wait(environ.get("HTTP_PREFER"))
    cancel_after, deadline_errors = validator.cancel_after(environ.get("HTTP_CANCEL_AFTER"))
    header_errors += deadline_errors
    if header_errors:
        raise problems.validation_failed(header_errors, title="Invalid request header")
    body = read_json()
    errors = validator.create_body(body)
    if errors:
        raise problems.validation_failed(errors)
    here = links()
    extra = {key: body[key] for key in ("webhook", "webhook_events_filter") if key in body}
    if "webhook" in extra:
        extra["links"] = here  # webhook bodies carry this server's URLs
    outcome = g.get("mock_outcome")  # set by the screens module's screen (X-Mock-*, rules)
    service = mock.service
    shape = mock.shape

    def located(record: PredictionRecord) -> dict[str, str]:
        g.created_prediction_id = record.id  # what the journal names this request by
        if not mock.location_header:  # no recorded real create carries one
            return {}
        return {"Location": f"{here.api}/predictions/{record.id}"}

    if wait is None:

        def answer(record: PredictionRecord) -> Response:
            shown = rendering.render(
                record, service.clock.now(), here, as_created=True, shape=shape
            )
            return json_response(shown, 201, located(record))

        # Rendered while a shared store writes the record, sent once it is stored.
        return service.create_answered(
            answer, body["input"], extra, cancel_after=cancel_after, outcome=outcome
        )
    record = service.create(body["input"], extra, cancel_after=cancel_after, outcome=outcome)
    headers = located(record)
    # The preference as the request put it (``wait``, ``wait=10``), as Replicate echoes it.
    headers["Preference-Applied"] = str(environ.get("HTTP_PREFER", "wait")).strip()
    prediction_id = record.id

    def waited(outcome: tuple[PredictionRecord, float]) -> Response:
        record, at = outcome
        status = 201 if lifecycle.is_terminal(record, at) else mock.wait_timeout_status
        return json_response(rendering.render(record, at, here, shape=shape), status, headers)

    if held.can_answer_later(environ) and service.changes is not None:
        # Served by the bridge: the wait sleeps on its event loop, holding no thread.
        return held.later(
            lambda run_blocking: _forgotten_is_gone(
                service.wait_at_async(prediction_id, wait, run_blocking), prediction_id
            ),
            waited,
        )
    try:
        return waited(service.wait_at(prediction_id, wait))
    except KeyError:  # forgotten while held: a /_mock/reset, or its records' time ran out
        raise problems.not_found(f"Prediction {prediction_id}") from None


async def _forgotten_is_gone(waiting: Awaitable[T], prediction_id: str) -> T:
    """``waiting``'s result; a prediction forgotten while held (a ``/_mock/reset``, or
    its records' time ran out) is the 404 problem."""
    try:
        return await waiting
    except KeyError:
        raise problems.not_found(f"Prediction {prediction_id}") from None


@bp.get("/predictions/<prediction_id>")
def get_prediction(prediction_id: str) -> Response:
    """The prediction now.

    Raises:
        Problem: 404 if there is no such prediction.
    """
    body = poll_body(state(), prediction_id, links())
    if body is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    return Response(body, content_type="application/json")


@bp.post("/predictions/<prediction_id>/cancel")
def cancel_prediction(prediction_id: str) -> Response:
    """Cancel the prediction if it is still running.

    Raises:
        Problem: 404 if there is no such prediction.
    """
    record = state().service.cancel(prediction_id)
    if record is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    return json_response(_show(record))


@bp.get("/predictions")
def list_predictions() -> Response:
    """A page of predictions, newest first, with absolute ``next``/``previous`` URLs.

    Raises:
        Problem: 422 for a malformed date-time, 404 for a cursor this server did not make.
    """
    mock = state()
    args = request.args
    errors = mock.validator.list_query(args)
    if errors:
        raise problems.validation_failed(errors, title="Invalid query")
    after = _timestamp(args.get("created_after"))
    before = _timestamp(args.get("created_before"))
    try:
        page, now = mock.service.page(args.get("cursor"), after, before)
    except InvalidCursorError:
        raise problems.invalid_cursor() from None
    here = links()
    kept = {key: args[key] for key in ("created_after", "created_before") if key in args}

    def page_url(cursor: str) -> str:
        return f"{here.api}/predictions?{urlencode({**kept, 'cursor': cursor})}"

    return json_response(
        {
            "next": page_url(encode_cursor(before=page.older)) if page.older is not None else None,
            "previous": page_url(encode_cursor(after=page.newer))
            if page.newer is not None
            else None,
            "results": [
                rendering.render(record, now, here, shape=mock.shape) for record in page.records
            ],
        }
    )


@bp.get("/webhooks/default/secret")
def webhook_secret() -> Response:
    """The secret that signs this instance's webhook deliveries."""
    return json_response({"key": state().webhook_secret})


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00")).timestamp()
