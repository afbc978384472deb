"""No live run can create more predictions than its budget: ``make contract`` and the
schemathesis it starts, pointed at a stand-in that accepts every create (a real server
process on loopback, ``contract_tests/support/accepting_stand_in.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from contract_tests.support.budget import Ledger, is_create
from contract_tests.support.constants import REPO
from contract_tests.support.schemathesis_cli import MOCK_CONFIG, run_schemathesis
from contract_tests.support.servers import free_port, stop

pytestmark = pytest.mark.slow
TOKEN = "r8_lax_stand_in_token"


@contextmanager
def lax_stand_in() -> Iterator[str]:
    """``http://127.0.0.1:port`` of a running accepting stand-in."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "contract_tests.support.accepting_stand_in", "--port", str(port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{root}/_seen", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield root
    finally:
        stop(process)


def seen(root: str) -> list[tuple[str, str]]:
    return [(method, path) for method, path in httpx.get(f"{root}/_seen", timeout=5).json()]


def creates_and_cancels(root: str) -> tuple[list[str], list[str]]:
    requests = seen(root)
    creates = [path for method, path in requests if is_create(method, path)]
    cancels = [path for method, path in requests if method == "POST" and path.endswith("/cancel")]
    return creates, cancels


def test_make_contract_against_a_stand_in_that_accepts_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "REPLICATE_"))}
    out = tmp_path / "out"
    with lax_stand_in() as root:
        done = subprocess.run(
            [sys.executable, "-m", "contract_tests.live", "--base-url", f"{root}/replicate/v1",
             "--budget", "2", "--out", str(out)],
            cwd=REPO, env={**env, "REPLICATE_API_TOKEN": TOKEN},
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        creates, cancels = creates_and_cancels(root)
    output = done.stdout + done.stderr
    assert len(creates) == 2, f"{len(creates)} creates reached the stand-in: {creates}\n{output}"
    state = Ledger(out / "budget-ledger.json").state()
    ids = [item.id for item in state.created]
    assert len(ids) == 2
    assert all(ids)
    # every create was unexpected (probes built to be refused, schemathesis): each canceled
    for pid in ids:
        assert f"/replicate/v1/predictions/{pid}/cancel" in cancels
    assert state.refused, "later creates (the lifecycle test, drift's) were refused, not sent"
    for pid in ids:
        assert f"created {pid} HTTP 201 status=starting UNEXPECTED canceled: HTTP 200, status=canceled" in done.stdout  # fmt: skip
    assert "budget: 2 billed create(s) of 2 allowed; 2 unexpected" in done.stdout
    assert "billed predictions 2 of budget 2" in done.stdout
    assert done.returncode != 0, "unexpected creates fail the run"
    assert TOKEN not in output


def test_schemathesis_is_guarded_too(tmp_path: Path) -> None:
    """The mock's own schemathesis settings, creates and stateful links included, held to 1."""
    ledger = Ledger.create(tmp_path / "ledger.json", 1)
    with lax_stand_in() as root:
        run = run_schemathesis(f"{root}/v1", TOKEN, report_dir=tmp_path, config=MOCK_CONFIG,
                               max_examples=5, ledger=ledger.path)  # fmt: skip
        creates, cancels = creates_and_cancels(root)
    state = ledger.state()
    assert len(creates) == 1, f"{creates}\n{run.output}"
    (created,) = state.created
    assert f"/v1/predictions/{created.id}/cancel" in cancels
    assert state.refused, run.output
    assert "budget of 1 billed create(s) spent" in run.output
