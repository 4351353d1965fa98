"""Amazon SP-API XML feeds for refunds (OrderAdjustment) and cancellations (OrderAcknowledgement).

Everything is built with lxml element APIs and serialised as UTF-8 with an XML declaration
and no BOM; no XML is ever assembled from strings. The element order follows Amazon's
release_4_1 XSDs (``amzn-envelope.xsd``, ``OrderAdjustment.xsd``, ``OrderAcknowledgement.xsd``,
``amzn-base.xsd``), which the unit tests validate every generated feed against.

Facts taken from those XSDs (they decide what is emitted):

* ``OrderAdjustment/ActionType`` is optional (``minOccurs=0``), enum ``Refund`` | ``Cancel``;
  it comes right after ``AmazonOrderID``. We always send ``Refund``.
* ``AdjustedItem`` ends with ``QuantityCancelled`` then ``Quantity``, both optional
  ``xsd:positiveInteger``, in that order. A zero quantity is therefore omitted, never sent as 0.
* ``Amount`` is ``BaseCurrencyAmount``: ``xsd:decimal``, ``fractionDigits=2``,
  ``totalDigits=20``; negative values are allowed; the ``currency`` attribute is optional but
  restricted to ``BaseCurrencyCode``. We write the currency's decimals: two ("16.80"), none
  for a currency without a minor unit (JPY "1980", never "1980.00").
* ``MerchantAdjustmentItemID`` is ``StringNotNull`` (normalizedString, 1..50 characters).
* ``OrderAcknowledgement/Item`` has ``AmazonOrderItemCode``, ``MerchantOrderItemID?``,
  ``CancelReason?``, ``Quantity?`` (positiveInteger). ``MerchantOrderID`` is ``String``
  (normalizedString, at most 50 characters).
* ``MessageID`` is ``IDNumber``: a positive integer of at most 20 digits.

Size: a feed must stay under :data:`MAX_FEED_BYTES`. :class:`FeedBuilder` measures each
message as it is added (the measurement is exact: it is the number of bytes the message adds
to the serialised document) and refuses the message that would pass the limit, so the
batching caller knows when to start a new feed. :func:`chunk_messages` does that loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation

from lxml import etree

from sidecar.domain import (
    AdjustmentReason,
    Cancel,
    CancelReason,
    Component,
    Refund,
    RefundLine,
)
from sidecar.money import minor_units

FEED_TYPE_ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
FEED_TYPE_ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
#: Content-Type for createFeedDocument and for the PUT of the bytes (must be identical).
FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"

MESSAGE_TYPE_ADJUSTMENT = "OrderAdjustment"
MESSAGE_TYPE_ACKNOWLEDGEMENT = "OrderAcknowledgement"

#: Amazon's limit for one feed document is 10 MB; we never build a document larger than this.
MAX_FEED_BYTES = 10 * 1024 * 1024

DOCUMENT_VERSION = "1.01"
SCHEMA_LOCATION = "amzn-envelope.xsd"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: BaseCurrencyCode enumeration in amzn-base.xsd (the ``currency`` attribute of Amount).
AMAZON_CURRENCIES: frozenset[str] = frozenset({
    "USD", "GBP", "EUR", "JPY", "CAD", "CNY", "INR", "MXN", "BRL", "AUD", "TRY", "SGD",
    "SEK", "PLN", "AED", "SAR", "EGP",
})

#: ItemPriceAdjustments/Component order in every AdjustedItem (stable, like Amazon's examples).
COMPONENT_ORDER: tuple[Component, ...] = (
    Component.PRINCIPAL,
    Component.TAX,
    Component.SHIPPING,
    Component.SHIPPING_TAX,
    Component.GIFT_WRAP,
    Component.GIFT_WRAP_TAX,
    Component.RESTOCKING_FEE,
)

# Patterns of amzn-base.xsd, made strict: XSD's \w and \d are Unicode classes (\w even
# admits symbols such as '$'), but real Amazon ids are ASCII letters/digits.
_AMAZON_ORDER_ID_RE = re.compile(r"[A-Za-z0-9]{3}-[A-Za-z0-9]{7}-[A-Za-z0-9]{7}", re.ASCII)
_ORDER_ITEM_CODE_RE = re.compile(r"[0-9]{14}", re.ASCII)
_MAX_MESSAGE_ID = 10**20 - 1  # IDNumber: \d{1,20}
_MAX_INTEGER_DIGITS = 18  # totalDigits 20 minus the two fraction digits we always write
_NORMALIZED_STRING_MAX = 50  # String / StringNotNull
# Characters XML 1.0 cannot carry at all, and the ones normalizedString would silently
# turn into spaces (Amazon would then store something other than what we sent).
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_NOT_NORMALIZED_RE = re.compile("[\t\n\r]")

_CENT = Decimal("0.01")
_AMOUNT_CONTEXT = Context(prec=60)


class FeedError(ValueError):
    """A message cannot be expressed as a valid Amazon feed (bad id, amount, quantity...)."""


class FeedTooLargeError(FeedError):
    """A single message is larger than the feed size limit on its own."""


# ------------------------------------------------------------------ validation / formatting


def check_amazon_order_id(value: object) -> str:
    if not isinstance(value, str) or not _AMAZON_ORDER_ID_RE.fullmatch(value):
        raise FeedError(
            f"AmazonOrderID must look like 123-1234567-1234567 (\\w{{3}}-\\w{{7}}-\\w{{7}}), "
            f"got {value!r}"
        )
    return value


def check_order_item_code(value: object) -> str:
    if not isinstance(value, str) or not _ORDER_ITEM_CODE_RE.fullmatch(value):
        raise FeedError(f"AmazonOrderItemCode must be exactly 14 digits, got {value!r}")
    return value


def check_message_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeedError(f"MessageID must be an int, got {type(value).__name__} {value!r}")
    if not 1 <= value <= _MAX_MESSAGE_ID:
        raise FeedError(f"MessageID must be a positive integer of at most 20 digits, got {value}")
    return value


def _check_text(field_name: str, value: object, *, required: bool) -> str:
    if not isinstance(value, str):
        raise FeedError(f"{field_name} must be a str, got {type(value).__name__}")
    if required and not value.strip():
        raise FeedError(f"{field_name} must not be empty")
    if len(value) > _NORMALIZED_STRING_MAX:
        raise FeedError(
            f"{field_name} is {len(value)} characters long; Amazon allows at most "
            f"{_NORMALIZED_STRING_MAX}: {value!r}"
        )
    if _XML_ILLEGAL_RE.search(value) or _NOT_NORMALIZED_RE.search(value):
        raise FeedError(
            f"{field_name} contains control characters (tab/newline/...), not allowed: {value!r}"
        )
    return value


def _check_quantity(field_name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FeedError(f"{field_name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise FeedError(f"{field_name} must not be negative, got {value}")
    return value


def check_currency(value: object) -> str:
    if not isinstance(value, str) or value not in AMAZON_CURRENCIES:
        raise FeedError(
            f"currency {value!r} is not one that Amazon's feeds accept "
            f"({', '.join(sorted(AMAZON_CURRENCIES))})"
        )
    return value


def format_amount(amount: object, currency: str) -> str:
    """``amount`` as Amazon's BaseCurrencyAmount: two decimals ("16.80"), or none for a
    currency without a minor unit (JPY "1980").

    Never rounds: an amount with more decimals than Amazon (2) or the currency (JPY: 0)
    allows raises :class:`FeedError`. Floats, NaN and infinities are refused.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal):
        raise FeedError(
            f"amount must be a Decimal (never float), got {type(amount).__name__} {amount!r}"
        )
    if not amount.is_finite():
        raise FeedError(f"amount must be finite, got {amount}")
    try:
        cents = amount.quantize(_CENT, context=_AMOUNT_CONTEXT)
    except InvalidOperation as exc:  # pragma: no cover - prec 60 covers any sane amount
        raise FeedError(f"amount {amount} cannot be represented with 2 decimals") from exc
    if cents != amount:
        raise FeedError(f"amount {amount} has more than 2 decimals; Amazon allows at most 2")
    if minor_units(currency) == 0 and cents != cents.to_integral_value():
        raise FeedError(f"{currency} has no minor unit; amount {amount} must be whole")
    if len(cents.as_tuple().digits) > _MAX_INTEGER_DIGITS + 2:
        raise FeedError(f"amount {amount} has more than {_MAX_INTEGER_DIGITS} integer digits")
    if minor_units(currency) == 0:
        whole = cents.quantize(Decimal(1))
        return format(Decimal(0) if whole.is_zero() else whole, "f")  # no "-0"
    if cents.is_zero():
        cents = Decimal("0.00")  # no "-0.00"
    return format(cents, "f")


# ------------------------------------------------------------------------- element builders


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _adjusted_item(parent: etree._Element, line: RefundLine, currency: str) -> None:
    if not isinstance(line, RefundLine):
        raise FeedError(f"expected a RefundLine, got {type(line).__name__}")
    item = _sub(parent, "AdjustedItem")
    _sub(item, "AmazonOrderItemCode", check_order_item_code(line.order_item_id))
    merchant_item_id = _check_text(
        "MerchantAdjustmentItemID", line.merchant_adjustment_item_id, required=False
    )
    if merchant_item_id:
        _sub(item, "MerchantAdjustmentItemID", merchant_item_id)
    try:
        reason = AdjustmentReason(line.reason)
    except ValueError as exc:
        raise FeedError(f"unknown AdjustmentReason {line.reason!r}") from exc
    _sub(item, "AdjustmentReason", reason.value)

    amounts: dict[Component, Decimal] = {}
    for component, amount in line.components:
        try:
            kind = Component(component)
        except ValueError as exc:
            raise FeedError(f"unknown adjustment component {component!r}") from exc
        if kind in amounts:
            raise FeedError(
                f"component {kind.value} appears twice for item {line.order_item_id}"
            )
        amounts[kind] = amount
    if not amounts:
        raise FeedError(f"refund line for item {line.order_item_id} has no components")
    prices = _sub(item, "ItemPriceAdjustments")
    for kind in COMPONENT_ORDER:
        if kind not in amounts:
            continue
        text = format_amount(amounts[kind], currency)
        if kind != Component.RESTOCKING_FEE and text.startswith("-"):
            raise FeedError(
                f"component {kind.value} of item {line.order_item_id} is negative ({text}); "
                "only RestockingFee may be negative"
            )
        component_el = _sub(prices, "Component")
        _sub(component_el, "Type", kind.value)
        _sub(component_el, "Amount", text).set("currency", currency)

    # XSD sequence: QuantityCancelled before Quantity; both positiveInteger, so 0 is omitted.
    cancelled = _check_quantity("quantity_cancelled", line.quantity_cancelled)
    refunded = _check_quantity("quantity", line.quantity)
    if cancelled:
        _sub(item, "QuantityCancelled", str(cancelled))
    if refunded:
        _sub(item, "Quantity", str(refunded))


def adjustment_element(refund: Refund) -> etree._Element:
    """The <OrderAdjustment> element for one refund."""
    if not isinstance(refund, Refund):
        raise FeedError(f"expected a Refund, got {type(refund).__name__}")
    currency = check_currency(refund.currency)
    if not refund.lines:
        raise FeedError(f"refund for {refund.amazon_order_id} has no lines")
    adjustment = etree.Element("OrderAdjustment")
    _sub(adjustment, "AmazonOrderID", check_amazon_order_id(refund.amazon_order_id))
    _sub(adjustment, "ActionType", "Refund")
    for line in refund.lines:
        _adjusted_item(adjustment, line, currency)
    return adjustment


def acknowledgement_element(cancel: Cancel) -> etree._Element:
    """The <OrderAcknowledgement> (StatusCode Failure = cancel) element for one cancellation.

    Every item carries its Quantity: ``CancelItem`` does not say how many units were ordered,
    so "partial" cannot be told apart here, and an explicit count never cancels more than
    intended (Amazon cancels the whole item when Quantity is omitted). An empty item list
    is refused: a Failure acknowledgement without items cancels the whole order, which must
    only ever happen through an explicit list of every item.
    """
    if not isinstance(cancel, Cancel):
        raise FeedError(f"expected a Cancel, got {type(cancel).__name__}")
    ack = etree.Element("OrderAcknowledgement")
    _sub(ack, "AmazonOrderID", check_amazon_order_id(cancel.amazon_order_id))
    merchant_order_id = _check_text("MerchantOrderID", cancel.merchant_order_id, required=False)
    if merchant_order_id:
        _sub(ack, "MerchantOrderID", merchant_order_id)
    _sub(ack, "StatusCode", "Failure")
    if not cancel.items:
        raise FeedError(f"cancellation of {cancel.amazon_order_id} lists no items")
    seen: set[str] = set()
    for cancel_item in cancel.items:
        code = check_order_item_code(cancel_item.order_item_id)
        if code in seen:
            raise FeedError(f"item {code} is listed twice in the cancellation of "
                            f"{cancel.amazon_order_id}")
        seen.add(code)
        try:
            reason = CancelReason(cancel_item.reason)
        except ValueError as exc:
            raise FeedError(f"unknown CancelReason {cancel_item.reason!r}") from exc
        quantity = _check_quantity("quantity", cancel_item.quantity)
        if quantity == 0:
            raise FeedError(f"cancel quantity for item {code} must be at least 1")
        item = _sub(ack, "Item")
        _sub(item, "AmazonOrderItemCode", code)
        _sub(item, "CancelReason", reason.value)
        _sub(item, "Quantity", str(quantity))
    return ack


# ------------------------------------------------------------------------------- documents


def _serialise(element: etree._Element, *, declaration: bool) -> bytes:
    return etree.tostring(element, encoding="UTF-8", xml_declaration=declaration)


@dataclass(frozen=True)
class Feed:
    """One finished feed document and the MessageIDs it carries, in order."""

    feed_type: str
    payload: bytes
    message_ids: tuple[int, ...]
    content_type: str = FEED_CONTENT_TYPE


class FeedBuilder:
    """Collects messages of one type into an AmazonEnvelope without passing ``max_bytes``.

    ``try_add`` returns False (and adds nothing) when the message would make the document
    larger than ``max_bytes``; the caller then finishes this feed and starts a new one.
    ``size`` is always exactly ``len(to_bytes())``.
    """

    def __init__(self, merchant_id: str, message_type: str,
                 max_bytes: int | None = None) -> None:
        if message_type == MESSAGE_TYPE_ADJUSTMENT:
            self.feed_type = FEED_TYPE_ADJUSTMENT
        elif message_type == MESSAGE_TYPE_ACKNOWLEDGEMENT:
            self.feed_type = FEED_TYPE_ACKNOWLEDGEMENT
        else:
            raise FeedError(f"unsupported MessageType {message_type!r}")
        self.message_type = message_type
        self.max_bytes = MAX_FEED_BYTES if max_bytes is None else max_bytes
        self._root = etree.Element(
            "AmazonEnvelope",
            nsmap={"xsi": _XSI_NS},
        )
        self._root.set(f"{{{_XSI_NS}}}noNamespaceSchemaLocation", SCHEMA_LOCATION)
        header = _sub(self._root, "Header")
        _sub(header, "DocumentVersion", DOCUMENT_VERSION)
        _sub(header, "MerchantIdentifier",
             _check_text("MerchantIdentifier", merchant_id, required=True))
        _sub(self._root, "MessageType", message_type)
        self._size = len(_serialise(self._root, declaration=True))
        self._ids: list[int] = []
        self._id_set: set[int] = set()

    @property
    def size(self) -> int:
        return self._size

    @property
    def message_ids(self) -> tuple[int, ...]:
        return tuple(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def _payload(self, payload: Refund | Cancel) -> etree._Element:
        if self.message_type == MESSAGE_TYPE_ADJUSTMENT:
            if not isinstance(payload, Refund):
                raise FeedError(f"an OrderAdjustment feed takes Refunds, got "
                                f"{type(payload).__name__}")
            return adjustment_element(payload)
        if not isinstance(payload, Cancel):
            raise FeedError(f"an OrderAcknowledgement feed takes Cancels, got "
                            f"{type(payload).__name__}")
        return acknowledgement_element(payload)

    def try_add(self, message_id: int, payload: Refund | Cancel) -> bool:
        """Add one message; False if it would pass ``max_bytes`` (nothing is added then).

        The whole message is validated and built before anything is added, so an exception
        leaves the builder unchanged too.

        Raises :class:`FeedError` for invalid input or a duplicate MessageID, and
        :class:`FeedTooLargeError` when the message could not fit even into an empty feed.
        """
        check_message_id(message_id)
        if message_id in self._id_set:
            raise FeedError(f"MessageID {message_id} is used twice in one feed")
        message = etree.Element("Message")
        _sub(message, "MessageID", str(message_id))
        message.append(self._payload(payload))
        added = len(_serialise(message, declaration=False))
        if self._size + added > self.max_bytes:
            if not self._ids:
                raise FeedTooLargeError(
                    f"message {message_id} alone makes a {self._size + added} byte feed; "
                    f"the limit is {self.max_bytes}"
                )
            return False
        self._root.append(message)
        self._size += added
        self._ids.append(message_id)
        self._id_set.add(message_id)
        return True

    def to_bytes(self) -> bytes:
        if not self._ids:
            raise FeedError("a feed needs at least one message")
        return _serialise(self._root, declaration=True)

    def build(self) -> Feed:
        return Feed(self.feed_type, self.to_bytes(), self.message_ids)


def _build_all(merchant_id: str, message_type: str,
               messages: Iterable[tuple[int, Refund | Cancel]]) -> bytes:
    builder = FeedBuilder(merchant_id, message_type)
    for message_id, payload in messages:
        if not builder.try_add(message_id, payload):
            raise FeedTooLargeError(
                f"the messages do not fit into one feed of {MAX_FEED_BYTES} bytes; "
                "use chunk_messages()"
            )
    return builder.to_bytes()


def build_adjustment_feed(merchant_id: str, messages: Sequence[tuple[int, Refund]]) -> bytes:
    """POST_PAYMENT_ADJUSTMENT_DATA document: one OrderAdjustment message per refund."""
    return _build_all(merchant_id, MESSAGE_TYPE_ADJUSTMENT, messages)


def build_acknowledgement_feed(merchant_id: str, messages: Sequence[tuple[int, Cancel]]) -> bytes:
    """POST_ORDER_ACKNOWLEDGEMENT_DATA document: one cancelling acknowledgement per Cancel."""
    return _build_all(merchant_id, MESSAGE_TYPE_ACKNOWLEDGEMENT, messages)


def chunk_messages(
    merchant_id: str,
    messages: Sequence[tuple[int, Refund]] | Sequence[tuple[int, Cancel]],
    max_bytes: int | None = None,
) -> list[Feed]:
    """Split messages (all Refunds or all Cancels) into feeds of at most ``max_bytes``.

    ``max_bytes`` defaults to :data:`MAX_FEED_BYTES`. Greedy: each feed takes messages until
    the next one would pass the limit. Message order is kept; each feed holds a consecutive
    run of the input. MessageIDs must be unique across the whole input (so a report can
    always be matched to the right row).
    """
    if not messages:
        return []
    first = messages[0][1]
    message_type = (MESSAGE_TYPE_ADJUSTMENT if isinstance(first, Refund)
                    else MESSAGE_TYPE_ACKNOWLEDGEMENT)
    seen: set[int] = set()
    feeds: list[Feed] = []
    builder = FeedBuilder(merchant_id, message_type, max_bytes)
    for message_id, payload in messages:
        if message_id in seen:
            raise FeedError(f"MessageID {message_id} is used twice")
        seen.add(message_id)
        if not builder.try_add(message_id, payload):
            feeds.append(builder.build())
            builder = FeedBuilder(merchant_id, message_type, max_bytes)
            builder.try_add(message_id, payload)  # fits: an empty builder raises otherwise
    feeds.append(builder.build())
    return feeds
