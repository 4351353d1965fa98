"""Orders API v2026-01-01 ``Order`` documents <-> domain.AmazonOrderState.

:func:`order_state_from_api` reads a getOrder / searchOrders ``order`` (fetched with
``includedData`` PROCEEDS, FULFILLMENT and CANCELLATION); :func:`order_doc_from_state` writes
the inverse, a model-valid ``order`` document (the emulator serves orders built with it).
The mapping is documented in docs/amazon-orders.md. Money is Decimal throughout: amounts are
strings in the model (``Money.amount`` is a ``Decimal`` string); a Decimal or int (from JSON
parsed with ``parse_float=Decimal``) is accepted too, a float never.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sidecar.amazon.isotime import format_time, parse_time
from sidecar.domain import AmazonOrderItem, AmazonOrderState, AmazonOrderStatus, FulfillmentChannel
from sidecar.money import to_decimal

ZERO = Decimal(0)

#: v2026-01-01 fulfillmentStatus -> v0 OrderStatus (Amazon's migration data, statusMappings).
#: INVOICE_UNCONFIRMED is in the migration data but not (yet) in the model's enum.
STATUS_FROM_V2026: Mapping[str, AmazonOrderStatus] = {
    "PENDING_AVAILABILITY": AmazonOrderStatus.PENDING_AVAILABILITY,
    "PENDING": AmazonOrderStatus.PENDING,
    "UNSHIPPED": AmazonOrderStatus.UNSHIPPED,
    "PARTIALLY_SHIPPED": AmazonOrderStatus.PARTIALLY_SHIPPED,
    "SHIPPED": AmazonOrderStatus.SHIPPED,
    "CANCELLED": AmazonOrderStatus.CANCELED,
    "UNFULFILLABLE": AmazonOrderStatus.UNFULFILLABLE,
    "INVOICE_UNCONFIRMED": AmazonOrderStatus.INVOICE_UNCONFIRMED,
}
STATUS_TO_V2026: Mapping[AmazonOrderStatus, str] = {v: k for k, v in STATUS_FROM_V2026.items()}

#: fulfilledBy -> v0 FulfillmentChannel (migration data: MFN = MERCHANT, AFN = AMAZON).
CHANNEL_FROM_V2026: Mapping[str, FulfillmentChannel] = {
    "MERCHANT": FulfillmentChannel.MFN,
    "AMAZON": FulfillmentChannel.AFN,
}
CHANNEL_TO_V2026: Mapping[FulfillmentChannel, str] = {
    v: k for k, v in CHANNEL_FROM_V2026.items()
}


class OrderMappingError(ValueError):
    """The order document cannot be mapped (missing data, bad money, mixed currencies)."""


# --------------------------------------------------------------------------- money


def parse_amount(value: object, where: str) -> Decimal:
    """A Money.amount: a plain decimal string (or Decimal/int); never a float."""
    if isinstance(value, bool):
        raise OrderMappingError(f"{where}: amount is a boolean")
    if isinstance(value, str):
        try:
            return to_decimal(value.strip())
        except ValueError as exc:
            raise OrderMappingError(f"{where}: {exc}") from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise OrderMappingError(f"{where}: amount is not finite")
        return value
    if isinstance(value, int):
        return Decimal(value)
    raise OrderMappingError(
        f"{where}: amount must be a decimal string, got {type(value).__name__} "
        "(parse SP-API JSON with parse_float=Decimal)"
    )


class _Money:
    """Parses Money objects of one order, checking they all use the same currency."""

    def __init__(self, currency: str | None) -> None:
        self.currency = currency

    def __call__(self, money: object, where: str) -> Decimal:
        if not isinstance(money, Mapping):
            raise OrderMappingError(f"{where}: Money must be an object")
        code = money.get("currencyCode")
        if not isinstance(code, str) or not code:
            raise OrderMappingError(f"{where}: Money has no currencyCode")
        if self.currency is None:
            self.currency = code
        elif code != self.currency:
            raise OrderMappingError(
                f"{where}: currency {code} differs from the order's {self.currency}")
        return parse_amount(money.get("amount"), where)


def _fmt(amount: Decimal) -> str:
    return format(amount, "f")


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": _fmt(amount), "currencyCode": currency}


# --------------------------------------------------------------------------- API -> domain


def _objects(value: object) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def _first_currency(order: Mapping[str, Any]) -> str | None:
    def codes() -> Iterable[object]:
        proceeds = order.get("proceeds")
        if isinstance(proceeds, Mapping) and isinstance(proceeds.get("grandTotal"), Mapping):
            yield proceeds["grandTotal"].get("currencyCode")
        for item in _objects(order.get("orderItems")):
            item_proceeds = item.get("proceeds")
            if isinstance(item_proceeds, Mapping):
                total = item_proceeds.get("proceedsTotal")
                if isinstance(total, Mapping):
                    yield total.get("currencyCode")
                for b in _objects(item_proceeds.get("breakdowns")):
                    sub = b.get("subtotal")
                    if isinstance(sub, Mapping):
                        yield sub.get("currencyCode")
            product = item.get("product")
            price = product.get("price") if isinstance(product, Mapping) else None
            unit = price.get("unitPrice") if isinstance(price, Mapping) else None
            if isinstance(unit, Mapping):
                yield unit.get("currencyCode")

    for code in codes():
        if isinstance(code, str) and code:
            return code
    return None


@dataclass
class _ItemMoney:
    item_price: Decimal = ZERO
    item_tax: Decimal = ZERO
    shipping_price: Decimal = ZERO
    shipping_tax: Decimal = ZERO
    promotion_discount: Decimal = ZERO
    promotion_discount_tax: Decimal = ZERO
    shipping_discount: Decimal = ZERO
    shipping_discount_tax: Decimal = ZERO
    gift_wrap_price: Decimal = ZERO
    gift_wrap_tax: Decimal = ZERO
    inclusive: bool | None = None  # inferred from proceedsTotal, see docs


def _item_money(item: Mapping[str, Any], money: _Money, where: str) -> _ItemMoney:
    out = _ItemMoney()
    proceeds = item.get("proceeds")
    breakdowns = _objects(proceeds.get("breakdowns")) if isinstance(proceeds, Mapping) else []
    subtotals: dict[str, Decimal] = {}
    details: dict[tuple[str, str], Decimal] = {}
    has_details: set[str] = set()
    for b in breakdowns:
        kind = str(b.get("type", ""))
        subtotals[kind] = subtotals.get(kind, ZERO) + money(b.get("subtotal"),
                                                            f"{where} proceeds {kind}")
        for d in _objects(b.get("detailedBreakdowns")):
            sub = str(d.get("subtype", ""))
            has_details.add(kind)
            details[(kind, sub)] = details.get((kind, sub), ZERO) + money(
                d.get("value"), f"{where} proceeds {kind}/{sub}")
    quantity = item.get("quantityOrdered")
    if "ITEM" in subtotals:
        out.item_price = subtotals["ITEM"]
    elif not breakdowns:
        # no PROCEEDS data: fall back to the unit price times the quantity ordered
        product = item.get("product")
        price = product.get("price") if isinstance(product, Mapping) else None
        unit = price.get("unitPrice") if isinstance(price, Mapping) else None
        if isinstance(unit, Mapping) and isinstance(quantity, int):
            out.item_price = money(unit, f"{where} unitPrice") * quantity
    out.shipping_price = subtotals.get("SHIPPING", ZERO)
    out.gift_wrap_price = subtotals.get("GIFT_WRAP", ZERO)
    tax_total = subtotals.get("TAX", ZERO)
    discount_tax = ZERO
    if "TAX" in has_details:
        out.item_tax = details.get(("TAX", "ITEM"), ZERO)
        out.shipping_tax = details.get(("TAX", "SHIPPING"), ZERO)
        out.gift_wrap_tax = details.get(("TAX", "GIFT_WRAP"), ZERO)
        discount_tax = abs(details.get(("TAX", "DISCOUNT"), ZERO))
    else:
        out.item_tax = tax_total  # no breakdown: all the tax belongs to the item
    discount_total = abs(subtotals.get("DISCOUNT", ZERO))
    out.shipping_discount = abs(details.get(("DISCOUNT", "SHIPPING"), ZERO))
    out.promotion_discount = discount_total - out.shipping_discount
    if out.promotion_discount < 0:
        raise OrderMappingError(f"{where}: DISCOUNT details exceed the DISCOUNT subtotal")
    out.promotion_discount_tax, out.shipping_discount_tax = _split_discount_tax(out, discount_tax)
    # Are ITEM/SHIPPING tax-inclusive? Only the proceeds arithmetic can tell.
    total_doc = proceeds.get("proceedsTotal") if isinstance(proceeds, Mapping) else None
    if isinstance(total_doc, Mapping) and tax_total != 0:
        total = money(total_doc, f"{where} proceedsTotal")
        others = sum((v for k, v in subtotals.items() if k not in ("TAX", "DISCOUNT")), ZERO)
        without_tax = others - discount_total
        if total == without_tax + tax_total:
            out.inclusive = False
        elif total == without_tax:
            out.inclusive = True
    return out


def _split_discount_tax(out: _ItemMoney, discount_tax: Decimal) -> tuple[Decimal, Decimal]:
    """v2026 has one TAX/DISCOUNT value for item and shipping promotions: (item, shipping).

    A free-shipping promotion's tax belongs to the shipping, never to the item. With both
    kinds of discount the tax is split by each discount times its charge's tax rate, at the
    amount's own precision, the item taking the rounding remainder."""
    if discount_tax == 0:
        return ZERO, ZERO
    if out.shipping_discount == 0:
        return discount_tax, ZERO
    if out.promotion_discount == 0:
        return ZERO, discount_tax
    item_w = out.promotion_discount * (out.item_tax / out.item_price if out.item_price else 0)
    ship_w = out.shipping_discount * (
        out.shipping_tax / out.shipping_price if out.shipping_price else 0)
    if item_w + ship_w <= 0:
        item_w, ship_w = out.promotion_discount, out.shipping_discount
    exponent = min(int(discount_tax.as_tuple().exponent), 0)
    step = Decimal(1).scaleb(int(exponent))
    shipping = (discount_tax * ship_w / (item_w + ship_w)).quantize(step, rounding=ROUND_HALF_UP)
    return discount_tax - shipping, shipping


def _shipped(item: Mapping[str, Any], status: AmazonOrderStatus | None, ordered: int,
             where: str) -> int:
    """quantityFulfilled; when Amazon omits it, never read it as "nothing shipped": a Shipped
    order shipped every open unit, a PartiallyShipped one cannot be told apart (wait)."""
    ifulfil = item.get("fulfillment")
    ifulfil = ifulfil if isinstance(ifulfil, Mapping) else {}
    if ifulfil.get("quantityFulfilled") is not None:
        return _int(ifulfil.get("quantityFulfilled"), f"{where} quantityFulfilled")
    if status is AmazonOrderStatus.SHIPPED:
        unfulfilled = _int(ifulfil.get("quantityUnfulfilled"), f"{where} quantityUnfulfilled", 0)
        return max(0, ordered - unfulfilled)
    if status is AmazonOrderStatus.PARTIALLY_SHIPPED:
        raise OrderMappingError(
            f"{where}: no quantityFulfilled on a PartiallyShipped order; shipped and unshipped "
            "units cannot be told apart, so the order is read again later")
    return 0


def _int(value: object, where: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise OrderMappingError(f"{where}: expected an integer, got {value!r}")
    return value


def order_state_from_api(doc: Mapping[str, Any], account_id: str,
                         fetched_at: datetime) -> AmazonOrderState:
    """Map a v2026-01-01 ``Order`` (or a whole ``GetOrderResponse``) to AmazonOrderState.

    Unknown ``fulfillmentStatus`` -> ``status=None`` with ``raw_status`` kept; ``raw_status``
    always holds Amazon's v2026 value. Raises :class:`OrderMappingError` on documents that
    cannot be mapped (no fulfillment data, unknown ``fulfilledBy``, bad money)."""
    order: Mapping[str, Any] = doc
    if "orderId" not in doc and isinstance(doc.get("order"), Mapping):
        order = doc["order"]
    order_id = order.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise OrderMappingError("order has no orderId")
    where = f"order {order_id}"
    fulfillment = order.get("fulfillment")
    if not isinstance(fulfillment, Mapping):
        raise OrderMappingError(f"{where}: no fulfillment data (request includedData="
                                "FULFILLMENT)")
    raw_status = str(fulfillment.get("fulfillmentStatus") or "")
    status = STATUS_FROM_V2026.get(raw_status)
    fulfilled_by = str(fulfillment.get("fulfilledBy") or "")
    channel = CHANNEL_FROM_V2026.get(fulfilled_by)
    if channel is None:
        raise OrderMappingError(f"{where}: unknown fulfilledBy {fulfilled_by!r}")
    last_updated_raw = order.get("lastUpdatedTime")
    if not isinstance(last_updated_raw, str):
        raise OrderMappingError(f"{where}: no lastUpdatedTime")
    try:
        last_updated = parse_time(last_updated_raw)
    except ValueError:
        raise OrderMappingError(f"{where}: bad lastUpdatedTime {last_updated_raw!r}") from None
    sales_channel = order.get("salesChannel")
    marketplace_id = (str(sales_channel.get("marketplaceId") or "")
                      if isinstance(sales_channel, Mapping) else "")

    money = _Money(_first_currency(order))
    proceeds = order.get("proceeds")
    if isinstance(proceeds, Mapping) and isinstance(proceeds.get("grandTotal"), Mapping):
        money(proceeds["grandTotal"], f"{where} grandTotal")  # currency check only

    items: list[AmazonOrderItem] = []
    inclusive: set[bool] = set()
    for index, item in enumerate(_objects(order.get("orderItems"))):
        item_id = item.get("orderItemId")
        if not isinstance(item_id, str) or not item_id:
            raise OrderMappingError(f"{where}: orderItems[{index}] has no orderItemId")
        iwhere = f"{where} item {item_id}"
        ordered = _int(item.get("quantityOrdered"), f"{iwhere} quantityOrdered")
        ifulfil = item.get("fulfillment")
        ifulfil = ifulfil if isinstance(ifulfil, Mapping) else {}
        shipped = _shipped(item, status, ordered, iwhere)
        if "quantityUnfulfilled" in ifulfil:
            unfulfilled = _int(ifulfil.get("quantityUnfulfilled"),
                               f"{iwhere} quantityUnfulfilled")
            canceled = max(0, ordered - shipped - unfulfilled)
        elif status is AmazonOrderStatus.CANCELED:
            canceled = max(0, ordered - shipped)
        else:
            canceled = 0
        cancellation = item.get("cancellation")
        request = (cancellation.get("cancellationRequest")
                   if isinstance(cancellation, Mapping) else None)
        requested = isinstance(request, Mapping) and request.get("requester") == "BUYER"
        reason_raw = request.get("cancelReason") if isinstance(request, Mapping) else None
        reason = str(reason_raw) if requested and reason_raw else None
        product = item.get("product")
        sku = product.get("sellerSku") if isinstance(product, Mapping) else None
        amounts = _item_money(item, money, iwhere)
        if amounts.inclusive is not None:
            inclusive.add(amounts.inclusive)
        items.append(AmazonOrderItem(
            order_item_id=item_id,
            seller_sku=str(sku or ""),
            quantity_ordered=ordered,
            quantity_shipped=shipped,
            item_price=amounts.item_price,
            item_tax=amounts.item_tax,
            shipping_price=amounts.shipping_price,
            shipping_tax=amounts.shipping_tax,
            promotion_discount=amounts.promotion_discount,
            promotion_discount_tax=amounts.promotion_discount_tax,
            shipping_discount=amounts.shipping_discount,
            shipping_discount_tax=amounts.shipping_discount_tax,  # split, see docs
            quantity_canceled=canceled,
            buyer_cancel_requested=requested,
            buyer_cancel_reason=reason,
            gift_wrap_price=amounts.gift_wrap_price,
            gift_wrap_tax=amounts.gift_wrap_tax,
        ))
    return AmazonOrderState(
        amazon_order_id=order_id,
        account_id=account_id,
        marketplace_id=marketplace_id,
        status=status,
        fulfillment_channel=channel,
        currency=money.currency or "",
        last_updated=last_updated,
        fetched_at=fetched_at,
        items=tuple(items),
        raw_status=raw_status,
        prices_include_tax=inclusive.pop() if len(inclusive) == 1 else None,
    )


# --------------------------------------------------------------------------- domain -> API


def _item_doc(item: AmazonOrderItem, currency: str, inclusive: bool | None) -> dict[str, Any]:
    breakdowns: list[dict[str, Any]] = [
        {"type": "ITEM", "subtotal": _money(item.item_price, currency)},
    ]
    if item.shipping_price:
        breakdowns.append({"type": "SHIPPING", "subtotal": _money(item.shipping_price,
                                                                  currency)})
    if item.gift_wrap_price:
        breakdowns.append({"type": "GIFT_WRAP", "subtotal": _money(item.gift_wrap_price,
                                                                   currency)})
    discount_tax = item.promotion_discount_tax + item.shipping_discount_tax
    tax_total = item.item_tax + item.shipping_tax + item.gift_wrap_tax - discount_tax
    if item.item_tax or item.shipping_tax or item.gift_wrap_tax or discount_tax:
        tax_details = [
            {"subtype": sub, "value": _money(value, currency)}
            for sub, value in (("ITEM", item.item_tax), ("SHIPPING", item.shipping_tax),
                               ("GIFT_WRAP", item.gift_wrap_tax), ("DISCOUNT", -discount_tax))
            if value
        ]
        breakdowns.append({"type": "TAX", "subtotal": _money(tax_total, currency),
                           "detailedBreakdowns": tax_details})
    discount = item.promotion_discount + item.shipping_discount
    if discount:
        discount_details = [
            {"subtype": sub, "value": _money(-value, currency)}
            for sub, value in (("ITEM", item.promotion_discount),
                               ("SHIPPING", item.shipping_discount))
            if value
        ]
        breakdowns.append({"type": "DISCOUNT", "subtotal": _money(-discount, currency),
                           "detailedBreakdowns": discount_details})
    proceeds: dict[str, Any] = {"breakdowns": breakdowns}
    if inclusive is not None:
        total = item.item_price + item.shipping_price + item.gift_wrap_price - discount
        if not inclusive:
            total += tax_total
        proceeds = {"proceedsTotal": _money(total, currency), "breakdowns": breakdowns}
    unfulfilled = item.quantity_ordered - item.quantity_shipped - item.quantity_canceled
    if unfulfilled < 0:
        raise ValueError(f"item {item.order_item_id}: shipped + canceled exceed ordered")
    doc: dict[str, Any] = {
        "orderItemId": item.order_item_id,
        "quantityOrdered": item.quantity_ordered,
        "product": {"sellerSku": item.seller_sku},
        "proceeds": proceeds,
        "fulfillment": {"quantityFulfilled": item.quantity_shipped,
                        "quantityUnfulfilled": unfulfilled},
    }
    if item.buyer_cancel_requested:
        request: dict[str, str] = {"requester": "BUYER"}
        if item.buyer_cancel_reason:
            request["cancelReason"] = item.buyer_cancel_reason
        doc["cancellation"] = {"cancellationRequest": request}
    return doc


def order_doc_from_state(state: AmazonOrderState, *,
                         created_time: datetime | None = None) -> dict[str, Any]:
    """The v2026-01-01 ``Order`` document (getOrder's ``order``) for ``state``.

    Inverse of :func:`order_state_from_api` for everything the v2026 model can carry (not:
    ``magento_order_item_id``; ``shipping_discount_tax`` comes back inside
    ``promotion_discount_tax``). ``proceedsTotal``/``grandTotal`` are written only when
    ``prices_include_tax`` is known, so that the reader infers the same value back."""
    if state.status is not None:
        fulfillment_status = STATUS_TO_V2026[state.status]
    elif state.raw_status:
        fulfillment_status = state.raw_status  # an unknown status, served as-is
    else:
        raise ValueError(f"order {state.amazon_order_id}: no status to write")
    currency = state.currency
    inclusive = state.prices_include_tax
    items = [_item_doc(i, currency, inclusive) for i in state.items]
    totals: dict[str, Decimal] = {}
    for item_doc in items:
        for b in item_doc["proceeds"]["breakdowns"]:
            totals[b["type"]] = totals.get(b["type"], ZERO) + to_decimal(b["subtotal"]["amount"])
    proceeds: dict[str, Any] = {
        "breakdowns": [{"type": k, "subtotal": _money(v, currency)} for k, v in totals.items()],
    }
    if inclusive is not None:
        grand = sum((to_decimal(i["proceeds"]["proceedsTotal"]["amount"]) for i in items), ZERO)
        proceeds = {"grandTotal": _money(grand, currency), **proceeds}
    doc: dict[str, Any] = {
        "orderId": state.amazon_order_id,
        "createdTime": format_time(created_time or state.last_updated),
        "lastUpdatedTime": format_time(state.last_updated),
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": state.marketplace_id},
        "proceeds": proceeds,
        "fulfillment": {
            "fulfillmentStatus": fulfillment_status,
            "fulfilledBy": CHANNEL_TO_V2026[state.fulfillment_channel],
        },
        "orderItems": items,
    }
    return doc


# --------------------------------------------------------------------------- cancellations


@dataclass(frozen=True)
class ItemCancellation:
    """``orderItems[].cancellation`` as Amazon sent it (includedData=CANCELLATION); values are
    kept verbatim, unknown ones included, never guessed."""

    order_item_id: str
    seller_sku: str
    quantity_ordered: int | None
    quantity_unfulfilled: int | None
    requester: str | None = None  # cancellationRequest.requester (BUYER)
    request_reason: str | None = None  # cancellationRequest.cancelReason
    cancelled_by: str | None = None  # cancellationExecution.cancelledBy
    cancel_reason: str | None = None  # cancellationExecution.cancelReason


def _opt_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def item_cancellations(doc: Mapping[str, Any]) -> list[ItemCancellation]:
    """Every item that carries a cancellation request or execution."""
    order: Mapping[str, Any] = doc
    if "orderId" not in doc and isinstance(doc.get("order"), Mapping):
        order = doc["order"]
    out: list[ItemCancellation] = []
    for item in _objects(order.get("orderItems")):
        cancellation = item.get("cancellation")
        if not isinstance(cancellation, Mapping):
            continue
        request = cancellation.get("cancellationRequest")
        execution = cancellation.get("cancellationExecution")
        request = request if isinstance(request, Mapping) else {}
        execution = execution if isinstance(execution, Mapping) else {}
        if not request and not execution:
            continue
        product = item.get("product")
        fulfil = item.get("fulfillment")
        ordered = item.get("quantityOrdered")
        unfulfilled = fulfil.get("quantityUnfulfilled") if isinstance(fulfil, Mapping) else None
        out.append(ItemCancellation(
            order_item_id=str(item.get("orderItemId") or ""),
            seller_sku=str(product.get("sellerSku") or "") if isinstance(product, Mapping)
            else "",
            quantity_ordered=ordered if isinstance(ordered, int) else None,
            quantity_unfulfilled=unfulfilled if isinstance(unfulfilled, int) else None,
            requester=_opt_str(request.get("requester")),
            request_reason=_opt_str(request.get("cancelReason")),
            cancelled_by=_opt_str(execution.get("cancelledBy")),
            cancel_reason=_opt_str(execution.get("cancelReason")),
        ))
    return out
