"""The live target: a base URL and a token from the environment, or a skip that says how."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

BASE_URL_VAR = "IMAGEN_CONTRACT_BASE_URL"
TOKEN_VAR = "REPLICATE_API_TOKEN"
CA_VAR = "IMAGEN_CONTRACT_CA_FILE"
BUDGET_VAR = "IMAGEN_CONTRACT_BUDGET"
LEDGER_VAR = "IMAGEN_CONTRACT_LEDGER"
HOW = (
    "live contract checks need a base URL and a token: "
    "REPLICATE_API_TOKEN=r8_... make contract BASE_URL=https://api.replicate.com/v1 "
    "(or BASE_URL=https://HOST/replicate/v1 for a reseller)"
)


class Budget:
    """Counts predictions created (billed) against ``IMAGEN_CONTRACT_BUDGET`` (default 2),
    and writes the count to ``IMAGEN_CONTRACT_LEDGER`` when that names a file."""

    def __init__(self, limit: int, ledger: Path | None) -> None:
        self.limit = limit
        self.spent = 0
        self.ledger = ledger

    def spend(self, what: str) -> None:
        """Record one billed request.

        Raises:
            pytest.skip.Exception: when the budget is spent (the request is not sent).
        """
        if self.spent >= self.limit:
            pytest.skip(f"budget of {self.limit} billed prediction(s) spent: {what} not sent")
        self.spent += 1
        if self.ledger is not None:
            self.ledger.write_text(str(self.spent))


@dataclass(frozen=True)
class LiveTarget:
    """Where the live API is. ``repr`` never shows the token."""

    base_url: str
    token: str
    ca_file: Path | None

    def __repr__(self) -> str:
        return f"LiveTarget(base_url={self.base_url!r}, token=<hidden>)"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def live() -> LiveTarget:
    """The API under test.

    Raises:
        pytest.skip.Exception: when the base URL or the token is missing.
    """
    base_url = os.environ.get(BASE_URL_VAR, "").strip().rstrip("/")
    token = os.environ.get(TOKEN_VAR, "").strip()
    if not base_url or not token:
        pytest.skip(HOW)
    ca = os.environ.get(CA_VAR)
    return LiveTarget(base_url=base_url, token=token, ca_file=Path(ca) if ca else None)


@pytest.fixture(scope="session")
def budget() -> Budget:
    """The billed-request budget of this run."""
    ledger = os.environ.get(LEDGER_VAR)
    return Budget(int(os.environ.get(BUDGET_VAR, "2")), Path(ledger) if ledger else None)
