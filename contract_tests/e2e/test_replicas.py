"""Several ``imagen-mock serve`` processes sharing one real redis-server: create on one,
poll, list, cancel, wait, stream and get webhooks through another; one secret, one clock."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from replicate.webhook import Webhooks, WebhookSigningSecret

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.receiver import LocalReceiver
from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.support.waiting import at_least, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_args(redis_url: str) -> list[str]:
    """Options of every replica of this module: one Redis, one key prefix."""
    return [
        "--redis-url", redis_url, "--redis-prefix", f"replicas-{uuid.uuid4().hex}:",
        "--starting-seconds", "0.2", "--processing-seconds", "1.5",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def replicas(shared_args: list[str]) -> Iterator[tuple[RunningMock, RunningMock]]:
    """Two replicas: one process, and one with two worker processes."""
    with run_mock(shared_args) as first, run_mock([*shared_args, "--workers", "2"]) as second:
        yield first, second


def create(mock: RunningMock, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    doc = {"input": {"prompt": "a lighthouse at dawn"}, **body}
    return httpx.post(
        mock.api + CREATE.removeprefix("/v1"), json=doc, headers={**AUTH, **(headers or {})},
        timeout=30,
    )  # fmt: skip


def get(mock: RunningMock, prediction_id: str) -> httpx.Response:
    return httpx.get(f"{mock.api}/predictions/{prediction_id}", headers=AUTH, timeout=10)


def test_a_prediction_made_on_one_replica_is_read_and_listed_on_the_other(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    made = create(first).json()
    seen = get(second, made["id"]).json()
    assert {k: seen[k] for k in ("id", "input", "created_at")} == {
        k: made[k] for k in ("id", "input", "created_at")
    }
    assert seen["urls"]["get"] == f"{second.api}/predictions/{made['id']}"
    listed = httpx.get(f"{second.api}/predictions", headers=AUTH).json()["results"]
    assert made["id"] in [item["id"] for item in listed]
    done = wait_for(lambda: get(second, made["id"]).json()["status"] == "succeeded" or None)
    assert done
    assert get(first, made["id"]).json()["output"].startswith(first.root)


def test_every_prediction_is_found_whichever_worker_answers(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    ids = [create(second).json()["id"] for _ in range(20)]
    for prediction_id in ids:
        for mock in (first, second, second):
            assert get(mock, prediction_id).status_code == 200


def test_a_cancel_on_one_replica_ends_a_wait_held_by_the_other(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    prompt = f"held {uuid.uuid4().hex}"
    held: dict[str, Any] = {}

    def hold() -> None:
        started = time.monotonic()
        response = httpx.post(
            first.api + CREATE.removeprefix("/v1"),
            json={"input": {"prompt": prompt}},
            headers={**AUTH, "Prefer": "wait=30", "X-Mock-Scenario": "stuck"},
            timeout=40,
        )
        held.update(response=response, seconds=time.monotonic() - started)

    def find() -> dict[str, Any] | None:
        listed = httpx.get(f"{second.api}/predictions", headers=AUTH).json()["results"]
        return next((item for item in listed if item["input"].get("prompt") == prompt), None)

    thread = threading.Thread(target=hold)
    thread.start()
    target = wait_for(find)
    time.sleep(0.3)
    cancelled = httpx.post(f"{second.api}/predictions/{target['id']}/cancel", headers=AUTH)
    assert cancelled.json()["status"] == "canceled"
    thread.join(40)
    assert held["response"].status_code == 201
    assert held["response"].json()["id"] == target["id"]
    assert held["response"].json()["status"] == "canceled"
    assert held["seconds"] < 10, "the held request was not woken by the other replica's cancel"
    assert get(first, target["id"]).json()["status"] == "canceled"


def test_the_stream_of_another_replicas_prediction_runs_to_done(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    made = create(first).json()
    assert made["urls"]["stream"].startswith(first.root)
    url = made["urls"]["stream"].replace(first.root, second.root)
    with httpx.stream("GET", url, headers={"Accept": "text/event-stream"}, timeout=30) as reply:
        assert reply.status_code == 200
        text = "".join(reply.iter_text())
    events = [
        line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event:")
    ]
    assert events[0] == "logs" or events[0] == "output"
    assert events[-1] == "done"
    assert "output" in events


def test_one_webhook_secret_and_one_delivery_for_a_cancel_made_elsewhere(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    """Made on the two-worker replica, canceled on the one-worker replica: only the
    creator sends the ``completed`` delivery, signed with the shared secret."""
    first, second = replicas
    secrets = {
        httpx.get(f"{mock.api}/webhooks/default/secret", headers=AUTH).json()["key"]
        for mock in replicas
    }
    assert len(secrets) == 1
    receiver = LocalReceiver()
    stuck = {"X-Mock-Scenario": "stuck"}
    try:
        made = create(
            second, stuck, webhook=receiver.url("/hook"), webhook_events_filter=["completed"]
        ).json()
        httpx.post(f"{first.api}/predictions/{made['id']}/cancel", headers=AUTH)
        # A later prediction made and canceled on the canceling replica: its delivery comes
        # from that replica's dispatcher thread, which sends in due order, so once it has
        # arrived a delivery of the first cancel by that replica would have arrived too.
        later = create(
            first, stuck, webhook=receiver.url("/later"), webhook_events_filter=["completed"]
        ).json()
        httpx.post(f"{first.api}/predictions/{later['id']}/cancel", headers=AUTH)
        wait_for(lambda: receiver.at("/later"))
        [delivery] = wait_for(at_least(1, lambda: receiver.at("/hook")))
        assert len(receiver.at("/hook")) == 1
        body = json.loads(delivery.body)
        assert (body["id"], body["status"]) == (made["id"], "canceled")
        Webhooks.validate(  # raises if the signature is not the shared secret's
            headers=delivery.headers,
            body=delivery.body,
            secret=WebhookSigningSecret(key=secrets.pop()),
        )
    finally:
        receiver.close()


def offsets(mock: RunningMock, times: int = 6) -> set[float]:
    """The clock offsets ``times`` requests see (a two-worker replica may answer from either)."""
    return {
        httpx.get(f"{mock.root}/_mock/clock", headers=AUTH).json()["offset_seconds"]
        for _ in range(times)
    }


def test_clock_moves_add_up_and_reach_every_replica_before_they_answer(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    [before] = offsets(first, 1)
    moved: list[float] = []

    def move(mock: RunningMock) -> None:
        reply = httpx.post(f"{mock.root}/_mock/clock", json={"advance_seconds": 10}, headers=AUTH)
        moved.append(reply.json()["offset_seconds"])

    threads = [threading.Thread(target=move, args=(mock,)) for mock in (first, second, first)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert max(moved) == before + 30  # three moves at once: none is lost
    assert offsets(first) == offsets(second) == {before + 30}


def test_a_reset_reaches_every_replica_before_it_answers(
    replicas: tuple[RunningMock, RunningMock],
) -> None:
    first, second = replicas
    made = create(first).json()
    assert wait_for(lambda: get(first, made["id"]).json()["status"] == "succeeded" or None)
    rule = {"match": {"route": "get"}, "fault": 503, "times": 1}
    assert httpx.post(f"{first.root}/_mock/rules", json=rule, headers=AUTH).status_code == 201
    assert httpx.post(f"{second.root}/_mock/reset", headers=AUTH).status_code == 204
    assert get(first, made["id"]).status_code == 404  # its local copy went with the reset
    assert httpx.get(f"{first.root}/_mock/rules", headers=AUTH).json()["results"] == []
    assert httpx.get(f"{first.api}/predictions", headers=AUTH).json()["results"] == []


def test_data_removal_follows_the_shared_clock(replicas: tuple[RunningMock, RunningMock]) -> None:
    first, second = replicas
    made = create(first).json()
    assert wait_for(lambda: get(second, made["id"]).json()["status"] == "succeeded" or None)
    moved = httpx.post(f"{first.root}/_mock/clock", json={"advance_seconds": 7200}, headers=AUTH)
    assert moved.status_code == 200
    for mock in (first, second, second):
        removed = get(mock, made["id"]).json()  # retention (1 h) has passed everywhere
        assert removed["data_removed"] is True
        assert removed["output"] is None


def test_a_replica_started_later_takes_the_shared_clock_and_secret(
    replicas: tuple[RunningMock, RunningMock], shared_args: list[str]
) -> None:
    first, _ = replicas
    httpx.post(f"{first.root}/_mock/clock", json={"advance_seconds": 60}, headers=AUTH)
    offset = httpx.get(f"{first.root}/_mock/clock", headers=AUTH).json()["offset_seconds"]
    with run_mock(shared_args) as late:
        assert httpx.get(f"{late.root}/_mock/clock", headers=AUTH).json()["offset_seconds"] == (
            offset
        )
        secret = httpx.get(f"{late.api}/webhooks/default/secret", headers=AUTH).json()
        assert secret == httpx.get(f"{first.api}/webhooks/default/secret", headers=AUTH).json()


def test_several_workers_need_a_shared_store() -> None:
    from mock_server.serving.cli import main

    assert main(["serve", "--workers", "2"]) == 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:1/0", "imagen-mock: cannot use --redis-url redis://127.0.0.1:1/0"),
        ("http://not-redis", "imagen-mock: --redis-url must be a redis://, rediss:// or unix://"),
    ],
)
def test_an_unusable_redis_is_refused_before_serving(
    url: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mock_server.serving.cli import main

    assert main(["serve", "--redis-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert len(err.splitlines()) == 1
