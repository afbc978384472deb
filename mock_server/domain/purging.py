"""Dropping expired records off the request path.

A create asks for a purge at most once a second (:class:`PredictionService`); with a
:class:`BackgroundPurger` the purge runs on a thread of its own, so a create never
waits for one, however many records expired at once (a clock moved by a day, say).
Requests that come before it has run hide expired records anyway.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from mock_server.domain.store import Store

__all__ = ["BackgroundPurger"]

log = logging.getLogger(__name__)

#: How long the purging thread waits for another request before it ends.
IDLE_SECONDS: Final = 10.0


class BackgroundPurger:
    """Runs ``store.purge`` on a daemon thread, started by a request and ended after
    :data:`IDLE_SECONDS` without one (so an app that is dropped leaves no thread
    behind); requests made while one runs are folded into the next (the latest cut-off
    wins)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._condition = threading.Condition()
        self._cutoff: float | None = None
        self._thread: threading.Thread | None = None
        self.purged = 0
        """Records dropped so far."""

    def request(self, created_before: float) -> None:
        """Ask for the records created before ``created_before`` to be dropped."""
        with self._condition:
            self._cutoff = max(created_before, self._cutoff or created_before)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="purger", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                if self._cutoff is None:
                    self._condition.wait(IDLE_SECONDS)
                if self._cutoff is None:  # nothing asked for a while: end; a request restarts it
                    self._thread = None
                    return
                cutoff, self._cutoff = self._cutoff, None
            try:
                self.purged += self._store.purge(cutoff)
            except Exception as error:  # the store is down: the next request tries again
                log.info("purge of expired predictions failed: %s", error)
