"""Validation compiled from the spec, worded like Replicate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server.contract.predictions import RequestValidator
from mock_server.contract.problems import InvalidField
from mock_server.contract.spec import load_spec
from mock_server.contract.validation import CompiledSchema

ENUM_MESSAGE = 'aspect_ratio must be one of the following: "1:1", "9:16", "16:9", "3:4", "4:3"'


@pytest.fixture(scope="module")
def validator() -> RequestValidator:
    return RequestValidator(load_spec())


def fields(errors: list[InvalidField]) -> list[tuple[str, str, str]]:
    return [(e.type, e.field, e.description) for e in errors]


def test_valid_bodies_pass(validator: RequestValidator) -> None:
    assert validator.create_body({"input": {"prompt": "x"}}) == []
    full: dict[str, Any] = {
        "input": {
            "prompt": "x",
            "aspect_ratio": "3:4",
            "output_format": "png",
            "safety_filter_level": "block_low_and_above",
        },
        "webhook": "https://hooks.test/a",
        "webhook_events_filter": ["start", "completed"],
        "stream": False,
    }
    assert validator.create_body(full) == []


def test_enum_message_matches_replicate(validator: RequestValidator) -> None:
    errors = validator.create_body({"input": {"prompt": "x", "aspect_ratio": "2:1"}})
    assert fields(errors) == [("enum", "input.aspect_ratio", ENUM_MESSAGE)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ("required", "", "input is required")),
        ({"input": {}}, ("required", "input", "prompt is required")),
        (
            {"input": {"prompt": "x"}, "model": "m"},
            (
                "additional_property_not_allowed",
                "",
                "Additional property model is not allowed",
            ),
        ),
        (
            {"input": {"prompt": "x", "seed": 1}},
            ("additional_property_not_allowed", "input", "Additional property seed is not allowed"),
        ),
        (
            {"input": {"prompt": 5}},
            ("invalid_type", "input.prompt", "Invalid type. Expected: string, given: integer"),
        ),
        ([], ("invalid_type", "", "Invalid type. Expected: object, given: array")),
        (
            {"input": {"prompt": "x"}, "webhook": "ftp://hooks.test/x"},
            ("pattern", "webhook", "Does not match pattern '^https?://'"),
        ),
        (
            {"input": {"prompt": "x"}, "webhook_events_filter": ["start", "start"]},
            ("unique", "webhook_events_filter", "webhook_events_filter items must be unique"),
        ),
    ],
)
def test_each_kind_of_problem(
    validator: RequestValidator, body: Any, expected: tuple[str, str, str]
) -> None:
    assert fields(validator.create_body(body)) == [expected]


def test_several_problems_are_all_reported_sorted(validator: RequestValidator) -> None:
    errors = validator.create_body({"input": {"prompt": 1, "output_format": "gif"}, "x": 1})
    assert [e.field for e in errors] == ["", "input.output_format", "input.prompt"]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("wait", 60.0), ("wait=1", 1.0), ("wait=59", 59.0), ("wait=60", 60.0)],
)
def test_prefer_accepted(
    validator: RequestValidator, header: str | None, seconds: float | None
) -> None:
    assert validator.prefer_wait(header) == (seconds, [])


@pytest.mark.parametrize("header", ["wait=0", "wait=61", "wait=99", "respond-async", "wait=", ""])
def test_prefer_rejected(validator: RequestValidator, header: str) -> None:
    seconds, errors = validator.prefer_wait(header)
    assert seconds is None
    assert [(e.type, e.field) for e in errors] == [("invalid_header", "Prefer")]


def test_list_query_dates(validator: RequestValidator) -> None:
    assert validator.list_query({"created_after": "2025-01-01T00:00:00Z"}) == []
    errors = validator.list_query({"created_before": "yesterday", "cursor": "anything"})
    assert fields(errors) == [("format", "created_before", "Does not match format 'date-time'")]


def test_known_model_comes_from_the_spec(validator: RequestValidator) -> None:
    assert validator.model_owners == {"google"}
    assert validator.model_names == {"imagen-4-ultra"}


def test_webhook_without_scheme_breaks_format_and_pattern(validator: RequestValidator) -> None:
    errors = validator.create_body({"input": {"prompt": "x"}, "webhook": "no scheme"})
    assert [(e.type, e.field) for e in errors] == [("format", "webhook"), ("pattern", "webhook")]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("90", 90.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m45s", 5445.0),
        ("1", 5.0),
        ("999999999h", 10 * 365 * 24 * 3600.0),
    ],
)
def test_cancel_after_durations(
    validator: RequestValidator, header: str | None, seconds: float | None
) -> None:
    assert validator.cancel_after(header) == (seconds, [])


@pytest.mark.parametrize("header", ["", "5 m", "1d", "m", "-5", "1.5s", "9999999999s"])
def test_cancel_after_rejected(validator: RequestValidator, header: str) -> None:
    seconds, errors = validator.cancel_after(header)
    assert seconds is None
    assert [(e.type, e.field) for e in errors] == [("invalid_header", "Cancel-After")]


# The quick (Rust) verdict and jsonschema's must agree: a body the quick check passes
# is never explained, so a laxer quick check would let invalid bodies through.
_CREATE = "/models/{model_owner}/{model_name}/predictions"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return valid | json_values


urls = st.sampled_from(
    ["https://example.com/hook", "http://127.0.0.1:9/x?a=1", "http://a b", "https://", "ftp://x",
     "https://exa mple.com", "http://[::1]/", "https://x.test/%zz", "https://é.test/ü", "http:/x"]
) | st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(["http://", "https://"]),
              st.text(max_size=12))  # fmt: skip
inputs = st.fixed_dictionaries(
    {"prompt": either(st.text(max_size=10))},
    optional={
        "aspect_ratio": either(st.sampled_from(["1:1", "9:16", "16:9", "3:4", "4:3", "2:1"])),
        "output_format": either(st.sampled_from(["jpg", "png", "webp"])),
        "safety_filter_level": either(st.sampled_from(["block_only_high", "block_none"])),
        "seed": json_values,
    },
)
bodies = (
    st.fixed_dictionaries(
        {"input": either(inputs)},
        optional={
            "webhook": either(urls),
            "webhook_events_filter": either(
                st.lists(
                    either(st.sampled_from(["start", "output", "logs", "completed"])), max_size=5
                )
            ),
            "stream": json_values,
            "version": json_values,
        },
    )
    | json_values
)
date_times = st.sampled_from(
    ["2025-01-02T03:04:05Z", "2025-01-02T03:04:05.123+01:00", "2025-01-02", "2025-13-02T00:00:00Z",
     "2025-01-02t03:04:05z", "2025-01-02T03:04:05", "yesterday", ""]
) | st.datetimes().map(lambda moment: moment.isoformat() + "Z") | st.text(max_size=25)  # fmt: skip


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


@settings(max_examples=400, deadline=None)
@given(body=bodies)
def test_quick_and_explained_verdicts_agree_on_create_bodies(
    spec: dict[str, Any], body: Any
) -> None:
    schema = spec["paths"][_CREATE]["post"]["requestBody"]["content"]["application/json"]["schema"]
    compiled = _compiled(schema)
    assert compiled.quick.is_valid(body) == compiled.explaining.is_valid(body)
    assert (list(compiled.errors(body)) == []) == compiled.explaining.is_valid(body)


@settings(max_examples=200, deadline=None)
@given(value=date_times)
def test_quick_and_explained_verdicts_agree_on_dates(spec: dict[str, Any], value: str) -> None:
    (param,) = (p for p in spec["paths"]["/predictions"]["get"]["parameters"]
                if p["name"] == "created_after")  # fmt: skip
    compiled = _compiled(param["schema"])
    assert compiled.quick.is_valid(value) == compiled.explaining.is_valid(value)


_COMPILED: dict[int, CompiledSchema] = {}


def _compiled(schema: dict[str, Any]) -> CompiledSchema:
    return _COMPILED.setdefault(id(schema), CompiledSchema(schema))


def test_a_value_the_quick_check_cannot_take_is_explained_instead() -> None:
    compiled = CompiledSchema({"type": "object", "required": ["a"]})
    assert [error.validator for error in compiled.errors({1: "not a JSON key"})] == ["required"]
