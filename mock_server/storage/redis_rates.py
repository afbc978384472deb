"""Rate-limit quotas kept in the shared Redis, so every worker and host sharing it counts
a token's requests together (the rules are in :mod:`mock_server.domain.ratelimit`).

A quota is one key, ``<prefix>rate:<kind>:<token digest>``, holding the time it is full
again; one script reads and moves it atomically and lets it expire once full.
"""

from __future__ import annotations

from typing import Final

import redis

from mock_server.domain.ratelimit import PERIOD_SECONDS, Limits, Quota, quota_of
from mock_server.storage.reachability import Breaker, guarded

__all__ = ["RedisRates"]

#: KEYS[1] the quota; ARGV now, interval, period. Returns {allowed, used} (used as text:
#: a Lua number would be cut to an integer). Refused requests leave the key as it is.
_TAKE: Final = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local full_at = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if full_at < now then full_at = now end
local after = full_at + interval
local used = after - now
if used > period + 1e-6 then
  return {0, string.format('%.6f', used)}
end
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX', math.ceil(used * 1000) + 1000)
return {1, string.format('%.6f', used)}
"""


class RedisRates:
    """Quotas shared by everything connected to one Redis under one prefix."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        limits: Limits | None = None,
        *,
        breaker: Breaker | None = None,
    ) -> None:
        """``breaker``: the store's, so a stalled Redis fails counts at once too."""
        self.limits = limits or Limits()
        self.breaker = breaker
        self._client = client
        self._prefix = f"{prefix}rate:"
        self._take = client.register_script(_TAKE)

    @guarded
    def take(self, key: str, kind: str, now: float) -> Quota:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        limit = self.limits.of(kind)
        allowed, used = self._take(
            keys=[f"{self._prefix}{kind}:{key}"],
            args=[f"{now:.6f}", repr(PERIOD_SECONDS / limit), repr(PERIOD_SECONDS)],
        )
        return quota_of(float(used), limit, allowed=bool(int(allowed)))

    @guarded
    def clear(self) -> None:
        """Raises: redis.RedisError: if Redis cannot be reached."""
        keys = list(self._client.scan_iter(match=f"{self._prefix}*", count=1000))
        if keys:
            self._client.delete(*keys)
