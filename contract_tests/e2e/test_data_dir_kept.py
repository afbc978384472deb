"""``imagen-mock serve --data-dir``: scenario rules, the webhook delivery log and
pending deliveries outlive a restart (SIGTERM) on the same directory, and two workers
share the rules and the log. Real server processes, a webhook receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.e2e.test_data_dir import AUTH, create, get
from contract_tests.support.constants import CREATE
from contract_tests.support.receiver import LocalReceiver
from contract_tests.support.servers import RunningMock, run_mock
from contract_tests.support.waiting import at_least, wait_for

pytestmark = pytest.mark.slow

SLOW = ["--starting-seconds", "0.2", "--processing-seconds", "60"]


@pytest.fixture
def receiver() -> Iterator[LocalReceiver]:
    made = LocalReceiver()
    yield made
    made.close()


def rules(mock: RunningMock) -> list[dict[str, Any]]:
    answer = httpx.get(f"{mock.root}/_mock/rules", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["results"]
    return found


def deliveries(mock: RunningMock) -> list[dict[str, Any]]:
    answer = httpx.get(f"{mock.root}/_mock/webhooks/deliveries", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["results"]
    return found


def advance(mock: RunningMock, seconds: float) -> None:
    answer = httpx.post(
        f"{mock.root}/_mock/clock", json={"advance_seconds": seconds}, headers=AUTH, timeout=10
    )
    assert answer.status_code == 200, answer.text


def test_rules_the_log_and_pending_deliveries_outlive_a_restart(
    tmp_path: Path, receiver: LocalReceiver
) -> None:
    args = ["--data-dir", str(tmp_path / "data"), "--webhook-backoff-seconds", "4", *SLOW]
    receiver.script["/retried"] = [500]
    with run_mock(args) as first:
        answer = httpx.post(
            f"{first.root}/_mock/rules",
            json={"match": {"route": "create", "prompt": "doomed"}, "scenario": "fail"},
            headers=AUTH,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        retried = create(
            first, webhook=receiver.url("/retried"), webhook_events_filter=["completed"]
        )
        advance(first, 61)  # it ends; the receiver answers 500; the retry waits 4 s
        wait_for(at_least(1, lambda: receiver.at("/retried")))
        running = create(
            first,
            input={"prompt": "doomed ship"},
            webhook=receiver.url("/later"),
            webhook_events_filter=["completed"],
        )
        logged = wait_for(at_least(1, lambda: deliveries(first)))
    assert first.process.returncode == 0
    assert [(d["prediction_id"], d["status_code"]) for d in logged] == [(retried["id"], 500)]
    assert receiver.at("/later") == []
    with run_mock(args) as second:
        # The rule is still there and still applies.
        assert [(r["id"], r["scenario"], r["hits"]) for r in rules(second)] == [
            ("rule_1", "fail", 1)
        ]
        # The retry pending at the stop is sent, with the same webhook-id.
        [before, after] = wait_for(at_least(2, lambda: receiver.at("/retried")))
        assert after.headers["webhook-id"] == before.headers["webhook-id"]
        assert after.body == before.body
        # The prediction still running at the stop sends its completed webhook.
        advance(second, 61)
        [later] = wait_for(at_least(1, lambda: receiver.at("/later")))
        body = json.loads(later.body)
        assert (body["id"], body["status"]) == (running["id"], "failed")
        # The log holds the attempts from before the restart and after it.
        log = wait_for(at_least(3, lambda: deliveries(second)))
        assert [(d["prediction_id"], d["attempt"], d["status_code"]) for d in log] == [
            (retried["id"], 1, 500),
            (retried["id"], 2, 200),
            (running["id"], 1, 200),
        ]
        again = create(second, input={"prompt": "doomed again"})
        advance(second, 61)
        assert get(second, again["id"])["status"] == "failed"
    assert len(receiver.at("/retried")) == 2  # none sent twice
    assert len(receiver.at("/later")) == 1


def test_two_workers_share_the_rules_and_the_delivery_log(
    tmp_path: Path, receiver: LocalReceiver
) -> None:
    args = ["--data-dir", str(tmp_path / "data"), "--workers", "2", *SLOW]
    with run_mock(args) as mock:
        answer = httpx.post(
            f"{mock.root}/_mock/rules",
            json={"match": {"route": "create"}, "fault": "503", "times": 4},
            headers=AUTH,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        # Each request is a new connection: the two workers take turns at random, and a
        # rule with times runs out over both together.
        statuses = [
            httpx.post(
                mock.api + CREATE.removeprefix("/v1"), json={"input": {"prompt": "x"}}, headers=AUTH
            ).status_code
            for _ in range(8)
        ]
        assert statuses == [503] * 4 + [201] * 4
        assert {rules(mock)[0]["hits"] for _ in range(6)} == {4}
        made = [
            create(mock, webhook=receiver.url(f"/{n}"), webhook_events_filter=["completed"])
            for n in range(6)
        ]
        advance(mock, 61)
        wait_for(at_least(6, lambda: receiver.received))
        logs = [wait_for(at_least(6, lambda: deliveries(mock))) for _ in range(6)]
        assert all(log == logs[0] for log in logs)
        assert sorted(d["prediction_id"] for d in logs[0]) == sorted(p["id"] for p in made)
        # A rule deleted through one worker is gone on both.
        assert httpx.delete(f"{mock.root}/_mock/rules", headers=AUTH).status_code == 204
        statuses = [
            httpx.post(
                mock.api + CREATE.removeprefix("/v1"), json={"input": {"prompt": "x"}}, headers=AUTH
            ).status_code
            for _ in range(6)
        ]
        assert statuses == [201] * 6
