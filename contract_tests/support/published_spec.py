"""Replicate's published OpenAPI description, corrected the two known ways, for Prism.

``third_party/replicate-openapi.json`` beside this file is Replicate's published
description as taken in 2026-03, byte for byte (a third-party document kept only as the
evidence the proxy session checks against; :data:`PUBLISHED_SHA256` pins it). Two of its defects reject Replicate's own responses:

1. ``version`` of a prediction is a ``oneOf`` of any string and the enum ``["hidden"]``:
   ``"hidden"`` (what official models such as google/imagen-4-ultra answer) matches both
   branches, so ``oneOf`` fails. Read as ``anyOf``.
2. ``started_at``, ``completed_at`` and ``logs`` are plain strings, while real answers
   carry ``null`` in them until they exist. Read as nullable.

:func:`corrected` makes exactly those two changes on a copy, and mounts every path under
``/v1`` (the official client appends ``/v1`` to its base URL, the description keeps it in
``servers``, and Prism matches paths without looking at ``servers``). Nothing else changes.

    python -m contract_tests.support.published_spec OUT.json
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

PUBLISHED: Final = Path(__file__).resolve().parent / "third_party" / "replicate-openapi.json"
#: The published file's digest: a test holds the copy to it, so no one edits it in place.
PUBLISHED_SHA256: Final = "4500bf86453ef1ab65a9e133929ce97f468cff9aa62ab7512d00fd588abb8b39"
PREDICTION: Final = "schemas_prediction_response"
NULLABLE: Final = ("started_at", "completed_at", "logs")
MOUNT: Final = "/v1"


def published() -> dict[str, Any]:
    """The published description, as stored."""
    loaded: dict[str, Any] = json.loads(PUBLISHED.read_text())
    return loaded


def corrected(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the two known defects corrected and paths under ``/v1``.

    Raises:
        KeyError: when the description no longer has the shape these corrections expect.
    """
    fixed = copy.deepcopy(spec)
    properties = fixed["components"]["schemas"][PREDICTION]["properties"]
    properties["version"] = {"anyOf": properties["version"].pop("oneOf"), **properties["version"]}
    for name in NULLABLE:
        if properties[name]["type"] != "string":
            raise KeyError(f"{PREDICTION}.{name} is no longer a plain string")
        properties[name]["type"] = ["string", "null"]
    fixed["paths"] = {MOUNT + path: item for path, item in fixed["paths"].items()}
    return fixed


def write_corrected(destination: Path) -> Path:
    """Write the corrected copy to ``destination``; the path written."""
    destination.write_text(json.dumps(corrected(published()), indent=1))
    return destination


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m contract_tests.support.published_spec OUT.json")
    print(write_corrected(Path(sys.argv[1])))
