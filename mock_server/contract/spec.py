"""Loading the OpenAPI document that the mock serves."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonref
import yaml

__all__ = ["SpecNotFoundError", "load_spec", "spec_path"]

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE / "openapi.yaml", _HERE.parents[1] / "openapi" / "openapi.yaml")
#: PyYAML's libyaml parser, about eight times quicker than its pure-Python one (which
#: stays the fallback for a build without libyaml): the spec is read at every start.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecNotFoundError(RuntimeError):
    """The OpenAPI document could not be found."""


def spec_path() -> Path:
    """Where the spec is: ``$IMAGEN_MOCK_SPEC``, else the copy in the wheel or the checkout.

    Raises:
        SpecNotFoundError: if none of those files exists.
    """
    override = os.environ.get("IMAGEN_MOCK_SPEC")
    candidates = (Path(override),) if override else _CANDIDATES
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SpecNotFoundError(f"OpenAPI document not found in {[str(c) for c in candidates]}")


@cache
def load_spec(path: Path | None = None) -> dict[str, Any]:
    """The spec with every local ``$ref`` replaced by its target, resolved once.

    Raises:
        SpecNotFoundError: if no path is given and none is found.
        OSError, yaml.YAMLError: if the file cannot be read or parsed.
    """
    source = path or spec_path()
    with source.open(encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=_LOADER)  # noqa: S506 (both loaders are the safe ones)
    resolved: dict[str, Any] = jsonref.replace_refs(raw, proxies=False, lazy_load=False)
    return resolved
