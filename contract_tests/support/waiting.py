"""Bounded waiting on a condition in real time, for tests of threads and processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
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


def wait_until_read(server_port: int, client_port: int, seconds: float = 10.0) -> None:
    """Until a server on 127.0.0.1 has read everything the client at ``client_port`` sent
    it: the server's end of their connection has nothing left in its receive queue
    (``/proc/net/tcp``, Linux)."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"

    def read() -> bool:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote and fields[4].endswith(":00000000"):
                return True
        return False

    try:
        wait_for(read, seconds)
    except AssertionError:
        raise AssertionError("the server did not read what the client sent") from None
