"""Answers decided later: a held ``Prefer: wait`` create that waits on the serving
loop instead of in a thread.

Under ``imagen-mock serve`` the bridge marks the requests it runs in a thread with
:data:`ASYNC_ANSWERS`. A handler may then answer :func:`later`: Flask's part of the
request ends at once (the create is stored, the thread is given back), and the
response's body offers ``answer_async(run_blocking)``, which the bridge awaits on its
event loop. That coroutine waits (``wait(run_blocking)``: asleep on the change
signal, each look at the record run briefly in a thread), then, in a copy of the
request's context, calls ``answer(result)`` (or raises what the wait raised) and
finishes the request as Flask would have: its error handlers, its ``after_request``
hooks (rate-limit headers, the journal entry, the metrics) and its ``teardown_request``
hooks all run then, on the final answer. Until then the hooks leave the request alone
(:func:`is_deferred`).

Without the mark (Flask's test client, Werkzeug's server) the handler waits in its
own thread, as it always could.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Final, Generic, TypeVar

from flask import Response, copy_current_request_context, current_app, g
from flask.typing import ResponseReturnValue

from mock_server.domain.service import RunBlocking
from mock_server.http.context import current_request

__all__ = ["ASYNC_ANSWERS", "can_answer_later", "is_deferred", "later"]

#: Set in the WSGI environ by the serving bridge (``mock_server.serving.bridge``, which
#: spells it alike): it awaits a body's ``answer_async``.
ASYNC_ANSWERS: Final = "bridge.async_answers"
#: Set in the environ while a request's answer is still to come.
_DEFERRED: Final = "imagen_mock.deferred"

T = TypeVar("T")


def can_answer_later(environ: dict[str, Any]) -> bool:
    """Whether the server this request came through awaits answers decided later."""
    return bool(environ.get(ASYNC_ANSWERS))


def is_deferred(environ: dict[str, Any]) -> bool:
    """Whether this request's answer is still to come: hooks that act on the answer
    leave it alone until then (they run again on the final answer)."""
    return _DEFERRED in environ


def later(
    wait: Callable[[RunBlocking], Awaitable[T]], answer: Callable[[T], ResponseReturnValue]
) -> Response:
    """A response to return from a view whose answer comes once ``wait`` is over:
    ``answer(result)`` then gives it, in this request's context (see the module)."""
    current_request().environ[_DEFERRED] = True
    kept = dict(vars(g))  # the request's g (the prediction's id, the outcome...)

    @copy_current_request_context
    def finish(outcome: T | Exception) -> Response:
        for name, value in kept.items():
            setattr(g, name, value)
        current_request().environ.pop(_DEFERRED, None)
        app = current_app
        try:
            if isinstance(outcome, Exception):
                raise outcome
            rv = answer(outcome)
        except Exception as error:
            rv = app.handle_user_exception(error)
        return app.finalize_request(rv)

    return Response(_Later(wait, finish), direct_passthrough=True)


class _Later(Generic[T]):
    """A body that is not iterated: the bridge awaits :meth:`answer_async` instead."""

    def __init__(
        self,
        wait: Callable[[RunBlocking], Awaitable[T]],
        finish: Callable[[T | Exception], Response],
    ) -> None:
        self._wait = wait
        self._finish = finish

    async def answer_async(self, run_blocking: RunBlocking) -> Response:
        """Wait on the running loop, then finish the request in a thread; the final
        response (a WSGI app) is returned for the bridge to send."""
        outcome: T | Exception
        try:
            outcome = await self._wait(run_blocking)
        except Exception as error:  # answered by the app's error handlers
            outcome = error
        finish = self._finish
        return await run_blocking(lambda: finish(outcome))

    def __iter__(self) -> Iterator[bytes]:
        raise RuntimeError("an answer decided later is awaited (answer_async), not iterated")
