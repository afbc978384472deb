"""An offline mock of Replicate's google/imagen-4-ultra predictions API."""

from mock_server.domain.clock import AdjustableClock, Clock, FakeClock, SystemClock
from mock_server.http.app import DEFAULTS, create_app

__all__ = ["DEFAULTS", "AdjustableClock", "Clock", "FakeClock", "SystemClock", "create_app"]
