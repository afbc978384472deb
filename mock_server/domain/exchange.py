"""A request and its answer as they were: what the request path keeps for the journal.

Masking the token, cutting bodies and decoding them costs far more than noting what
arrived, and most entries are never read. So the request path keeps an
:class:`Exchange` (a copy of the WSGI environ, the bodies as they are, a few scalars: a
few microseconds) and the :class:`~mock_server.domain.journal.JournalEntry`, which holds
no token, is made from it only when someone reads the journal (a shared journal's part
is made and written when a read asks for it). An exchange stays in its process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from mock_server.domain.journal import BODY_LIMIT, JournalEntry, bearer_token, mask_headers, scrub

__all__ = ["Exchange", "header_pairs", "request_path"]

#: Environ keys of the two headers CGI does not prefix with ``HTTP_``.
_UNPREFIXED: Final = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
#: Answers whose bodies the journal keeps as text.
_TEXT_TYPES: Final = ("application/json", "application/problem+json", "text/")
#: What some servers also set for those two, which the unprefixed keys already carry.
_DOUBLED: Final = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def request_path(environ: Mapping[str, Any]) -> str:
    """The path of a WSGI environ's request, decoded (UTF-8, as Werkzeug reads it:
    ``PATH_INFO`` holds the bytes sent as Latin-1), with one leading slash."""
    raw = str(environ.get("PATH_INFO") or "")
    return "/" + raw.encode("latin-1").decode(errors="replace").lstrip("/")


def header_pairs(environ_items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """The headers among a WSGI environ's items, as sent (``Content-Type``, from
    ``CONTENT_TYPE``; ``X-Mock-Status``, from ``HTTP_X_MOCK_STATUS``), in the order
    given, as Werkzeug reads them: an empty ``CONTENT_TYPE`` or ``CONTENT_LENGTH`` is no
    header."""
    pairs: list[tuple[str, str]] = []
    for key, value in environ_items:
        unprefixed = _UNPREFIXED.get(key)
        if unprefixed is not None:
            if value:
                pairs.append((unprefixed, str(value)))
        elif key.startswith("HTTP_") and key not in _DOUBLED:
            pairs.append((key[5:].replace("_", "-").title(), str(value)))
    return pairs


class Exchange:
    """One predictions API request and its answer, unmasked; :meth:`entry` is what the
    journal shows of it (made once, then kept)."""

    __slots__ = (
        "_entry",
        "at",
        "body",
        "environ",
        "id",
        "prediction_id",
        "response_body",
        "response_headers",
        "route",
        "seconds",
        "status",
    )

    def __init__(  # positional too: a call by keywords costs the request path ~0.5 µs
        self,
        id: str,
        at: float,
        environ: Mapping[str, Any],
        body: bytes | None,
        status: int,
        seconds: float,
        route: str | None,
        prediction_id: str | None,
        response_headers: Iterable[tuple[str, str]],
        response_body: Iterable[bytes | str] | None,
    ) -> None:
        self.id = id
        self.at = at
        self.environ = environ
        """The request's WSGI environ (a copy): path, method, query and headers are read
        from it."""
        self.body = body
        self.status = status
        self.seconds = seconds
        """From the request's arrival to its answer."""
        self.route = route
        self.prediction_id = prediction_id
        self.response_headers = response_headers
        """The answer's headers, read when the entry is made (no one changes them once
        the answer is journaled)."""
        self.response_body = response_body
        """The answer's body in parts (None: streamed); kept as text only if the answer's
        type is text or JSON."""
        self._entry: JournalEntry | None = None

    def entry(self) -> JournalEntry:
        """The journal's entry: the ``Authorization`` value cut to its scheme, the token
        cut out of every other part, bodies decoded and cut at
        :data:`~mock_server.domain.journal.BODY_LIMIT`."""
        made = self._entry
        if made is None:
            made = self._entry = self._make()
            self.environ, self.body, self.response_body = {}, None, None  # kept in the entry
        return made

    def _make(self) -> JournalEntry:
        environ = self.environ
        token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
        secrets = (token,) if token else ()
        headers = mask_headers(header_pairs(environ.items()))
        if secrets:
            headers = tuple((name, scrub(value, secrets)) for name, value in headers)
        body, cut_in = _text(self.body)
        response_headers = tuple(self.response_headers)
        parts = self.response_body
        answer = None
        if parts is not None and _is_text(response_headers):
            answer = b"".join(part if isinstance(part, bytes) else part.encode() for part in parts)
        response_body, cut_out = _text(answer)
        return JournalEntry(
            id=self.id,
            at=self.at,
            method=str(environ.get("REQUEST_METHOD", "")),
            path=scrub(request_path(environ), secrets),
            route=self.route,
            query_string=scrub(str(environ.get("QUERY_STRING", "")), secrets),
            headers=headers,
            body=scrub(body, secrets) if body is not None else None,
            status=self.status,
            duration_ms=round(self.seconds * 1000, 3),
            prediction_id=self.prediction_id,
            response_headers=response_headers,
            response_body=scrub(response_body, secrets) if response_body is not None else None,
            truncated=cut_in or cut_out,
        )


def _is_text(headers: Sequence[tuple[str, str]]) -> bool:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.lower().startswith(_TEXT_TYPES)
    return False


def _text(data: bytes | None) -> tuple[str | None, bool]:
    if data is None:
        return None, False
    cut = len(data) > BODY_LIMIT
    return data[:BODY_LIMIT].decode("utf-8", errors="replace"), cut
