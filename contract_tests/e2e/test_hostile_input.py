"""What a careless or hostile client sends, over real sockets to ``imagen-mock serve``:
each gets a clear problem response or a closed connection, never a 500 or a hung worker."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from contract_tests.support.servers import RunningMock, run_mock

pytestmark = pytest.mark.slow
AUTH = "Authorization: Bearer r8_hostile\r\n"
CREATE = "/v1/models/google/imagen-4-ultra/predictions"


@pytest.fixture(scope="module")
def mock() -> Iterator[RunningMock]:
    with run_mock(["--threads", "8", "--max-body-bytes", "65536"]) as running:
        yield running


def raw(mock: RunningMock, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes (a request with ``Connection: close``), read until the server closes.

    The write side stays open: a client that half-closes may be cut off unanswered.
    """
    host, port = mock.root.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def body_of(reply: bytes) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    return parsed


def still_serving(mock: RunningMock) -> bool:
    response = httpx.get(
        mock.api + "/predictions", headers={"Authorization": "Bearer r8_x"}, timeout=5
    )
    return response.status_code == 200


def test_oversized_body_is_413(mock: RunningMock) -> None:
    body = json.dumps({"input": {"prompt": "x" * 100_000}}).encode()
    request = (
        f"POST {CREATE} HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    reply = raw(mock, request)
    assert status_of(reply) == 413
    assert body_of(reply)["status"] == 413
    assert still_serving(mock)


def chunked_create(parts: list[bytes]) -> bytes:
    """A create request whose body is sent in ``parts``, chunked."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
    head = (
        f"POST {CREATE} HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + chunks


def test_oversized_chunked_body_is_413(mock: RunningMock) -> None:
    chunk = json.dumps({"input": {"prompt": "x" * 30_000}}).encode()
    reply = raw(mock, chunked_create([chunk] * 4))
    assert status_of(reply) == 413
    assert body_of(reply)["status"] == 413
    assert still_serving(mock)


def test_chunked_body_within_the_limit_is_read_whole(mock: RunningMock) -> None:
    body = json.dumps({"input": {"prompt": "chunked " + "y" * 2000}}).encode()
    reply = raw(mock, chunked_create([body[:700], body[700:]]))
    assert status_of(reply) == 201
    assert body_of(reply)["input"] == {"prompt": "chunked " + "y" * 2000}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/predictions/..%2F..%2Fetc%2Fpasswd", 404),
        ("/v1/predictions/../../etc/passwd", 404),
        ("/delivery/..%2F..%2Fopenapi.yaml/output.jpg", 404),
        ("/v1/predictions/%00", 404),
        ("/v1/predictions/%FF%FE", 404),
    ],
)
def test_path_tricks_are_404(mock: RunningMock, path: str, expected: int) -> None:
    reply = raw(mock, f"GET {path} HTTP/1.1\r\nHost: t\r\n{AUTH}Connection: close\r\n\r\n".encode())
    assert status_of(reply) == expected
    assert body_of(reply)["status"] == expected


@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND", "BREW"])
def test_unknown_methods_are_refused(mock: RunningMock, method: str) -> None:
    reply = raw(
        mock,
        f"{method} /v1/predictions HTTP/1.1\r\nHost: t\r\n{AUTH}Connection: close\r\n\r\n".encode(),
    )
    assert status_of(reply) == 405
    assert b"\r\nallow: " in reply.lower()


def test_enormous_header_is_refused(mock: RunningMock) -> None:
    huge = "X-Junk: " + "a" * 70_000 + "\r\n"
    reply = raw(
        mock,
        f"GET /v1/predictions HTTP/1.1\r\nHost: t\r\n{huge}{AUTH}Connection: close\r\n\r\n".encode(),
    )
    assert status_of(reply) in {0, 400, 431}
    assert status_of(reply) != 500
    assert still_serving(mock)


def test_invalid_utf8_and_deep_json_are_400(mock: RunningMock) -> None:
    for body in (b'{"input": {"prompt": "\xff\xfe"}}', b"[" * 30_000 + b"]" * 30_000):
        request = (
            f"POST {CREATE} HTTP/1.1\r\nHost: t\r\n{AUTH}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        reply = raw(mock, request)
        assert status_of(reply) == 400, reply[:200]
        assert body_of(reply)["title"] == "Invalid JSON"


def test_slow_clients_do_not_hang_the_server(mock: RunningMock) -> None:
    host, port = mock.root.removeprefix("http://").split(":")
    slow = []
    try:
        for _ in range(6):
            sock = socket.create_connection((host, int(port)), timeout=5)
            sock.sendall(b"GET /v1/predictions HTTP/1.1\r\nHost: t\r\n")  # never finished
            slow.append(sock)
        started = time.monotonic()
        assert still_serving(mock)
        assert time.monotonic() - started < 3.0
    finally:
        for sock in slow:
            sock.close()


def test_garbage_instead_of_http_is_closed(mock: RunningMock) -> None:
    reply = raw(mock, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64)
    assert status_of(reply) in {0, 400}
    assert still_serving(mock)
