"""Webhook deliveries: which events a prediction's changes send and when
(:mod:`planning`), how each body is signed (:mod:`signing`), one attempt over HTTP
(:mod:`sending`), what waits and when (:mod:`schedule`, :mod:`queues`), and the
dispatcher that sends, retries and logs them (:mod:`delivery`)."""

from mock_server.webhooks.delivery import WebhookDispatcher
from mock_server.webhooks.planning import EVENTS, Attempt, WebhookSettings

__all__ = ["EVENTS", "Attempt", "WebhookDispatcher", "WebhookSettings"]
