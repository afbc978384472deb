"""Running the app under gunicorn: one process (the store is in memory), many threads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from mock_server.tls import TlsFiles

__all__ = ["serve"]


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self._app_config = dict(config)
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
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
) -> None:
    """Serve until interrupted. Blocks.

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
    _Server(config, options).run()
