"""A prediction as the API shows it: the JSON of a record at a time ``now``.

:func:`render` turns a :class:`~mock_server.domain.lifecycle.PredictionRecord` into the
body Replicate answers with, from the status, logs and times that
:mod:`mock_server.domain.lifecycle` derives; :class:`Links` says which server's URLs it
carries and :class:`Shape` the choices where the evidence is thin. Times are written as
Replicate writes them (:func:`format_time`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from mock_server.domain.lifecycle import (
    TERMINAL,
    PredictionRecord,
    data_removed_at,
    ends_at,
    error_of,
    moments,
    output_path,
    predict_time,
    started_at,
    status_at,
)

__all__ = ["Links", "Shape", "format_time", "render"]


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URL prefixes for the server that answers the current request."""

    api: str
    """Base of the API, such as ``https://host/replicate/v1``."""
    root: str
    """Scheme and host with no path, such as ``https://host``."""


def format_time(moment: float, digits: int = 3) -> str:
    """RFC 3339 in UTC with a ``Z``, as Replicate writes times: ``digits`` of fractional
    seconds (3 or 6), trailing zeros dropped (``2024-04-22T11:15:01.04Z``), no fraction
    at all on a whole second."""
    spec = "milliseconds" if digits <= 3 else "microseconds"
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec=spec).removesuffix("+00:00")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


def _logs_at(record: PredictionRecord, now: float) -> str:
    return "".join(
        f"{moment.text}\n"
        for moment in moments(record)
        if moment.kind == "logs" and moment.at <= now
    )


@dataclass(frozen=True, slots=True)
class Shape:
    """Choices about how predictions are written where the evidence is thin."""

    total_time: bool = False
    """Add ``metrics.total_time`` (creation to end): some recorded API answers carry it,
    imagen's do not."""


_PLAIN: Final = Shape()


def render(
    record: PredictionRecord,
    now: float,
    links: Links,
    *,
    as_created: bool = False,
    shape: Shape | None = None,
) -> dict[str, Any]:
    """The prediction as the API shows it at ``now``, with URLs under ``links``.

    ``as_created`` shows it as at the instant of creation (``starting``, no logs),
    which is what a create request without ``Prefer: wait`` answers, however short
    the configured phases are.

    Keys appear only once they exist, in the order real answers have them: a
    ``starting`` prediction has exactly the keys of the seed's example; ``started_at``
    follows ``created_at`` once the model runs; ``completed_at``, then ``metrics``
    after ``urls``, once it has ended; ``deadline`` (after the times) only when one is
    set. ``input`` keys are sorted (see :func:`~mock_server.domain.lifecycle.new_record`).
    """
    if as_created:
        now = -math.inf
    status = status_at(record, now)
    start = started_at(record)
    running = start <= min(now, ends_at(record))
    removed = now >= data_removed_at(record)
    ended = status in TERMINAL
    output = None
    error = None
    if status == "succeeded" and not removed:
        output = links.root + output_path(record)
    elif status == "failed":
        error = error_of(record)
    shown: dict[str, Any] = {
        "id": record.id,
        "model": record.model,
        "version": "hidden",
        "input": {} if removed else record.input,
        "logs": None if removed else _logs_at(record, now),
        "output": output,
        "data_removed": removed,
        "error": error,
        "status": status,
        "created_at": format_time(record.created_at),
    }
    if running:
        shown["started_at"] = format_time(start, 6)
    if ended:
        shown["completed_at"] = format_time(ends_at(record), 6)
    if record.deadline is not None:
        shown["deadline"] = format_time(record.deadline)
    shown["urls"] = {
        "cancel": f"{links.api}/predictions/{record.id}/cancel",
        "get": f"{links.api}/predictions/{record.id}",
        "stream": f"{links.root}/stream/{record.id}",
        "web": f"{links.root}/p/{record.id}",
    }
    if ended:
        shown["metrics"] = _metrics(record, status, running, shape or _PLAIN)
    return shown


def _metrics(record: PredictionRecord, status: str, ran: bool, shape: Shape) -> dict[str, Any]:
    """``metrics`` of an ended prediction, keys sorted as Replicate writes them."""
    end = ends_at(record)
    metrics: dict[str, Any] = {}
    if status == "succeeded":
        metrics["image_count"] = 1
    if ran:
        metrics["predict_time"] = predict_time(record, end - started_at(record))
    if shape.total_time:
        metrics["total_time"] = round(end - record.created_at, 6)
    return metrics
