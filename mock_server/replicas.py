"""Several mock processes (or hosts) behind one load balancer, sharing one Redis.

They share the predictions (:class:`~mock_server.redis_store.RedisStore`), the webhook
signing secret, the clock offset set through ``POST /_mock/clock``, and resets. What
one replica changes it announces on a pub/sub channel (:class:`~mock_server.bus.RedisBus`);
the others drop cached records, wake held ``Prefer: wait`` requests, look again at the
webhooks they follow, and move their clocks. Webhooks of a prediction are sent by the
replica that created it; each replica keeps its own delivery log and scenario rules,
which a reset clears everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis

from mock_server.bus import RedisBus
from mock_server.clock import Clock
from mock_server.lifecycle import PredictionRecord
from mock_server.redis_store import RedisStore, shared_secret

__all__ = ["DEFAULT_PREFIX", "Announcer", "Replicas", "connect"]

DEFAULT_PREFIX: Final = "imagen-mock:"
#: Redis connections a process opens at most; more threads at once wait for one.
POOL_SIZE: Final = 64
#: How long a thread waits for a free connection before the request fails (503).
POOL_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class Replicas:
    """This replica's link to the others."""

    store: RedisStore
    """The shared predictions."""
    bus: RedisBus
    """Announcements to and from the other replicas."""
    secret: str
    """The webhook signing secret every replica uses."""

    @property
    def _clock_key(self) -> str:
        return f"{self.store.prefix}clock-offset"

    def announce_changed(self, prediction_id: str) -> None:
        """Tell the others a prediction's record changed (a cancel)."""
        self.bus.publish({"kind": "changed", "id": prediction_id})

    def announce_reset(self) -> None:
        """Tell the others every prediction was forgotten."""
        self.bus.publish({"kind": "reset"})

    def announce_clock(self, offset_seconds: float) -> None:
        """Record the clock offset for replicas started later, and tell the running ones."""
        self.store.client.set(self._clock_key, repr(offset_seconds))
        self.bus.publish({"kind": "clock", "offset_seconds": offset_seconds})

    def clock_offset(self) -> float:
        """The offset last announced (0 if none)."""
        raw = self.store.client.get(self._clock_key)
        if not isinstance(raw, bytes | str):
            return 0.0
        try:
            return float(raw)
        except ValueError:
            return 0.0

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Hand the other replicas' announcements to ``handler``, on a daemon thread.

        Raises:
            redis.RedisError, TimeoutError: if Redis cannot be reached.
        """
        self.bus.listen(handler)

    def close(self) -> None:
        """Stop listening and close the connections."""
        self.bus.close()
        self.store.client.close()
        self.store.client.connection_pool.disconnect()


def connect(url: str, *, clock: Clock, prefix: str, secret: str) -> Replicas:
    """Join the replicas sharing the Redis at ``url`` under ``prefix``.

    ``secret`` is used if no replica has stored one yet (when it was chosen by the
    operator, pass it to :func:`pin_secret` first).

    Raises:
        ValueError: if ``url`` is not a Redis URL.
        redis.RedisError: if Redis cannot be reached.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=POOL_SIZE, timeout=POOL_TIMEOUT_SECONDS
    )
    client = redis.Redis(connection_pool=pool)
    try:
        client.ping()
        store = RedisStore(client, clock=clock, prefix=prefix)
        shared = shared_secret(client, prefix, secret)
    except BaseException:
        client.close()
        pool.disconnect()
        raise
    return Replicas(store=store, bus=RedisBus(client, channel=f"{prefix}events"), secret=shared)


def pin_secret(url: str, prefix: str, secret: str) -> None:
    """Store an operator-chosen webhook secret, replacing any stored one.

    Raises:
        ValueError: if ``url`` is not a Redis URL.
        redis.RedisError: if Redis cannot be reached.
    """
    with redis.Redis.from_url(url) as client:
        client.set(f"{prefix}webhook-secret", secret)


class Announcer:
    """A prediction listener that tells the other replicas of every cancel."""

    def __init__(self, replicas: Replicas) -> None:
        self._replicas = replicas

    def created(self, record: PredictionRecord) -> None:
        """Nothing to say: the others read new predictions from Redis."""

    def changed(self, record: PredictionRecord) -> None:
        """Announce the change."""
        self._replicas.announce_changed(record.id)
