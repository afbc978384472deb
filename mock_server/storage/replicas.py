"""Several mock processes (or hosts) behind one load balancer, sharing one Redis.

They share the predictions (:class:`~mock_server.storage.redis_store.RedisStore`), the webhook
signing secret, the clock offset set through ``POST /_mock/clock``, and resets. What
one replica changes it announces on a pub/sub channel (:class:`~mock_server.storage.bus.RedisBus`);
the others drop cached records, wake held ``Prefer: wait`` requests, look again at the
webhooks they follow, and move their clocks. A reset or a clock move returns only once
the others have confirmed it (each counts itself in a Redis key), so the next request to
any replica sees it. The clock offset is one number in Redis that every move adds to.
Webhooks of a prediction are sent by the replica that created it; each replica keeps its
own delivery log and scenario rules, which a reset clears everywhere.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import redis

from mock_server.domain.clock import Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.storage.bus import RedisBus
from mock_server.storage.redis_store import DEFAULT_PREFIX, RedisStore
from mock_server.storage.shared_state import shared_secret

__all__ = ["DEFAULT_PREFIX", "Announcer", "Replicas", "connect"]

#: Redis connections a process opens at most; more threads at once wait for one.
POOL_SIZE: Final = 64
#: How long a thread waits for a free connection before the request fails (503).
POOL_TIMEOUT_SECONDS: Final = 10.0
#: How long a Redis command may take before the request fails (503).
SOCKET_TIMEOUT_SECONDS: Final = 5.0
#: How long a reset or clock move waits for the other replicas to confirm it.
ACK_TIMEOUT_SECONDS: Final = 2.0
ACK_POLL_SECONDS: Final = 0.005


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
        """Tell the others a prediction's record changed (a cancel). Not acknowledged: the
        others read running predictions from Redis, so they see the cancel at once; the
        announcement only wakes their held waits and webhooks."""
        self.bus.publish({"kind": "changed", "id": prediction_id})

    def announce_reset(self) -> int:
        """Tell the others every prediction was forgotten; return once they have dropped
        their local copies (or after :data:`ACK_TIMEOUT_SECONDS`), with how many did."""
        return self._announce({"kind": "reset"})

    def advance_clock(self, seconds: float) -> float:
        """Add ``seconds`` to the shared clock offset and return the new total, once the
        others have moved to it (or after :data:`ACK_TIMEOUT_SECONDS`). Moves made at once
        on several replicas add up."""
        total = float(self.store.client.incrbyfloat(self._clock_key, seconds))
        self._announce({"kind": "clock", "offset_seconds": total})
        return total

    def clock_offset(self) -> float:
        """The shared clock offset (0 if the clock was never moved)."""
        raw = self.store.client.get(self._clock_key)
        if not isinstance(raw, bytes | str):
            return 0.0
        try:
            return float(raw)
        except ValueError:
            return 0.0

    def acknowledge(self, event: dict[str, Any]) -> None:
        """Count this replica as done with ``event`` (if it asks for acknowledgements)."""
        key = event.get("ack")
        if isinstance(key, str) and key.startswith(f"{self.store.prefix}ack:"):
            with self.store.client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, int(ACK_TIMEOUT_SECONDS) + 60)
                pipe.execute()

    def _announce(self, event: dict[str, Any]) -> int:
        key = f"{self.store.prefix}ack:{uuid.uuid4().hex}"
        others = self.bus.publish({**event, "ack": key}) - 1  # this bus hears itself too
        client = self.store.client
        deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
        done = 0
        while others > 0:
            done = int(client.get(key) or 0)
            if done >= others or time.monotonic() >= deadline:
                break
            time.sleep(ACK_POLL_SECONDS)
        client.delete(key)
        return done

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


def connect(url: str, *, clock: Clock, prefix: str, secret: str, pin: bool = False) -> Replicas:
    """Join the replicas sharing the Redis at ``url`` under ``prefix``.

    ``secret`` signs webhooks if no replica has stored one yet; with ``pin`` (the
    operator chose it) it replaces any stored one.

    Raises:
        ValueError: if ``url`` is not a Redis URL.
        redis.RedisError: if Redis cannot be reached.
    """
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_SIZE,
        timeout=POOL_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    client = redis.Redis(connection_pool=pool)
    try:
        client.ping()
        store = RedisStore(client, clock=clock, prefix=prefix)
        shared = shared_secret(client, prefix, secret, pin=pin)
    except BaseException:
        client.close()
        pool.disconnect()
        raise
    return Replicas(store=store, bus=RedisBus(client, channel=f"{prefix}events"), secret=shared)


class Announcer:
    """A prediction listener that tells the other replicas of every cancel."""

    def __init__(self, replicas: Replicas) -> None:
        self._replicas = replicas

    def created(self, record: PredictionRecord) -> None:
        """Nothing to say: the others read new predictions from Redis."""

    def changed(self, record: PredictionRecord) -> None:
        """Announce the change."""
        self._replicas.announce_changed(record.id)
