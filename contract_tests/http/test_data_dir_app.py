"""``create_app({"MOCK_DATA_DIR": ...})`` through Flask's test client: predictions
created, read, listed and canceled, then a new app on the same directory (a restart in
the same process) that sees all of it, with the rules, the webhook secret and the
delivery log, and sends the deliveries left pending."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.apps import close_app
from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.hooks import HOOK, Recorder, dispatcher_of
from mock_server import FakeClock, create_app
from mock_server.http import context, locality

MakeApp = Callable[[Recorder], Flask]


@pytest.fixture
def make_app(tmp_path: Path, clock: FakeClock) -> Iterator[MakeApp]:
    """Makes apps on one data directory and one fake clock; each closed at the end (or
    by :func:`close`)."""
    made: list[Flask] = []

    def make(recorder: Recorder) -> Flask:
        made.append(
            create_app(
                {
                    "TESTING": True,
                    "MOCK_DATA_DIR": tmp_path / "data",
                    "MOCK_CLOCK": clock,
                    "MOCK_STARTING_SECONDS": 1.0,
                    "MOCK_PROCESSING_SECONDS": 3.0,
                    "MOCK_WEBHOOK_TRANSPORT": httpx.MockTransport(recorder),
                }
            )
        )
        return made[-1]

    yield make
    for app in made:
        close_app(app)


def call(client: FlaskClient, method: str, path: str, **kwargs: Any) -> Any:
    response = client.open(path, method=method, headers=AUTH, **kwargs)
    assert response.status_code < 300, (response.status_code, response.data)
    return response.get_json()


def test_what_one_app_stored_the_next_one_on_the_directory_serves(
    make_app: MakeApp, clock: FakeClock
) -> None:
    before, after = Recorder(), Recorder()
    first = make_app(before)
    client = first.test_client()
    rule = call(
        client, "POST", "/_mock/rules", json={"match": {"prompt": "doom"}, "scenario": "fail"}
    )
    body = {"input": {"prompt": "a lighthouse at dawn"}}
    kept = call(client, "POST", CREATE, json={**body, "webhook": HOOK})
    doomed = call(client, "POST", CREATE, json={"input": {"prompt": "doom"}})
    canceled = call(client, "POST", CREATE, json=body)
    assert call(client, "GET", f"/v1/predictions/{kept['id']}")["id"] == kept["id"]
    assert call(client, "POST", f"/v1/predictions/{canceled['id']}/cancel")["status"] == "canceled"
    clock.advance(1.0)
    dispatcher_of(first).pump()  # start and the first logs: completed is still to come
    listed = call(client, "GET", "/v1/predictions")["results"]
    assert [p["id"] for p in listed] == [canceled["id"], doomed["id"], kept["id"]]
    assert [b["status"] for b in before.bodies()] == ["processing", "processing"]
    key = call(client, "GET", "/v1/webhooks/default/secret")["key"]
    log = call(client, "GET", "/_mock/webhooks/deliveries")["results"]
    close_app(first)

    second = make_app(after)
    again = second.test_client()
    assert call(again, "GET", "/v1/predictions")["results"] == listed
    assert call(again, "GET", f"/v1/predictions/{canceled['id']}")["status"] == "canceled"
    assert call(again, "GET", "/v1/webhooks/default/secret")["key"] == key
    assert call(again, "GET", "/_mock/rules")["results"] == [rule | {"hits": 1}]
    assert call(again, "GET", "/_mock/webhooks/deliveries")["results"] == log
    clock.advance(3.0)
    assert call(again, "GET", f"/v1/predictions/{kept['id']}")["status"] == "succeeded"
    assert call(again, "GET", f"/v1/predictions/{doomed['id']}")["status"] == "failed"
    for _ in range(10):  # the deliveries left pending go out from the new app
        dispatcher_of(second).pump()
        due = dispatcher_of(second).next_due()
        if due is None:
            break
        clock.advance(max(due - clock.now(), 0.0))
    assert after.bodies()[-1]["status"] == "succeeded"
    assert after.bodies()[-1]["id"] == kept["id"]
    # A full run's deliveries (start, one per log line, completed), none twice.
    sent = before.requests + after.requests
    assert len(sent) == 6
    assert len({request.headers["webhook-id"] for request in sent}) == len(sent)
    assert len(call(again, "GET", "/_mock/webhooks/deliveries")["results"]) == len(log) + len(
        after.requests
    )
    assert call(again, "POST", "/_mock/reset") is None
    close_app(second)
    third = make_app(Recorder()).test_client()
    assert call(third, "GET", "/v1/predictions")["results"] == []
    assert call(third, "GET", "/_mock/rules")["results"] == []
    assert call(third, "GET", "/_mock/webhooks/deliveries")["results"] == []


def test_only_polls_of_ended_predictions_kept_locally_skip_the_store(
    make_app: MakeApp, clock: FakeClock
) -> None:
    app = make_app(Recorder())
    client = app.test_client()
    local = locality.local_reads(context.state(app))
    assert local is not None
    running = call(client, "POST", CREATE, json={"input": {"prompt": "a"}})["id"]
    ended = call(client, "POST", CREATE, json={"input": {"prompt": "b"}})["id"]
    clock.advance(10.0)
    running_again = call(client, "POST", CREATE, json={"input": {"prompt": "c"}})["id"]
    for prediction in (ended, running_again):
        call(client, "GET", f"/v1/predictions/{prediction}")

    def get(path: str, method: str = "GET") -> bool:
        return local({"REQUEST_METHOD": method, "PATH_INFO": path})

    assert get(f"/v1/predictions/{ended}")
    assert get(f"/replicate/v1/predictions/{ended}")
    assert not get(f"/v1/predictions/{running_again}")  # polled, but may still change
    assert not get(f"/v1/predictions/{running}")  # ended, but never read: not kept
    assert not get(f"/v1/predictions/{ended}/cancel", "POST")
    assert not get(f"/v1/predictions/{ended}", "DELETE")
    assert not get("/v1/predictions/nope")
    assert not get(f"/p/{ended}")


def test_a_store_in_memory_has_no_local_reads(app: Flask) -> None:
    assert locality.local_reads(context.state(app)) is None
