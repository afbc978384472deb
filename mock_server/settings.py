"""The mock's settings: one frozen, typed record holding every setting and its default.

A :class:`Settings` is checked as it is built: a value out of range, a file that is not
there, or two settings that do not go together raise :class:`SettingError`, whose
message is one line naming the option, the rule and the value given. The command line
(:mod:`mock_server.serving.cli`) builds one from its options and ``IMAGEN_MOCK_*``
variables, :func:`~mock_server.http.app.create_app` from ``MOCK_*`` keys, the pytest
plugin from its marker; worker processes get theirs as JSON (:meth:`Settings.to_json`).

Each field's metadata holds the help text of its command-line option, which is
``--`` and the field's name with dashes (``starting_seconds``: ``--starting-seconds``,
``IMAGEN_MOCK_STARTING_SECONDS``, ``MOCK_STARTING_SECONDS``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from mock_server.domain.faults import FaultError, parse_rates
from mock_server.domain.recording import RecordingError, load_recording
from mock_server.webhooks import signing
from mock_server.webhooks.planning import WebhookSettings, parse_hosts

__all__ = [
    "ENV_PREFIX",
    "MAX_SECONDS",
    "SettingError",
    "Settings",
    "env_name",
    "flag_name",
    "key_name",
    "kind",
    "setting_names",
]

#: Prefix of each setting's environment variable (``IMAGEN_MOCK_PORT``).
ENV_PREFIX: Final = "IMAGEN_MOCK_"
#: Longest duration a setting may have: one year, as far as the admin clock moves at once.
MAX_SECONDS: Final = 365 * 24 * 3600.0
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
#: Fields whose value is never repeated in an error message.
_HIDDEN: Final = frozenset({"token", "webhook_secret"})


class SettingError(ValueError):
    """A setting that cannot be used. ``str()`` is one line: option, rule, value."""

    def __init__(self, name: str, rule: str, value: object, *, option: str | None = None) -> None:
        self.name = name
        """The :class:`Settings` field."""
        self.rule = rule
        """What the value must be, such as ``must be from 1 to 65535``."""
        self.value = value
        """The value given."""
        self.option = option or flag_name(name)
        """How the user spelled the setting: ``--port``, ``MOCK_PORT``..."""
        shown = "<hidden>" if name in _HIDDEN else repr(value)
        super().__init__(f"{self.option} {rule} (got {shown})")

    def named(self, option: str) -> SettingError:
        """The same error, naming the setting as ``option``."""
        return SettingError(self.name, self.rule, self.value, option=option)


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
            "wait; each held 'Prefer: wait' request uses one (at least 1)"
        ),
    )
    workers: int = field(
        default=1,
        metadata=_about("worker processes (at least 1); more than one needs --redis-url"),
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
    # -- the API ---------------------------------------------------------------------
    token: str | None = field(
        default=None,
        repr=False,
        metadata=_about("accept only this Bearer token; by default any non-empty token"),
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

    def __post_init__(self) -> None:
        for name, check in _CHECKS.items():
            rule = check(getattr(self, name), self)
            if rule is not None:
                raise SettingError(name, rule, _plain(getattr(self, name)))

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
            if value is None or (value == "" and _optional(known[name])):
                continue
            try:
                typed[name] = _convert(name, value)
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
        return json.dumps({name: _plain(value) for name, value in asdict(self).items()})

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
        )


def flag_name(name: str) -> str:
    """A field's command-line option: ``--starting-seconds``."""
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    """A field's environment variable: ``IMAGEN_MOCK_STARTING_SECONDS``."""
    return ENV_PREFIX + name.upper()


def key_name(name: str) -> str:
    """A field's ``create_app`` key: ``MOCK_STARTING_SECONDS``."""
    return "MOCK_" + name.upper()


def setting_names() -> Iterator[tuple[str, object, str]]:
    """Each setting's field name, default and help text, in declaration order."""
    for item in fields(Settings):
        default = None if item.default is MISSING else item.default
        yield item.name, default, str(item.metadata.get("help", ""))


# -- conversion ------------------------------------------------------------------------

_INTS: Final = frozenset(
    {"port", "threads", "workers", "trusted_proxies", "max_body_bytes", "seed"}
    | {"webhook_max_attempts", "webhook_log_limit"}
)
_FLOATS: Final = frozenset(
    {"starting_seconds", "processing_seconds", "retention_seconds", "record_ttl_seconds"}
    | {"webhook_backoff_seconds", "webhook_max_backoff_seconds", "webhook_timeout_seconds"}
)
_BOOLS: Final = frozenset({"tls", "access_log"})
_PATHS: Final = frozenset({"ca_file", "recording"})
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def kind(name: str) -> str:
    """What a setting holds: ``int``, ``seconds``, ``flag``, ``path``, ``hosts`` or ``text``."""
    for names, found in ((_INTS, "int"), (_FLOATS, "seconds"), (_BOOLS, "flag"), (_PATHS, "path")):
        if name in names:
            return found
    return "hosts" if name == "webhook_allowed_hosts" else "text"


def _optional(item: Any) -> bool:
    return item.default is None


def _convert(name: str, value: object) -> Any:
    """``value`` as the type of field ``name``.

    Raises:
        SettingError: if it does not convert.
    """
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise SettingError(name, "must be a whole number", value)
        try:
            return int(value)
        except ValueError:
            raise SettingError(name, "must be a whole number", value) from None
    if name in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise SettingError(name, "must be a number of seconds", value)
        try:
            return float(value)
        except ValueError:
            raise SettingError(name, "must be a number of seconds", value) from None
    if name in _BOOLS:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _TRUE | _FALSE:
            raise SettingError(name, "must be one of 1/true/yes/on or 0/false/no/off", value)
        return text in _TRUE
    if name in _PATHS:
        if not isinstance(value, str | Path):
            raise SettingError(name, "must be a file path", value)
        return Path(value)
    if name == "webhook_allowed_hosts":
        if isinstance(value, str):
            return parse_hosts(value)
        if isinstance(value, list | tuple | set | frozenset) and all(
            isinstance(item, str) for item in value
        ):
            return parse_hosts(value)
        raise SettingError(name, "must be a comma-separated list of hosts", value)
    if not isinstance(value, str):
        raise SettingError(name, "must be text", value)
    return value


def _plain(value: object) -> object:
    """``value`` as JSON can hold it (and as an error message shows it)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, frozenset | set):
        return ",".join(sorted(value))
    return value


# -- checks: each returns the rule a value breaks, or None ------------------------------

Check = Callable[[Any, Settings], str | None]


def _between(low: float, high: float | None = None, *, above: bool = False) -> Check:
    """A check that a number is at least ``low`` (above it with ``above``) and, with
    ``high``, at most ``high``."""
    if high is None:
        rule = f"must be above {low:g}" if above else f"must be at least {low:g}"
    elif above:
        rule = f"must be above {low:g} and at most {high:.0f}"
    else:
        rule = f"must be from {low:g} to {high:.0f}"

    def check(value: Any, _: Settings) -> str | None:
        number = float(value)
        fits = number > low if above else number >= low
        return None if fits and (high is None or number <= high) else rule  # NaN fits nothing

    return check


def _not_empty(value: Any, _: Settings) -> str | None:
    return "must not be empty" if value is not None and not str(value).strip() else None


def _ca_file(value: Path | None, settings: Settings) -> str | None:
    if value is None:
        return None
    if not settings.tls:
        return "needs --tls"
    if not value.parent.is_dir():
        return f"must be in an existing directory ({value.parent} is not one)"
    return None


def _workers(value: int, settings: Settings) -> str | None:
    rule = _between(1)(value, settings)
    if rule is None and value > 1 and not settings.redis_url:
        return "above 1 needs --redis-url, or each process keeps its own predictions"
    return rule


def _recording(value: Path | None, _: Settings) -> str | None:
    if value is None:
        return None
    try:
        load_recording(value)
    except OSError as exc:
        return f"must be a readable recording file: {exc.strerror or exc}"
    except RecordingError as exc:
        return f"must be a recording of a live run: {exc}"
    return None


def _faults(value: str, _: Settings) -> str | None:
    try:
        parse_rates(value)
    except FaultError as exc:
        return f"must be a KIND:RATE,... list: {exc.field.description}"
    return None


def _secret(value: str | None, _: Settings) -> str | None:
    if value is None:
        return None
    try:
        signing.secret_key(value)
    except ValueError as exc:
        return f"must be a webhook secret: {exc}"
    return None


def _redis_url(value: str | None, _: Settings) -> str | None:
    if value is None or value.startswith(_REDIS_SCHEMES):
        return None
    return "must be a redis://, rediss:// or unix:// URL"


_CHECKS: Final[dict[str, Check]] = {
    "host": _not_empty,
    "port": _between(1, 65535),
    "threads": _between(1),
    "workers": _workers,
    "ca_file": _ca_file,
    "token": _not_empty,
    "starting_seconds": _between(0, MAX_SECONDS),
    "processing_seconds": _between(0, MAX_SECONDS),
    "recording": _recording,
    "retention_seconds": _between(0, MAX_SECONDS),
    "record_ttl_seconds": _between(0, MAX_SECONDS, above=True),
    "trusted_proxies": _between(0),
    "max_body_bytes": _between(1),
    "webhook_secret": _secret,
    "webhook_max_attempts": _between(1),
    "webhook_backoff_seconds": _between(0, MAX_SECONDS, above=True),
    "webhook_max_backoff_seconds": _between(0, MAX_SECONDS, above=True),
    "webhook_timeout_seconds": _between(0, MAX_SECONDS, above=True),
    "webhook_log_limit": _between(1),
    "faults": _faults,
    "redis_url": _redis_url,
    "redis_prefix": _not_empty,
}
