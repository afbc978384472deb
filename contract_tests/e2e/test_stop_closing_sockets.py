"""Which of its connections a stopping worker shuts down (``serving/connections.py``),
on real loopback sockets of this process: only connections accepted on the ports it
listened on, never a listener nor a connection it opened itself, never a spared client's,
and one with an answer still queued only at the drain bound (``sending_too``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, suppress

import pytest

from mock_server.serving.connections import WorkerConnections, close_accepted, listening_ports

#: Enough that a client that does not read leaves part of it queued at the server.
QUEUED = 8 * 1024 * 1024


def _closed_by_peer(conn: socket.socket) -> bool:
    """Whether the other end shut the connection down (a read sees its end at once)."""
    conn.settimeout(0.5)
    try:
        return conn.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def test_only_accepted_idle_unspared_connections_are_shut_down(stack: ExitStack) -> None:
    listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    port = listener.getsockname()[1]
    clients, accepted = [], []
    for index in range(3):
        client = stack.enter_context(socket.socket())
        if index == 2:  # reads nothing, through a small window: the answer stays queued
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        clients.append(client)
        accepted.append(stack.enter_context(listener.accept()[0]))
    accepted[2].setblocking(False)
    with suppress(BlockingIOError):
        accepted[2].send(b"x" * QUEUED)
    # A connection this process opened to another server: never the worker's to close.
    elsewhere = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    outbound = stack.enter_context(socket.create_connection(elsewhere.getsockname()))
    stack.enter_context(elsewhere.accept()[0])

    assert {port, elsewhere.getsockname()[1]} <= listening_ports()
    spared = clients[1].getsockname()[1]
    assert close_accepted({port}, {spared}) == {clients[0].getsockname()[1]}
    assert _closed_by_peer(clients[0])
    assert not _closed_by_peer(clients[1])  # spared
    assert not _closed_by_peer(outbound)  # this process's own
    # At the drain bound: the queued one too, the spared one still not.
    queued = clients[2].getsockname()[1]
    assert queued in close_accepted({port}, {spared}, sending_too=True)
    assert not _closed_by_peer(clients[1])
    assert spared in close_accepted({port}, set(), sending_too=True)
    assert _closed_by_peer(clients[1])


def test_a_worker_counts_each_connection_it_shuts_down_once(stack: ExitStack) -> None:
    listener = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    clients = [
        stack.enter_context(socket.create_connection(listener.getsockname())) for _ in range(3)
    ]
    for _ in clients:
        stack.enter_context(listener.accept()[0])
    connections = WorkerConnections()
    connections.note_listeners()
    spared = clients[0].getsockname()[1]
    assert connections.close({spared}) == 2  # at the grace: all but the spared one
    assert connections.close_all() == 1  # at the bound: the spared one, not the two again
    assert all(_closed_by_peer(client) for client in clients)
