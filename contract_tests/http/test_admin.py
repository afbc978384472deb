"""The admin API: moving the clock, resetting, the admin spec; and the adjustable clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE, REPO
from contract_tests.support.waiting import wait_for
from mock_server import AdjustableClock, FakeClock, SystemClock, create_app
from mock_server.http import context
from mock_server.http.context import MockState

BOUND = 5.0
"""Longest any test here waits for a thread (seconds of real time)."""


def state_of(app: Flask) -> MockState:
    return context.state(app)


def create(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "a fox"}, **body})
    assert response.status_code == 201, response.data
    created: dict[str, Any] = response.get_json()
    return created


def advance(client: FlaskClient, seconds: Any) -> Any:
    return client.post("/_mock/clock", headers=AUTH, json={"advance_seconds": seconds})


# --- the clock endpoints ------------------------------------------------------------------


def test_get_clock_shows_now_and_offset(client: FlaskClient, clock: FakeClock) -> None:
    response = client.get("/_mock/clock", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"now": "2025-07-30T03:28:46.805Z", "offset_seconds": 0.0}


def test_advancing_moves_predictions_along(client: FlaskClient) -> None:
    created = create(client)
    response = advance(client, 4.5)
    assert response.status_code == 200
    assert response.get_json() == {"now": "2025-07-30T03:28:51.305Z", "offset_seconds": 4.5}
    shown = client.get(f"/v1/predictions/{created['id']}", headers=AUTH).get_json()
    assert shown["status"] == "succeeded"
    assert client.get("/_mock/clock", headers=AUTH).get_json()["offset_seconds"] == 4.5


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"advance_seconds": 0}, "exclusive_minimum"),
        ({"advance_seconds": -3}, "exclusive_minimum"),
        ({"advance_seconds": "5"}, "invalid_type"),
        ({"advance_seconds": True}, "invalid_type"),
        ({"advance_seconds": 365 * 86400 + 1}, "maximum"),
        ({}, "required"),
        ({"advance_seconds": 1, "back": 1}, "additional_property_not_allowed"),
        ([1], "invalid_type"),
    ],
)
def test_a_bad_clock_change_is_a_422(client: FlaskClient, body: Any, kind: str) -> None:
    response = client.post("/_mock/clock", headers=AUTH, json=body)
    assert response.status_code == 422, response.data
    assert response.mimetype == "application/problem+json"
    doc = response.get_json()
    assert doc["title"] == "Invalid clock change"
    assert [item["type"] for item in doc["invalid_fields"]] == [kind]
    assert client.get("/_mock/clock", headers=AUTH).get_json()["offset_seconds"] == 0


def test_the_clock_cannot_pass_its_total_limit(client: FlaskClient) -> None:
    year = 365 * 86400
    for _ in range(1000):
        assert advance(client, year).status_code == 200
    response = advance(client, year)
    assert response.status_code == 422
    assert response.get_json()["invalid_fields"][0]["field"] == "advance_seconds"


def test_clock_change_errors(client: FlaskClient) -> None:
    assert client.get("/_mock/clock").status_code == 401
    assert client.post("/_mock/clock", json={"advance_seconds": 1}).status_code == 401
    sent = client.post("/_mock/clock", headers=AUTH, data="advance=1")
    assert sent.status_code == 415
    broken = client.post("/_mock/clock", headers=AUTH, data="{", content_type="application/json")
    assert broken.status_code == 400
    assert broken.mimetype == "application/problem+json"
    assert client.put("/_mock/clock", headers=AUTH).status_code == 405


def test_a_system_clock_cannot_be_moved() -> None:
    client = create_app({"TESTING": True, "MOCK_CLOCK": SystemClock()}).test_client()
    assert client.get("/_mock/clock", headers=AUTH).get_json()["offset_seconds"] == 0
    response = advance(client, 1)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_a_pinned_token_guards_the_admin_api() -> None:
    client = create_app({"TESTING": True, "MOCK_TOKEN": "r8_pinned"}).test_client()
    assert client.get("/_mock/clock", headers=AUTH).status_code == 401
    assert client.post("/_mock/reset", headers=AUTH).status_code == 401
    pinned = {"Authorization": "Bearer r8_pinned"}
    assert client.get("/_mock/clock", headers=pinned).status_code == 200


# --- reset and the admin spec ---------------------------------------------------------------


def test_reset_forgets_predictions_and_deliveries() -> None:
    clock = FakeClock()
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    app = create_app(
        {
            "TESTING": True,
            "MOCK_CLOCK": clock,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(receive),
        }
    )
    dispatcher = state_of(app).webhooks
    assert dispatcher is not None
    try:
        client = app.test_client()
        created = create(client, webhook="http://127.0.0.1:9/hook")
        clock.advance(1)  # "start" is due when the prediction starts
        dispatcher.pump()
        assert client.get("/_mock/webhooks/deliveries", headers=AUTH).get_json()["results"]
        assert dispatcher.next_due() is not None  # a retry is pending

        assert client.post("/_mock/reset", headers=AUTH).status_code == 204

        assert client.get(f"/v1/predictions/{created['id']}", headers=AUTH).status_code == 404
        assert client.get("/v1/predictions", headers=AUTH).get_json()["results"] == []
        assert client.get("/_mock/webhooks/deliveries", headers=AUTH).get_json()["results"] == []
        assert dispatcher.next_due() is None
        clock.advance(60)
        assert dispatcher.pump() == []
        assert len(sent) == 2  # "start" and "logs", once each: no retries after the reset
        create(client)  # ids and list positions keep working after a reset
        assert len(client.get("/v1/predictions", headers=AUTH).get_json()["results"]) == 1
    finally:
        dispatcher.close()


def test_the_admin_spec_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get("/_mock/openapi.yaml")
    assert response.status_code == 200
    assert response.mimetype == "application/yaml"
    assert response.get_data(as_text=True) == Path(REPO / "openapi" / "admin.yaml").read_text(
        encoding="utf-8"
    )


# --- the adjustable clock -------------------------------------------------------------------


def test_adjustable_clock_is_wall_time_plus_a_growing_offset() -> None:
    wall = [1000.0]
    clock = AdjustableClock(wall=lambda: wall[0])
    assert clock.now() == 1000.0
    clock.advance(5)
    wall[0] += 1
    assert (clock.now(), clock.offset_seconds) == (1006.0, 5.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(float("nan"))


def _asleep(clock: AdjustableClock) -> int:
    """How many threads sleep on the clock (wait on its condition)."""
    return len(getattr(clock._changed, "_waiters", ()))


def test_a_sleeper_wakes_when_the_clock_is_advanced() -> None:
    clock = AdjustableClock()
    woke_at: dict[str, float] = {}
    woke = {name: threading.Event() for name in ("60 s", "30 s")}

    def sleeper(name: str, seconds: float) -> None:
        clock.sleep(seconds)
        woke_at[name] = clock.offset_seconds  # how far the clock had been moved
        woke[name].set()

    threads = [threading.Thread(target=sleeper, args=(name, int(name[:2])), daemon=True)
               for name in woke]  # fmt: skip
    deadline = time.monotonic() + BOUND
    for thread in threads:
        thread.start()
    while _asleep(clock) < 2:
        assert time.monotonic() < deadline, "the sleepers never fell asleep"
        time.sleep(0.001)
    clock.advance(30)
    # The 30 s sleeper wakes on this move, a later event than the 60 s sleeper's own
    # look at it (they wake in the order they fell asleep): had the 60 s one woken too,
    # it would have said so by then.
    assert woke["30 s"].wait(BOUND)
    assert not woke["60 s"].is_set(), f"woke at {woke_at.get('60 s')} s, before its 60 s"
    clock.advance(30)
    assert woke["60 s"].wait(BOUND)
    assert woke_at == {"30 s": 30.0, "60 s": 60.0}
    for thread in threads:
        thread.join(BOUND)


def test_a_default_app_runs_on_an_adjustable_clock() -> None:
    assert isinstance(state_of(create_app({"TESTING": True})).service.clock, AdjustableClock)


@pytest.fixture
def slow_app() -> Iterator[tuple[Flask, list[httpx.Request]]]:
    """A mock on the real (adjustable) clock whose predictions take 200 s."""
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200)

    app = create_app(
        {
            "TESTING": True,
            "MOCK_STARTING_SECONDS": 100.0,
            "MOCK_PROCESSING_SECONDS": 100.0,
            "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(receive),
        }
    )
    yield app, sent
    dispatcher = state_of(app).webhooks
    assert dispatcher is not None
    dispatcher.close()


def test_a_held_wait_sees_the_jump(slow_app: tuple[Flask, list[httpx.Request]]) -> None:
    app, _ = slow_app
    answers: list[Any] = []

    def hold() -> None:
        answers.append(
            app.test_client().post(
                CREATE,
                headers={**AUTH, "Prefer": "wait=60"},
                json={"input": {"prompt": "a fox"}},
            )
        )

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    listed = app.test_client().get
    wait_for(lambda: listed("/v1/predictions", headers=AUTH).get_json()["results"], BOUND)
    assert thread.is_alive()  # its prediction made, it holds: 200 s are left to run
    assert advance(app.test_client(), 250).status_code == 200
    thread.join(BOUND)
    assert not thread.is_alive()
    assert answers[0].status_code == 201
    assert answers[0].get_json()["status"] == "succeeded"


def test_the_dispatcher_sees_the_jump(slow_app: tuple[Flask, list[httpx.Request]]) -> None:
    app, sent = slow_app
    client = app.test_client()
    created = create(client, webhook="http://127.0.0.1:9/hook")
    created_at = datetime.fromisoformat(created["created_at"])
    # A later prediction canceled at once: its "completed" is due now, so once the
    # dispatcher thread has sent it, that thread has had its chance to send early.
    other = create(client, webhook="http://127.0.0.1:9/other", webhook_events_filter=["completed"])
    assert client.post(f"/v1/predictions/{other['id']}/cancel", headers=AUTH).status_code == 200
    wait_for(lambda: [request for request in sent if request.url.path == "/other"], BOUND)
    dispatcher = state_of(app).webhooks
    assert dispatcher is not None
    assert dispatcher.pump() == []  # waits for the thread's round to end; nothing else is due
    assert [request.url.path for request in sent] == ["/other"]  # "start" is 100 s away
    assert advance(client, 250).status_code == 200
    deadline = time.monotonic() + BOUND
    events: list[str] = []
    query = {"prediction_id": created["id"]}
    while "completed" not in events and time.monotonic() < deadline:
        time.sleep(0.02)
        shown = client.get(
            "/_mock/webhooks/deliveries", headers=AUTH, query_string=query
        ).get_json()["results"]
        events = [item["event"] for item in shown]
    assert (events[0], events[-1]) == ("start", "completed")
    assert all(item["delivered"] for item in shown)
    # "start" is due 100 s after the create: sent after the jump, never before it.
    assert datetime.fromisoformat(shown[0]["attempted_at"]) >= created_at + timedelta(seconds=100)
    assert created["id"] in sent[-1].content.decode()


def test_reset_forgets_rules(client: FlaskClient) -> None:
    rule = {"match": {"route": "create"}, "scenario": "fail"}
    assert client.post("/_mock/rules", headers=AUTH, json=rule).status_code == 201
    assert client.post("/_mock/reset", headers=AUTH).status_code == 204
    assert client.get("/_mock/rules", headers=AUTH).get_json()["results"] == []
