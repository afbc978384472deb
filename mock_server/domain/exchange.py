"""A request and its answer as they were: what the request path keeps for the journal.

Masking the token, cutting bodies and decoding them costs far more than noting what
arrived, and most entries are never read. So the request path keeps an
:class:`Exchange` (the environ's headers, the bodies as bytes, a few scalars: a few
microseconds) and the :class:`~mock_server.domain.journal.JournalEntry`, which holds no
token, is made from it only when someone reads the journal, or when a writer thread
stores it in a shared journal. The scalars a filter looks at (route, method, status,
prediction, arrival) are the entry's, so a journal can be filtered without making
entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mock_server.domain.journal import BODY_LIMIT, JournalEntry, bearer_token, mask_headers, scrub

__all__ = ["Exchange", "header_pairs"]

#: Environ keys of the two headers CGI does not prefix with ``HTTP_``.
_UNPREFIXED: Final = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
#: What some servers also set for those two, which the unprefixed keys already carry.
_DOUBLED: Final = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def header_pairs(environ_headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers as sent (``Content-Type``), from their WSGI environ keys (``CONTENT_TYPE``,
    ``HTTP_X_MOCK_STATUS``), in the order given, as Werkzeug reads them: an empty
    ``CONTENT_TYPE`` or ``CONTENT_LENGTH`` is no header."""
    pairs: list[tuple[str, str]] = []
    for key, value in environ_headers:
        unprefixed = _UNPREFIXED.get(key)
        if unprefixed is not None:
            if value:
                pairs.append((unprefixed, value))
        elif key.startswith("HTTP_") and key not in _DOUBLED:
            pairs.append((key[5:].replace("_", "-").title(), value))
    return pairs


class Exchange:
    """One predictions API request and its answer, unmasked; :meth:`entry` is what the
    journal shows of it (made once, then kept)."""

    __slots__ = (
        "_entry",
        "at",
        "body",
        "duration_ms",
        "environ_headers",
        "id",
        "method",
        "path",
        "prediction_id",
        "query_string",
        "response_body",
        "response_headers",
        "route",
        "status",
    )

    def __init__(
        self,
        *,
        id: str,
        at: float,
        method: str,
        path: str,
        route: str | None,
        query_string: str,
        environ_headers: Sequence[tuple[str, str]],
        body: bytes | None,
        status: int,
        duration_ms: float,
        prediction_id: str | None,
        response_headers: Sequence[tuple[str, str]],
        response_body: bytes | None,
    ) -> None:
        self.id = id
        self.at = at
        self.method = method
        self.path = path
        self.route = route
        self.query_string = query_string
        self.environ_headers = environ_headers
        """Request headers by their WSGI environ keys (``HTTP_AUTHORIZATION``)."""
        self.body = body
        self.status = status
        self.duration_ms = duration_ms
        self.prediction_id = prediction_id
        self.response_headers = response_headers
        self.response_body = response_body
        """None: streamed or not text."""
        self._entry: JournalEntry | None = None

    def entry(self) -> JournalEntry:
        """The journal's entry: the ``Authorization`` value cut to its scheme, the token
        cut out of every other part, bodies decoded and cut at
        :data:`~mock_server.domain.journal.BODY_LIMIT`."""
        made = self._entry
        if made is None:
            made = self._entry = self._make()
        return made

    def _make(self) -> JournalEntry:
        token = bearer_token(dict(self.environ_headers).get("HTTP_AUTHORIZATION"))
        secrets = (token,) if token else ()
        headers = mask_headers(header_pairs(self.environ_headers))
        if secrets:
            headers = tuple((name, scrub(value, secrets)) for name, value in headers)
        body, cut_in = _text(self.body)
        response_body, cut_out = _text(self.response_body)
        return JournalEntry(
            id=self.id,
            at=self.at,
            method=self.method,
            path=scrub(self.path, secrets),
            route=self.route,
            query_string=scrub(self.query_string, secrets),
            headers=headers,
            body=scrub(body, secrets) if body is not None else None,
            status=self.status,
            duration_ms=self.duration_ms,
            prediction_id=self.prediction_id,
            response_headers=tuple(self.response_headers),
            response_body=scrub(response_body, secrets) if response_body is not None else None,
            truncated=cut_in or cut_out,
        )


def _text(data: bytes | None) -> tuple[str | None, bool]:
    if data is None:
        return None, False
    cut = len(data) > BODY_LIMIT
    return data[:BODY_LIMIT].decode("utf-8", errors="replace"), cut
