"""A stand-in for a live API that accepts every create, the way a lax reseller might.

    python -m contract_tests.support.accepting_stand_in --port 8123

Any POST ending in ``/predictions`` or ``/trainings`` is answered 201 with a ``starting``
prediction, whatever its body (no prompt, unknown keys, bad enums, no body at all).
Cancel, get and list work on what it made; a request without a token is 401; anything
else is 404. ``GET /_seen`` answers every request it received before, as
``[[method, path], ...]``, so a test can count what reached it.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CREATE = re.compile(r"^(?P<base>.*?)(/models/[^/]+/[^/]+|/deployments/[^/]+/[^/]+)?/(predictions|trainings)/?$")  # fmt: skip
_ONE = re.compile(r"^(?P<base>.*)/predictions/(?P<id>[a-z0-9]+)(?P<cancel>/cancel)?/?$")


class Handler(BaseHTTPRequestHandler):
    seen: list[list[str]]
    made: dict[str, dict[str, Any]]
    lock: threading.Lock

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_seen":
            with self.lock:
                self.answer(200, list(self.seen))
            return
        self.record()
        if not self.authorized():
            return
        one = _ONE.match(path)
        if one and not one["cancel"] and one["id"] in self.made:
            self.answer(200, self.made[one["id"]])
        elif path.endswith("/predictions"):
            with self.lock:
                results = list(reversed(self.made.values()))
            self.answer(200, {"next": None, "previous": None, "results": results})
        else:
            self.answer(404, {"detail": "Not found.", "status": 404})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        self.record()
        if not self.authorized():
            return
        one = _ONE.match(path)
        if one and one["cancel"]:
            with self.lock:
                found = self.made.get(one["id"])
                if found is not None:
                    found["status"] = "canceled"
            if found is None:
                self.answer(404, {"detail": "Not found.", "status": 404})
            else:
                self.answer(200, found)
            return
        create = _CREATE.match(path)
        if create is None:
            self.answer(404, {"detail": "Not found.", "status": 404})
            return
        prediction_id = secrets.token_hex(13)
        root = f"http://{self.headers.get('Host', '127.0.0.1')}{create['base']}"
        prediction = {
            "id": prediction_id,
            "model": "google/imagen-4-ultra",
            "version": "hidden",
            "input": {},
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": "starting",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "urls": {
                "cancel": f"{root}/predictions/{prediction_id}/cancel",
                "get": f"{root}/predictions/{prediction_id}",
                "web": f"{root}/p/{prediction_id}",
            },
        }
        with self.lock:
            self.made[prediction_id] = prediction
        self.answer(201, prediction)

    def record(self) -> None:
        with self.lock:
            self.seen.append([self.command, self.path.split("?", 1)[0]])

    def authorized(self) -> bool:
        if self.headers.get("Authorization", "").startswith("Bearer "):
            return True
        self.answer(401, {"title": "Unauthenticated", "status": 401,
                          "detail": "You did not pass an authentication token"})  # fmt: skip
        return False

    def answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    state = {"seen": [], "made": {}, "lock": threading.Lock()}
    server = ThreadingHTTPServer(("127.0.0.1", port), type("Bound", (Handler,), state))
    server.serve_forever()


if __name__ == "__main__":
    main()
