"""The request journal's model, filters and memory journal, the HAR built from it, and
the watch that counts predictions as they end (no Flask, fake clock)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mock_server.domain import lifecycle
from mock_server.domain.clock import FakeClock
from mock_server.domain.endings import EndingWatch
from mock_server.domain.exchange import Exchange
from mock_server.domain.har import archive
from mock_server.domain.journal import (
    BODY_LIMIT,
    JournalEntry,
    JournalFilter,
    MemoryJournal,
    bearer_token,
    mask_headers,
    scrub,
)
from mock_server.storage.memory import InMemoryStore

HAR_SCHEMA = Path(__file__).parents[1] / "support" / "har-1.2.schema.json"
T0 = 1_753_846_126.0


def entry(number: int, **changes: Any) -> JournalEntry:
    fields: dict[str, Any] = {
        "id": f"req_{number}",
        "at": T0 + number,
        "method": "GET",
        "path": f"/v1/predictions/p{number}",
        "route": "get",
        "query_string": "",
        "headers": (("Host", "localhost"), ("Authorization", "Bearer ***")),
        "body": None,
        "status": 200,
        "duration_ms": 0.5,
        "prediction_id": f"p{number}",
        "response_headers": (("Content-Type", "application/json"),),
        "response_body": json.dumps({"id": f"p{number}"}),
    }
    fields.update(changes)
    return JournalEntry(**fields)


def test_the_memory_journal_drops_the_oldest_past_its_limit() -> None:
    journal = MemoryJournal(limit=3)
    for number in range(5):
        journal.append(entry(number))
    assert [item.id for item in journal.entries()] == ["req_2", "req_3", "req_4"]
    journal.clear()
    assert journal.entries() == []


TOKEN = "r8_Secret0123"


def exchange(**changes: Any) -> Exchange:
    fields: dict[str, Any] = {
        "id": "req_1",
        "at": T0,
        "route": "create",
        "environ": {
            "PATH_INFO": f"/v1/predictions/{TOKEN}",
            "REQUEST_METHOD": "POST",
            "QUERY_STRING": f"echo={TOKEN}",
            "HTTP_HOST": "localhost",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": "",
            "HTTP_CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
            "imagen_mock.started": 1.5,
            "HTTP_X_MOCK_STATUS": "503",
            "HTTP_X_ECHO": f"said {TOKEN}",
        },
        "body": json.dumps({"input": {"prompt": TOKEN}}).encode(),
        "status": 201,
        "seconds": 0.0015,
        "prediction_id": "p1",
        "response_headers": [("Content-Type", "application/json")],
        "response_body": [json.dumps({"echo": TOKEN}).encode()],
    }
    fields.update(changes)
    return Exchange(**fields)


def test_an_exchange_is_made_an_entry_with_the_token_cut_out_everywhere() -> None:
    made = exchange().entry()
    assert TOKEN not in json.dumps(made.as_dict())
    assert made.headers == (
        ("Host", "localhost"),
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer ***"),
        ("X-Mock-Status", "503"),
        ("X-Echo", "said ***"),
    )
    assert (made.method, made.path, made.query_string) == (
        "POST",
        "/v1/predictions/***",
        "echo=***",
    )
    assert json.loads(made.body or "") == {"input": {"prompt": "***"}}
    assert json.loads(made.response_body or "") == {"echo": "***"}
    assert (made.status, made.duration_ms, made.route, made.prediction_id, made.truncated) == (
        201,
        1.5,
        "create",
        "p1",
        False,
    )


def test_an_exchange_cuts_long_bodies_and_keeps_empty_answers_apart_from_none() -> None:
    made = exchange(body=b"x" * (BODY_LIMIT + 10), response_body=[]).entry()
    assert made.truncated
    assert len(made.body or "") == BODY_LIMIT
    assert made.response_body == ""
    assert exchange(body=None, response_body=None).entry().response_body is None
    image = exchange(response_headers=[("Content-Type", "image/png")], response_body=[b"\x89PNG"])
    assert image.entry().response_body is None


def test_an_exchange_is_made_an_entry_once_and_filtered_as_one() -> None:
    item = exchange()
    assert item.entry() is item.entry()
    journal = MemoryJournal(limit=2)
    journal.append(item)
    journal.append(entry(2))
    assert [found.id for found in JournalFilter(route="create").select(journal.entries())] == [
        "req_1"
    ]


def test_each_filter_narrows_and_they_combine() -> None:
    entries = [
        entry(0, method="POST", route="create", status=201, path="/v1/models/a/b/predictions"),
        entry(1),
        entry(2, status=404, prediction_id="nope"),
        entry(3, route="cancel", method="POST"),
    ]
    assert [e.id for e in JournalFilter(route="create").select(entries)] == ["req_0"]
    assert [e.id for e in JournalFilter(method="post").select(entries)] == ["req_0", "req_3"]
    assert [e.id for e in JournalFilter(status=404).select(entries)] == ["req_2"]
    assert [e.id for e in JournalFilter(prediction_id="p1").select(entries)] == ["req_1"]
    assert [e.id for e in JournalFilter(since=T0 + 2).select(entries)] == ["req_2", "req_3"]
    both = JournalFilter(method="POST", since=T0 + 1)
    assert [e.id for e in both.select(entries)] == ["req_3"]
    assert len(JournalFilter().select(entries)) == 4


def test_an_entry_survives_its_json() -> None:
    original = entry(7, body='{"input":{}}', query_string="a=1&a=2", truncated=True)
    assert JournalEntry.from_json(original.to_json()) == original
    with pytest.raises(ValueError, match="JSON object"):
        JournalEntry.from_json("[1]")


def test_credentials_keep_only_their_scheme() -> None:
    headers = [
        ("Authorization", "Bearer r8_testtoken123"),
        ("proxy-authorization", "r8_bare"),
        ("Accept", "application/json"),
    ]
    assert mask_headers(headers) == (
        ("Authorization", "Bearer ***"),
        ("proxy-authorization", "***"),
        ("Accept", "application/json"),
    )
    assert bearer_token("Bearer r8_testtoken123") == "r8_testtoken123"
    assert bearer_token("r8_bare") == "r8_bare"
    assert bearer_token(None) is None
    assert scrub('{"prompt":"r8_testtoken123 twice r8_testtoken123"}', ["r8_testtoken123"]) == (
        '{"prompt":"*** twice ***"}'
    )


def test_the_har_export_is_har_1_2() -> None:
    entries = [
        entry(
            0,
            method="POST",
            route="create",
            status=201,
            path="/v1/models/google/imagen-4-ultra/predictions",
            body='{"input":{"prompt":"a fox"}}',
            headers=(("Content-Type", "application/json"), ("Authorization", "Bearer ***")),
            response_headers=(
                ("Content-Type", "application/json"),
                ("Location", "http://127.0.0.1:1/v1/predictions/p0"),
            ),
        ),
        entry(1, query_string="cursor=abc&created_after=2026-01-01T00:00:00Z", status=599),
        entry(2, response_body=None, response_headers=()),
    ]
    doc = archive(entries, root="http://127.0.0.1:1", version="0.1.0")
    schema = json.loads(HAR_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(json.dumps(doc)), schema)

    first, second, third = doc["log"]["entries"]
    assert (
        first["request"]["url"] == "http://127.0.0.1:1/v1/models/google/imagen-4-ultra/predictions"
    )
    assert first["request"]["postData"]["text"] == '{"input":{"prompt":"a fox"}}'
    assert first["response"]["redirectURL"] == "http://127.0.0.1:1/v1/predictions/p0"
    assert first["response"]["statusText"] == "Created"
    assert first["startedDateTime"] == "2025-07-30T03:28:46.000+00:00"
    assert second["request"]["queryString"] == [
        {"name": "cursor", "value": "abc"},
        {"name": "created_after", "value": "2026-01-01T00:00:00Z"},
    ]
    assert second["response"]["statusText"] == ""  # no reason phrase for 599
    assert third["response"]["content"] == {"size": -1, "mimeType": ""}


def test_the_har_schema_refuses_what_har_does_not_allow() -> None:
    """The schema the export is checked against is not a rubber stamp."""
    doc = archive([entry(0)], root="http://h", version="1")
    schema = json.loads(HAR_SCHEMA.read_text())
    broken: Any = json.loads(json.dumps(doc))
    del broken["log"]["entries"][0]["timings"]["wait"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    broken = json.loads(json.dumps(doc))
    broken["log"]["entries"][0]["request"]["headers"] = [["Host", "h"]]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def _record(store: InMemoryStore, clock: FakeClock, **changes: Any) -> lifecycle.PredictionRecord:
    record = lifecycle.new_record(
        {"prompt": "a fox"},
        now=clock.now(),
        starting_seconds=1,
        processing_seconds=3,
        retention_seconds=3600,
    )
    if changes:
        from dataclasses import replace

        record = replace(record, **changes)
    store.add(record)
    return record


def test_each_prediction_is_counted_once_when_it_ends() -> None:
    clock = FakeClock()
    store = InMemoryStore()
    seen: list[str] = []
    watch = EndingWatch(store, clock, seen.append, background=False)
    succeeding = _record(store, clock)
    failing = _record(store, clock, failure="out of ink")
    canceled = _record(store, clock)
    for record in (succeeding, failing, canceled):
        watch.created(record)

    assert watch.pump() == []  # nothing has ended yet
    clock.advance(2)
    store.cancel(canceled.id, clock.now)
    watch.changed(store.get(canceled.id))  # type: ignore[arg-type]
    assert watch.pump() == ["canceled"]
    clock.advance(5)
    assert sorted(watch.pump()) == ["failed", "succeeded"]
    clock.advance(5)
    assert watch.pump() == []
    assert sorted(seen) == ["canceled", "failed", "succeeded"]


def test_a_cancel_made_elsewhere_is_seen_at_the_planned_end() -> None:
    """Another replica's cancel reaches the store, not this watch: the record is read
    again when the prediction was due to end."""
    clock = FakeClock()
    store = InMemoryStore()
    seen: list[str] = []
    watch = EndingWatch(store, clock, seen.append, background=False)
    record = _record(store, clock)
    watch.created(record)
    clock.advance(2)
    store.cancel(record.id, clock.now)  # not told to the watch
    clock.advance(3)
    assert watch.pump() == ["canceled"]


def test_a_reset_ends_nothing() -> None:
    clock = FakeClock()
    store = InMemoryStore()
    seen: list[str] = []
    watch = EndingWatch(store, clock, seen.append, background=False)
    watch.created(_record(store, clock))
    kept = _record(store, clock)
    watch.clear()
    watch.created(kept)
    store.clear()
    clock.advance(10)
    assert watch.pump() == []
    assert seen == []


def test_an_exchange_shows_the_path_as_sent_decoded() -> None:
    # WSGI holds the path's UTF-8 bytes read as Latin-1; the entry shows the text sent.
    sent = "/v1/predictions/é✓"
    as_wsgi = sent.encode().decode("latin-1")
    environ = {"PATH_INFO": as_wsgi, "REQUEST_METHOD": "GET"}
    assert exchange(environ=environ).entry().path == sent
    assert (
        exchange(environ={"PATH_INFO": "//v1/x", "REQUEST_METHOD": "GET"}).entry().path == "/v1/x"
    )
