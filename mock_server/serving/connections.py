"""Closing the connections of a stopping worker that would keep it past its drain bound.

On a stop signal granian asks each connection to end gracefully (hyper's
``graceful_shutdown``): an idle one closes at once, one whose request is in flight closes
once it is answered, but one that has sent part of its first request line or headers is
left to finish them, for up to ``--header-timeout-seconds``, since hyper has no request
yet to answer. granian ends the worker only when every connection has ended, so such a
client (one that stalled, or trickles its headers) would hold the worker past its drain
bound. A client cut off here sees what the header timeout would have shown it: the
connection closed, no answer. So would one that does not read its answer: once the
kernel's send buffer is full, granian waits to write the rest for as long as the client
stays connected.

granian keeps its sockets to itself, but they are the worker process's own descriptors:
:class:`WorkerConnections` finds them among the process's open files and shuts down those
that were accepted on the port the worker listened on. :class:`StopClosing` says when
and which: at the end of the grace after the stop, those that carry no request in
flight, were not answered since the stop and have nothing left to send (a response still
being written is left alone); :data:`BEFORE_BOUND_SECONDS` before the drain bound, every
one still open, none spared. The worker's bridge
(:class:`~mock_server.serving.bridge.WSGIBridge`) tells it of the stop and of the
clients to spare.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import stat
import struct
import termios
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Final, Protocol

__all__ = [
    "BEFORE_BOUND_SECONDS",
    "ConnectionCloser",
    "StopClosing",
    "WorkerConnections",
    "close_accepted",
    "listening_ports",
    "port_of",
]

log = logging.getLogger(__name__)

#: How long before its drain bound a stopping worker shuts down every connection still
#: open: granian then ends the worker, and the process exits, within the bound.
BEFORE_BOUND_SECONDS: Final = 0.5
#: Where a process's open file descriptors are listed (Linux; macOS has ``/dev/fd`` too).
_FDS = Path("/dev/fd")
_INET = frozenset({socket.AF_INET, socket.AF_INET6})


class ConnectionCloser(Protocol):
    """What shuts down a stopping worker's connections."""

    def note_listeners(self) -> None:
        """The stop signal came: note the worker's listening ports while it has them."""

    def close(self, spared: Collection[int]) -> int:
        """Close the connections still sending a request head but those of the clients
        whose ports are ``spared``; return how many were closed."""

    def close_all(self) -> int:
        """Close every connection still open; return how many."""


class WorkerConnections:
    """:class:`ConnectionCloser` for a granian worker process (:func:`close_accepted`)."""

    def __init__(self) -> None:
        self._ports: frozenset[int] = frozenset()
        self._shut: set[int] = set()  # the clients' ports of the connections shut down

    def note_listeners(self) -> None:
        self._ports = listening_ports()
        if not self._ports:
            log.warning("stopping: no listening port found; open connections are not closed")

    def close(self, spared: Collection[int]) -> int:
        shut = close_accepted(self._ports, {*spared, *self._shut})
        self._shut |= shut
        return len(shut)

    def close_all(self) -> int:
        shut = close_accepted(self._ports, self._shut, sending_too=True)
        self._shut |= shut
        return len(shut)


class StopClosing:
    """A stopping worker's connections closed on time: at the end of the grace, those
    still sending a request head (sparing the clients with a request in flight or
    answered since the stop: :meth:`answered`); :data:`BEFORE_BOUND_SECONDS` before the
    drain bound ``bound`` (None: none), every one still open."""

    def __init__(self, closer: ConnectionCloser | None, bound: float | None) -> None:
        self._closer = closer
        self._bound = bound
        self._answered: set[int] = set()  # the ports of the clients answered since the stop
        self._deadline: float | None = None  # when the drain bound runs out (monotonic)

    def stopped(
        self,
        loop: asyncio.AbstractEventLoop | None,
        grace: float,
        on_grace: Callable[[], None],
    ) -> None:
        """The stop signal came (this may run in its handler): note the listening ports,
        call ``on_grace`` on ``loop`` ``grace`` seconds from now, and close every
        connection still open before the bound. Without a running loop, only the
        bound's clock starts."""
        if self._bound is not None:
            self._deadline = time.monotonic() + self._bound
        if loop is None:
            return
        if self._closer is not None:
            try:
                self._closer.note_listeners()  # before granian closes its listener
            except Exception:  # the stop must reach granian's handler all the same
                log.exception("cannot note the listening ports; connections are not closed")
        loop.call_soon_threadsafe(self._start_clocks, loop, grace, on_grace)

    def _start_clocks(
        self, loop: asyncio.AbstractEventLoop, grace: float, on_grace: Callable[[], None]
    ) -> None:
        loop.call_later(grace, on_grace)
        if self._bound is not None and self._closer is not None:
            loop.call_later(max(grace, self._bound - BEFORE_BOUND_SECONDS), self._bound_near)

    def remaining(self) -> float | None:
        """Seconds left before the drain bound runs out (the whole bound before a stop;
        None without a bound)."""
        if self._deadline is None:
            return self._bound
        return max(self._deadline - time.monotonic(), 0.0)

    def answered(self, client: str) -> None:
        """A request of ``client`` (an RSGI scope's ``host:port``) was answered since the
        stop: its answer may still be on its way, its connection is spared at the grace."""
        self._answered.add(port_of(client))

    def close_heads(self, in_flight: Iterable[str]) -> None:
        """The grace is over: close the connections still sending a request head but
        those of the clients in ``in_flight`` or answered since the stop."""
        if self._closer is None:
            return
        closed = self._closer.close(self._answered | {port_of(client) for client in in_flight})
        if closed:
            log.warning("stopping: %d connection(s) still sending a request head closed", closed)

    def _bound_near(self) -> None:
        assert self._closer is not None  # the clock is started only with one
        closed = self._closer.close_all()
        if closed:
            log.warning(
                "stopping: %d connection(s) still open at the drain bound closed "
                "(a client not reading its answer, or still sending)",
                closed,
            )


def port_of(client: str) -> int:
    """The peer's port in an RSGI scope's ``client`` (``host:port``, ``[v6]:port``)."""
    port = client.rpartition(":")[2]
    return int(port) if port.isdigit() else -1


def listening_ports() -> frozenset[int]:
    """The ports this process listens on (granian closes its listener once stopped, so
    they are read when the stop signal comes)."""
    sockets = list(_inet_sockets())
    try:
        ports = set()
        for sock in sockets:
            with suppress(OSError):
                if _listening(sock):
                    ports.add(sock.getsockname()[1])
        return frozenset(ports)
    finally:
        for sock in sockets:
            sock.close()


def close_accepted(
    ports: Collection[int], spared: Collection[int], *, sending_too: bool = False
) -> frozenset[int]:
    """Shut down this process's TCP connections accepted on one of ``ports`` whose
    peer's port is not in ``spared`` and that have nothing queued to send (unless
    ``sending_too``); return their peers' ports. Matching on the port alone may spare a
    connection it need not (another host, same port), never cut one it should spare. A
    socket closed meanwhile is skipped."""
    if not ports:
        return frozenset()
    sockets = list(_inet_sockets())
    try:
        shut = set()
        for sock in sockets:
            with suppress(OSError):
                if _listening(sock) or sock.getsockname()[1] not in ports:
                    continue  # a listener, or a connection this process opened itself
                peer = sock.getpeername()[1]
                if peer in spared or (not sending_too and _unsent(sock) > 0):
                    continue
                sock.shutdown(socket.SHUT_RDWR)
                shut.add(peer)
        return frozenset(shut)
    finally:
        for sock in sockets:
            sock.close()  # a duplicate: the connection itself stays granian's to close


def _inet_sockets() -> Iterator[socket.socket]:
    """A duplicate of each TCP socket this process has open."""
    try:
        names = [entry.name for entry in _FDS.iterdir()]
    except OSError as error:
        log.warning("cannot list this process's open files: %s", error)
        return
    for name in names:
        with suppress(OSError, ValueError):
            if not stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                continue
            copy = os.dup(int(name))
            try:
                sock = socket.socket(fileno=copy)  # family and type read from the socket
            except OSError:
                os.close(copy)
                continue
            if sock.family in _INET and sock.type == socket.SOCK_STREAM:
                yield sock
            else:
                sock.close()


def _listening(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) != 0


def _unsent(sock: socket.socket) -> int:
    """Bytes written to ``sock`` that the peer has not yet acknowledged (0 where the
    system cannot tell, as on macOS: there a client still reading an answer sent before
    the stop is disconnected at the grace)."""
    request = getattr(termios, "TIOCOUTQ", None)
    if request is None:
        return 0
    try:
        queued = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    except OSError:
        return 0
    unsent: int = struct.unpack("@i", queued)[0]
    return unsent
