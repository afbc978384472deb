"""The Flask application factory: configuration, blueprints and the error choke point."""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis
from flask import Flask, Request, Response
from flask.sessions import NullSession, SessionInterface
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from mock_server.config import Settings, key_name
from mock_server.contract import problems
from mock_server.contract.predictions import RequestValidator
from mock_server.contract.problems import Problem
from mock_server.contract.spec import admin_spec_path, load_spec, spec_path
from mock_server.contract.validation import DocumentValidator
from mock_server.domain.clock import AdjustableClock, Clock
from mock_server.domain.purging import BackgroundPurger
from mock_server.domain.ratelimit import MemoryRates, RateCounter
from mock_server.domain.recording import RecordedRun, load_recording
from mock_server.domain.scenarios import RuleBook
from mock_server.domain.service import ChangeSignal, Listeners, PredictionService
from mock_server.http import (
    admin,
    admin_observer,
    admin_requests,
    api,
    context,
    files,
    gate,
    quick_poll,
    rules,
    screens,
    stream,
    web,
)
from mock_server.storage.local_peers import LocalPeers, open_data_dir
from mock_server.storage.memory import InMemoryStore
from mock_server.storage.peers import Peers
from mock_server.storage.reachability import REDIS
from mock_server.storage.redis_rates import RedisRates
from mock_server.storage.replicas import Announcer, Replicas, connect
from mock_server.storage.sqlite_rules import SqliteRuleBook
from mock_server.webhooks.delivery import WebhookDispatcher
from mock_server.webhooks.delivery_log import DeliveryLog
from mock_server.webhooks.sqlite_delivery_log import SqliteDeliveryLog

__all__ = ["COLLABORATORS", "SETTINGS_KEY", "create_app", "settings_of"]

log = logging.getLogger(__name__)

#: Where the app keeps its :class:`~mock_server.config.Settings`.
SETTINGS_KEY: Final = "MOCK_SETTINGS"
#: ``create_app`` keys that are not settings but objects a test or tool puts in.
COLLABORATORS: Final = frozenset(
    {"MOCK_CLOCK", "MOCK_STORE", "MOCK_SPEC_PATH", "MOCK_ADMIN_SPEC_PATH"}
    | {"MOCK_WEBHOOK_TRANSPORT"}
    | {"MOCK_WEBHOOK_BACKGROUND", SETTINGS_KEY}
)


def create_app(test_config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build a mock server.

    ``test_config`` is a :class:`~mock_server.config.Settings`, or a mapping of
    ``MOCK_<SETTING>`` keys (``MOCK_PORT``, ``MOCK_STARTING_SECONDS``...; checked as a
    ``Settings`` is; ``MAX_CONTENT_LENGTH`` stands for ``MOCK_MAX_BODY_BYTES``) and of
    Flask's own keys (``TESTING``...). It may also hold ``MOCK_SETTINGS`` (a ``Settings``
    the ``MOCK_*`` keys then change) and these objects: ``MOCK_CLOCK`` (a
    :class:`~mock_server.domain.clock.Clock`; by default an
    :class:`~mock_server.domain.clock.AdjustableClock`, moved by ``POST /_mock/clock``),
    ``MOCK_STORE`` (a :class:`~mock_server.domain.store.Store`; by default in memory, or
    in the Redis of the ``redis_url`` setting, shared with other replicas, or in the
    SQLite file of the ``data_dir`` setting, shared with the server's other workers),
    ``MOCK_SPEC_PATH``, ``MOCK_ADMIN_SPEC_PATH`` (the two documents requests are checked
    against), ``MOCK_WEBHOOK_TRANSPORT`` (an ``httpx.BaseTransport`` for deliveries) and
    ``MOCK_WEBHOOK_BACKGROUND``. Webhook deliveries run on a daemon
    thread (real clock) or through ``state.webhooks.pump()`` (fake clock);
    ``state.webhooks.close()`` stops them.

    Raises:
        SettingError: if a setting is refused (the message names its key).
        SpecNotFoundError: if an OpenAPI document cannot be found.
        redis.RedisError: if the ``redis_url`` setting is set and Redis cannot be reached.
    """
    settings, extra = _split(test_config)
    app = _MockFlask(__name__)
    app.config.from_mapping(extra)
    app.config[SETTINGS_KEY] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    path = app.config.get("MOCK_SPEC_PATH") or spec_path()
    spec = load_spec(path)
    run = _phases(settings)
    clock = app.config.get("MOCK_CLOCK") or AdjustableClock()
    changes = None
    if isinstance(clock, AdjustableClock):  # real time passes: held waits sleep until woken
        changes = ChangeSignal()
        clock.on_advance(changes.notify)
    replicas = _join_replicas(settings, clock)
    store = app.config.get("MOCK_STORE") or (replicas.store if replicas else InMemoryStore())
    secret = replicas.secret if replicas else settings.webhook_secret
    secret = secret or new_webhook_secret()
    watching = admin_observer.build(
        settings, store, clock, replicas, background=changes is not None
    )
    rule_book, delivery_log = _kept(settings, replicas)
    dispatcher = WebhookDispatcher(
        store=store,
        clock=clock,
        secret=secret,
        settings=settings.webhooks(background=app.config.get("MOCK_WEBHOOK_BACKGROUND")),
        transport=app.config.get("MOCK_WEBHOOK_TRANSPORT"),
        on_attempt=watching.metrics.attempted,
        delivery_log=delivery_log,
    )
    if delivery_log is not None:
        dispatcher.resume()  # deliveries pending when the last server stopped
    listeners = (dispatcher, watching.endings, *((Announcer(replicas),) if replicas else ()))
    admin_path = app.config.get("MOCK_ADMIN_SPEC_PATH") or admin_spec_path()
    dice = screens.fault_dice(settings.faults, settings.seed)
    app.extensions[context.EXTENSION] = context.MockState(
        validator=RequestValidator(spec),
        admin=DocumentValidator(load_spec(admin_path)),
        service=PredictionService(
            store=store,
            clock=clock,
            starting_seconds=run.starting_seconds,
            processing_seconds=run.processing_seconds,
            retention_seconds=settings.retention_seconds,
            record_ttl_seconds=settings.record_ttl_seconds,
            log_lines=run.log_lines,
            listener=Listeners(*listeners),
            changes=changes,
            purger=BackgroundPurger(store).request if changes is not None else None,
        ),
        token=settings.token,
        spec_text=path.read_text(encoding="utf-8"),
        admin_spec_text=admin_path.read_text(encoding="utf-8"),
        webhook_secret=secret,
        webhooks=dispatcher,
        replicas=replicas,
        rules=rule_book,
        dice=dice,
        screens=(screens.screen_for(rule_book, dice),),  # X-Mock-* headers, rules, MOCK_FAULTS
        observer=watching,
        accept_any_token=settings.accept_any_token,
        rates=_rates(settings, replicas),
        enforce_rate_limits=settings.enforce_rate_limits,
        shape=settings.shape(),
        wait_timeout_status=settings.wait_timeout_status,
        location_header=settings.location_header,
    )
    for name, prefix in context.PREFIXES.items():
        app.register_blueprint(api.bp, url_prefix=prefix, name=name)
    app.register_blueprint(files.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_requests.bp)
    app.register_blueprint(admin_requests.metrics_bp)
    app.register_blueprint(rules.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(web.bp)
    app.register_error_handler(Problem, _send_problem)
    app.register_error_handler(HTTPException, _send_http_error)
    app.register_error_handler(redis.RedisError, _send_store_down)
    app.register_error_handler(Exception, _send_unexpected)
    admin.follow_replicas(app)
    gate.install(app)  # token, rate limit, screens; journal and metrics
    quick_poll.install(app)  # plain polls answered before Flask's machinery

    hops = settings.trusted_proxies
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    return app


class _NoSessions(SessionInterface):
    """The mock keeps no sessions (no cookie is read or set): every request gets the
    one null session, which refuses writes. Flask's default interface looks for a
    signing key on every request, then makes a null session of its own."""

    _null: Final = NullSession()

    def open_session(self, app: Flask, request: Request) -> NullSession:
        return self._null

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None  # never called: a null session is not saved


class _MockFlask(Flask):
    """Flask, minus per-request work this app does not need.

    Flask asks of every view and hook, on every request, whether it is a coroutine
    function, to run async ones in a loop. The mock has none (a test in
    ``contract_tests/http/test_errors.py`` checks), so each is called as it is. And
    it has no sessions (:class:`_NoSessions`).
    """

    session_interface = _NoSessions()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


def settings_of(app: Flask) -> Settings:
    """The settings ``app`` was built with."""
    settings: Settings = app.config[SETTINGS_KEY]
    return settings


def _split(test_config: Settings | Mapping[str, Any] | None) -> tuple[Settings, dict[str, Any]]:
    """The settings in ``test_config``, and the rest of it (Flask keys, collaborators).

    Raises:
        SettingError: if a ``MOCK_*`` key is not a setting or its value is refused.
    """
    if test_config is None:
        return Settings(), {}
    if isinstance(test_config, Settings):
        return test_config, {}
    base = test_config.get(SETTINGS_KEY) or Settings()
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in test_config.items():
        if key == "MAX_CONTENT_LENGTH":
            values["max_body_bytes"] = value
        elif key.startswith("MOCK_") and key not in COLLABORATORS:
            values[key.removeprefix("MOCK_").lower()] = value
        else:
            extra[key] = value
    names = {"max_body_bytes": "MAX_CONTENT_LENGTH"} if "MAX_CONTENT_LENGTH" in test_config else {}
    if values:
        merged = {**_fields_of(base), **values}
        base = Settings.from_mapping(merged, option=lambda name: names.get(name, key_name(name)))
    return base, extra


def _fields_of(settings: Settings) -> dict[str, Any]:
    return {item.name: getattr(settings, item.name) for item in dataclasses.fields(settings)}


def _join_replicas(settings: Settings, clock: Clock) -> Peers | None:
    """Connect to the shared Redis of the ``redis_url`` setting, or open the data
    directory of the ``data_dir`` setting, if one is set.

    Raises:
        ValueError: if the URL is not a Redis URL.
        redis.RedisError: if Redis cannot be reached.
        OSError, sqlite3.Error: if the data directory cannot be used.
    """
    pinned = settings.webhook_secret
    secret = pinned or new_webhook_secret()
    if settings.data_dir is not None:
        return open_data_dir(settings.data_dir, clock=clock, secret=secret, pin=bool(pinned))
    if not settings.redis_url:
        return None
    return connect(
        settings.redis_url,
        clock=clock,
        prefix=settings.redis_prefix,
        secret=secret,
        pin=bool(pinned),
    )


def _rates(settings: Settings, peers: Peers | None) -> RateCounter:
    """The rate-limit counts: in the shared Redis when limits are enforced there (every
    worker and host then counts a token together, at one round trip a request, behind the
    store's breaker); else per process, so the advisory headers cost no round trip and a
    Redis stall holds up no request that does not need a prediction."""
    if settings.enforce_rate_limits and isinstance(peers, Replicas):
        return RedisRates(peers.store.client, settings.redis_prefix, breaker=peers.store.breaker)
    return MemoryRates()


def _kept(settings: Settings, peers: Peers | None) -> tuple[RuleBook, DeliveryLog | None]:
    """The scenario rules and the delivery log: in the data directory of the
    ``data_dir`` setting (shared by the workers, kept across restarts), else the rules
    in memory and the delivery log left to the dispatcher (its log in memory).

    Raises:
        OSError, sqlite3.Error: if the data directory cannot be used.
    """
    if settings.data_dir is None or not isinstance(peers, LocalPeers):
        return RuleBook(), None
    delivery_log = SqliteDeliveryLog(
        peers.store.path,
        limit=settings.webhook_log_limit,
        owner=peers.bus.origin,
        alive=peers.is_alive,
    )
    return SqliteRuleBook(settings.data_dir), delivery_log


def _phases(settings: Settings) -> RecordedRun:
    """Phase durations and log lines: from the recording when one is set, else the settings.

    Raises:
        OSError, RecordingError: if the recording cannot be read or used.
    """
    if settings.recording is not None:
        return load_recording(settings.recording)
    return RecordedRun(
        starting_seconds=settings.starting_seconds,
        processing_seconds=settings.processing_seconds,
        log_lines=(),
    )


def new_webhook_secret() -> str:
    """A fresh ``whsec_`` signing secret (32 random bytes, base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _send_problem(problem: Problem) -> Response:
    response = Response(problem.to_json(), status=problem.status, mimetype=problems.CONTENT_TYPE)
    response.headers.update(problem.headers)
    return response


def _send_http_error(error: HTTPException) -> Response:
    if isinstance(error, MethodNotAllowed):
        return _send_problem(problems.method_not_allowed(list(error.valid_methods or [])))
    if isinstance(error, RequestEntityTooLarge):
        from flask import current_app

        limit = settings_of(current_app).max_body_bytes
        return _send_problem(problems.payload_too_large(limit))
    if error.code == 404:
        return _send_problem(problems.route_not_found())
    code = error.code or 400
    return _send_problem(Problem(code, error.description or error.name, error.name))


def _send_store_down(error: redis.RedisError) -> Response:
    REDIS.failed(error)  # one line when Redis goes away, not one per request
    problem = problems.unavailable()
    problem.headers.setdefault("Retry-After", "1")
    return _send_problem(problem)


def _send_unexpected(error: Exception) -> Response:
    log.exception("unexpected error", exc_info=error)
    return _send_problem(problems.unexpected())
