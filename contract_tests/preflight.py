"""Checks ``make contract`` and ``make drift`` run before sending anything that counts.

Each check raises :class:`PreflightError` with one line that names what is wrong; the command
prints it to stderr and exits 2. The last check reaches the base URL once with a GET of
the predictions list and no token (nothing is created or billed): any HTTP answer, a 401
included, means the host is there.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from pathlib import Path
from typing import NoReturn

import httpx

REACH_SECONDS = 5.0


class PreflightError(Exception):
    """A setting or a target that stops the run before it starts; ``str`` is one line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (no usage block), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def refuse(prog: str, error: PreflightError) -> int:
    """Print the error on one line of stderr; the exit code to return."""
    print(f"{prog}: refusing to start: {one_line(str(error))}", file=sys.stderr)
    return 2


def one_line(text: str) -> str:
    return " ".join(text.split())


def base_url(value: str, name: str) -> str:
    """The URL without trailing slash.

    Raises:
        PreflightError: when it is empty, not http(s), has no host, or a port out of range.
    """
    url = value.strip().rstrip("/")
    if not url:
        raise PreflightError(f"{name} not set")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise PreflightError(f"{name} {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise PreflightError(
            f"{name} {url!r} is not an http(s) URL with a host, e.g. https://api.replicate.com/v1"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise PreflightError(f"{name} {url!r} has port {parsed.port}, outside 1-65535")
    return url


def budget(value: int) -> int:
    """The budget of billed predictions.

    Raises:
        PreflightError: when it is negative.
    """
    if value < 0:
        raise PreflightError(
            f"the budget cannot be negative (got {value}); 0 sends only free requests"
        )
    return value


def tls(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What to verify servers with: the system store, or the CA bundle given.

    Raises:
        PreflightError: when the file is missing, unreadable, or holds no PEM certificate.
    """
    if ca_file is None:
        return True
    if not ca_file.is_file():
        raise PreflightError(f"CA file {ca_file} does not exist")
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise PreflightError(
            f"CA file {ca_file} holds no PEM certificate we can use: {exc}"
        ) from exc


def reach(url: str, verify: ssl.SSLContext | bool, timeout: float = REACH_SECONDS) -> None:
    """GET ``{url}/predictions`` once, without a token.

    Raises:
        PreflightError: when no HTTP answer comes back within ``timeout`` seconds (refused,
            unknown host, TLS failure, timeout).
    """
    target = f"{url}/predictions"
    try:
        with httpx.Client(verify=verify, timeout=timeout) as client:
            client.get(target)
    except httpx.TimeoutException as exc:
        raise PreflightError(f"cannot reach {target}: no answer within {timeout:g} s") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = one_line(str(exc)) or type(exc).__name__
        raise PreflightError(f"cannot reach {target}: {reason}") from exc
