"""Writing the drift report as Markdown and JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from contract_tests.drift.compare import KINDS, Difference
from contract_tests.drift.probes import Exchange

__all__ = ["render_markdown", "write_report"]


def render_markdown(differences: list[Difference], live_url: str, mock_url: str) -> str:
    """A one-page summary: counts by kind, then every difference."""
    counts = Counter(d.kind for d in differences)
    lines = [
        "# Drift report",
        "",
        f"- live: `{live_url}`",
        f"- mock: `{mock_url}`",
        "",
        "| kind | differences |",
        "|---|---:|",
        *(f"| {kind} | {counts.get(kind, 0)} |" for kind in KINDS),
        "",
    ]
    if not differences:
        lines.append("No differences: the mock answered every probe like the live API.")
        return "\n".join(lines) + "\n"
    lines += ["| probe | aspect | where | live | mock | kind |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {d.probe} | {d.aspect} | `{d.where}` | {_cell(d.live)} | {_cell(d.mock)} | {d.kind} |"
        for d in differences
    ]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = "—" if value is None else json.dumps(value) if not isinstance(value, str) else value
    return text.replace("|", "\\|").replace("\n", " ")[:120]


def write_report(
    out: Path,
    differences: list[Difference],
    live: list[Exchange],
    mock: list[Exchange],
    live_url: str,
    mock_url: str,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``drift.md``, ``drift.json`` and the recorded exchanges; return the two reports."""
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "drift.md"
    markdown.write_text(render_markdown(differences, live_url, mock_url))
    payload = {
        "live": live_url,
        "mock": mock_url,
        "differences": [d.as_dict() for d in differences],
        "counts": dict(Counter(d.kind for d in differences)),
        **(extra or {}),
    }
    report = out / "drift.json"
    report.write_text(json.dumps(payload, indent=2) + "\n")
    for name, exchanges in (("live", live), ("mock", mock)):
        recording = [e.as_dict() for e in exchanges]
        (out / f"exchanges-{name}.json").write_text(json.dumps(recording, indent=2) + "\n")
    return markdown, report
