"""Whether Redis answers: told to the log once per change instead of once per request,
and a breaker that answers for Redis while it does not.

While Redis is down every request that needs it fails the same way, and the bus and the
shared-state watcher retry every second; logging each of those buries everything else.
:data:`REDIS` remembers the last known state: the first failure logs one line
(``Redis unreachable: ...``), the first success after it one more (``Redis reachable
again``), and everything in between is silent.

A :class:`Breaker` keeps requests from waiting on a Redis that has stopped answering:
after one command timed out or could not connect, every command fails at once
(:class:`RedisUnreachable`, answered 503 with ``Retry-After``) until a background probe
gets an answer again. Without it each request of a stall would hold a thread and a
connection for the whole socket timeout, and those beyond the pool would wait longer still.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Concatenate, Final, ParamSpec, Protocol, TypeVar

import redis

__all__ = ["REDIS", "Breaker", "Reachability", "RedisUnreachable", "guarded"]

#: How often the probe asks a Redis thought away whether it answers again.
PROBE_SECONDS: Final = 0.25

P = ParamSpec("P")
T = TypeVar("T")
_HasBreakerT = TypeVar("_HasBreakerT", bound="_HasBreaker")

logger = logging.getLogger(__name__)


class Reachability:
    """The last known state of one service, logged when it changes. Thread-safe."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._down = False

    @property
    def down(self) -> bool:
        """Whether the last thing heard was a failure."""
        return self._down

    def failed(self, error: BaseException) -> None:
        """A request to the service failed; log it if the service was thought up."""
        with self._lock:
            if self._down:
                return
            self._down = True
        logger.warning(
            "%s unreachable: %s (requests that need it answer 503 until it is back)",
            self._name,
            error or type(error).__name__,
        )

    def answered(self) -> None:
        """A request to the service succeeded; log it if the service was thought down.
        Costs one attribute read while the service is up."""
        if not self._down:
            return
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            logger.warning("%s reachable again", self._name)


#: The shared Redis of this process (``--redis-url``).
REDIS: Final = Reachability("Redis")


class RedisUnreachable(redis.ConnectionError):
    """Redis was found away and has not answered since: the command was not sent."""


class Breaker:
    """Fails Redis commands at once while Redis is known not to answer. Thread-safe.

    :meth:`trip` (a command timed out or could not connect) opens it and starts a probe
    thread that calls ``probe`` every :data:`PROBE_SECONDS` (each call bounded by the
    client's own timeouts) until one succeeds; then it closes. While open, :meth:`check`
    raises :class:`RedisUnreachable`. Costs one attribute read while closed.
    """

    def __init__(self, probe: Callable[[], object], reachability: Reachability = REDIS) -> None:
        self._probe = probe
        self._reachability = reachability
        self._lock = threading.Lock()
        self._open = False
        self._closed_for_good = threading.Event()

    @property
    def open(self) -> bool:
        """Whether commands fail at once."""
        return self._open

    def check(self) -> None:
        """Raises: RedisUnreachable: while open."""
        if self._open:
            raise RedisUnreachable("Redis is not answering (waiting for it to come back)")

    def trip(self, error: BaseException) -> None:
        """A command timed out or could not connect: fail the next ones at once."""
        self._reachability.failed(error)
        with self._lock:
            if self._open or self._closed_for_good.is_set():
                return
            self._open = True
        threading.Thread(target=self._watch, name="imagen-mock-redis-probe", daemon=True).start()

    def close(self) -> None:
        """Stop probing for good (the store is closing); commands are tried again."""
        self._closed_for_good.set()
        self._open = False

    def _watch(self) -> None:
        while not self._closed_for_good.wait(PROBE_SECONDS):
            try:
                self._probe()
            except Exception as error:  # still away (or refusing): try again
                self._reachability.failed(error)
                continue
            break
        self._open = False
        self._reachability.answered()


class _HasBreaker(Protocol):
    breaker: Breaker | None


def guarded(
    method: Callable[Concatenate[_HasBreakerT, P], T],
) -> Callable[Concatenate[_HasBreakerT, P], T]:
    """Run a store method through its ``breaker`` (if it has one): refused at once while
    it is open, and tripping it when Redis times out or cannot be reached."""

    @functools.wraps(method)
    def run(self: _HasBreakerT, /, *args: P.args, **kwargs: P.kwargs) -> T:
        breaker = self.breaker
        if breaker is None:
            return method(self, *args, **kwargs)
        breaker.check()
        try:
            return method(self, *args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if not isinstance(error, RedisUnreachable):
                breaker.trip(error)
            raise

    return run
