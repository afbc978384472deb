"""How a shared store writes a prediction record (compact JSON) and its index entry
(``<sort key as 24 hex digits>:<id>``, so that entries sort by text as by sort key)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.store import micros

__all__ = [
    "CANCEL_HEAD",
    "cancel_tail",
    "decode",
    "encode",
    "id_of",
    "index_member_prefix",
    "key_of",
    "lex_range",
    "members",
    "text",
    "time_digits",
]

_FIELDS: Final = frozenset(field.name for field in dataclasses.fields(PredictionRecord))
#: Every encoded record starts with its cancel time, so a script can set it by text.
CANCEL_HEAD: Final = b'{"canceled_at":'
_UNCANCELED: Final = CANCEL_HEAD + b"null"
#: Key of the encoded record holding the ``extra`` values that are :class:`Links`.
_LINKS_KEY: Final = "$links"
#: Hex digits of a sort key in an index entry; the creation time takes the first 14.
_KEY_DIGITS: Final = 24
_TIME_DIGITS: Final = 14


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def encode(record: PredictionRecord) -> bytes:
    """The record as compact JSON; :class:`Links` in ``extra`` go under ``$links``.

    Raises:
        TypeError: if the record holds a value JSON cannot carry.
    """
    data: dict[str, Any] = {"canceled_at": record.canceled_at}  # first: see cancel_tail
    data.update((name, getattr(record, name)) for name in _FIELDS if name != "canceled_at")
    links = {key: value for key, value in record.extra.items() if isinstance(value, Links)}
    if links:
        data["extra"] = {key: value for key, value in record.extra.items() if key not in links}
        data[_LINKS_KEY] = {key: [value.api, value.root] for key, value in links.items()}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate (JSON allows "\ud800"): escape it
        return json.dumps(data, separators=(",", ":")).encode()


def cancel_tail(record: PredictionRecord) -> bytes:
    """What follows the cancel time in the encoding of ``record`` canceled at any time:
    ``CANCEL_HEAD + <time as a JSON number> + cancel_tail(record)`` is
    ``encode(replace(record, canceled_at=time))``.

    Raises:
        TypeError: if the record holds a value JSON cannot carry.
    """
    raw = encode(dataclasses.replace(record, canceled_at=None))
    assert raw.startswith(_UNCANCELED)
    return raw[len(_UNCANCELED) :]


def decode(raw: bytes | str) -> PredictionRecord:
    """The record :func:`encode` wrote, equal to the original.

    Raises:
        ValueError: if ``raw`` is not an encoded record.
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an encoded prediction record is a JSON object")
    fields = {name: value for name, value in data.items() if name in _FIELDS}
    extra = dict(fields.get("extra", {}))
    for key, (api, root) in data.get(_LINKS_KEY, {}).items():
        extra[key] = Links(api=api, root=root)
    fields["extra"] = extra
    fields["input"] = lifecycle._shared_strings(fields.get("input", {}))
    fields["log_lines"] = tuple(fields.get("log_lines", ()))
    try:
        return PredictionRecord(**fields)
    except TypeError as error:
        raise ValueError(f"not an encoded prediction record: {error}") from error


def time_digits(created_at: float) -> str:
    """The creation-time part of an index entry (the insertion number follows)."""
    return f"{micros(created_at):0{_TIME_DIGITS}x}"


def index_member_prefix(key: int) -> str:
    """The text every index entry with this sort key starts with."""
    return f"{key:0{_KEY_DIGITS}x}"


def lex_range(lowest: int, end: int | None) -> tuple[str, str]:
    """Sort keys ``[lowest, end)`` as bounds of a ``BYLEX`` range of index members."""
    high = "+" if end is None else f"({end:0{_KEY_DIGITS}x}"
    return f"[{lowest:0{_KEY_DIGITS}x}", high


def key_of(member: str) -> int:
    """The sort key of an index member."""
    return int(member[:_KEY_DIGITS], 16)


def id_of(member: str) -> str:
    """The prediction id of an index member."""
    return member[_KEY_DIGITS + 1 :]


def members(reply: object) -> list[str]:
    """Members of a sorted-set range reply without scores."""
    assert isinstance(reply, list)
    return [text(member) for member in reply]
