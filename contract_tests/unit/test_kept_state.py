"""Scenario rules and the delivery log in a data directory, on a fake clock: what
one process writes another on the same directory (a worker beside it, or the next
server after a restart) sees and takes up.

No sockets: deliveries go to an ``httpx.MockTransport``; the database is a real SQLite
file in the test's directory.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.config import Settings
from mock_server.domain.clock import FakeClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.service import PredictionService
from mock_server.http.app import new_webhook_secret
from mock_server.storage.sqlite_rules import SqliteRuleBook
from mock_server.storage.sqlite_store import SqliteStore
from mock_server.webhooks.delivery import WebhookDispatcher
from mock_server.webhooks.sqlite_delivery_log import SqliteDeliveryLog

T0 = 1_000_000.0
HOOK = "http://127.0.0.1:9/hook"
SECRET = new_webhook_secret()


# --- rules ---------------------------------------------------------------------------


@pytest.fixture
def books(tmp_path: Path) -> Iterator[list[SqliteRuleBook]]:
    """Rule books on one directory; the store first, as a server opens them."""
    store = SqliteStore(tmp_path, clock=FakeClock(T0))
    made: list[SqliteRuleBook] = []
    yield made
    for book in made:
        book.close()
    store.close()


def open_book(books: list[SqliteRuleBook], directory: Path) -> SqliteRuleBook:
    books.append(SqliteRuleBook(directory))
    return books[-1]


def test_a_rule_set_in_one_process_applies_in_another_at_once(
    books: list[SqliteRuleBook], tmp_path: Path
) -> None:
    one, other = open_book(books, tmp_path), open_book(books, tmp_path)
    assert not other
    assert other.take("create", lambda: "a red fox") is None
    rule = one.add({"match": {"route": "create", "prompt": "fox"}, "scenario": "fail"})
    assert rule.id == "rule_1"
    assert other  # no announcement needed: the next request sees it
    taken = other.take("create", lambda: "a red fox")
    assert taken is not None
    assert taken.id == "rule_1"
    assert taken.outcome is not None
    assert taken.outcome.name == "fail"
    assert other.take("get", lambda: "a red fox") is None
    assert [doc["hits"] for doc in one.all()] == [1]  # counted in the file
    assert one.delete("rule_1")
    assert not other
    assert other.take("create", lambda: "a red fox") is None
    assert not one.delete("rule_1")
    assert not one.delete("nonsense")


def test_a_rule_with_times_runs_out_over_all_processes(
    books: list[SqliteRuleBook], tmp_path: Path
) -> None:
    one, other = open_book(books, tmp_path), open_book(books, tmp_path)
    one.add({"fault": "503", "times": 3})
    taken = [book.take("get", lambda: None) for book in (one, other, other, one, other)]
    assert [rule is not None for rule in taken] == [True, True, True, False, False]
    assert [rule.hits for rule in taken if rule is not None] == [1, 2, 3]
    assert one.all()[0]["remaining"] == 0
    assert other.all()[0]["hits"] == 3


def test_rules_outlive_the_process_and_ids_are_never_reused(
    books: list[SqliteRuleBook], tmp_path: Path
) -> None:
    first = open_book(books, tmp_path)
    first.add({"scenario": "stuck"})
    first.add({"match": {"prompt": "^slow"}, "scenario": "slow", "factor": 3})
    first.delete("rule_1")
    first.take("create", lambda: "slow boat")
    first.close()
    books.remove(first)
    again = open_book(books, tmp_path)
    assert [(doc["id"], doc["scenario"], doc["hits"]) for doc in again.all()] == [
        ("rule_2", "slow", 1)
    ]
    assert again.add({"scenario": "fail"}).id == "rule_3"
    again.clear()
    assert not again
    assert again.all() == []


# --- the delivery log -------------------------------------------------------------


class Receiver:
    """Answers with the scripted statuses (then 200) and records what it got."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


class Server:
    """One process's store, delivery log, dispatcher and service on ``directory``."""

    def __init__(
        self, directory: Path, clock: FakeClock, receiver: Receiver, owner: str, **settings: Any
    ) -> None:
        self.store = SqliteStore(directory, clock=clock)
        self.delivery_log = SqliteDeliveryLog(
            self.store.path,
            limit=settings.pop("log_limit", 100),
            owner=owner,
            alive=settings.pop("alive", None),
        )
        self.dispatcher = WebhookDispatcher(
            store=self.store,
            clock=clock,
            secret=SECRET,
            settings=dataclasses.replace(Settings().webhooks(), **settings),
            transport=httpx.MockTransport(receiver),
            delivery_log=self.delivery_log,
        )
        self.service = PredictionService(
            store=self.store,
            clock=clock,
            starting_seconds=1.0,
            processing_seconds=3.0,
            listener=self.dispatcher,
            retention_seconds=3600.0,
            record_ttl_seconds=86400.0,
        )

    def create(self, **extra: Any) -> PredictionRecord:
        return self.service.create({"prompt": "a red fox"}, {"webhook": HOOK, **extra})

    def stop(self) -> None:
        self.dispatcher.close()
        self.delivery_log.close()
        self.store.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    made: list[Server] = []
    yield made
    for server in made:
        server.stop()


def start(servers: list[Server], directory: Path, clock: FakeClock, receiver: Receiver,
          owner: str, **settings: Any) -> Server:  # fmt: skip
    servers.append(Server(directory, clock, receiver, owner, **settings))
    return servers[-1]


def test_a_retry_waiting_at_a_stop_is_sent_after_the_restart(
    servers: list[Server], tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    failing, answering = Receiver(500), Receiver()
    first = start(servers, tmp_path, clock, failing, "first")
    made = first.create(webhook_events_filter=["completed"])
    clock.advance(4.0)
    [attempt] = first.dispatcher.pump()
    assert attempt.status_code == 500
    assert attempt.retry_at == T0 + 4.5
    first.stop()
    servers.remove(first)
    second = start(servers, tmp_path, clock, answering, "second")
    assert second.dispatcher.resume() == 1
    assert second.dispatcher.pump() == []  # not due yet
    clock.advance(0.5)
    [retried] = second.dispatcher.pump()
    assert (retried.attempt, retried.delivered, retried.webhook_id) == (2, True, attempt.webhook_id)
    assert answering.requests[0].content == failing.requests[0].content
    assert second.dispatcher.next_due() is None
    log = second.dispatcher.attempts(made.id)
    assert [(a.attempt, a.status_code) for a in log] == [(1, 500), (2, 200)]  # the log too
    assert second.dispatcher.resume() == 0  # nothing left pending


def test_deliveries_still_to_come_at_a_stop_are_made_after_it_and_none_twice(
    servers: list[Server], tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    before, after = Receiver(), Receiver()
    first = start(servers, tmp_path, clock, before, "first")
    made = first.create(webhook_events_filter=["start", "completed"])
    untouched = first.create(webhook_events_filter=["completed"])
    clock.advance(1.0)
    assert [a.event for a in first.dispatcher.pump()] == ["start"]
    first.stop()
    servers.remove(first)
    second = start(servers, tmp_path, clock, after, "second")
    assert second.dispatcher.resume() == 2
    for _ in range(10):
        second.dispatcher.pump()
        due = second.dispatcher.next_due()
        if due is None:
            break
        clock.advance(max(due - clock.now(), 0.0))
    sent_after = [
        (json.loads(r.content)["id"], json.loads(r.content)["status"]) for r in after.requests
    ]
    assert sorted(sent_after) == sorted([(made.id, "succeeded"), (untouched.id, "succeeded")])
    events = [(a.prediction_id, a.event) for a in second.dispatcher.attempts()]
    assert sorted(events) == sorted(
        [(made.id, "start"), (made.id, "completed"), (untouched.id, "completed")]
    )


def test_the_log_is_one_for_every_process_and_bounded(
    servers: list[Server], tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    one = start(servers, tmp_path, clock, Receiver(), "one", log_limit=3)
    other = start(servers, tmp_path, clock, Receiver(), "other", log_limit=3)
    made = [one.create(webhook_events_filter=["completed"]) for _ in range(2)]
    made += [other.create(webhook_events_filter=["completed"]) for _ in range(2)]
    clock.advance(4.0)
    one.dispatcher.pump()
    other.dispatcher.pump()
    assert [a.prediction_id for a in one.dispatcher.attempts()] == [p.id for p in made[1:]]
    assert other.dispatcher.attempts() == one.dispatcher.attempts()
    assert [a.prediction_id for a in other.dispatcher.attempts(made[0].id)] == []
    assert len(other.dispatcher.attempts(made[3].id, "completed")) == 1
    one.dispatcher.clear()
    assert other.dispatcher.attempts() == []


def test_a_running_process_keeps_its_deliveries_and_a_gone_ones_are_taken_over(
    servers: list[Server], tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    live = {"running"}
    running = start(servers, tmp_path, clock, Receiver(), "running")
    kept = running.create(webhook_events_filter=["completed"])
    gone = start(servers, tmp_path, clock, Receiver(), "gone")
    orphan = gone.create(webhook_events_filter=["completed"])
    gone.stop()
    servers.remove(gone)
    newcomer_receiver = Receiver()
    newcomer = start(servers, tmp_path, clock, newcomer_receiver, "new", alive=lambda o: o in live)
    assert newcomer.dispatcher.resume() == 1
    clock.advance(4.0)
    assert [a.prediction_id for a in newcomer.dispatcher.pump()] == [orphan.id]
    assert [a.prediction_id for a in running.dispatcher.pump()] == [kept.id]


def test_a_reset_forgets_the_log_and_what_was_pending(
    servers: list[Server], tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    first = start(servers, tmp_path, clock, Receiver(500), "first")
    first.create(webhook_events_filter=["completed"])
    first.create(webhook_events_filter=["start"])
    clock.advance(4.0)
    first.dispatcher.pump()
    first.dispatcher.reset()
    assert first.dispatcher.attempts() == []
    first.stop()
    servers.remove(first)
    second = start(servers, tmp_path, clock, Receiver(), "second")
    assert second.dispatcher.resume() == 0
