"""The requests a drift run sends, and what it keeps of each answer.

Probes are the same for both targets. Those that create a prediction are billed
on a live API, so each says so; the live client's budget guard
(``contract_tests/support/budget_transports.py``) holds every create, billed or not, to
the run's budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import httpx

from contract_tests.support.budget import BILLED, BudgetSpentError

__all__ = ["PROBES", "Exchange", "Probe", "Runner"]

#: Headers worth comparing between the two targets (lower case).
HEADERS: Final = (
    "content-type",
    "location",
    "preference-applied",
    "retry-after",
    "ratelimit-remaining",
    "ratelimit-reset",
)
UNKNOWN_ID: Final = "driftprobe0000000000000000"
PROMPT: Final = "a lighthouse on a cliff at dawn"


@dataclass(frozen=True)
class Probe:
    """One request to send to both targets."""

    name: str
    operation: str
    """``operationId`` in the spec, to find the documented responses."""
    method: str
    path: str
    """Relative to the base URL; ``{id}`` is the id from the last create."""
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    auth: str = "token"
    """``token``, ``none`` or ``wrong``."""
    billed: bool = False
    """Whether it creates a prediction (costs money on a live API)."""
    poll: bool = False
    """Whether to poll the created prediction to its end and record that too."""


@dataclass
class Exchange:
    """What a target answered to a probe."""

    probe: str
    operation: str
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PROBES: Final = (
    Probe("list without token", "listPredictions", "GET", "/predictions", auth="none"),
    Probe("list with a wrong token", "listPredictions", "GET", "/predictions", auth="wrong"),
    Probe("get unknown id", "getPrediction", "GET", f"/predictions/{UNKNOWN_ID}"),
    Probe("cancel unknown id", "cancelPrediction", "POST", f"/predictions/{UNKNOWN_ID}/cancel"),
    Probe(
        "create with a bad aspect ratio",
        "createPrediction",
        "POST",
        "/models/google/imagen-4-ultra/predictions",
        body={"input": {"prompt": PROMPT, "aspect_ratio": "2:1"}},
    ),
    Probe(
        "create with an unknown key",
        "createPrediction",
        "POST",
        "/models/google/imagen-4-ultra/predictions",
        body={"input": {"prompt": PROMPT}, "model": "google/imagen-4-ultra"},
    ),
    Probe(
        "create without a prompt",
        "createPrediction",
        "POST",
        "/models/google/imagen-4-ultra/predictions",
        body={"input": {}},
    ),
    Probe(
        "create and wait",
        "createPrediction",
        "POST",
        "/models/google/imagen-4-ultra/predictions",
        body={"input": {"prompt": PROMPT, "aspect_ratio": "16:9"}},
        headers={"Prefer": "wait=60"},
        billed=True,
        poll=True,
    ),
    Probe("get the created prediction", "getPrediction", "GET", "/predictions/{id}"),
    Probe("list predictions", "listPredictions", "GET", "/predictions"),
)


class BudgetExhaustedError(RuntimeError):
    """A probe that creates was not sent because the budget was spent."""


@dataclass
class Runner:
    """Sends probes to one target; a billed probe tells the client's budget guard so."""

    base_url: str
    token: str
    client: httpx.Client
    sleep: Callable[[float], None] = time.sleep
    last_id: str | None = None

    def run(self, probe: Probe) -> list[Exchange]:
        """The exchanges of one probe (two when it polls to the end).

        Raises:
            BudgetExhaustedError: for a probe that creates once the budget is spent.
            LookupError: for a probe that needs a created id when there is none.
        """
        path = probe.path
        if "{id}" in path:
            if self.last_id is None:
                raise LookupError(f"{probe.name} needs a created prediction")
            path = path.replace("{id}", self.last_id)
        exchange = self._send(probe, probe.method, path, probe.body)
        found = [exchange]
        if isinstance(exchange.body, dict) and isinstance(exchange.body.get("id"), str):
            if probe.billed:
                self.last_id = exchange.body["id"]
            if probe.poll:
                found.append(self._poll(probe, exchange.body["id"]))
        return found

    def _poll(self, probe: Probe, prediction_id: str, limit: float = 180.0) -> Exchange:
        started = time.monotonic()
        while True:
            final = self._send(probe, "GET", f"/predictions/{prediction_id}", None)
            status = final.body.get("status") if isinstance(final.body, dict) else None
            if status in {"succeeded", "failed", "canceled", "aborted"} or (
                time.monotonic() - started > limit
            ):
                final.probe = f"{probe.name} (final)"
                final.operation = "getPrediction"
                return final
            self.sleep(1.0)

    def _send(self, probe: Probe, method: str, path: str, body: Any) -> Exchange:
        headers = dict(probe.headers)
        if probe.auth == "token":
            headers["Authorization"] = f"Bearer {self.token}"
        elif probe.auth == "wrong":
            headers["Authorization"] = "Bearer r8_not_a_real_token_000000000000"
        extensions = {BILLED: probe.name} if probe.billed and method == probe.method else None
        started = time.monotonic()
        try:
            response = self.client.request(method, self.base_url.rstrip("/") + path,
                                           json=body, headers=headers, extensions=extensions)  # fmt: skip
        except BudgetSpentError as refused:
            raise BudgetExhaustedError(probe.name) from refused
        seconds = time.monotonic() - started
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        kept = {k: v for k, v in response.headers.items() if k.lower() in HEADERS}
        return Exchange(probe.name, probe.operation, response.status_code, kept, parsed, seconds)
