"""A client library for accessing Imagen 4 Ultra predictions"""

from .client import AuthenticatedClient, Client

__all__ = (
    "AuthenticatedClient",
    "Client",
)
