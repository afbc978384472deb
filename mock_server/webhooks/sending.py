"""One webhook attempt: sign the body, POST it with httpx, say how it went.

:class:`Sender` owns the httpx client (thread-safe, shared by every sending thread) and
the rules for an answer: 2xx is delivered; a redirect, another status, a timeout or a
connection error is a failure worth a retry; a URL outside the allowed hosts is refused
without being contacted and is not retried. Failures come back as a :class:`Result`,
never as an exception. :func:`receiver_of` names the receiver a URL points to,
the unit that per-receiver limits count in.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from mock_server.webhooks import signing
from mock_server.webhooks.planning import Attempt, WebhookSettings

if TYPE_CHECKING:
    import httpx

__all__ = ["USER_AGENT", "Delivery", "Result", "Sender", "log_failure", "receiver_of"]

log = logging.getLogger(__name__)

USER_AGENT: Final = "imagen-mock-webhooks"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(slots=True)
class Delivery:
    """One event of one prediction, to be attempted until delivered or given up."""

    prediction_id: str
    event: str
    webhook_id: str
    url: str
    body: str
    at: float
    """When the next attempt is due (sorts deliveries made in one turn)."""
    order: int
    """Ties ``at``: deliveries due at the same time go in this order."""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    """How one attempt went."""

    headers: dict[str, str]
    status_code: int | None
    error: str | None
    retry: bool
    """Whether a failure is worth another attempt (a refused URL is not)."""


def receiver_of(url: str) -> str:
    """``scheme://host:port`` of ``url`` (the URL itself if it does not parse)."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return url
    return f"{parts.scheme.lower()}://{(parts.hostname or '').rstrip('.')}:{port}"


class Sender:
    """Makes attempts; safe to call from several threads at once."""

    def __init__(
        self,
        secret: str,
        settings: WebhookSettings,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secret = secret
        self._settings = settings
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._closed = False

    def attempt(self, delivery: Delivery, now: float) -> Result:
        """POST ``delivery`` once (signed at ``now``) and say how it went."""
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signing.headers(self._secret, delivery.webhook_id, int(now), delivery.body),
        }
        refusal = self._settings.refusal(delivery.url)
        if refusal is not None:
            return Result(headers, None, refusal, retry=False)
        status, error = self._post(delivery, headers)
        return Result(headers, status, error, retry=error is not None)

    def _post(self, delivery: Delivery, headers: dict[str, str]) -> tuple[int | None, str | None]:
        import httpx  # imported on the first delivery, not at start-up

        client = self._http()
        if client is None:
            return None, "the mock is shutting down"
        try:
            response = client.post(delivery.url, content=delivery.body.encode(), headers=headers)
        except httpx.TimeoutException as exc:
            return None, f"timed out after {self._settings.timeout_seconds:g} s ({exc!r})"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except RuntimeError as exc:  # the client was closed while the request was out
            if self._is_closed():
                return None, f"the mock is shutting down ({exc})"
            raise
        status = response.status_code
        if 300 <= status < 400:
            return status, f"HTTP {status}; redirects are not followed"
        if not response.is_success:
            return status, f"HTTP {status}"
        return status, None

    def _http(self) -> httpx.Client | None:
        import httpx

        with self._lock:
            if self._client is None and not self._closed:
                self._client = httpx.Client(
                    transport=self._transport,
                    timeout=self._settings.timeout_seconds,
                    follow_redirects=False,
                    trust_env=False,
                )
            return self._client

    def _is_closed(self) -> bool:
        with self._lock:
            return self._closed

    def close(self) -> None:
        """Close the connections; later attempts fail without being sent."""
        with self._lock:
            client, self._client = self._client, None
            self._closed = True
        if client is not None:
            client.close()


def log_failure(attempt: Attempt, delay: float | None) -> None:
    """One line for a failed attempt (an expected condition: no traceback)."""
    then = "giving up" if delay is None else f"next attempt in {delay:g} s"
    log.log(
        logging.INFO if delay is not None else logging.WARNING,
        "webhook %s of prediction %s to %s failed (attempt %d): %s; %s",
        attempt.event,
        attempt.prediction_id,
        attempt.url,
        attempt.attempt,
        attempt.error,
        then,
    )
