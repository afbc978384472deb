"""A held ``Prefer: wait`` create answered later, driven in-process as the serving bridge
drives it: the app returns at once, the wait runs as a coroutine, and the final answer
carries what the threaded path's does (status, headers, journal entry, metrics)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import EnvironBuilder

from mock_server import create_app
from mock_server.http import context, held
from mock_server.serving import bridge

TOKEN = "r8_testtoken123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CREATE = "/v1/models/google/imagen-4-ultra/predictions"
#: Bound on each wait of a test.
BOUND = 10.0


@pytest.fixture
def app() -> Flask:
    """A mock on the real (adjustable) clock, whose predictions take minutes to start."""
    return create_app({"TESTING": True, "MOCK_TOKEN": TOKEN, "MOCK_STARTING_SECONDS": 300.0})


class Answer:
    status: str = ""
    headers: dict[str, str]

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        self.status = status
        self.headers = {name.lower(): value for name, value in headers}
        return None


def _held_create(app: Flask, *, marked: bool = True) -> tuple[dict[str, Any], Any]:
    """POST a held create as the bridge would (marked); the environ and the body."""
    builder = EnvironBuilder(
        path=CREATE,
        method="POST",
        json={"input": {"prompt": "held later"}},
        headers=[*AUTH.items(), ("Prefer", "wait=60")],
    )
    environ = builder.get_environ()
    if marked:
        environ[bridge.ASYNC_ANSWERS] = True
    first = Answer()
    body = app(environ, first.start)
    return environ, body


def _finish(environ: dict[str, Any], final: Callable[..., Any]) -> tuple[Answer, bytes]:
    answer = Answer()
    return answer, b"".join(final(environ, answer.start))


def _journal(app: Flask) -> list[dict[str, Any]]:
    reply = app.test_client().get("/_mock/requests", headers=AUTH)
    results: list[dict[str, Any]] = reply.json["results"]  # type: ignore[index]
    return results


def _held_gauge(app: Flask) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return float(next(line for line in text.splitlines() if line.startswith(
        "imagen_mock_held_connections "
    )).split()[1])  # fmt: skip


async def _answer_when(body: Any, act: Callable[[], object]) -> Callable[..., Any]:
    """Start the held answer, check it is still waiting, ``act``, then await it."""
    task = asyncio.ensure_future(body.answer_async(asyncio.to_thread))
    done, _ = await asyncio.wait({task}, timeout=0.2)
    assert not done, "the wait ended before anything happened"
    act()
    final: Callable[..., Any] = await asyncio.wait_for(task, BOUND)
    return final


def test_the_bridge_and_the_app_name_the_mark_alike() -> None:
    assert held.ASYNC_ANSWERS == bridge.ASYNC_ANSWERS


def test_a_held_create_answers_later_in_full_when_its_prediction_ends(app: Flask) -> None:
    environ, body = _held_create(app)
    assert hasattr(body, "answer_async")
    assert _journal(app) == []  # not journaled before its answer
    assert _held_gauge(app) == 1

    clock = context.state(app).service.clock
    final = asyncio.run(_answer_when(body, lambda: clock.advance(900)))  # type: ignore[attr-defined]
    answer, sent = _finish(environ, final)

    assert answer.status.startswith("201"), sent
    assert json.loads(sent)["status"] == "succeeded"
    assert answer.headers["preference-applied"] == "wait=60"
    assert "ratelimit-remaining" in answer.headers
    (entry,) = _journal(app)
    assert entry["status"] == 201
    assert entry["prediction_id"] == json.loads(sent)["id"]
    assert json.loads(entry["response_body"])["status"] == "succeeded"
    assert entry["duration_ms"] >= 200  # from its arrival to its answer
    assert _held_gauge(app) == 0


def test_a_prediction_forgotten_while_held_is_answered_404(app: Flask) -> None:
    environ, body = _held_create(app)
    client = app.test_client()
    final = asyncio.run(_answer_when(body, lambda: client.post("/_mock/reset", headers=AUTH)))
    answer, sent = _finish(environ, final)

    assert answer.status.startswith("404"), sent
    assert answer.headers["content-type"] == "application/problem+json"
    assert "ratelimit-remaining" not in answer.headers  # only 2xx answers carry them
    assert [entry["status"] for entry in _journal(app)] == [404]
    assert _held_gauge(app) == 0


def test_a_stopping_server_answers_a_held_create_with_the_prediction_as_it_stands(
    app: Flask,
) -> None:
    environ, body = _held_create(app)
    changes = context.state(app).service.changes
    assert changes is not None
    final = asyncio.run(_answer_when(body, changes.stop))
    answer, sent = _finish(environ, final)

    assert answer.status.startswith("201"), sent  # the wait_timeout_status (201 by default)
    assert json.loads(sent)["status"] == "starting"
    assert answer.headers["preference-applied"] == "wait=60"


def test_without_the_mark_a_held_create_waits_in_its_thread(app: Flask) -> None:
    context.state(app).service.changes.stop()  # type: ignore[union-attr]  # answer at once
    _environ, body = _held_create(app, marked=False)
    assert not hasattr(body, "answer_async")
    assert json.loads(b"".join(body))["status"] == "starting"
    assert [entry["status"] for entry in _journal(app)] == [201]
