"""Validation compiled from the spec, worded like Replicate."""

from __future__ import annotations

from typing import Any

import pytest

from mock_server.problems import InvalidField
from mock_server.spec import load_spec
from mock_server.validation import RequestValidator

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
        ({}, ("required", "(root)", "input is required")),
        ({"input": {}}, ("required", "input", "prompt is required")),
        (
            {"input": {"prompt": "x"}, "model": "m"},
            (
                "additional_property_not_allowed",
                "(root)",
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
        ([], ("invalid_type", "(root)", "Invalid type. Expected: object, given: array")),
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
    assert [e.field for e in errors] == ["(root)", "input.output_format", "input.prompt"]


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
