"""Scenario outcomes on a fake clock, and rule parsing and matching."""

from __future__ import annotations

import pytest

from mock_server.contract.problems import InvalidField
from mock_server.contract.spec import admin_spec_path, load_spec
from mock_server.contract.validation import DocumentValidator
from mock_server.domain import events as stream
from mock_server.domain import lifecycle, rendering, scenarios
from mock_server.domain.clock import FakeClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.mock_headers import parse_outcome
from mock_server.domain.rendering import Links
from mock_server.domain.safety import SAFETY_ERROR
from mock_server.domain.scenarios import Outcome, RuleBook, ScenarioError, parse_rule
from mock_server.webhooks import planning as webhooks

LINKS = Links(api="https://mock.test/v1", root="https://mock.test")


def shaped(outcome: Outcome, clock: FakeClock) -> PredictionRecord:
    """A prediction created now (1 s starting, 3 s processing) that ends as ``outcome``."""
    base = lifecycle.new_record(
        {"prompt": "a red fox"},
        now=clock.now(),
        starting_seconds=1.0,
        processing_seconds=3.0,
        retention_seconds=3600.0,
    )
    return scenarios.shape(base, outcome)


def shown_at(rec: PredictionRecord, clock: FakeClock, seconds: float) -> dict[str, object]:
    clock.advance(seconds)
    return rendering.render(rec, clock.now(), LINKS)


def test_succeed_is_the_default_run() -> None:
    clock = FakeClock()
    shown = shown_at(shaped(parse_outcome("succeed"), clock), clock, 4.0)
    assert shown["status"] == "succeeded"
    assert shown["output"] == f"https://mock.test/delivery/{shown['id']}/output.jpg"


def test_fail_ends_failed_with_the_given_error() -> None:
    clock = FakeClock()
    rec = shaped(parse_outcome("fail", "CUDA out of memory"), clock)
    assert shown_at(rec, clock, 3.9)["status"] == "processing"
    shown = shown_at(rec, clock, 0.1)
    assert (shown["status"], shown["error"], shown["output"]) == (
        "failed",
        "CUDA out of memory",
        None,
    )
    assert str(shown["logs"]).endswith("Prediction failed: CUDA out of memory\n")
    done = stream.events(rec, "https://mock.test")[-2:]
    assert [event.event for event in done] == ["error", "done"]
    assert "CUDA out of memory" in done[0].data


def test_safety_block_fails_with_e005() -> None:
    clock = FakeClock()
    shown = shown_at(shaped(parse_outcome("safety_block"), clock), clock, 4.0)
    assert (shown["status"], shown["error"]) == ("failed", SAFETY_ERROR)


def test_cancel_midway_is_canceled_halfway_through_processing() -> None:
    clock = FakeClock()
    rec = shaped(parse_outcome("cancel_midway"), clock)
    assert shown_at(rec, clock, 2.4)["status"] == "processing"
    shown = shown_at(rec, clock, 0.1)  # 1 s starting + 1.5 s of 3 s processing
    assert shown["status"] == "canceled"
    assert shown["output"] is None
    assert shown["metrics"] == {"predict_time": lifecycle.predict_time(rec, 1.5)}
    assert 1.5 * 0.86 <= shown["metrics"]["predict_time"] < 1.5 * 0.98
    assert [m.kind for m in lifecycle.moments(rec)][-1] == "completed"
    sent = [item.event for item in webhooks.plan(rec, frozenset(webhooks.EVENTS))]
    assert sent[0] == "start"
    assert sent[-1] == "completed"


def test_stuck_stays_starting_until_canceled() -> None:
    clock = FakeClock()
    rec = shaped(parse_outcome("stuck"), clock)
    assert shown_at(rec, clock, 30 * 86400)["status"] == "starting"
    canceled = lifecycle.cancel(rec, clock.now())
    shown = shown_at(canceled, clock, 1.0)
    assert shown["status"] == "canceled"
    assert "started_at" not in shown


def test_stuck_past_its_deadline_is_aborted() -> None:
    clock = FakeClock()
    base = lifecycle.new_record(
        {"prompt": "x"},
        now=clock.now(),
        starting_seconds=1,
        processing_seconds=3,
        cancel_after=60,
        retention_seconds=3600.0,
    )
    rec = scenarios.shape(base, parse_outcome("stuck"))
    assert shown_at(rec, clock, 59.0)["status"] == "starting"
    assert shown_at(rec, clock, 1.0)["status"] == "aborted"


def test_slow_multiplies_each_phase() -> None:
    clock = FakeClock()
    rec = shaped(parse_outcome("slow", factor=5), clock)
    assert shown_at(rec, clock, 4.9)["status"] == "starting"
    assert shown_at(rec, clock, 0.1)["status"] == "processing"
    shown = shown_at(rec, clock, 15.0)
    assert shown["status"] == "succeeded"
    took = lifecycle.predict_time(rec, 15.0)
    assert shown["metrics"] == {"image_count": 1, "predict_time": took}
    assert 15.0 * 0.86 <= took < 15.0 * 0.98
    total = rendering.render(rec, clock.now(), LINKS, shape=rendering.Shape(total_time=True))
    assert total["metrics"]["total_time"] == 20.0


def test_slow_defaults_to_ten_times() -> None:
    assert parse_outcome("slow").factor == 10.0


def test_data_removed_succeeds_then_loses_its_data_at_once() -> None:
    clock = FakeClock()
    rec = shaped(parse_outcome("data_removed"), clock)
    assert shown_at(rec, clock, 3.9)["data_removed"] is False
    shown = shown_at(rec, clock, 0.1)
    assert shown["status"] == "succeeded"
    assert (shown["data_removed"], shown["output"], shown["input"]) == (True, None, {})


@pytest.mark.parametrize(
    ("name", "error", "factor"),
    [("explode", None, None), ("fail", "  ", None), ("slow", None, 0), ("slow", None, 5000)],
)
def test_bad_outcomes_are_refused(name: str, error: str | None, factor: float | None) -> None:
    with pytest.raises(ScenarioError):
        parse_outcome(name, error, factor)


def test_a_rule_matches_its_route_and_prompt_for_its_times() -> None:
    book = RuleBook()
    rule = book.add(
        {"match": {"route": "create", "prompt": "fail-me"}, "scenario": "fail", "times": 2}
    )
    assert rule.id == "rule_1"
    assert book.take("get", lambda: "fail-me") is None
    assert book.take("create", lambda: "keep going") is None
    assert book.take("create", lambda: "please fail-me now") is not None
    assert book.take("create", lambda: "fail-me") is not None
    assert book.take("create", lambda: "fail-me") is None
    assert book.all()[0] == {
        "id": "rule_1",
        "match": {"route": "create", "prompt": "fail-me"},
        "scenario": "fail",
        "error": scenarios.DEFAULT_ERROR,
        "times": 2,
        "remaining": 0,
        "hits": 2,
    }


def test_rules_apply_oldest_first_and_can_be_removed() -> None:
    book = RuleBook()
    first = book.add({"match": {"route": "get|cancel"}, "fault": 503})
    book.add({"fault": "429", "retry_after": 3})
    taken = book.take("get", lambda: None)
    assert taken is not None
    assert taken.id == first.id
    assert book.delete(first.id)
    assert not book.delete(first.id)
    taken = book.take("get", lambda: None)
    assert taken is not None
    assert taken.fault is not None
    assert taken.fault.retry_after == 3
    book.clear()
    assert not book
    assert book.all() == []


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], ""),
        ({}, ""),
        ({"fault": "429", "colour": "red"}, ""),
        ({"fault": "418"}, "fault"),
        ({"match": {"route": "delete"}, "fault": "500"}, "match.route"),
        ({"match": {"prompt": "("}, "fault": "500"}, "match.prompt"),
        ({"match": {"route": "get"}, "scenario": "fail"}, ""),
        ({"scenario": "nope"}, "scenario"),
        ({"fault": "500", "times": 0}, "times"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": True}, "latency_ms"),
        ({"fault": "429", "retry_after": "soon"}, "retry_after"),
        ({"match": "create", "fault": "500"}, "match"),
    ],
)
def test_invalid_rules_say_which_field(doc: object, field: str) -> None:
    assert field in [item.field for item in rule_problems(doc)]


#: A rule body's checks, as ``POST /_mock/rules`` makes them: ``RuleInput`` in the admin
#: spec (every type, range, enum and key that goes with another), then :func:`parse_rule`.
_ADD_RULE = DocumentValidator(load_spec(admin_spec_path())).operation("addRule")


def rule_problems(doc: object) -> list[InvalidField]:
    errors = _ADD_RULE.body_errors(doc)
    if errors:
        return errors
    try:
        parse_rule(doc, "rule_x")  # type: ignore[arg-type]  # a dict, once the schema passes
    except ScenarioError as exc:
        return exc.fields
    return []


def test_parse_rule_compiles_the_prompt() -> None:
    """What the schema leaves to code: a prompt must compile as a Python regex."""
    with pytest.raises(ScenarioError) as caught:
        parse_rule({"match": {"prompt": "("}, "fault": "500"}, "rule_x")
    assert [(item.type, item.field) for item in caught.value.fields] == [
        ("pattern", "match.prompt")
    ]


def test_a_prompt_pattern_re2_cannot_read_is_refused_and_odd_text_still_matches() -> None:
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        parse_rule({"match": {"prompt": "\ud800"}, "fault": "503"}, "r1")
    rule = parse_rule({"match": {"prompt": "^odd"}, "fault": "503"}, "r2")
    assert rule.matches("create", lambda: "odd \udfff text")
