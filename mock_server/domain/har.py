"""The request journal as an HTTP Archive (HAR 1.2), the format browsers' developer
tools import and export.

No maintained Python library writes HAR (those on PyPI read it, or capture it from a
browser), so the document is built here from typed dictionaries that follow the
specification's field names; ``contract_tests`` checks the output against a JSON Schema
of HAR 1.2, and imports it into Chromium's DevTools. Custom fields start with ``_`` as the
specification asks: ``_id``, ``_route`` and ``_prediction_id``, and ``_resourceType``,
the field Chromium writes and reads for the kind of request: every journaled request is
an API call, ``fetch`` (without it DevTools guesses from the JSON answer and lists the
calls as scripts, outside its Fetch/XHR filter).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Final, NotRequired, TypedDict
from urllib.parse import parse_qsl

from mock_server.domain.journal import JournalEntry

__all__ = ["Har", "archive"]

HAR_VERSION: Final = "1.2"
HTTP_VERSION: Final = "HTTP/1.1"
RESOURCE_TYPE: Final = "fetch"


class NameValue(TypedDict):
    name: str
    value: str


class Creator(TypedDict):
    name: str
    version: str


class PostData(TypedDict):
    mimeType: str
    text: str
    params: list[NameValue]


class Request(TypedDict):
    method: str
    url: str
    httpVersion: str
    cookies: list[NameValue]
    headers: list[NameValue]
    queryString: list[NameValue]
    postData: NotRequired[PostData]
    headersSize: int
    bodySize: int


class Content(TypedDict):
    size: int
    mimeType: str
    text: NotRequired[str]


class Response(TypedDict):
    status: int
    statusText: str
    httpVersion: str
    cookies: list[NameValue]
    headers: list[NameValue]
    content: Content
    redirectURL: str
    headersSize: int
    bodySize: int


class Timings(TypedDict):
    send: float
    wait: float
    receive: float


class Entry(TypedDict):
    startedDateTime: str
    time: float
    request: Request
    response: Response
    cache: dict[str, object]
    timings: Timings
    _id: str
    _resourceType: str
    _route: str | None
    _prediction_id: str | None


class Log(TypedDict):
    version: str
    creator: Creator
    entries: list[Entry]


class Har(TypedDict):
    log: Log


def archive(entries: Iterable[JournalEntry], *, root: str, version: str) -> Har:
    """A HAR document of ``entries``, their URLs under ``root`` (``http://host:port``)."""
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "imagen-mock", "version": version},
            "entries": [_entry(entry, root) for entry in entries],
        }
    }


def _pairs(items: Iterable[tuple[str, str]]) -> list[NameValue]:
    return [{"name": name, "value": value} for name, value in items]


def _header(headers: Iterable[tuple[str, str]], wanted: str) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value
    return None


def _entry(entry: JournalEntry, root: str) -> Entry:
    url = root + entry.path + (f"?{entry.query_string}" if entry.query_string else "")
    request: Request = {
        "method": entry.method,
        "url": url,
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(entry.headers),
        "queryString": _pairs(parse_qsl(entry.query_string, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": len(entry.body.encode()) if entry.body is not None else 0,
    }
    if entry.body is not None:
        mime = _header(entry.headers, "content-type") or "application/octet-stream"
        request["postData"] = {"mimeType": mime, "text": entry.body, "params": []}
    content: Content = {
        "size": len(entry.response_body.encode()) if entry.response_body is not None else -1,
        "mimeType": _header(entry.response_headers, "content-type") or "",
    }
    if entry.response_body is not None:
        content["text"] = entry.response_body
    try:
        reason = HTTPStatus(entry.status).phrase
    except ValueError:
        reason = ""
    return {
        "startedDateTime": datetime.fromtimestamp(entry.at, UTC).isoformat(timespec="milliseconds"),
        "time": entry.duration_ms,
        "request": request,
        "response": {
            "status": entry.status,
            "statusText": reason,
            "httpVersion": HTTP_VERSION,
            "cookies": [],
            "headers": _pairs(entry.response_headers),
            "content": content,
            "redirectURL": _header(entry.response_headers, "location") or "",
            "headersSize": -1,
            "bodySize": content["size"],
        },
        "cache": {},
        "timings": {"send": 0.0, "wait": entry.duration_ms, "receive": 0.0},
        "_id": entry.id,
        "_resourceType": RESOURCE_TYPE,
        "_route": entry.route,
        "_prediction_id": entry.prediction_id,
    }
