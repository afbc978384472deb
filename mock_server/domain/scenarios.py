"""Scenarios an app under test can ask for: how a prediction ends, and rules that pick them.

Free of HTTP. An :class:`Outcome` reshapes a new prediction's record (the lifecycle
then derives everything else from it); a :class:`Rule` says which requests get an
outcome, an API fault (see :mod:`mock_server.domain.faults`) or added latency.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from mock_server.contract.problems import InvalidField
from mock_server.domain import lifecycle
from mock_server.domain.faults import Fault, FaultError, parse_fault
from mock_server.domain.lifecycle import PredictionRecord

__all__ = [
    "DEFAULT_ERROR",
    "MAX_LATENCY_MS",
    "OUTCOMES",
    "ROUTES",
    "STUCK_SECONDS",
    "Outcome",
    "Rule",
    "RuleBook",
    "ScenarioError",
    "parse_latency",
    "parse_outcome",
    "parse_rule",
    "shape",
]

OUTCOMES: Final = (
    "succeed",
    "fail",
    "safety_block",
    "cancel_midway",
    "stuck",
    "slow",
    "data_removed",
)
#: The API routes a rule can match.
ROUTES: Final = ("create", "get", "cancel", "list", "secret")
DEFAULT_ERROR: Final = "Prediction failed (mock scenario)."
DEFAULT_FACTOR: Final = 10.0
MAX_FACTOR: Final = 1000.0
MAX_LATENCY_MS: Final = 60_000
#: How long a ``stuck`` prediction stays ``starting``: a century, forever for a test.
STUCK_SECONDS: Final = 100 * 365.25 * 86400
_RULE_KEYS: Final = frozenset(
    {"match", "scenario", "error", "factor", "fault", "retry_after", "latency_ms", "times"}
)


class ScenarioError(ValueError):
    """A scenario, rule or header that cannot be used; ``fields`` says why."""

    def __init__(self, fields: list[InvalidField]) -> None:
        super().__init__("; ".join(f"{item.field}: {item.description}" for item in fields))
        self.fields = fields


def _invalid(kind: str, name: str, description: str) -> ScenarioError:
    return ScenarioError([InvalidField(kind, name, description)])


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a prediction ends."""

    name: str = "succeed"
    """One of :data:`OUTCOMES`."""
    error: str = DEFAULT_ERROR
    """For ``fail``, the prediction's ``error``."""
    factor: float = DEFAULT_FACTOR
    """For ``slow``, how many times longer each phase lasts."""


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


def shape(record: PredictionRecord, outcome: Outcome) -> PredictionRecord:
    """The new prediction's record changed so that it ends as ``outcome`` says."""
    changed = replace(record, outcome=outcome.name)
    if outcome.name == "fail":
        return replace(changed, failure=outcome.error)
    if outcome.name == "safety_block":
        return replace(changed, blocked=True)
    if outcome.name == "cancel_midway":
        midway = lifecycle.started_at(record) + record.processing_seconds / 2
        return replace(changed, canceled_at=midway)
    if outcome.name == "stuck":
        return replace(changed, starting_seconds=STUCK_SECONDS)
    if outcome.name == "slow":
        return replace(
            changed,
            starting_seconds=record.starting_seconds * outcome.factor,
            processing_seconds=record.processing_seconds * outcome.factor,
        )
    if outcome.name == "data_removed":
        return replace(changed, retention_seconds=0.0)
    return changed


@dataclass(slots=True)
class Rule:
    """Requests it matches get its outcome (creates only), fault and latency."""

    id: str
    routes: frozenset[str]
    prompt: re.Pattern[str] | None
    outcome: Outcome | None
    fault: Fault | None
    latency_ms: int | None
    times: int | None
    """How many matching requests it applies to; None: all of them."""
    hits: int = 0

    def matches(self, route: str, prompt: Callable[[], str | None]) -> bool:
        """Whether it applies to a request to ``route`` whose prediction has ``prompt()``."""
        if self.times is not None and self.hits >= self.times:
            return False
        if route not in self.routes:
            return False
        if self.prompt is None:
            return True
        text = prompt()
        return text is not None and self.prompt.search(text) is not None

    def as_dict(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        match: dict[str, Any] = {"route": "|".join(r for r in ROUTES if r in self.routes)}
        if self.prompt is not None:
            match["prompt"] = self.prompt.pattern
        doc: dict[str, Any] = {"id": self.id, "match": match}
        if self.outcome is not None:
            doc |= {"scenario": self.outcome.name}
            if self.outcome.name == "fail":
                doc["error"] = self.outcome.error
            if self.outcome.name == "slow":
                doc["factor"] = self.outcome.factor
        if self.fault is not None:
            doc["fault"] = self.fault.kind
            if self.fault.kind == "429":
                doc["retry_after"] = self.fault.retry_after
        if self.latency_ms is not None:
            doc["latency_ms"] = self.latency_ms
        remaining = None if self.times is None else max(self.times - self.hits, 0)
        return doc | {"times": self.times, "remaining": remaining, "hits": self.hits}


def _routes(value: object) -> frozenset[str]:
    if value is None:
        return frozenset(ROUTES)
    names = value.split("|") if isinstance(value, str) else value
    if not isinstance(names, list) or not names or any(name not in ROUTES for name in names):
        allowed = ", ".join(ROUTES)
        raise _invalid(
            "enum", "match.route", f"match.route must be one or more of {allowed}, joined by |"
        )
    return frozenset(names)


def _prompt(value: object) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1000:
        raise _invalid("type", "match.prompt", "match.prompt must be a regex of 1000 chars at most")
    try:
        return re.compile(value)
    except re.error as exc:
        raise _invalid(
            "pattern", "match.prompt", f"match.prompt is not a valid regex: {exc}"
        ) from None


def _optional(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(key)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema counts 3.0 as an integer, and so does the spec
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _invalid("type", key, f"{key} has the wrong type")
    return value


def parse_rule(doc: object, rule_id: str) -> Rule:
    """A rule from the admin API's JSON body.

    Raises:
        ScenarioError: if the body is not a valid rule.
    """
    if not isinstance(doc, dict):
        raise _invalid("type", "(root)", "the body must be a JSON object")
    for key in doc:
        if key not in _RULE_KEYS:
            raise _invalid(
                "additional_property_not_allowed", key, f"Additional property {key} is not allowed"
            )
    match = doc.get("match", {})
    if not isinstance(match, dict) or set(match) - {"route", "prompt"}:
        raise _invalid("type", "match", "match must be an object with route and/or prompt")
    routes, prompt = _routes(match.get("route")), _prompt(match.get("prompt"))
    scenario = _optional(doc, "scenario", str)
    outcome = None
    if scenario is not None:
        factor = _optional(doc, "factor", (int, float))
        outcome = parse_outcome(scenario, _optional(doc, "error", str), factor)
        if "create" not in routes:
            raise _invalid("scenario", "scenario", "a scenario applies only to the create route")
    fault_value = doc.get("fault")
    fault = None
    if fault_value is not None:
        retry_after = _optional(doc, "retry_after", int)
        try:
            fault = parse_fault(str(fault_value), retry_after, where="fault")
        except FaultError as exc:
            raise ScenarioError([exc.field]) from None
    latency = None if doc.get("latency_ms") is None else parse_latency(doc["latency_ms"])
    if outcome is None and fault is None and latency is None:
        raise _invalid("required", "(root)", "a rule needs scenario, fault or latency_ms")
    times = _optional(doc, "times", int)
    if times is not None and times < 1:
        raise _invalid("range", "times", "times must be at least 1")
    return Rule(rule_id, routes, prompt, outcome, fault, latency, times)


class RuleBook:
    """The rules of one mock instance, oldest first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, doc: object) -> Rule:
        """Parse and keep a rule; it gets the next id (``rule_1``, ``rule_2``...).

        Raises:
            ScenarioError: if ``doc`` is not a valid rule.
        """
        with self._lock:
            rule = parse_rule(doc, f"rule_{next(self._ids)}")
            self._rules.append(rule)
            return rule

    def all(self) -> list[dict[str, Any]]:
        """Every rule, oldest first, as the admin API shows it."""
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def delete(self, rule_id: str) -> bool:
        """Drop one rule; False if there is no such id."""
        with self._lock:
            kept = [rule for rule in self._rules if rule.id != rule_id]
            found = len(kept) != len(self._rules)
            self._rules = kept
            return found

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules = []

    def __bool__(self) -> bool:
        return bool(self._rules)

    def take(self, route: str, prompt: Callable[[], str | None]) -> Rule | None:
        """The oldest rule matching this request, counted as used once; None if none does.

        Prompts are read once and matched outside the lock, so a slow pattern holds up
        only the request it is matched against.
        """
        seen: list[str | None] = []

        def text() -> str | None:
            if not seen:
                seen.append(prompt())
            return seen[0]

        with self._lock:
            candidates = list(self._rules)
        for rule in candidates:
            if not rule.matches(route, text):
                continue
            with self._lock:
                kept = any(r is rule for r in self._rules)
                if kept and (rule.times is None or rule.hits < rule.times):
                    rule.hits += 1
                    return replace(rule)
        return None
