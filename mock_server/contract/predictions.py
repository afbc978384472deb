"""The predictions API's request checks: what ``openapi.yaml`` says, through
:class:`~mock_server.contract.validation.DocumentValidator`, plus the little it cannot
say: Replicate's wording for a bad ``Prefer`` or ``Cancel-After`` header, and those
headers read as seconds."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from mock_server.contract.problems import InvalidField
from mock_server.contract.validation import DocumentValidator

__all__ = ["MAX_CANCEL_AFTER", "MIN_CANCEL_AFTER", "RequestValidator"]

#: Shortest and longest ``Cancel-After`` the mock applies, in seconds.
MIN_CANCEL_AFTER: Final = 5
MAX_CANCEL_AFTER: Final = 10 * 365 * 24 * 3600
_DURATION_PART = re.compile(r"([0-9]+)([hms]?)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_BAD_PREFER = InvalidField(
    "invalid_header", "Prefer", 'Prefer must be "wait" or "wait=N" with N from 1 to 60'
)
_BAD_CANCEL_AFTER = InvalidField(
    "invalid_header",
    "Cancel-After",
    "Cancel-After must be a number of seconds or a duration like 1h30m45s",
)


class RequestValidator:
    """The predictions API's checks, compiled from its dereferenced spec."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        """Raises: KeyError: if the spec lacks an operation or parameter used here."""
        self.document = DocumentValidator(spec)
        create = self.document.operation("createPrediction")
        self.model_owners: frozenset[str] = frozenset(
            create.parameter("path", "model_owner").doc["enum"]
        )
        self.model_names: frozenset[str] = frozenset(
            create.parameter("path", "model_name").doc["enum"]
        )
        self._create = create
        self._prefer = create.parameter("header", "Prefer")
        self._cancel_after = create.parameter("header", "Cancel-After")
        self._list = self.document.operation("listPredictions")

    def prefer_wait(self, header: str | None) -> tuple[float | None, list[InvalidField]]:
        """Seconds to hold the request for a ``Prefer`` header (None: no wait), or errors."""
        if header is None:
            return None, []
        value = header.strip()
        if not self._prefer.accepts(value):
            return None, [_BAD_PREFER]
        _, _, seconds = value.partition("=")
        return float(seconds or 60), []

    def cancel_after(self, header: str | None) -> tuple[float | None, list[InvalidField]]:
        """Seconds from a ``Cancel-After`` header (None: no deadline), or errors.

        Durations are raised to :data:`MIN_CANCEL_AFTER` and capped at :data:`MAX_CANCEL_AFTER`.
        """
        if header is None:
            return None, []
        value = header.strip()
        if not self._cancel_after.accepts(value):
            return None, [_BAD_CANCEL_AFTER]
        seconds = sum(
            int(amount) * _UNIT_SECONDS[unit or "s"]
            for amount, unit in _DURATION_PART.findall(value)
        )
        return float(min(max(seconds, MIN_CANCEL_AFTER), MAX_CANCEL_AFTER)), []

    def create_body(self, body: Any) -> list[InvalidField]:
        """Problems with a create request's body, empty when it is valid."""
        return self._create.body_errors(body)

    def list_query(self, query: Mapping[str, str]) -> list[InvalidField]:
        """Problems with a list request's query parameters."""
        return self._list.parameter_errors("query", query)
