"""Slow clients cannot hold the server's connections: a client that trickles its
request's headers is cut off after ``--header-timeout-seconds``, and while many of them
trickle, other clients are served."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from contract_tests.support.servers import run_mock

#: Clients trickling a header line now and then, at once (well below the file limit).
SLOW_CLIENTS = 200
#: The cut-off asked of the server; granian's own default is 30 s, the mock's 10 s.
TIMEOUT_SECONDS = 1.0
#: How long the test waits for every slow client to be cut off, at most.
BOUND_SECONDS = 6.0


def _trickle(port: int, cut: threading.Event, stop: threading.Event) -> None:
    """Send a request line, then one header line every 0.3 s, never the blank line;
    ``cut`` is set when the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.3) as conn:
        conn.sendall(b"GET /openapi.yaml HTTP/1.1\r\nHost: x\r\n")
        number = 0
        while not stop.is_set():
            try:
                conn.sendall(f"X-Slow-{number}: 1\r\n".encode())
                if conn.recv(4096) == b"":
                    break  # closed by the server
            except TimeoutError:
                number += 1  # nothing came back: still open, trickle on
                continue
            except OSError:
                break  # reset by the server
            break  # an answer (408) before the close: cut off too
        cut.set()


def test_trickling_clients_are_cut_off_and_others_are_served() -> None:
    with run_mock(["--header-timeout-seconds", str(TIMEOUT_SECONDS)]) as mock:
        port = int(mock.root.rsplit(":", 1)[1])
        stop = threading.Event()
        cuts = [threading.Event() for _ in range(SLOW_CLIENTS)]
        threads = [
            threading.Thread(target=_trickle, args=(port, cut, stop), daemon=True) for cut in cuts
        ]
        started = time.monotonic()
        try:
            for thread in threads:
                thread.start()
            # While they trickle, a fresh client is served.
            answer = httpx.get(f"{mock.root}/openapi.yaml", timeout=5)
            assert answer.status_code == 200
            for cut in cuts:
                assert cut.wait(max(BOUND_SECONDS - (time.monotonic() - started), 0.01)), (
                    f"a client trickling headers was still connected after {BOUND_SECONDS} s"
                )
            # And once they are gone, too.
            assert httpx.get(f"{mock.root}/openapi.yaml", timeout=5).status_code == 200
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)
