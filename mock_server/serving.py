"""Running the app under gunicorn: one process (the store is in memory), many threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gunicorn.app.base import BaseApplication

from mock_server.tls import TlsFiles

__all__ = ["serve", "serve_in_thread"]


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        config: Mapping[str, Any],
        options: Mapping[str, Any],
        loader: Callable[[Mapping[str, Any]], Any] | None,
    ) -> None:
        self._app_config = dict(config)
        self._options = dict(options)
        self._loader = loader
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        if self._loader is not None:
            return self._loader(self._app_config)
        from mock_server.app import create_app

        return create_app(self._app_config)


def serve(
    config: Mapping[str, Any],
    *,
    host: str,
    port: int,
    threads: int,
    tls: TlsFiles | None = None,
    access_log: bool = False,
    loader: Callable[[Mapping[str, Any]], Any] | None = None,
) -> None:
    """Serve until interrupted. Blocks.

    ``loader`` builds another WSGI app from ``config`` instead of the mock (the
    benchmark serves its bare-Flask baseline this way, on identical settings).

    Raises:
        SystemExit: from gunicorn, if it cannot bind or boot.
    """
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": max(threads, 1),
        "timeout": 120,
        "graceful_timeout": 5,
        "keepalive": 5,
        "loglevel": "warning",
        "accesslog": "-" if access_log else None,
        "preload_app": True,
    }
    if tls is not None:
        options |= {"certfile": str(tls.cert_file), "keyfile": str(tls.key_file)}
    _Server(config, options, loader).run()


@contextmanager
def serve_in_thread(app: Any, *, stop_timeout: float = 5.0) -> Iterator[str]:
    """Serve a WSGI app on a free 127.0.0.1 port from a background thread, for tests
    and in-process tools; yield its root URL (``http://127.0.0.1:PORT``).

    Werkzeug's threaded server is enough here: the caller is the only client.
    """
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="imagen-mock", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(stop_timeout)
        server.server_close()
