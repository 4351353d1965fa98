"""The emulator's data: orders as Amazon holds them, feeds, documents, refund counters.

All objects are mutable and owned by :class:`sidecar.emulator.state.EmulatorState`, which
guards them with one lock; anything handed out of the state is a deep copy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

ZERO = Decimal(0)


class OrderStatus(enum.StrEnum):
    """Amazon order statuses (v0 names; v2026-01-01 renders them as fulfillmentStatus)."""

    PENDING = "Pending"
    UNSHIPPED = "Unshipped"
    PARTIALLY_SHIPPED = "PartiallyShipped"
    SHIPPED = "Shipped"
    CANCELED = "Canceled"
    UNFULFILLABLE = "Unfulfillable"
    INVOICE_UNCONFIRMED = "InvoiceUnconfirmed"
    PENDING_AVAILABILITY = "PendingAvailability"


#: v0 OrderStatus -> v2026-01-01 fulfillmentStatus (Amazon's migration table).
FULFILLMENT_STATUS: dict[OrderStatus, str] = {
    OrderStatus.PENDING: "PENDING",
    OrderStatus.UNSHIPPED: "UNSHIPPED",
    OrderStatus.PARTIALLY_SHIPPED: "PARTIALLY_SHIPPED",
    OrderStatus.SHIPPED: "SHIPPED",
    OrderStatus.CANCELED: "CANCELLED",
    OrderStatus.UNFULFILLABLE: "UNFULFILLABLE",
    OrderStatus.PENDING_AVAILABILITY: "PENDING_AVAILABILITY",
    # Not in the model's FulfillmentStatus enum; Amazon's migration table maps it so.
    OrderStatus.INVOICE_UNCONFIRMED: "INVOICE_UNCONFIRMED",
}
STATUS_FROM_FULFILLMENT: dict[str, OrderStatus] = {v: k for k, v in FULFILLMENT_STATUS.items()}


class FeedStatus(enum.StrEnum):
    IN_QUEUE = "IN_QUEUE"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    FATAL = "FATAL"


TERMINAL_FEED_STATUSES = frozenset({FeedStatus.DONE, FeedStatus.CANCELLED, FeedStatus.FATAL})


class FaultKind(enum.StrEnum):
    """What an injected fault does to the next calls of one operation."""

    THROTTLE = "throttle"  # 429 QuotaExceeded, nothing done
    ERROR = "error"  # 500 (or ``status``), nothing done
    HANG = "hang"  # wait ``seconds``, then 503, nothing done (client times out first)
    ERROR_AFTER = "error_after"  # the operation IS done, then 500: outcome unknown to client
    HANG_AFTER = "hang_after"  # the operation IS done, then wait ``seconds`` before answering


class FeedFaultKind(enum.StrEnum):
    """What happens to the next feed(s) created."""

    FATAL = "fatal"  # processing ends FATAL
    SLOW = "slow"  # stays IN_PROGRESS for ``polls`` extra getFeed polls
    NO_RESULT_DOCUMENT = "no_result_document"  # ends DONE; getFeed never names its report
    ODD_STATUS = "odd_status"  # getFeed reports a processingStatus the model does not define


@dataclass
class Fault:
    operation: str
    kind: FaultKind
    remaining: int = 1
    seconds: float = 0.0
    status: int = 500


@dataclass
class FeedFault:
    kind: FeedFaultKind
    remaining: int = 1
    polls: int = 0
    #: FATAL only: apply the messages before failing ("some, none or all may have completed").
    applied: bool = False
    #: FATAL only: write a processing report anyway.
    report: bool = False


@dataclass
class EmulatorItem:
    """One order item. Money fields are totals for ``quantity_ordered`` units."""

    order_item_id: str
    seller_sku: str
    quantity_ordered: int
    item_price: Decimal
    item_tax: Decimal = ZERO
    shipping_price: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    promotion_discount: Decimal = ZERO  # positive: what the promotion took off the item
    promotion_discount_tax: Decimal = ZERO
    shipping_discount: Decimal = ZERO
    shipping_discount_tax: Decimal = ZERO
    quantity_shipped: int = 0
    quantity_canceled: int = 0
    title: str = ""
    asin: str = ""
    buyer_cancel_requested: bool = False
    buyer_cancel_reason: str | None = None
    #: Set when the seller cancelled units (OrderAcknowledgement Failure / QuantityCancelled).
    cancel_reason: str | None = None
    cancelled_by: str | None = None

    @property
    def quantity_unshipped(self) -> int:
        """Units that are neither shipped nor cancelled."""
        return self.quantity_ordered - self.quantity_shipped - self.quantity_canceled


@dataclass
class Package:
    package_reference_id: str
    carrier_code: str
    tracking_number: str
    ship_date: str
    created_time: datetime
    items: dict[str, int]  # order item id -> units
    carrier_name: str | None = None
    shipping_method: str | None = None
    revision: int = 1


@dataclass
class EmulatorOrder:
    amazon_order_id: str
    seller_id: str
    marketplace_id: str
    status: OrderStatus
    fulfillment_channel: str  # "MFN" | "AFN"
    currency: str
    created_time: datetime  # aware, UTC
    last_updated_time: datetime  # aware, UTC
    items: list[EmulatorItem]
    prices_include_tax: bool = False
    seller_order_id: str | None = None
    packages: dict[str, Package] = field(default_factory=dict)
    acknowledged: bool = False

    def item(self, order_item_id: str) -> EmulatorItem | None:
        for item in self.items:
            if item.order_item_id == order_item_id:
                return item
        return None


@dataclass
class RefundCounter:
    """What ACCEPTED OrderAdjustment messages did to one order item."""

    amazon_order_id: str
    order_item_id: str
    #: Number of accepted AdjustedItem entries for this item (one per accepted message).
    adjustments: int = 0
    units_refunded: int = 0  # sum of Quantity
    units_cancelled: int = 0  # sum of QuantityCancelled
    components: dict[str, Decimal] = field(default_factory=dict)

    def amount(self, component: str) -> Decimal:
        return self.components.get(component, ZERO)

    @property
    def total(self) -> Decimal:
        return sum(self.components.values(), ZERO)


@dataclass(frozen=True)
class AdjustmentRecord:
    """One accepted AdjustedItem (for inspection; the counters hold the sums)."""

    feed_id: str
    message_id: int
    amazon_order_id: str
    order_item_id: str
    reason: str
    merchant_adjustment_item_id: str | None
    quantity: int
    quantity_cancelled: int
    components: tuple[tuple[str, Decimal], ...]
    at: datetime


@dataclass(frozen=True)
class CancellationRecord:
    """Units of one item cancelled by an accepted message."""

    feed_id: str
    message_id: int
    amazon_order_id: str
    order_item_id: str
    quantity: int
    reason: str | None
    source: str  # "OrderAcknowledgement" | "OrderAdjustment"
    at: datetime


@dataclass(frozen=True)
class ShipmentRecord:
    """One accepted confirmShipment call (edits of a package are recorded again)."""

    amazon_order_id: str
    package_reference_id: str
    items: tuple[tuple[str, int], ...]
    carrier_code: str
    tracking_number: str
    edit: bool
    at: datetime


@dataclass
class FeedDocument:
    feed_document_id: str
    seller_id: str
    content_type: str
    created_at: float  # clock seconds
    content: bytes | None = None  # None until uploaded
    compression: str | None = None  # "GZIP" for compressed reports
    is_report: bool = False


@dataclass
class Feed:
    feed_id: str
    seller_id: str
    feed_type: str
    marketplace_ids: list[str]
    input_feed_document_id: str
    created_time: datetime
    created_at: float  # clock seconds
    status: FeedStatus = FeedStatus.IN_QUEUE
    processing_start_time: datetime | None = None
    processing_end_time: datetime | None = None
    result_feed_document_id: str | None = None
    polls: int = 0
    extra_polls: int = 0
    fatal: FeedFault | None = None
    #: NO_RESULT_DOCUMENT / ODD_STATUS: how getFeed misreports this feed
    quirk: FeedFaultKind | None = None
    #: MessageIDs accepted / rejected by processing (for inspection).
    accepted_messages: list[int] = field(default_factory=list)
    rejected_messages: list[int] = field(default_factory=list)
