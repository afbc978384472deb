"""How a prediction record is written in a shared store: compact JSON, and back."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from mock_server.domain import lifecycle
from mock_server.domain.lifecycle import Links, PredictionRecord

__all__ = ["decode", "encode", "text"]

_FIELDS: Final = frozenset(field.name for field in dataclasses.fields(PredictionRecord))
#: Key of the encoded record holding the ``extra`` values that are :class:`Links`.
_LINKS_KEY: Final = "$links"


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def encode(record: PredictionRecord) -> bytes:
    """The record as compact JSON; :class:`Links` in ``extra`` go under ``$links``.

    Raises:
        TypeError: if the record holds a value JSON cannot carry.
    """
    data: dict[str, Any] = {name: getattr(record, name) for name in _FIELDS}
    links = {key: value for key, value in record.extra.items() if isinstance(value, Links)}
    if links:
        data["extra"] = {key: value for key, value in record.extra.items() if key not in links}
        data[_LINKS_KEY] = {key: [value.api, value.root] for key, value in links.items()}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


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
