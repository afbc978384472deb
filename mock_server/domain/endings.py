"""Telling when predictions end, for counting them by final status.

A prediction never changes in the background (its status is computed from its record
and the time), so nothing happens when it ends. :class:`EndingWatch` is told of every
prediction this process creates (it is a
:class:`~mock_server.domain.service.PredictionListener`), keeps their end times in a
heap, and at each end time reads the record again (a cancel, here or on another
replica, may have changed it) and reports the final status once. A background thread
sleeps until the earliest end time, woken early by a clock move or an earlier end;
with a fake clock, :meth:`EndingWatch.pump` does the same work when called.
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from collections.abc import Callable
from typing import Final

from mock_server.domain import lifecycle
from mock_server.domain.clock import AdjustableClock, Clock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.store import Store

__all__ = ["EndingWatch"]

log = logging.getLogger(__name__)

#: How long the thread waits before looking again when the store did not answer.
RETRY_SECONDS: Final = 1.0


class EndingWatch:
    """Calls ``ended(status)`` once for each prediction created here, when it ends."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        ended: Callable[[str], None],
        *,
        background: bool,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ended = ended
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        self._lock = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._background = background
        self._stop_listening = (
            clock.on_advance(self.wake) if isinstance(clock, AdjustableClock) else None
        )

    # --- the listener --------------------------------------------------------------------

    def created(self, record: PredictionRecord) -> None:
        self._follow(record.id, lifecycle.ends_at(record))

    def changed(self, record: PredictionRecord) -> None:
        """A cancel here: the prediction may end sooner (followed ones only)."""
        with self._lock:
            followed = record.id in self._due
        if followed:
            self._follow(record.id, lifecycle.ends_at(record))

    # --- control -------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every prediction (a reset): they end uncounted."""
        with self._lock:
            self._heap.clear()
            self._due.clear()

    def wake(self) -> None:
        with self._lock:
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            thread = self._thread
        if self._stop_listening is not None:
            self._stop_listening()
        if thread is not None and thread is not threading.current_thread():
            thread.join(RETRY_SECONDS + 1.0)

    def pump(self) -> list[str]:
        """Report every prediction that has ended by now; return their statuses."""
        now = self._clock.now()
        found: list[str] = []
        for prediction_id in self._take_due(now):
            try:
                record = self._store.get(prediction_id)
            except Exception:  # a store that does not answer: look again a little later
                log.debug("could not read prediction %s; retrying", prediction_id, exc_info=True)
                self._follow(prediction_id, now + RETRY_SECONDS)
                continue
            if record is None:  # forgotten: a reset, or its time to be kept ran out
                continue
            if not lifecycle.is_terminal(record, now):  # its end moved (a cancel elsewhere)
                self._follow(record.id, lifecycle.ends_at(record))
                continue
            status = lifecycle.status_at(record, now)
            self._ended(status)
            found.append(status)
        return found

    # --- inside --------------------------------------------------------------------------

    def _follow(self, prediction_id: str, at: float) -> None:
        if not math.isfinite(at):
            return
        with self._lock:
            if self._closed:
                return
            earliest = self._heap[0][0] if self._heap else math.inf
            self._due[prediction_id] = at
            heapq.heappush(self._heap, (at, prediction_id))
            if at < earliest:
                self._lock.notify_all()
            if self._background and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="imagen-mock-endings", daemon=True
                )
                self._thread.start()

    def _take_due(self, now: float) -> list[str]:
        taken: list[str] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                at, prediction_id = heapq.heappop(self._heap)
                if self._due.get(prediction_id) == at:  # else superseded by a later push
                    del self._due[prediction_id]
                    taken.append(prediction_id)
        return taken

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                wait = self._heap[0][0] - self._clock.now() if self._heap else None
                if wait is None or wait > 0:
                    self._lock.wait(wait)
                    continue
            try:
                self.pump()
            except Exception:  # never let the thread die: the counts are not worth it
                log.exception("counting ended predictions failed")
