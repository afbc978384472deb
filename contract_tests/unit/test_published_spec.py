"""The corrected copy of Replicate's published description: the two known defects fixed
(each shown to reject a real answer before and accept it after), nothing else changed."""

from __future__ import annotations

import hashlib
from typing import Any

from jsonschema import Draft202012Validator

from contract_tests.support.published_spec import (
    MOUNT,
    PREDICTION,
    PUBLISHED,
    PUBLISHED_SHA256,
    corrected,
    published,
)

#: The shape of a real imagen answer once it ran (version hidden, logs/started_at null early).
REAL: dict[str, Any] = {
    "id": "qfd8k5rx2hrm80cr4e6a5e9c2c",
    "model": "google/imagen-4-ultra",
    "version": "hidden",
    "input": {"prompt": "a lighthouse"},
    "logs": None,
    "output": None,
    "data_removed": False,
    "error": None,
    "status": "starting",
    "created_at": "2025-07-01T10:00:00.123Z",
    "started_at": None,
    "completed_at": None,
    "urls": {
        "cancel": "https://api.replicate.com/v1/predictions/qfd8k5rx2hrm80cr4e6a5e9c2c/cancel",
        "get": "https://api.replicate.com/v1/predictions/qfd8k5rx2hrm80cr4e6a5e9c2c",
        "web": "https://replicate.com/p/qfd8k5rx2hrm80cr4e6a5e9c2c",
    },
}


def as_prism_reads(schema: Any) -> Any:
    """The description's OpenAPI 3.0 ``nullable: true`` (on ``error``), read as Prism reads it."""
    if isinstance(schema, list):
        return [as_prism_reads(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    read = {k: as_prism_reads(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") is True and isinstance(schema.get("type"), str):
        read["type"] = [schema["type"], "null"]
    return read


def errors(spec: dict[str, Any], body: dict[str, Any]) -> set[str]:
    schema = as_prism_reads(spec["components"]["schemas"][PREDICTION])
    return {
        ".".join(map(str, e.absolute_path)) for e in Draft202012Validator(schema).iter_errors(body)
    }


def test_the_published_description_rejects_a_real_answer() -> None:
    assert errors(published(), REAL) == {"version", "logs", "started_at", "completed_at"}


def test_the_corrected_copy_accepts_it_and_still_checks_types() -> None:
    fixed = corrected(published())
    assert errors(fixed, REAL) == set()
    assert errors(fixed, {**REAL, "version": 3, "logs": 1}) == {"version", "logs"}
    assert errors(fixed, {**REAL, "deadline": None}) == {"deadline"}


def test_nothing_else_changes() -> None:
    original, fixed = published(), corrected(published())
    assert fixed["paths"] == {MOUNT + path: item for path, item in original["paths"].items()}
    before = original["components"]["schemas"][PREDICTION]["properties"]
    after = fixed["components"]["schemas"][PREDICTION]["properties"]
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"version", "logs", "started_at", "completed_at"}
    rest = {k: v for k, v in fixed.items() if k not in {"paths", "components"}}
    assert rest == {k: v for k, v in original.items() if k not in {"paths", "components"}}
    others = {k: v for k, v in fixed["components"]["schemas"].items() if k != PREDICTION}
    assert others == {k: v for k, v in original["components"]["schemas"].items() if k != PREDICTION}  # fmt: skip


def test_the_published_copy_is_byte_for_byte_what_was_taken() -> None:
    digest = hashlib.sha256(PUBLISHED.read_bytes()).hexdigest()
    assert digest == PUBLISHED_SHA256, f"{PUBLISHED} was changed in place"
