"""Sending webhook deliveries, off the request path.

:class:`WebhookDispatcher` follows every prediction created with a ``webhook``: it works
out what is due from the record (:func:`mock_server.webhooks.planning.plan`) and has
each delivery signed and POSTed (:class:`mock_server.webhooks.sending.Sender`), retrying
failures with exponential backoff under the same ``webhook-id``. Every attempt goes to
the delivery log (:mod:`~mock_server.webhooks.delivery_log`: the log, and on a data directory
what is pending, for :meth:`WebhookDispatcher.resume`); a failure also logs one line.

Timing (:class:`~mock_server.webhooks.schedule.Schedule`): one heap of timers (a
prediction's next planned delivery, a retry's due time). With a real clock a daemon
thread sleeps on a condition until the earliest timer or until it is woken (a new
earliest timer, a clock move, a close); nothing is polled or rescanned. A due
prediction's record is read from the store once, when its timer fires (or it changes),
and its due deliveries made from it (:mod:`~mock_server.webhooks.due`).

Sending: due work waits in per-receiver queues and is sent by a pool of at most
``max_senders`` threads, at most ``max_per_receiver`` of them to one
``scheme://host:port`` at once, so a slow or dead receiver holds back only its own
deliveries (and, with several dead receivers, at most its share of the pool). Threads
rather than an event loop: the attempts stay the blocking httpx calls that ``pump`` makes
under a fake clock, so tests and the server run the same code. One prediction's
deliveries are sent by one thread at a time, in plan order (``start`` before ``output``
before ``completed``).

Under a fake clock no thread runs: tests call :meth:`~WebhookDispatcher.pump`, which
sends everything due, in order, on the calling thread.

Deliveries go only to the allowed hosts (loopback by default): a refused URL is
logged as a failed attempt and never contacted, nor retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from mock_server.domain.clock import AdjustableClock, Clock, SystemClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.store import Store
from mock_server.webhooks import signing
from mock_server.webhooks.delivery_log import DeliveryLog, MemoryDeliveryLog
from mock_server.webhooks.due import DueWork
from mock_server.webhooks.planning import Attempt, WebhookSettings, event_filter, plan
from mock_server.webhooks.schedule import Followed, Schedule, Turn
from mock_server.webhooks.sending import USER_AGENT, Delivery, Sender, log_failure, receiver_of

if TYPE_CHECKING:
    import httpx

__all__ = ["MAX_PER_RECEIVER", "MAX_SENDERS", "USER_AGENT", "WebhookDispatcher"]

log = logging.getLogger(__name__)

#: Threads sending deliveries at once, over all receivers.
MAX_SENDERS: Final = 16
#: Attempts in flight at once to one receiver (``scheme://host:port``).
MAX_PER_RECEIVER: Final = 4
#: URLs in bodies of predictions whose creating request left no links.
_FALLBACK_LINKS: Final = Links(api="http://localhost/v1", root="http://localhost")


class WebhookDispatcher:
    """The webhook deliveries of one mock instance; a :class:`PredictionListener`."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        secret: str,
        settings: WebhookSettings,
        transport: httpx.BaseTransport | None = None,
        max_senders: int = MAX_SENDERS,
        max_per_receiver: int = MAX_PER_RECEIVER,
        on_attempt: Callable[[Attempt], None] | None = None,
        delivery_log: DeliveryLog | None = None,
    ) -> None:
        """``transport`` replaces the network (tests pass an ``httpx.MockTransport``);
        ``on_attempt`` is told of every attempt logged (the metrics count them);
        ``delivery_log`` keeps the log and pending deliveries (by default the log, in memory).

        Raises:
            ValueError: if ``secret`` is not a valid ``whsec_`` secret, or a limit is below 1.
        """
        signing.secret_key(secret)
        if max_senders < 1:
            raise ValueError("the webhook sender limit must be at least 1")
        self._clock = clock
        self.settings = settings
        self._sender = Sender(secret, self.settings, transport)
        self._on_attempt = on_attempt
        background = self.settings.background
        real_time = isinstance(clock, SystemClock | AdjustableClock)
        self._background = real_time if background is None else background
        self._max_senders = max_senders
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # the timer thread
        self._work = threading.Condition(self._lock)  # the senders
        self._pumping = threading.Lock()
        self._schedule = Schedule(max_per_receiver)
        self._due = DueWork(store, self.settings, self._schedule.next_order)
        self._delivery_log = delivery_log or MemoryDeliveryLog(self.settings.log_limit)
        self._thread: threading.Thread | None = None
        self._senders: list[threading.Thread] = []
        self._idle = 0  # senders waiting for work and not yet signalled
        self._wakeups = 0
        self._closed = False
        self._resets = 0  # an attempt begun before a reset is neither logged nor retried
        self._stop_listening = (
            clock.on_advance(self.wake) if isinstance(clock, AdjustableClock) else None
        )

    # --- the listener and the public API -------------------------------------------------

    def created(self, record: PredictionRecord) -> None:
        """Follow a new prediction if it has a webhook (starting the thread if needed)."""
        url = record.extra.get("webhook")
        if not isinstance(url, str):
            return
        links = record.extra.get("links")
        followed = Followed(
            id=record.id,
            url=url,
            receiver=receiver_of(url),
            events=event_filter(record.extra.get("webhook_events_filter")),
            links=links if isinstance(links, Links) else _FALLBACK_LINKS,
        )
        first = next(iter(plan(record, followed.events)), None)
        with self._lock:
            if self._closed or first is None:
                return
            self._delivery_log.follow(followed)
            if self._schedule.follow(followed, first.at):
                self._wake.notify_all()
            self._start()

    def resume(self) -> int:
        """Take up the deliveries the delivery log holds pending (a restart on a data
        directory): their predictions are looked at now, their retries sent when due.
        Returns how many predictions were taken up."""
        followed, retries = self._delivery_log.pending()
        now = self._clock.now()
        with self._lock:
            if self._closed:
                return 0
            for item in followed:
                self._schedule.follow(item, now)
            for retry in retries:
                retry.order = self._schedule.next_order()
                self._schedule.add_retry(retry, retry.at)
            self._wake.notify_all()
            if followed:
                self._start()
        return len(followed)

    def _start(self) -> None:
        """Start the timer thread if it should run and does not yet. Call with the lock."""
        if self._background and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="imagen-mock-webhooks", daemon=True
            )
            self._thread.start()

    def changed(self, record: PredictionRecord) -> None:
        """Look again at a prediction whose record changed (a cancel moves ``completed``)."""
        with self._lock:
            self._hire(self._schedule.changed(record.id))

    def wake(self) -> None:
        """Look at the timers again now (the clock was moved)."""
        with self._lock:
            self._wake.notify_all()

    def is_running(self) -> bool:
        """Whether the background thread is alive."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    @property
    def wakeups(self) -> int:
        """How many times the timer thread has woken to look at its timers."""
        with self._lock:
            return self._wakeups

    def pump(self) -> list[Attempt]:
        """Make every attempt due at the clock's current time, in order; return them."""
        with self._pumping:
            with self._lock:
                if self._closed:
                    return []
                self._schedule.fire(self._clock.now())
                turns = self._schedule.take_all()
                resets = self._resets
            return self._serve(turns, resets, counted=False)

    def next_due(self) -> float | None:
        """When the next attempt is due, None if nothing is pending."""
        with self._lock:
            due = self._schedule.next_due(self._clock.now(), self._due.has_record)
            self._delivery_log.done(self._schedule.forgotten())
            return due

    def attempts(self, prediction_id: str | None = None, event: str | None = None) -> list[Attempt]:
        """Logged attempts, oldest first, optionally of one prediction or event."""
        with self._lock:
            return self._delivery_log.attempts(prediction_id, event)

    def clear(self) -> None:
        """Forget the logged attempts (pending deliveries and retries go on)."""
        with self._lock:
            self._delivery_log.clear_log()

    def reset(self) -> None:
        """Forget everything: logged attempts, followed predictions and pending retries."""
        with self._lock:
            self._resets += 1
            self._delivery_log.reset()
            self._schedule.clear()
            self._wake.notify_all()

    def close(self) -> None:
        """Stop the threads (waiting, within the attempt timeout, for attempts in flight)
        and close connections."""
        if self._stop_listening is not None:
            self._stop_listening()
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            self._work.notify_all()
            threads = [self._thread, *self._senders]
        deadline = time.monotonic() + self.settings.timeout_seconds + 1.0
        for thread in threads:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        with self._pumping:
            self._sender.close()

    # --- the threads ------------------------------------------------------------------

    def _run(self) -> None:
        """The timer thread: queue what is due, then sleep until the next timer or a wake."""
        with self._lock:
            while not self._closed:
                self._wakeups += 1
                now = self._clock.now()
                self._hire(self._schedule.fire(now))
                earliest = self._schedule.earliest()
                self._wake.wait(None if earliest is None else earliest - now)

    def _hire(self, queued: int) -> None:
        """Have senders take ``queued`` new turns: wake idle ones, else start new ones
        (up to the limit; the rest wait for a sender to be free). Call with the lock."""
        if not self._background or self._closed:
            return
        for _ in range(queued):
            if self._idle:
                self._idle -= 1
                self._work.notify()
            elif len(self._senders) < self._max_senders:
                name = f"imagen-mock-webhooks-{len(self._senders) + 1}"
                sender = threading.Thread(target=self._send, name=name, daemon=True)
                self._senders.append(sender)
                sender.start()

    def _send(self) -> None:
        """A sender thread: take a turn whose receiver has room, send its due work."""
        while True:
            with self._lock:
                turn = None
                while turn is None:
                    if self._closed:
                        return
                    turn = self._schedule.take()
                    if turn is None:
                        self._idle += 1
                        self._work.wait()
                resets = self._resets
            try:
                self._serve([turn], resets, counted=True)
            except Exception:
                log.exception("webhook sending failed unexpectedly")

    # --- turns: look, send, schedule --------------------------------------------------

    def _serve(self, turns: list[Turn], resets: int, *, counted: bool) -> list[Attempt]:
        """Send the due work of ``turns``, oldest due first, then end them."""
        looked: list[tuple[Followed, float | None]] = []
        made: list[Attempt] = []
        try:
            now = self._clock.now()
            work: list[Delivery] = []
            for followed, retries, look in sorted(turns, key=lambda turn: turn[0].index):
                work += retries
                if look:
                    found, next_at = self._due.look(followed, now)
                    work += found
                    looked.append((followed, next_at))
            work.sort(key=lambda delivery: (delivery.at, delivery.order))
            for delivery in work:
                if self._is_closed():
                    break
                made.append(self._attempt(delivery, resets))
        finally:
            with self._lock:
                queued, earliest = self._schedule.end(turns, looked, counted=counted)
                self._delivery_log.done(self._schedule.forgotten())
                self._hire(queued)
                if earliest:
                    self._wake.notify_all()
        return made

    def _attempt(self, delivery: Delivery, resets: int) -> Attempt:
        """Try one delivery once; log it and schedule the retry it earns, unless a reset
        came after ``resets`` were counted (the attempt then belongs to the past)."""
        planned_at = delivery.at  # before a retry moves it
        delivery.attempts += 1
        attempted_at = self._clock.now()
        result = self._sender.attempt(delivery, attempted_at)
        retrying = result.error is not None and result.retry
        delay = self.settings.retry_delay(delivery.attempts) if retrying else None
        retry_at = None if delay is None else self._clock.now() + delay
        attempt = Attempt(
            prediction_id=delivery.prediction_id,
            event=delivery.event,
            webhook_id=delivery.webhook_id,
            url=delivery.url,
            attempt=delivery.attempts,
            attempted_at=attempted_at,
            status_code=result.status_code,
            error=result.error,
            retry_at=retry_at,
            headers=result.headers,
            body=delivery.body,
        )
        with self._lock:
            if resets != self._resets:
                return attempt
            self._delivery_log.attempted(attempt, delivery, planned_at)
            retried = retry_at is not None and not self._closed
            if retried and self._schedule.add_retry(delivery, retry_at or 0.0):
                self._wake.notify_all()
        if self._on_attempt is not None:
            self._on_attempt(attempt)
        if attempt.error is not None:
            log_failure(attempt, delay)
        return attempt

    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed
