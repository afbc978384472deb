"""schemathesis against the admin API (``openapi/admin.yaml``) in-process: zero failures."""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from schemathesis import Case

from mock_server import create_app

TOKEN = "admin-contract-token"
SEED = 20261123

app = create_app({"MOCK_TOKEN": TOKEN, "MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0})
schema = schemathesis.openapi.from_wsgi("/_mock/openapi.yaml", app)


@schema.auth()
class BearerToken:
    """Sends the pinned token, so schemathesis can tell authenticated calls from the rest."""

    def get(self, case: Case[Any], context: Any) -> str:
        return TOKEN

    def set(self, case: Case[Any], data: str, context: Any) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


@hypothesis.seed(SEED)
@hypothesis.settings(max_examples=60, deadline=None)
@schema.parametrize()
def test_every_admin_operation_conforms(case: Case[Any]) -> None:
    case.call_and_validate()


def test_every_admin_route_is_described() -> None:
    described = {
        (path, method.upper())
        for path, item in schema.raw_schema["paths"].items()
        for method in item
    }
    served = {
        (rule.rule.replace("<", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/_mock/")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert served == described
