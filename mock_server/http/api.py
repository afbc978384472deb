"""The predictions API blueprint, mounted at ``/v1`` and ``/replicate/v1``.

Each handler is the same short pipeline: authenticate, validate against the
spec, call the service, render the prediction with URLs of this server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast
from urllib.parse import urlencode

from flask import Blueprint, Flask, Request, Response, current_app, g, request
from werkzeug.local import LocalProxy

from mock_server.contract import problems
from mock_server.contract.validation import RequestValidator
from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import Links, PredictionRecord
from mock_server.domain.service import InvalidCursorError, PredictionService, encode_cursor
from mock_server.storage.body_cache import BodyCache
from mock_server.storage.replicas import Replicas
from mock_server.webhooks.delivery import WebhookDispatcher

__all__ = [
    "EXTENSION",
    "PREFIXES",
    "MockState",
    "Screen",
    "bp",
    "current_request",
    "json_response",
    "links",
    "read_json",
    "state",
]

#: Where the app keeps its :class:`MockState`.
EXTENSION: Final = "imagen_mock"
#: Blueprint name -> URL prefix; the same API answers under each.
PREFIXES: Final = {"v1": "/v1", "replicate": "/replicate/v1"}

bp = Blueprint("api", __name__)

#: A check run on every API request once it is authenticated, given its WSGI environ:
#: it may answer in the handler's place, raise a Problem, or return None to go on.
Screen = Callable[[dict[str, Any]], Response | None]


@dataclass(frozen=True, slots=True)
class MockState:
    """What the handlers share, kept in ``app.extensions[EXTENSION]``."""

    validator: RequestValidator
    service: PredictionService
    token: str | None
    spec_text: str
    webhook_secret: str
    """``whsec_`` + base64 key that signs webhook deliveries; stable for an instance."""
    webhooks: WebhookDispatcher | None = None
    """Sends and logs webhook deliveries (None: webhooks are accepted but not sent)."""
    bodies: BodyCache = field(default_factory=BodyCache)
    """Rendered bodies of polled predictions, reused while they cannot change."""
    replicas: Replicas | None = None
    """The other replicas sharing this one's Redis (None: predictions live in memory)."""
    screens: list[Screen] = field(default_factory=list)
    """Run in order on every API request after authentication (scenarios, faults)."""


def state(app: Flask | None = None) -> MockState:
    """The mock's shared state: of ``app``, or of the app handling the current request."""
    owner = app or cast("LocalProxy[Flask]", current_app)._get_current_object()
    found: MockState = owner.extensions[EXTENSION]
    return found


def current_request() -> Request:
    """The request being handled, taken out of Flask's proxy once.

    Every attribute read through ``flask.request`` looks the request up again (about
    0.8 µs); the hot paths read the request itself.
    """
    return cast("LocalProxy[Request]", request)._get_current_object()


#: Links by what they are built from; cleared when it grows past this many entries.
_LINKS_CACHE_SIZE: Final = 256
_links_cache: dict[tuple[Any, ...], Links] = {}
_RESELLER_PATH: Final = PREFIXES["replicate"] + "/"


def links() -> Links:
    """URL prefixes of this server as the current request reached it (``/v1`` outside the API)."""
    req = current_request()
    environ = req.environ
    key = (
        environ.get("wsgi.url_scheme"),
        environ.get("HTTP_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("SERVER_PORT"),
        environ.get("SCRIPT_NAME"),
        # Only the API mounted under /replicate/v1 has paths starting so: the blueprint,
        # read from the path without going through the request's blueprint property.
        environ.get("PATH_INFO", "").startswith(_RESELLER_PATH),
    )
    found = _links_cache.get(key)
    if found is None:
        # Built from scheme and Host directly: request.host_url re-encodes the whole URL.
        root = f"{req.scheme}://{req.host}{req.script_root}"
        found = Links(api=root + (PREFIXES["replicate"] if key[-1] else "/v1"), root=root)
        if len(_links_cache) >= _LINKS_CACHE_SIZE:
            _links_cache.clear()
        _links_cache[key] = found
    return found


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response, as every JSON answer of the mock is written."""
    return Response(_dump(doc), status=status, mimetype="application/json", headers=headers)


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _render_body(record: PredictionRecord, now: float, here: Links) -> bytes:
    return _dump(lifecycle.render(record, now, here))


def _show(record: PredictionRecord, *, as_created: bool = False) -> dict[str, Any]:
    now = state().service.clock.now()
    return lifecycle.render(record, now, links(), as_created=as_created)


@bp.before_request
def admit() -> Response | None:
    """Authenticate an API request, then run the app's screens on it.

    Returns the first screen's answer, if one answers in the handler's place.

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one; or
            whatever a screen raises.
    """
    environ = current_request().environ
    mock = state()
    _check_token(environ.get("HTTP_AUTHORIZATION"), mock.token)
    for screen in mock.screens:
        answer = screen(environ)
        if answer is not None:
            return answer
    return None


def authenticate() -> None:
    """Reject the current request unless it has an acceptable Bearer token.

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one.
    """
    _check_token(current_request().environ.get("HTTP_AUTHORIZATION"), state().token)


def _check_token(header: str | None, pinned: str | None) -> None:
    """Raises: Problem: 401 unless ``header`` is ``Bearer <token>`` (the pinned token, if set)."""
    if not header:
        raise problems.missing_token()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise problems.invalid_token()
    if pinned is not None and token != pinned:
        raise problems.invalid_token()


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
    outcome = g.get("mock_outcome")  # set by admin_scenarios' screen (X-Mock-*, rules)
    service = mock.service
    if wait is None:

        def answer(record: PredictionRecord) -> Response:
            shown = lifecycle.render(record, service.clock.now(), here, as_created=True)
            return json_response(shown, 201, {"Location": f"{here.api}/predictions/{record.id}"})

        # Rendered while a shared store writes the record, sent once it is stored.
        return service.create_answered(
            answer, body["input"], extra, cancel_after=cancel_after, outcome=outcome
        )
    record = service.create(body["input"], extra, cancel_after=cancel_after, outcome=outcome)
    headers = {"Location": f"{here.api}/predictions/{record.id}"}
    try:
        record, at = service.wait_at(record.id, wait)
    except KeyError:  # forgotten while held: a /_mock/reset, or its records' time ran out
        raise problems.not_found(f"Prediction {record.id}") from None
    headers["Preference-Applied"] = "wait"
    ended = lifecycle.is_terminal(record, at)
    return json_response(lifecycle.render(record, at, here), 201 if ended else 202, headers)


@bp.get("/predictions/<prediction_id>")
def get_prediction(prediction_id: str) -> Response:
    """The prediction now.

    Raises:
        Problem: 404 if there is no such prediction.
    """
    mock = state()
    service = mock.service
    now = service.clock.now()  # before the read, so what ended stays ended (Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    body = mock.bodies.body(record, now, links(), _render_body)
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
            "results": [lifecycle.render(record, now, here) for record in page.records],
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


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def read_json() -> Any:
    """The request body as JSON.

    Raises:
        Problem: 415 if it is not declared as JSON, 400 if it does not parse.
    """
    req = current_request()
    if req.mimetype != "application/json":
        raise problems.unsupported_media_type(req.content_type)
    raw = req.get_data(cache=False)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise problems.bad_json("it is not UTF-8 text") from None
    except RecursionError:
        raise problems.bad_json("it is nested too deeply") from None
    except ValueError as exc:
        raise problems.bad_json(str(exc)) from None
