"""A thread pool whose threads end when idle: :class:`ElasticPool`.

``concurrent.futures.ThreadPoolExecutor`` keeps every thread it ever started until it
shuts down: a burst of a thousand held requests left a worker with a thousand idle
threads and their stacks for good. Here threads start when work comes and none is idle,
up to a bound, and end after :data:`IDLE_SECONDS` without work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Final, TypeVar

__all__ = ["ElasticPool"]

#: How long a thread waits for work before it ends.
IDLE_SECONDS: Final = 5.0

T = TypeVar("T")
_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Idler:
    """How an idle thread is woken: ``wake`` is held until :meth:`ElasticPool.submit`
    (or shutdown) puts work (or None, to end) in ``work`` and releases it."""

    __slots__ = ("wake", "work")

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.work: _Work | None = None


class ElasticPool(Executor):
    """At most ``threads`` threads, started as needed, ending after ``idle_seconds``
    without work. Work beyond the bound waits in order. Thread-safe.

    New work goes to the thread idle the shortest time (each idle thread waits on a lock
    of its own, kept on a stack): under light load one thread takes it all and the others
    end. Had they all waited on one condition, its ``notify`` would wake the longest
    idle, so light load would go round every thread and keep each alive. Work is queued
    only when no thread is idle, so taking it from an idle thread keeps its order.
    """

    def __init__(self, threads: int, *, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        self._bound = max(threads, 1)
        self._name = name
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._work: deque[_Work] = deque()  # only while no thread is idle
        self._idle: list[_Idler] = []  # the last one is the most recently idle
        self._threads = 0
        self._shut = False

    @property
    def threads(self) -> int:
        """How many threads run now."""
        return self._threads

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        work: _Work = (future, fn, args, kwargs)
        with self._lock:
            if self._shut:
                raise RuntimeError("the pool is shut down")
            if self._idle:
                idler = self._idle.pop()
                idler.work = work
                idler.wake.release()
            elif self._threads < self._bound:
                self._threads += 1
                name = f"{self._name}-{self._threads}"
                threading.Thread(target=self._serve, args=(work,), name=name, daemon=True).start()
            else:
                self._work.append(work)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new work; with ``cancel_futures``, drop the work not yet started.
        Threads end once idle (``wait`` is not honoured: the pool never joins them)."""
        with self._lock:
            self._shut = True
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            while self._idle:
                self._idle.pop().wake.release()  # with no work: the thread ends

    def _next(self, idler: _Idler) -> _Work | None:
        """The next work, or None once idle for too long or shut down (then the thread ends)."""
        with self._lock:
            if self._work:
                return self._work.popleft()
            if self._shut:
                self._threads -= 1
                return None
            self._idle.append(idler)
        if not idler.wake.acquire(timeout=self._idle_seconds):
            with self._lock:
                if idler in self._idle:  # nobody chose it: end
                    self._idle.remove(idler)
                    self._threads -= 1
                    return None
            # Chosen as the wait ran out: the release is done (under the lock), take it back.
            idler.wake.acquire()
        work, idler.work = idler.work, None
        if work is None:  # woken by shutdown
            with self._lock:
                self._threads -= 1
        return work

    def _serve(self, first: _Work) -> None:
        idler = _Idler()
        item: _Work | None = first
        while item is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:
                    future.set_exception(error)
                else:
                    future.set_result(result)
                    del result  # kept no longer than the work needs it
            del item, future, fn, args, kwargs
            item = self._next(idler)
