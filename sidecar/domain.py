"""Domain types shared by the refund rules (pure) and the shell around them.

Names follow Magento (creditmemo, adjustment_negative) and Amazon (AmazonOrderItemCode,
CancelReason). Every amount and quantity is a Decimal; nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


class AmazonOrderStatus(enum.StrEnum):
    PENDING = "Pending"
    UNSHIPPED = "Unshipped"
    PARTIALLY_SHIPPED = "PartiallyShipped"
    SHIPPED = "Shipped"
    CANCELED = "Canceled"
    UNFULFILLABLE = "Unfulfillable"
    INVOICE_UNCONFIRMED = "InvoiceUnconfirmed"
    PENDING_AVAILABILITY = "PendingAvailability"


class FulfillmentChannel(enum.StrEnum):
    MFN = "MFN"  # merchant fulfilled: the seller ships, so the seller may cancel/refund
    AFN = "AFN"  # fulfilled by Amazon (FBA)


class CancelReason(enum.StrEnum):
    """OrderAcknowledgement Item/CancelReason values the product sends."""

    NO_INVENTORY = "NoInventory"
    BUYER_CANCELED = "BuyerCanceled"  # one "l": Amazon's spelling


class AdjustmentReason(enum.StrEnum):
    """OrderAdjustment AdjustedItem/AdjustmentReason values the product sends."""

    NO_INVENTORY = "NoInventory"
    CUSTOMER_RETURN = "CustomerReturn"
    CUSTOMER_CANCEL = "CustomerCancel"
    GENERAL_ADJUSTMENT = "GeneralAdjustment"


class Component(enum.StrEnum):
    """ItemPriceAdjustments/Component/Type values the product sends."""

    PRINCIPAL = "Principal"
    TAX = "Tax"
    SHIPPING = "Shipping"
    SHIPPING_TAX = "ShippingTax"
    RESTOCKING_FEE = "RestockingFee"  # negative: money the seller keeps
    GIFT_WRAP = "GiftWrap"
    GIFT_WRAP_TAX = "GiftWrapTax"


class TaxConvention(enum.StrEnum):
    """The account's ``tax_convention`` key (brief section 3).

    Only NET_PLUS_TAX is accepted: amounts are always sent net of tax. On tax-inclusive
    marketplaces (EU, UK, JP) the rules send no tax component at all, because Amazon adds VAT
    at the original rate ("Partial Refunds with VAT-Exclusive Prices"). GROSS is kept only so
    that the configuration can name and refuse it (sidecar.config); the rules never read it.
    """

    NET_PLUS_TAX = "net_plus_tax"
    GROSS = "gross"  # refused by sidecar.config: it refunded the VAT twice


# ---------------------------------------------------------------- Magento side


CONNECTOR_M2EPRO = "m2epro"


@dataclass(frozen=True)
class ConnectorLink:
    """The order is linked to another Amazon connector (snapshot v2 `order.connector`)."""

    name: str  # "m2epro"
    account_id: int | None = None  # the connector's own account id
    # the connector's own "refund on credit memo" setting; None: the module could not read it
    refunds_on_creditmemo: bool | None = None


@dataclass(frozen=True)
class MagentoOrderRef:
    entity_id: int
    increment_id: str
    ext_order_id: str | None
    store_id: int
    order_currency_code: str
    # the Amazon order id the module resolved (v2); v1 snapshots: ext_order_id
    amazon_order_id: str | None = None
    amazon_order_id_source: str | None = None  # m2epro_payment, m2epro_order, ext_order_id, ...
    connector: ConnectorLink | None = None


@dataclass(frozen=True)
class CreditMemoItem:
    order_item_id: int
    sku: str
    qty: Decimal
    price: Decimal
    price_incl_tax: Decimal
    row_total: Decimal
    row_total_incl_tax: Decimal
    tax_amount: Decimal
    discount_amount: Decimal
    back_to_stock: bool | None  # None: Magento's API path, the module cannot know (v2)
    ext_order_item_id: str | None = None
    parent_item_id: int | None = None
    name: str = ""
    qty_ordered: Decimal = Decimal(0)
    qty_shipped: Decimal = Decimal(0)
    amazon_order_item_id: str | None = None  # Amazon OrderItemId the module found (v2)


@dataclass(frozen=True)
class CreditMemo:
    entity_id: int
    increment_id: str
    created_at: datetime  # naive UTC
    order_currency_code: str
    subtotal: Decimal
    tax_amount: Decimal
    discount_amount: Decimal
    shipping_amount: Decimal
    shipping_tax_amount: Decimal
    adjustment_positive: Decimal
    adjustment_negative: Decimal
    grand_total: Decimal
    items: tuple[CreditMemoItem, ...]
    order: MagentoOrderRef
    state: int | None = None  # sales_creditmemo.state (v2): 1 open, 2 refunded, 3 canceled
    created_by_connector: str | None = None  # "m2epro": the connector created it (v2)
    restock_known: bool = True  # False: items' back_to_stock is unknown (API path)


CREDITMEMO_STATE_OPEN = 1
CREDITMEMO_STATE_REFUNDED = 2
CREDITMEMO_STATE_CANCELED = 3


@dataclass(frozen=True)
class ShipmentItem:
    order_item_id: int
    sku: str
    qty: Decimal
    ext_order_item_id: str | None = None
    parent_item_id: int | None = None
    amazon_order_item_id: str | None = None


@dataclass(frozen=True)
class ShipmentTrack:
    carrier_code: str
    title: str
    track_number: str


@dataclass(frozen=True)
class Shipment:
    entity_id: int
    increment_id: str
    created_at: datetime
    items: tuple[ShipmentItem, ...]
    tracks: tuple[ShipmentTrack, ...]
    order: MagentoOrderRef
    created_by_connector: str | None = None
    event_type: str = "shipment"  # "track": a track added later; re-send the same package


# ----------------------------------------------------------------- Amazon side


@dataclass(frozen=True)
class AmazonOrderItem:
    """One order item as Amazon charged it. Money fields are totals for quantity_ordered."""

    order_item_id: str  # AmazonOrderItemCode, 14 digits
    seller_sku: str
    quantity_ordered: int
    quantity_shipped: int
    item_price: Decimal
    item_tax: Decimal
    shipping_price: Decimal
    shipping_tax: Decimal
    promotion_discount: Decimal = Decimal(0)  # positive number: what the promotion took off
    promotion_discount_tax: Decimal = Decimal(0)
    shipping_discount: Decimal = Decimal(0)
    shipping_discount_tax: Decimal = Decimal(0)
    quantity_canceled: int = 0
    buyer_cancel_requested: bool = False
    buyer_cancel_reason: str | None = None
    magento_order_item_id: int | None = None
    gift_wrap_price: Decimal = Decimal(0)  # GIFT_WRAP proceeds (tax-inclusive or not, as items)
    gift_wrap_tax: Decimal = Decimal(0)


@dataclass(frozen=True)
class AmazonOrderState:
    amazon_order_id: str
    account_id: str
    marketplace_id: str
    status: AmazonOrderStatus | None  # None: Amazon returned a status we do not know
    fulfillment_channel: FulfillmentChannel
    currency: str
    last_updated: datetime  # Amazon's lastUpdatedTime, naive UTC
    fetched_at: datetime  # when the product read it from Amazon, naive UTC
    items: tuple[AmazonOrderItem, ...]
    raw_status: str = ""
    # Do item_price/shipping_price include the tax shown in item_tax/shipping_tax? True on
    # tax-inclusive marketplaces (EU, UK, JP). None: unknown; the rules then go by the
    # marketplace (sidecar.rules.TAX_INCLUSIVE_MARKETPLACES).
    prices_include_tax: bool | None = None

    @property
    def buyer_cancel_requested(self) -> bool:
        return any(i.buyer_cancel_requested for i in self.items)


@dataclass(frozen=True)
class AccountSettings:
    account_id: str
    refund_on_creditmemo: bool  # "Cancellation & Refund if Credit Memo is created"
    create_order_in_magento: bool = True
    adjustment_fee_as_restocking_fee: bool = False  # optional rule 9 improvement, off by default
    tax_convention: TaxConvention = TaxConvention.NET_PLUS_TAX
    upload_hosts: tuple[str, ...] = ()  # feed upload origins; empty: Amazon's, https only
    confirm_shipments: bool = True  # confirm Magento shipments to Amazon (confirmShipment)


@dataclass(frozen=True)
class LedgerEntry:
    """What was already sent (and not rejected) for one order item, per component."""

    order_item_id: str
    component: Component
    amount: Decimal
    quantity: int = 0  # units refunded (Quantity) or cancelled (QuantityCancelled)
    cancelled: bool = False  # True when `quantity` counts QuantityCancelled (never shipped) units
    # True once Amazon accepted the message (ledger state "confirmed"); False while pending.
    # A pending cancellation may not show in Amazon's quantity_canceled yet; a confirmed one does.
    confirmed: bool = False


@dataclass(frozen=True)
class RefundLedger:
    """Everything submitted or confirmed for one Amazon order (rejected entries excluded)."""

    entries: tuple[LedgerEntry, ...] = ()
    creditmemo_ids: frozenset[int] = frozenset()  # credit memos already submitted
    order_canceled_by_us: bool = False

    def refunded(self, order_item_id: str, component: Component) -> Decimal:
        return sum(
            (e.amount for e in self.entries
             if e.order_item_id == order_item_id and e.component == component),
            Decimal(0),
        )

    def units(self, order_item_id: str) -> int:
        # quantities are recorded once per line, on its Principal entry
        return sum(
            e.quantity for e in self.entries
            if e.order_item_id == order_item_id and e.component == Component.PRINCIPAL
        )

    def units_cancelled(self, order_item_id: str, *, confirmed: bool | None = None) -> int:
        """Units of units() that were cancelled (QuantityCancelled or an OrderAcknowledgement)
        rather than refunded; only confirmed (or only pending) ones when ``confirmed`` is set."""
        return sum(
            e.quantity for e in self.entries
            if e.order_item_id == order_item_id and e.component == Component.PRINCIPAL
            and e.cancelled and (confirmed is None or e.confirmed == confirmed)
        )


# ------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Reject:
    reason: str


@dataclass(frozen=True)
class Wait:
    reason: str
    until: datetime
    refresh_order: bool = False  # the shell must re-read the Amazon order first


@dataclass(frozen=True)
class CancelItem:
    order_item_id: str
    reason: CancelReason
    quantity: int


@dataclass(frozen=True)
class Cancel:
    amazon_order_id: str
    merchant_order_id: str
    items: tuple[CancelItem, ...]
    note: str = ""
    whole_order: bool = True  # False: only some items (a buyer's request); the order stays open


@dataclass(frozen=True)
class RefundLine:
    order_item_id: str  # AmazonOrderItemCode
    merchant_adjustment_item_id: str  # e.g. "CM000000005-33": traceable to the creditmemo item
    reason: AdjustmentReason
    quantity: int  # units refunded (shipped units); 0 when none
    quantity_cancelled: int  # units cancelled (never shipped); 0 when none
    components: tuple[tuple[Component, Decimal], ...] = field(default_factory=tuple)

    @property
    def total(self) -> Decimal:
        return sum((a for _, a in self.components), Decimal(0))


@dataclass(frozen=True)
class Refund:
    amazon_order_id: str
    currency: str
    lines: tuple[RefundLine, ...]
    note: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))


Decision = Skip | Reject | Wait | Cancel | Refund
