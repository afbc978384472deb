"""Fault templates, fault-rate parsing and the seeded global fault draw."""

from __future__ import annotations

import json

import pytest

from mock_server.domain.faults import Fault, FaultDice, FaultError, parse_fault, parse_rates


def test_429_carries_retry_after_in_body_and_header() -> None:
    problem = parse_fault("429", 7).problem()
    assert problem is not None
    assert problem.to_json() == (
        '{"detail":"Request was throttled. Your rate limit resets in ~7s.",'
        '"status":429,"retry_after":7}'
    )
    assert problem.headers == {"Retry-After": "7"}


def test_402_is_insufficient_credit() -> None:
    problem = parse_fault("402").problem()
    assert problem is not None
    body = json.loads(problem.to_json())
    assert list(body) == ["title", "detail", "status"]
    assert body["title"] == "Insufficient credit"
    assert body["detail"].startswith("You have insufficient credit to run this model.")
    assert body["status"] == 402


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_errors_are_problems(kind: str) -> None:
    problem = parse_fault(kind).problem()
    assert problem is not None
    assert problem.status == int(kind)


def test_drop_has_no_problem() -> None:
    assert parse_fault("DROP").problem() is None


@pytest.mark.parametrize(("kind", "wait"), [("404", None), ("429", -1), ("429", 99_999)])
def test_bad_faults_are_refused(kind: str, wait: int | None) -> None:
    with pytest.raises(FaultError):
        parse_fault(kind, wait)


def test_rates_parse() -> None:
    assert parse_rates("429:0.05, 503:0.02") == ((Fault("429"), 0.05), (Fault("503"), 0.02))
    assert parse_rates("") == ()


@pytest.mark.parametrize("text", ["429", "429:x", "429:1.5", "418:0.1", "429:0.6,503:0.6"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(FaultError):
        parse_rates(text)


def test_the_same_seed_gives_the_same_faults() -> None:
    rates = parse_rates("429:0.2,503:0.1,drop:0.05")
    first = [FaultDice(rates, 7).roll()]
    dice_a, dice_b, dice_c = FaultDice(rates, 7), FaultDice(rates, 7), FaultDice(rates, 8)
    run_a = [dice_a.roll() for _ in range(500)]
    run_b = [dice_b.roll() for _ in range(500)]
    run_c = [dice_c.roll() for _ in range(500)]
    assert run_a == run_b
    assert run_a != run_c
    assert run_a[:1] == first
    kinds = [fault.kind if fault else None for fault in run_a]
    assert 0.12 < kinds.count("429") / 500 < 0.28
    assert 0.04 < kinds.count("503") / 500 < 0.16
    assert kinds.count(None) > 250


def test_rate_one_always_faults_and_zero_never() -> None:
    always = FaultDice(parse_rates("500:1"), 1)
    never = FaultDice(parse_rates("500:0"), 1)
    assert all(always.roll() == Fault("500") for _ in range(50))
    assert all(never.roll() is None for _ in range(50))


@pytest.mark.parametrize("text", ["²", "9" * 5000, "١٢٣"])
def test_odd_digit_strings_are_refused_not_crashed(text: str) -> None:
    from mock_server.domain.mock_headers import parse_latency
    from mock_server.domain.scenarios import ScenarioError

    with pytest.raises(ScenarioError):
        parse_latency(text)
