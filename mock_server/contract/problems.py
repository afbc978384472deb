"""Every error the mock returns, as a problem-details template kept in one place.

Bodies match what Replicate sends byte for byte where it is known (key order
included); handlers raise :class:`Problem` and one error handler turns it into a
response with ``Content-Type: application/problem+json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "CONTENT_TYPE",
    "InvalidField",
    "Problem",
    "bad_json",
    "insufficient_credit",
    "invalid_cursor",
    "invalid_token",
    "method_not_allowed",
    "missing_token",
    "not_found",
    "payload_too_large",
    "route_not_found",
    "server_error",
    "throttled",
    "unavailable",
    "unexpected",
    "unsupported_media_type",
    "validation_failed",
]

CONTENT_TYPE: Final = "application/problem+json"


@dataclass(frozen=True, slots=True)
class InvalidField:
    """One reason a request failed validation, as listed in ``invalid_fields``."""

    type: str
    """Kind of problem: ``required``, ``enum``, ``additional_property_not_allowed``..."""
    field: str
    """Dotted path of the field, or the empty string for the body itself."""
    description: str
    """What is wrong, in words."""

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


@dataclass(frozen=True)
class Problem(Exception):  # noqa: N818 - it is a response, raised to leave the handler
    """A problem-details response waiting to be sent."""

    status: int
    detail: str
    title: str | None = None
    invalid_fields: tuple[InvalidField, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)
    """Extra members written after ``status`` (such as a 429's ``retry_after``)."""

    def body(self) -> dict[str, Any]:
        """The JSON document, keys in Replicate's order."""
        if self.invalid_fields:
            return {
                "detail": self.detail,
                "status": self.status,
                "title": self.title,
                "invalid_fields": [item.as_dict() for item in self.invalid_fields],
            }
        doc: dict[str, Any] = {}
        if self.title is not None:
            doc["title"] = self.title
        doc["detail"] = self.detail
        doc["status"] = self.status
        doc.update(self.extensions)
        return doc

    def to_json(self) -> str:
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False)


def missing_token() -> Problem:
    return Problem(401, "You did not pass an authentication token", "Unauthenticated")


def invalid_token() -> Problem:
    return Problem(401, "You did not pass a valid authentication token", "Unauthenticated")


def not_found(what: str) -> Problem:
    """404 for a named thing, worded like Replicate: ``<what> does not exist``."""
    return Problem(404, f"{what} does not exist")


def invalid_cursor() -> Problem:
    """404 for a list cursor the server did not hand out, as Replicate answers it."""
    return Problem(404, "Invalid cursor")


def route_not_found() -> Problem:
    return Problem(404, "The requested resource could not be found.", "Not found")


def method_not_allowed(allowed: list[str]) -> Problem:
    allow = ", ".join(sorted(allowed))
    return Problem(
        405,
        f"This method is not allowed here. Allowed: {allow}",
        "Method not allowed",
        headers={"Allow": allow},
    )


def payload_too_large(limit: int) -> Problem:
    return Problem(
        413, f"The request body is larger than {limit} bytes.", "Request entity too large"
    )


def unsupported_media_type(got: str | None) -> Problem:
    sent = f"Content-Type '{got}'" if got else "no Content-Type"
    return Problem(
        415,
        f"The request body must be sent as application/json; this request has {sent}.",
        "Unsupported media type",
    )


def bad_json(reason: str) -> Problem:
    return Problem(400, f"The request body is not valid JSON: {reason}", "Invalid JSON")


def throttled(retry_after: int) -> Problem:
    """429 as Replicate sends it: ``retry_after`` in the body and a ``Retry-After`` header."""
    return Problem(
        429,
        f"Request was throttled. Your rate limit resets in ~{retry_after}s.",
        headers={"Retry-After": str(retry_after)},
        extensions={"retry_after": retry_after},
    )


def insufficient_credit() -> Problem:
    """402; only the first sentence of Replicate's detail is on record, so only it is sent."""
    return Problem(402, "You have insufficient credit to run this model.", "Insufficient credit")


def server_error() -> Problem:
    return Problem(500, "The server failed to handle the request.", "Internal server error")


def unexpected() -> Problem:
    """The mock itself failed: a bug, never a simulated fault."""
    return Problem(500, "The mock server failed unexpectedly.", "Internal error")


def unavailable() -> Problem:
    return Problem(
        503, "The service is temporarily unavailable. Try again later.", "Service unavailable"
    )


def validation_failed(
    errors: list[InvalidField], title: str = "Input validation failed"
) -> Problem:
    """422 with one ``- field: message`` line in ``detail`` per invalid field (``- message``
    for the body itself, as Replicate writes ``- Additional property model is not allowed``)."""
    detail = "".join(
        f"- {item.field}: {item.description}\n" if item.field else f"- {item.description}\n"
        for item in errors
    )
    return Problem(422, detail, title, invalid_fields=tuple(errors))
