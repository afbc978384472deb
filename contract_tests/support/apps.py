"""Letting go of an in-process app as a stopping worker does."""

from __future__ import annotations

from flask import Flask

from mock_server.http import context
from mock_server.storage.sqlite_rules import SqliteRuleBook

__all__ = ["close_app"]


def close_app(app: Flask) -> None:
    """Stop the app's observer (its journal part written), deliveries, stored rules and
    store connections (Redis, or the data directory)."""
    state = context.state(app)
    context.observer(app).close()
    if state.webhooks is not None:
        state.webhooks.close()
    if isinstance(state.rules, SqliteRuleBook):
        state.rules.close()
    if state.replicas is not None:
        state.replicas.close()
