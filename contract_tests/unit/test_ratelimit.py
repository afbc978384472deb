"""Per-token rate limits counted on a fake clock (no Flask, no sockets)."""

from __future__ import annotations

import pytest

from mock_server.domain.clock import FakeClock
from mock_server.domain.ratelimit import (
    CREATE,
    OTHER,
    Limits,
    MemoryRates,
    Quota,
    token_key,
)


def test_a_fresh_token_sees_the_recorded_headers() -> None:
    clock = FakeClock()
    rates = MemoryRates()
    assert dict(rates.take("a", CREATE, clock.now()).header_pairs()) == {
        "ratelimit-remaining": "599",
        "ratelimit-reset": "1",
    }
    assert dict(rates.take("a", OTHER, clock.now()).header_pairs()) == {
        "ratelimit-remaining": "2999",
        "ratelimit-reset": "1",
    }


def test_requests_count_down_within_the_minute_and_refill() -> None:
    clock = FakeClock()
    rates = MemoryRates()
    seen = [rates.take("a", CREATE, clock.now()).remaining for _ in range(5)]
    assert seen == [599, 598, 597, 596, 595]
    assert rates.take("a", CREATE, clock.now()).reset == 1  # 6 x 0.1 s in use
    clock.advance(0.25)  # two and a half requests' worth flow back
    assert rates.take("a", CREATE, clock.now()).remaining == 595  # 6 - 2.5 + 1 in use
    clock.advance(60)
    assert rates.take("a", CREATE, clock.now()).remaining == 599


def test_each_token_and_kind_has_its_own_quota() -> None:
    clock = FakeClock()
    rates = MemoryRates()
    for _ in range(10):
        rates.take("a", CREATE, clock.now())
    assert rates.take("b", CREATE, clock.now()).remaining == 599
    assert rates.take("a", OTHER, clock.now()).remaining == 2999


def test_past_the_limit_a_request_is_refused_with_retry_after() -> None:
    clock = FakeClock()
    rates = MemoryRates(Limits(creates=6, others=3000))
    allowed = [rates.take("a", CREATE, clock.now()) for _ in range(6)]
    assert [quota.remaining for quota in allowed] == [5, 4, 3, 2, 1, 0]
    assert allowed[-1].reset == 60
    refused = rates.take("a", CREATE, clock.now())
    assert refused == Quota(allowed=False, remaining=0, reset=70, retry_after=10)
    clock.advance(9.5)
    assert not rates.take("a", CREATE, clock.now()).allowed  # refused ones are not counted
    clock.advance(0.5)
    after = rates.take("a", CREATE, clock.now())
    assert after.allowed
    assert after.remaining == 0


def test_the_whole_real_limit_is_allowed_at_once_and_no_more() -> None:
    clock = FakeClock()
    rates = MemoryRates()
    quotas = [rates.take("a", CREATE, clock.now()) for _ in range(601)]
    assert all(quota.allowed for quota in quotas[:600])
    assert quotas[599].remaining == 0
    assert not quotas[600].allowed
    assert quotas[600].retry_after == 1


def test_clear_forgets_every_count() -> None:
    clock = FakeClock()
    rates = MemoryRates()
    rates.take("a", CREATE, clock.now())
    rates.clear()
    assert rates.take("a", CREATE, clock.now()).remaining == 599


@pytest.mark.parametrize("token", ["r8_abc", "r8_" + "x" * 37])
def test_tokens_are_counted_under_a_digest(token: str) -> None:
    key = token_key(token)
    assert token not in key
    assert key == token_key(token)
    assert len(key) == 24
