"""A prediction's life, computed from its record and the current time.

Nothing here runs in the background: a record holds when the prediction was
created and how long each phase lasts, and :func:`render` works out what the
prediction looks like at any instant. This keeps the lifecycle exact under a
fake clock and identical across threads and processes.
"""

from __future__ import annotations

import base64
import math
import secrets
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final

from mock_server.domain.safety import SAFETY_ERROR, is_blocked

__all__ = [
    "MODEL",
    "TERMINAL",
    "Links",
    "Moment",
    "PredictionRecord",
    "cancel",
    "data_removed_at",
    "ends_at",
    "error_of",
    "format_time",
    "is_terminal",
    "moments",
    "new_prediction_id",
    "new_record",
    "output_path",
    "render",
    "replace_extra",
    "stable_span",
    "started_at",
    "status_at",
]

MODEL: Final = "google/imagen-4-ultra"
TERMINAL: Final = frozenset({"succeeded", "failed", "canceled", "aborted"})
DEFAULTS: Final = {
    "aspect_ratio": "1:1",
    "output_format": "jpg",
    "safety_filter_level": "block_only_high",
}
_ID_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
#: RFC 4648 base 32, spelled in :data:`_ID_ALPHABET`.
_FROM_BASE32: Final = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ID_ALPHABET.encode("ascii")
)


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """Everything stored about one prediction; the rest is derived."""

    id: str
    """Unique id, 26 lowercase base-32 characters like Replicate's."""
    input: dict[str, Any]
    """The input exactly as the client sent it."""
    created_at: float
    """Creation time, seconds since the epoch."""
    starting_seconds: float
    """How long the prediction stays ``starting``."""
    processing_seconds: float
    """How long the model runs once started."""
    seed: int
    """The seed reported in the logs."""
    retention_seconds: float
    """How long after its end the prediction keeps its input, output and logs."""
    blocked: bool = False
    """Whether the safety filter rejects this prompt (the prediction then fails)."""
    canceled_at: float | None = None
    """When a cancel request arrived, if one did before the prediction ended."""
    deadline: float | None = None
    """When the prediction is stopped if it has not ended (from ``Cancel-After``)."""
    model: str = MODEL
    """``owner/name`` of the model."""
    source: str = "api"
    """How the prediction was created."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Room for later features (webhooks, deadlines) without changing the store."""
    failure: str | None = None
    """The error a prediction fails with for a reason other than the safety filter."""
    outcome: str = "succeed"
    """The scenario that shaped this record (see :mod:`mock_server.domain.scenarios`)."""
    log_lines: tuple[str, ...] = ()
    """Log lines to print instead of the defaults (from a recording), spread over the run."""


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URL prefixes for the server that answers the current request."""

    api: str
    """Base of the API, such as ``https://host/replicate/v1``."""
    root: str
    """Scheme and host with no path, such as ``https://host``."""


def new_prediction_id() -> str:
    """Make a random id in Replicate's format (26 base-32 characters, 130 random bits)."""
    # 17 random bytes in base 32 give 27 whole characters; the first 26 carry 130 bits.
    encoded = base64.b32encode(secrets.token_bytes(17)).translate(_FROM_BASE32)
    return encoded[:26].decode("ascii")


def new_record(
    input_: dict[str, Any],
    *,
    now: float,
    starting_seconds: float,
    processing_seconds: float,
    retention_seconds: float,
    cancel_after: float | None = None,
    log_lines: tuple[str, ...] = (),
) -> PredictionRecord:
    """Create the record of a new prediction, with the safety filter applied.

    ``cancel_after`` (seconds from now) sets the prediction's deadline.
    """
    level = str(input_.get("safety_filter_level", DEFAULTS["safety_filter_level"]))
    return PredictionRecord(
        id=new_prediction_id(),
        input=_shared_strings(input_),
        created_at=now,
        starting_seconds=max(starting_seconds, 0.0),
        processing_seconds=max(processing_seconds, 0.0),
        seed=secrets.randbelow(2**31),
        blocked=is_blocked(str(input_.get("prompt", "")), level),
        deadline=None if cancel_after is None else now + cancel_after,
        retention_seconds=max(retention_seconds, 0.0),
        log_lines=log_lines,
    )


def _shared_strings(input_: dict[str, Any]) -> dict[str, Any]:
    """The same input, with its keys and short values (enum choices) interned, so a
    hundred thousand stored predictions share one copy of each instead of holding their own."""
    return {
        sys.intern(key): sys.intern(value) if isinstance(value, str) and len(value) <= 32 else value
        for key, value in input_.items()
    }


def replace_extra(record: PredictionRecord, extra: dict[str, Any]) -> PredictionRecord:
    """The record with ``extra`` merged into its extra fields."""
    return replace(record, extra={**record.extra, **extra})


def started_at(record: PredictionRecord) -> float:
    """When the model starts (or would start) running."""
    return record.created_at + record.starting_seconds


def _stopped(record: PredictionRecord) -> tuple[float, str] | None:
    """When and why (``cancel`` or ``deadline``) the prediction is cut short, if it is."""
    natural = started_at(record) + record.processing_seconds
    stops = [
        (moment, why)
        for moment, why in ((record.canceled_at, "cancel"), (record.deadline, "deadline"))
        if moment is not None and moment < natural
    ]
    return min(stops) if stops else None


def ends_at(record: PredictionRecord) -> float:
    """When the prediction reaches its terminal status."""
    stop = _stopped(record)
    return stop[0] if stop else started_at(record) + record.processing_seconds


def data_removed_at(record: PredictionRecord) -> float:
    """When the prediction's input, output and logs are deleted."""
    return ends_at(record) + record.retention_seconds


def error_of(record: PredictionRecord) -> str | None:
    """The error the prediction fails with if it runs to its end; None if it succeeds."""
    return SAFETY_ERROR if record.blocked else record.failure


def status_at(record: PredictionRecord, now: float) -> str:
    """The prediction's status at ``now``."""
    if now < ends_at(record):
        return "processing" if now >= started_at(record) else "starting"
    stop = _stopped(record)
    if stop is None:
        return "failed" if error_of(record) is not None else "succeeded"
    moment, why = stop
    return "aborted" if why == "deadline" and moment < started_at(record) else "canceled"


def is_terminal(record: PredictionRecord, now: float) -> bool:
    """Whether the prediction has ended at ``now``."""
    return status_at(record, now) in TERMINAL


def cancel(record: PredictionRecord, now: float) -> PredictionRecord:
    """Cancel the prediction at ``now``; an ended prediction is returned unchanged."""
    if is_terminal(record, now):
        return record
    return replace(record, canceled_at=now)


def format_time(moment: float) -> str:
    """RFC 3339 with milliseconds and a ``Z``, as Replicate writes times."""
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _log_lines(record: PredictionRecord) -> list[tuple[float, str]]:
    """The model's log lines, each with the fraction of the run at which it appears."""
    if record.log_lines and not record.blocked and record.failure is None:
        last = max(len(record.log_lines) - 1, 1)
        return [(index / last, line) for index, line in enumerate(record.log_lines)]
    ratio = record.input.get("aspect_ratio", DEFAULTS["aspect_ratio"])
    lines = [
        (0.0, f"Using seed: {record.seed}"),
        (0.05, f"Generating image with aspect ratio {ratio}"),
        (0.5, "Image generated, running safety checks"),
    ]
    if record.blocked:
        lines.append((1.0, "Safety filter rejected the image"))
    elif record.failure is not None:
        lines.append((1.0, f"Prediction failed: {record.failure}"))
    else:
        lines.append((1.0, f"Generated image in {record.processing_seconds:.2f} sec"))
    return lines


@dataclass(frozen=True, slots=True)
class Moment:
    """Something that happens to a prediction at a known time."""

    at: float
    """When, in seconds since the epoch."""
    kind: str
    """``start`` (the model starts), ``logs`` (a log line), ``output`` (the image is
    ready) or ``completed`` (a terminal status is reached)."""
    text: str = ""
    """For ``logs``, the line (without its newline); for ``output``, the output path."""


def moments(record: PredictionRecord) -> list[Moment]:
    """Everything that happens to the prediction as its record now stands, in time order.

    A cancel or a deadline changes the record, and so the moments: later ones drop out.
    """
    start, end = started_at(record), ends_at(record)
    found: list[Moment] = []
    if start <= end:
        found.append(Moment(start, "start"))
        for fraction, line in _log_lines(record):
            at = start + fraction * record.processing_seconds
            if at <= end:
                found.append(Moment(at, "logs", line))
    if status_at(record, end) == "succeeded":
        found.append(Moment(end, "output", output_path(record)))
    found.append(Moment(end, "completed"))
    return found


def stable_span(record: PredictionRecord, now: float) -> tuple[float, float]:
    """The interval ``[lo, hi)`` around ``now`` in which :func:`render` gives the same result.

    The rendering changes only when the clock reaches a moment (start, a log line,
    the end) or the data removal time, so between two of those it is constant.
    """
    points = {moment.at for moment in moments(record)}
    points.add(started_at(record))
    points.add(data_removed_at(record))
    lo = max((point for point in points if point <= now), default=-math.inf)
    hi = min((point for point in points if point > now), default=math.inf)
    return lo, hi


def _logs_at(record: PredictionRecord, now: float) -> str:
    return "".join(
        f"{moment.text}\n"
        for moment in moments(record)
        if moment.kind == "logs" and moment.at <= now
    )


def output_path(record: PredictionRecord) -> str:
    """Path (under the server root) of the prediction's image."""
    fmt = record.input.get("output_format", DEFAULTS["output_format"])
    return f"/delivery/{record.id}/output.{fmt}"


def render(
    record: PredictionRecord, now: float, links: Links, *, as_created: bool = False
) -> dict[str, Any]:
    """The prediction as the API shows it at ``now``, with URLs under ``links``.

    ``as_created`` shows it as at the instant of creation (``starting``, no logs),
    which is what a create request without ``Prefer: wait`` answers, however short
    the configured phases are.
    """
    if as_created:
        now = -math.inf
    status = status_at(record, now)
    start = started_at(record)
    running = start <= min(now, ends_at(record))
    metrics: dict[str, Any] = {}
    completed_at = None
    output = None
    error = None
    if status in TERMINAL:
        end = ends_at(record)
        completed_at = format_time(end)
        metrics["total_time"] = round(end - record.created_at, 3)
        if running:
            metrics["predict_time"] = round(end - start, 3)
        if status == "succeeded":
            output = links.root + output_path(record)
            metrics["image_count"] = 1
        elif status == "failed":
            error = error_of(record)
    removed = now >= data_removed_at(record)
    return {
        "id": record.id,
        "model": record.model,
        "version": "hidden",
        "input": {} if removed else record.input,
        "logs": None if removed else _logs_at(record, now),
        "output": None if removed else output,
        "data_removed": removed,
        "error": error,
        "status": status,
        "created_at": format_time(record.created_at),
        "started_at": format_time(start) if running else None,
        "completed_at": completed_at,
        "source": record.source,
        "metrics": metrics,
        "deadline": None if record.deadline is None else format_time(record.deadline),
        "urls": {
            "cancel": f"{links.api}/predictions/{record.id}/cancel",
            "get": f"{links.api}/predictions/{record.id}",
            "stream": f"{links.root}/stream/{record.id}",
            "web": f"{links.root}/p/{record.id}",
        },
    }
