"""Running the schemathesis CLI over HTTP against a base URL, as CI and ``make contract`` do."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contract_tests.support.budget import LEDGER_VAR
from contract_tests.support.constants import REPO, SPEC

HERE = Path(__file__).resolve().parent
MOCK_CONFIG = HERE / "schemathesis.toml"
LIVE_CONFIG = HERE / "schemathesis-live.toml"


@dataclass(frozen=True)
class ContractRun:
    """What a schemathesis run printed and whether it found problems."""

    returncode: int
    output: str
    junit: Path


def run_schemathesis(
    base_url: str,
    token: str,
    *,
    report_dir: Path,
    config: Path = MOCK_CONFIG,
    max_examples: int = 50,
    ca_file: Path | None = None,
    ledger: Path | None = None,
) -> ContractRun:
    """Run every check of the spec against ``base_url``; the token travels in the environment.

    With ``ledger`` (a live run's budget file), every request schemathesis sends passes the
    budget guard (``contract_tests/support/budget_schemathesis.py``, loaded as its hooks).
    """
    junit = report_dir / "schemathesis-junit.xml"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(config),
        "--no-color",
        "run", str(SPEC),
        "--url", base_url.rstrip("/"),
        "--checks", "all",
        "--max-examples", str(max_examples),
        "--report", "junit",
        "--report-junit-path", str(junit),
    ]  # fmt: skip
    if ca_file is not None:
        command += ["--tls-verify", str(ca_file)]
    env = {**os.environ, "REPLICATE_API_TOKEN": token}
    if ledger is not None:
        path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env |= {"SCHEMATHESIS_HOOKS": "contract_tests.support.budget_schemathesis",
                LEDGER_VAR: str(ledger), "PYTHONPATH": path}  # fmt: skip
    done = subprocess.run(
        command, env=env, cwd=report_dir, capture_output=True, text=True, timeout=900, check=False
    )
    return ContractRun(done.returncode, done.stdout + done.stderr, junit)
