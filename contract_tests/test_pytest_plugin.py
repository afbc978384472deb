"""The ``imagen_mock`` pytest plugin, used the way an application's own tests would use it.

Nothing here is imported from ``contract_tests``: the fixture comes from the
``pytest11`` entry point that installing the package registers.
"""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
import replicate
from replicate.client import Client
from werkzeug.serving import make_server

from mock_server.pytest_plugin import ImagenMock

pytest_plugins = ["pytester"]

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


# --- the plugin in a fresh pytest run -------------------------------------------------------

USER_TESTS = """
    import httpx
    import pytest


    def test_fixture_is_there(imagen_mock):
        answer = httpx.get(imagen_mock.base_url + "/predictions",
                           headers={"Authorization": "Bearer " + imagen_mock.token})
        assert answer.status_code == 200
        assert imagen_mock.advance(2)["offset_seconds"] == 2


    @pytest.mark.imagen_mock(token="r8_marked")
    def test_marker_is_registered(imagen_mock):
        assert imagen_mock.token == "r8_marked"
"""


def test_the_entry_point_loads_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess(
        "--strict-markers", "-W", "error", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=textwrap.dedent(USER_TESTS))
    result = pytester.runpytest_subprocess("-p", "no:imagen_mock", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'imagen_mock' not found*"])


def test_a_conftest_can_override_the_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def imagen_mock_config():
            return {"token": "r8_from_conftest", "processing_seconds": 0}
        """
    )
    pytester.makepyfile(
        test_user="""
        def test_options(imagen_mock):
            assert imagen_mock.token == "r8_from_conftest"
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_a_bad_marker_value_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.imagen_mock(starting_seconds=-1)
        def test_negative(imagen_mock):
            pass

        @pytest.mark.imagen_mock(config={"MOCK_MAX_BODY_BYTES": 0})
        def test_no_body(imagen_mock):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "imagen_mock: starting_seconds must be from 0 to 31536000 (got -1.0)",
            "imagen_mock: MOCK_MAX_BODY_BYTES must be at least 1 (got 0)",
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
    assert "SettingError" not in result.stdout.str()
