"""The mock's own logic, with no HTTP framework: a prediction's lifecycle derived from
its record and the clock, the service that creates, cancels, waits on and lists
predictions, scenarios and faults, the safety screen, placeholder images, recorded runs,
and the store interface the service writes through. Tested with a fake clock."""

from mock_server.domain.clock import AdjustableClock, Clock, FakeClock, SystemClock
from mock_server.domain.lifecycle import PredictionRecord
from mock_server.domain.rendering import Links
from mock_server.domain.service import PredictionService
from mock_server.domain.store import Page, Store

__all__ = [
    "AdjustableClock",
    "Clock",
    "FakeClock",
    "Links",
    "Page",
    "PredictionRecord",
    "PredictionService",
    "Store",
    "SystemClock",
]
