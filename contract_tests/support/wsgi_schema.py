"""A schemathesis schema for a mock app in-process, authenticated with a pinned token.

The token goes through an ``@schema.auth()`` provider rather than plain headers, so
schemathesis knows which calls are authenticated (its ``ignored_auth`` check relies on it).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.schemas import BaseSchema

from mock_server import create_app


def wsgi_schema(spec_path: str, token: str) -> tuple[Any, BaseSchema]:
    """A mock with instant phases and ``token`` pinned, and the schema served at ``spec_path``."""
    app = create_app(
        {"MOCK_TOKEN": token, "MOCK_STARTING_SECONDS": 0, "MOCK_PROCESSING_SECONDS": 0}
    )
    schema = schemathesis.openapi.from_wsgi(spec_path, app)

    @schema.auth()
    class BearerToken:
        def get(self, case: Case[Any], context: Any) -> str:
            return token

        def set(self, case: Case[Any], data: str, context: Any) -> None:
            case.headers["Authorization"] = f"Bearer {data}"

    return app, schema
