"""Standard Webhooks signing: the published vector, the official client, malformed secrets."""

from __future__ import annotations

import base64
import re

import pytest
from replicate.webhook import InvalidSignatureError, Webhooks, WebhookSigningSecret

from mock_server.http.app import new_webhook_secret
from mock_server.webhooks import signing

# The Standard Webhooks test vector (see the facts file, "Webhooks").
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_vector() -> None:
    assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == EXPECTED
    assert signing.headers(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": EXPECTED,
    }


def test_the_official_client_accepts_our_signatures() -> None:
    secret = new_webhook_secret()
    body = '{"id":"abc","status":"succeeded","logs":"caf\u00e9\\n"}'
    headers = signing.headers(secret, signing.new_message_id(), TIMESTAMP, body)
    Webhooks.validate(headers=headers, body=body, secret=WebhookSigningSecret(key=secret))
    vector = signing.headers(SECRET, MESSAGE_ID, TIMESTAMP, BODY)
    Webhooks.validate(headers=vector, body=BODY, secret=WebhookSigningSecret(key=SECRET))
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(headers=headers, body=body + " ", secret=WebhookSigningSecret(key=secret))


def test_verify_accepts_any_listed_signature_and_any_header_case() -> None:
    other = "v1," + base64.b64encode(b"x" * 32).decode()
    received = {
        "Webhook-Id": MESSAGE_ID,
        "Webhook-Timestamp": str(TIMESTAMP),
        "Webhook-Signature": f"{other} {EXPECTED}",
    }
    assert signing.verify(SECRET, received, BODY)
    assert not signing.verify(SECRET, received, BODY.replace("2", "3"))
    assert not signing.verify(SECRET, {**received, "Webhook-Timestamp": "1614265331"}, BODY)
    assert not signing.verify(SECRET, {**received, "Webhook-Timestamp": "soon"}, BODY)
    assert not signing.verify(SECRET, {"webhook-signature": EXPECTED}, BODY)
    assert not signing.verify(new_webhook_secret(), received, BODY)


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",  # no key
        "whsec_not base64!",
        "whsec_ab-_",  # URL-safe alphabet: the official clients split on "_"
        "whsec_abc",  # bad padding
    ],
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        signing.secret_key(secret)
    with pytest.raises(ValueError, match="secret"):
        signing.signature(secret, MESSAGE_ID, TIMESTAMP, BODY)


def test_generated_secrets_and_ids() -> None:
    secret = new_webhook_secret()
    assert len(signing.secret_key(secret)) == 32
    assert len(secret.split("_")) == 2, "the official clients split the secret on '_'"
    ids = {signing.new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"msg_[0-9A-Za-z]{27}", value) for value in ids)
