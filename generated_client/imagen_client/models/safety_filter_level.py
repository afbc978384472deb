from typing import Literal

SafetyFilterLevel = Literal["block_low_and_above", "block_medium_and_above", "block_only_high"]

SAFETY_FILTER_LEVEL_VALUES: set[SafetyFilterLevel] = {
    "block_low_and_above",
    "block_medium_and_above",
    "block_only_high",
}


def check_safety_filter_level(value: str) -> SafetyFilterLevel:
    if value in SAFETY_FILTER_LEVEL_VALUES:
        return value
    raise TypeError(f"Unexpected value {value!r}. Expected one of {SAFETY_FILTER_LEVEL_VALUES!r}")
