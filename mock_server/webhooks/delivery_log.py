"""What the webhook dispatcher writes down: the delivery log (every attempt, for
``GET /_mock/webhooks/deliveries``) and, where it outlives the process, the deliveries
still to make.

:class:`MemoryDeliveryLog` keeps the log in memory and nothing else (a restart starts
afresh). :class:`~mock_server.webhooks.sqlite_delivery_log.SqliteDeliveryLog` keeps both in the
data directory, so the log is one for all the workers and a restart resumes what was
pending. Pure bookkeeping: the dispatcher calls it under its own lock.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from mock_server.webhooks.planning import Attempt
from mock_server.webhooks.schedule import Followed
from mock_server.webhooks.sending import Delivery

__all__ = ["DeliveryLog", "MemoryDeliveryLog", "matching"]


class DeliveryLog(Protocol):
    """The dispatcher's log of attempts and its record of pending deliveries."""

    def follow(self, followed: Followed) -> None:
        """A prediction with a webhook was created: its deliveries are pending."""
        ...

    def attempted(self, attempt: Attempt, delivery: Delivery, planned_at: float) -> None:
        """Log ``attempt`` of ``delivery`` (first planned for ``planned_at``); its first
        attempt marks the planned delivery made, and a retry (``attempt.retry_at``) is
        pending until attempted."""
        ...

    def done(self, prediction_ids: list[str]) -> None:
        """These predictions have nothing more to send."""
        ...

    def attempts(self, prediction_id: str | None, event: str | None) -> list[Attempt]:
        """Logged attempts, oldest first, optionally of one prediction or event."""
        ...

    def clear_log(self) -> None:
        """Forget the logged attempts (pending deliveries go on)."""
        ...

    def reset(self) -> None:
        """Forget the log and every pending delivery."""
        ...

    def pending(self) -> tuple[list[Followed], list[Delivery]]:
        """What was pending when the last process on this log stopped (and is now
        this one's to send): the predictions followed, with the deliveries they made,
        and the retries waiting (``at`` is when each is due)."""
        ...


def matching(attempt: Attempt, prediction_id: str | None, event: str | None) -> bool:
    """Whether ``attempt`` passes the log's filters."""
    return (prediction_id is None or attempt.prediction_id == prediction_id) and (
        event is None or attempt.event == event
    )


class MemoryDeliveryLog:
    """The last ``limit`` attempts in memory; pending deliveries live only in the
    dispatcher's schedule."""

    def __init__(self, limit: int) -> None:
        self._log: deque[Attempt] = deque(maxlen=limit)

    def follow(self, followed: Followed) -> None:
        """Nothing to write: the schedule holds it."""

    def attempted(self, attempt: Attempt, delivery: Delivery, planned_at: float) -> None:
        """Log the attempt (the oldest drops out past the limit)."""
        self._log.append(attempt)

    def done(self, prediction_ids: list[str]) -> None:
        """Nothing to write."""

    def attempts(self, prediction_id: str | None, event: str | None) -> list[Attempt]:
        return [attempt for attempt in self._log if matching(attempt, prediction_id, event)]

    def clear_log(self) -> None:
        self._log.clear()

    def reset(self) -> None:
        self._log.clear()

    def pending(self) -> tuple[list[Followed], list[Delivery]]:
        """Nothing: memory does not outlive the process."""
        return [], []
