"""Sending webhook deliveries, off the request path.

:class:`WebhookDispatcher` follows every prediction created with a ``webhook``:
it works out what is due from the record (:func:`mock_server.webhooks.planning.plan`), signs
each delivery (:mod:`mock_server.webhooks.signing`) and POSTs it with httpx, retrying
failures with exponential backoff under the same ``webhook-id``. Every attempt is
logged. With a real clock a daemon thread, started with the first webhook, sleeps
until the next delivery is due; under a fake clock tests call :meth:`pump`.

Deliveries go only to the allowed hosts (loopback by default): a refused URL is
logged as a failed attempt and never contacted, nor retried.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from mock_server.domain import lifecycle
from mock_server.domain.clock import AdjustableClock, Clock, SystemClock
from mock_server.domain.lifecycle import Links, PredictionRecord
from mock_server.domain.store import Store
from mock_server.webhooks import signing
from mock_server.webhooks.planning import Attempt, WebhookSettings, event_filter, plan

if TYPE_CHECKING:
    import httpx

__all__ = ["WebhookDispatcher"]

log = logging.getLogger(__name__)

USER_AGENT: Final = "imagen-mock-webhooks"
#: Longest the thread sleeps without looking again (a safety net; it is woken on changes).
IDLE_SECONDS: Final = 1.0
#: URLs in bodies of predictions whose creating request left no links.
_FALLBACK_LINKS: Final = Links(api="http://localhost/v1", root="http://localhost")


@dataclass(slots=True)
class _Tracked:
    url: str
    events: frozenset[str]
    links: Links
    sent: set[tuple[str, float]] = field(default_factory=set)


@dataclass(slots=True)
class _Delivery:
    prediction_id: str
    event: str
    webhook_id: str
    url: str
    body: str
    attempts: int = 0


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
    ) -> None:
        """``transport`` replaces the network (tests pass an ``httpx.MockTransport``).

        Raises:
            ValueError: if ``secret`` is not a valid ``whsec_`` secret.
        """
        signing.secret_key(secret)
        self._store = store
        self._clock = clock
        self._secret = secret
        self.settings = settings
        self._transport = transport
        background = self.settings.background
        real_time = isinstance(clock, SystemClock | AdjustableClock)
        self._background = real_time if background is None else background
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pumping = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}
        self._retries: list[tuple[float, int, _Delivery]] = []
        self._order = itertools.count()
        self._log: deque[Attempt] = deque(maxlen=self.settings.log_limit)
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._woken = False
        self._closed = False
        self._resets = 0  # an attempt begun before a reset is neither logged nor retried
        self._stop_listening = (
            clock.on_advance(self.wake) if isinstance(clock, AdjustableClock) else None
        )

    def created(self, record: PredictionRecord) -> None:
        """Follow a new prediction if it has a webhook (starting the thread if needed)."""
        url = record.extra.get("webhook")
        if not isinstance(url, str):
            return
        links = record.extra.get("links")
        tracked = _Tracked(
            url=url,
            events=event_filter(record.extra.get("webhook_events_filter")),
            links=links if isinstance(links, Links) else _FALLBACK_LINKS,
        )
        with self._wake:
            if self._closed:
                return
            self._tracked[record.id] = tracked
            self._poke()
            if self._background and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="imagen-mock-webhooks", daemon=True
                )
                self._thread.start()

    def changed(self, record: PredictionRecord) -> None:
        """Look again at a prediction whose record changed (a cancel moves ``completed``)."""
        with self._wake:
            if record.id in self._tracked:
                self._poke()

    def wake(self) -> None:
        """Look again now (the clock was moved)."""
        with self._wake:
            self._poke()

    def is_running(self) -> bool:
        """Whether the background thread is alive."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def pump(self) -> list[Attempt]:
        """Make every attempt due at the clock's current time, in order; return them."""
        with self._pumping:
            with self._lock:
                if self._closed:
                    return []
                due = self._take_due(self._clock.now())
                resets = self._resets
            return [self._attempt(delivery, resets) for delivery in due]

    def next_due(self) -> float | None:
        """When the next attempt is due, None if nothing is pending."""
        with self._lock:
            return self._next_due()

    def attempts(self, prediction_id: str | None = None, event: str | None = None) -> list[Attempt]:
        """Logged attempts, oldest first, optionally of one prediction or event."""
        with self._lock:
            return [
                attempt
                for attempt in self._log
                if (prediction_id is None or attempt.prediction_id == prediction_id)
                and (event is None or attempt.event == event)
            ]

    def clear(self) -> None:
        """Forget the logged attempts (pending deliveries and retries go on)."""
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget everything: logged attempts, followed predictions and pending retries."""
        with self._wake:
            self._resets += 1
            self._log.clear()
            self._tracked.clear()
            self._retries.clear()
            self._poke()

    def close(self) -> None:
        """Stop the thread (waiting for an attempt in flight) and close connections."""
        if self._stop_listening is not None:
            self._stop_listening()
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.settings.timeout_seconds + 5.0)
        with self._pumping, self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _poke(self) -> None:
        self._woken = True
        self._wake.notify_all()

    def _take_due(self, now: float) -> list[_Delivery]:
        """New deliveries and retries due at ``now``, oldest first; call with the lock held."""
        work: list[tuple[float, int, _Delivery]] = []
        for prediction_id, tracked in list(self._tracked.items()):
            record = self._store.get(prediction_id)
            if record is None:
                del self._tracked[prediction_id]
                continue
            pending = [
                item
                for item in plan(record, tracked.events)
                if (item.event, item.at) not in tracked.sent
            ]
            for item in pending:
                if item.at > now:
                    break
                tracked.sent.add((item.event, item.at))
                shown = lifecycle.render(record, item.at, tracked.links)
                body = json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
                delivery = _Delivery(
                    prediction_id, item.event, signing.new_message_id(), tracked.url, body
                )
                work.append((item.at, next(self._order), delivery))
            if all(item.at <= now for item in pending):
                del self._tracked[prediction_id]
        while self._retries and self._retries[0][0] <= now:
            work.append(heapq.heappop(self._retries))
        work.sort(key=lambda entry: entry[:2])
        return [delivery for _, _, delivery in work]

    def _next_due(self) -> float | None:
        times = [entry[0] for entry in self._retries[:1]]
        for prediction_id, tracked in self._tracked.items():
            record = self._store.get(prediction_id)
            if record is None:
                continue
            times += [
                item.at
                for item in plan(record, tracked.events)
                if (item.event, item.at) not in tracked.sent
            ][:1]
        return min(times, default=None)

    def _attempt(self, delivery: _Delivery, resets: int) -> Attempt:
        """Try one delivery once; log it and schedule the retry it earns, unless a reset
        came after ``resets`` were counted (the attempt then belongs to the past)."""
        delivery.attempts += 1
        attempted_at = self._clock.now()
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signing.headers(self._secret, delivery.webhook_id, int(attempted_at), delivery.body),
        }
        status: int | None = None
        error = self.settings.refusal(delivery.url)
        retry = error is None
        if error is None:
            import httpx  # imported on the first delivery, not at start-up

            try:
                response = self._http().post(
                    delivery.url, content=delivery.body.encode(), headers=headers
                )
            except httpx.TimeoutException as exc:
                error = f"timed out after {self.settings.timeout_seconds:g} s ({exc!r})"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if 300 <= status < 400:
                    error = f"HTTP {status}; redirects are not followed"
                elif not response.is_success:
                    error = f"HTTP {status}"
        delay = self.settings.retry_delay(delivery.attempts) if error and retry else None
        retry_at = None if delay is None else self._clock.now() + delay
        attempt = Attempt(
            prediction_id=delivery.prediction_id,
            event=delivery.event,
            webhook_id=delivery.webhook_id,
            url=delivery.url,
            attempt=delivery.attempts,
            attempted_at=attempted_at,
            status_code=status,
            error=error,
            retry_at=retry_at,
            headers=headers,
            body=delivery.body,
        )
        with self._wake:
            if resets != self._resets:
                return attempt
            self._log.append(attempt)
            if retry_at is not None and not self._closed:
                heapq.heappush(self._retries, (retry_at, next(self._order), delivery))
                self._poke()
        return attempt

    def _http(self) -> httpx.Client:
        import httpx

        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    transport=self._transport,
                    timeout=self.settings.timeout_seconds,
                    follow_redirects=False,
                    trust_env=False,
                )
            return self._client

    def _run(self) -> None:
        """The thread: pump, then sleep until the next due time or a change."""
        while self._begin_round():
            try:
                self.pump()
            except Exception:
                log.exception("webhook dispatch failed unexpectedly")
            self._sleep()

    def _begin_round(self) -> bool:
        with self._wake:
            self._woken = False
            return not self._closed

    def _sleep(self) -> None:
        with self._wake:
            if self._closed or self._woken:
                return
            due = self._next_due()
            now = self._clock.now()
            wait = IDLE_SECONDS if due is None else min(max(due - now, 0.0), IDLE_SECONDS)
            if wait > 0:
                self._wake.wait(wait)
