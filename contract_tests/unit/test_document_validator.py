"""The one compiled-validator class, on both OpenAPI documents and on small ones."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.contract.predictions import RequestValidator
from mock_server.contract.spec import admin_spec_path, load_spec, spec_path
from mock_server.contract.validation import DocumentValidator, describe_errors
from mock_server.webhooks.planning import EVENTS

_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def api_spec() -> dict[str, Any]:
    return load_spec(spec_path())


@pytest.fixture(scope="module")
def admin_spec() -> dict[str, Any]:
    return load_spec(admin_spec_path())


@pytest.fixture(scope="module")
def api(api_spec: dict[str, Any]) -> DocumentValidator:
    return DocumentValidator(api_spec)


@pytest.fixture(scope="module")
def admin(admin_spec: dict[str, Any]) -> DocumentValidator:
    return DocumentValidator(admin_spec)


def fields(errors: list[Any]) -> list[tuple[str, str]]:
    return [(item.type, item.field) for item in errors]


@pytest.mark.parametrize("which", ["api", "admin"])
def test_every_operation_of_each_document_is_compiled(
    which: str, api_spec: dict[str, Any], admin_spec: dict[str, Any]
) -> None:
    spec = api_spec if which == "api" else admin_spec
    validator = DocumentValidator(spec)
    declared = {
        (op["operationId"], path, method.upper())
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in _METHODS
    }
    assert {(op.operation_id, op.path, op.method) for op in validator} == declared
    for operation_id, path, method in declared:
        assert validator.route(path, method) is validator.operation(operation_id)
        op = validator.operation(operation_id)
        takes_json = "application/json" in spec["paths"][path][method.lower()].get(
            "requestBody", {}
        ).get("content", {})
        assert (op.body is not None) == takes_json


def test_the_admin_clock_body(admin: DocumentValidator) -> None:
    advance = admin.operation("advanceClock")
    assert advance.body_errors({"advance_seconds": 4.5}) == []
    assert advance.body_errors({"advance_seconds": 365 * 86400}) == []
    assert fields(advance.body_errors({"advance_seconds": 0})) == [
        ("exclusive_minimum", "advance_seconds")
    ]
    assert fields(advance.body_errors({"advance_seconds": 365 * 86400 + 1})) == [
        ("maximum", "advance_seconds")
    ]
    assert fields(advance.body_errors({"advance_seconds": 1, "x": 2})) == [
        ("additional_property_not_allowed", "")
    ]


def test_the_admin_delivery_query(admin: DocumentValidator) -> None:
    listing = admin.operation("listWebhookDeliveries")
    assert listing.parameter("query", "event").doc["enum"] == list(EVENTS)
    for event in EVENTS:
        assert listing.parameter_errors("query", {"event": event, "prediction_id": "p"}) == []
    assert fields(listing.parameter_errors("query", {"event": "done"})) == [("enum", "event")]
    assert listing.parameter_errors("query", {}) == []


def test_the_admin_rule_body(admin: DocumentValidator) -> None:
    add = admin.operation("addRule")
    assert add.body_errors({"match": {"route": ["get", "list"]}, "fault": 503}) == []
    assert fields(add.body_errors({"fault": "418"})) == [("one_of", "fault")]
    assert fields(add.body_errors({"match": {"prompt": "("}, "fault": "500"})) == [
        ("format", "match.prompt")
    ]
    assert ("any_of", "") in fields(add.body_errors({"times": 2}))


def test_the_api_document_through_the_same_class(
    api: DocumentValidator, api_spec: dict[str, Any]
) -> None:
    create = api.operation("createPrediction")
    assert create.body_errors({"input": {"prompt": "x"}}) == []
    assert fields(create.body_errors({"input": {"prompt": "x", "aspect_ratio": "2:1"}})) == [
        ("enum", "input.aspect_ratio")
    ]
    assert create.parameter("header", "Prefer").accepts("wait=5")
    assert not create.parameter("header", "Prefer").accepts("wait=61")
    assert fields(create.parameter_errors("path", {"model_owner": "acme"})) == [
        ("enum", "model_owner"),
        ("required", "model_name"),
    ]
    listing = api.operation("listPredictions")
    assert fields(listing.parameter_errors("query", {"created_after": "soon"})) == [
        ("format", "created_after")
    ]
    # The predictions API's own validator is this class plus the header wording.
    checks = RequestValidator(api_spec)
    body = {"input": {"prompt": 1}, "extra": True}
    assert checks.create_body(body) == create.body_errors(body)


def test_a_document_of_its_own() -> None:
    spec = {
        "paths": {
            "/things/{id}": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "put": {
                    "operationId": "putThing",
                    "parameters": [
                        {
                            "name": "X-Level",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]$"},
                        }
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"type": "object", "required": ["name"]}}
                        }
                    },
                },
                "delete": {},
            }
        }
    }
    validator = DocumentValidator(spec)
    put = validator.operation("putThing")
    assert [p.name for p in put.parameters] == ["id", "X-Level"]
    assert fields(put.parameter_errors("header", {})) == [("required", "X-Level")]
    assert fields(put.parameter_errors("header", {"X-Level": "high"})) == [("pattern", "X-Level")]
    assert fields(put.body_errors({})) == [("required", "")]
    unnamed = validator.route("/things/{id}", "delete")
    assert (unnamed.operation_id, unnamed.body) == ("DELETE /things/{id}", None)
    assert unnamed.body_errors("anything") == []
    with pytest.raises(KeyError):
        validator.operation("getThing")
    with pytest.raises(KeyError):
        put.parameter("query", "id")


# The quick (Rust) verdict and jsonschema's must agree on the admin bodies too.
rule_values = st.none() | st.booleans() | st.integers(-5, 70_000) | st.floats(-1, 2000) | (
    st.sampled_from(["create", "get|list", "delete", "(", "a.*b", "fail", "slow", "429", "drop", "", " "])
)  # fmt: skip
rule_bodies = st.dictionaries(
    st.sampled_from(
        ["match", "scenario", "error", "factor", "fault", "retry_after", "latency_ms", "times", "x"]
    ),
    rule_values
    | st.fixed_dictionaries({}, optional={"route": rule_values, "prompt": rule_values})
    | st.lists(st.sampled_from(["create", "get", "nope"]), max_size=3),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(body=rule_bodies)
def test_quick_and_explained_verdicts_agree_on_rule_bodies(
    admin: DocumentValidator, body: Any
) -> None:
    compiled = admin.operation("addRule").body
    assert compiled is not None
    assert compiled.quick.is_valid(body) == compiled.explaining.is_valid(body)
    expected = describe_errors(compiled.explaining.iter_errors(body))
    assert admin.operation("addRule").body_errors(body) == expected
