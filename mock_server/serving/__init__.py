"""Running the mock: the ``imagen-mock`` command line, granian workers with the RSGI
bridge in front of the Flask app, and locally issued TLS certificates."""

from mock_server.serving.cli import main
from mock_server.serving.server import serve, serve_in_thread

__all__ = ["main", "serve", "serve_in_thread"]
