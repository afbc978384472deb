"""Running the app under granian: Rust HTTP on top, the Flask app on each worker's
event loop (:mod:`mock_server.serving.bridge`), held requests in a thread pool.

granian was chosen by measurement (``make bench`` on 2 cores, bare Flask endpoint,
32 connections): 9,057 req/s with one granian worker against 2,270 for one
gunicorn gthread worker, 16,627 against 7,666 with two. Its RSGI interface then beat
its own WSGI one: with requests run in turn on the loop thread instead of in a
thread each, create's p99 fell from about 31-46 ms to under 20 (see the README). An
admin call that waits for other replicas, or a request slowed on purpose, sleeps in one
of a worker's pool threads (``threads``, started as needed), so the loop that serves
everything else stays free; event streams and held ``Prefer: wait`` requests wait as
coroutines on the loop, and take a pool thread only for a moment.

Workers are separate processes: with more than one, predictions must live in a
shared store (``--redis-url``), or a poll could reach a worker that never saw the
create.
"""

from __future__ import annotations

import errno
import functools
import gc
import importlib
import math
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from flask import Flask

from mock_server.config import Settings
from mock_server.http import context, locality, screens
from mock_server.http.admin_metrics import metrics_directory
from mock_server.serving.bridge import WSGIBridge
from mock_server.serving.connections import WorkerConnections
from mock_server.serving.tls import TlsFiles

__all__ = [
    "APP_TARGET",
    "SETTINGS_VARIABLE",
    "app_from_environment",
    "bridged_from_environment",
    "may_be_held",
    "serve",
    "serve_in_thread",
    "serve_target",
]

#: The environment variable that carries the app's settings (JSON) to each worker.
SETTINGS_VARIABLE: Final = "IMAGEN_MOCK_APP_SETTINGS"
#: The mock's WSGI app factory, which each worker process calls.
APP_TARGET: Final = "mock_server.serving.server:app_from_environment"
#: The environment variables that tell each worker which WSGI factory to call and how
#: many threads its pool for held requests may start.
TARGET_VARIABLE: Final = "IMAGEN_MOCK_WSGI_TARGET"
THREADS_VARIABLE: Final = "IMAGEN_MOCK_HELD_THREADS"
#: The environment variable that tells each worker how long it may drain when stopped.
DRAIN_VARIABLE: Final = "IMAGEN_MOCK_DRAIN"
#: Connections a worker serves at once, besides those held in its pool.
QUICK_CONNECTIONS: Final = 1024
#: Paths whose requests may wait or take long: event streams, admin calls and metrics
#: (they may wait for the other workers and replicas to confirm a flush), and output
#: files (an image not yet rendered takes 25-60 ms to draw).
_HELD_PREFIXES: Final = ("/stream/", "/_mock/", "/delivery/", "/metrics")
#: Paths whose requests read or write predictions: with Redis, a round trip (or a stall)
#: that must not hold up the requests that need no Redis.
_STORE_PREFIXES: Final = ("/v1/", "/replicate/v1/", "/p/", "/p")
#: The settings of granian's allocator (jemalloc, prefixed ``_rjem_``), and what the
#: mock gives it unless the variable is already set: hand freed pages back to the system
#: at once. By default jemalloc keeps them for later and, with no background thread,
#: never hands them back while the server idles: after 2000 event streams closed, a
#: worker stayed 75 MiB above where it started; with this, 33 MiB (about 3 % of GET's
#: rate, measured with ``make bench``'s tools).
ALLOCATOR_VARIABLE: Final = "_RJEM_MALLOC_CONF"
ALLOCATOR_SETTINGS: Final = "dirty_decay_ms:0,muzzy_decay_ms:0"
#: The most a request's line and headers may take; more is refused with 431.
MAX_HEAD_BYTES: Final = 64 * 1024
#: The signals that stop a worker (granian's).
_STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM})


def app_from_environment() -> Flask:
    """Build the mock from the settings in :data:`SETTINGS_VARIABLE` (JSON).

    Raises:
        KeyError: if the variable is not set.
        SettingError: if a setting is refused.
        ValueError: if it is not a JSON object.
    """
    from mock_server.http.app import create_app

    # Taken out of this worker's environment, which nothing else needs and which outlives
    # this call: the settings may hold the pinned token and webhook secret.
    return create_app(Settings.from_json(os.environ.pop(SETTINGS_VARIABLE)))


def bridged_from_environment() -> WSGIBridge:
    """The WSGI app named by :data:`TARGET_VARIABLE`, behind a :class:`WSGIBridge`.

    Raises:
        KeyError: if the variables are not set.
        ImportError, AttributeError: if the target cannot be found.
    """
    # A worker is forked with its server's signal handlers, and granian sets its own only
    # after this factory returns: a stop signal that came in between would be taken by
    # the inherited handler and lost, and the worker would serve on while the server
    # waited for it to end. Stop signals wait, blocked, until the bridge starts.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    module_name, _, factory_name = os.environ[TARGET_VARIABLE].partition(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    app = factory()
    # What start-up built (modules, the spec, validators, routes) lives as long as the
    # worker: out of the collector's sight, a full collection no longer walks it. On the
    # mock that cut the longest collection from about 35-40 ms to under 1 ms.
    gc.freeze()
    limit = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH")
    bridge = WSGIBridge(
        app,
        offload=_offload_for(app),
        may_hold=_may_hold_for(app),
        threads=int(os.environ[THREADS_VARIABLE]),
        drain_seconds=float(os.environ[DRAIN_VARIABLE]),
        max_body_bytes=limit,
        multiprocess=True,
        on_start=lambda: _let_stop_signals_in(bridge.stopping),
        on_stop=_stopper_of(app),
        on_end=_closer_of(app),
        connections=WorkerConnections(),
    )
    return bridge


def _let_stop_signals_in(stop: Callable[[], None]) -> None:
    """Hear the stop signals from now on, and deliver those blocked while the worker
    was built. This runs on the worker's loop: uvloop hears a signal only while its
    loop runs, so one that came meanwhile now stops the worker.

    A stop signal makes granian stop accepting and wait for the open connections to
    end; held requests, event streams and bodies that stop arriving mid-way would keep
    theirs open for as long as their clients do. So ``stop`` (the bridge's
    :meth:`~WSGIBridge.stopping`: held requests answer, stalled bodies get a grace) is
    called first, by a handler chained before granian's: the C-level handler still
    wakes uvloop, which then runs its own.
    """
    for number in _STOP_SIGNALS:
        signal.signal(number, functools.partial(_stop_then, stop, signal.getsignal(number)))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _stop_then(stop: Callable[[], None], previous: object, number: int, frame: object) -> None:
    stop()
    if callable(previous):
        previous(number, frame)


def _mock_app(app: object) -> Flask | None:
    """``app`` if it is the mock (None for other apps, such as the benchmark's bare
    Flask)."""
    if not isinstance(app, Flask) or context.EXTENSION not in app.extensions:
        return None
    return app


def _state_of(app: object) -> context.MockState | None:
    mock = _mock_app(app)
    return None if mock is None else context.state(mock)


def _stopper_of(app: object) -> Callable[[], None] | None:
    """What tells the mock its worker is stopping: its change signal's ``stop``, which
    answers held ``Prefer: wait`` requests and ends event streams."""
    mock = _state_of(app)
    changes = mock.service.changes if mock is not None else None
    return None if changes is None else changes.stop


def _closer_of(app: object) -> Callable[[], None] | None:
    """What a drained worker calls last: the observer's ``close``, which writes the
    journal entries still queued."""
    mock = _state_of(app)
    watching = mock.observer if mock is not None else None
    return None if watching is None else watching.close


def may_be_held(environ: Mapping[str, Any]) -> bool:
    """Whether a request (its WSGI environ) may wait for long, and so must run in a pool
    thread: one that asks to be held (``Prefer``) or slowed (``X-Mock-Latency-Ms``), an
    event stream, or an admin call."""
    return (
        "HTTP_PREFER" in environ
        or "HTTP_X_MOCK_LATENCY_MS" in environ
        or environ["PATH_INFO"].startswith(_HELD_PREFIXES)
    )


def may_hold(environ: Mapping[str, Any]) -> bool:
    """Whether an offloaded request may be held for long (``Prefer: wait``, a latency
    asked for, or a rule that may add some), and so takes a thread of the held pool
    rather than one of those that answer in a moment."""
    return "HTTP_PREFER" in environ or "HTTP_X_MOCK_LATENCY_MS" in environ


def _may_hold_for(app: object) -> Callable[[dict[str, Any]], bool]:
    """:func:`may_hold`, and for the mock also every request while rules are set."""
    mock = _mock_app(app)
    if mock is None:
        return may_hold
    return lambda environ: may_hold(environ) or screens.may_delay(mock)


def _offload_for(app: object) -> Callable[[dict[str, Any]], bool]:
    """:func:`may_be_held`, and for the mock also every request while rules are set
    (a rule may add latency) and, on Redis or a data directory, every request that reads
    or writes predictions (the loop must not wait on the store), but for polls the store
    answers from its local copies (:mod:`mock_server.http.locality`)."""
    mock = _mock_app(app)
    if mock is None:
        return may_be_held
    if context.state(mock).replicas is not None:
        local = locality.local_reads(context.state(mock)) or (lambda environ: False)
        return lambda environ: (
            (environ["PATH_INFO"].startswith(_STORE_PREFIXES) and not local(environ))
            or may_be_held(environ)
            or screens.may_delay(mock)
        )
    return lambda environ: may_be_held(environ) or screens.may_delay(mock)


def serve(settings: Settings, *, tls: TlsFiles | None = None) -> None:
    """Serve the mock with ``settings`` until interrupted. Blocks.

    The settings reach each worker through the environment (:data:`SETTINGS_VARIABLE`);
    ``tls`` holds the certificate when ``settings.tls`` is set.
    """
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    with metrics_directory(settings.workers):  # several workers: metrics added up from files
        serve_target(
            APP_TARGET,
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            workers=settings.workers,
            tls=tls,
            access_log=settings.access_log,
            drain_seconds=settings.drain_seconds,
            header_timeout_seconds=settings.header_timeout_seconds,
        )


def serve_target(
    target: str,
    *,
    host: str,
    port: int,
    threads: int,
    workers: int = 1,
    tls: TlsFiles | None = None,
    access_log: bool = False,
    drain_seconds: float = Settings().drain_seconds,
    header_timeout_seconds: float = Settings().header_timeout_seconds,
) -> None:
    """Serve the WSGI app that ``target`` (``module:factory``, a factory taking no
    arguments) builds in each worker, until interrupted. Blocks. The benchmark serves its
    bare-Flask baseline this way, on the mock's own serving settings. ``threads`` bounds
    each worker's pool for held requests; a stopped worker drains for at most
    ``drain_seconds``; a client gets ``header_timeout_seconds`` to send a request's line
    and headers (granian's default is 30 s), so one trickling a header line every few
    seconds is cut off instead of holding a connection slot.

    Raises:
        AddressInUseError: if something already listens on ``host:port``.
    """
    # Read by granian's allocator when it first allocates, so set before granian loads.
    os.environ.setdefault(ALLOCATOR_VARIABLE, ALLOCATOR_SETTINGS)
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    os.environ[TARGET_VARIABLE] = target
    refuse_busy_address(host, port)
    os.environ[THREADS_VARIABLE] = str(max(threads, 1))
    os.environ[DRAIN_VARIABLE] = repr(drain_seconds)
    server = Granian(
        "mock_server.serving.server:bridged_from_environment",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        loop=Loops.uvloop,
        websockets=False,
        workers=max(workers, 1),
        backpressure=max(threads, 1) + QUICK_CONNECTIONS,
        backlog=2048,
        http1_settings=HTTP1Settings(
            max_buffer_size=MAX_HEAD_BYTES,
            header_read_timeout=max(math.ceil(header_timeout_seconds * 1000), 1),
        ),
        log_level=LogLevels.warning,
        log_access=access_log,
        ssl_cert=tls.cert_file if tls else None,
        ssl_key=tls.key_file if tls else None,
        respawn_failed_workers=True,
        # A worker drains its held requests for drain_seconds when stopped; one that has
        # not ended a few seconds later is killed.
        workers_kill_timeout=math.ceil(drain_seconds) + 5,
    )
    server.serve()


class AddressInUseError(OSError):
    """Something already listens on the address the server was asked to serve on."""


def refuse_busy_address(host: str, port: int) -> None:
    """Fail if something already listens on ``host:port``.

    granian's workers share their port through ``SO_REUSEPORT``, and so would a second
    server started on a port already served: Linux would split the connections between
    the two, each with its own predictions. A socket bound here without that option is
    refused while any listener holds the port (``SO_REUSEADDR`` still lets a port in
    ``TIME_WAIT`` be taken again at once).

    Raises:
        AddressInUseError: if the address is taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise AddressInUseError(
                    errno.EADDRINUSE, f"{host}:{port} is already in use"
                ) from None
            raise


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
