"""Asserting what an app sent, through the ``imagen_mock`` fixture alone, as an
application's own tests would (the "app" here is a few lines of httpx)."""

from __future__ import annotations

import httpx
import pytest

from mock_server.pytest_plugin import ImagenMock


class PosterApp:
    """A stand-in application: it asks for a wide image and polls until it is done."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})

    def start(self, prompt: str, aspect_ratio: str = "16:9") -> str:
        answer = self.http.post(
            "/models/google/imagen-4-ultra/predictions",
            json={"input": {"prompt": prompt, "aspect_ratio": aspect_ratio}},
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def status(self, prediction_id: str) -> str:
        return str(self.http.get(f"/predictions/{prediction_id}").json()["status"])


@pytest.mark.imagen_mock(token="r8_testtoken123")
def test_the_app_asks_for_one_wide_poster(imagen_mock: ImagenMock) -> None:
    app = PosterApp(imagen_mock.base_url, "r8_testtoken123")
    prediction = app.start("a lighthouse at dusk")
    imagen_mock.advance(5)
    assert app.status(prediction) == "succeeded"

    [created] = imagen_mock.assert_requested("create", aspect_ratio="16:9")
    assert created["prediction_id"] == prediction
    imagen_mock.assert_requested("get", prediction_id=prediction, status=200)
    assert [entry["route"] for entry in imagen_mock.requests()] == ["create", "get"]
    assert imagen_mock.requests(method="POST", status=201)[0]["path"].endswith("/predictions")
    assert "r8_testtoken123" not in str(imagen_mock.requests())


def test_a_failed_assertion_says_what_was_expected_and_what_arrived(
    imagen_mock: ImagenMock,
) -> None:
    app = PosterApp(imagen_mock.base_url, imagen_mock.token or "r8_any")
    app.start("a fox", aspect_ratio="1:1")
    app.start("a fox again", aspect_ratio="16:9")
    app.start("a third fox", aspect_ratio="16:9")

    with pytest.raises(AssertionError) as failure:
        imagen_mock.assert_requested("create", aspect_ratio="16:9")
    message = str(failure.value)
    assert message.startswith("expected 1 create with aspect_ratio 16:9, got 2: POST /v1/")
    assert '"prompt": "a fox"' in message
    assert '"aspect_ratio": "1:1"' in message
    assert message.count("-> 201") == 3

    with pytest.raises(AssertionError, match=r"expected 1 cancel, got 0 \(the journal holds 3"):
        imagen_mock.assert_requested("cancel")
    assert len(imagen_mock.assert_requested("create", times=None)) == 3
    imagen_mock.reset()
    assert imagen_mock.requests() == []
