"""Scenario rules over HTTP: ``/_mock/rules`` (see ``openapi/admin.yaml``).

``POST /_mock/rules`` adds a rule (201), ``GET /_mock/rules`` lists them,
``DELETE /_mock/rules/<id>`` and ``DELETE /_mock/rules`` remove them (204). The screen
that applies them to API requests is in :mod:`mock_server.http.screens`.
"""

from __future__ import annotations

from flask import Blueprint, Response

from mock_server.contract import problems
from mock_server.domain.scenarios import ScenarioError
from mock_server.http.context import authenticate, json_response, links, read_json, state

__all__ = ["bp"]

bp = Blueprint("rules", __name__, url_prefix="/_mock")
bp.before_request(authenticate)


@bp.post("/rules")
def add_rule() -> Response:
    """Add a rule; 201 with the rule and its id.

    Raises:
        Problem: 415 not JSON, 400 unparsable, 422 not a valid rule (``RuleInput`` in
            the admin spec, and a prompt that compiles).
    """
    doc = read_json()
    mock = state()
    errors = mock.admin.operation("addRule").body_errors(doc)
    if errors:
        raise problems.validation_failed(errors, title="Invalid rule")
    try:
        rule = mock.rules.add(doc)
    except ScenarioError as exc:
        raise problems.validation_failed(exc.fields) from None
    location = f"{links().root}/_mock/rules/{rule.id}"
    return json_response(rule.as_dict(), 201, {"Location": location})


@bp.get("/rules")
def list_rules() -> Response:
    """Every rule, oldest first, with how often each has applied."""
    return json_response({"results": state().rules.all()})


@bp.delete("/rules/<rule_id>")
def delete_rule(rule_id: str) -> Response:
    """Remove one rule (204).

    Raises:
        Problem: 404 if there is no such rule.
    """
    if not state().rules.delete(rule_id):
        raise problems.not_found(f"Rule {rule_id}")
    return Response(status=204)


@bp.delete("/rules")
def clear_rules() -> Response:
    """Remove every rule (204)."""
    state().rules.clear()
    return Response(status=204)
