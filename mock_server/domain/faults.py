"""API faults answered instead of the normal response, and their seeded global rates.

Free of HTTP: a :class:`Fault` names what to answer (a problem, or ``drop`` for a
closed connection); :class:`FaultDice` picks global faults at configured rates,
reproducibly for a given seed and request sequence.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Final

from mock_server.contract import problems
from mock_server.contract.problems import InvalidField, Problem

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "FAULT_KINDS",
    "Fault",
    "FaultDice",
    "FaultError",
    "parse_fault",
    "parse_rates",
]

FAULT_KINDS: Final = ("429", "402", "500", "503", "drop")
DEFAULT_RETRY_AFTER: Final = 1
MAX_RETRY_AFTER: Final = 3600


class FaultError(ValueError):
    """A fault or fault-rate list that cannot be used; ``field`` says why."""

    def __init__(self, field: InvalidField) -> None:
        super().__init__(f"{field.field}: {field.description}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Fault:
    """What to answer instead of the normal response."""

    kind: str
    """One of :data:`FAULT_KINDS`."""
    retry_after: int = DEFAULT_RETRY_AFTER
    """For ``429``, seconds in ``Retry-After`` and ``retry_after``."""

    def problem(self) -> Problem | None:
        """The problem to answer with; None for ``drop`` (no answer at all)."""
        if self.kind == "429":
            return problems.throttled(self.retry_after)
        if self.kind == "402":
            return problems.insufficient_credit()
        if self.kind == "500":
            return problems.server_error()
        if self.kind == "503":
            return problems.unavailable()
        return None


def parse_fault(kind: str, retry_after: int | None = None, *, where: str = "fault") -> Fault:
    """A fault from its kind and, for 429, its wait; ``where`` names the field in errors.

    Raises:
        FaultError: if the kind is unknown or ``retry_after`` out of range.
    """
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        allowed = ", ".join(f'"{item}"' for item in FAULT_KINDS)
        description = f"{where} must be one of the following: {allowed}"
        raise FaultError(InvalidField("enum", where, description))
    if retry_after is not None and not 0 <= retry_after <= MAX_RETRY_AFTER:
        description = f"retry_after must be from 0 to {MAX_RETRY_AFTER}"
        raise FaultError(InvalidField("range", "retry_after", description))
    return Fault(kind, DEFAULT_RETRY_AFTER if retry_after is None else retry_after)


def parse_rates(text: str) -> tuple[tuple[Fault, float], ...]:
    """``429:0.05,503:0.02`` as faults with the share of requests each gets.

    Raises:
        FaultError: on an unknown kind, a rate outside 0-1, or rates adding up above 1.
    """
    rates: list[tuple[Fault, float]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, rate = item.partition(":")
        try:
            share = float(rate)
        except ValueError:
            share = -1.0
        if not 0.0 <= share <= 1.0:
            description = f"{item!r} is not KIND:RATE with a rate from 0 to 1"
            raise FaultError(InvalidField("range", "faults", description))
        rates.append((parse_fault(kind, where="faults"), share))
    if sum(share for _, share in rates) > 1.0 + 1e-9:
        raise FaultError(InvalidField("range", "faults", "the rates add up to more than 1"))
    return tuple(rates)


class FaultDice:
    """Global faults at fixed rates from a seeded generator. Thread-safe.

    Every :meth:`roll` draws one number, so the same seed and the same sequence
    of requests give the same faults run after run.
    """

    def __init__(self, rates: tuple[tuple[Fault, float], ...], seed: int) -> None:
        self.rates = rates
        self.seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self) -> Fault | None:
        """The fault for the next request, or None."""
        with self._lock:
            draw = self._random.random()
        for fault, share in self.rates:
            if draw < share:
                return fault
            draw -= share
        return None
