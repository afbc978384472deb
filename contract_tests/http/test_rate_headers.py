"""The ``ratelimit-*`` headers of every 2xx API answer, and the 429 past the limit when
limits are enforced; ``Preference-Applied`` and content types as recorded."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, CREATE
from mock_server import FakeClock, create_app

OTHER_AUTH = {"Authorization": "Bearer r8_AnotherToken42"}


def test_every_2xx_api_answer_counts_down_per_token_and_kind(client: FlaskClient) -> None:
    first = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert first.headers["ratelimit-remaining"] == "599"
    assert first.headers["ratelimit-reset"] == "1"
    assert first.mimetype == "application/json"
    second = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert second.headers["ratelimit-remaining"] == "598"
    prediction = first.get_json()["id"]
    reads = [
        client.get(f"/v1/predictions/{prediction}", headers=AUTH),
        client.post(f"/replicate/v1/predictions/{prediction}/cancel", headers=AUTH),
        client.get("/v1/predictions", headers=AUTH),
        client.get("/v1/webhooks/default/secret", headers=AUTH),
    ]
    assert [r.status_code for r in reads] == [200, 200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in reads] == ["2999", "2998", "2997", "2996"]
    assert all(r.headers["ratelimit-reset"] == "1" for r in reads)
    other = client.get("/v1/predictions", headers=OTHER_AUTH)
    assert other.headers["ratelimit-remaining"] == "2999"  # its own quota


def test_the_quota_refills_with_time(client: FlaskClient, clock: FakeClock) -> None:
    for _ in range(30):
        client.get("/v1/predictions", headers=AUTH)
    assert client.get("/v1/predictions", headers=AUTH).headers["ratelimit-remaining"] == "2969"
    clock.advance(60)
    assert client.get("/v1/predictions", headers=AUTH).headers["ratelimit-remaining"] == "2999"


def test_problem_answers_carry_no_ratelimit_headers(client: FlaskClient) -> None:
    for response in (
        client.get("/v1/predictions/nosuchprediction", headers=AUTH),
        client.post(CREATE, headers=AUTH, json={"input": {}}),
        client.get("/v1/predictions"),
    ):
        assert response.status_code >= 400
        assert "ratelimit-remaining" not in response.headers


def test_limits_are_only_counted_by_default(clock: FakeClock) -> None:
    client = create_app({"MOCK_CLOCK": clock}).test_client()
    for _ in range(601):
        last = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert last.status_code == 201
    assert last.headers["ratelimit-remaining"] == "0"


def test_enforced_limits_answer_the_real_429(clock: FakeClock) -> None:
    client = create_app({"MOCK_CLOCK": clock, "MOCK_ENFORCE_RATE_LIMITS": True}).test_client()
    answers = [
        client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}}) for _ in range(601)
    ]
    assert {a.status_code for a in answers[:600]} == {201}
    refused = answers[600]
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    assert json.loads(refused.get_data()) == {
        "detail": "Request was throttled. Your rate limit resets in ~1s.",
        "status": 429,
        "retry_after": 1,
    }
    assert client.get("/v1/predictions", headers=AUTH).status_code == 200  # another quota
    clock.advance(0.1)
    assert client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}}).status_code == 201


def test_preference_applied_echoes_the_request(client: FlaskClient) -> None:
    for prefer in ("wait", "wait=10", "wait=1"):
        response = client.post(
            CREATE, headers={**AUTH, "Prefer": prefer}, json={"input": {"prompt": "x"}}
        )
        assert response.status_code == 201
        assert response.headers["Preference-Applied"] == prefer
        assert response.headers["ratelimit-remaining"].isdigit()
    plain = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert "Preference-Applied" not in plain.headers


def test_a_reset_forgets_the_counts(client: FlaskClient) -> None:
    for _ in range(3):
        client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert client.post("/_mock/reset", headers=AUTH).status_code == 204
    again = client.post(CREATE, headers=AUTH, json={"input": {"prompt": "x"}})
    assert again.headers["ratelimit-remaining"] == "599"
