"""What every blueprint shares: the app's one state object, reached through
:func:`state`; the request being handled; this server's URLs; the Bearer rule; and JSON
in and out.

Blueprints import this module, never each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

from flask import Flask, Request, Response, current_app, request
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Request as WSGIRequest

from mock_server.contract import problems
from mock_server.contract.predictions import RequestValidator
from mock_server.contract.validation import DocumentValidator
from mock_server.domain.faults import FaultDice
from mock_server.domain.ratelimit import MemoryRates, RateCounter
from mock_server.domain.rendering import Links, Shape
from mock_server.domain.scenarios import RuleBook
from mock_server.domain.service import PredictionService
from mock_server.storage.body_cache import BodyCache
from mock_server.storage.peers import Peers
from mock_server.webhooks.delivery import WebhookDispatcher

if TYPE_CHECKING:
    from mock_server.http.admin_observer import Observer

__all__ = [
    "EXTENSION",
    "PREFIXES",
    "TOKEN_SHAPE",
    "MockState",
    "Screen",
    "authenticate",
    "check_token",
    "current_request",
    "dump",
    "json_response",
    "links",
    "links_of",
    "observer",
    "read_json",
    "state",
]

#: Where the app keeps its :class:`MockState`.
EXTENSION: Final = "imagen_mock"
#: Blueprint name -> URL prefix; the predictions API answers under each.
PREFIXES: Final = {"v1": "/v1", "replicate": "/replicate/v1"}

#: A check run on every API request once it is authenticated, given its WSGI environ:
#: it may answer in the handler's place, raise a Problem, or return None to go on. One
#: that can also tell, without side effects, that it would do nothing to a request has
#: an ``idle(environ) -> bool`` method (:mod:`~mock_server.http.quick_poll` asks it).
Screen = Callable[[dict[str, Any]], Response | None]


@dataclass(frozen=True, slots=True)
class MockState:
    """Everything the handlers share, one per app, in ``app.extensions[EXTENSION]``.

    Frozen: its parts are built before it (the screens included) and never replaced;
    the mutable ones (service, rules, caches) guard themselves.
    """

    validator: RequestValidator
    """The predictions API's checks, from ``openapi.yaml``."""
    admin: DocumentValidator
    """The admin API's checks, from ``admin.yaml``."""
    service: PredictionService
    token: str | None
    spec_text: str
    admin_spec_text: str
    webhook_secret: str
    """``whsec_`` + base64 key that signs webhook deliveries; stable for an instance."""
    webhooks: WebhookDispatcher | None = None
    """Sends and logs webhook deliveries (None: webhooks are accepted but not sent)."""
    bodies: BodyCache = field(default_factory=BodyCache)
    """Rendered bodies of polled predictions, reused while they cannot change."""
    replicas: Peers | None = None
    """The other processes sharing this one's Redis or data directory (None: predictions
    live in this process's memory)."""
    rules: RuleBook = field(default_factory=RuleBook)
    """The scenario rules set through ``/_mock/rules``."""
    dice: FaultDice | None = None
    """Global faults at the ``MOCK_FAULTS`` rates (None: none)."""
    screens: tuple[Screen, ...] = ()
    """Run in order on every API request after authentication (scenarios, faults)."""
    observer: Observer | None = None
    """The request journal, metrics and endings (:mod:`mock_server.http.admin_observer`),
    fed by the API's gate (:mod:`mock_server.http.gate`)."""
    accept_any_token: bool = False
    """Accept any non-empty token when none is pinned (else only Replicate-shaped ones)."""
    rates: RateCounter = field(default_factory=MemoryRates)
    """Counts each token's requests for the ``ratelimit-*`` headers."""
    enforce_rate_limits: bool = False
    """Answer 429 past the limits (else they are only counted)."""
    shape: Shape = field(default_factory=Shape)
    """How predictions are written where the evidence is thin."""
    wait_timeout_status: int = 201
    """Status of a ``Prefer: wait`` create that had not ended when the wait ran out."""
    location_header: bool = False
    """Send ``Location`` on creates."""


def state(app: Flask | None = None) -> MockState:
    """The mock's shared state: of ``app``, or of the app handling the current request."""
    owner = app or cast("LocalProxy[Flask]", current_app)._get_current_object()
    found: MockState = owner.extensions[EXTENSION]
    return found


def observer(app: Flask | None = None) -> Observer:
    """The observer (journal, metrics, endings) of ``app``, or of the app handling the
    current request.

    Raises:
        LookupError: if the app was built without one.
    """
    found = state(app).observer
    if found is None:
        raise LookupError("this app has no observer")
    return found


def current_request() -> Request:
    """The request being handled, taken out of Flask's proxy once.

    Every attribute read through ``flask.request`` looks the request up again (about
    0.8 µs); the hot paths read the request itself.
    """
    return cast("LocalProxy[Request]", request)._get_current_object()


#: Links by what they are built from; cleared when it grows past this many entries.
_LINKS_CACHE_SIZE: Final = 256
_links_cache: dict[tuple[Any, ...], tuple[Links, bool]] = {}
_RESELLER_PATH: Final = PREFIXES["replicate"] + "/"
#: Schemes whose requests Flask routes to the app's (plain, not websocket) views.
_ROUTED_SCHEMES: Final = frozenset({"http", "https"})


def links() -> Links:
    """URL prefixes of this server as the current request reached it (``/v1`` outside the API)."""
    return links_of(current_request().environ)[0]


def links_of(environ: dict[str, Any]) -> tuple[Links, bool]:
    """URL prefixes of this server as the request of ``environ`` reached it, and
    whether Flask routes it to a plain view: its scheme is HTTP's (Werkzeug matches
    ``ws``/``wss`` only against websocket routes) and its host a name IDNA can encode
    (Flask answers 400 to others before any view)."""
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
        req = WSGIRequest(environ, populate_request=False, shallow=True)
        host = req.host
        # Built from scheme and Host directly: request.host_url re-encodes the whole URL.
        root = f"{req.scheme}://{host}{req.script_root}"
        here = Links(api=root + (PREFIXES["replicate"] if key[-1] else "/v1"), root=root)
        found = (here, req.scheme in _ROUTED_SCHEMES and _routable(host))
        if len(_links_cache) >= _LINKS_CACHE_SIZE:
            _links_cache.clear()
        _links_cache[key] = found
    return found


def _routable(host: str) -> bool:
    """Whether Flask's router takes ``host`` (as ``werkzeug.routing.Map.bind`` does)."""
    try:
        host.lower().partition(":")[0].encode("idna")
    except UnicodeError:
        return False
    return True


def authenticate() -> None:
    """Reject the current request unless it has an acceptable Bearer token (a
    ``before_request`` hook: it returns nothing, or Flask would send what it returns).

    Raises:
        Problem: 401 when the token is missing, malformed or not the pinned one.
    """
    mock = state()
    header = current_request().environ.get("HTTP_AUTHORIZATION")
    check_token(header, mock.token, any_token=mock.accept_any_token)


#: What Replicate's API tokens look like: ``r8_`` and letters and digits.
TOKEN_SHAPE: Final = re.compile(r"r8_[A-Za-z0-9]+")


def check_token(header: str | None, pinned: str | None, *, any_token: bool = False) -> str:
    """The token of ``header`` (``Bearer <token>``): the pinned one if one is set, else
    one shaped like Replicate's (:data:`TOKEN_SHAPE`), or any with ``any_token``.

    Raises:
        Problem: 401 otherwise (``missing_token`` when there is no header).
    """
    if not header:
        raise problems.missing_token()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise problems.invalid_token()
    if pinned is not None:
        if token != pinned:
            raise problems.invalid_token()
    elif not any_token and TOKEN_SHAPE.fullmatch(token) is None:
        raise problems.invalid_token()
    return token


def dump(doc: Any) -> bytes:
    """``doc`` as compact JSON, as every JSON answer of the mock is written."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response."""
    return Response(dump(doc), status=status, mimetype="application/json", headers=headers)


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
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise problems.bad_json("it is not UTF-8 text") from None
    except RecursionError:
        raise problems.bad_json("it is nested too deeply") from None
    except ValueError as exc:
        raise problems.bad_json(str(exc)) from None
    return _whole_characters(doc) if _SURROGATE_ESCAPE.search(raw) else doc


#: A ``\uD800``-``\uDFFF`` escape: JSON lets a string hold half a surrogate pair.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
#: What is left of such an escape once parsed (a whole pair parses to one character).
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _whole_characters(value: Any) -> Any:
    """``value`` with every lone surrogate replaced by U+FFFD, as Replicate's server (Go)
    decodes it: such a string cannot be written as UTF-8, in a response or a store."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_whole_characters(item) for item in value]
    if isinstance(value, dict):
        return {_whole_characters(key): _whole_characters(item) for key, item in value.items()}
    return value
