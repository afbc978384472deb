"""Scenarios and faults over HTTP: ``X-Mock-*`` headers, ``/_mock/rules``, global faults.

The Flask test client (fake clock) covers every header, rule and fault;
``e2e/test_scenarios_served.py`` has the real processes (a dropped connection,
reproducible ``--faults --seed`` runs, the official client meeting rules).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.hooks import create as webhook_create
from contract_tests.support.hooks import dispatcher_of
from mock_server import FakeClock, SettingError, create_app
from mock_server.domain.safety import SAFETY_ERROR

PROBLEM = "application/problem+json"
RULES = "/_mock/rules"


def create(client: FlaskClient, prompt: str = "a fox", **headers: str) -> Any:
    body = {"input": {"prompt": prompt}}
    return client.post(CREATE, json=body, headers={**AUTH, **headers})


def status_after(client: FlaskClient, clock: FakeClock, pid: str, seconds: float) -> Any:
    clock.advance(seconds)
    return client.get(f"/v1/predictions/{pid}", headers=AUTH).get_json()


def add_rule(client: FlaskClient, rule: dict[str, Any]) -> dict[str, Any]:
    response = client.post(RULES, json=rule, headers=AUTH)
    assert response.status_code == 201, response.data
    doc: dict[str, Any] = response.get_json()
    return doc


# --- X-Mock-Scenario --------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "status", "error", "output", "removed"),
    [
        ("succeed", "succeeded", None, True, False),
        ("fail", "failed", "Prediction failed (mock scenario).", False, False),
        ("safety_block", "failed", SAFETY_ERROR, False, False),
        ("cancel_midway", "canceled", None, False, False),
        ("stuck", "starting", None, False, False),
        ("slow", "processing", None, False, False),
        ("data_removed", "succeeded", None, False, True),
    ],
)
def test_each_scenario_header(
    client: FlaskClient,
    clock: FakeClock,
    scenario: str,
    status: str,
    error: str | None,
    output: bool,
    removed: bool,
) -> None:
    created = create(client, **{"X-Mock-Scenario": scenario})
    assert created.status_code == 201
    assert created.get_json()["status"] == "starting"
    shown = status_after(client, clock, created.get_json()["id"], 12.0)
    assert (shown["status"], shown["error"]) == (status, error)
    assert (shown["output"] is not None, shown["data_removed"]) == (output, removed)


def test_fail_header_takes_its_error_and_the_stream_follows(
    client: FlaskClient, clock: FakeClock
) -> None:
    created = create(client, **{"X-Mock-Scenario": "fail", "X-Mock-Error": "GPU melted"})
    pid = created.get_json()["id"]
    assert status_after(client, clock, pid, 5.0)["error"] == "GPU melted"
    text = client.get(f"/stream/{pid}").get_data(as_text=True)
    assert 'event: error\nid: 3\ndata: {"detail": "GPU melted"}' in text


def test_webhooks_follow_the_scenario(hook_client: FlaskClient, hook_app: Flask) -> None:
    headers = {"X-Mock-Scenario": "cancel_midway"}
    pid = webhook_create(hook_client, headers=headers, webhook_events_filter=["completed"])["id"]
    hook_app.config["MOCK_CLOCK"].advance(10)
    dispatcher_of(hook_app).pump()
    attempts = dispatcher_of(hook_app).attempts(pid, "completed")
    assert [json.loads(attempt.body)["status"] for attempt in attempts] == ["canceled"]


def test_slow_factor_header(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client, **{"X-Mock-Scenario": "slow", "X-Mock-Slow-Factor": "2"})
    pid = created.get_json()["id"]
    assert status_after(client, clock, pid, 7.9)["status"] == "processing"
    assert status_after(client, clock, pid, 0.1)["status"] == "succeeded"


def test_a_stuck_prediction_can_be_canceled(client: FlaskClient, clock: FakeClock) -> None:
    pid = create(client, **{"X-Mock-Scenario": "stuck"}).get_json()["id"]
    clock.advance(3600)
    canceled = client.post(f"/v1/predictions/{pid}/cancel", headers=AUTH).get_json()
    assert canceled["status"] == "canceled"


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Mock-Scenario": "explode"}, "X-Mock-Scenario"),
        ({"X-Mock-Scenario": "slow", "X-Mock-Slow-Factor": "fast"}, "factor"),
        ({"X-Mock-Fault": "418"}, "X-Mock-Fault"),
        ({"X-Mock-Fault": "429", "X-Mock-Retry-After": "-3"}, "X-Mock-Retry-After"),
        ({"X-Mock-Latency-Ms": "lots"}, "X-Mock-Latency-Ms"),
    ],
)
def test_invalid_mock_headers_are_422(
    client: FlaskClient, headers: dict[str, str], field: str
) -> None:
    response = create(client, **headers)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["title"] == "Invalid request header"
    assert body["invalid_fields"][0]["field"] == field


def test_scenario_header_is_ignored_off_create(client: FlaskClient) -> None:
    response = client.get("/v1/predictions", headers={**AUTH, "X-Mock-Scenario": "nope"})
    assert response.status_code == 200


# --- X-Mock-Fault and X-Mock-Latency-Ms ---------------------------------------------


def test_fault_header_429(client: FlaskClient) -> None:
    headers = {**AUTH, "X-Mock-Fault": "429", "X-Mock-Retry-After": "7"}
    response = client.get("/replicate/v1/predictions", headers=headers)
    assert response.status_code == 429
    assert response.mimetype == PROBLEM
    assert response.headers["Retry-After"] == "7"
    assert response.data == (
        b'{"detail":"Request was throttled. Your rate limit resets in ~7s.",'
        b'"status":429,"retry_after":7}'
    )


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("402", "Insufficient credit"),
        ("500", "Internal server error"),
        ("503", "Service unavailable"),
    ],
)
def test_fault_header_problems(client: FlaskClient, kind: str, title: str) -> None:
    response = create(client, **{"X-Mock-Fault": kind})
    assert response.status_code == int(kind)
    assert response.mimetype == PROBLEM
    assert response.get_json()["title"] == title
    assert client.get("/v1/predictions", headers=AUTH).get_json()["results"] == []


def test_fault_header_drop_breaks_the_connection(client: FlaskClient) -> None:
    with pytest.raises(ConnectionAbortedError):
        client.get("/v1/predictions", headers={**AUTH, "X-Mock-Fault": "drop"})


def test_faults_need_a_token_first(client: FlaskClient) -> None:
    assert client.get("/v1/predictions", headers={"X-Mock-Fault": "429"}).status_code == 401


def test_latency_header_waits_on_the_clock(client: FlaskClient, clock: FakeClock) -> None:
    before = clock.now()
    headers = {**AUTH, "X-Mock-Latency-Ms": "250"}
    assert client.get("/v1/predictions", headers=headers).status_code == 200
    assert clock.now() - before == pytest.approx(0.25)


# --- /_mock/rules ---------------------------------------------------------------------


def test_rules_api_round_trip(client: FlaskClient) -> None:
    response = client.post(
        RULES, json={"match": {"route": "get"}, "fault": 503, "times": 2}, headers=AUTH
    )
    assert response.status_code == 201
    rule = response.get_json()
    assert response.headers["Location"].endswith(f"/_mock/rules/{rule['id']}")
    assert rule == {
        "id": rule["id"],
        "match": {"route": "get"},
        "fault": "503",
        "times": 2,
        "remaining": 2,
        "hits": 0,
    }
    second = add_rule(client, {"latency_ms": 10})
    listed = client.get(RULES, headers=AUTH).get_json()["results"]
    assert [item["id"] for item in listed] == [rule["id"], second["id"]]
    assert client.delete(f"{RULES}/{rule['id']}", headers=AUTH).status_code == 204
    missing = client.delete(f"{RULES}/{rule['id']}", headers=AUTH)
    assert missing.status_code == 404
    assert missing.mimetype == PROBLEM
    assert client.delete(RULES, headers=AUTH).status_code == 204
    assert client.get(RULES, headers=AUTH).get_json() == {"results": []}


def test_rules_api_needs_a_token(client: FlaskClient) -> None:
    assert client.get(RULES).status_code == 401
    assert client.post(RULES, json={"fault": "500"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{", "application/json", 400),
        (b'{"fault": "500"}', "text/plain", 415),
        (b'{"fault": "418"}', "application/json", 422),
        (b'{"match": {"route": "list"}, "scenario": "fail"}', "application/json", 422),
        (b"{}", "application/json", 422),
    ],
)
def test_bad_rules_are_problems(
    client: FlaskClient, body: bytes, content_type: str, status: int
) -> None:
    response = client.post(RULES, data=body, headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == status
    assert response.mimetype == PROBLEM


def test_a_prompt_rule_picks_the_scenario(client: FlaskClient, clock: FakeClock) -> None:
    add_rule(client, {"match": {"prompt": "fail-me"}, "scenario": "fail", "error": "boom"})
    failing = create(client, "please fail-me").get_json()["id"]
    fine = create(client, "a calm sea").get_json()["id"]
    clock.advance(5)
    assert status_after(client, clock, failing, 0)["error"] == "boom"
    assert status_after(client, clock, fine, 0)["status"] == "succeeded"


def test_a_lone_surrogate_is_read_as_u_fffd_as_replicate_reads_it(
    client: FlaskClient, clock: FakeClock
) -> None:
    # JSON lets a string hold half a surrogate pair, which UTF-8 cannot carry: Replicate's
    # server (Go) reads it as U+FFFD, and so does the mock, in a rule and in a prompt.
    rule = client.post(
        RULES,
        data=b'{"match": {"prompt": "\\ud800$"}, "scenario": "fail", "error": "boom"}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert rule.status_code == 201
    assert rule.get_json()["match"]["prompt"] == "\ufffd$"
    created = client.post(
        CREATE,
        data=b'{"input": {"prompt": "odd \\udfff"}}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert created.status_code == 201
    assert created.get_json()["input"]["prompt"] == "odd \ufffd"
    assert status_after(client, clock, created.get_json()["id"], 5)["error"] == "boom"


def test_a_burst_rule_answers_the_next_n_requests(client: FlaskClient) -> None:
    pid = create(client).get_json()["id"]
    add_rule(client, {"match": {"route": "get"}, "fault": "503", "times": 2})
    codes = [client.get(f"/v1/predictions/{pid}", headers=AUTH).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert client.get(RULES, headers=AUTH).get_json()["results"][0]["remaining"] == 0


def test_a_get_rule_matches_the_stored_prompt(client: FlaskClient) -> None:
    target = create(client, "retry-me").get_json()["id"]
    other = create(client, "leave me").get_json()["id"]
    add_rule(client, {"match": {"route": "get|cancel", "prompt": "^retry"}, "fault": 429})
    assert client.get(f"/v1/predictions/{other}", headers=AUTH).status_code == 200
    response = client.get(f"/v1/predictions/{target}", headers=AUTH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert client.post(f"/v1/predictions/{target}/cancel", headers=AUTH).status_code == 429


def test_a_latency_rule_slows_one_route(client: FlaskClient, clock: FakeClock) -> None:
    add_rule(client, {"match": {"route": "list"}, "latency_ms": 1500})
    before = clock.now()
    create(client)
    assert clock.now() == before
    client.get("/v1/predictions", headers=AUTH)
    assert clock.now() - before == pytest.approx(1.5)


def test_a_drop_rule(client: FlaskClient) -> None:
    add_rule(client, {"match": {"route": "list"}, "fault": "drop", "times": 1})
    with pytest.raises(ConnectionAbortedError):
        client.get("/v1/predictions", headers=AUTH)
    assert client.get("/v1/predictions", headers=AUTH).status_code == 200


# --- global faults and precedence -------------------------------------------------


@pytest.fixture
def faulty(clock: FakeClock) -> FlaskClient:
    """Every API request draws a global 500."""
    app = create_app({"TESTING": True, "MOCK_CLOCK": clock, "MOCK_FAULTS": "500:1", "MOCK_SEED": 3})
    return app.test_client()


def test_header_beats_rule_beats_global(faulty: FlaskClient) -> None:
    assert faulty.get("/v1/predictions", headers=AUTH).status_code == 500
    add_rule(faulty, {"match": {"route": "list"}, "fault": "429", "times": 2})
    assert faulty.get("/v1/predictions", headers=AUTH).status_code == 429
    with_header = {**AUTH, "X-Mock-Fault": "402"}
    assert faulty.get("/v1/predictions", headers=with_header).status_code == 402
    assert faulty.get("/v1/predictions", headers=AUTH).status_code == 500
    no_fault = {**AUTH, "X-Mock-Fault": "none"}
    assert faulty.get("/v1/predictions", headers=no_fault).status_code == 200


def test_global_faults_spare_admin_spec_pages_and_files(faulty: FlaskClient) -> None:
    pid = create(faulty, **{"X-Mock-Fault": "none"}).get_json()["id"]
    assert faulty.get(RULES, headers=AUTH).status_code == 200
    assert faulty.get("/_mock/webhooks/deliveries", headers=AUTH).status_code == 200
    assert faulty.get("/openapi.yaml").status_code == 200
    assert faulty.get(f"/p/{pid}").status_code == 200
    assert faulty.get("/p").status_code == 200


def test_global_faults_are_off_by_default(client: FlaskClient) -> None:
    assert all(client.get("/v1/predictions", headers=AUTH).status_code == 200 for _ in range(50))


def test_bad_global_faults_stop_the_app() -> None:
    with pytest.raises(SettingError, match=r"^MOCK_FAULTS must be a KIND:RATE,\.\.\. list"):
        create_app({"TESTING": True, "MOCK_FAULTS": "429:2"})


# --- command line -----------------------------------------------------------------


def test_cli_faults_and_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    from mock_server.serving.cli import parse_settings

    monkeypatch.delenv("IMAGEN_MOCK_FAULTS", raising=False)
    monkeypatch.delenv("IMAGEN_MOCK_SEED", raising=False)
    settings = parse_settings(["--faults", "429:0.05,503:0.02", "--seed", "7"])
    assert (settings.faults, settings.seed) == ("429:0.05,503:0.02", 7)
    monkeypatch.setenv("IMAGEN_MOCK_FAULTS", "drop:0.1")
    monkeypatch.setenv("IMAGEN_MOCK_SEED", "9")
    settings = parse_settings([])
    assert (settings.faults, settings.seed) == ("drop:0.1", 9)


def test_cli_refuses_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    from mock_server.serving.cli import main

    assert main(["serve", "--faults", "429:2"]) == 2
    assert "--faults" in capsys.readouterr().err
