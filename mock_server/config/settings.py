"""The mock's settings: one frozen, typed record holding every setting and its default.

A :class:`Settings` is checked as it is built (the rules are in
:mod:`mock_server.config.rules`): a value out of range, a file that is not there, or two
settings that do not go together raise :class:`~mock_server.config.rules.SettingError`,
whose message is one line naming the option, the rule and the value given. The command
line (:mod:`mock_server.serving.cli`) builds one from its options and ``IMAGEN_MOCK_*``
variables, :func:`~mock_server.http.app.create_app` from ``MOCK_*`` keys, the pytest
plugin from its marker; worker processes get theirs as JSON (:meth:`Settings.to_json`).

Each field's metadata holds the help text of its command-line option, which is ``--``
and the field's name with dashes (``starting_seconds``: ``--starting-seconds``,
``IMAGEN_MOCK_STARTING_SECONDS``, ``MOCK_STARTING_SECONDS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mock_server.config.rules import (
    CHECKS,
    MAX_SECONDS,
    SettingError,
    convert,
    flag_name,
    plain,
)
from mock_server.domain.rendering import Shape
from mock_server.webhooks.planning import WebhookSettings

__all__ = ["Settings", "setting_names"]


def _about(help_text: str) -> dict[str, str]:
    return {"help": help_text}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the app and of serving it, with its default."""

    # -- serving --------------------------------------------------------------------
    host: str = field(default="127.0.0.1", metadata=_about("address to bind"))
    port: int = field(default=8000, metadata=_about("port to listen on (1-65535)"))
    threads: int = field(
        default=1024,
        metadata=_about(
            "most pool threads per worker process, started as needed, for requests that may "
            "wait (a latency asked for); a held 'Prefer: wait' takes one only until its "
            "prediction is stored, and waits without one (1 to 65536)"
        ),
    )
    workers: int = field(
        default=1,
        metadata=_about(
            "worker processes (1 to 256); more than one needs --data-dir or --redis-url"
        ),
    )
    tls: bool = field(
        default=False,
        metadata=_about("serve HTTPS with a certificate from a locally generated CA"),
    )
    ca_file: Path | None = field(
        default=None,
        metadata=_about(
            "with --tls, write the CA certificate (PEM) here; its directory must exist"
        ),
    )
    access_log: bool = field(default=False, metadata=_about("log every request to stderr"))
    drain_seconds: float = field(
        default=10.0,
        metadata=_about(
            "on SIGTERM or SIGINT, how long held requests and event streams get to answer "
            "before the server exits (above 0, to 300)"
        ),
    )
    header_timeout_seconds: float = field(
        default=10.0,
        metadata=_about(
            "how long a client may take to send a request's line and headers before the "
            "connection is cut (above 0, to 300): a client trickling headers holds no slot"
        ),
    )
    # -- the API ---------------------------------------------------------------------
    token: str | None = field(
        default=None,
        repr=False,
        metadata=_about(
            "accept only this Bearer token; by default any token shaped like Replicate's "
            "('r8_' then letters and digits)"
        ),
    )
    accept_any_token: bool = field(
        default=False,
        metadata=_about("accept any non-empty Bearer token, not only Replicate-shaped ones"),
    )
    enforce_rate_limits: bool = field(
        default=False,
        metadata=_about(
            "answer 429 with Retry-After past Replicate's limits (600 creates and 3000 other "
            "requests a minute per token); by default they are only counted in the "
            "ratelimit-* headers"
        ),
    )
    wait_timeout_status: int = field(
        default=201,
        metadata=_about(
            "status of a 'Prefer: wait' create whose wait ran out before the end: 201 as "
            "recorded from the real API, or 202 as its published spec also allows"
        ),
    )
    location_header: bool = field(
        default=False,
        metadata=_about(
            "send a Location header (the prediction's URL) on creates; no recorded real "
            "create has one"
        ),
    )
    metrics_total_time: bool = field(
        default=False,
        metadata=_about(
            "add metrics.total_time (creation to end) to ended predictions; some real "
            "answers carry it, imagen's recorded ones do not"
        ),
    )
    starting_seconds: float = field(
        default=1.0,
        metadata=_about(f"how long a prediction stays 'starting' (0 to {MAX_SECONDS:.0f})"),
    )
    processing_seconds: float = field(
        default=3.0,
        metadata=_about(f"how long it stays 'processing' (0 to {MAX_SECONDS:.0f})"),
    )
    recording: Path | None = field(
        default=None,
        metadata=_about(
            "take phase durations and log lines from a recorded live run (exchanges-live.json "
            "of make contract or make drift) instead of the two options above"
        ),
    )
    retention_seconds: float = field(
        default=3600.0,
        metadata=_about(
            "input, output and logs are removed this long after a prediction ends "
            f"(0 to {MAX_SECONDS:.0f})"
        ),
    )
    record_ttl_seconds: float = field(
        default=24 * 3600.0,
        metadata=_about(
            f"predictions are forgotten this long after creation (above 0, to {MAX_SECONDS:.0f})"
        ),
    )
    trusted_proxies: int = field(
        default=0,
        metadata=_about("number of proxies in front whose X-Forwarded-* headers to trust"),
    )
    max_body_bytes: int = field(
        default=1024 * 1024,
        metadata=_about("larger request bodies get 413 (at least 1)"),
    )
    # -- webhooks --------------------------------------------------------------------
    webhook_secret: str | None = field(
        default=None,
        repr=False,
        metadata=_about(
            "'whsec_<base64>' secret that signs webhook deliveries; by default a random one per run"
        ),
    )
    webhook_allowed_hosts: frozenset[str] = field(
        default=frozenset({"localhost", "127.0.0.1", "::1"}),
        metadata=_about(
            "comma-separated hosts webhook deliveries may be sent to; '*' allows any "
            "(deliveries elsewhere are logged as refused)"
        ),
    )
    webhook_max_attempts: int = field(
        default=5, metadata=_about("attempts per webhook delivery, the first included")
    )
    webhook_backoff_seconds: float = field(
        default=0.5,
        metadata=_about("wait before the first webhook retry (above 0); it doubles each retry"),
    )
    webhook_max_backoff_seconds: float = field(
        default=30.0, metadata=_about("longest wait between two webhook attempts (above 0)")
    )
    webhook_timeout_seconds: float = field(
        default=5.0, metadata=_about("time allowed for one webhook attempt (above 0)")
    )
    webhook_log_limit: int = field(
        default=10_000, metadata=_about("webhook attempts the admin log keeps (at least 1)")
    )
    # -- request journal -------------------------------------------------------------
    journal_limit: int = field(
        default=1000,
        metadata=_about(
            "predictions API requests the journal (/_mock/requests) keeps, the oldest dropped "
            "first (0 to 1000000; 0 keeps none)"
        ),
    )
    # -- faults ----------------------------------------------------------------------
    faults: str = field(
        default="",
        metadata=_about(
            "answer this share of API requests with a fault, KIND:RATE,... with KIND one of "
            "429, 402, 500, 503, drop (e.g. 429:0.05,503:0.02)"
        ),
    )
    seed: int | None = field(
        default=None,
        metadata=_about(
            "seed of the --faults draw: the same seed and requests give the same faults; "
            "random (and logged) by default"
        ),
    )
    # -- shared store ----------------------------------------------------------------
    redis_url: str | None = field(
        default=None,
        metadata=_about(
            "keep predictions in this Redis (redis://host:port/db) so several workers or "
            "hosts share them; by default they live in the process"
        ),
    )
    redis_prefix: str = field(
        default="imagen-mock:",
        metadata=_about("prefix of every Redis key, so several mocks can share one Redis apart"),
    )
    data_dir: Path | None = field(
        default=None,
        metadata=_about(
            "keep predictions, the webhook secret, the clock offset, scenario rules and "
            "webhook deliveries (log and pending) in an SQLite file in this directory "
            "(created if missing), so they outlive a restart and every --workers process "
            "shares them; one server at a time per directory"
        ),
    )

    def __post_init__(self) -> None:
        for name, check in CHECKS.items():
            rule = check(getattr(self, name), self)
            if rule is not None:
                raise SettingError(name, rule, plain(getattr(self, name)))

    # -- building --------------------------------------------------------------------

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, object], *, option: Callable[[str], str] | None = None
    ) -> Settings:
        """Settings from field names to values, text (``"8000"``) or typed (``8000``);
        missing or None values take their default. ``option`` spells a field's name in
        error messages.

        Raises:
            SettingError: for an unknown name, a value that does not convert, or one a
                check refuses.
        """
        option = option or flag_name
        known = {item.name: item for item in fields(cls)}
        typed: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise SettingError(name, "is not a setting", value, option=option(name))
            if value is None or (value == "" and known[name].default is None):
                continue
            try:
                typed[name] = convert(name, value)
            except SettingError as exc:
                raise exc.named(option(name)) from None
        try:
            return cls(**typed)
        except SettingError as exc:
            raise exc.named(option(exc.name)) from None

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """Settings written by :meth:`to_json`.

        Raises:
            SettingError: if a value is refused.
            ValueError: if ``text`` is not a JSON object.
        """
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("settings must be a JSON object")
        return cls.from_mapping(values)

    def to_json(self) -> str:
        """The settings as a JSON object of field names to values."""
        return json.dumps({name: plain(value) for name, value in asdict(self).items()})

    # -- parts for the layers below -----------------------------------------------------

    def webhooks(self, *, background: bool | None = None) -> WebhookSettings:
        """How webhook deliveries are made; ``background`` as in :class:`WebhookSettings`."""
        return WebhookSettings(
            allowed_hosts=self.webhook_allowed_hosts,
            max_attempts=self.webhook_max_attempts,
            backoff_seconds=self.webhook_backoff_seconds,
            max_backoff_seconds=self.webhook_max_backoff_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            log_limit=self.webhook_log_limit,
            background=background,
            shape=self.shape(),
        )

    def shape(self) -> Shape:
        """How predictions are written where the evidence leaves a choice."""
        return Shape(total_time=self.metrics_total_time)


def setting_names() -> Iterator[tuple[str, object, str]]:
    """Each setting's field name, default and help text, in declaration order."""
    for item in fields(Settings):
        default = None if item.default is MISSING else item.default
        yield item.name, default, str(item.metadata.get("help", ""))
