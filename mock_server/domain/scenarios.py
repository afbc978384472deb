"""Scenarios an app under test can ask for: how a prediction ends, and rules that pick them.

Free of HTTP. An :class:`Outcome` reshapes a new prediction's record (the lifecycle
then derives everything else from it); a :class:`Rule` says which requests get an
outcome, an API fault (see :mod:`mock_server.domain.faults`) or added latency.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

import re2

from mock_server.contract.problems import InvalidField
from mock_server.domain import lifecycle
from mock_server.domain.faults import DEFAULT_RETRY_AFTER, Fault
from mock_server.domain.lifecycle import PredictionRecord

__all__ = [
    "DEFAULT_ERROR",
    "DEFAULT_FACTOR",
    "OUTCOMES",
    "ROUTES",
    "STUCK_SECONDS",
    "Outcome",
    "Rule",
    "RuleBook",
    "ScenarioError",
    "parse_rule",
    "read_once",
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
#: How long a ``stuck`` prediction stays ``starting``: a century, forever for a test.
STUCK_SECONDS: Final = 100 * 365.25 * 86400


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
    prompt: Any
    """The compiled RE2 pattern of ``match.prompt`` (``re2._Regexp``), or None."""
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
        return text is not None and self.prompt.search(_utf8(text)) is not None

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


def parse_rule(doc: Mapping[str, Any], rule_id: str) -> Rule:
    """A rule from a body that ``RuleInput`` in ``openapi/admin.yaml`` accepts (the admin
    API checks every body against it first; the schema says every type, range, enum and
    which keys go together). Only what a schema cannot say is checked here: the prompt
    must compile as an RE2 regular expression.

    Raises:
        ScenarioError: if ``match.prompt`` does not compile.
    """
    match = doc.get("match") or {}
    route = match.get("route")
    names = route.split("|") if isinstance(route, str) else route
    routes = frozenset(ROUTES if names is None else names)
    prompt = _prompt(match.get("prompt"))
    scenario = doc.get("scenario")
    outcome = None
    if scenario is not None:
        error, factor = doc.get("error"), doc.get("factor")
        outcome = Outcome(
            scenario,
            DEFAULT_ERROR if error is None else error,
            DEFAULT_FACTOR if factor is None else factor,
        )
    kind = doc.get("fault")
    fault = None
    if kind is not None:
        wait = doc.get("retry_after")
        fault = Fault(str(kind), DEFAULT_RETRY_AFTER if wait is None else int(wait))
    latency = None if doc.get("latency_ms") is None else int(doc["latency_ms"])
    times = None if doc.get("times") is None else int(doc["times"])
    return Rule(rule_id, routes, prompt, outcome, fault, latency, times)


def _prompt(value: str | None) -> Any:
    """``match.prompt`` compiled by RE2, whose matching takes time linear in the prompt
    whatever the pattern (``^(a+)+$`` took Python's ``re`` 0.9 s on one prompt). RE2
    has no backreferences or lookaround; a pattern using them is refused.

    Raises:
        ScenarioError: if the pattern does not compile.
    """
    if value is None:
        return None
    try:
        return re2.compile(value, _RE2_OPTIONS)
    except UnicodeEncodeError:  # a lone surrogate: not text RE2 can read
        raise _invalid(
            "pattern", "match.prompt", "match.prompt is not a valid regex: it is not UTF-8 text"
        ) from None
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise _invalid(
            "pattern", "match.prompt", f"match.prompt is not a valid regex: {reason}"
        ) from None


def _utf8(text: str) -> str:
    """``text`` as RE2 can read it: a lone surrogate (JSON allows ``"\\ud800"``) becomes
    U+FFFD."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is answered with a 422, not logged
    return options


_RE2_OPTIONS: Final = _re2_options()


def read_once(prompt: Callable[[], str | None]) -> Callable[[], str | None]:
    """``prompt``, called at most once: rules that need the prompt share one reading."""
    seen: list[str | None] = []

    def text() -> str | None:
        if not seen:
            seen.append(prompt())
        return seen[0]

    return text


class RuleBook:
    """The rules of one mock instance, oldest first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._ids = itertools.count(1)

    def add(self, doc: Mapping[str, Any]) -> Rule:
        """Keep a rule from a body ``RuleInput`` accepts (see :func:`parse_rule`); it gets
        the next id (``rule_1``, ``rule_2``...).

        Raises:
            ScenarioError: if its prompt does not compile.
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
        text = read_once(prompt)
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
