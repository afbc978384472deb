"""A webhook receiver on a free 127.0.0.1 port that records what it is sent."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float


class LocalReceiver:
    """An HTTP server on a free 127.0.0.1 port that records POSTs.

    ``script[path]`` lists the statuses to answer on that path, in turn (then 200);
    302 answers carry ``Location: /target``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.script: dict[str, list[int]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with owner.lock:
                    owner.received.append(
                        Received(self.path, dict(self.headers), body.decode(), time.monotonic())
                    )
                    steps = owner.script.get(self.path, [])
                    status = steps.pop(0) if steps else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", owner.url("/target"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [item for item in self.received if item.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
