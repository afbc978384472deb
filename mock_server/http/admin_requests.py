"""The request journal, health, readiness and metrics over HTTP (see ``openapi/admin.yaml``).

``GET /_mock/requests``
    The journaled predictions API requests, oldest first, as ``{"results": [...]}``.
    Query ``route``, ``method``, ``status``, ``prediction_id`` and ``since`` (RFC 3339)
    narrow the list. Needs the token.
``GET /_mock/requests.har``
    The same entries, with the same query, as an HTTP Archive (HAR 1.2). Needs the token.
``DELETE /_mock/requests``
    Empties the journal (204); ``POST /_mock/reset`` does too. Needs the token.
``GET /_mock/health``
    200 while the process serves. No token.
``GET /_mock/ready``
    200 when the store (and the journal) answer, else 503 with a problem. No token.
``GET /metrics``
    Prometheus metrics in the text format (:mod:`mock_server.http.admin_metrics`). No token.

None of these is journaled or counted as API traffic.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from importlib import metadata
from typing import Any, Final
from urllib.parse import parse_qs

import redis
from flask import Blueprint, Response, current_app, request

from mock_server.contract import problems
from mock_server.domain import rendering
from mock_server.domain.har import archive
from mock_server.domain.journal import JournalEntry, JournalFilter
from mock_server.http.admin_metrics import CONTENT_TYPE
from mock_server.http.context import authenticate, json_response, links, observer, state

__all__ = ["bp", "metrics_bp"]

bp = Blueprint("admin_requests", __name__, url_prefix="/_mock")
#: ``/metrics`` sits at the root, where Prometheus looks by default.
metrics_bp = Blueprint("metrics", __name__)

#: Endpoints of this blueprint that take no token.
_OPEN: Final = frozenset({"admin_requests.health", "admin_requests.ready"})
HAR_TYPE: Final = "application/har+json"


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in _OPEN:
        authenticate()


def _filter() -> JournalFilter:
    """The query as a filter.

    Raises:
        Problem: 422 if the query breaks the admin spec.
    """
    args = request.args
    errors = state().admin.operation("listRequests").parameter_errors("query", args)
    if errors:
        raise problems.validation_failed(errors, title="Invalid query")
    since = args.get("since")
    status = args.get("status")
    return JournalFilter(
        route=args.get("route"),
        method=args.get("method"),
        status=int(status) if status is not None else None,
        prediction_id=args.get("prediction_id"),
        since=_instant(since) if since is not None else None,
    )


def _instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00")).timestamp()


def _selected() -> list[JournalEntry]:
    chosen = _filter()
    return chosen.select(observer(current_app).entries())


@bp.get("/requests")
def list_requests() -> Response:
    """The journal, oldest first, narrowed by the query."""
    return json_response({"results": [shown(entry) for entry in _selected()]})


def shown(entry: JournalEntry) -> dict[str, Any]:
    """An entry as the admin API shows it: its time in RFC 3339, its query parsed."""
    doc = entry.as_dict()
    doc["at"] = rendering.format_time(entry.at)
    doc["query"] = parse_qs(entry.query_string, keep_blank_values=True)
    return doc


@bp.get("/requests.har")
def export_har() -> Response:
    """The journal as HAR 1.2, narrowed by the query."""
    doc = archive(_selected(), root=links().root, version=_version())
    body = json.dumps(doc, ensure_ascii=False, indent=1)
    headers = {"Content-Disposition": 'attachment; filename="imagen-mock.har"'}
    return Response(body, mimetype=HAR_TYPE, headers=headers)


@bp.delete("/requests")
def clear_requests() -> Response:
    """Empty the journal."""
    observer(current_app).clear()
    return Response(status=204)


@bp.get("/health")
def health() -> Response:
    """200 while the process serves."""
    return json_response({"status": "ok"})


@bp.get("/ready")
def ready() -> Response:
    """200 when the store answers; 503 (problem) when it does not.

    Raises:
        Problem: 503 with ``Retry-After`` if Redis does not answer.
    """
    mock = state()
    journal = observer(current_app).journal
    try:
        if mock.replicas is not None:
            mock.replicas.store.ping()
        if journal is not None:
            journal.ping()
    except (redis.RedisError, sqlite3.Error, OSError):
        problem = problems.Problem(503, "The store does not answer.", "Not ready")
        problem.headers.setdefault("Retry-After", "1")
        raise problem from None
    return json_response({"status": "ready"})


@metrics_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, text format."""
    watching = observer(current_app)
    watching.endings.pump()  # count what has ended by now, whatever the clock
    return Response(watching.exposition(), content_type=CONTENT_TYPE)


def _version() -> str:
    try:
        return metadata.version("imagen-mock")
    except metadata.PackageNotFoundError:
        return "0"
