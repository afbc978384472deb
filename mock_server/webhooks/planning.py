"""Which webhook deliveries a prediction gets and when, and the rules for sending them.

Pure and Flask-free. :func:`plan` turns a prediction's record into its deliveries:

- ``start`` and ``completed`` are sent whenever the filter lets them through;
- ``logs`` and ``output`` are each sent at most once every :data:`THROTTLE_SECONDS`
  per prediction. A change inside the window is coalesced into one delivery at
  the window's end, which shows the latest state; such a delivery that would come
  after ``completed`` is dropped when ``completed`` is sent (it carries that state).

A cancel or a deadline changes the record, so the plan: later deliveries drop out
and ``completed`` moves earlier. :mod:`mock_server.webhooks.delivery` sends the plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from mock_server.domain import lifecycle, rendering
from mock_server.domain.lifecycle import PredictionRecord

__all__ = [
    "EVENTS",
    "THROTTLE_SECONDS",
    "Attempt",
    "Planned",
    "WebhookSettings",
    "delivery_body",
    "event_filter",
    "parse_hosts",
    "plan",
]

EVENTS: Final = ("start", "output", "logs", "completed")
THROTTLE_SECONDS: Final = 0.5
_ORDER: Final = {"start": 0, "logs": 1, "output": 2, "completed": 3}
_EPSILON: Final = 1e-6


@dataclass(frozen=True, slots=True)
class Planned:
    """One delivery a prediction is due to get."""

    at: float
    """When, in seconds since the epoch; the body shows the prediction at this time."""
    event: str
    """``start``, ``logs``, ``output`` or ``completed``."""


def event_filter(value: object) -> frozenset[str]:
    """The events a ``webhook_events_filter`` lets through: all four when it is None."""
    if value is None:
        return frozenset(EVENTS)
    if isinstance(value, str) or not isinstance(value, Iterable):
        return frozenset()
    return frozenset(item for item in value if item in EVENTS)


def delivery_body(
    record: PredictionRecord, at: float, links: rendering.Links, shape: rendering.Shape
) -> dict[str, Any]:
    """What a delivery at ``at`` sends: the prediction as the API shows it then, and the
    create's ``webhook`` and ``webhook_events_filter`` (all four events when the create
    gave none), as real deliveries carry them."""
    shown = rendering.render(record, at, links, shape=shape)
    shown["webhook"] = record.extra.get("webhook")
    given = record.extra.get("webhook_events_filter")
    shown["webhook_events_filter"] = list(given) if isinstance(given, list) else list(EVENTS)
    return shown


def plan(record: PredictionRecord, events: frozenset[str]) -> list[Planned]:
    """The deliveries of a prediction as its record now stands, in sending order."""
    found = lifecycle.moments(record)
    completed = max(moment.at for moment in found if moment.kind == "completed")
    planned = [
        Planned(moment.at, moment.kind)
        for moment in found
        if moment.kind in {"start", "completed"} and moment.kind in events
    ]
    for kind in ("logs", "output"):
        if kind in events:
            times = _throttle([moment.at for moment in found if moment.kind == kind])
            if "completed" in events:
                times = [at for at in times if at <= completed + _EPSILON]
            planned += [Planned(at, kind) for at in times]
    return sorted(planned, key=lambda item: (item.at, _ORDER[item.event]))


def _throttle(times: list[float]) -> list[float]:
    """Delivery times for changes at ``times``: at most one per window, the rest coalesced."""
    sent: list[float] = []
    pending: float | None = None
    for at in sorted(times):
        if pending is not None:
            if at <= pending + _EPSILON:
                continue
            sent.append(pending)
            pending = None
        if not sent or at >= sent[-1] + THROTTLE_SECONDS - _EPSILON:
            sent.append(at)
        else:
            pending = sent[-1] + THROTTLE_SECONDS
    if pending is not None:
        sent.append(pending)
    return sent


def parse_hosts(value: str | Iterable[str]) -> frozenset[str]:
    """Host names from a comma-separated string or an iterable; ``*`` allows any host."""
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(_normal_host(item) for item in items if item.strip())


def _normal_host(host: str) -> str:
    return host.strip().lower().removeprefix("[").removesuffix("]").rstrip(".")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How deliveries are made; the values and their checks come from
    :class:`mock_server.config.Settings` (``Settings().webhooks()``)."""

    allowed_hosts: frozenset[str]
    """Hosts deliveries may go to; ``*`` means any. Others are refused, never contacted."""
    max_attempts: int
    """Attempts per delivery, the first included."""
    backoff_seconds: float
    """Wait before the first retry; it doubles for each further retry."""
    max_backoff_seconds: float
    """Longest wait between two attempts."""
    timeout_seconds: float
    """Time allowed for one attempt (connect, send, answer)."""
    log_limit: int
    """How many attempts the log keeps (the oldest go first)."""
    background: bool | None = None
    """Send from a background thread; None: only with a real clock (else call ``pump``)."""
    shape: rendering.Shape = field(default_factory=rendering.Shape)
    """How the prediction in a body is written (as the API writes it)."""

    def retry_delay(self, attempt: int) -> float | None:
        """Seconds to wait after failed attempt number ``attempt`` (from 1); None: give up."""
        if attempt >= self.max_attempts:
            return None
        return min(self.backoff_seconds * 2.0 ** (attempt - 1), self.max_backoff_seconds)

    def refusal(self, url: str) -> str | None:
        """Why the mock will not send to ``url``, or None if it may."""
        import httpx  # imported on the first webhook, not at start-up

        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            return f"invalid URL: {exc}"
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            return "not an absolute http(s) URL"
        host = _normal_host(parsed.host)
        if "*" in self.allowed_hosts or host in self.allowed_hosts:
            return None
        return f"host {host!r} is not in the allowed webhook hosts"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at delivering one event, sent or refused."""

    prediction_id: str
    event: str
    webhook_id: str
    """The ``webhook-id`` header: the same on every attempt of one event."""
    url: str
    attempt: int
    """1 for the first try, then 2, 3..."""
    attempted_at: float
    status_code: int | None
    """The receiver's answer, None if there was none."""
    error: str | None
    """Why the attempt failed (non-2xx, timeout, refused host...); None on success."""
    retry_at: float | None
    """When the next attempt is due, None if there will be none."""
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def delivered(self) -> bool:
        """Whether the receiver accepted it (answered 2xx)."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """The attempt as the admin API lists it."""
        return {
            "prediction_id": self.prediction_id,
            "event": self.event,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "attempt": self.attempt,
            "attempted_at": rendering.format_time(self.attempted_at),
            "delivered": self.delivered,
            "status_code": self.status_code,
            "error": self.error,
            "retry_at": None if self.retry_at is None else rendering.format_time(self.retry_at),
            "request": {"headers": self.headers, "body": self.body},
        }
