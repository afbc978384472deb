"""Standard Webhooks signatures, as Replicate signs its webhook deliveries.

A delivery carries three headers: ``webhook-id`` (the same on every retry of one
event), ``webhook-timestamp`` (Unix seconds when it was signed) and
``webhook-signature`` (space-separated ``v1,<base64>`` entries). The signed text is
``"{id}.{timestamp}.{body}"``; the key is the base64-decoded part of the secret
after ``whsec_``; the MAC is HMAC-SHA256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Final

__all__ = ["PREFIX", "headers", "new_message_id", "secret_key", "signature", "verify"]

PREFIX: Final = "whsec_"
_ID_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZabcdefghjkmnpqrstvwxyz"


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_<base64>`` secret.

    Raises:
        ValueError: if the secret lacks the prefix, or the rest is not non-empty
            standard base64 (the official clients split the secret on ``_``, so
            the URL-safe alphabet is refused too).
    """
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is 'whsec_' followed by standard base64") from None
    if not key:
        raise ValueError("a webhook secret needs a non-empty key")
    return key


def new_message_id() -> str:
    """A fresh ``msg_`` id for one event (kept across its retries)."""
    return "msg_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(27))


def signature(secret: str, message_id: str, timestamp: int | str, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``"{message_id}.{timestamp}.{body}"``.

    Raises:
        ValueError: if ``secret`` is malformed (see :func:`secret_key`).
    """
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secret: str, message_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The three ``webhook-*`` headers of one signed delivery.

    Raises:
        ValueError: if ``secret`` is malformed (see :func:`secret_key`).
    """
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, received: Mapping[str, str], body: str) -> bool:
    """Whether ``received`` headers (any case) carry a valid signature of ``body``.

    The timestamp is not checked against the current time.

    Raises:
        ValueError: if ``secret`` is malformed (see :func:`secret_key`).
    """
    lowered = {name.lower(): value for name, value in received.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit():
        return False
    expected = signature(secret, message_id, timestamp, body)
    return any(
        hmac.compare_digest(candidate, expected)
        for candidate in lowered.get("webhook-signature", "").split()
    )
