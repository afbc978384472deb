"""The live suite itself: it skips with instructions when unconfigured, and passes
against a stand-in for the live API (a second mock process on another port)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract_tests.servers import run_mock

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
TOKEN = "r8_stand_in_token"


def run_live_suite(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "REPLICATE_"))}
    env |= env_extra
    return subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests/live", "-rs", "-q",
         "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "live")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_without_url_and_token_it_skips_and_says_how(tmp_path: Path) -> None:
    done = run_live_suite({}, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" not in done.stdout
    assert "skipped" in done.stdout
    assert "make contract BASE_URL=" in done.stdout


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_against_a_stand_in_it_passes(tmp_path: Path, prefix: str) -> None:
    args = ["--token", TOKEN, "--starting-seconds", "0.3", "--processing-seconds", "0.7"]
    with run_mock(args, tls=True, tmp=tmp_path) as stand_in:
        done = run_live_suite(
            {
                "IMAGEN_CONTRACT_BASE_URL": stand_in.root + prefix,
                "REPLICATE_API_TOKEN": TOKEN,
                "IMAGEN_CONTRACT_CA_FILE": str(stand_in.ca_file),
            },
            tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout
    assert "skipped" not in done.stdout
    assert TOKEN not in done.stdout + done.stderr
