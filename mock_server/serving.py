"""Running the app under granian: Rust HTTP on top, the Flask app in worker threads.

granian was chosen by measurement (``make bench`` on 2 cores, bare Flask endpoint,
32 connections): 9,057 req/s with one granian worker against 2,270 for one
gunicorn gthread worker, 16,627 against 7,666 with two. A held ``Prefer: wait``
request sleeps in one of a worker's blocking threads, which are started on demand
up to ``threads``, so the threads that serve other requests stay free.

Workers are separate processes: with more than one, predictions must live in a
shared store (``--redis-url``), or a poll could reach a worker that never saw the
create.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from flask import Flask

from mock_server.tls import TlsFiles

__all__ = ["APP_TARGET", "CONFIG_VARIABLE", "app_from_environment", "serve", "serve_in_thread"]

#: The environment variable that carries the app's configuration to each worker.
CONFIG_VARIABLE: Final = "IMAGEN_MOCK_APP_CONFIG"
#: The factory granian calls in each worker process.
APP_TARGET: Final = "mock_server.serving:app_from_environment"
#: The most a request's line and headers may take; more is refused with 431.
MAX_HEAD_BYTES: Final = 64 * 1024


def app_from_environment() -> Flask:
    """Build the mock from the JSON configuration in :data:`CONFIG_VARIABLE`.

    Raises:
        KeyError: if the variable is not set.
        ValueError: if it is not a JSON object.
    """
    from mock_server.app import create_app

    # Taken out of this worker's environment, which granian copies into every request's
    # WSGI environ: the configuration may hold the pinned token and webhook secret.
    config = json.loads(os.environ.pop(CONFIG_VARIABLE))
    if not isinstance(config, dict):
        raise ValueError(f"{CONFIG_VARIABLE} must hold a JSON object")
    return create_app(config)


def serve(
    config: Mapping[str, Any],
    *,
    host: str,
    port: int,
    threads: int,
    workers: int = 1,
    tls: TlsFiles | None = None,
    access_log: bool = False,
    target: str = APP_TARGET,
) -> None:
    """Serve until interrupted. Blocks.

    ``config`` (JSON-serialisable) reaches each worker through the environment;
    ``target`` names another app factory taking no arguments (the benchmark serves its
    bare-Flask baseline this way, on identical settings).

    Raises:
        TypeError: if ``config`` cannot be written as JSON.
    """
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    os.environ[CONFIG_VARIABLE] = json.dumps(dict(config))
    logging.getLogger("_granian").addFilter(_expected_thread_count)
    server = Granian(
        target,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=max(workers, 1),
        blocking_threads=max(threads, 1),
        backpressure=max(threads, 1),  # granian's default, backlog / workers, may be lower
        backlog=2048,
        http1_settings=HTTP1Settings(max_buffer_size=MAX_HEAD_BYTES),
        log_level=LogLevels.warning,
        log_access=access_log,
        ssl_cert=tls.cert_file if tls else None,
        ssl_key=tls.key_file if tls else None,
        respawn_failed_workers=True,
    )
    server.serve()


def _expected_thread_count(record: logging.LogRecord) -> bool:
    """Drop granian's warning about a high thread limit: it is meant (threads start only
    when needed, and each held ``Prefer: wait`` request sleeps in one)."""
    return "Python threads" not in record.getMessage()


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
