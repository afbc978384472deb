"""Webhooks from a real ``imagen-mock serve`` to a receiver on 127.0.0.1: order, signatures,
retries under one ``webhook-id``, redirects, cancels and the host allow-list."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from replicate.webhook import Webhooks, WebhookSigningSecret

from contract_tests.support.constants import AUTH
from contract_tests.support.hooks import SECRET
from contract_tests.support.receiver import LocalReceiver, Received
from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.support.waiting import at_least, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def receiver() -> Iterator[LocalReceiver]:
    made = LocalReceiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hook_mock() -> Iterator[RunningMock]:
    args = [
        "--starting-seconds",
        "0.2",
        "--processing-seconds",
        "1.0",
        "--webhook-secret",
        SECRET,
    ]
    with run_mock(args) as running:
        yield running


def e2e_create(mock: RunningMock, webhook: str, **body: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{mock.api}/models/google/imagen-4-ultra/predictions",
        headers=AUTH,
        json={"input": {"prompt": "a red fox"}, "webhook": webhook, **body},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def e2e_deliveries(mock: RunningMock, prediction_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{mock.root}/_mock/webhooks/deliveries",
        params={"prediction_id": prediction_id},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def terminal(items: list[Received]) -> list[Received] | None:
    done = [item for item in items if json.loads(item.body)["status"] != "processing"]
    return items if done else None


@pytest.mark.slow
def test_e2e_events_arrive_in_order_and_validate(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    created = e2e_create(hook_mock, receiver.url("/order"))
    got = wait_for(lambda: terminal(receiver.at("/order")))
    log = wait_for(at_least(6, lambda: e2e_deliveries(hook_mock, created["id"])))
    event_of = {entry["webhook_id"]: entry["event"] for entry in log}
    arrived = [event_of[item.headers["webhook-id"]] for item in receiver.at("/order")]
    assert arrived == ["start", "logs", "logs", "logs", "output", "completed"]
    assert all(entry["delivered"] and entry["attempt"] == 1 for entry in log)
    key = httpx.get(f"{hook_mock.api}/webhooks/default/secret", headers=AUTH).json()["key"]
    assert key == SECRET
    for item in receiver.at("/order"):
        Webhooks.validate(
            headers=item.headers, body=item.body, secret=WebhookSigningSecret(key=key)
        )
        assert abs(int(item.headers["webhook-timestamp"]) - time.time()) < 60
    final = json.loads(got[-1].body)
    assert final["status"] == "succeeded"
    assert final["urls"]["get"] == f"{hook_mock.api}/predictions/{created['id']}"
    assert final["output"] == f"{hook_mock.root}/delivery/{created['id']}/output.jpg"


@pytest.mark.slow
def test_e2e_a_failing_receiver_gets_retries_with_one_webhook_id(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    with receiver.lock:
        receiver.script["/flaky"] = [500, 500]
    created = e2e_create(hook_mock, receiver.url("/flaky"), webhook_events_filter=["completed"])
    got = wait_for(at_least(3, lambda: receiver.at("/flaky")))
    assert len({item.headers["webhook-id"] for item in got}) == 1
    assert len({item.body for item in got}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(got)]
    assert gaps[0] >= 0.4
    assert gaps[1] >= 0.9
    log = wait_for(at_least(3, lambda: e2e_deliveries(hook_mock, created["id"])))
    assert [(e["attempt"], e["status_code"], e["delivered"]) for e in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert log[-1]["retry_at"] is None, "a delivered event is not retried"
    # A later delivery through the same dispatcher thread: once it has arrived, every
    # delivery due before it (a repeat of the delivered one included) has been sent.
    e2e_create(hook_mock, receiver.url("/after-flaky"), webhook_events_filter=["completed"])
    wait_for(lambda: receiver.at("/after-flaky"))
    assert len(receiver.at("/flaky")) == 3, "a delivered event is not sent again"


@pytest.mark.slow
def test_e2e_a_redirect_is_not_followed(hook_mock: RunningMock, receiver: LocalReceiver) -> None:
    with receiver.lock:
        receiver.script["/moved"] = [302, 302]
    created = e2e_create(hook_mock, receiver.url("/moved"), webhook_events_filter=["completed"])
    log = wait_for(at_least(2, lambda: e2e_deliveries(hook_mock, created["id"])))
    assert [(e["status_code"], e["delivered"]) for e in log[:2]] == [(302, False), (302, False)]
    assert log[0]["error"] == "HTTP 302; redirects are not followed"
    assert log[0]["webhook_id"] == log[1]["webhook_id"]
    assert receiver.at("/target") == []


@pytest.mark.slow
def test_e2e_a_cancel_delivers_completed_canceled(
    hook_mock: RunningMock, receiver: LocalReceiver
) -> None:
    created = e2e_create(hook_mock, receiver.url("/cancel"))
    canceled = httpx.post(
        f"{hook_mock.api}/predictions/{created['id']}/cancel", headers=AUTH, timeout=10
    )
    assert canceled.json()["status"] == "canceled"
    got = wait_for(lambda: terminal(receiver.at("/cancel")))
    assert json.loads(got[-1].body)["status"] == "canceled"
    log = wait_for(lambda: e2e_deliveries(hook_mock, created["id"]))
    assert log[-1]["event"] == "completed"


@pytest.mark.slow
def test_e2e_other_hosts_are_refused(hook_mock: RunningMock) -> None:
    created = e2e_create(
        hook_mock, "http://webhook.invalid/hook", webhook_events_filter=["completed"]
    )
    log = wait_for(lambda: e2e_deliveries(hook_mock, created["id"]))
    assert log[0]["error"] == "host 'webhook.invalid' is not in the allowed webhook hosts"
    assert log[0]["status_code"] is None
