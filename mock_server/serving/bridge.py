"""A WSGI app on granian's RSGI interface: quick requests inline, others in threads,
event streams on the loop.

Under granian's WSGI interface every request runs in one of a worker's Python
threads. With 32 connections that is about 16 threads per worker passing the GIL
(and granian's own I/O thread waiting on it) back and forth, and the latency tail
grows several times the median. Here a worker runs the app on its event-loop thread,
one request after another, which keeps the order fair and the tail short; only
requests that may be held for long (``Prefer: wait``, event streams, admin calls that
wait for other replicas) go to a thread pool, where they sleep without slowing the
loop. ``make bench`` measures both ways; ARCHITECTURE.md draws the flow.

When the worker stops (SIGTERM or SIGINT: granian stops accepting, waits for its open
connections to end, then ends the worker's loop), the bridge drains: it calls the
caller's ``on_stop`` (the mock wakes its held requests and ends its event streams),
runs the loop again until every request in flight has answered (at most until
``drain_seconds`` after the stop), and only then lets the worker end. A thread still busy
then is left behind: the process exits without waiting for it.
A request whose body has not all arrived :data:`BODY_GRACE_SECONDS` after the stop is
answered 503 (granian would otherwise wait for its connection for as long as the client
keeps it open): :meth:`WSGIBridge.stopping` starts that clock from the stop signal. A
connection still sending its first request line or headers then is closed, and every
connection still open just before the drain bound (a client that does not read its
answer) too (:mod:`mock_server.serving.connections`): granian would wait for them past
the bound.

Requests that may block for a moment (a store round trip, an image drawn) and those
that may be held for long are kept apart: the caller's ``may_hold`` predicate sends the
second kind to a pool of their own, so a thousand held ``Prefer: wait`` requests cannot
take the threads that answer the rest. Pool threads end after a few idle seconds
(:class:`~mock_server.serving.pool.ElasticPool`).

A streamed body that offers ``stream_async(run_blocking)`` (an async iterator of bytes;
``run_blocking(fn)`` awaits ``fn()`` run in a pool thread) is sent from the event loop
instead of a thread: an open event stream then costs a coroutine, not a thread, and
sleeps until something wakes it. It ends when the client leaves.

A request run in a pool thread is marked with :data:`ASYNC_ANSWERS` in its environ: its
body may then offer ``answer_async(run_blocking)``, awaited on the loop, which gives the
WSGI app whose answer is sent (its status, headers and body, read at once). A held
``Prefer: wait`` request then takes a thread only to be created and to be answered,
and waits as a coroutine.

The module knows nothing of the mock: which requests to hand to the pools is the
caller's ``offload`` and ``may_hold`` predicates, which see the WSGI environ.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from mock_server.serving.connections import ConnectionCloser, StopClosing
from mock_server.serving.environ import environ_for
from mock_server.serving.pool import ElasticPool
from mock_server.serving.replies import (
    Reply,
    WSGIApp,
    broken_reply,
    close_body,
    open_stream,
    read_all,
    send,
    stopping_reply,
    write,
)

if TYPE_CHECKING:
    from granian._granian import RSGIHTTPProtocol as HTTPProtocol
    from granian.rsgi import Scope

__all__ = ["ASYNC_ANSWERS", "WSGIBridge"]

log = logging.getLogger(__name__)

#: Methods whose requests carry no body unless they say so.
_BODILESS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
#: Set in the environ of a request run in a pool thread: the app may answer it later (see
#: the module).
ASYNC_ANSWERS: Final = "bridge.async_answers"
#: Threads for requests that block only for a moment, when the caller tells held ones apart.
QUICK_THREADS: Final = 16
#: How long a stopping worker waits for requests still arriving before it answers those
#: whose bodies have not all arrived 503 and closes connections still sending a request
#: head (a client that left, or stalled, mid-way may never send the rest).
BODY_GRACE_SECONDS: Final = 1.0

T = TypeVar("T")


class WSGIBridge:
    """Serve ``app`` through RSGI: call it inline unless ``offload(environ)`` says the
    request may block, then in a pool thread: one of at most ``threads`` if
    ``may_hold(environ)`` (every offloaded request when it is not given), else one of
    at most :data:`QUICK_THREADS`.

    Request bodies over ``max_body_bytes`` are not read: the app sees the declared
    length (or the first ``max_body_bytes + 1`` bytes of a chunked body) and refuses it.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        offload: Callable[[dict[str, Any]], bool],
        threads: int,
        may_hold: Callable[[dict[str, Any]], bool] | None = None,
        max_body_bytes: int | None = None,
        multiprocess: bool = False,
        on_start: Callable[[], None] | None = None,
        on_stop: Callable[[], None] | None = None,
        drain_seconds: float | None = None,
        on_end: Callable[[], None] | None = None,
        connections: ConnectionCloser | None = None,
    ) -> None:
        """``on_start`` is called on the worker's event loop as soon as it runs (the
        server's signal handlers are set by then); ``on_stop`` when the worker stops,
        before its held requests are drained (it should make them answer); ``on_end``
        once they are drained, before the worker ends (it writes what is still queued).
        ``connections`` closes the connections still sending a request head when the
        grace after a stop is over, and every one still open just before the drain bound
        (granian's workers: :class:`~.connections.WorkerConnections`)."""
        self.app = app
        self._on_start = on_start
        self._on_stop = on_stop
        self._on_end = on_end
        self._drain_seconds = drain_seconds  # None: as long as they take
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False
        self._bodies_cut = False  # stopping, and the bodies' grace is over
        self._in_flight: dict[asyncio.Task[object], str] = {}  # each one's client
        self._closing = StopClosing(connections, drain_seconds)
        self._reading: set[asyncio.Task[object]] = set()  # in flight, body still arriving
        self._offload = offload
        self._may_hold = may_hold
        self._held = ElasticPool(threads, name="held")
        self._quick = self._held if may_hold is None else ElasticPool(QUICK_THREADS, name="quick")
        self._max_body = max_body_bytes
        self._multiprocess = multiprocess

    async def __rsgi__(self, scope: Scope, proto: HTTPProtocol) -> None:
        if scope.proto != "http":  # websockets are turned off in serving; refuse any other
            return
        task = asyncio.current_task()
        if task is not None:  # in flight until answered: a stopping worker waits for it
            self._in_flight[task] = scope.client
        try:
            await self._serve(scope, proto)
        finally:
            if task is not None:
                del self._in_flight[task]
            if self._stopped:  # its answer may still be on its way: its connection stays
                self._closing.answered(scope.client)

    async def _serve(self, scope: Scope, proto: HTTPProtocol) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._reading.add(task)
        try:
            reading = self._read_body(scope, proto)
            if self._bodies_cut:  # a body that starts arriving now gets the grace too
                reading = asyncio.wait_for(reading, self._body_grace())
            body = await reading
        except (asyncio.CancelledError, TimeoutError):
            if not self._bodies_cut:
                raise
            await send(proto, stopping_reply())
            return
        finally:
            if task is not None:
                self._reading.discard(task)
        environ = environ_for(scope, body, multiprocess=self._multiprocess)
        if body and "CONTENT_LENGTH" not in environ:  # de-chunked: now its length is known
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["CONTENT_LENGTH"] = str(len(body))
        if not self._offload(environ):
            await send(proto, self._answer_inline(environ))
            return
        loop = asyncio.get_running_loop()
        held = self._may_hold is None or self._may_hold(environ)
        pool = self._held if held else self._quick
        environ[ASYNC_ANSWERS] = True
        reply, unsent = await loop.run_in_executor(pool, self._answer_held, environ)
        if unsent is None:
            await send(proto, reply)
            return
        answer_async = getattr(unsent, "answer_async", None)
        if answer_async is not None:
            await send(proto, await self._answer_later(environ, answer_async))
            return
        stream_async = getattr(unsent, "stream_async", None)
        if stream_async is not None:
            await self._stream_on_loop(proto, reply, unsent, stream_async(self._run_blocking))
        else:
            await loop.run_in_executor(pool, self._stream_held, reply, unsent, proto, loop)

    def _run_blocking(self, fn: Callable[[], T]) -> Awaitable[T]:
        return asyncio.get_running_loop().run_in_executor(self._quick, fn)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self._on_start is not None:
            loop.call_soon(self._on_start)  # once the loop runs and can take signals

    def stopping(self) -> None:
        """The worker is told to stop (called from the stop signal's handler, before
        granian's): call ``on_stop``, and answer 503 to the requests whose bodies have
        not all arrived :data:`BODY_GRACE_SECONDS` later, when the connections still
        sending a request head are closed too, and close every connection still open
        just before the drain bound (``connections``). granian ends the loop only once
        every connection has ended, and a client that stalls mid-body or mid-head, or
        does not read its answer (but stays connected), would hold it until the worker
        is killed. Called again, does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self._on_stop is not None:
            try:
                self._on_stop()
            except Exception:
                log.exception("on_stop failed; draining anyway")
        loop = self._loop if self._loop is not None and not self._loop.is_closed() else None
        self._closing.stopped(loop, self._body_grace(), self._grace_over)

    def _body_grace(self) -> float:
        bound = self._drain_seconds
        return BODY_GRACE_SECONDS if bound is None else min(BODY_GRACE_SECONDS, bound)

    def _grace_over(self) -> None:
        """Stop waiting for requests still arriving: those whose bodies have not all
        arrived answer 503, connections still sending a request head are closed (a turn
        of the loop later: a request granian handed over just now is in flight by then)."""
        self._cut_bodies()
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: self._closing.close_heads(self._in_flight.values()))

    def _cut_bodies(self) -> None:
        """Stop waiting for the bodies still arriving: their requests answer 503."""
        self._bodies_cut = True
        if self._reading:
            log.warning(
                "stopping: %d request(s) whose body was still arriving answered 503",
                len(self._reading),
            )
        for task in self._reading:
            task.cancel()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drain: wake the held requests (:meth:`stopping`, if no stop signal did), give
        requests whose bodies are still arriving :data:`BODY_GRACE_SECONDS` to finish
        sending them (then answer them 503: a client that left mid-body would hold the
        drain to its bound), let every request in flight answer until the drain bound
        (counted from the stop), then let the worker end."""
        self.stopping()
        if self._reading and not loop.is_closed():  # a client that left never sends the rest
            loop.run_until_complete(asyncio.wait(set(self._reading), timeout=self._body_grace()))
            self._cut_bodies()
        if self._in_flight and not loop.is_closed():
            waiting = asyncio.wait(set(self._in_flight), timeout=self._closing.remaining())
            loop.run_until_complete(waiting)
        self._held.shutdown(wait=False, cancel_futures=True)
        self._quick.shutdown(wait=False, cancel_futures=True)
        if self._on_end is not None:
            try:
                self._on_end()
            except Exception:
                log.exception("on_end failed; ending anyway")
        if self._in_flight:  # still busy after the drain bound: do not wait for them at exit
            log.warning(
                "%d request(s) still unanswered after draining; exiting", len(self._in_flight)
            )
            logging.shutdown()
            os._exit(0)

    async def _read_body(self, scope: Scope, proto: HTTPProtocol) -> bytes:
        headers = scope.headers
        length = headers.get("content-length")
        if length is None:
            if scope.method in _BODILESS and "transfer-encoding" not in headers:
                return b""
        elif not length.isdigit() or int(length) == 0:
            return b""  # the app refuses a malformed length; nothing to read for zero
        elif self._max_body is None or int(length) <= self._max_body:
            return await proto()
        else:
            return b""  # the app answers 413 from the declared length alone
        limit = self._max_body
        if limit is None:
            return await proto()
        chunks: list[bytes] = []
        size = 0
        async for chunk in proto:
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # enough to know it is too large; the rest stays unread
                break
        return b"".join(chunks)

    async def _answer_later(
        self, environ: dict[str, Any], answer_async: Callable[..., Awaitable[WSGIApp]]
    ) -> Reply:
        """Await an answer decided later on the loop, then read it (it is quick)."""
        try:
            final = await answer_async(self._run_blocking)
        except Exception:
            log.exception("an answer decided later failed")
            return broken_reply()
        reply, body = self._run(environ, final)
        if body is not None:
            read_all(reply, body)
        return reply

    def _run(
        self, environ: dict[str, Any], app: WSGIApp | None = None
    ) -> tuple[Reply, Iterable[bytes] | None]:
        """Call the app (or ``app``); its body is returned unread (None if it raised)."""
        reply = Reply()
        try:
            body = (app or self.app)(environ, reply.start)
        except Exception:
            log.exception("the app raised instead of answering")
            return broken_reply(), None
        return reply, body

    def _answer_inline(self, environ: dict[str, Any]) -> Reply:
        reply, body = self._run(environ)
        if body is not None:
            read_all(reply, body)
        return reply

    def _answer_held(self, environ: dict[str, Any]) -> tuple[Reply, Iterable[bytes] | None]:
        """On a pool thread: run the app and read a body of known length; any other
        (an event stream) is returned unread, to be sent chunk by chunk."""
        reply, body = self._run(environ)
        if body is None or any(name.lower() == "content-length" for name, _ in reply.headers):
            if body is not None:
                read_all(reply, body)
            return reply, None
        return reply, body

    def _stream_held(
        self,
        reply: Reply,
        body: Iterable[bytes],
        proto: HTTPProtocol,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """On a pool thread: send a streamed body as the app yields it."""
        try:
            transport = asyncio.run_coroutine_threadsafe(open_stream(proto, reply), loop).result()
            for chunk in body:
                if chunk:
                    asyncio.run_coroutine_threadsafe(write(transport, chunk), loop).result()
        except Exception as error:  # the client went away, or the stream failed
            log.info("stream ended early: %s", error)  # most often a client that left
        finally:
            close_body(body)

    async def _stream_on_loop(
        self,
        proto: HTTPProtocol,
        reply: Reply,
        body: Iterable[bytes],
        chunks: AsyncIterator[bytes],
    ) -> None:
        """Send an async body from the loop until it ends or the client leaves."""
        transport = proto.response_stream(reply.status, reply.headers)

        async def send() -> None:
            async for chunk in chunks:
                if chunk:
                    await transport.send_bytes(chunk)

        sending = asyncio.ensure_future(send())
        gone = asyncio.ensure_future(proto.client_disconnect())
        try:
            await asyncio.wait((sending, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sending, gone):
                task.cancel()
            try:
                await sending
            except asyncio.CancelledError:
                pass  # the client left first
            except Exception as error:  # the client went away mid-write, or the stream failed
                log.info("stream ended early: %s", error)
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            close_body(body)
