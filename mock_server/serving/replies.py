"""What a WSGI app answered, and sending it through granian's RSGI protocol.

:class:`Reply` collects a WSGI answer (status, headers, body); :func:`send` hands it to
granian whole, or cuts the connection when its body failed after the headers were
chosen, so the client never takes a broken body for a complete one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from mock_server.contract import problems

if TYPE_CHECKING:
    from granian._granian import RSGIHTTPProtocol as HTTPProtocol

__all__ = [
    "Reply",
    "StartResponse",
    "WSGIApp",
    "broken_reply",
    "close_body",
    "open_stream",
    "read_all",
    "send",
    "stopping_reply",
    "write",
]

log = logging.getLogger(__name__)


class StartResponse(Protocol):
    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
    ) -> Callable[[bytes], object]: ...


WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _problem_body(problem: problems.Problem) -> bytes:
    return json.dumps(problem.body(), separators=(",", ":")).encode()


#: Answer when the app itself raises (Flask's handlers catch everything in the mock).
_BROKEN_BODY: Final = _problem_body(problems.unexpected())
#: Answer to a request whose body stopped arriving while the worker stops.
_STOPPING_BODY: Final = _problem_body(problems.unavailable())


@dataclass(slots=True)
class Reply:
    """What the app answered: status, headers, and its body (read or still to read)."""

    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    cut: bool = False
    """The body failed after the headers were chosen: the connection is to be cut."""

    def start(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.status = int(status[:3])
        self.headers = headers
        return self.chunks.append


def broken_reply() -> Reply:
    """500: the app raised instead of answering."""
    return Reply(500, [("content-type", problems.CONTENT_TYPE)], [_BROKEN_BODY])


def stopping_reply() -> Reply:
    """503, and the connection closed: the worker stops and the body did not all arrive."""
    headers = [("content-type", problems.CONTENT_TYPE), ("connection", "close")]
    return Reply(503, headers, [_STOPPING_BODY])


def read_all(reply: Reply, body: Iterable[bytes]) -> None:
    """Read the app's body into ``reply`` (marked to be cut if it fails), then close it."""
    try:
        reply.chunks.extend(body)
    except Exception as error:  # a body that fails: the client must not see it complete
        log.info("response body failed (%s); cutting the connection", error)
        reply.cut = True
    finally:
        close_body(body)


def close_body(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


async def send(proto: HTTPProtocol, reply: Reply) -> None:
    if reply.cut:
        await _cut(proto, reply)
    else:
        proto.response_bytes(reply.status, reply.headers, b"".join(reply.chunks))


async def write(transport: Any, chunk: bytes) -> None:
    await transport.send_bytes(chunk)


async def open_stream(proto: HTTPProtocol, reply: Reply) -> Any:
    return proto.response_stream(reply.status, reply.headers)


async def _cut(proto: HTTPProtocol, reply: Reply) -> None:
    """End the response before it is whole: promise a body, send none of it, and let the
    server close the connection, before or just after the headers. Either way the
    client sees a transport error, never a complete response."""
    headers = [(name, value) for name, value in reply.headers if name.lower() != "content-length"]
    headers.append(("content-length", str(sum(map(len, reply.chunks)) + 64)))
    transport = proto.response_stream(reply.status, headers)
    await transport.send_bytes(b"")
