"""The rules of the settings: how each is named, converted from text and checked.

Each check takes a value and the whole :class:`~mock_server.config.settings.Settings`
(some rules join two settings) and returns the rule the value breaks, or None.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from mock_server.domain.faults import FaultError, parse_rates
from mock_server.domain.recording import RecordingError, load_recording
from mock_server.webhooks import signing
from mock_server.webhooks.planning import parse_hosts

__all__ = [
    "CHECKS",
    "ENV_PREFIX",
    "MAX_SECONDS",
    "SettingError",
    "convert",
    "env_name",
    "flag_name",
    "key_name",
    "kind",
    "plain",
]


class Settings(Protocol):
    """What a check may read of the other settings (those that go together)."""

    @property
    def tls(self) -> bool: ...

    @property
    def redis_url(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...

    @property
    def data_dir(self) -> Path | None: ...


ENV_PREFIX: Final = "IMAGEN_MOCK_"
#: Most pool threads a worker may start, and most worker processes: beyond these a value
#: is a typo, and the server would fail while starting (or fork without end).
MAX_THREADS: Final = 65536
MAX_WORKERS: Final = 256
#: Most requests the journal may keep: past this its reads (a whole list) grow too long.
MAX_JOURNAL: Final = 1_000_000
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


def flag_name(name: str) -> str:
    """A field's command-line option: ``--starting-seconds``."""
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    """A field's environment variable: ``IMAGEN_MOCK_STARTING_SECONDS``."""
    return ENV_PREFIX + name.upper()


def key_name(name: str) -> str:
    """A field's ``create_app`` key: ``MOCK_STARTING_SECONDS``."""
    return "MOCK_" + name.upper()


# -- conversion ------------------------------------------------------------------------

_INTS: Final = frozenset(
    {"port", "threads", "workers", "trusted_proxies", "max_body_bytes", "seed"}
    | {"wait_timeout_status"}
    | {"webhook_max_attempts", "webhook_log_limit", "journal_limit"}
)
_FLOATS: Final = frozenset(
    {"starting_seconds", "processing_seconds", "retention_seconds", "record_ttl_seconds"}
    | {"drain_seconds", "header_timeout_seconds"}
    | {"webhook_backoff_seconds", "webhook_max_backoff_seconds", "webhook_timeout_seconds"}
)
_BOOLS: Final = frozenset(
    {"tls", "access_log", "accept_any_token", "enforce_rate_limits", "location_header"}
    | {"metrics_total_time"}
)
_PATHS: Final = frozenset({"ca_file", "recording", "data_dir"})
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def kind(name: str) -> str:
    """What a setting holds: ``int``, ``seconds``, ``flag``, ``path``, ``hosts`` or ``text``."""
    for names, found in ((_INTS, "int"), (_FLOATS, "seconds"), (_BOOLS, "flag"), (_PATHS, "path")):
        if name in names:
            return found
    return "hosts" if name == "webhook_allowed_hosts" else "text"


def convert(name: str, value: object) -> Any:
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


def plain(value: object) -> object:
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
    rule = _between(1, MAX_WORKERS)(value, settings)
    if rule is None and value > 1 and not settings.redis_url and settings.data_dir is None:
        return "above 1 needs --data-dir or --redis-url, or each process keeps its own predictions"
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


def _accept_any_token(value: bool, settings: Settings) -> str | None:
    if value and settings.token:
        return "cannot be used with --token, which accepts only that one"
    return None


def _wait_timeout_status(value: int, _: Settings) -> str | None:
    return None if value in (201, 202) else "must be 201 or 202"


def _redis_url(value: str | None, _: Settings) -> str | None:
    if value is None or value.startswith(_REDIS_SCHEMES):
        return None
    return "must be a redis://, rediss:// or unix:// URL"


def _data_dir(value: Path | None, settings: Settings) -> str | None:
    if value is None:
        return None
    if settings.redis_url:
        return "cannot be used with --redis-url (choose one store)"
    if value.exists() and not value.is_dir():
        return "must be a directory"
    return None


CHECKS: Final[dict[str, Check]] = {
    "host": _not_empty,
    "port": _between(1, 65535),
    "threads": _between(1, MAX_THREADS),
    "workers": _workers,
    "drain_seconds": _between(0, 300, above=True),
    "header_timeout_seconds": _between(0, 300, above=True),
    "ca_file": _ca_file,
    "token": _not_empty,
    "accept_any_token": _accept_any_token,
    "wait_timeout_status": _wait_timeout_status,
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
    "journal_limit": _between(0, MAX_JOURNAL),
    "faults": _faults,
    "redis_url": _redis_url,
    "redis_prefix": _not_empty,
    "data_dir": _data_dir,
}
