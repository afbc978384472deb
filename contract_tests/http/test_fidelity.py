"""The mock held to the evidence: the seed's request answered as the seed's example
answers it, key for key and in order, and the recorded facts of each later state
(``reference/replicate-contract.md``, "Recorded real responses").

Values that belong to one prediction (id, times, URLs) are compared by shape; every
other value is compared as it is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from flask.testing import FlaskClient

from contract_tests.support.constants import AUTH, SPEC
from mock_server import FakeClock, create_app

SEED: Final = json.loads(
    (Path(__file__).parents[1] / "support" / "seed_example.json").read_text(encoding="utf-8")
)
SEED_PATH: Final = "/replicate/v1/models/google/imagen-4-ultra/predictions"
#: Replicate's ids: 26 characters of the lowercase alphabet without i, l, o, u.
ID: Final = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")
#: RFC 3339 in UTC with Z, fractional seconds with trailing zeros dropped.
TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z")
PER_PREDICTION: Final = {"id", "created_at", "urls"}


def seed_answer(client: FlaskClient) -> dict[str, Any]:
    response = client.post(SEED_PATH, headers=AUTH, json=SEED["request"])
    assert response.status_code == 201, response.data  # the reseller documents 200
    assert response.mimetype == "application/json"
    assert "Location" not in response.headers
    assert response.headers["ratelimit-remaining"] == "599"
    assert response.headers["ratelimit-reset"] == "1"
    body: dict[str, Any] = json.loads(response.get_data())  # key order as sent
    return body


def get(client: FlaskClient, prediction_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/predictions/{prediction_id}", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"].isdigit()
    body: dict[str, Any] = json.loads(response.get_data())
    return body


def test_the_seed_request_gets_the_seed_answer_key_for_key(client: FlaskClient) -> None:
    expected = SEED["response"]
    answer = seed_answer(client)
    assert list(answer) == list(expected)
    for key, value in expected.items():
        if key not in PER_PREDICTION:
            assert answer[key] == value, key
    assert list(answer["input"]) == list(expected["input"])  # sorted, as echoed
    assert ID.fullmatch(answer["id"])
    assert TIME.fullmatch(answer["created_at"])
    assert len(answer["created_at"].split(".")[-1]) <= 4  # milliseconds at most, and Z
    assert list(answer["urls"]) == list(expected["urls"])
    for name, url in answer["urls"].items():
        assert answer["id"] in url, name
    assert answer["urls"]["get"].endswith(f"/replicate/v1/predictions/{answer['id']}")
    assert answer["urls"]["cancel"] == answer["urls"]["get"] + "/cancel"


def test_the_specs_seed_examples_are_the_seeds() -> None:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    create = spec["paths"]["/models/{model_owner}/{model_name}/predictions"]["post"]
    request = create["requestBody"]["content"]["application/json"]["examples"]["seedRequest"]
    response = create["responses"]["200"]["content"]["application/json"]["examples"]
    assert request["value"] == SEED["request"]
    assert response["seedResponse"]["value"] == SEED["response"]


def later_keys(*added: str) -> list[str]:
    """The seed's keys with ``added`` in place: times after ``created_at``, metrics last."""
    keys = list(SEED["response"])
    times = [key for key in added if key != "metrics"]
    at = keys.index("created_at") + 1
    keys[at:at] = times
    return keys + (["metrics"] if "metrics" in added else [])


def test_each_state_has_the_keys_real_answers_have(client: FlaskClient, clock: FakeClock) -> None:
    made = seed_answer(client)
    assert made["status"] == "starting"
    assert list(get(client, made["id"])) == list(SEED["response"])
    clock.advance(1.5)
    running = get(client, made["id"])
    assert running["status"] == "processing"
    assert list(running) == later_keys("started_at")
    assert TIME.fullmatch(running["started_at"])
    clock.advance(3)
    done = get(client, made["id"])
    assert done["status"] == "succeeded"
    assert list(done) == later_keys("started_at", "completed_at", "metrics")
    assert TIME.fullmatch(done["completed_at"])
    assert list(done["metrics"]) == ["image_count", "predict_time"]  # no total_time
    assert done["metrics"]["image_count"] == 1
    took = done["metrics"]["predict_time"]
    assert 0 < took < 3.0
    assert took != round(took, 2)  # never a round number
    assert get(client, made["id"])["metrics"]["predict_time"] == took  # fixed for the id
    assert done["logs"] == f"No sid\nGenerating image...\nGenerated image in {took:.2f} seconds\n"
    assert re.fullmatch(r"https?://\S+\.jpg", done["output"])
    assert "deadline" not in done
    assert "source" not in done


def test_failed_and_canceled_states(client: FlaskClient, clock: FakeClock) -> None:
    blocked = client.post(
        SEED_PATH, headers=AUTH, json={"input": {"prompt": "gore", "output_format": "png"}}
    ).get_json()
    canceled = client.post(SEED_PATH, headers=AUTH, json={"input": {"prompt": "x"}}).get_json()
    clock.advance(2)
    stopped = client.post(f"/v1/predictions/{canceled['id']}/cancel", headers=AUTH)
    assert stopped.status_code == 200
    assert list(json.loads(stopped.get_data())) == later_keys(
        "started_at", "completed_at", "metrics"
    )
    clock.advance(5)
    failed = get(client, blocked["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == "The input or output was flagged as sensitive. (E005)"
    assert list(failed) == later_keys("started_at", "completed_at", "metrics")
    assert list(failed["metrics"]) == ["predict_time"]
    shown = get(client, canceled["id"])
    assert shown["status"] == "canceled"
    assert list(shown["metrics"]) == ["predict_time"]
    assert shown["output"] is None


def test_predict_times_vary_from_prediction_to_prediction(
    client: FlaskClient, clock: FakeClock
) -> None:
    made = [seed_answer(client)["id"]]
    made += [
        client.post(SEED_PATH, headers=AUTH, json=SEED["request"]).get_json()["id"]
        for _ in range(4)
    ]
    clock.advance(10)
    times = {get(client, each)["metrics"]["predict_time"] for each in made}
    assert len(times) == 5


def test_a_deadline_appears_only_when_one_is_set(client: FlaskClient, clock: FakeClock) -> None:
    plain = seed_answer(client)
    assert "deadline" not in plain
    limited = client.post(
        SEED_PATH, headers={**AUTH, "Cancel-After": "2s"}, json=SEED["request"]
    ).get_json()
    assert TIME.fullmatch(limited["deadline"])
    clock.advance(10)
    assert "deadline" not in get(client, plain["id"])
    ended = get(client, limited["id"])
    assert ended["deadline"] == limited["deadline"]  # kept once set (raised to 5 s)
    assert list(ended) == later_keys("started_at", "completed_at", "deadline", "metrics")


def test_total_time_by_option(clock: FakeClock) -> None:
    client = create_app({"MOCK_CLOCK": clock, "MOCK_METRICS_TOTAL_TIME": True}).test_client()
    made = client.post(SEED_PATH, headers=AUTH, json=SEED["request"]).get_json()
    clock.advance(10)
    metrics = get(client, made["id"])["metrics"]
    assert list(metrics) == ["image_count", "predict_time", "total_time"]
    assert metrics["total_time"] == 4.0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"input": {"prompt": "x"}, "model": "google/imagen-4-ultra"},
            b'{"detail":"- Additional property model is not allowed\\n","status":422,'
            b'"title":"Input validation failed","invalid_fields":[{"type":'
            b'"additional_property_not_allowed","field":"","description":'
            b'"Additional property model is not allowed"}]}',
        ),
        (
            {"version": "hidden"},
            b'{"detail":"- input is required\\n- Additional property version is not allowed\\n",'
            b'"status":422,"title":"Input validation failed","invalid_fields":['
            b'{"type":"required","field":"","description":"input is required"},'
            b'{"type":"additional_property_not_allowed","field":"","description":'
            b'"Additional property version is not allowed"}]}',
        ),
    ],
)
def test_root_level_422s_are_written_as_recorded(
    client: FlaskClient, body: dict[str, Any], expected: bytes
) -> None:
    response = client.post(SEED_PATH, headers=AUTH, json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_data() == expected
    assert "ratelimit-remaining" not in response.headers
