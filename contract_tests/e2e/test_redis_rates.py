"""Rate-limit quotas in a real Redis: the same answers as in memory, shared by every
counter on one Redis and prefix, apart under another prefix."""

from __future__ import annotations

import redis

from mock_server.domain.clock import FakeClock
from mock_server.domain.ratelimit import CREATE, OTHER, Limits, MemoryRates
from mock_server.storage.redis_rates import RedisRates


def test_redis_counts_as_memory_does(redis_client: redis.Redis, redis_prefix: str) -> None:
    clock = FakeClock()
    limits = Limits(creates=5, others=50)
    shared = RedisRates(redis_client, redis_prefix, limits)
    local = MemoryRates(limits)
    for step in [0.0, 0.0, 0.0, 3.1, 0.0, 0.0, 0.0, 0.0, 0.0, 25.0, 0.0, 40.0]:
        clock.advance(step)
        for kind in (CREATE, OTHER):
            assert shared.take("k", kind, clock.now()) == local.take("k", kind, clock.now())


def test_counters_on_one_redis_share_a_tokens_quota(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    clock = FakeClock()
    first = RedisRates(redis_client, redis_prefix)
    second = RedisRates(redis_client, redis_prefix)  # another worker or host
    assert first.take("k", CREATE, clock.now()).remaining == 599
    assert second.take("k", CREATE, clock.now()).remaining == 598
    assert (
        RedisRates(redis_client, redis_prefix + "other:").take("k", CREATE, clock.now()).remaining
        == 599
    )
    first.clear()
    assert second.take("k", CREATE, clock.now()).remaining == 599


def test_a_quota_key_expires_once_the_quota_is_full(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    rates = RedisRates(redis_client, redis_prefix)
    rates.take("k", CREATE, FakeClock().now())
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}rate:*"))
    assert len(keys) == 1
    assert 0 < redis_client.pttl(keys[0]) <= 1100
