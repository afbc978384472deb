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

If Redis loses its data (``FLUSHALL``, a restart without persistence), each running
replica notices within :data:`WATCH_SECONDS` (the shared state's marker is gone, see
:mod:`mock_server.storage.shared_state`) and stores its secret and clock offset again,
the first secret stored winning and the offset the furthest; a replica that starts
meanwhile waits for them and adopts what they stored. Cancels are timed by Redis's
clock plus the shared offset (:mod:`mock_server.storage.redis_scripts`), so a
prediction any replica has shown ended never changes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import redis

from mock_server.domain.clock import AdjustableClock, AdvanceableClock, Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.storage.bus import RedisBus
from mock_server.storage.peers import Peers
from mock_server.storage.reachability import REDIS, Breaker
from mock_server.storage.redis_store import DEFAULT_PREFIX, RedisStore
from mock_server.storage.shared_state import Shared

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
#: How often a replica looks whether Redis lost the shared state (and whether it answers).
WATCH_SECONDS: Final = 0.5
#: How long a replica starting after Redis lost its data waits for the running ones to
#: store the shared state again before it stores its own.
RESTORE_WAIT_SECONDS: Final = 3.0

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Watch:
    """What the watcher thread knows and how it is stopped."""

    epoch: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class Replicas:
    """This replica's link to the others."""

    store: RedisStore
    """The shared predictions."""
    bus: RedisBus
    """Announcements to and from the other replicas."""
    secret: str
    """The webhook signing secret every replica uses."""
    clock: Clock | None = None
    """This replica's clock, moved to the shared offset when the shared state is restored."""
    _watch: _Watch = field(default_factory=_Watch)

    @property
    def _clock_key(self) -> str:
        return self.store.shared.offset_key

    def announce_changed(self, prediction_id: str) -> None:
        """Tell the others a prediction's record changed (a cancel). Not acknowledged: the
        others read running predictions from Redis, so they see the cancel at once; the
        announcement only wakes their held waits and webhooks."""
        self.bus.publish({"kind": "changed", "id": prediction_id})

    def announce_reset(self) -> int:
        """Tell the others every prediction was forgotten; return once they have dropped
        their local copies (or after :data:`ACK_TIMEOUT_SECONDS`), with how many did."""
        return self._announce({"kind": "reset"})

    def flush_observed(self) -> int:
        """Ask the others to write what they hold of the request journal and the
        metrics (they keep it until a read asks); return once they have (or after
        :data:`ACK_TIMEOUT_SECONDS`), with how many did."""
        return self._announce({"kind": "flush"})

    def advance_clock(self, seconds: float) -> float:
        """Add ``seconds`` to the shared clock offset and return the new total, once the
        others have moved to it (or after :data:`ACK_TIMEOUT_SECONDS`). Moves made at once
        on several replicas add up."""
        total = float(self.store.client.incrbyfloat(self._clock_key, seconds))
        self._announce({"kind": "clock", "offset_seconds": total})
        return total

    def clock_offset(self) -> float:
        """The shared clock offset (0 if the clock was never moved); if Redis lost the
        shared state, it is stored again first (:meth:`restore`)."""
        if self.store.shared.epoch() is None:
            return self.restore().offset_seconds
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

    def restore(self) -> Shared:
        """Store this replica's secret and clock offset again if Redis lost them (the
        first secret stored wins; the offset becomes the furthest), move this replica's
        clock to the stored offset and tell the others; return what is stored.

        Raises:
            redis.RedisError: if Redis cannot be reached.
        """
        clock = self.clock
        offset = clock.offset_seconds if isinstance(clock, AdvanceableClock) else 0.0
        with self._watch.lock:
            shared = self.store.shared.share(self.secret, offset)
            lost = shared.epoch != self._watch.epoch
            self._watch.epoch = shared.epoch
        if isinstance(clock, AdvanceableClock):
            clock.advance_to(shared.offset_seconds)
        if lost:
            log.warning(
                "Redis lost the shared state; stored it again (clock offset %g s)",
                shared.offset_seconds,
            )
            self.bus.publish({"kind": "clock", "offset_seconds": shared.offset_seconds})
            if shared.secret != self.secret:
                log.warning(
                    "another replica stored a different webhook secret meanwhile; this one "
                    "keeps signing with its own until it restarts"
                )
        return shared

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Hand the other replicas' announcements to ``handler``, on a daemon thread, and
        start watching for Redis losing the shared state (every :data:`WATCH_SECONDS`).

        Raises:
            redis.RedisError, TimeoutError: if Redis cannot be reached.
        """
        self.bus.listen(handler)
        with self._watch.lock:
            if self._watch.thread is None:
                self._watch.thread = threading.Thread(
                    target=self._watch_loop, name="imagen-mock-shared-state", daemon=True
                )
                self._watch.thread.start()

    def _watch_loop(self) -> None:
        while not self._watch.stop.wait(WATCH_SECONDS):
            try:
                if self.store.shared.epoch() != self._watch.epoch:
                    self.restore()
                REDIS.answered()
            except redis.RedisError as error:
                REDIS.failed(error)

    def close(self) -> None:
        """Stop listening and watching, and close the connections."""
        self._watch.stop.set()
        if self.store.breaker is not None:
            self.store.breaker.close()
        thread = self._watch.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(WATCH_SECONDS + 1.0)
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
    channel = f"{prefix}events"
    try:
        client.ping()
        store = RedisStore(
            client, clock=clock, prefix=prefix, server_time=isinstance(clock, AdjustableClock)
        )
        if not pin and store.shared.epoch() is None and _listeners(client, channel) > 0:
            _await_restore(store)  # Redis lost its data under running replicas
        offset = clock.offset_seconds if isinstance(clock, AdvanceableClock) else 0.0
        shared = store.shared.share(secret, offset, pin=pin)
    except BaseException:
        client.close()
        pool.disconnect()
        raise
    replicas = Replicas(
        store=store,
        bus=RedisBus(client, channel=channel),
        secret=shared.secret,
        clock=clock,
        _watch=_Watch(epoch=shared.epoch),
    )
    store.on_shared_state_lost = replicas.restore
    store.breaker = Breaker(client.ping)  # a stalled Redis fails requests at once, not each in 5 s
    return replicas


def _listeners(client: redis.Redis, channel: str) -> int:
    """How many subscriptions (of running replicas) the event channel has."""
    counts = client.pubsub_numsub(channel)
    return sum(int(count) for _, count in counts)


def _await_restore(store: RedisStore) -> None:
    """Wait (at most :data:`RESTORE_WAIT_SECONDS`) for running replicas to store the
    shared state again, so this one adopts their secret and clock instead of its own."""
    deadline = time.monotonic() + RESTORE_WAIT_SECONDS
    while store.shared.epoch() is None:
        if time.monotonic() >= deadline:
            log.warning("no running replica restored the shared state; storing this one's")
            return
        time.sleep(ACK_POLL_SECONDS * 10)


class Announcer:
    """A prediction listener that tells the other replicas (or workers) of every cancel."""

    def __init__(self, replicas: Peers) -> None:
        self._replicas = replicas

    def created(self, record: PredictionRecord) -> None:
        """Nothing to say: the others read new predictions from Redis."""

    def changed(self, record: PredictionRecord) -> None:
        """Announce the change."""
        self._replicas.announce_changed(record.id)
