"""A client that leaves in the middle of its request body is an expected condition: the
server logs no traceback for it and goes on serving."""

from __future__ import annotations

import socket
import time

import httpx

from contract_tests.support.constants import AUTH, CREATE
from contract_tests.support.servers import run_mock

BOUND = 20.0


def test_a_client_leaving_mid_body_logs_no_traceback() -> None:
    with run_mock() as mock:
        port = int(mock.root.rsplit(":", 1)[1])
        head = (f"POST {CREATE} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH['Authorization']}"
                "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")  # fmt: skip
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
                sock.sendall(head.encode() + b'{"input": ')  # 10 of the 1000 bytes promised
                time.sleep(0.1)  # the server has begun reading the body
        reply = httpx.post(mock.root + CREATE, headers=AUTH, json={"input": {"prompt": "after"}},
                           timeout=BOUND)  # fmt: skip
        assert reply.status_code == 201, reply.text
        mock.process.terminate()
        mock.process.wait(BOUND)
        assert mock.process.stderr is not None
        logged = mock.process.stderr.read().decode(errors="replace")
    assert "Traceback" not in logged, logged
    assert len(logged.splitlines()) <= 3 + 2, logged  # the serving line, at most one a client
