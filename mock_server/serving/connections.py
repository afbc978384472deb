"""Closing the connections of a stopping worker that are still sending a request head.

On a stop signal granian asks each connection to end gracefully (hyper's
``graceful_shutdown``): an idle one closes at once, one whose request is in flight closes
once it is answered, but one that has sent part of its first request line or headers is
left to finish them, for up to ``--header-timeout-seconds``, since hyper has no request
yet to answer. granian ends the worker only when every connection has ended, so such a
client (one that stalled, or trickles its headers) would hold the worker past its drain
bound. A client cut off here sees what the header timeout would have shown it: the
connection closed, no answer.

granian keeps its sockets to itself, but they are the worker process's own descriptors:
:class:`ArrivingHeads` finds them among the process's open files and shuts down those
that were accepted on the port the worker listened on, carry no request in flight, and
have nothing left to send (a response still being written is left alone). The worker's
bridge (:class:`~mock_server.serving.bridge.WSGIBridge`) says when, and which clients
to spare.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import stat
import struct
import termios
from collections.abc import Collection, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Protocol

__all__ = ["ArrivingHeads", "HeadCloser", "close_arriving", "listening_ports", "port_of"]

log = logging.getLogger(__name__)

#: Where a process's open file descriptors are listed (Linux; macOS has ``/dev/fd`` too).
_FDS = Path("/dev/fd")
_INET = frozenset({socket.AF_INET, socket.AF_INET6})


class HeadCloser(Protocol):
    """What closes a stopping worker's connections still sending a request head."""

    def note_listeners(self) -> None:
        """The stop signal came: note the worker's listening ports while it has them."""

    def close(self, spared: Collection[int]) -> int:
        """Close the connections still sending a request head but those of the clients
        whose ports are ``spared``; return how many were closed."""


class ArrivingHeads:
    """:class:`HeadCloser` for a granian worker process (:func:`close_arriving`)."""

    def __init__(self) -> None:
        self._ports: frozenset[int] = frozenset()

    def note_listeners(self) -> None:
        self._ports = listening_ports()

    def close(self, spared: Collection[int]) -> int:
        return close_arriving(self._ports, spared)


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


def close_arriving(ports: Collection[int], spared: Collection[int]) -> int:
    """Shut down this process's TCP connections accepted on one of ``ports`` that have
    nothing queued to send and whose peer's port is not in ``spared`` (the clients whose
    requests are in flight or answered while stopping); return how many. Matching on the
    port alone may spare a connection it need not (another host, same port), never cut
    one it should spare. A socket closed meanwhile is skipped."""
    if not ports:
        return 0
    sockets = list(_inet_sockets())
    try:
        closed = 0
        for sock in sockets:
            with suppress(OSError):
                if _listening(sock) or sock.getsockname()[1] not in ports:
                    continue  # a listener, or a connection this process opened itself
                if sock.getpeername()[1] in spared or _unsent(sock) > 0:
                    continue
                sock.shutdown(socket.SHUT_RDWR)
                closed += 1
        return closed
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
    system cannot tell)."""
    try:
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    unsent: int = struct.unpack("@i", queued)[0]
    return unsent
