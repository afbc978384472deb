"""The request journal: what arrived at the predictions API and what it was answered.

Every request to the predictions API (``/v1``, ``/replicate/v1``) becomes one
:class:`JournalEntry`: method, path and route, query, headers, body, status, duration
and the prediction it concerns. The Bearer token never enters an entry: the
``Authorization`` header keeps only its scheme, and the token is cut out of every other
part where it appears (:func:`scrub`).

A :class:`Journal` keeps the newest entries up to a limit, the oldest dropped first.
Its interface is small (append, read all, clear, whether it answers) so that each
store has its own: :class:`MemoryJournal` here, a Redis sorted set shared by replicas in
:mod:`mock_server.storage.redis_journal`. What to show is chosen by
:class:`JournalFilter`, the same for the admin API, the HAR export and the pytest
plugin.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "BODY_LIMIT",
    "MASK",
    "ROUTES",
    "Journal",
    "JournalEntry",
    "JournalFilter",
    "MemoryJournal",
    "Recorded",
    "mask_headers",
    "scrub",
]

#: The predictions API's routes, by the name rules and the journal give them.
ROUTES: Final = ("create", "get", "cancel", "list", "secret")
#: What stands in for a token.
MASK: Final = "***"
#: Most characters of a request or response body an entry keeps (the rest is cut).
BODY_LIMIT: Final = 64 * 1024
#: Headers whose whole value is a credential: only the scheme is kept.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization"})


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One predictions API request and its answer. Holds no token."""

    id: str
    """Unique within the journal (``req_`` + hex)."""
    at: float
    """When the request arrived, by the mock's clock (seconds since the epoch)."""
    method: str
    path: str
    """The path as sent (``/v1/predictions/abc``)."""
    route: str | None
    """``create``, ``get``, ``cancel``, ``list``, ``secret``; None for no route (a 404)."""
    query_string: str
    """The query as sent, without ``?`` ('' when there is none)."""
    headers: tuple[tuple[str, str], ...]
    """Request headers in arrival order, credentials masked."""
    body: str | None
    """The request body as text (None when there was none), cut at :data:`BODY_LIMIT`."""
    status: int
    duration_ms: float
    """From the request's admission to its answer (an event stream: to its headers)."""
    prediction_id: str | None
    """The prediction it created or named, if any."""
    response_headers: tuple[tuple[str, str], ...] = ()
    response_body: str | None = None
    """The answer's body as text, cut at :data:`BODY_LIMIT` (None: streamed or binary)."""
    truncated: bool = False
    """Whether a body was cut."""

    def entry(self) -> JournalEntry:
        """Itself (an entry is :class:`Recorded` as it is)."""
        return self

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON holds it (headers as ``[name, value]`` pairs)."""
        return {  # by hand: dataclasses.asdict deep-copies, at twenty times the cost
            "id": self.id,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "route": self.route,
            "query_string": self.query_string,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "prediction_id": self.prediction_id,
            "response_headers": [list(pair) for pair in self.response_headers],
            "response_body": self.response_body,
            "truncated": self.truncated,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> JournalEntry:
        """An entry written by :meth:`as_dict`.

        Raises:
            KeyError, TypeError, ValueError: if ``doc`` is not such an entry.
        """
        return cls(
            id=str(doc["id"]),
            at=float(doc["at"]),
            method=str(doc["method"]),
            path=str(doc["path"]),
            route=doc["route"],
            query_string=str(doc["query_string"]),
            headers=tuple((str(name), str(value)) for name, value in doc["headers"]),
            body=doc["body"],
            status=int(doc["status"]),
            duration_ms=float(doc["duration_ms"]),
            prediction_id=doc["prediction_id"],
            response_headers=tuple(
                (str(name), str(value)) for name, value in doc.get("response_headers", ())
            ),
            response_body=doc.get("response_body"),
            truncated=bool(doc.get("truncated", False)),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JournalEntry:
        """Raises: ValueError, KeyError, TypeError: if ``text`` is not an entry's JSON."""
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("a journal entry must be a JSON object")
        return cls.from_dict(doc)


@dataclass(frozen=True, slots=True)
class JournalFilter:
    """Which entries to show; a field left None does not narrow."""

    route: str | None = None
    method: str | None = None
    """Compared without regard to case."""
    status: int | None = None
    prediction_id: str | None = None
    since: float | None = None
    """Entries that arrived at or after this instant (mock clock)."""

    def matches(self, entry: JournalEntry) -> bool:
        return (
            (self.route is None or entry.route == self.route)
            and (self.method is None or entry.method == self.method.upper())
            and (self.status is None or entry.status == self.status)
            and (self.prediction_id is None or entry.prediction_id == self.prediction_id)
            and (self.since is None or entry.at >= self.since)
        )

    def select(self, entries: Iterable[JournalEntry]) -> list[JournalEntry]:
        """The entries it matches, in the order given."""
        return [entry for entry in entries if self.matches(entry)]


class Recorded(Protocol):
    """What a journal is handed: an entry, or what an entry is made from when it is read
    (:class:`~mock_server.domain.exchange.Exchange`)."""

    def entry(self) -> JournalEntry:
        """The entry (made at most once)."""
        ...


class Journal(Protocol):
    """Where entries are kept, oldest first, up to a limit. Thread-safe."""

    limit: int
    """Most entries kept; an append past it drops the oldest."""

    def append(self, entry: Recorded) -> None:
        """Keep ``entry`` as the newest (made into a :class:`JournalEntry` when read)."""
        ...

    def entries(self) -> list[JournalEntry]:
        """Every entry kept, oldest first."""
        ...

    def clear(self) -> None:
        """Drop every entry."""
        ...

    def ping(self) -> None:
        """Return if the journal answers; raise what its store raises if not."""
        ...


class MemoryJournal:
    """A journal in this process: a bounded deque of what it was handed, each made an
    entry when first read."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: deque[Recorded] = deque(maxlen=max(limit, 0))
        self._lock = threading.Lock()

    def append(self, entry: Recorded) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            kept = list(self._entries)
        return [item.entry() for item in kept]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def ping(self) -> None:
        return None


def mask_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``headers`` with every credential replaced by :data:`MASK` (the scheme kept:
    ``Bearer ***``)."""
    masked: list[tuple[str, str]] = []
    for name, value in headers:
        if name.lower() in _SECRET_HEADERS:
            scheme, _, rest = value.strip().partition(" ")
            value = f"{scheme} {MASK}" if rest else MASK
        masked.append((name, value))
    return tuple(masked)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (the request's token) replaced by :data:`MASK`."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, MASK)
    return text


def bearer_token(header: str | None) -> str | None:
    """The credential in an ``Authorization`` header value, if it has one."""
    if not header:
        return None
    _, _, token = header.strip().partition(" ")
    token = token.strip() or header.strip()
    return token or None
