"""The HTTP layer on Flask: the app factory and its error choke point, the predictions
API, files, event streams, web pages, and the ``/_mock`` admin API. Handlers stay thin:
admit, validate, call the domain, render."""

from mock_server.http.app import create_app, settings_of

__all__ = ["create_app", "settings_of"]
