"""Admin requests are checked against ``openapi/admin.yaml`` itself, with the same
problem bodies as the predictions API's checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from contract_tests.support.constants import AUTH, REPO
from mock_server import FakeClock, create_app
from mock_server.contract import problems
from mock_server.contract.validation import describe_errors
from mock_server.http import context
from mock_server.webhooks.planning import EVENTS

ADMIN = REPO / "openapi" / "admin.yaml"
PROBLEM = "application/problem+json"


def admin_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ADMIN.read_text(encoding="utf-8"))
    return doc


def app_with_admin_spec(tmp_path: Path, doc: dict[str, Any]) -> Flask:
    """A mock whose admin requests are checked against ``doc`` (a changed admin.yaml)."""
    path = tmp_path / "admin.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return create_app({"TESTING": True, "MOCK_CLOCK": FakeClock(), "MOCK_ADMIN_SPEC_PATH": path})


def test_a_clock_move_the_spec_rejects_is_a_422_problem(client: FlaskClient) -> None:
    response = client.post("/_mock/clock", headers=AUTH, json={"advance_seconds": 0})
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert response.get_data(as_text=True) == (
        '{"detail":"- advance_seconds: 0 is less than or equal to the minimum of 0\\n",'
        '"status":422,"title":"Invalid clock change","invalid_fields":[{"type":'
        '"exclusive_minimum","field":"advance_seconds","description":'
        '"0 is less than or equal to the minimum of 0"}]}'
    )


@pytest.mark.parametrize(
    "body",
    [
        {"advance_seconds": 0},
        {"advance_seconds": 365 * 86400 + 0.5},
        {"advance_seconds": "1"},
        {"advance_seconds": None},
        {"seconds": 1},
        {"advance_seconds": 1, "back": True},
        [],
        "soon",
    ],
)
def test_clock_problems_are_the_admin_schema_verdict(client: FlaskClient, body: Any) -> None:
    """The answer is exactly the problem the admin spec's ``ClockChange`` schema gives."""
    schema = admin_doc()["components"]["schemas"]["ClockChange"]
    expected = problems.validation_failed(
        describe_errors(Draft202012Validator(schema).iter_errors(body)),
        title="Invalid clock change",
    )
    response = client.post("/_mock/clock", headers=AUTH, json=body)
    assert (response.status_code, response.get_data(as_text=True)) == (422, expected.to_json())


def test_the_clock_limit_comes_from_the_admin_spec(tmp_path: Path) -> None:
    default = create_app({"TESTING": True, "MOCK_CLOCK": FakeClock()}).test_client()
    assert (
        default.post("/_mock/clock", headers=AUTH, json={"advance_seconds": 11}).status_code == 200
    )

    doc = admin_doc()
    doc["components"]["schemas"]["ClockChange"]["properties"]["advance_seconds"]["maximum"] = 10
    changed = app_with_admin_spec(tmp_path, doc).test_client()
    assert (
        changed.post("/_mock/clock", headers=AUTH, json={"advance_seconds": 10}).status_code == 200
    )
    response = changed.post("/_mock/clock", headers=AUTH, json={"advance_seconds": 11})
    assert response.status_code == 422
    assert response.get_json()["invalid_fields"] == [
        {
            "type": "maximum",
            "field": "advance_seconds",
            "description": "11 is greater than the maximum of 10",
        }
    ]
    assert changed.get("/_mock/openapi.yaml").get_data(as_text=True) == (
        tmp_path / "admin.yaml"
    ).read_text(encoding="utf-8")  # the document served is the one requests are held to


def test_rule_bodies_and_delivery_queries_follow_the_admin_spec(tmp_path: Path) -> None:
    doc = admin_doc()
    doc["components"]["schemas"]["RuleInput"]["properties"]["times"]["maximum"] = 3
    doc["components"]["schemas"]["WebhookEvent"]["enum"] = ["start", "completed"]
    client = app_with_admin_spec(tmp_path, doc).test_client()
    rule = client.post("/_mock/rules", headers=AUTH, json={"fault": "500", "times": 4})
    assert rule.status_code == 422
    assert [item["field"] for item in rule.get_json()["invalid_fields"]] == ["times"]
    assert (
        client.post("/_mock/rules", headers=AUTH, json={"fault": "500", "times": 3}).status_code
        == 201
    )
    logs = client.get("/_mock/webhooks/deliveries?event=logs", headers=AUTH)
    assert logs.status_code == 422
    assert logs.get_json()["invalid_fields"] == [
        {
            "type": "enum",
            "field": "event",
            "description": 'event must be one of the following: "start", "completed"',
        }
    ]


def test_a_bad_delivery_event_is_a_422_problem(client: FlaskClient) -> None:
    response = client.get("/_mock/webhooks/deliveries?event=nope", headers=AUTH)
    assert response.status_code == 422
    allowed = ", ".join(json.dumps(name) for name in EVENTS)
    description = f"event must be one of the following: {allowed}"
    assert response.get_json() == {
        "detail": f"- event: {description}\n",
        "status": 422,
        "title": "Invalid query",
        "invalid_fields": [{"type": "enum", "field": "event", "description": description}],
    }


def test_the_app_has_one_frozen_state(app: Flask) -> None:
    mine = [key for key in app.extensions if key.startswith("imagen")]
    assert mine == [context.EXTENSION]
    mock = context.state(app)
    assert isinstance(mock.screens, tuple)
    with pytest.raises(AttributeError):
        mock.screens = ()  # type: ignore[misc]
