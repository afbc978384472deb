"""The budget guard at the HTTP layer: an httpx transport and a ``requests`` adapter.

Every live request of ``make contract`` goes through one of them: the suite and the drift
report send with httpx through :class:`GuardedTransport`; schemathesis sends with
``requests``, where :func:`guard_requests` wraps ``HTTPAdapter.send`` (loaded into the
schemathesis process by ``contract_tests/support/budget_schemathesis.py``). Both follow
the rules of :mod:`contract_tests.support.budget`: reserve before sending, bill every
2xx create, cancel an unexpected one at once, refuse once the budget is spent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import HTTPAdapter

from contract_tests.support.budget import (
    BILLED,
    BudgetSpentError,
    Ledger,
    answered,
    cancel_url,
    is_create,
    status_of,
    unanswered,
)

CANCEL_TIMEOUT = 30.0


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


class GuardedTransport(httpx.BaseTransport):
    """Wraps another transport; creates go through the ledger (see the module docstring).

    A create the caller means to be billed carries ``extensions={BILLED: "what it is"}``;
    every other 2xx create is unexpected and canceled. A refused create raises
    :class:`BudgetSpentError` and nothing is sent.
    """

    def __init__(self, ledger: Ledger, inner: httpx.BaseTransport) -> None:
        self.ledger = ledger
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        label = str(request.extensions.pop(BILLED, "") or "")
        if not is_create(request.method, request.url.path):
            return self.inner.handle_request(request)
        what = f"{request.method} {request.url.path}"
        self.ledger.reserve(what)
        try:
            response = self.inner.handle_request(request)
            response.read()
        except (httpx.ConnectError, httpx.ConnectTimeout):
            self.ledger.release()  # no connection, so nothing was sent
            raise
        except BaseException:
            self.ledger.bill(unanswered(what, label))
            raise
        if not 200 <= response.status_code < 300:
            self.ledger.release()
            return response
        body = _json(response.content)
        index = self.ledger.bill(answered(what, label, response.status_code, body))
        if not label:
            self._cancel(request, body, index)
        return response

    def _cancel(self, request: httpx.Request, body: Any, index: int) -> None:
        url = cancel_url(str(request.url), body)
        if url is None:
            return
        cancel = httpx.Request(
            "POST",
            url,
            headers=_auth_only(request.headers),
            extensions={"timeout": _timeouts(CANCEL_TIMEOUT)},
        )
        try:
            answer = self.inner.handle_request(cancel)
            answer.read()
        except httpx.HTTPError as exc:
            self.ledger.update(index, note=f"cancel failed: {type(exc).__name__}")
            return
        self.ledger.update(
            index,
            cancel_status=answer.status_code,
            status_after_cancel=status_of(_json(answer.content)),
        )

    def close(self) -> None:
        self.inner.close()


def _auth_only(headers: Mapping[str, Any]) -> dict[str, Any]:
    """The create's Authorization header, for its cancel (nothing else of the create's)."""
    return {k: v for k, v in headers.items() if k.lower() == "authorization"}


def _timeouts(seconds: float) -> dict[str, float]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


class BudgetRefusedError(requests.exceptions.RequestException):
    """``requests``' side of :class:`BudgetSpentError`: the create was not sent."""


_installed: dict[str, Any] = {}


def guard_requests(ledger: Ledger) -> None:
    """Route every ``requests`` send of this process through ``ledger`` (idempotent).

    No create is expected on this path: schemathesis never means to bill, so every 2xx
    create it gets is canceled at once.
    """
    if _installed:
        _installed["ledger"] = ledger
        return
    original = HTTPAdapter.send
    _installed.update(ledger=ledger, original=original)

    def send(
        self: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        current: Ledger = _installed["ledger"]
        path = urlsplit(request.url or "").path
        if not is_create(request.method or "", path):
            return original(self, request, **kwargs)
        what = f"{request.method} {path}"
        try:
            current.reserve(what)
        except BudgetSpentError as exc:
            raise BudgetRefusedError(str(exc), request=request) from exc
        try:
            response = original(self, request, **kwargs)
            content = response.content
        except BaseException:
            current.bill(unanswered(what, ""))
            raise
        if not 200 <= response.status_code < 300:
            current.release()
            return response
        body = _json(content)
        index = current.bill(answered(what, "", response.status_code, body))
        url = cancel_url(request.url or "", body)
        if url is not None:
            cancel = requests.Request("POST", url, headers=_auth_only(request.headers)).prepare()
            options = {**kwargs, "timeout": CANCEL_TIMEOUT, "stream": False}
            try:
                answer = original(self, cancel, **options)
            except requests.exceptions.RequestException as exc:
                current.update(index, note=f"cancel failed: {type(exc).__name__}")
            else:
                status = status_of(_json(answer.content))
                current.update(index, cancel_status=answer.status_code, status_after_cancel=status)
        return response

    HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
