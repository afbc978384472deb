"""``imagen-mock``: the command line. ``imagen-mock serve`` runs the mock under granian.

Built on click. Every option is a field of :class:`~mock_server.config.Settings`
(which holds its default and its checks) and may also come from the environment
variable ``IMAGEN_MOCK_<OPTION>``; the flag wins. A refused value, from a flag or a
variable, stops the command before anything starts with one line on stderr and exit
code 2.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import click
from click.core import ParameterSource

from mock_server.config import (
    SettingError,
    Settings,
    env_name,
    flag_name,
    kind,
    setting_names,
)

__all__ = ["EXIT_USAGE", "cli", "main", "parse_settings"]

#: Exit code of a refused option or argument.
EXIT_USAGE: Final = 2
_METAVARS: Final = {
    "int": "INTEGER",
    "seconds": "SECONDS",
    "path": "PATH",
    "hosts": "HOSTS",
    "text": "TEXT",
}


def _default(value: object, what: str) -> tuple[str | None, bool | str]:
    """A setting's default as click gets it, and what ``--help`` shows for it."""
    if what == "flag":
        return None, "off"
    if value is None or value == "":
        return None, "unset" if value is None else "none"
    if isinstance(value, frozenset):
        return ",".join(sorted(value)), True
    return str(value), True


def _options(command: Any) -> Any:
    """Add an option for every setting, in the order :class:`Settings` declares them.
    Only values given (by flag or variable) reach :class:`Settings`, which keeps the
    defaults; click's copy of them is for ``--help``."""
    for name, default, help_text in reversed(list(setting_names())):
        what = kind(name)
        shown, show_default = _default(default, what)
        command = click.option(
            flag_name(name),
            name,
            is_flag=what == "flag",
            default=shown,
            metavar=_METAVARS.get(what),
            envvar=env_name(name),
            show_envvar=True,
            show_default=show_default,
            help=help_text,
        )(command)
    return command


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def cli() -> None:
    """Offline mock of Replicate's google/imagen-4-ultra predictions API."""


@cli.command()
@_options
@click.pass_context
def serve(ctx: click.Context, /, **values: Any) -> int:
    """Serve the predictions API at /v1 and /replicate/v1 over HTTP or HTTPS.

    Every option may also be set through the environment variable shown with it
    (IMAGEN_MOCK_<OPTION>); the flag wins.
    """
    settings = _settings(ctx, values)
    if settings.redis_url and not _redis_answers(settings.redis_url):
        return EXIT_USAGE
    if not _address_free(settings.host, settings.port):
        return 1
    return _run(settings)


def _address_free(host: str, port: int) -> bool:
    """Whether the server can listen on ``host:port`` (else say why on stderr): another
    server already there would otherwise share the port with this one."""
    from mock_server.serving.server import AddressInUseError, refuse_busy_address

    try:
        refuse_busy_address(host, port)
    except AddressInUseError:
        _say(f"cannot serve on {host}:{port}: the address is already in use")
        return False
    except OSError as exc:
        _say(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
        return False
    return True


def _settings(ctx: click.Context, values: dict[str, Any]) -> Settings:
    """Settings from the options given (flag or variable); the rest keep their defaults.

    Raises:
        SettingError: naming the flag, and the variable when the value came from one.
    """

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in {None, ParameterSource.DEFAULT}

    def option(name: str) -> str:
        if ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT:
            return f"{flag_name(name)} (from {env_name(name)})"
        return flag_name(name)

    chosen = {name: value for name, value in values.items() if given(name)}
    return Settings.from_mapping(chosen, option=option)


def parse_settings(args: Sequence[str]) -> Settings:
    """The settings ``imagen-mock serve ARGS`` would serve with (flags, then
    ``IMAGEN_MOCK_*`` variables, then defaults), without serving.

    Raises:
        SettingError: if a value is refused.
        click.UsageError: if an option is unknown or misses its value.
    """
    with serve.make_context("serve", list(args)) as ctx:
        return _settings(ctx, ctx.params)


def _redis_answers(url: str) -> bool:
    """Whether the Redis at ``url`` answers a PING (else say why on stderr)."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except (ValueError, redis.RedisError) as exc:
        _say(f"cannot use --redis-url {url}: {exc}")
        return False
    return True


def _run(settings: Settings) -> int:
    """Hold the data directory if one is set, make the TLS certificates if asked, then
    serve until interrupted; the exit code."""

    from mock_server.storage.local_peers import hold

    with contextlib.ExitStack() as stack:
        if settings.data_dir is not None:  # the workers of one server share it; two servers not
            try:
                stack.enter_context(hold(settings.data_dir))
            except OSError as exc:
                _say(f"cannot use --data-dir {settings.data_dir}: {exc.strerror or exc}")
                return EXIT_USAGE
        return _serve_with_tls(settings)


def _serve_with_tls(settings: Settings) -> int:
    from mock_server.serving.server import AddressInUseError, serve

    tls_dir = tempfile.TemporaryDirectory(prefix="imagen-mock-tls-") if settings.tls else None
    try:
        tls = None
        if tls_dir is not None:
            from mock_server.serving.tls import make_certificates

            tls = make_certificates(Path(tls_dir.name), settings.host, settings.ca_file)
            _say(f"CA certificate at {tls.ca_file}")
        scheme = "https" if tls else "http"
        _say(f"serving {scheme}://{settings.host}:{settings.port}/v1")
        serve(settings, tls=tls)
    except AddressInUseError:  # taken since the check, by a server started at once
        _say(f"cannot serve on {settings.host}:{settings.port}: the address is already in use")
        return 1
    finally:
        if tls_dir is not None:
            tls_dir.cleanup()
    return 0


def _say(line: str) -> None:
    print(f"imagen-mock: {line}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imagen-mock`` command; returns its exit code."""
    try:
        result = cli.main(
            args=None if argv is None else list(argv),
            prog_name="imagen-mock",
            standalone_mode=False,
        )
    except SettingError as exc:
        _say(str(exc))
        return EXIT_USAGE
    except click.exceptions.NoArgsIsHelpError:
        _say("missing command (see imagen-mock --help)")
        return EXIT_USAGE
    except click.ClickException as exc:
        _say(exc.format_message().replace("\n", " "))
        return exc.exit_code
    except click.Abort:
        return 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
