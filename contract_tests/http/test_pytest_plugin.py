"""The ``imagen_mock`` pytest plugin, used the way an application's own tests would use it.

Nothing here is imported from ``contract_tests``: the fixture comes from the
``pytest11`` entry point that installing the package registers. The plugin in a fresh
pytest process is in ``e2e/test_pytest_plugin_run.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
import replicate
from replicate.client import Client
from werkzeug.serving import make_server

from mock_server.pytest_plugin import ImagenMock

MODEL = "google/imagen-4-ultra"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def official_client(mock: ImagenMock) -> Client:
    """The official client adds ``/v1`` itself, so it takes ``root``, not ``base_url``."""
    return Client(api_token=mock.token, base_url=mock.root)


def test_the_official_client_follows_a_prediction(imagen_mock: ImagenMock) -> None:
    client = official_client(imagen_mock)
    prediction = client.models.predictions.create(MODEL, input={"prompt": "a lighthouse"})
    created = prediction.status

    imagen_mock.advance(4)  # past the default 1 s starting + 3 s processing
    prediction.reload()

    assert (created, prediction.status) == ("starting", "succeeded")
    assert prediction.output == f"{imagen_mock.root}/delivery/{prediction.id}/output.jpg"
    assert httpx.get(prediction.output).headers["content-type"] == "image/jpeg"


@pytest.mark.imagen_mock(token="r8_mine", starting_seconds=10, processing_seconds=20)
def test_the_marker_sets_token_and_phases(imagen_mock: ImagenMock) -> None:
    assert imagen_mock.token == "r8_mine"
    client = official_client(imagen_mock)
    prediction = client.predictions.create(model=MODEL, input={"prompt": "a fox"})
    imagen_mock.advance(29)
    prediction.reload()
    assert prediction.status == "processing"
    canceled = client.predictions.cancel(prediction.id)
    assert canceled.status == "canceled"
    wrong = httpx.get(f"{imagen_mock.base_url}/predictions", headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401


def test_reset_forgets_predictions(imagen_mock: ImagenMock) -> None:
    client = official_client(imagen_mock)
    prediction = client.predictions.create(model=MODEL, input={"prompt": "a fox"})
    imagen_mock.reset()
    assert client.predictions.list().results == []
    with pytest.raises(replicate.exceptions.ReplicateError):
        client.predictions.get(prediction.id)


def test_a_rule_makes_the_next_create_fail(imagen_mock: ImagenMock) -> None:
    rule = imagen_mock.add_rule(
        match={"route": "create"}, scenario="fail", error="out of ink", times=1
    )
    assert rule["remaining"] == 1
    client = official_client(imagen_mock)
    failing = client.predictions.create(model=MODEL, input={"prompt": "a fox"})
    passing = client.predictions.create(model=MODEL, input={"prompt": "a fox"})
    imagen_mock.advance(10)
    failing.reload()
    passing.reload()
    assert (failing.status, failing.error) == ("failed", "out of ink")
    assert passing.status == "succeeded"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback that answers 204 and keeps the bodies."""
    received: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        received.append(json.loads(environ["wsgi.input"].read(size)))
        start_response("204 No Content", [])
        return [b""]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_webhook_deliveries_can_be_inspected(
    imagen_mock: ImagenMock, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    client = official_client(imagen_mock)
    prediction = client.predictions.create(
        model=MODEL, input={"prompt": "a fox"}, webhook=url, webhook_events_filter=["completed"]
    )
    imagen_mock.advance(4)
    attempts: list[dict[str, Any]] = []
    for _ in range(100):  # the dispatcher thread sends it at once; bounded wait
        attempts = imagen_mock.deliveries(prediction.id)
        if attempts:
            break
        threading.Event().wait(0.05)
    assert [(a["event"], a["delivered"]) for a in attempts] == [("completed", True)]
    assert received[0]["status"] == "succeeded"
    assert imagen_mock.deliveries("someone-else") == []
