"""A thread pool whose threads end when idle: :class:`ElasticPool`.

``concurrent.futures.ThreadPoolExecutor`` keeps every thread it ever started until it
shuts down: a burst of a thousand held requests left a worker with a thousand idle
threads and their stacks for good. Here threads start when work comes and none is idle,
up to a bound, and end after :data:`IDLE_SECONDS` without work.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Final, TypeVar

__all__ = ["ElasticPool"]

#: How long a thread waits for work before it ends.
IDLE_SECONDS: Final = 5.0

T = TypeVar("T")
_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ElasticPool(Executor):
    """At most ``threads`` threads, started as needed, ending after ``idle_seconds``
    without work. Work beyond the bound waits in order. Thread-safe."""

    def __init__(self, threads: int, *, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        self._bound = max(threads, 1)
        self._name = name
        self._idle_seconds = idle_seconds
        self._work: deque[_Work] = deque()
        self._changed = threading.Condition(threading.Lock())
        self._threads = 0
        self._idle = 0  # threads waiting for work
        self._shut = False

    @property
    def threads(self) -> int:
        """How many threads run now."""
        return self._threads

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._changed:
            if self._shut:
                raise RuntimeError("the pool is shut down")
            self._work.append((future, fn, args, kwargs))
            if len(self._work) > self._idle and self._threads < self._bound:
                self._threads += 1
                name = f"{self._name}-{self._threads}"
                threading.Thread(target=self._serve, name=name, daemon=True).start()
            else:
                self._changed.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work; with ``cancel_futures``, drop the work not yet started.
        Threads end once idle (``wait`` is not honoured: the pool never joins them)."""
        with self._changed:
            self._shut = True
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            self._changed.notify_all()

    def _next(self) -> _Work | None:
        """The next work, or None once idle for too long or shut down (then the thread ends)."""
        with self._changed:
            if not self._work:
                self._idle += 1
                deadline = time.monotonic() + self._idle_seconds
                while not self._work and not self._shut:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._changed.wait(left):
                        break
                self._idle -= 1
            if self._work:
                return self._work.popleft()
            self._threads -= 1
            return None

    def _serve(self) -> None:
        while (item := self._next()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
            del item, future, fn, args, kwargs
