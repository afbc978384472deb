"""schemathesis against the mock in-process (WSGI): every check, every phase, stateful via links."""

from __future__ import annotations

import json
from typing import Any

import hypothesis
import pytest
import schemathesis
from flask import Response
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError

from contract_tests.support.wsgi_schema import wsgi_schema
from mock_server import create_app

TOKEN = "contract-token"
SEED = 20251130

app, schema = wsgi_schema("/openapi.yaml", TOKEN)


@hypothesis.seed(SEED)
@hypothesis.settings(max_examples=60, deadline=None)
@schema.parametrize()
def test_every_operation_conforms(case: Case[Any]) -> None:
    case.call_and_validate()


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Create, read, cancel and list in random orders, following the spec's links."""


TestStateful = Workflow.TestCase
TestStateful.settings = hypothesis.settings(
    max_examples=40, deadline=None, stateful_step_count=6, derandomize=True
)


def test_state_machine_follows_links() -> None:
    machine = schema.as_state_machine()
    rules = " ".join(dir(machine))
    for link in ("201_GetPrediction", "201_CancelPrediction", "200_CancelPrediction"):
        assert link in rules, f"the spec's {link} link gives no stateful transition"


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_spec_is_served(prefix: str) -> None:
    client = app.test_client()
    assert client.get("/openapi.yaml").status_code == 200
    assert client.get(f"{prefix}/predictions").status_code == 401


def test_checks_catch_a_broken_response() -> None:
    """Control: the same checks fail once a response stops matching the spec."""
    broken = create_app({"MOCK_TOKEN": TOKEN})

    @broken.after_request
    def drop_urls(response: Response) -> Response:
        if response.mimetype == "application/json":
            body = json.loads(response.get_data())
            body.pop("urls", None)
            response.set_data(json.dumps(body))
        return response

    broken_schema = schemathesis.openapi.from_wsgi("/openapi.yaml", broken)
    operation = broken_schema["/models/{model_owner}/{model_name}/predictions"]["POST"]
    case = operation.Case(
        path_parameters={"model_owner": "google", "model_name": "imagen-4-ultra"},
        body={"input": {"prompt": "x"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        media_type="application/json",
    )
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate()
    assert any(isinstance(error, JsonSchemaError) for error in caught.value.exceptions)
    assert '"urls" is a required property' in str(caught.value.exceptions[0])
