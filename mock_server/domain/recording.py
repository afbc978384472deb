"""Realistic details taken from a recorded live run instead of the mock's defaults.

A recording is the ``exchanges-live.json`` a drift or contract run writes. The last
ended prediction in it gives the phase durations (``metrics``) and the log lines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["RecordedRun", "RecordingError", "load_recording"]


class RecordingError(ValueError):
    """The file holds no ended prediction to learn from."""


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """What a real prediction looked like."""

    starting_seconds: float
    """Time from creation to start (``total_time - predict_time``)."""
    processing_seconds: float
    """Time the model ran (``predict_time``)."""
    log_lines: tuple[str, ...]
    """The model's log lines, in order."""


def load_recording(path: Path) -> RecordedRun:
    """Learn phase durations and log lines from a recording.

    Raises:
        OSError: if the file cannot be read.
        RecordingError: if it is not a recording or has no ended prediction with metrics.
    """
    try:
        exchanges = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RecordingError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(exchanges, list):
        raise RecordingError(f"{path} is not a list of exchanges")
    for exchange in reversed(exchanges):
        body = exchange.get("body") if isinstance(exchange, dict) else None
        run = _from_prediction(body)
        if run is not None:
            return run
    raise RecordingError(f"{path} holds no ended prediction with metrics")


def _from_prediction(body: Any) -> RecordedRun | None:
    if not isinstance(body, dict) or body.get("status") not in {"succeeded", "failed"}:
        return None
    metrics = body.get("metrics") or {}
    predict = metrics.get("predict_time")
    total = metrics.get("total_time") or _elapsed(body.get("created_at"), body.get("completed_at"))
    if not isinstance(predict, int | float) or not isinstance(total, int | float):
        return None
    logs = body.get("logs") or ""
    lines = tuple(line for line in str(logs).splitlines() if line.strip())
    return RecordedRun(
        starting_seconds=round(max(float(total) - float(predict), 0.0), 3),
        processing_seconds=round(max(float(predict), 0.0), 3),
        log_lines=lines,
    )


def _elapsed(start: Any, end: Any) -> float | None:
    try:
        began = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (ended - began).total_seconds()
