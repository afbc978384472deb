"""schemathesis against the mock in-process (WSGI): every check, every phase, stateful via links."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.specs.openapi.stateful import APIStateMachine

from mock_server import create_app

TOKEN = "contract-token"
SEED = 20251130

app = create_app({"MOCK_TOKEN": TOKEN, "MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0})
schema = schemathesis.openapi.from_wsgi("/openapi.yaml", app)


@schema.auth()
class BearerToken:
    """Sends the pinned token, so schemathesis can tell authenticated calls from the rest."""

    def get(self, case: Case, context: Any) -> str:
        return TOKEN

    def set(self, case: Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@hypothesis.seed(SEED)
@hypothesis.settings(max_examples=60, deadline=None)
@schema.parametrize()
def test_every_operation_conforms(case: Case) -> None:
    case.call_and_validate()


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Create, read, cancel and list in random orders, following the spec's links."""


TestStateful = Workflow.TestCase
TestStateful.settings = hypothesis.settings(
    max_examples=40, deadline=None, stateful_step_count=6, derandomize=True
)


def test_state_machine_follows_links() -> None:
    machine: type[APIStateMachine] = schema.as_state_machine()
    transitions = {str(name) for name in dir(machine) if "Prediction" in str(name)}
    assert transitions, "the spec's links should give the state machine transitions"


@pytest.mark.parametrize("prefix", ["/v1", "/replicate/v1"])
def test_spec_is_served(prefix: str) -> None:
    client = app.test_client()
    assert client.get("/openapi.yaml").status_code == 200
    assert client.get(f"{prefix}/predictions").status_code == 401
