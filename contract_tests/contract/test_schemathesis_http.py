"""schemathesis over real HTTP against ``imagen-mock serve``: zero failures, both prefixes."""

from __future__ import annotations

import os
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract_tests.support.schemathesis_cli import run_schemathesis
from contract_tests.support.servers import RunningMock, run_mock

pytestmark = pytest.mark.slow
TOKEN = "r8_contracthttp"


@pytest.fixture(scope="module")
def http_mock() -> Iterator[RunningMock]:
    args = ["--token", TOKEN, "--starting-seconds", "0", "--processing-seconds", "0"]
    args += shlex.split(os.environ.get("IMAGEN_FUZZ_MOCK_ARGS", ""))  # e.g. --workers 2 ...
    with run_mock(args) as running:
        yield running


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_schemathesis_finds_nothing(http_mock: RunningMock, prefix: str, tmp_path: Path) -> None:
    examples = int(os.environ.get("IMAGEN_FUZZ_EXAMPLES", "50"))
    run = run_schemathesis(
        http_mock.root + prefix, TOKEN, report_dir=tmp_path, max_examples=examples
    )
    assert run.returncode == 0, run.output
    assert "No issues found" in run.output
    suites = ET.parse(run.junit).getroot()
    names = " ".join(case.get("name", "") for case in suites.findall(".//testcase"))
    for operation in (
        "POST /models/{model_owner}/{model_name}/predictions",
        "GET /predictions/{prediction_id}",
        "POST /predictions/{prediction_id}/cancel",
        "GET /predictions",
    ):
        assert operation in names, f"{operation} was not exercised"
    assert not suites.findall(".//failure")
    assert "Stateful" in run.output
