"""An offline mock of Replicate's google/imagen-4-ultra predictions API."""

from mock_server.config import SettingError, Settings
from mock_server.domain.clock import AdjustableClock, Clock, FakeClock, SystemClock
from mock_server.http.app import create_app

__all__ = [
    "AdjustableClock",
    "Clock",
    "FakeClock",
    "SettingError",
    "Settings",
    "SystemClock",
    "create_app",
]
