"""The request journal, its HAR export, health, readiness and metrics, in-process."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from flask import Flask
from flask.testing import FlaskClient

from mock_server import FakeClock, create_app
from mock_server.domain.journal import MemoryJournal, Recorded
from mock_server.http import context

TOKEN = "r8_testtoken123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
HAR_SCHEMA = Path(__file__).parents[1] / "support" / "har-1.2.schema.json"


def make_app(clock: FakeClock, **config: Any) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_TOKEN": TOKEN,
            "MOCK_STARTING_SECONDS": 1.0,
            "MOCK_PROCESSING_SECONDS": 3.0,
            **config,
        }
    )


@pytest.fixture
def mock(clock: FakeClock) -> FlaskClient:
    return make_app(clock).test_client()


def journal(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    answer = client.get("/_mock/requests", headers=AUTH, query_string=query)
    assert answer.status_code == 200, answer.data
    results: list[dict[str, Any]] = answer.json["results"]  # type: ignore[index]
    return results


def create(client: FlaskClient, prefix: str = "/v1", **input_: Any) -> str:
    answer = client.post(
        prefix + CREATE.removeprefix("/v1"),
        json={"input": {"prompt": "a lighthouse", **input_}},
        headers=AUTH,
    )
    assert answer.status_code == 201, answer.data
    return str(answer.json["id"])  # type: ignore[index]


def test_every_api_request_is_journaled_oldest_first(mock: FlaskClient) -> None:
    first = create(mock, aspect_ratio="16:9")
    mock.get(f"/v1/predictions/{first}", headers=AUTH)
    mock.get("/replicate/v1/predictions?created_after=2020-01-01T00:00:00Z", headers=AUTH)
    mock.post(f"/v1/predictions/{first}/cancel", headers=AUTH)
    mock.get("/v1/predictions/missing", headers=AUTH)
    mock.get("/v1/no-such-route", headers=AUTH)
    mock.get("/v1/predictions")  # no token: 401, journaled too

    entries = journal(mock)
    assert [(e["method"], e["route"], e["status"]) for e in entries] == [
        ("POST", "create", 201),
        ("GET", "get", 200),
        ("GET", "list", 200),
        ("POST", "cancel", 200),
        ("GET", "get", 404),
        ("GET", None, 404),
        ("GET", "list", 401),
    ]
    made = entries[0]
    assert made["path"] == CREATE
    assert made["prediction_id"] == first
    assert json.loads(made["body"])["input"]["aspect_ratio"] == "16:9"
    assert json.loads(made["response_body"])["id"] == first
    assert made["duration_ms"] >= 0
    assert made["at"].endswith("Z")
    assert entries[1]["prediction_id"] == first
    assert entries[3]["prediction_id"] == first
    assert entries[2]["path"] == "/replicate/v1/predictions"
    assert entries[2]["query"] == {"created_after": ["2020-01-01T00:00:00Z"]}
    assert entries[4]["prediction_id"] == "missing"


def test_the_token_appears_nowhere(mock: FlaskClient) -> None:
    prediction = create(mock, prompt=f"a note that says {TOKEN}")
    mock.get(f"/v1/predictions/{prediction}?echo={TOKEN}", headers={**AUTH, "X-Echo": TOKEN})
    listed = mock.get("/_mock/requests", headers=AUTH).get_data(as_text=True)
    har = mock.get("/_mock/requests.har", headers=AUTH).get_data(as_text=True)
    for text in (listed, har):
        assert TOKEN not in text
        assert "Bearer ***" in text
    entries = journal(mock)
    assert ["Authorization", "Bearer ***"] in entries[0]["headers"]
    assert "a note that says ***" in entries[0]["body"]
    assert entries[1]["query_string"] == "echo=***"


def test_the_filters_narrow_the_list(mock: FlaskClient, clock: FakeClock) -> None:
    first = create(mock)
    clock.advance(10)
    middle = clock.now()
    second = create(mock)
    mock.get(f"/v1/predictions/{second}", headers=AUTH)
    mock.get("/v1/predictions/missing", headers=AUTH)

    assert [e["prediction_id"] for e in journal(mock, route="create")] == [first, second]
    assert len(journal(mock, method="get")) == 2
    assert [e["path"] for e in journal(mock, status="404")] == ["/v1/predictions/missing"]
    assert [e["route"] for e in journal(mock, prediction_id=second)] == ["create", "get"]
    since = journal(mock, since=_rfc3339(middle))
    assert [e["route"] for e in since] == ["create", "get", "get"]
    har = mock.get("/_mock/requests.har?route=create", headers=AUTH).json
    assert [e["_prediction_id"] for e in har["log"]["entries"]] == [first, second]  # type: ignore[index]


def _rfc3339(moment: float) -> str:
    from mock_server.domain.rendering import format_time

    return format_time(moment)


@pytest.mark.parametrize(
    "query", ["route=upload", "status=20", "status=abc", "since=yesterday", "method=FETCH"]
)
def test_a_bad_filter_is_a_problem(mock: FlaskClient, query: str) -> None:
    for path in ("/_mock/requests", "/_mock/requests.har"):
        answer = mock.get(f"{path}?{query}", headers=AUTH)
        assert answer.status_code == 422, answer.data
        assert answer.mimetype == "application/problem+json"


def test_the_journal_needs_the_token(mock: FlaskClient) -> None:
    for method, path in (("GET", "/_mock/requests"), ("GET", "/_mock/requests.har")):
        assert mock.open(path, method=method).status_code == 401
    assert mock.delete("/_mock/requests").status_code == 401


def test_delete_and_reset_empty_it(mock: FlaskClient) -> None:
    create(mock)
    assert mock.delete("/_mock/requests", headers=AUTH).status_code == 204
    assert journal(mock) == []
    create(mock)
    assert mock.post("/_mock/reset", headers=AUTH).status_code == 204
    assert journal(mock) == []


def test_the_limit_drops_the_oldest(clock: FakeClock) -> None:
    client = make_app(clock, MOCK_JOURNAL_LIMIT=2).test_client()
    ids = [create(client) for _ in range(3)]
    assert [e["prediction_id"] for e in journal(client)] == ids[1:]
    off = make_app(clock, MOCK_JOURNAL_LIMIT=0).test_client()
    create(off)
    assert journal(off) == []


def test_admin_health_and_metrics_requests_are_not_journaled(mock: FlaskClient) -> None:
    mock.get("/_mock/health")
    mock.get("/_mock/ready")
    mock.get("/metrics")
    mock.get("/_mock/clock", headers=AUTH)
    mock.get("/openapi.yaml")
    assert journal(mock) == []


def test_health_and_ready_answer_without_a_token(mock: FlaskClient) -> None:
    health = mock.get("/_mock/health")
    ready = mock.get("/_mock/ready")
    assert (health.status_code, health.json) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json) == (200, {"status": "ready"})


class _Broken(MemoryJournal):
    def append(self, entry: Recorded) -> None:
        raise OSError("disk on fire")


def test_a_journal_that_cannot_be_written_fails_no_request(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(clock)
    mock = context.state(app)
    broken = dataclasses.replace(context.observer(app), journal=_Broken(10))
    app.extensions[context.EXTENSION] = dataclasses.replace(mock, observer=broken)
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            create(client)
    lines = [r.message for r in caplog.records if "journal cannot be written" in r.message]
    assert len(lines) == 1, lines
    assert "disk on fire" in lines[0]


def metric(client: FlaskClient, name: str) -> float:
    """The value of one sample (name with labels) of ``/metrics``; 0 if absent."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    for line in answer.get_data(as_text=True).splitlines():
        sample, _, value = line.rpartition(" ")
        if sample == name:
            return float(value)
    return 0.0


def test_metrics_count_requests_creations_and_endings(mock: FlaskClient, clock: FakeClock) -> None:
    first = create(mock)
    create(mock, prompt="another")
    mock.get(f"/v1/predictions/{first}", headers=AUTH)
    mock.post(f"/v1/predictions/{first}/cancel", headers=AUTH)
    mock.get("/v1/predictions/missing", headers=AUTH)

    assert metric(mock, 'imagen_mock_requests_total{route="create",status="201"}') == 2
    assert metric(mock, 'imagen_mock_requests_total{route="get",status="404"}') == 1
    assert metric(mock, 'imagen_mock_request_duration_seconds_count{route="get"}') == 2
    assert metric(mock, "imagen_mock_predictions_created_total") == 2
    assert metric(mock, 'imagen_mock_predictions_ended_total{status="canceled"}') == 1
    assert metric(mock, 'imagen_mock_predictions_ended_total{status="succeeded"}') == 0
    clock.advance(5)
    assert metric(mock, 'imagen_mock_predictions_ended_total{status="succeeded"}') == 1
    assert metric(mock, 'imagen_mock_predictions_ended_total{status="canceled"}') == 1
    assert metric(mock, "imagen_mock_held_connections") == 0
    # the admin API and the probes are not API traffic
    mock.get("/_mock/health")
    assert metric(mock, 'imagen_mock_requests_total{route="none",status="200"}') == 0


def test_an_event_stream_is_held_while_open_and_let_go_when_it_ends(
    mock: FlaskClient, clock: FakeClock
) -> None:
    made = create(mock)
    clock.advance(5)  # ended: its stream sends every event, then ends
    for _ in range(3):
        answer = mock.get(f"/stream/{made}")
        assert answer.status_code == 200
        assert b"event: done" in answer.data
        answer.close()  # as a server does with a body it has sent
    assert metric(mock, "imagen_mock_held_connections") == 0


def test_metrics_count_webhook_deliveries_and_failures(clock: FakeClock) -> None:
    def receiver(request: httpx.Request) -> httpx.Response:
        event = json.loads(request.content)["status"]
        return httpx.Response(500 if event == "succeeded" else 204)

    app = make_app(
        clock,
        MOCK_WEBHOOK_TRANSPORT=httpx.MockTransport(receiver),
        MOCK_WEBHOOK_MAX_ATTEMPTS=1,
    )
    client = app.test_client()
    answer = client.post(
        CREATE,
        json={"input": {"prompt": "a fox"}, "webhook": "http://127.0.0.1:9/hook"},
        headers=AUTH,
    )
    assert answer.status_code == 201
    from mock_server.http.context import state

    dispatcher = state(app).webhooks
    assert dispatcher is not None
    dispatcher.pump()
    clock.advance(5)
    dispatcher.pump()
    assert metric(client, 'imagen_mock_webhook_failures_total{event="completed"}') == 1
    assert metric(client, 'imagen_mock_webhook_deliveries_total{event="start"}') == 1
    assert metric(client, 'imagen_mock_webhook_deliveries_total{event="completed"}') == 0
    dispatcher.close()


def test_the_har_export_is_valid_har(mock: FlaskClient) -> None:
    prediction = create(mock)
    mock.get(f"/v1/predictions/{prediction}", headers=AUTH)
    answer = mock.get("/_mock/requests.har", headers=AUTH)
    assert answer.status_code == 200
    assert answer.mimetype == "application/har+json"
    assert "imagen-mock.har" in answer.headers["Content-Disposition"]
    doc = answer.json
    jsonschema.validate(doc, json.loads(HAR_SCHEMA.read_text()))
    entries = doc["log"]["entries"]  # type: ignore[index]
    assert [e["request"]["method"] for e in entries] == ["POST", "GET"]
    assert entries[0]["request"]["url"] == f"http://localhost{CREATE}"
    assert json.loads(entries[1]["response"]["content"]["text"])["id"] == prediction
    assert [e["_resourceType"] for e in entries] == ["fetch", "fetch"]  # DevTools' Fetch/XHR


def test_a_held_request_leaves_the_gauge_even_when_observing_it_fails(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mock_server.http import gate

    def broken(*_: object) -> None:
        raise RuntimeError("observing broke")

    monkeypatch.setattr(gate, "Exchange", broken)
    client = make_app(clock, MOCK_STARTING_SECONDS=0.0, MOCK_PROCESSING_SECONDS=0.0).test_client()
    with caplog.at_level(logging.ERROR):
        answer = client.post(
            CREATE,
            json={"input": {"prompt": "a lighthouse"}},
            headers={**AUTH, "Prefer": "wait=1"},
        )
    assert answer.status_code == 201, answer.data
    assert any("observing a request failed" in r.message for r in caplog.records)
    assert metric(client, "imagen_mock_held_connections") == 0.0


def test_a_kept_request_holds_no_body_stream_and_is_its_own_copy(mock: FlaskClient) -> None:
    create(mock)
    journal_ = context.observer(mock.application).journal
    assert isinstance(journal_, MemoryJournal)
    (kept,) = list(journal_._entries)
    environ = kept.environ  # type: ignore[attr-defined]
    assert "wsgi.input" not in environ
    assert "werkzeug.request" not in environ
    assert environ["REQUEST_METHOD"] == "POST"
