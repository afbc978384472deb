"""Finding and loading the two OpenAPI documents: the API the mock serves
(``openapi.yaml``) and the mock's own admin API (``admin.yaml``).

Both are looked for the same way (the copy installed in the wheel next to this module,
then the checkout's ``openapi/`` folder) and loaded the same way (YAML, every local
``$ref`` replaced by its target).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonref
import yaml

__all__ = [
    "ADMIN_SPEC_CANDIDATES",
    "SPEC_CANDIDATES",
    "SpecNotFoundError",
    "admin_spec_path",
    "load_spec",
    "spec_path",
]

_HERE = Path(__file__).resolve().parent
#: Where ``openapi.yaml`` is looked for: the wheel, then the checkout.
SPEC_CANDIDATES: Final = (_HERE / "openapi.yaml", _HERE.parents[1] / "openapi" / "openapi.yaml")
#: Where ``admin.yaml`` is looked for: the wheel, then the checkout.
ADMIN_SPEC_CANDIDATES: Final = (_HERE / "admin.yaml", _HERE.parents[1] / "openapi" / "admin.yaml")
#: PyYAML's libyaml parser, about eight times quicker than its pure-Python one (which
#: stays the fallback for a build without libyaml): the spec is read at every start.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecNotFoundError(RuntimeError):
    """An OpenAPI document could not be found."""


def _first_file(candidates: tuple[Path, ...]) -> Path:
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SpecNotFoundError(f"OpenAPI document not found in {[str(c) for c in candidates]}")


def spec_path() -> Path:
    """Where the API's spec is: ``$IMAGEN_MOCK_SPEC``, else the copy in the wheel or the checkout.

    Raises:
        SpecNotFoundError: if none of those files exists.
    """
    override = os.environ.get("IMAGEN_MOCK_SPEC")
    return _first_file((Path(override),) if override else SPEC_CANDIDATES)


def admin_spec_path() -> Path:
    """Where the admin API's spec is: the copy in the wheel, else the checkout's.

    Raises:
        SpecNotFoundError: if neither file exists.
    """
    return _first_file(ADMIN_SPEC_CANDIDATES)


@cache
def load_spec(path: Path | None = None) -> dict[str, Any]:
    """The document at ``path`` (by default the API's spec) with every local ``$ref``
    replaced by its target, resolved once.

    Raises:
        SpecNotFoundError: if no path is given and none is found.
        OSError, yaml.YAMLError: if the file cannot be read or parsed.
    """
    source = path or spec_path()
    with source.open(encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=_LOADER)  # noqa: S506 (both loaders are the safe ones)
    resolved: dict[str, Any] = jsonref.replace_refs(raw, proxies=False, lazy_load=False)
    return resolved
