"""The WSGI environ (PEP 3333) of a request granian hands over through RSGI."""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from granian.rsgi import Scope

__all__ = ["environ_for"]


def environ_for(scope: Scope, body: bytes, *, multiprocess: bool = False) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an RSGI request whose body has been read.

    granian gives the path already percent-decoded as UTF-8; WSGI wants it as the
    bytes' Latin-1 reading, which is what Werkzeug decodes back. Headers spelled with
    ``_`` are dropped, as proxies do, so that ``X_Forwarded_For`` cannot pose as
    ``X-Forwarded-For``; repeated headers are joined with commas.
    """
    server_host, _, server_port = scope.server.rpartition(":")
    client_host, _, client_port = scope.client.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/" + scope.http_version,
        "REMOTE_ADDR": client_host.strip("[]"),
        "REMOTE_PORT": client_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        if "_" in name:
            continue
        key = _cgi_name(name)
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


_CGI_NAMES: dict[str, str] = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}


def _cgi_name(header: str) -> str:
    found = _CGI_NAMES.get(header)
    if found is None:
        found = "HTTP_" + header.upper().replace("-", "_")
        if len(_CGI_NAMES) < 512:  # the usual headers; an endless variety is not kept
            _CGI_NAMES[header] = found
    return found
