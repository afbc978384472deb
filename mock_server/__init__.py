"""An offline mock of Replicate's google/imagen-4-ultra predictions API."""

from mock_server.app import DEFAULTS, create_app
from mock_server.clock import AdjustableClock, Clock, FakeClock, SystemClock

__all__ = ["DEFAULTS", "AdjustableClock", "Clock", "FakeClock", "SystemClock", "create_app"]
