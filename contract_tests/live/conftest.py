"""The live target: a base URL and a token from the environment, or a skip that says how;
and the run's budget ledger (see ``contract_tests/support/budget.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract_tests.support.budget import LEDGER_VAR, Ledger, report

BASE_URL_VAR = "IMAGEN_CONTRACT_BASE_URL"
TOKEN_VAR = "REPLICATE_API_TOKEN"
CA_VAR = "IMAGEN_CONTRACT_CA_FILE"
BUDGET_VAR = "IMAGEN_CONTRACT_BUDGET"
HOW = (
    "live contract checks need a base URL and a token: "
    "REPLICATE_API_TOKEN=r8_... make contract BASE_URL=https://api.replicate.com/v1 "
    "(or BASE_URL=https://HOST/replicate/v1 for a reseller)"
)


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
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """The run's budget ledger: the one ``make contract`` named in ``IMAGEN_CONTRACT_LEDGER``,
    or a fresh one allowing ``IMAGEN_CONTRACT_BUDGET`` (default 2) billed creates."""
    given = os.environ.get(LEDGER_VAR, "").strip()
    if given:
        return Ledger(Path(given))
    path = tmp_path_factory.mktemp("budget") / "ledger.json"
    _owned.append(path)
    return Ledger.create(path, int(os.environ.get(BUDGET_VAR, "2")))


_owned: list[Path] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the suite created, when it kept its own ledger (``make contract`` prints its
    own report, drift included, at the end of the run)."""
    for path in _owned:
        if path.exists():
            terminalreporter.write_line(report(Ledger(path).state()))
