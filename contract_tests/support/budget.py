"""The live run's budget of billed creates, kept in one ledger file every process shares.

A *create* is any POST whose path ends in ``/predictions`` or ``/trainings`` (the official
model route, the version route, deployments, trainings), whatever the caller meant by it:
a reseller need not validate the way Replicate does, so a probe built to be refused may
still create a prediction. The rules:

- Before a create is sent, a slot is reserved; when the creates already billed plus those
  in flight reach the limit, the create is refused and never sent.
- A 2xx answer is billed. So is a create whose answer never came (a timeout, a dropped
  connection): it may have been created. Any other answer frees its slot.
- A 2xx create nobody declared as billed is *unexpected*: it is canceled at once, and the
  cancel's outcome is recorded beside it.

The ledger is a JSON file guarded by an ``flock`` on a sibling lock file, so the suite's
pytest process, the schemathesis process it starts and the drift report in ``make
contract``'s own process all draw on one budget. :func:`report` prints it.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

LEDGER_VAR: Final = "IMAGEN_CONTRACT_LEDGER"
"""Environment variable naming the ledger file of a run (set by ``make contract``)."""
BILLED: Final = "imagen_budget_billed"
"""httpx request extension whose value names a create the caller means to be billed."""
_CREATE_PATH: Final = re.compile(r"/(predictions|trainings)/?$")
_ROUTE_TAIL: Final = re.compile(r"/(models|deployments)/.*$|/(predictions|trainings)/?$")


class BudgetSpentError(RuntimeError):
    """A create refused before sending: the budget is spent."""


def is_create(method: str, path: str) -> bool:
    """Whether a request may create something billed (see the module docstring)."""
    return method.upper() == "POST" and _CREATE_PATH.search(path) is not None


def cancel_url(create_url: str, body: Any) -> str | None:
    """Where to cancel what a create made: its ``urls.cancel`` when that is on the create's
    own origin, else ``<base>/<kind>/<id>/cancel`` beside the create route; None without id."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return None
    parts = urlsplit(create_url)
    urls = body.get("urls")
    given = urls.get("cancel") if isinstance(urls, dict) else None
    if isinstance(given, str) and urlsplit(given)[:2] == parts[:2]:
        return given
    kind_match = _CREATE_PATH.search(parts.path)
    kind = kind_match.group(1) if kind_match else "predictions"
    base = _ROUTE_TAIL.sub("", parts.path)
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/{kind}/{body['id']}/cancel", "", ""))


@dataclass
class Created:
    """One create the target answered 2xx (or never answered): billed."""

    request: str
    """``METHOD path`` as sent."""
    label: str
    """What the caller said it was for; empty when it was not meant to be billed."""
    http_status: int | None
    """None when no answer came back."""
    id: str | None = None
    status: str | None = None
    """The prediction's status in the create's answer."""
    cancel_status: int | None = None
    """HTTP status of the cancel sent for an unexpected create (None: none sent)."""
    status_after_cancel: str | None = None
    note: str = ""

    @property
    def expected(self) -> bool:
        return bool(self.label)


@dataclass
class LedgerState:
    limit: int
    in_flight: int = 0
    created: list[Created] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def billed(self) -> int:
        return len(self.created)


class Ledger:
    """The budget file of one run; every method takes the lock, reads, writes back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = path.with_name(path.name + ".lock")

    @classmethod
    def create(cls, path: Path, limit: int) -> Ledger:
        """A fresh ledger at ``path`` allowing ``limit`` billed creates (any old one is replaced)."""
        ledger = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with ledger._locked():
            ledger._write(LedgerState(limit=limit))
        return ledger

    def state(self) -> LedgerState:
        with self._locked():
            return self._read()

    def reserve(self, request: str) -> None:
        """Hold a slot for a create about to be sent.

        Raises:
            BudgetSpentError: when billed plus in-flight creates already reach the limit.
        """
        with self._locked():
            state = self._read()
            if state.billed + state.in_flight >= state.limit:
                state.refused.append(request)
                self._write(state)
                raise BudgetSpentError(
                    f"budget of {state.limit} billed create(s) spent: {request} not sent"
                )
            state.in_flight += 1
            self._write(state)

    def release(self) -> None:
        """Free a reserved slot: the create was answered with no prediction made."""
        with self._locked():
            state = self._read()
            state.in_flight = max(0, state.in_flight - 1)
            self._write(state)

    def bill(self, created: Created) -> int:
        """Turn a reserved slot into a billed create; its index, for :meth:`update`."""
        with self._locked():
            state = self._read()
            state.in_flight = max(0, state.in_flight - 1)
            state.created.append(created)
            self._write(state)
            return len(state.created) - 1

    def update(self, index: int, **changes: Any) -> None:
        """Record more about a billed create (the cancel's outcome)."""
        with self._locked():
            state = self._read()
            for key, value in changes.items():
                setattr(state.created[index], key, value)
            self._write(state)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> LedgerState:
        raw = json.loads(self.path.read_text())
        return LedgerState(
            limit=raw["limit"],
            in_flight=raw["in_flight"],
            created=[Created(**item) for item in raw["created"]],
            refused=list(raw["refused"]),
        )

    def _write(self, state: LedgerState) -> None:
        data = {**asdict(state), "created": [asdict(item) for item in state.created]}
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(data, indent=1))
        temporary.replace(self.path)


def answered(request: str, label: str, http_status: int, body: Any) -> Created:
    """The record of a 2xx create, from its answer."""
    record = Created(request=request, label=label, http_status=http_status)
    if isinstance(body, dict):
        record.id = body.get("id") if isinstance(body.get("id"), str) else None
        record.status = body.get("status") if isinstance(body.get("status"), str) else None
    if record.id is None:
        record.note = "answer carried no prediction id: cannot cancel"
    return record


def unanswered(request: str, label: str) -> Created:
    """The record of a create whose answer never came: it may have been made, so it is billed."""
    return Created(
        request=request, label=label, http_status=None, note="no answer: counted as billed"
    )


def status_of(body: Any) -> str | None:
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, str) else None


def report(state: LedgerState) -> str:
    """What the run created, one line each, for the end of the run."""
    unexpected = [item for item in state.created if not item.expected]
    lines = [
        f"budget: {state.billed} billed create(s) of {state.limit} allowed; "
        f"{len(unexpected)} unexpected; {len(state.refused)} refused before sending"
    ]
    for item in state.created:
        answer = "no answer" if item.http_status is None else f"HTTP {item.http_status}"
        why = f"billed as planned ({item.label})" if item.expected else "UNEXPECTED"
        line = f"  created {item.id or '<no id>'} {answer} status={item.status} {why}"
        if not item.expected:
            if item.cancel_status is None:
                line += " not canceled"
            else:
                line += f" canceled: HTTP {item.cancel_status}, status={item.status_after_cancel}"
        if item.note:
            line += f" ({item.note})"
        lines.append(f"{line} <- {item.request}")
    lines += [f"  refused (not sent) {request}" for request in state.refused]
    return "\n".join(lines)
