"""The whole lifecycle over the Flask test client, moved along by a fake clock."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from contract_tests.support.constants import AUTH, CREATE
from mock_server import FakeClock, create_app


def create(client: FlaskClient, prefix: str = "/v1", **input_: str) -> dict[str, Any]:
    response = client.post(
        prefix + CREATE.removeprefix("/v1"),
        headers=AUTH,
        json={"input": {"prompt": "a lighthouse at dawn", **input_}},
    )
    assert response.status_code == 201, response.data
    body: dict[str, Any] = response.get_json()
    assert "Location" not in response.headers  # no recorded real create has one
    return body


def get(client: FlaskClient, prediction_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/predictions/{prediction_id}", headers=AUTH)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def test_create_poll_succeed_fetch(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client, aspect_ratio="9:16", output_format="png")
    assert created["status"] == "starting"
    assert created["output"] is None
    assert created["logs"] == ""
    seen = [created["status"]]
    for _ in range(10):
        clock.advance(0.5)
        seen.append(get(client, created["id"])["status"])
    assert seen[:2] == ["starting", "starting"]
    assert "processing" in seen
    assert seen[-1] == "succeeded"
    done = get(client, created["id"])
    image = client.get(done["output"].removeprefix("http://localhost"))
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert Image.open(io.BytesIO(image.data)).size == (768, 1408)
    with_token = client.get(done["output"].removeprefix("http://localhost"), headers=AUTH)
    assert with_token.data == image.data


def test_jpeg_is_the_default(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client)
    clock.advance(5)
    output = get(client, created["id"])["output"]
    assert output.endswith(".jpg")
    image = client.get(output.removeprefix("http://localhost"))
    assert image.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(image.data)).format == "JPEG"


def test_cancel_running_then_again(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client)
    clock.advance(2)
    canceled = client.post(created["urls"]["cancel"].removeprefix("http://localhost"), headers=AUTH)
    assert canceled.status_code == 200
    body = canceled.get_json()
    assert body["status"] == "canceled"
    assert body["completed_at"] is not None
    assert body["output"] is None
    clock.advance(10)
    assert get(client, created["id"])["status"] == "canceled"
    again = client.post(f"/v1/predictions/{created['id']}/cancel", headers=AUTH).get_json()
    assert again == get(client, created["id"])


def test_cancel_finished_is_unchanged(client: FlaskClient, clock: FakeClock) -> None:
    created = create(client)
    clock.advance(5)
    before = get(client, created["id"])
    after = client.post(f"/v1/predictions/{created['id']}/cancel", headers=AUTH).get_json()
    assert before == after
    assert after["status"] == "succeeded"


@pytest.mark.parametrize(
    ("level", "prompt", "status"),
    [
        ("block_only_high", "a knife", "succeeded"),
        ("block_low_and_above", "a knife", "failed"),
        ("block_only_high", "gore", "failed"),
    ],
)
def test_safety_filter(
    client: FlaskClient, clock: FakeClock, level: str, prompt: str, status: str
) -> None:
    created = client.post(
        CREATE, headers=AUTH, json={"input": {"prompt": prompt, "safety_filter_level": level}}
    ).get_json()
    clock.advance(5)
    done = get(client, created["id"])
    assert done["status"] == status
    if status == "failed":
        assert done["error"] == "The input or output was flagged as sensitive. (E005)"


def test_prefer_wait_returns_the_final_prediction(client: FlaskClient, clock: FakeClock) -> None:
    start = clock.now()
    response = client.post(
        CREATE, headers={**AUTH, "Prefer": "wait"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait"
    assert response.get_json()["status"] == "succeeded"
    assert clock.now() - start == pytest.approx(4.0, abs=0.06)


def test_prefer_wait_n_that_runs_out_is_201_as_recorded(
    client: FlaskClient, clock: FakeClock
) -> None:
    response = client.post(
        CREATE, headers={**AUTH, "Prefer": "wait=2"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=2"  # the request's own value
    assert response.get_json()["status"] == "processing"
    assert "Location" not in response.headers


def test_the_other_choices_by_option(clock: FakeClock) -> None:
    client = create_app(
        {"MOCK_CLOCK": clock, "MOCK_WAIT_TIMEOUT_STATUS": 202, "MOCK_LOCATION_HEADER": True}
    ).test_client()
    response = client.post(
        CREATE, headers={**AUTH, "Prefer": "wait=2"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "processing"
    assert response.headers["Location"] == body["urls"]["get"]
    quick = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert quick.headers["Location"] == quick.get_json()["urls"]["get"]


def test_list_newest_first_with_absolute_links(clock: FakeClock) -> None:
    client = create_app({"MOCK_CLOCK": clock}).test_client()
    ids = []
    for _ in range(120):
        ids.append(create(client)["id"])
        clock.advance(0.001)
    first = client.get("/replicate/v1/predictions", headers=AUTH).get_json()
    assert [p["id"] for p in first["results"]] == ids[::-1][:100]
    assert first["previous"] is None
    assert first["next"].startswith("http://localhost/replicate/v1/predictions?cursor=")
    second = client.get(first["next"].removeprefix("http://localhost"), headers=AUTH).get_json()
    assert [p["id"] for p in second["results"]] == ids[::-1][100:]
    assert second["next"] is None
    back = client.get(second["previous"].removeprefix("http://localhost"), headers=AUTH).get_json()
    assert [p["id"] for p in back["results"]] == ids[::-1][:100]


def test_list_keeps_filters_in_links(client: FlaskClient) -> None:
    for _ in range(101):
        create(client)
    page = client.get("/v1/predictions?created_after=2000-01-01T00:00:00Z", headers=AUTH).get_json()
    assert "created_after=2000-01-01T00%3A00%3A00Z" in page["next"]


def test_both_prefixes_share_predictions(client: FlaskClient) -> None:
    created = create(client, prefix="/replicate/v1")
    assert created["urls"]["get"].startswith("http://localhost/replicate/v1/predictions/")
    assert client.get(f"/v1/predictions/{created['id']}", headers=AUTH).status_code == 200


def test_urls_follow_the_request_host(client: FlaskClient) -> None:
    response = client.post(
        CREATE, headers=AUTH, json={"input": {"prompt": "x"}}, base_url="https://mock.example:9443"
    )
    urls = response.get_json()["urls"]
    assert all(url.startswith("https://mock.example:9443/") for url in urls.values())


def test_forwarded_headers_only_when_trusted() -> None:
    forwarded = {**AUTH, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.public.test"}
    untrusted = create_app().test_client()
    body = untrusted.post(CREATE, headers=forwarded, json={"input": {"prompt": "x"}}).get_json()
    assert body["urls"]["get"].startswith("http://localhost/v1/")
    trusted = create_app({"MOCK_TRUSTED_PROXIES": 1}).test_client()
    body = trusted.post(
        CREATE,
        headers={**forwarded, "X-Forwarded-Prefix": "/edge"},
        json={"input": {"prompt": "x"}},
    ).get_json()
    assert body["urls"]["get"].startswith("https://api.public.test/edge/v1/predictions/")
    assert body["urls"]["web"].startswith("https://api.public.test/edge/p/")


def test_spec_document_is_served(client: FlaskClient) -> None:
    response = client.get("/openapi.yaml")
    assert response.status_code == 200
    assert b"openapi: 3.1.0" in response.data


def test_cancel_after_sets_a_deadline(client: FlaskClient, clock: FakeClock) -> None:
    response = client.post(
        CREATE, headers={**AUTH, "Cancel-After": "5s"}, json={"input": {"prompt": "x"}}
    )
    body = response.get_json()
    assert body["deadline"] is not None
    assert body["deadline"] > body["created_at"]


def test_bad_cancel_after_is_422(client: FlaskClient) -> None:
    response = client.post(
        CREATE, headers={**AUTH, "Cancel-After": "tomorrow"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 422
    assert response.get_json()["invalid_fields"][0]["field"] == "Cancel-After"


def test_output_file_is_gone_after_data_removal(clock: FakeClock) -> None:
    client = create_app({"MOCK_CLOCK": clock, "MOCK_RETENTION_SECONDS": 60}).test_client()
    created = create(client)
    clock.advance(10)
    output = get(client, created["id"])["output"].removeprefix("http://localhost")
    assert client.get(output).status_code == 200
    clock.advance(60)
    assert get(client, created["id"])["data_removed"] is True
    assert client.get(output).status_code == 404


def test_reset_while_waiting_is_404_not_500(clock: FakeClock) -> None:
    from mock_server.storage.memory import InMemoryStore

    class VanishingStore(InMemoryStore):
        """Forgets every record as soon as a held request looks again."""

        def get(self, prediction_id: str) -> Any:
            found = super().get(prediction_id)
            self.clear()
            return found

    client = create_app({"MOCK_STORE": VanishingStore(), "MOCK_CLOCK": clock}).test_client()
    response = client.post(
        CREATE, headers={**AUTH, "Prefer": "wait=5"}, json={"input": {"prompt": "x"}}
    )
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
