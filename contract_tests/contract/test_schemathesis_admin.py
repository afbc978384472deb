"""schemathesis against the admin API (``openapi/admin.yaml``) in-process: zero failures."""

from __future__ import annotations

from typing import Any

import hypothesis
from schemathesis import Case

from contract_tests.support.wsgi_schema import wsgi_schema

TOKEN = "admin-contract-token"
SEED = 20261123

app, schema = wsgi_schema("/_mock/openapi.yaml", TOKEN)


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
        if rule.rule.startswith("/_mock/") or rule.rule == "/metrics"
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    assert served == described
