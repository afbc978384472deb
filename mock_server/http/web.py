"""Pages for people: a prediction's page at ``/p/<id>`` (its ``urls.web``) and a list of
recent predictions at ``/p``. No token is needed, as for the output files.

Templates autoescape everything; the page's one inline script runs under a per-response
CSP nonce, reads ``/p/<id>/json`` (the prediction as the API shows it) every
:data:`POLL_MILLISECONDS` until the prediction ends, and writes only ``textContent``.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Final

from flask import Blueprint, Response, render_template, url_for

from mock_server.contract import problems
from mock_server.domain import lifecycle, rendering
from mock_server.http.context import links, state

__all__ = ["POLL_MILLISECONDS", "bp"]

#: How often an open page of a running prediction asks for its state.
POLL_MILLISECONDS: Final = 500
#: The pages show a prediction's total time, which the API adds only by option.
PAGE_SHAPE: Final = rendering.Shape(total_time=True)

bp = Blueprint("web", __name__, template_folder="templates")


def _html(body: str, status: int = 200, *, nonce: str | None = None) -> Response:
    scripts = f"'nonce-{nonce}'" if nonce else "'none'"
    styles = f"'nonce-{nonce}'" if nonce else "'self'"
    csp = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return Response(
        body,
        status=status,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _page(template: str, status: int = 200, **context: Any) -> Response:
    nonce = secrets.token_urlsafe(16)
    return _html(render_template(template, nonce=nonce, **context), status, nonce=nonce)


@bp.get("/p/", strict_slashes=False)
def index() -> Response:
    """The newest predictions (up to a page of the API's list), newest first."""
    page, now = state().service.page(None)
    here = links()
    shown = [rendering.render(record, now, here) for record in page.records]
    return _page("index.html", predictions=shown)


@bp.get("/p/<prediction_id>")
def prediction_page(prediction_id: str) -> Response:
    """The prediction's page; an HTML page with status 404 if there is no such id."""
    service = state().service
    now = service.clock.now()  # before the read (see Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        return _page("not_found.html", 404, prediction_id=prediction_id)
    shown = rendering.render(record, now, links(), shape=PAGE_SHAPE)
    return _page(
        "prediction.html",
        p=shown,
        terminal=shown["status"] in lifecycle.TERMINAL,
        json_url=url_for(".prediction_json", prediction_id=prediction_id),
        poll_ms=POLL_MILLISECONDS,
    )


@bp.get("/p/<prediction_id>/json")
def prediction_json(prediction_id: str) -> Response:
    """The prediction as ``GET /v1/predictions/<id>`` shows it, for the page's script
    (with ``metrics.total_time``, which the page shows, whatever the API's choice).

    Raises:
        Problem: 404 if there is no such prediction.
    """
    service = state().service
    now = service.clock.now()  # before the read (see Store.cancel)
    record = service.get(prediction_id)
    if record is None:
        raise problems.not_found(f"Prediction {prediction_id}")
    shown = rendering.render(record, now, links(), shape=PAGE_SHAPE)
    body = json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
    return Response(body, mimetype="application/json", headers={"Cache-Control": "no-store"})
