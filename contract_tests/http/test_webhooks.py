"""Webhooks through the API on the Flask test client and a fake clock: validation of the
create body, deliveries, the admin listing and the command-line options.

Nothing here opens a socket: deliveries go to an ``httpx.MockTransport``, and hosts
outside the allow-list are never contacted. ``e2e/test_webhooks_served.py`` has a real
server delivering to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from replicate.webhook import Webhooks, WebhookSigningSecret

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.hooks import HOOK, SECRET, Recorder, create, dispatcher_of
from mock_server import FakeClock, create_app
from mock_server.serving.cli import main, parse_settings


def settle(app: Flask, clock: FakeClock) -> None:
    """Pump deliveries, moving the fake clock to each due time, until none are pending."""
    dispatcher = dispatcher_of(app)
    for _ in range(100):
        dispatcher.pump()
        due = dispatcher.next_due()
        if due is None:
            return
        clock.advance(max(due - clock.now(), 0.0))
    raise AssertionError("deliveries did not settle")


# --- validation of the create body ----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://localhost/hook", "localhost:8000/hook", "javascript:alert(1)", "file:///etc/passwd"],
)
def test_a_webhook_that_is_not_http_is_a_422(client: FlaskClient, url: str) -> None:
    response = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}, "webhook": url})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    fields = response.get_json()["invalid_fields"]
    assert [(item["type"], item["field"]) for item in fields] == [("pattern", "webhook")]


@pytest.mark.parametrize(
    ("events", "kind"), [(["finished"], "enum"), (["start", "start"], "unique")]
)
def test_a_bad_events_filter_is_a_422(client: FlaskClient, events: list[str], kind: str) -> None:
    response = client.post(
        CREATE,
        headers=AUTH,
        json={"input": {"prompt": "x"}, "webhook": HOOK, "webhook_events_filter": events},
    )
    assert response.status_code == 422
    assert response.get_json()["invalid_fields"][0]["type"] == kind


# --- deliveries through the API -------------------------------------------------------


def test_the_lifecycle_is_delivered_signed_with_this_servers_urls(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(hook_client, "/replicate/v1/models/google/imagen-4-ultra/predictions")
    assert recorder.requests == [], "nothing is sent from the request itself"
    settle(hook_app, clock)
    bodies = recorder.bodies()
    assert [body["status"] for body in bodies] == ["processing"] * 3 + ["succeeded"] * 3
    assert all(body["id"] == created["id"] for body in bodies)
    assert all(body["webhook"] == HOOK for body in bodies)  # as real deliveries carry it
    assert all(len(body["webhook_events_filter"]) == 4 for body in bodies)
    assert bodies[-1]["urls"] == created["urls"]
    assert bodies[-1]["urls"]["get"].startswith("http://localhost/replicate/v1/predictions/")
    assert bodies[-1]["output"] == f"http://localhost/delivery/{created['id']}/output.jpg"
    served = hook_client.get("/v1/webhooks/default/secret", headers=AUTH).get_json()["key"]
    assert served == SECRET
    for request in recorder.requests:
        Webhooks.validate(
            headers=dict(request.headers),
            body=request.content.decode(),
            secret=WebhookSigningSecret(key=served),
        )
    events = [a["event"] for a in deliveries(hook_client, prediction_id=created["id"])]
    assert events == ["start", "logs", "logs", "logs", "output", "completed"]


def test_the_events_filter_is_applied(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    create(hook_client, webhook_events_filter=["start", "completed"])
    create(hook_client, webhook_events_filter=[])
    settle(hook_app, clock)
    assert [body["status"] for body in recorder.bodies()] == ["processing", "succeeded"]


def test_a_cancel_through_the_api_delivers_completed_canceled(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(hook_client)
    clock.advance(2.0)
    canceled = hook_client.post(f"/v1/predictions/{created['id']}/cancel", headers=AUTH)
    assert canceled.get_json()["status"] == "canceled"
    settle(hook_app, clock)
    final = recorder.bodies()[-1]
    assert final["status"] == "canceled"
    assert final["completed_at"] == canceled.get_json()["completed_at"]
    last = deliveries(hook_client, prediction_id=created["id"])[-1]
    assert (last["event"], json.loads(last["request"]["body"])["status"]) == (
        "completed",
        "canceled",
    )


def test_a_cancel_after_deadline_delivers_completed_aborted(recorder: Recorder) -> None:
    clock = FakeClock()
    app = create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_STARTING_SECONDS": 10.0,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(recorder),
        }
    )
    try:
        create(app.test_client(), headers={"Cancel-After": "5s"})
        settle(app, clock)
    finally:
        dispatcher_of(app).close()
    assert [body["status"] for body in recorder.bodies()] == ["aborted"]


def test_hosts_outside_the_allow_list_are_logged_not_contacted(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock, recorder: Recorder
) -> None:
    created = create(
        hook_client, webhook="https://example.com/hook", webhook_events_filter=["completed"]
    )
    settle(hook_app, clock)
    assert recorder.requests == []
    [attempt] = deliveries(hook_client, prediction_id=created["id"])
    assert attempt["delivered"] is False
    assert attempt["status_code"] is None
    assert attempt["retry_at"] is None
    assert attempt["error"] == "host 'example.com' is not in the allowed webhook hosts"


def test_requests_are_not_held_by_a_slow_receiver() -> None:
    """With a real clock the thread delivers; a receiver that hangs blocks no request."""
    release = threading.Event()
    reached = threading.Event()

    def hang(request: httpx.Request) -> httpx.Response:
        reached.set()
        release.wait(5)
        return httpx.Response(200)

    app = create_app(
        {
            "TESTING": True,
            "MOCK_STARTING_SECONDS": 0.0,
            "MOCK_PROCESSING_SECONDS": 0.0,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(hang),
        }
    )
    client = app.test_client()
    try:
        assert not dispatcher_of(app).is_running()
        created = create(client)
        assert dispatcher_of(app).is_running()
        assert reached.wait(5), "the thread did not deliver"
        started = time.monotonic()
        assert client.get(f"/v1/predictions/{created['id']}", headers=AUTH).status_code == 200
        create(client)
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        dispatcher_of(app).close()
    assert not dispatcher_of(app).is_running()


# --- the admin API --------------------------------------------------------------------


def deliveries(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    response = client.get("/_mock/webhooks/deliveries", headers=AUTH, query_string=query)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    results: list[dict[str, Any]] = response.get_json()["results"]
    return results


def test_admin_lists_filters_and_clears(
    hook_app: Flask, hook_client: FlaskClient, clock: FakeClock
) -> None:
    first = create(hook_client, webhook_events_filter=["start", "completed"])
    second = create(hook_client, webhook_events_filter=["completed"])
    settle(hook_app, clock)
    everything = deliveries(hook_client)
    assert [(a["prediction_id"], a["event"]) for a in everything] == [
        (first["id"], "start"),
        (first["id"], "completed"),
        (second["id"], "completed"),
    ]
    attempt = everything[0]
    assert set(attempt) == {
        "prediction_id",
        "event",
        "webhook_id",
        "url",
        "attempt",
        "attempted_at",
        "delivered",
        "status_code",
        "error",
        "retry_at",
        "request",
    }
    assert (attempt["url"], attempt["attempt"], attempt["status_code"]) == (HOOK, 1, 200)
    assert attempt["request"]["headers"]["webhook-id"] == attempt["webhook_id"]
    assert json.loads(attempt["request"]["body"])["id"] == first["id"]
    assert len(deliveries(hook_client, prediction_id=second["id"])) == 1
    assert len(deliveries(hook_client, event="completed")) == 2
    assert deliveries(hook_client, prediction_id="nope") == []
    cleared = hook_client.delete("/_mock/webhooks/deliveries", headers=AUTH)
    assert (cleared.status_code, cleared.data) == (204, b"")
    assert deliveries(hook_client) == []


def test_admin_errors_are_problems(hook_client: FlaskClient) -> None:
    missing = hook_client.get("/_mock/webhooks/deliveries")
    assert (missing.status_code, missing.mimetype) == (401, "application/problem+json")
    assert missing.get_json()["detail"] == "You did not pass an authentication token"
    bad = hook_client.get("/_mock/webhooks/deliveries?event=finished", headers=AUTH)
    assert bad.status_code == 422
    assert bad.get_json()["invalid_fields"][0]["field"] == "event"
    wrong_method = hook_client.post("/_mock/webhooks/deliveries", headers=AUTH)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_admin_takes_the_pinned_token() -> None:
    app = create_app({"TESTING": True, "MOCK_TOKEN": "only-this", "MOCK_CLOCK": FakeClock()})
    client = app.test_client()
    wrong = client.get("/_mock/webhooks/deliveries", headers=AUTH)
    assert wrong.status_code == 401
    good = client.get("/_mock/webhooks/deliveries", headers={"Authorization": "Bearer only-this"})
    assert good.get_json() == {"results": []}


def test_a_malformed_pinned_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_app({"MOCK_WEBHOOK_SECRET": "not-a-secret"})


# --- the command line -----------------------------------------------------------------


def test_cli_webhook_options(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    for text in (
        "--webhook-secret",
        "IMAGEN_MOCK_WEBHOOK_SECRET",
        "--webhook-allowed-hosts",
        "IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS",
    ):
        assert text in help_text
    monkeypatch.delenv("IMAGEN_MOCK_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS", raising=False)
    defaults = parse_settings([])
    assert (defaults.webhook_secret, defaults.webhook_allowed_hosts) == (
        None,
        frozenset({"localhost", "127.0.0.1", "::1"}),
    )
    monkeypatch.setenv("IMAGEN_MOCK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS", "*")
    from_env = parse_settings([])
    assert (from_env.webhook_secret, from_env.webhook_allowed_hosts) == (SECRET, frozenset({"*"}))


def test_cli_refuses_a_malformed_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--webhook-secret", "whsec_not base64"]) == 2
    err = capsys.readouterr().err
    assert "--webhook-secret" in err
    assert len(err.splitlines()) == 1
