"""How long a live webhook receiver waits while others are dead: the benchmark's
delivery-lag scenario."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
from measure import AUTH, BIN, CREATE, free_port, server


@contextmanager
def dead_receiver() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections and never answers; yields its URL."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/dead"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


@contextmanager
def live_receiver() -> Iterator[tuple[str, list[tuple[float, dict[str, object]]]]]:
    """An HTTP server on 127.0.0.1 answering 200; yields its URL and the (arrival time,
    body) of each POST."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[tuple[float, dict[str, object]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            got.append((time.time(), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", got
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def measure_webhook_lag(dead: int) -> dict[str, float]:
    """Seconds from a prediction's ``completed_at`` to its ``completed`` webhook reaching a
    live receiver, while ``dead`` predictions' webhooks go to a receiver that accepts and
    never answers (each attempt held for the mock's 5 s timeout)."""

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "imagen-mock"), "serve", "--port", str(port),
               "--starting-seconds", "0.5", "--processing-seconds", "0.5"]  # fmt: skip
    # the receivers stop before the mock (exit order), so no delivery is left held
    with server(command, f"{base}/v1/predictions"), live_receiver() as (live_url, got):
        with dead_receiver() as dead_url:
            for n in range(dead):
                httpx.post(base + CREATE, headers=AUTH, timeout=10,
                           json={"input": {"prompt": f"dead {n}"}, "webhook": dead_url})  # fmt: skip
            httpx.post(base + CREATE, headers=AUTH, timeout=10,
                       json={"input": {"prompt": "live"}, "webhook": live_url,
                             "webhook_events_filter": ["completed"]})  # fmt: skip
            deadline = time.monotonic() + 30 + 6 * dead  # one at a time would take 5 s each
            while not got and time.monotonic() < deadline:
                time.sleep(0.01)
        if not got:
            return {"webhook_dead_receivers": dead, "webhook_lag_seconds": float("inf")}
        arrived, body = got[0]
        completed = datetime.fromisoformat(str(body["completed_at"])).timestamp()
    return {"webhook_dead_receivers": dead, "webhook_lag_seconds": round(arrived - completed, 3)}
