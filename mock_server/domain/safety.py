"""The model's safety filter: a small, documented word list per strictness level.

Each level blocks its own words and every word of the more permissive levels, so
``block_low_and_above`` blocks the most. Matching is on whole words, case-insensitive.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["BLOCKED_WORDS", "SAFETY_ERROR", "is_blocked"]

SAFETY_ERROR: Final = "The input or output was flagged as sensitive. (E005)"

_HIGH: Final = frozenset({"gore", "beheading", "massacre", "nsfw"})
_MEDIUM: Final = _HIGH | {"blood", "corpse", "nude", "weapon"}
_LOW: Final = _MEDIUM | {"fight", "gun", "knife", "violence"}

#: Words that make a prompt fail with :data:`SAFETY_ERROR`, by ``safety_filter_level``.
BLOCKED_WORDS: Final[dict[str, frozenset[str]]] = {
    "block_only_high": _HIGH,
    "block_medium_and_above": _MEDIUM,
    "block_low_and_above": _LOW,
}

_WORD = re.compile(r"[a-z]+")


def is_blocked(prompt: str, level: str) -> bool:
    """Tell whether the filter at ``level`` blocks ``prompt``.

    An unknown level is treated as the default, ``block_only_high``.
    """
    words = BLOCKED_WORDS.get(level, _HIGH)
    return any(word in words for word in _WORD.findall(prompt.lower()))
