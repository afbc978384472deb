"""What a followed prediction has due: its record read from the store, and the deliveries
its plan holds up to now, for :class:`~mock_server.webhooks.delivery.WebhookDispatcher`.

:meth:`DueWork.look` reads the record once, when the prediction's timer fires, and turns
each planned delivery (:func:`~mock_server.webhooks.planning.plan`) due by then and not
yet sent into a :class:`~mock_server.webhooks.sending.Delivery` whose body is the
prediction as the API showed it at that time. When the store cannot be reached the look
comes again after :data:`STORE_RETRY_SECONDS`; one line is logged when the store stops
answering and one when it answers again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Final

import redis

from mock_server.domain.store import Store
from mock_server.webhooks import signing
from mock_server.webhooks.planning import WebhookSettings, delivery_body, plan
from mock_server.webhooks.schedule import Followed
from mock_server.webhooks.sending import Delivery

__all__ = ["STORE_RETRY_SECONDS", "DueWork"]

#: The dispatcher's logger: the lines about the store have always been its own.
log = logging.getLogger("mock_server.webhooks.delivery")

#: Wait before reading a record again after the store could not be reached.
STORE_RETRY_SECONDS: Final = 1.0


class DueWork:
    """Reads followed predictions' records and makes their due deliveries. Thread-safe."""

    def __init__(
        self, store: Store, settings: WebhookSettings, next_order: Callable[[], int]
    ) -> None:
        """``next_order`` hands out the tie-break number of each delivery made."""
        self._store = store
        self._settings = settings
        self._next_order = next_order
        self._lock = threading.Lock()
        self._store_down = False

    def look(self, followed: Followed, now: float) -> tuple[list[Delivery], float | None]:
        """Read the record; the deliveries now due and when the next one is (None: no more)."""
        try:
            record = self._store.get(followed.id)
        except (redis.RedisError, OSError) as exc:
            self._store_state(down=True, error=exc)
            return [], now + STORE_RETRY_SECONDS
        self._store_state(down=False)
        if record is None:
            return [], None
        found: list[Delivery] = []
        for item in plan(record, followed.events):
            if (item.event, item.at) in followed.sent:
                continue
            if item.at > now:
                return found, item.at
            followed.sent.add((item.event, item.at))
            shown = delivery_body(record, item.at, followed.links, self._settings.shape)
            body = json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
            message = signing.new_message_id()
            order = self._next_order()
            found.append(
                Delivery(followed.id, item.event, message, followed.url, body, item.at, order)
            )
        return found, None

    def has_record(self, prediction_id: str) -> bool:
        """Whether the store holds the record (True if the store cannot say)."""
        try:
            return self._store.get(prediction_id) is not None
        except (redis.RedisError, OSError):
            return True

    def _store_state(self, *, down: bool, error: Exception | None = None) -> None:
        """Log one line when the store stops or starts answering the dispatcher."""
        with self._lock:
            changed, self._store_down = self._store_down != down, down
        if changed and down:
            log.warning(
                "webhooks: the store cannot be reached (%s: %s); looking again every %g s",
                type(error).__name__,
                error,
                STORE_RETRY_SECONDS,
            )
        elif changed:
            log.warning("webhooks: the store answers again")
