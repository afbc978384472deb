"""The HTTP layer on Flask: the app factory and its error choke point, the predictions
API, files, event streams, web pages, and the ``/_mock`` admin API. Handlers stay thin:
admit, validate, call the domain, render."""

from mock_server.http.app import DEFAULTS, create_app

__all__ = ["DEFAULTS", "create_app"]
