"""Rendered prediction bodies, kept while they cannot change.

A prediction's JSON depends on its record, the time and the server's URLs. Between
two moments of its life (see :func:`mock_server.domain.lifecycle.stable_span`) the time
does not matter, so a poll can reuse the bytes of the previous poll. An entry is
used only for the very record object it was rendered from: a cancel replaces the
record, and so misses the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links

__all__ = ["BodyCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    record: PredictionRecord
    lo: float
    hi: float
    body: bytes


class BodyCache:
    """A bounded map of (prediction, URLs) to its rendered body. Thread-safe.

    When full, the oldest entries go first. Single dict operations are atomic, so
    readers take no lock; two threads rendering the same miss both store an
    equal body.
    """

    def __init__(self, size: int = 4096) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._size = size
        self._entries: dict[tuple[str, str, str], _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def body(
        self,
        record: PredictionRecord,
        now: float,
        links: Links,
        render: Callable[[PredictionRecord, float, Links], bytes],
    ) -> bytes:
        """The body of ``record`` at ``now``: from the cache, or ``render(...)`` and kept."""
        key = (record.id, links.api, links.root)
        entry = self._entries.get(key)
        if entry is not None and entry.record is record and entry.lo <= now < entry.hi:
            return entry.body
        body = render(record, now, links)
        lo, hi = lifecycle.stable_span(record, now)
        if len(self._entries) >= self._size:
            self._evict()
        self._entries[key] = _Entry(record, lo, hi, body)
        return body

    def clear(self) -> None:
        """Forget every body (after a reset)."""
        self._entries.clear()

    def _evict(self) -> None:
        """Drop the oldest eighth of the entries."""
        for key in list(self._entries)[: max(1, self._size // 8)]:
            self._entries.pop(key, None)
