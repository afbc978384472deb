"""The event stream at ``urls.stream``: the event sequence on a fake clock and the HTTP
endpoint over the Flask test client (``e2e/test_stream_served.py`` has a real server)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE
from mock_server import FakeClock
from mock_server.domain import lifecycle
from mock_server.domain.events import HEARTBEAT_SECONDS, Event, events, follow
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.safety import SAFETY_ERROR
from mock_server.storage.memory import InMemoryStore

ROOT = "https://mock.test"
T0 = 1_753_846_126.805


def record(prompt: str = "a red fox", **changes: Any) -> PredictionRecord:
    made = lifecycle.new_record(
        {"prompt": prompt},
        now=T0,
        starting_seconds=1.0,
        processing_seconds=3.0,
        retention_seconds=3600.0,
    )
    return replace(made, **changes)


def kinds(sequence: list[Event]) -> list[str]:
    return [event.event for event in sequence]


def parse(text: str) -> list[dict[str, str]]:
    """``text/event-stream`` text as a list of ``{field: value}`` (comments dropped)."""
    parsed = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = f"{fields[name]}\n{value}" if name in fields else value
        if fields:
            parsed.append(fields)
    return parsed


# -- the event sequence, pure -------------------------------------------------------


def test_succeeded_sequence_and_ids() -> None:
    made = record()
    sequence = events(made, ROOT)
    assert kinds(sequence) == ["logs"] * 3 + ["output", "done"]
    assert [event.id for event in sequence] == list(range(5))
    assert sequence[0].data == "No sid"  # imagen's first log line
    assert sequence[3].data == f"{ROOT}/delivery/{made.id}/output.jpg"
    assert sequence[4].data == "{}"
    assert [event.at for event in sequence] == sorted(event.at for event in sequence)
    assert sequence[-1].at == lifecycle.ends_at(made)


def test_failed_sequence_ends_with_error_then_done() -> None:
    sequence = events(record("gore"), ROOT)
    assert kinds(sequence) == ["logs"] * 3 + ["error", "done"]
    assert json.loads(sequence[3].data) == {"detail": SAFETY_ERROR}
    assert json.loads(sequence[4].data) == {"reason": "error"}


def test_cancel_keeps_the_sent_prefix_and_ends_canceled() -> None:
    made = record()
    at = lifecycle.started_at(made) + 1.0  # after two of the three log lines
    before = [event for event in events(made, ROOT) if event.at <= at]
    after = events(lifecycle.cancel(made, at), ROOT)
    assert after[: len(before)] == before
    assert kinds(after) == ["logs", "logs", "done"]
    assert json.loads(after[-1].data) == {"reason": "canceled"}
    assert after[-1].at == at


def test_deadline_before_start_is_aborted_with_no_logs() -> None:
    sequence = events(record(deadline=T0 + 0.5), ROOT)
    assert kinds(sequence) == ["done"]
    assert json.loads(sequence[0].data) == {"reason": "aborted"}


def test_encode_splits_multiline_data() -> None:
    assert Event(7, 0.0, "logs", "a\nb").encode() == "event: logs\nid: 7\ndata: a\ndata: b\n\n"


def test_follow_yields_each_event_when_it_happens_and_ends() -> None:
    clock = FakeClock(T0)
    made = record()
    seen: list[tuple[float, dict[str, str]]] = []
    for chunk in follow(lambda: made, clock, ROOT):
        seen.extend((clock.now(), fields) for fields in parse(chunk))
    sequence = events(made, ROOT)
    assert [fields["id"] for _, fields in seen] == [str(event.id) for event in sequence]
    for (now, _), event in zip(seen, sequence, strict=True):
        assert event.at <= now < event.at + 0.06
    assert clock.now() >= lifecycle.ends_at(made)


def test_follow_resumes_after_an_id_and_sees_a_cancel() -> None:
    clock = FakeClock(T0)
    store = InMemoryStore()
    made = record()
    store.add(made)
    ids = []
    for chunk in follow(lambda: store.get(made.id), clock, ROOT, after=0):
        ids += [fields["id"] for fields in parse(chunk)]
        if len(ids) == 1:
            store.update(made.id, lambda current: lifecycle.cancel(current, clock.now()))
    assert ids == ["1", "2"]
    assert lifecycle.status_at(store.get(made.id) or made, clock.now()) == "canceled"


def test_follow_terminates_on_awkward_floats_and_sends_heartbeats() -> None:
    clock = FakeClock(0.1)
    made = replace(record(), created_at=0.1, starting_seconds=0.1 * 3, processing_seconds=40.0)
    chunks = list(follow(lambda: made, clock, ROOT))
    # quiet from 2 s to 20 s and from 20 s to 40 s (log lines at 0, 5%, 50%, 100%)
    assert [chunk for chunk in chunks if chunk.startswith(":")] == [": keep-alive\n\n"] * 2
    assert HEARTBEAT_SECONDS == 15.0
    assert parse(chunks[-1])[-1]["event"] == "done"


def test_follow_ends_when_the_record_disappears() -> None:
    assert list(follow(lambda: None, FakeClock(), ROOT)) == []


# -- over the Flask test client -----------------------------------------------------


def create(client: FlaskClient, prompt: str = "a red fox", prefix: str = "") -> dict[str, Any]:
    response = client.post(
        prefix + CREATE, headers=AUTH, json={"input": {"prompt": prompt}, "stream": True}
    )
    assert response.status_code == 201, response.data
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.parametrize("headers", [AUTH, {}], ids=["token", "no-token"])
def test_stream_over_http(client: FlaskClient, clock: FakeClock, headers: dict[str, str]) -> None:
    created = create(client)
    assert created["urls"]["stream"] == f"http://localhost/stream/{created['id']}"
    response = client.get(created["urls"]["stream"], headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert text.startswith(": open\n\nevent: logs\nid: 0\n")
    parsed = parse(text)
    assert [fields["event"] for fields in parsed] == ["logs"] * 3 + ["output", "done"]
    assert [fields["id"] for fields in parsed] == [str(n) for n in range(5)]
    done = client.get(f"/v1/predictions/{created['id']}", headers=AUTH).get_json()
    assert done["status"] == "succeeded"
    assert parsed[3]["data"] == done["output"]
    assert done["logs"] == "".join(f"{fields['data']}\n" for fields in parsed[:3])


def test_last_event_id_resumes_after_that_event(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client, prefix="/replicate")
    resumed = client.get(created["urls"]["stream"], headers={"Last-Event-ID": "1"})
    parsed = parse(resumed.get_data(as_text=True))
    assert [fields["id"] for fields in parsed] == ["2", "3", "4"]
    finished = client.get(created["urls"]["stream"], headers={"Last-Event-ID": "4"})
    assert finished.status_code == 204
    assert finished.data == b""
    again = client.get(created["urls"]["stream"], headers={"Last-Event-ID": "junk"})
    assert [fields["id"] for fields in parse(again.get_data(as_text=True))] == [
        str(n) for n in range(5)
    ]


def test_failed_and_canceled_over_http(client: FlaskClient, clock: FakeClock) -> None:
    failed = parse(client.get(create(client, "gore")["urls"]["stream"]).get_data(as_text=True))
    assert [(f["event"], f["data"]) for f in failed[-2:]] == [
        ("error", json.dumps({"detail": SAFETY_ERROR})),
        ("done", '{"reason": "error"}'),
    ]
    created = create(client)
    clock.advance(0.5)
    client.post(f"/v1/predictions/{created['id']}/cancel", headers=AUTH)
    canceled = parse(client.get(created["urls"]["stream"]).get_data(as_text=True))
    assert canceled == [{"event": "done", "id": "0", "data": '{"reason": "canceled"}'}]


def test_unknown_prediction_is_a_404_problem(client: FlaskClient) -> None:
    response = client.get("/stream/doesnotexist")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "detail": "Prediction doesnotexist does not exist",
        "status": 404,
    }


def test_absurd_last_event_id_starts_over_instead_of_failing(
    client: FlaskClient, clock: FakeClock
) -> None:
    created = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}}).get_json()
    clock.advance(10)
    response = client.get(f"/stream/{created['id']}", headers={"Last-Event-ID": "9" * 5000})
    assert response.status_code == 200
    assert b"event: done" in response.data


def test_foreign_last_event_id_on_a_running_prediction_starts_over(
    client: FlaskClient, clock: FakeClock
) -> None:
    created = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}}).get_json()
    clock.advance(2)  # processing
    response = client.get(f"/stream/{created['id']}", headers={"Last-Event-ID": "50"})
    assert response.status_code == 200
    assert b"id: 0\n" in response.data
    assert b"event: done" in response.data
