"""The ``X-Mock-*`` request headers, read in this one place. Free of HTTP: it is given a
lookup that finds a header by name.

Headers (never ``Prefer``, which the real API uses):
``X-Mock-Scenario`` (create only: one of :data:`~mock_server.domain.scenarios.OUTCOMES`),
``X-Mock-Error`` (with ``fail``), ``X-Mock-Slow-Factor`` (with ``slow``),
``X-Mock-Fault`` (``429``, ``402``, ``500``, ``503``, ``drop`` or ``none``, any case),
``X-Mock-Retry-After`` (seconds, with ``429``), ``X-Mock-Latency-Ms``.

They are not described in an OpenAPI document: ``openapi.yaml`` is Replicate's contract
(the typed client is generated from it and schemathesis sends every parameter it
declares), and a schema on header text could only say "does not match pattern" where
these answers name the range (``X-Mock-Latency-Ms must be a whole number from 0 to
60000``). So their rules are written here, next to their wording.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from mock_server.contract.problems import InvalidField
from mock_server.domain.faults import Fault, FaultError, parse_fault
from mock_server.domain.scenarios import (
    DEFAULT_ERROR,
    DEFAULT_FACTOR,
    OUTCOMES,
    Outcome,
    ScenarioError,
)

__all__ = [
    "MAX_FACTOR",
    "MAX_LATENCY_MS",
    "TRIGGERS",
    "HeaderAsk",
    "parse_latency",
    "parse_outcome",
    "read_headers",
]

MAX_FACTOR: Final = 1000.0
MAX_LATENCY_MS: Final = 60_000
#: The WSGI keys of the headers that ask for something (the other ``X-Mock-*`` headers
#: only refine these): a request with none of them is left alone at once.
TRIGGERS: Final = frozenset({"HTTP_X_MOCK_SCENARIO", "HTTP_X_MOCK_FAULT", "HTTP_X_MOCK_LATENCY_MS"})


def _invalid(kind: str, name: str, description: str) -> ScenarioError:
    return ScenarioError([InvalidField(kind, name, description)])


@dataclass(frozen=True, slots=True)
class HeaderAsk:
    """What a request's ``X-Mock-*`` headers ask for."""

    outcome: Outcome | None
    fault: Fault | None
    fault_named: bool
    """Whether ``X-Mock-Fault`` was sent (``none`` included): it then wins over rules
    and global faults."""
    latency_ms: int | None


def parse_outcome(
    name: str, error: str | None = None, factor: float | None = None, *, where: str = "scenario"
) -> Outcome:
    """An outcome from its name and options; ``where`` names the field in errors.

    Raises:
        ScenarioError: if the name is unknown, the error empty or the factor out of range.
    """
    if name not in OUTCOMES:
        allowed = ", ".join(f'"{item}"' for item in OUTCOMES)
        raise _invalid("enum", where, f"{where} must be one of the following: {allowed}")
    if error is not None and not error.strip():
        raise _invalid("min_length", "error", "error must not be empty")
    if factor is not None and not 0 < factor <= MAX_FACTOR:
        raise _invalid("range", "factor", f"factor must be above 0 and at most {MAX_FACTOR:g}")
    return Outcome(
        name,
        DEFAULT_ERROR if error is None else error,
        DEFAULT_FACTOR if factor is None else factor,
    )


def parse_latency(value: object, *, where: str = "latency_ms") -> int:
    """Milliseconds of added latency, 0 to :data:`MAX_LATENCY_MS`.

    Raises:
        ScenarioError: if ``value`` is not such a whole number (or its text).
    """
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 9:
        value = int(text)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_LATENCY_MS:
        raise _invalid("range", where, f"{where} must be a whole number from 0 to {MAX_LATENCY_MS}")
    return value


def read_headers(header: Callable[[str], str | None], route: str) -> HeaderAsk:
    """Outcome, fault and latency asked for by the ``X-Mock-*`` headers that ``header``
    finds, for a request to ``route`` (a scenario applies to ``create`` only).

    Raises:
        ScenarioError: if one is invalid; its fields name the header (or the option).
    """
    outcome = None
    name = header("X-Mock-Scenario")
    if name is not None and route == "create":
        factor = header("X-Mock-Slow-Factor")
        outcome = parse_outcome(
            name.strip(),
            header("X-Mock-Error"),
            None if factor is None else _number(factor),
            where="X-Mock-Scenario",
        )
    fault = None
    kind = header("X-Mock-Fault")
    if kind is not None and kind.strip().lower() != "none":
        wait = header("X-Mock-Retry-After")
        retry_after = None if wait is None else parse_latency(wait, where="X-Mock-Retry-After")
        try:
            fault = parse_fault(kind, retry_after, where="X-Mock-Fault")
        except FaultError as exc:
            raise ScenarioError([exc.field]) from None
    latency = header("X-Mock-Latency-Ms")
    return HeaderAsk(
        outcome,
        fault,
        kind is not None,
        None if latency is None else parse_latency(latency, where="X-Mock-Latency-Ms"),
    )


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return -1.0  # rejected by parse_outcome's range check
