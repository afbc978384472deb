"""Bounded waiting on a condition in real time, for tests of threads and processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], seconds: float = 15.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {seconds} s")


def at_least(count: int, fetch: Callable[[], list[T]]) -> Callable[[], list[T] | None]:
    """A check for :func:`wait_for`: what ``fetch`` returns once it has ``count`` items."""

    def check() -> list[T] | None:
        items = fetch()
        return items if len(items) >= count else None

    return check
