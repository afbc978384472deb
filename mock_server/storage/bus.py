"""Events between mock replicas over Redis pub/sub.

Each event is a JSON object; :meth:`RedisBus.publish` adds ``origin``, the id of the
publishing bus, so a replica can skip the events it sent itself. The bus does not
look at anything else; what the mock sends is:

``{"kind": "changed", "id": ...}``
    a prediction's record was replaced (a cancel): drop it from local caches;
``{"kind": "reset", "ack": key}``
    every prediction was dropped: empty local caches, then count yourself in ``key``;
``{"kind": "clock", "offset_seconds": float, "ack": key}``
    the mock clock was moved: move the local clock to this total offset, then ack;
``{"kind": "flush", "ack": key}``
    the request journal or the metrics are about to be read: write what waits here
    of them, then ack.

Pub/sub is fire-and-forget: a replica that is disconnected when an event is sent
never sees it. So after a connection error the bus hands its handler
``{"kind": "resync"}`` (with no origin), and the replica drops what it keeps locally.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis
from redis.client import PubSub, PubSubWorkerThread

from mock_server.storage.reachability import REDIS

__all__ = ["RedisBus"]

logger = logging.getLogger(__name__)

#: How long the listening thread waits for a message before checking for close().
_POLL_SECONDS: Final = 0.2
#: How long listen() waits for Redis to confirm the subscription.
_SUBSCRIBE_TIMEOUT: Final = 10.0
#: Pause after a connection error before the listening thread tries again.
_RETRY_SECONDS: Final = 1.0
#: How long close() waits for the listening thread to finish.
_JOIN_TIMEOUT: Final = 5.0


class RedisBus:
    """Publishes events on one channel and hands other buses' events to a handler.

    Thread-safe. :meth:`listen` starts one daemon thread; :meth:`close` stops it. The
    client is the caller's and stays open.
    """

    def __init__(self, client: redis.Redis, *, channel: str, origin: str | None = None) -> None:
        """Publish and listen on ``channel``; ``origin`` (default: a new random id) marks
        this bus's own events."""
        self._client = client
        self._channel = channel
        self._origin = origin or uuid.uuid4().hex
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._worker: PubSubWorkerThread | None = None
        self._handler: Callable[[dict[str, Any]], None] | None = None

    @property
    def origin(self) -> str:
        """The id added to this bus's events."""
        return self._origin

    @property
    def channel(self) -> str:
        """The pub/sub channel."""
        return self._channel

    def publish(self, event: Mapping[str, Any]) -> int:
        """Send ``event`` (with this bus's ``origin``) to every bus listening on the channel;
        return how many subscriptions received it (this bus's own included).

        Raises:
            TypeError: if the event holds a value JSON cannot carry.
            redis.RedisError: if Redis cannot be reached.
        """
        payload = json.dumps({**event, "origin": self._origin}, separators=(",", ":"))
        return int(self._client.publish(self._channel, payload))

    def listen(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Call ``handler(event)`` on a daemon thread for every event other buses publish
        from now on (the subscription is confirmed when this returns). An exception in
        the handler is logged and the next event is still delivered.

        Raises:
            RuntimeError: if this bus is already listening or is closed.
            TimeoutError: if Redis does not confirm the subscription in time.
            redis.RedisError: if Redis cannot be reached.
        """
        with self._lock:
            if self._closed.is_set():
                raise RuntimeError("the bus is closed")
            if self._worker is not None:
                raise RuntimeError("the bus is already listening")
            self._handler = handler
            pubsub: PubSub = self._client.pubsub()  # type: ignore[no-untyped-call]
            try:
                pubsub.subscribe(**{self._channel: self._deliver})
                confirmation = pubsub.get_message(timeout=_SUBSCRIBE_TIMEOUT)
                if confirmation is None or confirmation.get("type") != "subscribe":
                    raise TimeoutError(f"Redis did not confirm the subscription to {self._channel}")
                self._worker = pubsub.run_in_thread(
                    sleep_time=_POLL_SECONDS, daemon=True, exception_handler=self._on_error
                )
            except BaseException:
                pubsub.close()
                raise

    def close(self) -> None:
        """Stop listening; calling it again does nothing."""
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            worker = self._worker
        if worker is None:
            return
        worker.stop()  # the thread closes its pub/sub connection as it ends
        if worker is not threading.current_thread():
            worker.join(_JOIN_TIMEOUT)

    def _deliver(self, message: dict[str, Any]) -> None:
        try:
            event = json.loads(message["data"])
        except (ValueError, TypeError):
            logger.warning("ignoring a message on %s that is not JSON", self._channel)
            return
        if not isinstance(event, dict):
            logger.warning("ignoring a message on %s that is not a JSON object", self._channel)
            return
        if event.get("origin") == self._origin or self._handler is None:
            return
        try:
            self._handler(event)
        except redis.RedisError as error:  # Redis went away meanwhile: expected, no traceback
            REDIS.failed(error)
        except Exception:
            logger.exception("the handler of %s failed on %r", self._channel, event)

    def _on_error(self, error: BaseException, pubsub: PubSub, worker: PubSubWorkerThread) -> None:
        """Keep the thread alive through connection errors, pausing between attempts.
        Redis being away is told to the log once (:data:`~mock_server.storage.reachability.REDIS`),
        not at every attempt."""
        if self._closed.is_set():
            worker.stop()
            return
        if isinstance(error, redis.RedisError | OSError):
            REDIS.failed(error)
        else:
            logger.warning("listening on %s failed (%r); retrying", self._channel, error)
        handler = self._handler
        if handler is not None:
            try:
                handler({"kind": "resync"})  # events may have been missed meanwhile
            except redis.RedisError as failure:  # still away: the next attempt resyncs again
                REDIS.failed(failure)
            except Exception:
                logger.exception("the handler of %s failed to resync", self._channel)
        self._closed.wait(_RETRY_SECONDS)
