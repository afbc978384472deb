"""Scenarios and faults against a real ``imagen-mock serve``: a dropped connection,
reproducible ``--faults --seed`` runs, and the official client meeting rules."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contract_tests.support.constants import AUTH
from contract_tests.support.official_client import run_client
from contract_tests.support.servers import RunningMock, run_mock

RULES = "/_mock/rules"


@pytest.mark.slow
def test_drop_cuts_the_connection_mid_response() -> None:
    with run_mock() as mock, httpx.Client(timeout=5.0) as http:
        with pytest.raises(httpx.TransportError) as caught:
            http.get(f"{mock.api}/predictions", headers={**AUTH, "X-Mock-Fault": "drop"})
        assert isinstance(caught.value, httpx.RemoteProtocolError)
        # Cut before the status line or right after the headers, as the server flushes them.
        assert "without sending" in str(caught.value)
        assert http.get(f"{mock.api}/predictions", headers=AUTH).status_code == 200


def _fault_run(seed: int) -> list[str]:
    args = ["--faults", "429:0.25,503:0.15,500:0.1,drop:0.05", "--seed", str(seed)]
    seen: list[str] = []
    with run_mock(args) as mock, httpx.Client(timeout=5.0) as http:
        for _ in range(40):
            try:
                response = http.get(f"{mock.api}/predictions", headers=AUTH)
            except httpx.TransportError:
                seen.append("drop")
            else:
                seen.append(str(response.status_code))
    return seen


@pytest.mark.slow
def test_global_faults_repeat_for_the_same_seed() -> None:
    first, second, other = _fault_run(7), _fault_run(7), _fault_run(8)
    assert first == second
    assert first != other
    assert {"200", "429", "503"} <= set(first)


@pytest.fixture(scope="module")
def rules_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMock]:
    """A TLS mock of its own, so its rules touch no other test."""
    args = ["--starting-seconds", "0.2", "--processing-seconds", "0.3"]
    with run_mock(args, tls=True, tmp=tmp_path_factory.mktemp("rules")) as running:
        yield running


def _admin(mock: RunningMock) -> httpx.Client:
    assert mock.ca_file is not None
    verify = ssl.create_default_context(cafile=str(Path(mock.ca_file)))
    return httpx.Client(base_url=mock.root, headers=AUTH, verify=verify, timeout=5.0)


FAIL_SCRIPT = """
import json, replicate
from replicate.exceptions import ModelError
try:
    replicate.run("google/imagen-4-ultra", input={"prompt": "please fail-me"})
except ModelError as exc:
    print(json.dumps({"raised": "ModelError", "message": str(exc),
                      "status": exc.prediction.status}))
else:
    print(json.dumps({"raised": None}))
"""

RETRY_SCRIPT = """
import json, time, replicate
p = replicate.predictions.create(model="google/imagen-4-ultra", input={"prompt": "retry-me"})
began = time.monotonic()
p.wait()
print(json.dumps({"status": p.status, "waited": time.monotonic() - began}))
"""


@pytest.mark.slow
def test_official_client_meets_a_fail_rule(rules_mock: RunningMock) -> None:
    with _admin(rules_mock) as admin:
        rule = {"match": {"prompt": "fail-me"}, "scenario": "fail", "error": "GPU melted"}
        assert admin.post(RULES, json=rule).status_code == 201
        result = run_client(rules_mock, "/replicate", FAIL_SCRIPT)
        admin.delete(RULES)
    assert result == {"raised": "ModelError", "message": "GPU melted", "status": "failed"}


@pytest.mark.slow
def test_official_client_honours_retry_after(rules_mock: RunningMock) -> None:
    with _admin(rules_mock) as admin:
        rule = {"match": {"route": "get", "prompt": "retry-me"}, "fault": 429, "times": 2}
        created = admin.post(RULES, json=rule).json()
        result = run_client(rules_mock, "", RETRY_SCRIPT)
        listed = admin.get(RULES).json()["results"]
        admin.delete(RULES)
    assert result["status"] == "succeeded"
    assert result["waited"] >= 2.0  # two answers with Retry-After: 1, both waited out
    assert [(item["id"], item["hits"]) for item in listed] == [(created["id"], 2)]
    assert json.dumps(listed)  # the listing is plain JSON
