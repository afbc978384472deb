"""A prediction's life, computed from its record and the current time.

Nothing here runs in the background: a record holds when the prediction was
created and how long each phase lasts, and the functions here work out its status,
its moments and its times at any instant (:mod:`mock_server.domain.rendering` writes
it as the API shows it). This keeps the lifecycle exact under a fake clock and
identical across threads and processes.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Final

from mock_server.domain.safety import SAFETY_ERROR, is_blocked

__all__ = [
    "MODEL",
    "TERMINAL",
    "Moment",
    "PredictionRecord",
    "cancel",
    "data_removed_at",
    "ends_at",
    "error_of",
    "is_terminal",
    "moments",
    "new_prediction_id",
    "new_record",
    "output_path",
    "predict_time",
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
    """A random seed kept with the record (imagen's logs do not print one)."""
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
    """The same input with its keys sorted, as Replicate echoes it, and its keys and short
    values (enum choices) interned, so a hundred thousand stored predictions share one copy
    of each instead of holding their own."""
    return {
        sys.intern(key): sys.intern(value) if isinstance(value, str) and len(value) <= 32 else value
        for key, value in sorted(input_.items())
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


def _share(prediction_id: str) -> float:
    """A number in ``[0, 1)`` that depends only on the prediction's id."""
    digest = hashlib.blake2b(prediction_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


#: ``predict_time`` is this share of the run, and a per-prediction part of the rest:
#: the model's own time is shorter than started-to-completed (uploads), never round.
_PREDICT_SHARE: Final = (0.86, 0.12)


def predict_time(record: PredictionRecord, ran: float) -> float:
    """Seconds the model reports for ``ran`` seconds of running: a share of it that
    varies per prediction (the same for one id), with nine decimals like Replicate's.
    A recorded run (a recording's log lines) reports its own time unchanged."""
    if record.log_lines:
        return round(ran, 9)
    low, spread = _PREDICT_SHARE
    return round(ran * (low + spread * _share(record.id)), 9)


def _log_lines(record: PredictionRecord) -> list[tuple[float, str]]:
    """The model's log lines, each with the fraction of the run at which it appears."""
    if record.log_lines and not record.blocked and record.failure is None:
        last = max(len(record.log_lines) - 1, 1)
        return [(index / last, line) for index, line in enumerate(record.log_lines)]
    # The lines of a sibling imagen model's real logs; the time is this prediction's.
    lines = [(0.0, "No sid"), (0.05, "Generating image...")]
    if record.blocked:
        lines.append((1.0, "Safety filter rejected the image"))
    elif record.failure is not None:
        lines.append((1.0, f"Prediction failed: {record.failure}"))
    else:
        took = predict_time(record, record.processing_seconds)
        lines.append((1.0, f"Generated image in {took:.2f} seconds"))
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
    """The interval ``[lo, hi)`` around ``now`` in which
    :func:`~mock_server.domain.rendering.render` gives the same result.

    The rendering changes only when the clock reaches a moment (start, a log line,
    the end) or the data removal time, so between two of those it is constant.
    """
    points = {moment.at for moment in moments(record)}
    points.add(started_at(record))
    points.add(data_removed_at(record))
    lo = max((point for point in points if point <= now), default=-math.inf)
    hi = min((point for point in points if point > now), default=math.inf)
    return lo, hi


def output_path(record: PredictionRecord) -> str:
    """Path (under the server root) of the prediction's image."""
    fmt = record.input.get("output_format", DEFAULTS["output_format"])
    return f"/delivery/{record.id}/output.{fmt}"
