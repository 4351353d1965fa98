"""In-memory, thread-safe state of the SP-API emulator (one lock guards everything).

Tests and the demo drive it directly: :meth:`EmulatorState.seed_order` creates orders,
:meth:`EmulatorState.inject_fault` / :meth:`EmulatorState.inject_feed_fault` make calls
fail, :meth:`EmulatorState.process_pending_feeds` finishes feeds, and
:meth:`EmulatorState.refund_counter` proves how many refunds Amazon accepted per item
(Amazon does not de-duplicate: every accepted adjustment counts).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import random
import re
import secrets
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sidecar.emulator.config import OPERATIONS, Clock, EmulatorConfig, SystemClock
from sidecar.emulator.model import (
    FULFILLMENT_STATUS,
    ZERO,
    AdjustmentRecord,
    CancellationRecord,
    EmulatorItem,
    EmulatorOrder,
    Fault,
    FaultKind,
    Feed,
    FeedDocument,
    FeedFault,
    FeedFaultKind,
    FeedStatus,
    OrderStatus,
    Package,
    RefundCounter,
    ShipmentRecord,
)
from sidecar.emulator.processing import (
    MESSAGE_TYPES,
    FeedProcessor,
    Ledger,
    build_report,
    buyer_refund,
    compress,
    load_schema,
    recompute_status,
)

_ORDER_ID_RE = re.compile(r"[A-Za-z0-9]{3}-[A-Za-z0-9]{7}-[A-Za-z0-9]{7}", re.ASCII)
_ITEM_ID_RE = re.compile(r"[0-9]{14}", re.ASCII)
_PACKAGE_REF_RE = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)


class ApiError(Exception):
    """An SP-API error response: HTTP status plus Amazon's ``errors[0]`` code/message."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


class LwaError(Exception):
    """An LWA token endpoint error (``error`` / ``error_description`` body)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class SeedItem:
    """One order item for :meth:`EmulatorState.seed_order`; money = totals for all units."""

    order_item_id: str | None = None  # None: a fresh 14-digit id
    seller_sku: str = "SKU-1"
    quantity_ordered: int = 1
    item_price: Decimal = Decimal("10.00")
    item_tax: Decimal = ZERO
    shipping_price: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    promotion_discount: Decimal = ZERO
    promotion_discount_tax: Decimal = ZERO
    shipping_discount: Decimal = ZERO
    shipping_discount_tax: Decimal = ZERO
    quantity_shipped: int = 0
    quantity_canceled: int = 0
    title: str = ""
    asin: str = ""
    buyer_cancel_requested: bool = False
    buyer_cancel_reason: str | None = None


_SEED_ITEM_JSON = {
    "orderItemId": "order_item_id", "sellerSku": "seller_sku", "sku": "seller_sku",
    "quantityOrdered": "quantity_ordered", "itemPrice": "item_price", "itemTax": "item_tax",
    "shippingPrice": "shipping_price", "shippingTax": "shipping_tax",
    "promotionDiscount": "promotion_discount", "promotionDiscountTax": "promotion_discount_tax",
    "shippingDiscount": "shipping_discount", "shippingDiscountTax": "shipping_discount_tax",
    "quantityShipped": "quantity_shipped", "quantityCanceled": "quantity_canceled",
    "title": "title", "asin": "asin", "buyerCancelRequested": "buyer_cancel_requested",
    "buyerCancelReason": "buyer_cancel_reason",
}
_MONEY_FIELDS = frozenset({
    "item_price", "item_tax", "shipping_price", "shipping_tax", "promotion_discount",
    "promotion_discount_tax", "shipping_discount", "shipping_discount_tax",
})
_INT_FIELDS = frozenset({"quantity_ordered", "quantity_shipped", "quantity_canceled"})


def seed_item_from_json(data: Mapping[str, Any]) -> SeedItem:
    """A SeedItem from camelCase (or snake_case) JSON; money as strings (never floats)."""
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = _SEED_ITEM_JSON.get(key, key)
        if name not in SeedItem.__dataclass_fields__:
            raise ValueError(f"unknown item field {key!r}")
        if name in _MONEY_FIELDS:
            if isinstance(value, float):
                raise ValueError(f"{key}: give money as a string, not a float")
            value = Decimal(str(value))
        elif name in _INT_FIELDS and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{key} must be an integer")
        kwargs[name] = value
    return SeedItem(**kwargs)


def parse_time(value: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (naive input is taken as UTC)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)  # rate-limit tokens
        self.updated = now

    def take(self, now: float) -> bool:
        if now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Token:
    seller_id: str
    expires_at: float


@dataclass
class FeedFilter:
    feed_types: list[str]
    marketplace_ids: list[str] = field(default_factory=list)
    processing_statuses: list[str] = field(default_factory=list)
    created_since: datetime | None = None
    created_until: datetime | None = None
    page_size: int = 10


@dataclass
class OrderFilter:
    created_after: datetime | None = None
    created_before: datetime | None = None
    last_updated_after: datetime | None = None
    last_updated_before: datetime | None = None
    marketplace_ids: list[str] = field(default_factory=list)
    fulfillment_statuses: list[str] = field(default_factory=list)
    fulfilled_by: list[str] = field(default_factory=list)
    max_results: int = 100


@dataclass
class Hold:
    """A call of ``operation`` stopped before (or, ``after``, once it took effect and before
    its answer) until :meth:`release`: a test does something meanwhile, e.g. kills the
    client process. ``reached`` is set when a call arrives at the hold."""

    operation: str
    after: bool
    remaining: int = 1
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    aborted: bool = False

    def release(self) -> None:
        self.released.set()

    def abort(self) -> None:
        """Release a hold placed before the call so that the call never runs: it is
        answered 503 at once (its client is usually gone by then)."""
        self.aborted = True
        self.released.set()


class EmulatorState:
    """Everything the emulator knows. All public methods take the one lock."""

    def __init__(self, config: EmulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.clock: Clock = clock or SystemClock()
        self._stopping = threading.Event()
        self._check_config(self.config)
        self.reset()

    # ------------------------------------------------------------------ setup / reset

    @staticmethod
    def _check_config(config: EmulatorConfig) -> None:
        if config.xsd_dir is not None:
            load_schema(config.xsd_dir)  # fail fast: XsdUnavailableError
        for operation, rates in config.random_faults.items():
            if operation not in OPERATIONS:
                raise ValueError(f"random_faults: unknown operation {operation!r}")
            for kind, p in rates.items():
                FaultKind(kind)  # ValueError for an unknown kind
                if not 0 <= p <= 1:
                    raise ValueError(f"random_faults: {operation}/{kind} must be 0..1")
            if sum(rates.values()) > 1:
                raise ValueError(f"random_faults: {operation}: probabilities add up over 1")

    def configure(self, config: EmulatorConfig) -> None:
        self._check_config(config)
        with self.lock:
            self.config = config
            self._buckets.clear()
            self._fault_rng = random.Random(config.random_fault_seed)

    def reset(self) -> None:
        """Forget all orders, feeds, documents, tokens, counters and faults."""
        with self.lock:
            self.orders: dict[str, EmulatorOrder] = {}
            self.documents: dict[str, FeedDocument] = {}
            self.feeds: dict[str, Feed] = {}
            self.counters: dict[tuple[str, str], RefundCounter] = {}
            self.adjustment_records: list[AdjustmentRecord] = []
            self.cancellation_records: list[CancellationRecord] = []
            self.shipment_records: list[ShipmentRecord] = []
            self.access_tokens: dict[str, _Token] = {}
            self.faults: list[Fault] = []
            self.feed_faults: list[FeedFault] = []
            for hold in getattr(self, "holds", []):
                hold.release()
            self.holds: list[Hold] = []
            self.random_fault_counts: dict[tuple[str, str], int] = {}
            self._fault_rng = random.Random(self.config.random_fault_seed)
            self.request_counts: dict[str, int] = {}
            self._buckets: dict[tuple[str, str], TokenBucket] = {}
            self._feed_pages: dict[str, tuple[str, FeedFilter, int]] = {}
            self._order_pages: dict[str, tuple[str, OrderFilter, list[str], float,
                                               datetime]] = {}
            self._feed_ids = itertools.count(50001000001)
            self._order_ids = itertools.count(1)
            self._item_ids = itertools.count(10000000000001)

    def now(self) -> datetime:
        """Current time, aware UTC, in milliseconds (the precision v2026-01-01 reports)."""
        return _millis(datetime.fromtimestamp(self.clock.time(), UTC))

    def close(self) -> None:
        """Wake up hanging requests (server shutdown); later hangs return at once."""
        self._stopping.set()

    def open(self) -> None:
        """Undo :meth:`close` (the server starts again)."""
        self._stopping.clear()

    def wait(self, seconds: float) -> None:
        """Sleep for a hang fault; returns early when the emulator shuts down."""
        self._stopping.wait(seconds)

    # ---------------------------------------------------------------------- seeding

    def seed_order(
        self,
        amazon_order_id: str | None = None,
        *,
        items: Sequence[SeedItem | Mapping[str, Any]] = (),
        seller_id: str | None = None,
        marketplace_id: str = "ATVPDKIKX0DER",
        status: OrderStatus | str | None = None,
        fulfillment_channel: str = "MFN",
        currency: str = "USD",
        prices_include_tax: bool = False,
        created_time: datetime | None = None,
        last_updated_time: datetime | None = None,
        seller_order_id: str | None = None,
    ) -> EmulatorOrder:
        """Create (or replace) an order; returns a copy with all generated ids.

        ``status`` None derives it from the item quantities (Unshipped, PartiallyShipped,
        Shipped or Canceled). Naive datetimes are UTC; the default times are "now".
        """
        seeds = [i if isinstance(i, SeedItem) else seed_item_from_json(i) for i in items]
        if not seeds:
            seeds = [SeedItem()]
        if fulfillment_channel not in ("MFN", "AFN"):
            raise ValueError(f"fulfillment_channel must be MFN or AFN, got {fulfillment_channel!r}")
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValueError(f"not a currency code: {currency!r}")
        with self.lock:
            if seller_id is None:
                seller_id = self._default_seller()
            if amazon_order_id is None:
                n = next(self._order_ids)
                amazon_order_id = f"902-{n:07d}-{(n * 7919) % 10_000_000:07d}"
            if not _ORDER_ID_RE.fullmatch(amazon_order_id):
                raise ValueError(f"AmazonOrderID must look like 123-1234567-1234567, "
                                 f"got {amazon_order_id!r}")
            order_items: list[EmulatorItem] = []
            seen: set[str] = set()
            for seed in seeds:
                item_id = seed.order_item_id or str(next(self._item_ids))
                if not _ITEM_ID_RE.fullmatch(item_id):
                    raise ValueError(f"order item id must be 14 digits, got {item_id!r}")
                if item_id in seen or self._item_taken(item_id, amazon_order_id):
                    raise ValueError(f"order item id {item_id} is used twice")
                seen.add(item_id)
                if seed.quantity_ordered < 1 or seed.quantity_shipped < 0 \
                        or seed.quantity_canceled < 0 \
                        or seed.quantity_shipped + seed.quantity_canceled > seed.quantity_ordered:
                    raise ValueError(f"item {item_id}: shipped + canceled must not exceed ordered")
                order_items.append(EmulatorItem(
                    order_item_id=item_id, seller_sku=seed.seller_sku,
                    quantity_ordered=seed.quantity_ordered,
                    item_price=Decimal(seed.item_price), item_tax=Decimal(seed.item_tax),
                    shipping_price=Decimal(seed.shipping_price),
                    shipping_tax=Decimal(seed.shipping_tax),
                    promotion_discount=Decimal(seed.promotion_discount),
                    promotion_discount_tax=Decimal(seed.promotion_discount_tax),
                    shipping_discount=Decimal(seed.shipping_discount),
                    shipping_discount_tax=Decimal(seed.shipping_discount_tax),
                    quantity_shipped=seed.quantity_shipped,
                    quantity_canceled=seed.quantity_canceled,
                    title=seed.title, asin=seed.asin,
                    buyer_cancel_requested=seed.buyer_cancel_requested,
                    buyer_cancel_reason=seed.buyer_cancel_reason,
                ))
            now = self.now()
            created = _aware(created_time) if created_time else now
            order = EmulatorOrder(
                amazon_order_id=amazon_order_id, seller_id=seller_id,
                marketplace_id=marketplace_id,
                status=OrderStatus(status) if status is not None else OrderStatus.UNSHIPPED,
                fulfillment_channel=fulfillment_channel, currency=currency,
                created_time=created,
                last_updated_time=_aware(last_updated_time) if last_updated_time else created,
                items=order_items, prices_include_tax=prices_include_tax,
                seller_order_id=seller_order_id,
            )
            if status is None:
                recompute_status(order)
            self.orders[amazon_order_id] = order
            return copy.deepcopy(order)

    def seed_from_domain(self, state: Any, seller_id: str | None = None) -> EmulatorOrder:
        """Seed from a :class:`sidecar.domain.AmazonOrderState` (duck-typed)."""
        items = [SeedItem(
            order_item_id=i.order_item_id, seller_sku=i.seller_sku,
            quantity_ordered=i.quantity_ordered, quantity_shipped=i.quantity_shipped,
            quantity_canceled=i.quantity_canceled, item_price=i.item_price,
            item_tax=i.item_tax, shipping_price=i.shipping_price, shipping_tax=i.shipping_tax,
            promotion_discount=i.promotion_discount,
            promotion_discount_tax=i.promotion_discount_tax,
            shipping_discount=i.shipping_discount,
            shipping_discount_tax=i.shipping_discount_tax,
            buyer_cancel_requested=i.buyer_cancel_requested,
            buyer_cancel_reason=i.buyer_cancel_reason,
        ) for i in state.items]
        status = state.status.value if state.status is not None else None
        return self.seed_order(
            state.amazon_order_id, items=items, seller_id=seller_id,
            marketplace_id=state.marketplace_id, status=status,
            fulfillment_channel=str(state.fulfillment_channel.value),
            currency=state.currency, prices_include_tax=bool(state.prices_include_tax),
            last_updated_time=state.last_updated,
        )

    def _default_seller(self) -> str:
        for client in self.config.lwa_clients:
            for seller in client.refresh_tokens.values():
                return seller
        return "A1EXAMPLESELLER"

    def _item_taken(self, item_id: str, order_id: str) -> bool:
        return any(o.item(item_id) is not None for k, o in self.orders.items() if k != order_id)

    def set_order_status(self, amazon_order_id: str, status: OrderStatus | str) -> None:
        with self.lock:
            order = self._order_or_raise(amazon_order_id)
            order.status = OrderStatus(status)
            order.last_updated_time = self.now()

    def request_buyer_cancellation(self, amazon_order_id: str, reason: str = "Changed mind",
                                   order_item_ids: Sequence[str] | None = None) -> None:
        """The buyer asks to cancel (all or some items); visible with includedData=CANCELLATION."""
        with self.lock:
            order = self._order_or_raise(amazon_order_id)
            for item in order.items:
                if order_item_ids is None or item.order_item_id in order_item_ids:
                    item.buyer_cancel_requested = True
                    item.buyer_cancel_reason = reason
            order.last_updated_time = self.now()

    def cancel_units(self, amazon_order_id: str, order_item_id: str, quantity: int, *,
                     cancelled_by: str = "AMAZON", reason: str | None = None) -> None:
        """Amazon (or the buyer, or Seller Central) cancels unshipped units of one item:
        visible as ``cancellation.cancellationExecution`` with includedData=CANCELLATION."""
        with self.lock:
            order = self._order_or_raise(amazon_order_id)
            item = order.item(order_item_id)
            if item is None:
                raise KeyError(f"no item {order_item_id} on {amazon_order_id}")
            if not 0 < quantity <= item.quantity_unshipped:
                raise ValueError(f"item {order_item_id}: {item.quantity_unshipped} unit(s) "
                                 f"can be cancelled, not {quantity}")
            item.quantity_canceled += quantity
            item.cancelled_by = cancelled_by
            item.cancel_reason = reason
            recompute_status(order)
            order.last_updated_time = self.now()

    def cancel_order(self, amazon_order_id: str, *, cancelled_by: str = "AMAZON",
                     reason: str | None = None) -> None:
        """The whole order is cancelled on Amazon (e.g. a Pending order whose payment
        failed): every unshipped unit, status Canceled."""
        with self.lock:
            order = self._order_or_raise(amazon_order_id)
            for item in order.items:
                if item.quantity_unshipped:
                    item.quantity_canceled += item.quantity_unshipped
                    item.cancelled_by = cancelled_by
                    item.cancel_reason = reason
            order.status = OrderStatus.CANCELED
            order.last_updated_time = self.now()

    def _order_or_raise(self, amazon_order_id: str) -> EmulatorOrder:
        order = self.orders.get(amazon_order_id)
        if order is None:
            raise KeyError(f"no order {amazon_order_id}")
        return order

    # --------------------------------------------------------------------- inspection

    def order(self, amazon_order_id: str) -> EmulatorOrder:
        with self.lock:
            return copy.deepcopy(self._order_or_raise(amazon_order_id))

    def order_state(self, amazon_order_id: str, fetched_at: datetime | None = None) -> Any:
        """The order as a :class:`sidecar.domain.AmazonOrderState` (naive UTC times)."""
        from sidecar.domain import (  # the emulator itself does not need the domain
            AmazonOrderItem,
            AmazonOrderState,
            AmazonOrderStatus,
            FulfillmentChannel,
        )

        order = self.order(amazon_order_id)
        return AmazonOrderState(
            amazon_order_id=order.amazon_order_id, account_id=order.seller_id,
            marketplace_id=order.marketplace_id, status=AmazonOrderStatus(order.status.value),
            fulfillment_channel=FulfillmentChannel(order.fulfillment_channel),
            currency=order.currency,
            last_updated=order.last_updated_time.astimezone(UTC).replace(tzinfo=None),
            fetched_at=(fetched_at or self.now()).astimezone(UTC).replace(tzinfo=None),
            items=tuple(AmazonOrderItem(
                order_item_id=i.order_item_id, seller_sku=i.seller_sku,
                quantity_ordered=i.quantity_ordered, quantity_shipped=i.quantity_shipped,
                item_price=i.item_price, item_tax=i.item_tax,
                shipping_price=i.shipping_price, shipping_tax=i.shipping_tax,
                promotion_discount=i.promotion_discount,
                promotion_discount_tax=i.promotion_discount_tax,
                shipping_discount=i.shipping_discount,
                shipping_discount_tax=i.shipping_discount_tax,
                quantity_canceled=i.quantity_canceled,
                buyer_cancel_requested=i.buyer_cancel_requested,
                buyer_cancel_reason=i.buyer_cancel_reason,
            ) for i in order.items),
            raw_status=FULFILLMENT_STATUS[order.status],  # as getOrder reports it
            prices_include_tax=order.prices_include_tax,
        )

    def refund_counter(self, amazon_order_id: str, order_item_id: str) -> RefundCounter:
        """Accepted adjustments for one item (a zero counter when there were none)."""
        with self.lock:
            counter = self.counters.get((amazon_order_id, order_item_id))
            return copy.deepcopy(counter) if counter else RefundCounter(amazon_order_id,
                                                                        order_item_id)

    def buyer_refunded(self, amazon_order_id: str, order_item_id: str) -> Decimal:
        """What the buyer got back for one item (VAT added on tax-inclusive marketplaces)."""
        with self.lock:
            counter = self.counters.get((amazon_order_id, order_item_id))
            order = self.orders.get(amazon_order_id)
            if counter is None or order is None:
                return Decimal(0)
            return buyer_refund(order, counter)

    def refund_counters(self) -> list[RefundCounter]:
        with self.lock:
            return copy.deepcopy(list(self.counters.values()))

    def adjustments(self, amazon_order_id: str | None = None) -> list[AdjustmentRecord]:
        with self.lock:
            return [r for r in self.adjustment_records
                    if amazon_order_id is None or r.amazon_order_id == amazon_order_id]

    def cancellations(self, amazon_order_id: str | None = None) -> list[CancellationRecord]:
        with self.lock:
            return [r for r in self.cancellation_records
                    if amazon_order_id is None or r.amazon_order_id == amazon_order_id]

    def shipments(self, amazon_order_id: str | None = None) -> list[ShipmentRecord]:
        with self.lock:
            return [r for r in self.shipment_records
                    if amazon_order_id is None or r.amazon_order_id == amazon_order_id]

    def feed(self, feed_id: str) -> Feed:
        with self.lock:
            return copy.deepcopy(self.feeds[feed_id])

    def all_feeds(self) -> list[Feed]:
        with self.lock:
            return copy.deepcopy(list(self.feeds.values()))

    def document_content(self, feed_document_id: str) -> bytes | None:
        """Stored bytes of a document (reports as stored: gzip when compressed)."""
        with self.lock:
            return self.documents[feed_document_id].content

    def calls(self, operation: str) -> int:
        """How many requests of ``operation`` reached the emulator (including refused ones)."""
        with self.lock:
            return self.request_counts.get(operation, 0)

    # ------------------------------------------------------------------------ faults

    def inject_fault(self, operation: str, kind: FaultKind | str, *, count: int = 1,
                     seconds: float = 0.0, status: int = 500) -> None:
        """The next ``count`` calls of ``operation`` fail as ``kind`` says.

        THROTTLE: 429 QuotaExceeded. ERROR: ``status`` (500), nothing done. HANG: wait
        ``seconds`` then 503, nothing done. ERROR_AFTER: the call takes effect, then
        ``status``. HANG_AFTER: the call takes effect, the answer comes after ``seconds``.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        with self.lock:
            self.faults.append(Fault(operation, FaultKind(kind), count, seconds, status))

    def inject_feed_fault(self, kind: FeedFaultKind | str, *, count: int = 1, polls: int = 0,
                          applied: bool = False, report: bool = False) -> None:
        """The next ``count`` feeds created end FATAL (``applied``: their messages take
        effect anyway; ``report``: a processing report is written) or, for SLOW, stay
        IN_PROGRESS for ``polls`` more getFeed polls. NO_RESULT_DOCUMENT: the feed is
        processed, but getFeed/getFeeds never show its resultFeedDocumentId. ODD_STATUS:
        getFeed/getFeeds report processingStatus ``UNDOCUMENTED`` (not in the model)."""
        with self.lock:
            self.feed_faults.append(FeedFault(FeedFaultKind(kind), count, polls, applied, report))

    def fatal_next_feed(self, *, applied: bool = False, report: bool = False,
                        count: int = 1) -> None:
        self.inject_feed_fault(FeedFaultKind.FATAL, count=count, applied=applied, report=report)

    def slow_next_feed(self, polls: int, *, count: int = 1) -> None:
        self.inject_feed_fault(FeedFaultKind.SLOW, count=count, polls=polls)

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
            self.feed_faults.clear()

    def take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.operation == operation and fault.remaining > 0:
                    fault.remaining -= 1
                    taken = copy.copy(fault)
                    self.faults = [f for f in self.faults if f.remaining > 0]
                    return taken
            return self._roll_fault(operation)

    def _roll_fault(self, operation: str) -> Fault | None:
        """A random fault from ``config.random_faults`` (caller holds the lock)."""
        rates = self.config.random_faults.get(operation)
        if not rates:
            return None
        x = self._fault_rng.random()
        for kind, p in rates.items():
            if x < p:
                key = (operation, kind)
                self.random_fault_counts[key] = self.random_fault_counts.get(key, 0) + 1
                return Fault(operation, FaultKind(kind), 1, self.config.random_fault_seconds)
            x -= p
        return None

    def random_faults_taken(self) -> dict[tuple[str, str], int]:
        """(operation, kind) -> how many random faults were served."""
        with self.lock:
            return dict(self.random_fault_counts)

    # ------------------------------------------------------------------------- holds

    def hold(self, operation: str, *, after: bool = False, count: int = 1) -> Hold:
        """Stop the next ``count`` calls of ``operation`` (before it runs, or ``after`` it took
        effect and before its answer) until the returned hold is released."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {sorted(OPERATIONS)}")
        hold = Hold(operation, after, count)
        with self.lock:
            self.holds.append(hold)
        return hold

    def release_holds(self) -> None:
        with self.lock:
            for hold in self.holds:
                hold.release()
            self.holds = []

    def pass_hold(self, operation: str, *, after: bool) -> bool:
        """Called by the app at each hold point; blocks while a matching hold is held
        (returns early when the emulator shuts down). True: the hold was aborted."""
        with self.lock:
            hold = next((h for h in self.holds if h.operation == operation
                         and h.after == after and h.remaining > 0), None)
            if hold is None:
                return False
            hold.remaining -= 1
        hold.reached.set()
        while not hold.released.wait(0.05):
            if self._stopping.is_set():
                return False
        return hold.aborted

    # ----------------------------------------------------------------- auth and limits

    def count_request(self, operation: str) -> None:
        with self.lock:
            self.request_counts[operation] = self.request_counts.get(operation, 0) + 1

    def exchange_refresh_token(self, form: Mapping[str, str]) -> tuple[str, str, int]:
        """LWA refresh_token grant -> (access_token, refresh_token, expires_in)."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise LwaError(400, "invalid_request", "The request is missing a required "
                                                   "parameter : grant_type")
        if grant_type != "refresh_token":
            raise LwaError(400, "unsupported_grant_type",
                           f"The authorization grant type is not supported : {grant_type}")
        for name in ("refresh_token", "client_id", "client_secret"):
            if not form.get(name):
                raise LwaError(400, "invalid_request",
                               f"The request is missing a required parameter : {name}")
        with self.lock:
            client = next((c for c in self.config.lwa_clients
                           if c.client_id == form["client_id"]), None)
            if client is None or not hmac.compare_digest(client.client_secret,
                                                         form["client_secret"]):
                raise LwaError(401, "invalid_client", "Client authentication failed")
            seller = client.refresh_tokens.get(form["refresh_token"])
            if seller is None:
                raise LwaError(400, "invalid_grant",
                               "The request has an invalid grant parameter : refresh_token")
            token = "Atza|" + secrets.token_urlsafe(32)
            ttl = self.config.access_token_ttl
            self.access_tokens[token] = _Token(seller, self.clock.time() + ttl)
            return token, form["refresh_token"], ttl

    def seller_for_token(self, token: str | None) -> tuple[str | None, str]:
        """(seller id, "") for a valid access token, else (None, why)."""
        if not token:
            return None, "Access to requested resource is denied."
        with self.lock:
            entry = self.access_tokens.get(token)
            if entry is None:
                return None, "Access to requested resource is denied."
            if self.clock.time() >= entry.expires_at:
                return None, "The access token you provided has expired."
            return entry.seller_id, ""

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens.clear()

    def take_rate_token(self, seller_id: str, operation: str) -> tuple[bool, float | None]:
        """(allowed, rate): token bucket per (seller, operation)."""
        with self.lock:
            limit = self.config.rate_limit(operation)
            if limit is None:
                return True, None
            rate, burst = limit
            if not self.config.rate_limiting:
                return True, rate
            now = self.clock.time()
            key = (seller_id, operation)
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                bucket = self._buckets[key] = TokenBucket(rate, burst, now)
            return bucket.take(now), rate

    # ----------------------------------------------------------------- presigned URLs

    def _url_signature(self, doc_id: str, expires_at: int, extra: str = "") -> str:
        mac = hmac.new(self.config.url_signing_key, f"{doc_id}|{expires_at}|{extra}".encode(),
                       hashlib.sha256)
        return mac.hexdigest()

    def presign(self, base_url: str, path: str, doc_id: str, extra: str = "") -> str:
        with self.lock:
            base = (self.config.public_url or base_url).rstrip("/")
            now = self.clock.time()
            expires_at = int(now) + self.config.presigned_url_ttl
            date = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
            query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date={date}"
                     f"&X-Amz-Expires={self.config.presigned_url_ttl}"
                     f"&X-Amz-Expires-At={expires_at}")
            if extra:
                query += f"&response-content-encoding={extra}"
            signature = self._url_signature(doc_id, expires_at, extra)
            return f"{base}/{path}/{doc_id}?{query}&X-Amz-Signature={signature}"

    def check_presigned(self, doc_id: str, args: Mapping[str, str]) -> str | None:
        """None when the presigned URL is valid, else S3's error code."""
        try:
            expires_at = int(args.get("X-Amz-Expires-At", ""))
        except ValueError:
            return "AccessDenied"
        extra = args.get("response-content-encoding", "")
        expected = self._url_signature(doc_id, expires_at, extra)
        if not hmac.compare_digest(expected, args.get("X-Amz-Signature", "")):
            return "SignatureDoesNotMatch"
        if self.clock.time() > expires_at:
            return "AccessDenied"
        return None

    # ----------------------------------------------------------------------- feeds

    def create_feed_document(self, seller_id: str, content_type: str) -> FeedDocument:
        with self.lock:
            doc_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
            doc = FeedDocument(doc_id, seller_id, content_type, self.clock.time())
            self.documents[doc_id] = doc
            return copy.deepcopy(doc)

    def upload_document(self, doc_id: str, content_type: str | None, body: bytes) -> None:
        with self.lock:
            doc = self.documents.get(doc_id)
            if doc is None or doc.is_report:
                raise ApiError(404, "NoSuchKey", "The specified key does not exist.")
            if content_type != doc.content_type:
                raise ApiError(403, "SignatureDoesNotMatch",
                               f"The request signature we calculated does not match the "
                               f"signature you provided: Content-Type {content_type!r} differs "
                               f"from {doc.content_type!r} given to createFeedDocument.")
            if len(body) > self.config.max_feed_bytes:
                raise ApiError(400, "EntityTooLarge", f"The feed document is {len(body)} bytes; "
                               f"the limit is {self.config.max_feed_bytes}.")
            doc.content = bytes(body)

    def create_feed(self, seller_id: str, feed_type: str, marketplace_ids: list[str],
                    input_feed_document_id: str) -> Feed:
        if feed_type not in MESSAGE_TYPES:
            raise ApiError(400, "InvalidInput", f"Invalid feedType {feed_type!r}; the emulator "
                           f"supports {', '.join(sorted(MESSAGE_TYPES))}.")
        with self.lock:
            doc = self.documents.get(input_feed_document_id)
            if doc is None or doc.seller_id != seller_id or doc.is_report:
                raise ApiError(400, "InvalidInput",
                               f"Invalid inputFeedDocumentId {input_feed_document_id!r}.")
            feed_id = str(next(self._feed_ids))
            feed = Feed(feed_id, seller_id, feed_type, list(marketplace_ids),
                        input_feed_document_id, self.now(), self.clock.time())
            for fault in self.feed_faults:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
                if fault.kind == FeedFaultKind.SLOW:
                    feed.extra_polls += fault.polls
                elif fault.kind in (FeedFaultKind.NO_RESULT_DOCUMENT, FeedFaultKind.ODD_STATUS):
                    feed.quirk = fault.kind
                else:
                    feed.fatal = copy.copy(fault)
            self.feed_faults = [f for f in self.feed_faults if f.remaining > 0]
            self.feeds[feed_id] = feed
            return copy.deepcopy(feed)

    def _seller_feed(self, seller_id: str, feed_id: str) -> Feed:
        feed = self.feeds.get(feed_id)
        if feed is None or feed.seller_id != seller_id:
            raise ApiError(404, "NotFound", f"Feed {feed_id} was not found.")
        return feed

    def poll_feed(self, seller_id: str, feed_id: str) -> Feed:
        """getFeed: counts the poll and moves the feed on (see EmulatorConfig)."""
        with self.lock:
            self._auto_process()
            feed = self._seller_feed(seller_id, feed_id)
            if feed.status not in (FeedStatus.IN_QUEUE, FeedStatus.IN_PROGRESS):
                return copy.deepcopy(feed)
            feed.polls += 1
            waited = self.clock.time() - feed.created_at
            due = (feed.polls > self.config.processing_polls + feed.extra_polls
                   and waited >= self.config.processing_seconds)
            if due:
                self._process(feed)
            elif feed.status == FeedStatus.IN_QUEUE:
                feed.status = FeedStatus.IN_PROGRESS
                feed.processing_start_time = self.now()
            return copy.deepcopy(feed)

    def process_pending_feeds(self) -> list[str]:
        """Finish every IN_QUEUE / IN_PROGRESS feed now; returns their ids."""
        with self.lock:
            done = []
            for feed in self.feeds.values():
                if feed.status in (FeedStatus.IN_QUEUE, FeedStatus.IN_PROGRESS):
                    self._process(feed)
                    done.append(feed.feed_id)
            return done

    advance = process_pending_feeds

    def _auto_process(self) -> None:
        """Feeds older than ``config.auto_process_seconds`` are processed (caller locks)."""
        after = self.config.auto_process_seconds
        if after is None:
            return
        now = self.clock.time()
        for feed in self.feeds.values():
            if (feed.status in (FeedStatus.IN_QUEUE, FeedStatus.IN_PROGRESS)
                    and now - feed.created_at >= after):
                self._process(feed)

    def _process(self, feed: Feed) -> None:
        now = self.now()
        if feed.processing_start_time is None:
            feed.processing_start_time = now
        doc = self.documents.get(feed.input_feed_document_id)
        ledger = Ledger(self.orders, self.counters, self.adjustment_records,
                        self.cancellation_records)
        fatal = feed.fatal
        processor = FeedProcessor(feed, doc.content if doc else None, ledger,
                                  xsd_dir=self.config.xsd_dir, now=now,
                                  apply=fatal is None or fatal.applied)
        outcome = processor.run()
        report = outcome.report
        status = outcome.status
        if fatal is not None:
            status = FeedStatus.FATAL
            if fatal.report:
                report = build_report(
                    feed.seller_id, feed.feed_id, 0, 0, [], 0) if report is None else report
            else:
                report = None
        feed.status = status
        feed.processing_end_time = now
        feed.accepted_messages = outcome.accepted if fatal is None or fatal.applied else []
        feed.rejected_messages = outcome.rejected
        if report is not None:
            doc_id = f"amzn1.tortuga.4.na.{uuid.uuid4()}"
            gz = self.config.gzip_reports
            self.documents[doc_id] = FeedDocument(
                doc_id, feed.seller_id, "text/xml; charset=UTF-8", self.clock.time(),
                compress(report) if gz else report, "GZIP" if gz else None, is_report=True)
            feed.result_feed_document_id = doc_id

    def cancel_feed(self, seller_id: str, feed_id: str) -> None:
        with self.lock:
            feed = self._seller_feed(seller_id, feed_id)
            if feed.status != FeedStatus.IN_QUEUE:
                raise ApiError(400, "InvalidInput",
                               f"Feed {feed_id} is {feed.status.value}; only IN_QUEUE feeds "
                               "can be cancelled.")
            feed.status = FeedStatus.CANCELLED
            feed.processing_end_time = self.now()

    def list_feeds(self, seller_id: str, query: FeedFilter | None,
                   next_token: str | None) -> tuple[list[Feed], str | None]:
        with self.lock:
            self._auto_process()
            if next_token is not None:
                page = self._feed_pages.pop(next_token, None)
                if page is None or page[0] != seller_id:
                    raise ApiError(400, "InvalidInput", "Invalid nextToken.")
                _, query, offset = page
            else:
                assert query is not None
                offset = 0
            now = self.now()
            since = query.created_since or now - timedelta(days=90)
            until = query.created_until or now
            matching = [
                f for f in self.feeds.values()
                if f.seller_id == seller_id and f.feed_type in query.feed_types
                and (not query.marketplace_ids
                     or set(query.marketplace_ids) & set(f.marketplace_ids))
                and (not query.processing_statuses
                     or f.status.value in query.processing_statuses)
                and since <= f.created_time <= until
            ]
            matching.sort(key=lambda f: (f.created_time, int(f.feed_id)), reverse=True)
            page_items = matching[offset:offset + query.page_size]
            token = None
            if offset + query.page_size < len(matching):
                token = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
                self._feed_pages[token] = (seller_id, query, offset + query.page_size)
            return copy.deepcopy(page_items), token

    def get_document(self, seller_id: str, doc_id: str) -> FeedDocument:
        with self.lock:
            doc = self.documents.get(doc_id)
            if doc is None or doc.seller_id != seller_id:
                raise ApiError(404, "NotFound", f"Feed document {doc_id} was not found.")
            return copy.deepcopy(doc)

    def download_document(self, doc_id: str) -> FeedDocument:
        with self.lock:
            doc = self.documents.get(doc_id)
            if doc is None or doc.content is None:
                raise ApiError(404, "NoSuchKey", "The specified key does not exist.")
            return copy.deepcopy(doc)

    # ----------------------------------------------------------------------- orders

    def get_order(self, seller_id: str, order_id: str) -> EmulatorOrder:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.seller_id != seller_id:
                raise ApiError(404, "NotFound", f"Order {order_id} was not found.")
            return copy.deepcopy(order)

    def search_orders(self, seller_id: str, query: OrderFilter | None,
                      token: str | None) -> tuple[list[EmulatorOrder], str | None, datetime]:
        """(page, next token, upper time bound used)."""
        with self.lock:
            now = self.now()
            if token is not None:
                page = self._order_pages.get(token)  # valid for 24 h, may be reused
                if page is None or page[0] != seller_id:
                    raise ApiError(400, "InvalidInput", "Invalid paginationToken.")
                if self.clock.time() > page[3]:
                    raise ApiError(400, "InvalidInput", "The paginationToken has expired.")
                _, query, ids, _, upper = page
                # the result set was fixed by the first request: later updates move no
                # order between pages (no skip, no repeat); each order is served as it is now
                rest = [self.orders[i] for i in ids if i in self.orders]
                return self._order_page(seller_id, query, rest, upper)
            assert query is not None
            by_update = query.last_updated_after is not None
            if by_update:
                lower = query.last_updated_after
                upper = query.last_updated_before or now
            else:
                lower = query.created_after
                upper = query.created_before or now
            assert lower is not None
            wanted = query

            def keep(o: EmulatorOrder) -> bool:
                when = o.last_updated_time if by_update else o.created_time
                if o.seller_id != seller_id or not lower <= when <= upper:
                    return False
                if wanted.marketplace_ids and o.marketplace_id not in wanted.marketplace_ids:
                    return False
                if (wanted.fulfillment_statuses
                        and FULFILLMENT_STATUS[o.status] not in wanted.fulfillment_statuses):
                    return False
                fulfilled_by = "AMAZON" if o.fulfillment_channel == "AFN" else "MERCHANT"
                return not wanted.fulfilled_by or fulfilled_by in wanted.fulfilled_by

            matching = [o for o in self.orders.values() if keep(o)]
            matching.sort(key=lambda o: ((o.last_updated_time if by_update else o.created_time),
                                         o.amazon_order_id))
            return self._order_page(seller_id, query, matching, upper)

    def _order_page(self, seller_id: str, query: OrderFilter, matching: list[EmulatorOrder],
                    upper: datetime) -> tuple[list[EmulatorOrder], str | None, datetime]:
        page_items = matching[:query.max_results]
        next_token = None
        if len(matching) > query.max_results:
            next_token = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
            rest = [o.amazon_order_id for o in matching[query.max_results:]]
            self._order_pages[next_token] = (seller_id, query, rest,
                                             self.clock.time() + 24 * 3600, upper)
        return copy.deepcopy(page_items), next_token, upper

    def expire_order_pages(self) -> None:
        """Every searchOrders nextToken is now past its 24 hours."""
        with self.lock:
            self._order_pages.clear()

    def confirm_shipment(self, seller_id: str, order_id: str, body: Any) -> None:
        """confirmShipment (Orders v0): marks units shipped; same packageReferenceId edits."""
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInput", "The request body must be a JSON object.")
        detail = body.get("packageDetail")
        marketplace_id = body.get("marketplaceId")
        if not isinstance(marketplace_id, str) or not marketplace_id:
            raise ApiError(400, "InvalidInput", "marketplaceId is required.")
        if not isinstance(detail, dict):
            raise ApiError(400, "InvalidInput", "packageDetail is required.")
        for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
            if not isinstance(detail.get(name), str) or not detail[name].strip():
                raise ApiError(400, "InvalidInput", f"packageDetail.{name} is required.")
        reference = detail["packageReferenceId"]
        if not _PACKAGE_REF_RE.fullmatch(reference):
            raise ApiError(400, "InvalidInput", "packageReferenceId must be a positive number.")
        try:
            parse_time(detail["shipDate"])
        except ValueError as exc:
            raise ApiError(400, "InvalidInput",
                           f"shipDate {detail['shipDate']!r} is not ISO 8601.") from exc
        lines = detail.get("orderItems")
        if not isinstance(lines, list) or not lines:
            raise ApiError(400, "InvalidInput", "packageDetail.orderItems must not be empty.")
        wanted: dict[str, int] = {}
        for line in lines:
            if not isinstance(line, dict):
                raise ApiError(400, "InvalidInput", "orderItems entries must be objects.")
            item_id = line.get("orderItemId")
            quantity = line.get("quantity")
            if not isinstance(item_id, str) or isinstance(quantity, bool) \
                    or not isinstance(quantity, int) or quantity < 1:
                raise ApiError(400, "InvalidInput",
                               "orderItems need an orderItemId and a positive quantity.")
            wanted[item_id] = wanted.get(item_id, 0) + quantity
        with self.lock:
            order = self.orders.get(order_id)
            if order is None or order.seller_id != seller_id:
                raise ApiError(404, "NotFound", f"Order {order_id} was not found.")
            if marketplace_id != order.marketplace_id:
                raise ApiError(400, "InvalidInput", f"Order {order_id} is not in marketplace "
                               f"{marketplace_id}.")
            if order.fulfillment_channel != "MFN":
                raise ApiError(400, "InvalidInput", f"Order {order_id} is fulfilled by Amazon.")
            previous = order.packages.get(reference)
            allowed = {OrderStatus.UNSHIPPED, OrderStatus.PARTIALLY_SHIPPED}
            if previous is not None:
                allowed.add(OrderStatus.SHIPPED)
            if order.status not in allowed:
                raise ApiError(400, "InvalidInput", f"Order {order_id} is "
                               f"{order.status.value}; its shipment cannot be confirmed.")
            for item_id, quantity in wanted.items():
                item = order.item(item_id)
                if item is None:
                    raise ApiError(400, "InvalidInput",
                                   f"Order item {item_id} is not part of order {order_id}.")
                available = item.quantity_unshipped + (previous.items.get(item_id, 0)
                                                       if previous else 0)
                if quantity > available:
                    # like Amazon: re-confirming shipped units or confirming cancelled ones
                    # is refused, and the answer says which
                    raise ApiError(400, "InvalidInput",
                                   f"Cannot ship {quantity} units of item {item_id}: "
                                   f"{available} are left to ship ({item.quantity_shipped} "
                                   f"already shipped, {item.quantity_canceled} cancelled).")
            if previous is not None:
                for item_id, quantity in previous.items.items():
                    undo = order.item(item_id)
                    assert undo is not None
                    undo.quantity_shipped -= quantity
            for item_id, quantity in wanted.items():
                target = order.item(item_id)
                assert target is not None
                target.quantity_shipped += quantity
            now = self.now()
            order.packages[reference] = Package(
                reference, detail["carrierCode"], detail["trackingNumber"], detail["shipDate"],
                previous.created_time if previous else now, dict(wanted),
                detail.get("carrierName"), detail.get("shippingMethod"),
                previous.revision + 1 if previous else 1)
            recompute_status(order)
            order.last_updated_time = now
            self.shipment_records.append(ShipmentRecord(
                order_id, reference, tuple(wanted.items()), detail["carrierCode"],
                detail["trackingNumber"], previous is not None, now))

    # ------------------------------------------------------------------------ export

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able picture of the whole state (admin endpoint, debugging)."""
        with self.lock:
            return {
                "now": self.now().isoformat(),
                "orders": [_order_json(o) for o in self.orders.values()],
                "feeds": [_feed_json(f) for f in self.feeds.values()],
                "refundCounters": [
                    {"amazonOrderId": c.amazon_order_id, "orderItemId": c.order_item_id,
                     "adjustments": c.adjustments, "unitsRefunded": c.units_refunded,
                     "unitsCancelled": c.units_cancelled,
                     "components": {k: str(v) for k, v in c.components.items()}}
                    for c in self.counters.values()],
                "cancellations": [
                    {"feedId": r.feed_id, "messageId": r.message_id,
                     "amazonOrderId": r.amazon_order_id, "orderItemId": r.order_item_id,
                     "quantity": r.quantity, "reason": r.reason, "source": r.source}
                    for r in self.cancellation_records],
                "shipments": [
                    {"amazonOrderId": r.amazon_order_id,
                     "packageReferenceId": r.package_reference_id,
                     "items": dict(r.items), "carrierCode": r.carrier_code,
                     "trackingNumber": r.tracking_number, "edit": r.edit}
                    for r in self.shipment_records],
                "faults": [{"operation": f.operation, "kind": f.kind.value,
                            "remaining": f.remaining, "seconds": f.seconds,
                            "status": f.status} for f in self.faults],
                "feedFaults": [{"kind": f.kind.value, "remaining": f.remaining,
                                "polls": f.polls, "applied": f.applied}
                               for f in self.feed_faults],
                "requests": dict(self.request_counts),
            }

    @contextmanager
    def locked(self) -> Iterator[EmulatorState]:
        with self.lock:
            yield self


def _millis(when: datetime) -> datetime:
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def _aware(when: datetime) -> datetime:
    return _millis(when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC))


def _order_json(order: EmulatorOrder) -> dict[str, Any]:
    return {
        "amazonOrderId": order.amazon_order_id, "sellerId": order.seller_id,
        "marketplaceId": order.marketplace_id, "status": order.status.value,
        "fulfillmentChannel": order.fulfillment_channel, "currency": order.currency,
        "pricesIncludeTax": order.prices_include_tax,
        "createdTime": order.created_time.isoformat(),
        "lastUpdatedTime": order.last_updated_time.isoformat(),
        "sellerOrderId": order.seller_order_id,
        "items": [{
            "orderItemId": i.order_item_id, "sellerSku": i.seller_sku,
            "quantityOrdered": i.quantity_ordered, "quantityShipped": i.quantity_shipped,
            "quantityCanceled": i.quantity_canceled, "itemPrice": str(i.item_price),
            "itemTax": str(i.item_tax), "shippingPrice": str(i.shipping_price),
            "shippingTax": str(i.shipping_tax), "promotionDiscount": str(i.promotion_discount),
            "buyerCancelRequested": i.buyer_cancel_requested,
            "buyerCancelReason": i.buyer_cancel_reason, "cancelReason": i.cancel_reason,
        } for i in order.items],
        "packages": sorted(order.packages),
    }


def _feed_json(feed: Feed) -> dict[str, Any]:
    return {
        "feedId": feed.feed_id, "sellerId": feed.seller_id, "feedType": feed.feed_type,
        "processingStatus": feed.status.value, "createdTime": feed.created_time.isoformat(),
        "inputFeedDocumentId": feed.input_feed_document_id,
        "resultFeedDocumentId": feed.result_feed_document_id, "polls": feed.polls,
        "acceptedMessages": feed.accepted_messages, "rejectedMessages": feed.rejected_messages,
    }
