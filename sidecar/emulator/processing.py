"""Feed processing: parse an uploaded XML feed, apply Amazon's rules per Message, report.

Choices (Amazon documents the outcome, not the algorithm; these are the emulator's):

* Parsing never expands entities, never loads a DTD, never touches the network. A document
  with a DOCTYPE (billion laughs, external entities), one that is not well-formed, one whose
  root is not ``AmazonEnvelope`` or whose ``MessageType`` does not match the feed type ends
  **FATAL**, with a processing report holding one Result (MessageID 0) that says why.
  Nothing is applied.
* With an XSD directory configured, a well-formed document that does not validate against
  ``amzn-envelope.xsd`` ends **DONE** but *no message is applied*: every Message gets an
  Error Result (code 5002) carrying the schema errors found inside it (or, for messages
  without their own errors, a note that the document was rejected as a whole).
* Each Message is atomic: all its checks run first; a message with any error changes
  nothing and gets one Error Result per problem found. ``ProcessingSummary`` counts
  messages, not Results.
* ResultMessageCode values are the emulator's own (see :data:`RESULT_CODES`), not Amazon's.
"""

from __future__ import annotations

import functools
import gzip
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from lxml import etree

from sidecar.emulator.model import (
    ZERO,
    AdjustmentRecord,
    CancellationRecord,
    EmulatorItem,
    EmulatorOrder,
    Feed,
    FeedStatus,
    OrderStatus,
    RefundCounter,
)

FEED_TYPE_ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
FEED_TYPE_ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
MESSAGE_TYPES: dict[str, str] = {
    FEED_TYPE_ADJUSTMENT: "OrderAdjustment",
    FEED_TYPE_ACKNOWLEDGEMENT: "OrderAcknowledgement",
}
ENVELOPE_XSD = "amzn-envelope.xsd"

# Emulator result codes (ResultMessageCode).
XML_PARSE_ERROR = 5001
XML_SCHEMA_ERROR = 5002
INVALID_DATA = 18028
ORDER_NOT_FOUND = 18101
ITEM_NOT_FOUND = 18102
AMOUNT_EXCEEDS_REMAINING = 18103
CURRENCY_MISMATCH = 18104
QUANTITY_NOT_SHIPPED = 18105
QUANTITY_ALREADY_SHIPPED = 18106
ORDER_STATUS_NOT_ALLOWED = 18107
ORDER_ALREADY_CANCELED = 18108
ITEM_NOT_CANCELLABLE = 18109
DUPLICATE_MESSAGE_ID = 18110

RESULT_CODES: dict[int, str] = {
    XML_PARSE_ERROR: "document is not well-formed, has a DOCTYPE or does not match the feed type",
    XML_SCHEMA_ERROR: "document does not validate against amzn-envelope.xsd",
    INVALID_DATA: "invalid or missing data in the message",
    ORDER_NOT_FOUND: "AmazonOrderID unknown to this seller/marketplace",
    ITEM_NOT_FOUND: "AmazonOrderItemCode is not an item of the order",
    AMOUNT_EXCEEDS_REMAINING: "amount above what remains refundable",
    CURRENCY_MISMATCH: "currency differs from the order's currency",
    QUANTITY_NOT_SHIPPED: "Quantity refunds units that were not shipped",
    QUANTITY_ALREADY_SHIPPED: "QuantityCancelled cancels units that were shipped",
    ORDER_STATUS_NOT_ALLOWED: "the order's status does not allow this",
    ORDER_ALREADY_CANCELED: "the order is already Canceled",
    ITEM_NOT_CANCELLABLE: "the item has no unshipped units left to cancel",
    DUPLICATE_MESSAGE_ID: "MessageID used twice in the document",
}

REFUNDABLE_STATUSES = frozenset({
    OrderStatus.UNSHIPPED, OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED,
})
CANCELLABLE_STATUSES = frozenset({
    OrderStatus.PENDING, OrderStatus.UNSHIPPED, OrderStatus.PARTIALLY_SHIPPED,
})

_ORDER_ID_RE = re.compile(r"[A-Za-z0-9]{3}-[A-Za-z0-9]{7}-[A-Za-z0-9]{7}", re.ASCII)
_ITEM_CODE_RE = re.compile(r"[0-9]{14}", re.ASCII)
_AMOUNT_RE = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,2})?", re.ASCII)
_INT_RE = re.compile(r"[0-9]{1,20}", re.ASCII)
_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY"})
_VALIDATE_LOCK = threading.Lock()
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


class XsdUnavailableError(FileNotFoundError):
    """The configured XSD directory has no compilable amzn-envelope.xsd."""


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False)


@functools.lru_cache(maxsize=4)
def _schema(envelope: Path) -> etree.XMLSchema:
    if not envelope.is_file():
        raise XsdUnavailableError(f"{envelope} not found")
    try:
        return etree.XMLSchema(etree.parse(str(envelope), parser=safe_parser()))
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise XsdUnavailableError(f"cannot compile {envelope}: {exc}") from exc


def load_schema(xsd_dir: Path) -> etree.XMLSchema:
    return _schema((xsd_dir / ENVELOPE_XSD).resolve())


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class MessageError:
    message_id: int
    code: int
    description: str
    amazon_order_id: str | None = None
    order_item_code: str | None = None


@dataclass
class Ledger:
    """The parts of the emulator state that processing reads and changes (under its lock)."""

    orders: dict[str, EmulatorOrder]
    counters: dict[tuple[str, str], RefundCounter]
    adjustments: list[AdjustmentRecord]
    cancellations: list[CancellationRecord]


@dataclass
class Outcome:
    status: FeedStatus
    report: bytes | None
    accepted: list[int] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)


class _Reject(Exception):
    def __init__(self, errors: list[MessageError]) -> None:
        super().__init__(errors[0].description if errors else "rejected")
        self.errors = errors


def _text(parent: etree._Element, tag: str) -> str | None:
    child = parent.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}"


# ------------------------------------------------------------------------------ report


def build_report(seller_id: str, transaction_id: str, processed: int, successful: int,
                 errors: Iterable[MessageError], failed_messages: int) -> bytes:
    """A ProcessingReport envelope (valid against amzn-envelope.xsd)."""
    root = etree.Element("AmazonEnvelope", nsmap={"xsi": _XSI_NS})
    root.set(f"{{{_XSI_NS}}}noNamespaceSchemaLocation", ENVELOPE_XSD)
    header = etree.SubElement(root, "Header")
    etree.SubElement(header, "DocumentVersion").text = "1.02"
    etree.SubElement(header, "MerchantIdentifier").text = seller_id
    etree.SubElement(root, "MessageType").text = "ProcessingReport"
    message = etree.SubElement(root, "Message")
    etree.SubElement(message, "MessageID").text = "1"
    report = etree.SubElement(message, "ProcessingReport")
    etree.SubElement(report, "DocumentTransactionID").text = transaction_id
    etree.SubElement(report, "StatusCode").text = "Complete"
    summary = etree.SubElement(report, "ProcessingSummary")
    etree.SubElement(summary, "MessagesProcessed").text = str(processed)
    etree.SubElement(summary, "MessagesSuccessful").text = str(successful)
    etree.SubElement(summary, "MessagesWithError").text = str(failed_messages)
    etree.SubElement(summary, "MessagesWithWarning").text = "0"
    for error in errors:
        result = etree.SubElement(report, "Result")
        etree.SubElement(result, "MessageID").text = str(error.message_id)
        etree.SubElement(result, "ResultCode").text = "Error"
        etree.SubElement(result, "ResultMessageCode").text = str(error.code)
        etree.SubElement(result, "ResultDescription").text = error.description
        order_id = error.amazon_order_id
        item_code = error.order_item_code
        valid_order = order_id is not None and _ORDER_ID_RE.fullmatch(order_id)
        valid_item = item_code is not None and _ITEM_CODE_RE.fullmatch(item_code)
        if valid_order or valid_item:
            info = etree.SubElement(result, "AdditionalInfo")
            if valid_order:
                etree.SubElement(info, "AmazonOrderID").text = order_id
            if valid_item:
                etree.SubElement(info, "AmazonOrderItemCode").text = item_code
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def compress(report: bytes) -> bytes:
    return gzip.compress(report, mtime=0)


# ---------------------------------------------------------------------------- processor


class FeedProcessor:
    """Processes one feed against the ledger. Call :meth:`run` under the state lock."""

    def __init__(self, feed: Feed, payload: bytes | None, ledger: Ledger, *,
                 xsd_dir: Path | None, now: datetime, apply: bool = True) -> None:
        self.feed = feed
        self.payload = payload
        self.ledger = ledger
        self.xsd_dir = xsd_dir
        self.now = now
        self.apply = apply

    # -- whole document -------------------------------------------------------------

    def _fatal(self, description: str) -> Outcome:
        error = MessageError(0, XML_PARSE_ERROR, description)
        report = build_report(self.feed.seller_id, self.feed.feed_id, 0, 0, [error], 0)
        return Outcome(FeedStatus.FATAL, report)

    def run(self) -> Outcome:
        if not self.payload:
            return self._fatal("The feed document is empty: nothing was uploaded to it.")
        try:
            root = etree.fromstring(self.payload, parser=safe_parser())
        except etree.XMLSyntaxError as exc:
            return self._fatal(f"XML Parsing Fatal Error: {exc}")
        docinfo = root.getroottree().docinfo
        if docinfo.internalDTD is not None or docinfo.doctype:
            return self._fatal("XML Parsing Fatal Error: a DOCTYPE (DTD, entity "
                               "declarations) is not allowed in a feed.")
        if root.tag != "AmazonEnvelope":
            return self._fatal(f"The root element must be AmazonEnvelope, not {root.tag!r}.")
        expected = MESSAGE_TYPES.get(self.feed.feed_type)
        message_type = _text(root, "MessageType")
        if expected is None or message_type != expected:
            return self._fatal(f"MessageType {message_type!r} does not match feed type "
                               f"{self.feed.feed_type} (expected {expected!r}).")
        messages = root.findall("Message")
        if self.xsd_dir is not None:
            schema_errors = self._schema_errors(root)
            if schema_errors is not None:
                return self._schema_rejection(messages, schema_errors)
        return self._process_messages(messages, expected)

    def _schema_errors(self, root: etree._Element) -> list[tuple[int, str]] | None:
        assert self.xsd_dir is not None
        schema = load_schema(self.xsd_dir)
        with _VALIDATE_LOCK:
            valid = schema.validate(root)
            log = cast(Iterable[Any], schema.error_log)
            errors = [(int(e.line), str(e.message)) for e in log]
        return None if valid else errors

    def _schema_rejection(self, messages: list[etree._Element],
                          errors: list[tuple[int, str]]) -> Outcome:
        starts = [int(cast(Any, m.sourceline) or 0) for m in messages]
        per_message: dict[int, list[str]] = {i: [] for i in range(len(messages))}
        document_level: list[str] = []
        for line, text in errors:
            index = None
            for i, start in enumerate(starts):
                if line >= start:
                    index = i
            entry = f"XML Parsing Error at Line {line}: {text}"
            if index is None:
                document_level.append(entry)
            else:
                per_message[index].append(entry)
        results: list[MessageError] = []
        for i, message in enumerate(messages):
            message_id = self._message_id(message) or 0
            texts = per_message[i] + document_level or [
                "The document does not validate against amzn-envelope.xsd; no message of it "
                "was processed."]
            results.extend(MessageError(message_id, XML_SCHEMA_ERROR, t) for t in texts)
        if not messages:
            results = [MessageError(0, XML_SCHEMA_ERROR, t) for t in document_level]
        report = build_report(self.feed.seller_id, self.feed.feed_id, len(messages), 0,
                              results, len(messages))
        rejected = [self._message_id(m) or 0 for m in messages]
        return Outcome(FeedStatus.DONE, report, [], rejected)

    @staticmethod
    def _message_id(message: etree._Element) -> int | None:
        text = _text(message, "MessageID")
        if text is None or not _INT_RE.fullmatch(text) or int(text) == 0:
            return None
        return int(text)

    def _process_messages(self, messages: list[etree._Element], message_type: str) -> Outcome:
        results: list[MessageError] = []
        accepted: list[int] = []
        rejected: list[int] = []
        seen: set[int] = set()
        handler: Callable[[int, etree._Element], None] = (
            self._adjustment if message_type == "OrderAdjustment" else self._acknowledgement)
        for message in messages:
            message_id = self._message_id(message)
            try:
                if message_id is None:
                    raise _Reject([MessageError(0, INVALID_DATA,
                                                "MessageID must be a positive integer.")])
                if message_id in seen:
                    raise _Reject([MessageError(message_id, DUPLICATE_MESSAGE_ID,
                                                f"MessageID {message_id} is used twice in "
                                                "this document.")])
                seen.add(message_id)
                payload = message.find(message_type)
                if payload is None:
                    raise _Reject([MessageError(message_id, INVALID_DATA,
                                                f"Message {message_id} has no {message_type}.")])
                handler(message_id, payload)
            except _Reject as reject:
                results.extend(reject.errors)
                rejected.append(message_id or 0)
            else:
                assert message_id is not None
                accepted.append(message_id)
        report = build_report(self.feed.seller_id, self.feed.feed_id, len(messages),
                              len(accepted), results, len(rejected))
        return Outcome(FeedStatus.DONE, report, accepted, rejected)

    # -- shared checks ----------------------------------------------------------------

    def _order(self, message_id: int, payload: etree._Element) -> EmulatorOrder:
        order_id = _text(payload, "AmazonOrderID")
        if not order_id:
            raise _Reject([MessageError(message_id, INVALID_DATA, "AmazonOrderID is missing.")])
        order = self.ledger.orders.get(order_id)
        if (order is None or order.seller_id != self.feed.seller_id
                or order.marketplace_id not in self.feed.marketplace_ids):
            raise _Reject([MessageError(
                message_id, ORDER_NOT_FOUND,
                f"The order id {order_id} was not found for this merchant in marketplaces "
                f"{', '.join(self.feed.marketplace_ids)}.", order_id)])
        return order

    def _touch(self, order: EmulatorOrder) -> None:
        order.last_updated_time = self.now

    # -- OrderAdjustment ----------------------------------------------------------------

    def _adjustment(self, message_id: int, payload: etree._Element) -> None:
        order = self._order(message_id, payload)
        oid = order.amazon_order_id
        if order.status not in REFUNDABLE_STATUSES:
            raise _Reject([MessageError(
                message_id, ORDER_STATUS_NOT_ALLOWED,
                f"Order {oid} is {order.status.value}; only Unshipped, PartiallyShipped and "
                "Shipped orders can be adjusted.", oid)])
        errors: list[MessageError] = []
        plans: list[_ItemPlan] = []
        pending: dict[str, _ItemPlan] = {}
        adjusted = payload.findall("AdjustedItem")
        if not adjusted:
            errors.append(MessageError(message_id, INVALID_DATA,
                                       f"OrderAdjustment for {oid} has no AdjustedItem.", oid))
        for element in adjusted:
            plan = self._plan_item(message_id, order, element, pending, errors)
            if plan is not None:
                plans.append(plan)
                previous = pending.get(plan.item.order_item_id)
                pending[plan.item.order_item_id] = plan if previous is None else previous + plan
        if errors:
            raise _Reject(errors)
        if not self.apply:
            return
        for plan in plans:
            self._apply_item(message_id, order, plan)
        _recompute_status(order)
        if any(p.quantity_cancelled for p in plans):
            self._touch(order)

    def _plan_item(self, message_id: int, order: EmulatorOrder, element: etree._Element,
                   pending: dict[str, _ItemPlan],
                   errors: list[MessageError]) -> _ItemPlan | None:
        oid = order.amazon_order_id
        code = _text(element, "AmazonOrderItemCode")
        if not code:
            errors.append(MessageError(message_id, INVALID_DATA,
                                       "AmazonOrderItemCode is missing.", oid))
            return None
        item = order.item(code)
        if item is None:
            errors.append(MessageError(
                message_id, ITEM_NOT_FOUND,
                f"The order item code {code} is not an item of order {oid}.", oid, code))
            return None
        before = len(errors)

        def err(code_: int, text: str) -> None:
            errors.append(MessageError(message_id, code_, text, oid, code))

        reason = _text(element, "AdjustmentReason")
        if not reason:
            err(INVALID_DATA, f"AdjustmentReason is missing for item {code}.")
        components: dict[str, Decimal] = {}
        prices = element.find("ItemPriceAdjustments")
        for component in [] if prices is None else prices.findall("Component"):
            kind = _text(component, "Type") or ""
            amount_el = component.find("Amount")
            text = (amount_el.text or "").strip() if amount_el is not None else ""
            if not kind or not _AMOUNT_RE.fullmatch(text):
                err(INVALID_DATA, f"Component {kind or '?'} of item {code} has an invalid "
                    f"amount {text!r} (at most 2 decimals).")
                continue
            assert amount_el is not None
            currency = amount_el.get("currency")
            if currency is not None and currency != order.currency:
                err(CURRENCY_MISMATCH, f"The currency {currency} of component {kind} does not "
                    f"match the order currency {order.currency}.")
                continue
            try:
                amount = Decimal(text)
            except InvalidOperation:  # pragma: no cover - the regex rules this out
                err(INVALID_DATA, f"invalid amount {text!r}")
                continue
            if order.currency in _ZERO_DECIMAL_CURRENCIES and amount != amount.to_integral():
                err(INVALID_DATA, f"{order.currency} amounts must be whole numbers, "
                    f"got {text} for {kind}.")
                continue
            if kind in components:
                err(INVALID_DATA, f"Component {kind} appears twice for item {code}.")
                continue
            components[kind] = amount
        quantity = self._quantity(element, "Quantity", err)
        quantity_cancelled = self._quantity(element, "QuantityCancelled", err)
        if len(errors) > before:
            return None
        plan = _ItemPlan(item, reason or "", _text(element, "MerchantAdjustmentItemID"),
                         quantity, quantity_cancelled, components)
        if not any(components.values()) and not quantity and not quantity_cancelled:
            err(INVALID_DATA, f"The adjustment of item {code} has no amount and no quantity.")
            return None
        counter = self.ledger.counters.get((oid, code)) or RefundCounter(oid, code)
        earlier = pending.get(code)
        self._check_quantities(plan, counter, earlier, err)
        self._check_amounts(order, plan, counter, earlier, err)
        return plan if len(errors) == before else None

    @staticmethod
    def _quantity(element: etree._Element, tag: str, err: Callable[[int, str], None]) -> int:
        text = _text(element, tag)
        if text is None:
            return 0
        if not _INT_RE.fullmatch(text) or int(text) == 0:
            err(INVALID_DATA, f"{tag} must be a positive integer, got {text!r}.")
            return 0
        return int(text)

    @staticmethod
    def _check_quantities(plan: _ItemPlan, counter: RefundCounter, earlier: _ItemPlan | None,
                          err: Callable[[int, str], None]) -> None:
        item = plan.item
        if plan.quantity:
            refundable = (item.quantity_shipped - counter.units_refunded
                          - (earlier.quantity if earlier else 0))
            if plan.quantity > refundable:
                err(QUANTITY_NOT_SHIPPED,
                    f"Quantity {plan.quantity} for item {item.order_item_id} exceeds the units "
                    f"shipped and not yet refunded ({max(refundable, 0)}; shipped "
                    f"{item.quantity_shipped}). Units that were not shipped cannot be refunded.")
        if plan.quantity_cancelled:
            cancellable = item.quantity_unshipped - (earlier.quantity_cancelled if earlier else 0)
            if plan.quantity_cancelled > cancellable:
                err(QUANTITY_ALREADY_SHIPPED,
                    f"QuantityCancelled {plan.quantity_cancelled} for item "
                    f"{item.order_item_id} exceeds the units neither shipped nor cancelled "
                    f"({max(cancellable, 0)}; shipped {item.quantity_shipped}). Shipped units "
                    "cannot be cancelled.")

    @staticmethod
    def _check_amounts(order: EmulatorOrder, plan: _ItemPlan, counter: RefundCounter,
                       earlier: _ItemPlan | None, err: Callable[[int, str], None]) -> None:
        item = plan.item
        cur = order.currency

        def refunded(kind: str) -> Decimal:
            return counter.amount(kind) + (earlier.components.get(kind, ZERO) if earlier else ZERO)

        new = plan.components
        charged = _charged(item)
        for kind, amount in new.items():
            if kind in ("RestockingFee", "RestockingFeeTax"):
                if amount > 0:
                    err(INVALID_DATA, f"{kind} must be zero or negative (money the seller "
                        f"keeps), got {_fmt(amount, cur)}.")
                continue
            if amount < 0:
                err(INVALID_DATA, f"Component {kind} must not be negative, got "
                    f"{_fmt(amount, cur)}.")
                continue
            if kind not in charged and amount > 0:
                err(AMOUNT_EXCEEDS_REMAINING, f"Nothing was charged as {kind} for item "
                    f"{item.order_item_id}; {_fmt(amount, cur)} cannot be refunded.")
        pools: list[tuple[str, tuple[str, ...], Decimal]] = []
        if order.prices_include_tax:
            # "Partial Refunds with VAT-Exclusive Prices": Principal and Shipping are net of VAT,
            # Amazon adds the VAT at the original rate and ignores the tax fields.
            pools += [
                ("Principal", ("Principal",), charged["Principal"] - charged["Tax"]),
                ("Shipping", ("Shipping",), charged["Shipping"] - charged["ShippingTax"]),
            ]
        else:
            pools += [(k, (k,), charged[k]) for k in ("Principal", "Tax", "Shipping",
                                                        "ShippingTax")]
        for label, kinds, cap in pools:
            asked = sum((new.get(k, ZERO) for k in kinds), ZERO)
            if not any(k in new for k in kinds) or asked <= 0:
                continue
            remaining = cap - sum((refunded(k) for k in kinds), ZERO)
            if asked > remaining:
                err(AMOUNT_EXCEEDS_REMAINING,
                    f"The refund of {_fmt(asked, cur)} ({label}) for item {item.order_item_id} "
                    f"exceeds the remaining refundable amount {_fmt(max(remaining, ZERO), cur)} "
                    f"(charged {_fmt(cap, cur)}).")

    def _apply_item(self, message_id: int, order: EmulatorOrder, plan: _ItemPlan) -> None:
        item = plan.item
        key = (order.amazon_order_id, item.order_item_id)
        counter = self.ledger.counters.setdefault(key, RefundCounter(*key))
        counter.adjustments += 1
        counter.units_refunded += plan.quantity
        counter.units_cancelled += plan.quantity_cancelled
        for kind, amount in plan.components.items():
            counter.components[kind] = counter.amount(kind) + amount
        self.ledger.adjustments.append(AdjustmentRecord(
            self.feed.feed_id, message_id, order.amazon_order_id, item.order_item_id,
            plan.reason, plan.merchant_item_id, plan.quantity, plan.quantity_cancelled,
            tuple(plan.components.items()), self.now))
        if plan.quantity_cancelled:
            item.quantity_canceled += plan.quantity_cancelled
            item.cancel_reason = plan.reason
            item.cancelled_by = "MERCHANT"
            self.ledger.cancellations.append(CancellationRecord(
                self.feed.feed_id, message_id, order.amazon_order_id, item.order_item_id,
                plan.quantity_cancelled, plan.reason, "OrderAdjustment", self.now))

    # -- OrderAcknowledgement ------------------------------------------------------------

    def _acknowledgement(self, message_id: int, payload: etree._Element) -> None:
        order = self._order(message_id, payload)
        oid = order.amazon_order_id
        status_code = _text(payload, "StatusCode")
        if status_code not in ("Success", "Failure"):
            raise _Reject([MessageError(message_id, INVALID_DATA,
                                        f"StatusCode must be Success or Failure, got "
                                        f"{status_code!r}.", oid)])
        if order.status == OrderStatus.CANCELED:
            raise _Reject([MessageError(message_id, ORDER_ALREADY_CANCELED,
                                        f"Order {oid} is already Canceled.", oid)])
        merchant_order_id = _text(payload, "MerchantOrderID")
        if status_code == "Success":
            if self.apply:
                order.acknowledged = True
                if merchant_order_id:
                    order.seller_order_id = merchant_order_id
            return
        if order.status not in CANCELLABLE_STATUSES:
            raise _Reject([MessageError(
                message_id, ORDER_STATUS_NOT_ALLOWED,
                f"Order {oid} is {order.status.value}; it cannot be cancelled.", oid)])
        errors: list[MessageError] = []
        plan: list[tuple[EmulatorItem, int, str | None]] = []
        elements = payload.findall("Item")
        requests: list[tuple[str, str | None, str | None]] = [
            (_text(e, "AmazonOrderItemCode") or "", _text(e, "CancelReason"),
             _text(e, "Quantity")) for e in elements]
        if not elements:  # no Item: the whole order
            requests = [(i.order_item_id, None, None) for i in order.items]
        seen: set[str] = set()
        for code, reason, quantity_text in requests:
            item = order.item(code)
            if item is None:
                errors.append(MessageError(message_id, ITEM_NOT_FOUND,
                                           f"The order item code {code!r} is not an item of "
                                           f"order {oid}.", oid, code))
                continue
            if code in seen:
                errors.append(MessageError(message_id, INVALID_DATA,
                                           f"Item {code} is listed twice.", oid, code))
                continue
            seen.add(code)
            if quantity_text is None:
                quantity = item.quantity_unshipped
                if item.quantity_shipped:
                    errors.append(MessageError(
                        message_id, ITEM_NOT_CANCELLABLE,
                        f"Item {code} of order {oid} has shipped units "
                        f"({item.quantity_shipped}); it cannot be cancelled.", oid, code))
                    continue
                if quantity == 0:
                    errors.append(MessageError(message_id, ITEM_NOT_CANCELLABLE,
                                               f"Item {code} is already cancelled.", oid, code))
                    continue
            else:
                if not _INT_RE.fullmatch(quantity_text) or int(quantity_text) == 0:
                    errors.append(MessageError(message_id, INVALID_DATA,
                                               f"Quantity must be a positive integer, got "
                                               f"{quantity_text!r}.", oid, code))
                    continue
                quantity = int(quantity_text)
                if quantity > item.quantity_unshipped:
                    errors.append(MessageError(
                        message_id, ITEM_NOT_CANCELLABLE,
                        f"Cannot cancel {quantity} units of item {code}: only "
                        f"{item.quantity_unshipped} are neither shipped nor cancelled "
                        f"(shipped {item.quantity_shipped}).", oid, code))
                    continue
            plan.append((item, quantity, reason))
        if errors:
            raise _Reject(errors)
        if not self.apply:
            return
        for item, quantity, reason in plan:
            item.quantity_canceled += quantity
            item.cancel_reason = reason
            item.cancelled_by = "MERCHANT"
            self.ledger.cancellations.append(CancellationRecord(
                self.feed.feed_id, message_id, oid, item.order_item_id, quantity, reason,
                "OrderAcknowledgement", self.now))
        if merchant_order_id:
            order.seller_order_id = merchant_order_id
        _recompute_status(order)
        self._touch(order)


@dataclass
class _ItemPlan:
    item: EmulatorItem
    reason: str
    merchant_item_id: str | None
    quantity: int
    quantity_cancelled: int
    components: dict[str, Decimal]

    def __add__(self, other: _ItemPlan) -> _ItemPlan:
        merged = dict(self.components)
        for kind, amount in other.components.items():
            merged[kind] = merged.get(kind, ZERO) + amount
        return _ItemPlan(self.item, self.reason, self.merchant_item_id,
                         self.quantity + other.quantity,
                         self.quantity_cancelled + other.quantity_cancelled, merged)


def _charged(item: EmulatorItem) -> dict[str, Decimal]:
    """What Amazon charged the buyer for the item, per adjustment component."""
    return {
        "Principal": item.item_price - item.promotion_discount,
        "Tax": item.item_tax - item.promotion_discount_tax,
        "Shipping": item.shipping_price - item.shipping_discount,
        "ShippingTax": item.shipping_tax - item.shipping_discount_tax,
    }


def buyer_refund(order: EmulatorOrder, counter: RefundCounter) -> Decimal:
    """What the buyer got back for one item. On tax-inclusive marketplaces Amazon adds VAT to
    the net Principal and Shipping at the item's original rates and ignores Tax fields."""
    if not order.prices_include_tax:
        return counter.total
    item = order.item(counter.order_item_id)
    if item is None:
        return counter.total
    charged = _charged(item)
    unit = Decimal(1) if order.currency in _ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    total = ZERO
    for kind, amount in counter.components.items():
        if kind in ("Tax", "ShippingTax"):
            continue  # ignored by Amazon on these marketplaces
        tax = {"Principal": "Tax", "Shipping": "ShippingTax"}.get(kind)
        if tax is not None and charged[kind] - charged[tax] > 0:
            amount = (amount * charged[kind] / (charged[kind] - charged[tax])).quantize(
                unit, rounding=ROUND_HALF_UP)
        total += amount
    return total


def _recompute_status(order: EmulatorOrder) -> None:
    """Order status from item quantities (only for statuses that follow the quantities)."""
    if order.status not in (OrderStatus.PENDING, OrderStatus.UNSHIPPED,
                            OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED):
        return
    if all(i.quantity_canceled >= i.quantity_ordered for i in order.items):
        order.status = OrderStatus.CANCELED
        return
    if order.status == OrderStatus.PENDING:
        return
    shipped = sum(i.quantity_shipped for i in order.items)
    open_units = sum(i.quantity_unshipped for i in order.items)
    if shipped == 0:
        order.status = OrderStatus.UNSHIPPED
    elif open_units == 0:
        order.status = OrderStatus.SHIPPED
    else:
        order.status = OrderStatus.PARTIALLY_SHIPPED


recompute_status = _recompute_status
