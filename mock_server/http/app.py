"""The Flask application factory: configuration, blueprints and the error choke point."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import redis
from flask import Flask, Response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from mock_server.contract import problems
from mock_server.contract.predictions import RequestValidator
from mock_server.contract.problems import Problem
from mock_server.contract.spec import admin_spec_path, load_spec, spec_path
from mock_server.contract.validation import DocumentValidator
from mock_server.domain.clock import AdjustableClock, Clock
from mock_server.domain.purging import BackgroundPurger
from mock_server.domain.recording import RecordedRun, load_recording
from mock_server.domain.scenarios import RuleBook
from mock_server.domain.service import ChangeSignal, Listeners, PredictionService
from mock_server.http import admin, api, context, files, rules, screens, stream, web
from mock_server.storage.memory import InMemoryStore
from mock_server.storage.reachability import REDIS
from mock_server.storage.replicas import DEFAULT_PREFIX, Announcer, Replicas, connect
from mock_server.webhooks import signing
from mock_server.webhooks.delivery import WebhookDispatcher
from mock_server.webhooks.planning import CONFIG_DEFAULTS, WebhookSettings

__all__ = ["DEFAULTS", "create_app"]

log = logging.getLogger(__name__)

#: The embedded defaults: a run shaped like the real model, a few seconds end to end.
DEFAULTS: Final[dict[str, Any]] = {
    "MOCK_TOKEN": None,
    "MOCK_STARTING_SECONDS": 1.0,
    "MOCK_PROCESSING_SECONDS": 3.0,
    "MOCK_RETENTION_SECONDS": 3600.0,
    "MOCK_RECORD_TTL_SECONDS": 24 * 3600.0,
    "MOCK_RECORDING": None,
    "MOCK_TRUSTED_PROXIES": 0,
    "MOCK_WEBHOOK_SECRET": None,
    "MOCK_REDIS_URL": None,
    "MOCK_REDIS_PREFIX": DEFAULT_PREFIX,
    **CONFIG_DEFAULTS,  # MOCK_WEBHOOK_ALLOWED_HOSTS and the other delivery settings
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build a mock server.

    ``test_config`` overrides :data:`DEFAULTS`; besides those keys it may hold
    ``MOCK_CLOCK`` (a :class:`~mock_server.domain.clock.Clock`; by default an
    :class:`~mock_server.domain.clock.AdjustableClock`, moved by ``POST /_mock/clock``),
    ``MOCK_STORE`` (a
    :class:`~mock_server.domain.store.Store`; by default in memory, or in the Redis of
    ``MOCK_REDIS_URL``, shared with other replicas), ``MOCK_SPEC_PATH``,
    ``MOCK_ADMIN_SPEC_PATH`` (the two documents requests are checked against) and
    ``MOCK_WEBHOOK_TRANSPORT`` (an ``httpx.BaseTransport`` for deliveries). Webhook deliveries
    run on a daemon thread (real clock) or through ``state.webhooks.pump()`` (fake
    clock); ``state.webhooks.close()`` stops them.

    Raises:
        SpecNotFoundError: if an OpenAPI document cannot be found.
        FaultError: if ``MOCK_FAULTS`` is not a valid ``KIND:RATE,...`` list.
        ValueError: if ``MOCK_WEBHOOK_SECRET``, a ``MOCK_WEBHOOK_*`` setting or
            ``MOCK_REDIS_URL`` is invalid.
        redis.RedisError: if ``MOCK_REDIS_URL`` is set and Redis cannot be reached.
    """
    app = _MockFlask(__name__)
    app.config.from_mapping(DEFAULTS)
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # type: ignore[attr-defined]

    path = app.config.get("MOCK_SPEC_PATH") or spec_path()
    spec = load_spec(path)
    run = _phases(app.config)
    clock = app.config.get("MOCK_CLOCK") or AdjustableClock()
    changes = None
    if isinstance(clock, AdjustableClock):  # real time passes: held waits sleep until woken
        changes = ChangeSignal()
        clock.on_advance(changes.notify)
    replicas = _join_replicas(app.config, clock)
    store = app.config.get("MOCK_STORE") or (replicas.store if replicas else InMemoryStore())
    secret = replicas.secret if replicas else app.config["MOCK_WEBHOOK_SECRET"]
    secret = secret or new_webhook_secret()
    dispatcher = WebhookDispatcher(
        store=store,
        clock=clock,
        secret=secret,
        settings=WebhookSettings.from_config(app.config),
        transport=app.config.get("MOCK_WEBHOOK_TRANSPORT"),
    )
    admin_path = app.config.get("MOCK_ADMIN_SPEC_PATH") or admin_spec_path()
    rule_book = RuleBook()
    seed = app.config.get("MOCK_SEED")
    dice = screens.fault_dice(str(app.config.get("MOCK_FAULTS") or ""), seed)
    app.extensions[context.EXTENSION] = context.MockState(
        validator=RequestValidator(spec),
        admin=DocumentValidator(load_spec(admin_path)),
        service=PredictionService(
            store=store,
            clock=clock,
            starting_seconds=run.starting_seconds,
            processing_seconds=run.processing_seconds,
            retention_seconds=float(app.config["MOCK_RETENTION_SECONDS"]),
            record_ttl_seconds=float(app.config["MOCK_RECORD_TTL_SECONDS"]),
            log_lines=run.log_lines,
            listener=Listeners(dispatcher, Announcer(replicas)) if replicas else dispatcher,
            changes=changes,
            purger=BackgroundPurger(store).request if changes is not None else None,
        ),
        token=app.config["MOCK_TOKEN"],
        spec_text=path.read_text(encoding="utf-8"),
        admin_spec_text=admin_path.read_text(encoding="utf-8"),
        webhook_secret=secret,
        webhooks=dispatcher,
        replicas=replicas,
        rules=rule_book,
        dice=dice,
        screens=(screens.screen_for(rule_book, dice),),  # X-Mock-* headers, rules, MOCK_FAULTS
    )
    for name, prefix in context.PREFIXES.items():
        app.register_blueprint(api.bp, url_prefix=prefix, name=name)
    app.register_blueprint(files.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(rules.bp)
    app.register_blueprint(stream.bp)
    app.register_blueprint(web.bp)
    app.register_error_handler(Problem, _send_problem)
    app.register_error_handler(HTTPException, _send_http_error)
    app.register_error_handler(redis.RedisError, _send_store_down)
    app.register_error_handler(Exception, _send_unexpected)
    admin.follow_replicas(app)

    hops = int(app.config["MOCK_TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )
    return app


class _MockFlask(Flask):
    """Flask, minus a per-request check this app does not need.

    Flask asks of every view and hook, on every request, whether it is a coroutine
    function, to run async ones in a loop. The mock has none (a test in
    ``contract_tests/mock`` checks), so each is called as it is.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


def _join_replicas(config: Mapping[str, Any], clock: Clock) -> Replicas | None:
    """Connect to the shared Redis of ``MOCK_REDIS_URL``, if set.

    Raises:
        ValueError: if the URL is not a Redis URL.
        redis.RedisError: if Redis cannot be reached.
    """
    url = config.get("MOCK_REDIS_URL")
    if not url:
        return None
    prefix = str(config.get("MOCK_REDIS_PREFIX") or DEFAULT_PREFIX)
    pinned = config.get("MOCK_WEBHOOK_SECRET")
    if pinned:
        signing.secret_key(pinned)  # refuse a malformed secret before sharing it
    secret = pinned or new_webhook_secret()
    return connect(url, clock=clock, prefix=prefix, secret=secret, pin=bool(pinned))


def _phases(config: Mapping[str, Any]) -> RecordedRun:
    """Phase durations and log lines: from ``MOCK_RECORDING`` when set, else the settings.

    Raises:
        OSError, RecordingError: if the recording cannot be read or used.
    """
    if config.get("MOCK_RECORDING"):
        return load_recording(Path(config["MOCK_RECORDING"]))
    return RecordedRun(
        starting_seconds=float(config["MOCK_STARTING_SECONDS"]),
        processing_seconds=float(config["MOCK_PROCESSING_SECONDS"]),
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

        return _send_problem(problems.payload_too_large(current_app.config["MAX_CONTENT_LENGTH"]))
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
