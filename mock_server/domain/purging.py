"""Dropping expired records off the request path.

A create asks for a purge at most once a second (:class:`PredictionService`); with a
:class:`BackgroundPurger` the purge runs on a thread of its own, so a create never
waits for one, however many records expired at once (a clock moved by a day, say).
Requests that come before it has run hide expired records anyway.
"""

from __future__ import annotations

import logging
import threading

from mock_server.domain.store import Store

__all__ = ["BackgroundPurger"]

log = logging.getLogger(__name__)


class BackgroundPurger:
    """Runs ``store.purge`` on a daemon thread, started with the first request; requests
    made while one runs are folded into the next (the latest cut-off wins)."""

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
                while self._cutoff is None:
                    self._condition.wait()
                cutoff, self._cutoff = self._cutoff, None
            try:
                self.purged += self._store.purge(cutoff)
            except Exception as error:  # the store is down: the next request tries again
                log.info("purge of expired predictions failed: %s", error)
