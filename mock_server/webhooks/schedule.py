"""What the webhook dispatcher has waiting, and when.

Pure bookkeeping, no threads and no I/O (the dispatcher holds its lock around every
call): the predictions followed, one heap of timers (a prediction's next planned
delivery, a retry's due time) and the per-receiver queues of predictions whose work is
due (:class:`~mock_server.webhooks.queues.ReceiverQueues`). A prediction is taken by one
sender at a time (a *turn*), so its deliveries go out one after the other, in order.
Methods that may queue work say how many predictions they queued, so the dispatcher
knows how many senders to wake.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from mock_server.domain.rendering import Links
from mock_server.webhooks.queues import ReceiverQueues
from mock_server.webhooks.sending import Delivery

__all__ = ["Followed", "Schedule", "Turn"]


@dataclass(slots=True, eq=False)
class Followed:
    """A prediction whose deliveries are not all made."""

    id: str
    url: str
    receiver: str
    events: frozenset[str]
    links: Links
    index: int = 0
    """Creation order: predictions due at once are looked at in this order."""
    sent: set[tuple[str, float]] = field(default_factory=set)
    """The planned deliveries made (event, due time); only its turn touches it."""
    timer: int = 0
    """Number of its current look-again timer; older ones are stale."""
    planned: bool = True
    """Whether its plan may still hold deliveries to make."""
    look: bool = False
    """Read the record and send what is due, on its next turn."""
    due: list[Delivery] = field(default_factory=list)
    """Retries whose time has come."""
    waiting: int = 0
    """Retries on the timer heap."""
    busy: bool = False
    """A sender has its turn."""
    queued: bool = False
    """It waits in its receiver's queue."""


#: A prediction's turn: the retries to send, and whether to read the record and plan.
Turn = tuple[Followed, list[Delivery], bool]
#: (due time, tie-break, prediction, timer number, retry or None for a look-again timer)
_Timer = tuple[float, int, Followed, int, Delivery | None]


class Schedule:
    """Followed predictions, their timers and the queues of due work."""

    def __init__(self, per_receiver: int) -> None:
        self.followed: dict[str, Followed] = {}
        self._timers: list[_Timer] = []
        self._queues: ReceiverQueues[Followed] = ReceiverQueues(per_receiver)
        self._order = itertools.count()
        self._forgotten: list[str] = []

    def next_order(self) -> int:
        """A fresh tie-break number (increasing)."""
        return next(self._order)

    def follow(self, followed: Followed, first: float) -> bool:
        """Follow a prediction whose first delivery is due at ``first``; say whether that
        is now the earliest timer."""
        followed.index = self.next_order()
        self.followed[followed.id] = followed
        return self.set_timer(followed, first)

    def set_timer(self, followed: Followed, at: float) -> bool:
        """Look at ``followed`` again at ``at`` (replacing its timer); say whether that is
        now the earliest timer."""
        followed.timer += 1
        entry: _Timer = (at, self.next_order(), followed, followed.timer, None)
        heapq.heappush(self._timers, entry)
        return self._timers[0] is entry

    def add_retry(self, delivery: Delivery, at: float) -> bool:
        """Attempt ``delivery`` again at ``at``; say whether that is now the earliest timer
        (False, and nothing is kept, if its prediction is no longer followed)."""
        followed = self.followed.get(delivery.prediction_id)
        if followed is None:
            return False
        delivery.at, delivery.order = at, self.next_order()
        followed.waiting += 1
        entry: _Timer = (at, delivery.order, followed, 0, delivery)
        heapq.heappush(self._timers, entry)
        return self._timers[0] is entry

    def earliest(self) -> float | None:
        """When the earliest timer is due (it may be stale)."""
        return self._timers[0][0] if self._timers else None

    def next_due(self, now: float, has_record: Callable[[str], bool]) -> float | None:
        """When something is next due (``now`` if work waits), dropping stale timers and
        those of predictions whose record is gone; None if nothing is pending."""
        if self._queues.waiting():
            return now
        while self._timers:
            at, _, followed, timer, retry = self._timers[0]
            if self._is_live(followed, timer, retry):
                if retry is not None or has_record(followed.id):
                    return at
                followed.planned = False  # the record is gone: nothing more to send
                self._forget_if_done(followed)
            heapq.heappop(self._timers)
        return None

    def fire(self, now: float) -> int:
        """Queue the work of every timer due at ``now``; return how many were queued."""
        queued = 0
        while self._timers and self._timers[0][0] <= now:
            _, _, followed, timer, retry = heapq.heappop(self._timers)
            if not self._is_live(followed, timer, retry):
                continue
            if retry is None:
                followed.look = True
            else:
                followed.waiting -= 1
                followed.due.append(retry)
            queued += self._ready(followed)
        return queued

    def changed(self, prediction_id: str) -> int:
        """Have a followed prediction look at its record again; return how many were queued."""
        followed = self.followed.get(prediction_id)
        if followed is None:
            return 0
        followed.look = True
        return self._ready(followed)

    def take(self) -> Turn | None:
        """The turn of the first queued prediction whose receiver is below its limit."""
        taken = self._queues.take()
        return None if taken is None else self._turn(taken[1])

    def take_all(self) -> list[Turn]:
        """The turns of every queued prediction, whatever the limits (not counted out)."""
        return [self._turn(followed) for followed in self._queues.drain()]

    def end(
        self, turns: list[Turn], looked: list[tuple[Followed, float | None]], *, counted: bool
    ) -> tuple[int, bool]:
        """End turns taken with :meth:`take` (``counted``) or :meth:`take_all`; ``looked``
        says when each prediction that read its record next has a delivery due. Returns
        how many were queued again and whether a new timer is the earliest."""
        earliest = False
        for followed, _, _ in turns:
            followed.busy = False
            if counted:
                self._queues.done(followed.receiver)
        for followed, next_at in looked:
            followed.planned = next_at is not None
            if next_at is None:
                followed.timer += 1  # its plan is done: any timer left is stale
            elif self.followed.get(followed.id) is followed:
                earliest = self.set_timer(followed, next_at) or earliest
        queued = 0
        for followed, _, _ in turns:
            if self.followed.get(followed.id) is followed:
                queued += self._ready(followed)
                self._forget_if_done(followed)
        return queued, earliest

    def forgotten(self) -> list[str]:
        """The predictions forgotten since the last call, their deliveries all made."""
        done, self._forgotten = self._forgotten, []
        return done

    def clear(self) -> None:
        """Forget every prediction, timer and queued turn (turns under way stay counted
        out until they end)."""
        self._forgotten.clear()
        self.followed.clear()
        self._timers.clear()
        self._queues.clear()

    def _is_live(self, followed: Followed, timer: int, retry: Delivery | None) -> bool:
        """Whether a timer still counts (not from before a reset, nor replaced)."""
        current = self.followed.get(followed.id) is followed
        return current and (retry is not None or timer == followed.timer)

    def _ready(self, followed: Followed) -> int:
        """Queue a prediction that has work unless it is queued or has its turn (1 if queued)."""
        if followed.busy or followed.queued or not (followed.look or followed.due):
            return 0
        followed.queued = True
        self._queues.put(followed.receiver, followed)
        return 1

    def _turn(self, followed: Followed) -> Turn:
        followed.queued = False
        followed.busy = True
        retries, followed.due = followed.due, []
        look, followed.look = followed.look, False
        return followed, retries, look

    def _forget_if_done(self, followed: Followed) -> None:
        idle = not (followed.busy or followed.queued or followed.look or followed.due)
        current = self.followed.get(followed.id) is followed
        if current and idle and not followed.planned and not followed.waiting:
            del self.followed[followed.id]
            self._forgotten.append(followed.id)
