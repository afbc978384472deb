"""The request journal shared by two apps on one data directory, in-process: each app
keeps its entries and writes them only when flushed, so a read through one app must
first have the other flush (a missing flush is certain to show)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from contract_tests.support.apps import close_app
from contract_tests.support.constants import AUTH, CREATE
from mock_server import FakeClock, create_app
from mock_server.domain.journal_queue import QueuedJournal
from mock_server.http import context
from mock_server.storage.sqlite_files import DATABASE_NAME

MakeApp = Callable[..., FlaskClient]


@pytest.fixture
def make_app(tmp_path: Path, clock: FakeClock) -> Iterator[MakeApp]:
    """Makes apps (as clients) on one data directory and one fake clock."""
    made: list[Flask] = []

    def make(**config: Any) -> FlaskClient:
        app = create_app(
            {
                "TESTING": True,
                "MOCK_DATA_DIR": tmp_path / "data",
                "MOCK_CLOCK": clock,
                "MOCK_STARTING_SECONDS": 1.0,
                "MOCK_PROCESSING_SECONDS": 3.0,
                **config,
            }
        )
        made.append(app)
        return app.test_client()

    yield make
    for app in made:
        close_app(app)


def create(client: FlaskClient, prompt: str = "a lighthouse") -> str:
    answer = client.post(CREATE, json={"input": {"prompt": prompt}}, headers=AUTH)
    assert answer.status_code == 201, answer.data
    prediction_id: str = answer.get_json()["id"]
    return prediction_id


def journal(client: FlaskClient, **query: str) -> list[dict[str, Any]]:
    answer = client.get("/_mock/requests", query_string=query, headers=AUTH)
    assert answer.status_code == 200, answer.data
    results: list[dict[str, Any]] = answer.get_json()["results"]
    return results


def rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "data" / DATABASE_NAME) as db:
        (count,) = db.execute("SELECT count(*) FROM request_journal").fetchone()
    return int(count)


def test_a_read_through_one_app_sees_what_the_other_just_answered(
    make_app: MakeApp, tmp_path: Path
) -> None:
    first, second = make_app(), make_app()
    assert isinstance(context.observer(first.application).journal, QueuedJournal)
    made = create(first)
    assert first.get(f"/v1/predictions/{made}", headers=AUTH).status_code == 200
    assert rows(tmp_path) == 0  # queued in the first app, not written yet

    seen = journal(second)
    assert [(e["route"], e["prediction_id"]) for e in seen] == [("create", made), ("get", made)]
    assert "r8_" not in str(seen)
    assert rows(tmp_path) == 2


def test_the_list_is_in_arrival_order_whichever_app_wrote_first(
    make_app: MakeApp, clock: FakeClock
) -> None:
    first, second = make_app(), make_app()
    early = create(first, "early")
    clock.advance(1)
    late = create(second, "late")
    journal(second)  # the second app writes its own entry before the first's is flushed
    assert [e["prediction_id"] for e in journal(first, route="create")] == [early, late]


def test_delete_through_one_app_drops_what_the_other_held(make_app: MakeApp) -> None:
    first, second = make_app(), make_app()
    create(first)
    assert second.delete("/_mock/requests", headers=AUTH).status_code == 204
    assert journal(first) == []
    assert journal(second) == []
    create(first)
    assert second.post("/_mock/reset", headers=AUTH).status_code == 204
    assert journal(first) == []


def test_the_limit_holds_across_apps_and_the_journal_outlives_them(
    make_app: MakeApp, tmp_path: Path
) -> None:
    first, second = make_app(MOCK_JOURNAL_LIMIT=3), make_app(MOCK_JOURNAL_LIMIT=3)
    ids = []
    for number in range(5):  # the limit drops the oldest written: write each in turn
        ids.append(create(first if number % 2 else second, f"p{number}"))
        journal(first)
    assert [e["prediction_id"] for e in journal(second)] == ids[2:]
    assert rows(tmp_path) == 3
    close_app(first.application)
    close_app(second.application)

    restarted = make_app(MOCK_JOURNAL_LIMIT=3)
    assert [e["prediction_id"] for e in journal(restarted)] == ids[2:]
