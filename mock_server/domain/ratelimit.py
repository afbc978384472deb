"""Replicate's rate limits, counted per token: 600 creates and 3000 other requests a minute.

Free of HTTP. Each token has two quotas (``create`` and ``other``), each a one-minute
window that refills continuously (a generic cell rate algorithm): ``limit`` requests may
come at once, after which one more is allowed every ``60 / limit`` seconds. A quota is
kept as one number, the time at which it would be full again, so a shared store can hold
it as one key (:mod:`mock_server.storage.redis_rates`).

What a request learns (:class:`Quota`) is what Replicate's answers carry:
``ratelimit-remaining`` (requests left now) and ``ratelimit-reset`` (whole seconds until
the quota is full again); the first create of a fresh token sees ``599`` and ``1``, as
recorded. A request over the limit is refused with ``retry_after``, the whole seconds
until one request is allowed again.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

__all__ = [
    "CREATE",
    "KINDS",
    "OTHER",
    "PERIOD_SECONDS",
    "Limits",
    "MemoryRates",
    "Quota",
    "RateCounter",
    "quota_of",
    "token_key",
]

CREATE: Final = "create"
OTHER: Final = "other"
KINDS: Final = (CREATE, OTHER)
PERIOD_SECONDS: Final = 60.0
#: Slack for float sums of intervals (600 x 0.1 s is not exactly 60.0).
_EPSILON: Final = 1e-6
#: A memory counter drops full quotas (they equal no entry) when it holds this many.
_PRUNE_AT: Final = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """Requests allowed per token per minute, by kind."""

    creates: int = 600
    others: int = 3000

    def of(self, kind: str) -> int:
        """The limit of ``kind`` (:data:`CREATE` or :data:`OTHER`)."""
        return self.creates if kind == CREATE else self.others


class Quota(NamedTuple):
    """What one request learns of its quota (a tuple: one is made per request)."""

    allowed: bool
    remaining: int
    """Requests left in the window after this one (``ratelimit-remaining``)."""
    reset: int
    """Whole seconds until the quota is full again (``ratelimit-reset``)."""
    retry_after: int
    """For a refused request, whole seconds until one is allowed; 0 otherwise."""

    def header_pairs(self) -> tuple[tuple[str, str], tuple[str, str]]:
        """The ``ratelimit-*`` headers of an answer to an allowed request, as
        ``(name, value)`` pairs in the order they are sent."""
        return (("ratelimit-remaining", str(self.remaining)), ("ratelimit-reset", str(self.reset)))


class RateCounter(Protocol):
    """Counts requests against the quotas; thread-safe."""

    def take(self, key: str, kind: str, now: float) -> Quota:
        """Count one request of ``kind`` by the token ``key`` at ``now`` (refused ones
        are not counted)."""
        ...

    def clear(self) -> None:
        """Forget every count."""
        ...


@functools.lru_cache(maxsize=1024)
def token_key(token: str) -> str:
    """The key a token is counted under: a digest, so no store holds a token in the clear
    (the digests of the tokens seen last are kept in this process, not made anew for
    each request)."""
    return hashlib.blake2b(token.encode(), digest_size=12).hexdigest()


def quota_of(used: float, limit: int, *, allowed: bool) -> Quota:
    """The quota of a request, from ``used``: the seconds of the window in use once it is
    counted (``full_at - now``; for a refused request, as if it had been)."""
    interval = PERIOD_SECONDS / limit
    if not allowed:
        wait = math.ceil(used - PERIOD_SECONDS - _EPSILON)
        return Quota(False, 0, math.ceil(used - _EPSILON), wait)
    remaining = max(math.floor((PERIOD_SECONDS - used) / interval + _EPSILON), 0)
    return Quota(True, remaining, max(math.ceil(used - _EPSILON), 0), 0)


def step(full_at: float | None, now: float, limit: int) -> tuple[float | None, Quota]:
    """One request against a quota full again at ``full_at`` (None: full now).

    Returns the new ``full_at`` (None when the request is refused: unchanged) and the quota.
    """
    interval = PERIOD_SECONDS / limit
    after = max(full_at if full_at is not None else now, now) + interval
    used = after - now
    if used > PERIOD_SECONDS + _EPSILON:
        return None, quota_of(used, limit, allowed=False)
    return after, quota_of(used, limit, allowed=True)


class MemoryRates:
    """Quotas of one process."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._full_at: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def take(self, key: str, kind: str, now: float) -> Quota:
        limit = self.limits.of(kind)
        slot = (key, kind)
        with self._lock:
            full_at = self._full_at
            if len(full_at) >= _PRUNE_AT:
                full_at = self._full_at = {k: at for k, at in full_at.items() if at > now}
            after, quota = step(full_at.get(slot), now, limit)
            if after is not None:
                full_at[slot] = after
        return quota

    def clear(self) -> None:
        with self._lock:
            self._full_at.clear()
