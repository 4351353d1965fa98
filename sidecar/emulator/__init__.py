"""Local emulator of the Amazon Selling Partner API parts the refund bridge uses.

LWA token exchange, Feeds API 2021-06-30 (with feed processing of OrderAdjustment and
OrderAcknowledgement XML into ProcessingReports), Orders API 2026-01-01 (getOrder,
searchOrders), Orders v0 confirmShipment, rate limits and fault injection. Tests, the demo
and benchmarks point the sidecar's endpoints at it instead of Amazon.
"""

from sidecar.emulator.config import EmulatorConfig, LwaClient, ManualClock, SystemClock
from sidecar.emulator.model import FaultKind, FeedFaultKind, FeedStatus, OrderStatus
from sidecar.emulator.state import EmulatorState, SeedItem

__all__ = [
    "EmulatorConfig",
    "EmulatorState",
    "FaultKind",
    "FeedFaultKind",
    "FeedStatus",
    "LwaClient",
    "ManualClock",
    "OrderStatus",
    "SeedItem",
    "SystemClock",
]
