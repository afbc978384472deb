"""The contract, checked against a live API (Replicate or a reseller) over HTTP.

Cost: one prediction is meant to be created and billed (the full lifecycle test). Every
request goes through the budget guard (``contract_tests/support/budget.py``): any 2xx
create counts against the run's budget, whatever the test meant, an unexpected one is
canceled at once, and once the budget is spent no create is sent (the test is skipped,
saying so).
"""

from __future__ import annotations

import io
import os
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from PIL import Image

from contract_tests.live.conftest import LiveTarget
from contract_tests.support.budget import BILLED, BudgetSpentError, Ledger
from contract_tests.support.budget_transports import GuardedTransport
from contract_tests.support.schemathesis_cli import LIVE_CONFIG, run_schemathesis
from mock_server.contract.spec import load_spec
from mock_server.domain.images import SIZES

POLL_SECONDS = 1.0
LIFECYCLE_TIMEOUT = 180.0
TERMINAL = {"succeeded", "failed", "canceled", "aborted"}


def schema_validator(name: str) -> Draft202012Validator:
    schema = load_spec()["components"]["schemas"][name]
    return Draft202012Validator(schema, format_checker=FormatChecker())


PREDICTION = schema_validator("Prediction")
PROBLEM = schema_validator("Problem")


def conforms(validator: Draft202012Validator, body: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors


@pytest.fixture(scope="module")
def http(live: LiveTarget, ledger: Ledger) -> Iterator[httpx.Client]:
    """A client whose every request passes the budget guard."""
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(live.ca_file)) if live.ca_file else True
    )
    transport = GuardedTransport(ledger, httpx.HTTPTransport(verify=verify))
    with httpx.Client(base_url=live.base_url, transport=transport, timeout=90.0) as client:
        yield client


def create(http: httpx.Client, live: LiveTarget, body: Any, billed: str = "") -> httpx.Response:
    """POST a create; ``billed`` names it when it is meant to be billed.

    Raises:
        pytest.skip.Exception: when the guard refused it (the budget is spent; nothing sent).
    """
    extensions = {BILLED: billed} if billed else None
    try:
        return http.post("/models/google/imagen-4-ultra/predictions", json=body,
                         headers=live.auth, extensions=extensions)  # fmt: skip
    except BudgetSpentError as refused:
        pytest.skip(str(refused))


def test_schemathesis_on_reads_and_cancels(
    live: LiveTarget, ledger: Ledger, tmp_path: Path
) -> None:
    reports = Path(os.environ.get("IMAGEN_CONTRACT_REPORTS", str(tmp_path)))
    run = run_schemathesis(
        live.base_url,
        live.token,
        report_dir=reports.resolve(),
        config=LIVE_CONFIG,
        max_examples=20,
        ca_file=live.ca_file,
        ledger=ledger.path,
    )
    assert run.returncode == 0, run.output
    assert live.token not in run.output
    root = ET.parse(run.junit).getroot()
    assert root.findall(".//testcase"), "schemathesis ran no operation"


def test_no_token_is_the_documented_401(http: httpx.Client) -> None:
    response = http.get("/predictions")
    assert response.status_code == 401
    body = response.json()
    conforms(PROBLEM, body)
    assert body["detail"] == "You did not pass an authentication token"


def test_unknown_prediction_is_404(http: httpx.Client, live: LiveTarget) -> None:
    response = http.get("/predictions/thisiddoesnotexist0000000", headers=live.auth)
    assert response.status_code == 404
    conforms(PROBLEM, response.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"input": {"prompt": "x", "aspect_ratio": "2:1"}}, "input.aspect_ratio"),
        ({"input": {"prompt": "x", "output_format": "gif"}}, "input.output_format"),
        ({"input": {"prompt": "x"}, "model": "google/imagen-4-ultra"}, ""),
    ],
)
def test_invalid_create_is_422_and_not_billed(
    http: httpx.Client, live: LiveTarget, body: dict[str, Any], field: str
) -> None:
    response = create(http, live, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    conforms(PROBLEM, problem)
    assert field in [item["field"] for item in problem["invalid_fields"]]
    for item in problem["invalid_fields"]:  # a problem of the body itself has no field
        line = f"- {item['field']}: " if item["field"] else f"- {item['description']}\n"
        assert line in problem["detail"]


def test_one_billed_lifecycle(http: httpx.Client, live: LiveTarget) -> None:
    created = create(
        http,
        live,
        {"input": {"prompt": "a lighthouse on a cliff at dawn", "aspect_ratio": "4:3"}},
        billed="the lifecycle test's create",
    )
    assert created.status_code in {200, 201, 202}, created.text
    prediction = created.json()
    conforms(PREDICTION, prediction)
    assert prediction["status"] in {"starting", "processing"}
    assert prediction["model"] == "google/imagen-4-ultra"
    deadline = time.monotonic() + LIFECYCLE_TIMEOUT
    while prediction["status"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        polled = http.get(f"/predictions/{prediction['id']}", headers=live.auth)
        assert polled.status_code == 200
        prediction = polled.json()
        conforms(PREDICTION, prediction)
    assert prediction["status"] == "succeeded", prediction
    assert prediction["completed_at"] is not None
    image = http.get(prediction["output"])
    assert image.status_code == 200
    decoded = Image.open(io.BytesIO(image.content))
    assert decoded.format == "JPEG"
    width, height = decoded.size
    expected_w, expected_h = SIZES["4:3"]
    assert abs(width / height - expected_w / expected_h) < 0.05
