"""Render emulator orders as Orders API v2026-01-01 JSON (``Order`` of the model).

Which parts appear follows ``includedData`` as Amazon's migration guide maps it:
``orderItems`` (with product, price) always; ``fulfillment`` (order status, fulfilledBy,
item quantityFulfilled/Unfulfilled) only with FULFILLMENT; ``proceeds`` with PROCEEDS;
``orderItems[].promotion`` with PROMOTION; ``orderItems[].cancellation`` with CANCELLATION;
``packages`` with PACKAGES; ``buyer`` with BUYER.

Money: proceeds breakdown ``ITEM``/``SHIPPING`` subtotals are the item and shipping prices;
``TAX`` carries the item/shipping/discount taxes as detailed breakdowns (subtypes ITEM,
SHIPPING, DISCOUNT); ``DISCOUNT`` is negative (subtypes ITEM for the promotion, SHIPPING for
the shipping discount). ``proceedsTotal`` is their sum, except on tax-inclusive marketplaces
(prices already contain the tax) where the TAX breakdown is informational and not added.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sidecar.emulator.model import FULFILLMENT_STATUS, ZERO, EmulatorItem, EmulatorOrder

INCLUDED_DATA = frozenset({
    "BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
    "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS",
})

MARKETPLACE_NAMES: dict[str, str] = {
    "ATVPDKIKX0DER": "Amazon.com",
    "A2EUQ1WTGCTBG2": "Amazon.ca",
    "A1AM78C64UM0Y8": "Amazon.com.mx",
    "A1PA6795UKMFR9": "Amazon.de",
    "A1F83G8C2ARO7P": "Amazon.co.uk",
    "A13V1IB3VIYZZH": "Amazon.fr",
    "APJ6JRA9NG5V4": "Amazon.it",
    "A1RKKUPIHCS9HS": "Amazon.es",
    "A1805IZSGTT6HS": "Amazon.nl",
    "A1VC38T7YXB528": "Amazon.co.jp",
}

Json = dict[str, Any]


def iso(when: datetime) -> str:
    """ISO 8601 UTC with milliseconds, as v2026-01-01 writes timestamps."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _amount(value: Decimal, currency: str) -> str:
    places = 0 if currency == "JPY" else 2
    return f"{value:.{places}f}"


def money(value: Decimal, currency: str) -> Json:
    return {"amount": _amount(value, currency), "currencyCode": currency}


def _item_proceeds(item: EmulatorItem, currency: str, inclusive: bool) -> tuple[Json, Decimal]:
    breakdowns: list[Json] = [
        {"type": "ITEM", "subtotal": money(item.item_price, currency)},
    ]
    if item.shipping_price or item.shipping_tax:
        breakdowns.append({"type": "SHIPPING", "subtotal": money(item.shipping_price, currency)})
    tax_parts = [("ITEM", item.item_tax), ("SHIPPING", item.shipping_tax),
                 ("DISCOUNT", -(item.promotion_discount_tax + item.shipping_discount_tax))]
    tax_total = sum((v for _, v in tax_parts), ZERO)
    if any(v for _, v in tax_parts):
        breakdowns.append({
            "type": "TAX", "subtotal": money(tax_total, currency),
            "detailedBreakdowns": [{"subtype": s, "value": money(v, currency)}
                                   for s, v in tax_parts if v],
        })
    discount_parts = [("ITEM", -item.promotion_discount), ("SHIPPING", -item.shipping_discount)]
    discount_total = sum((v for _, v in discount_parts), ZERO)
    if discount_total:
        breakdowns.append({
            "type": "DISCOUNT", "subtotal": money(discount_total, currency),
            "detailedBreakdowns": [{"subtype": s, "value": money(v, currency)}
                                   for s, v in discount_parts if v],
        })
    total = item.item_price + item.shipping_price + discount_total
    if not inclusive:
        total += tax_total
    return {"proceedsTotal": money(total, currency), "breakdowns": breakdowns}, total


def render_order(order: EmulatorOrder, included: Collection[str]) -> Json:
    cur = order.currency
    doc: Json = {
        "orderId": order.amazon_order_id,
        "createdTime": iso(order.created_time),
        "lastUpdatedTime": iso(order.last_updated_time),
        "salesChannel": {
            "channelName": "AMAZON",
            "marketplaceId": order.marketplace_id,
        },
    }
    name = MARKETPLACE_NAMES.get(order.marketplace_id)
    if name:
        doc["salesChannel"]["marketplaceName"] = name
    if order.seller_order_id:
        doc["orderAliases"] = [{"aliasId": order.seller_order_id,
                                "aliasType": "SELLER_ORDER_ID"}]
    if "BUYER" in included:
        doc["buyer"] = {"buyerName": "Emulated Buyer",
                        "buyerEmail": f"{order.amazon_order_id}@marketplace.amazon.invalid"}
    if "FULFILLMENT" in included:
        doc["fulfillment"] = {
            "fulfillmentStatus": FULFILLMENT_STATUS[order.status],
            "fulfilledBy": "AMAZON" if order.fulfillment_channel == "AFN" else "MERCHANT",
            "fulfillmentServiceLevel": "STANDARD",
        }
    items: list[Json] = []
    grand_total = ZERO
    for item in order.items:
        unit = (item.item_price / item.quantity_ordered if item.quantity_ordered else ZERO)
        product: Json = {"sellerSku": item.seller_sku,
                         "price": {"unitPrice": money(unit, cur)}}
        if item.asin:
            product["asin"] = item.asin
        if item.title:
            product["title"] = item.title
        rendered: Json = {
            "orderItemId": item.order_item_id,
            "quantityOrdered": item.quantity_ordered,
            "product": product,
        }
        proceeds, total = _item_proceeds(item, cur, order.prices_include_tax)
        grand_total += total
        if "PROCEEDS" in included:
            rendered["proceeds"] = proceeds
        if "PROMOTION" in included and item.promotion_discount:
            rendered["promotion"] = {"breakdowns": [{"promotionId": "EMULATOR-PROMOTION"}]}
        if "CANCELLATION" in included:
            cancellation: Json = {}
            if item.buyer_cancel_requested:
                request: Json = {"requester": "BUYER"}
                if item.buyer_cancel_reason:
                    request["cancelReason"] = item.buyer_cancel_reason
                cancellation["cancellationRequest"] = request
            if item.quantity_canceled and item.cancelled_by:
                execution: Json = {"cancelledBy": item.cancelled_by}
                if item.cancel_reason:
                    execution["cancelReason"] = item.cancel_reason
                cancellation["cancellationExecution"] = execution
            if cancellation:
                rendered["cancellation"] = cancellation
        if "FULFILLMENT" in included:
            rendered["fulfillment"] = {
                "quantityFulfilled": item.quantity_shipped,
                "quantityUnfulfilled": item.quantity_unshipped,
            }
        items.append(rendered)
    doc["orderItems"] = items
    if "PROCEEDS" in included:
        doc["proceeds"] = _order_proceeds(order, grand_total)
    if "PACKAGES" in included and order.packages:
        doc["packages"] = [
            {
                "packageReferenceId": p.package_reference_id,
                "createdTime": iso(p.created_time),
                "packageStatus": {"status": "SHIPPED"},
                "carrier": p.carrier_name or p.carrier_code,
                "shipTime": p.ship_date,
                **({"shippingService": p.shipping_method} if p.shipping_method else {}),
                "trackingNumber": p.tracking_number,
                "packageItems": [{"orderItemId": k, "quantity": v} for k, v in p.items.items()],
            }
            for p in order.packages.values()
        ]
    return doc


def _order_proceeds(order: EmulatorOrder, grand_total: Decimal) -> Json:
    cur = order.currency
    items = order.items
    sums = {
        "ITEM": sum((i.item_price for i in items), ZERO),
        "SHIPPING": sum((i.shipping_price for i in items), ZERO),
        "TAX": sum((i.item_tax + i.shipping_tax - i.promotion_discount_tax
                    - i.shipping_discount_tax for i in items), ZERO),
        "DISCOUNT": -sum((i.promotion_discount + i.shipping_discount for i in items), ZERO),
    }
    return {
        "grandTotal": money(grand_total, cur),
        "breakdowns": [{"type": k, "subtotal": money(v, cur)} for k, v in sums.items()
                       if v or k == "ITEM"],
    }
