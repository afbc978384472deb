"""Comparing what two targets answered to the same probes, and classifying each difference.

Values that must differ between two servers (ids, times, URLs) are not compared;
shapes are: which fields exist, which are null, their JSON types and string formats.
Error bodies are compared word for word, and a few headers by presence and value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from jsonschema import Draft202012Validator, FormatChecker

from contract_tests.drift.probes import Exchange

__all__ = ["KINDS", "Difference", "compare", "shape"]

LIVE_VIOLATES: Final = "live violates the spec"
MOCK_VIOLATES: Final = "mock violates the spec"
BOTH_IN_SPEC: Final = "mock differs from live, both in spec"
ONLY_LIVE: Final = "only-live field"
KINDS: Final = (LIVE_VIOLATES, MOCK_VIOLATES, BOTH_IN_SPEC, ONLY_LIVE)
COMPARED_HEADERS: Final = (
    "location",
    "preference-applied",
    "ratelimit-remaining",
    "ratelimit-reset",
)
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class Difference:
    """One way the live API and the mock answered a probe differently."""

    probe: str
    aspect: str
    """``status``, ``field``, ``type``, ``error body``, ``header`` or ``latency``."""
    where: str
    live: Any
    mock: Any
    kind: str
    """One of :data:`KINDS`."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shape(body: Any, prefix: str = "") -> dict[str, str]:
    """Every path in a JSON document with its type (``string(date-time)``, ``null``, ...)."""
    found: dict[str, str] = {}
    if isinstance(body, dict):
        if prefix:
            found[prefix] = "object"
        for key, value in body.items():
            found |= shape(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(body, list):
        found[prefix] = "array"
        if body:
            found |= shape(body[0], f"{prefix}[]")
    else:
        found[prefix] = _describe(body)
    return found


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        if _DATE_TIME.match(value):
            return "string(date-time)"
        if value.startswith(("http://", "https://")):
            return "string(uri)"
        return "string"
    return type(value).__name__


class SpecIndex:
    """Documented responses of each operation, with compiled validators."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._responses: dict[str, dict[str, Any]] = {}
        for methods in spec["paths"].values():
            for operation in methods.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    self._responses[operation["operationId"]] = operation.get("responses", {})

    def documented(self, operation: str, status: int) -> bool:
        return str(status) in self._responses.get(operation, {})

    def violations(self, exchange: Exchange) -> set[str]:
        """Paths where the exchange breaks the spec (``(status)`` for an undocumented code)."""
        if not self.documented(exchange.operation, exchange.status):
            return {"(status)"}
        response = self._responses[exchange.operation][str(exchange.status)]
        schemas = [c.get("schema") for c in response.get("content", {}).values()]
        if not schemas or schemas[0] is None:
            return set()
        validator = Draft202012Validator(schemas[0], format_checker=FormatChecker())
        found: set[str] = set()
        for error in validator.iter_errors(exchange.body):
            path = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "required":
                missing = [r for r in error.validator_value if r not in (error.instance or {})]
                found |= {f"{path}.{m}" if path else m for m in missing}
            else:
                found.add(path or "(root)")
        return found


def compare(
    live: Iterable[Exchange], mock: Iterable[Exchange], spec: Mapping[str, Any]
) -> list[Difference]:
    """Every difference between the two targets' answers, probe by probe."""
    index = SpecIndex(spec)
    mock_by_probe = {exchange.probe: exchange for exchange in mock}
    found: list[Difference] = []
    for theirs in live:
        ours = mock_by_probe.get(theirs.probe)
        if ours is not None:
            found += _compare_one(theirs, ours, index)
    return found


def _compare_one(live: Exchange, mock: Exchange, index: SpecIndex) -> list[Difference]:
    live_bad, mock_bad = index.violations(live), index.violations(mock)
    name = live.probe

    def kind(where: str) -> str:
        if where in live_bad or "(root)" in live_bad:
            return LIVE_VIOLATES
        if where in mock_bad:
            return MOCK_VIOLATES
        return BOTH_IN_SPEC

    found: list[Difference] = []
    if live.status != mock.status:
        where = "(status)"
        found.append(Difference(name, "status", where, live.status, mock.status, kind(where)))
        return found
    live_shape, mock_shape = shape(live.body), shape(mock.body)
    for path in sorted(live_shape.keys() | mock_shape.keys()):
        theirs, ours = live_shape.get(path), mock_shape.get(path)
        if theirs == ours:
            continue
        if ours is None:
            hit = LIVE_VIOLATES if path in live_bad else ONLY_LIVE
            found.append(Difference(name, "field", path, theirs, None, hit))
        elif theirs is None:
            found.append(Difference(name, "field", path, None, ours, kind(path)))
        else:
            found.append(Difference(name, "type", path, theirs, ours, kind(path)))
    if live.status >= 400 and isinstance(live.body, dict) and isinstance(mock.body, dict):
        for key in ("title", "detail", "status"):
            if key in live.body and key in mock.body and live.body[key] != mock.body[key]:
                found.append(
                    Difference(
                        name, "error body", key, live.body[key], mock.body[key], BOTH_IN_SPEC
                    )
                )
    for header in COMPARED_HEADERS:
        theirs_h, ours_h = live.headers.get(header), mock.headers.get(header)
        if (theirs_h is None) != (ours_h is None) or (
            header == "preference-applied" and theirs_h != ours_h
        ):
            found.append(Difference(name, "header", header, theirs_h, ours_h, BOTH_IN_SPEC))
    if _slower(live.seconds, mock.seconds) or _slower(mock.seconds, live.seconds):
        found.append(
            Difference(
                name, "latency", "seconds", round(live.seconds, 3), round(mock.seconds, 3),
                BOTH_IN_SPEC,
            )
        )  # fmt: skip
    return found


def _slower(a: float, b: float) -> bool:
    """Whether ``a`` is clearly slower than ``b`` (3x and half a second more)."""
    return a > 3 * b and a - b > 0.5
