"""Whether Redis answers, told to the log once per change instead of once per request.

While Redis is down every request that needs it fails the same way, and the bus and the
shared-state watcher retry every second; logging each of those buries everything else.
:data:`REDIS` remembers the last known state: the first failure logs one line
(``Redis unreachable: ...``), the first success after it one more (``Redis reachable
again``), and everything in between is silent.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

__all__ = ["REDIS", "Reachability"]

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
