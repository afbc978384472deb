"""The live suite itself: it skips with instructions when unconfigured, and passes
against a stand-in for the live API (a second mock process on another port)."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from contract_tests.support.constants import REPO
from contract_tests.support.servers import run_mock

pytestmark = pytest.mark.slow
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


def run_contract(
    args: list[str], env_extra: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "REPLICATE_"))}
    env |= env_extra
    return subprocess.run(
        [sys.executable, "-m", "contract_tests.live", "--out", str(tmp_path / "out"), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def test_make_contract_refuses_without_url_or_token(tmp_path: Path) -> None:
    no_token = run_contract(["--base-url", "https://api.replicate.com/v1"], {}, tmp_path)
    assert no_token.returncode == 2
    assert "refusing to start: REPLICATE_API_TOKEN not set" in no_token.stderr
    assert "make contract BASE_URL=" in no_token.stderr
    no_url = run_contract([], {"REPLICATE_API_TOKEN": TOKEN}, tmp_path)
    assert no_url.returncode == 2
    assert "BASE_URL not set" in no_url.stderr
    assert TOKEN not in no_url.stdout + no_url.stderr


def test_dry_run_lists_requests_and_sends_nothing(tmp_path: Path) -> None:
    done = run_contract(["--base-url", "https://127.0.0.1:9/v1", "--dry-run"], {}, tmp_path)
    assert done.returncode == 0
    assert "(billed)" in done.stdout
    assert "create and wait" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("budget", "billed"), [(2, 2), (0, 0)])
def test_contract_run_against_a_stand_in(tmp_path: Path, budget: int, billed: int) -> None:
    args = ["--token", TOKEN, "--starting-seconds", "0.2", "--processing-seconds", "0.3"]
    with run_mock(args, tls=True, tmp=tmp_path) as stand_in:
        assert stand_in.ca_file is not None
        done = run_contract(
            ["--base-url", stand_in.root + "/replicate/v1", "--budget", str(budget),
             "--ca-file", str(stand_in.ca_file)],
            {"REPLICATE_API_TOKEN": TOKEN},
            tmp_path,
        )  # fmt: skip
        listed = httpx.get(
            stand_in.api + "/predictions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            verify=ssl.create_default_context(cafile=str(stand_in.ca_file)),
        ).json()["results"]
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"billed predictions {billed} of budget {budget}" in output
    assert len(listed) == billed, "the stand-in saw exactly the budgeted creates"
    out = tmp_path / "out"
    suite = ET.parse(out / "junit.xml").getroot()
    assert int(suite.findall(".//testsuite")[0].get("tests", "0")) == 7
    assert (out / "schemathesis-junit.xml").exists()
    assert (out / "drift.md").read_text().startswith("# Drift report")
    assert TOKEN not in output
    for written in (path for path in out.rglob("*") if path.is_file()):
        assert TOKEN not in written.read_text(errors="replace"), f"the token leaked into {written}"


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
