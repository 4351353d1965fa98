"""Orders API v2026-01-01 <-> AmazonOrderState: mapping, round trips, model validity."""

from __future__ import annotations

import json
import os
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sidecar.amazon.client import SpApiClient
from sidecar.amazon.orders import (
    STATUS_FROM_V2026,
    OrderMappingError,
    order_doc_from_state,
    order_state_from_api,
)
from sidecar.domain import AmazonOrderItem, AmazonOrderState, AmazonOrderStatus, FulfillmentChannel
from tests.amazon.conftest import ClientFactory
from tests.amazon.fakes import FakeAmazon

SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
MODELS = SHARED / "reference" / "amazon" / "models"
FETCHED = datetime(2026, 3, 2, 12, 0)
D = Decimal


def _model(name: str) -> dict[str, Any]:
    path = MODELS / name
    if not path.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} missing (CI=true: required)")
        pytest.skip(f"{path} missing")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


# ------------------------------------------------------------ a tiny Swagger 2 validator


def validate(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str = "$",
             ) -> list[str]:
    if "$ref" in schema:
        return validate(value, defs[schema["$ref"].rsplit("/", 1)[1]], defs, where)
    errors: list[str] = []
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if not isinstance(value, dict):
            return [f"{where}: expected object"]
        errors += [f"{where}: missing {r}" for r in schema.get("required", ()) if r not in value]
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                errors += validate(sub, props[key], defs, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: unexpected {key}")
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected array"]
        for i, item in enumerate(value):
            errors += validate(item, schema.get("items", {}), defs, f"{where}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected string, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} not in enum")
        if schema.get("format") == "date-time":
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected integer")
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(f"{where}: expected boolean")
    return errors


def assert_model_valid(order_doc: dict[str, Any]) -> None:
    model = _model("orders_2026-01-01.json")
    defs = model["definitions"]
    errors = validate({"order": order_doc}, defs["GetOrderResponse"], defs)
    assert errors == []


# ------------------------------------------------------------ fixtures: domain states


def _item(item_id: str, **kw: Any) -> AmazonOrderItem:
    base: dict[str, Any] = dict(
        order_item_id=item_id, seller_sku=f"SKU-{item_id[-2:]}", quantity_ordered=2,
        quantity_shipped=0, item_price=D("0"), item_tax=D("0"), shipping_price=D("0"),
        shipping_tax=D("0"))
    base.update(kw)
    return AmazonOrderItem(**base)


def _state(**kw: Any) -> AmazonOrderState:
    base: dict[str, Any] = dict(
        amazon_order_id="302-1234567-1234567", account_id="acct-eu",
        marketplace_id="A1PA6795UKMFR9", status=AmazonOrderStatus.SHIPPED,
        fulfillment_channel=FulfillmentChannel.MFN, currency="EUR",
        last_updated=datetime(2026, 3, 1, 9, 30, 15, 123000), fetched_at=FETCHED,
        items=(), raw_status="SHIPPED", prices_include_tax=True)
    base.update(kw)
    return AmazonOrderState(**base)


EUR_ORDER = _state(items=(
    _item("12345678901201", quantity_ordered=2, quantity_shipped=2, item_price=D("59.98"),
          item_tax=D("9.58"), shipping_price=D("4.90"), shipping_tax=D("0.78"),
          promotion_discount=D("5.00"), promotion_discount_tax=D("0.67"),
          shipping_discount=D("1.00"), shipping_discount_tax=D("0.13")),
    _item("12345678901202", quantity_ordered=1, quantity_shipped=0, quantity_canceled=1,
          item_price=D("19.99"), item_tax=D("3.19")),
))

JPY_ORDER = _state(
    amazon_order_id="503-1234567-7654321", marketplace_id="A1VC38T7YXB528", currency="JPY",
    status=AmazonOrderStatus.PARTIALLY_SHIPPED, raw_status="PARTIALLY_SHIPPED",
    items=(
        _item("25012345678901", quantity_ordered=3, quantity_shipped=1, item_price=D("5940"),
              item_tax=D("540"), shipping_price=D("550"), shipping_tax=D("50")),
        _item("25012345678902", quantity_ordered=1, item_price=D("1980"), item_tax=D("180")),
    ))

FBA_ORDER = _state(
    amazon_order_id="028-1111111-2222222", fulfillment_channel=FulfillmentChannel.AFN,
    marketplace_id="A1F83G8C2ARO7P", currency="GBP", prices_include_tax=False,
    items=(_item("02812345678901", quantity_ordered=1, quantity_shipped=1,
                 item_price=D("34.99"), item_tax=D("7.00")),))

BUYER_CANCEL_ORDER = _state(
    amazon_order_id="171-9876543-2109876", status=AmazonOrderStatus.UNSHIPPED,
    raw_status="UNSHIPPED", marketplace_id="ATVPDKIKX0DER", currency="USD",
    prices_include_tax=None,
    items=(
        _item("17112345678901", item_price=D("49.98"), item_tax=D("4.50"),
              buyer_cancel_requested=True, buyer_cancel_reason="Changed mind about purchase"),
        _item("17112345678902", quantity_ordered=1, item_price=D("10.00"),
              buyer_cancel_requested=True),
    ))


@pytest.mark.parametrize("state", [EUR_ORDER, JPY_ORDER, FBA_ORDER, BUYER_CANCEL_ORDER],
                         ids=["eur", "jpy", "fba", "buyer-cancel"])
def test_round_trip(state: AmazonOrderState) -> None:
    doc = order_doc_from_state(state)
    assert_model_valid(doc)
    # through JSON as the emulator serves it, parsed as the client parses it
    wire = json.loads(json.dumps({"order": doc}), parse_float=Decimal)
    back = order_state_from_api(wire, state.account_id, FETCHED)
    assert back == state


def test_round_trip_details() -> None:
    doc = order_doc_from_state(EUR_ORDER)
    first = doc["orderItems"][0]
    by_type = {b["type"]: b for b in first["proceeds"]["breakdowns"]}
    assert by_type["ITEM"]["subtotal"] == {"amount": "59.98", "currencyCode": "EUR"}
    assert by_type["DISCOUNT"]["subtotal"]["amount"] == "-6.00"
    assert {d["subtype"]: d["value"]["amount"] for d in by_type["TAX"]["detailedBreakdowns"]} \
        == {"ITEM": "9.58", "SHIPPING": "0.78", "DISCOUNT": "-0.80"}
    # tax-inclusive: the total is the prices minus discounts, VAT not added again
    assert first["proceeds"]["proceedsTotal"]["amount"] == "58.88"
    assert first["fulfillment"] == {"quantityFulfilled": 2, "quantityUnfulfilled": 0}
    assert doc["lastUpdatedTime"] == "2026-03-01T09:30:15.123Z"
    assert doc["fulfillment"] == {"fulfillmentStatus": "SHIPPED", "fulfilledBy": "MERCHANT"}
    jpy = order_doc_from_state(JPY_ORDER)
    assert jpy["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"]["amount"] == "5940"
    assert jpy["proceeds"]["grandTotal"] == {"amount": "8470", "currencyCode": "JPY"}
    assert order_doc_from_state(FBA_ORDER)["fulfillment"]["fulfilledBy"] == "AMAZON"


def test_buyer_cancel_request_fields() -> None:
    state = order_state_from_api(order_doc_from_state(BUYER_CANCEL_ORDER), "acct", FETCHED)
    assert state.buyer_cancel_requested
    assert [(i.buyer_cancel_requested, i.buyer_cancel_reason) for i in state.items] == [
        (True, "Changed mind about purchase"), (True, None)]


def test_all_statuses_round_trip() -> None:
    for raw, status in STATUS_FROM_V2026.items():
        state = _state(status=status, raw_status=raw,
                       items=(_item("12345678901201", quantity_shipped=0),))
        back = order_state_from_api(order_doc_from_state(state), "acct-eu", FETCHED)
        assert (back.status, back.raw_status) == (status, raw)
    assert STATUS_FROM_V2026["CANCELLED"] is AmazonOrderStatus.CANCELED


def test_status_mapping_matches_amazons_migration_data() -> None:
    data = _model("orders-api-migration-data.samples.json")
    mapping = data["statusMappings"]["fulfillmentStatus"]
    assert {v: AmazonOrderStatus(k) for k, v in mapping.items()} == dict(STATUS_FROM_V2026)
    assert data["statusMappings"]["fulfillmentChannel"] == {"MFN": "MERCHANT", "AFN": "AMAZON"}


def test_unknown_status_is_none_with_raw_kept() -> None:
    doc = order_doc_from_state(EUR_ORDER)
    doc["fulfillment"]["fulfillmentStatus"] = "ON_THE_MOON"
    state = order_state_from_api(doc, "acct-eu", FETCHED)
    assert state.status is None and state.raw_status == "ON_THE_MOON"
    # and it can be served again as-is
    assert order_doc_from_state(state)["fulfillment"]["fulfillmentStatus"] == "ON_THE_MOON"


def test_cancelled_order_without_unfulfilled_counts() -> None:
    doc = order_doc_from_state(_state(status=AmazonOrderStatus.CANCELED, raw_status="CANCELLED",
                                      items=(_item("12345678901201", quantity_canceled=2),)))
    del doc["orderItems"][0]["fulfillment"]
    state = order_state_from_api(doc, "acct-eu", FETCHED)
    assert state.items[0].quantity_canceled == 2 and state.items[0].quantity_shipped == 0


def test_money_never_float() -> None:
    doc = order_doc_from_state(EUR_ORDER)
    doc["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"]["amount"] = 59.98
    with pytest.raises(OrderMappingError, match="parse_float=Decimal"):
        order_state_from_api(doc, "acct-eu", FETCHED)
    doc["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"]["amount"] = D("59.98")
    assert order_state_from_api(doc, "acct-eu", FETCHED).items[0].item_price == D("59.98")
    doc["orderItems"][0]["proceeds"]["breakdowns"][0]["subtotal"]["amount"] = "5.998e1"
    with pytest.raises(OrderMappingError):
        order_state_from_api(doc, "acct-eu", FETCHED)


def test_mixed_currencies_rejected() -> None:
    doc = order_doc_from_state(EUR_ORDER)
    doc["orderItems"][1]["proceeds"]["breakdowns"][0]["subtotal"]["currencyCode"] = "GBP"
    with pytest.raises(OrderMappingError, match="currency GBP"):
        order_state_from_api(doc, "acct-eu", FETCHED)


def test_missing_fulfillment_or_channel_rejected() -> None:
    doc = order_doc_from_state(EUR_ORDER)
    doc["fulfillment"]["fulfilledBy"] = "SOMEONE"
    with pytest.raises(OrderMappingError, match="fulfilledBy"):
        order_state_from_api(doc, "acct-eu", FETCHED)
    del doc["fulfillment"]
    with pytest.raises(OrderMappingError, match="includedData=FULFILLMENT"):
        order_state_from_api(doc, "acct-eu", FETCHED)


def _sandbox_orders() -> list[dict[str, Any]]:
    model = _model("orders_2026-01-01.json")
    out: list[dict[str, Any]] = []
    for path in ("/orders/2026-01-01/orders", "/orders/2026-01-01/orders/{orderId}"):
        responses = model["paths"][path]["get"]["responses"]["200"]
        out += list(responses["examples"]["application/json"].get("orders", []))
        if "order" in responses["examples"]["application/json"]:
            out.append(responses["examples"]["application/json"]["order"])
        for case in responses["x-amzn-api-sandbox"]["static"]:
            body = case["response"]
            out += body.get("orders", [body.get("order")] if body.get("order") else [])
    return out


def test_amazons_own_examples_map() -> None:
    orders = _sandbox_orders()
    assert len(orders) >= 6
    for doc in orders:
        state = order_state_from_api(doc, "acct", FETCHED)
        assert state.status is not None
        assert all(isinstance(i.item_price, Decimal) for i in state.items)
    uk = next(o for o in orders if o["orderId"] == "202-1234567-8901234")
    state = order_state_from_api(uk, "acct", FETCHED)
    item = state.items[0]
    assert (item.item_price, item.item_tax, item.shipping_price, item.shipping_tax) == (
        D("89.97"), D("3.00"), D("10.00"), D("1.00"))
    assert item.quantity_shipped == 3 and state.currency == "GBP"
    assert state.prices_include_tax is False  # proceedsTotal = ITEM + SHIPPING + TAX there
    us = next(o for o in orders if o["orderId"] == "123-4567890-1234567")
    us_state = order_state_from_api(us, "acct", FETCHED)
    assert us_state.items[0].buyer_cancel_requested
    assert us_state.items[0].buyer_cancel_reason == "Changed mind about purchase"
    jp = next(o for o in orders if o["orderId"] == "250-1234567-8901234")
    jp_state = order_state_from_api(jp, "acct", FETCHED)
    assert jp_state.fulfillment_channel is FulfillmentChannel.AFN
    assert jp_state.currency == "JPY"
    assert [i.item_price for i in jp_state.items] == [D("5980"), D("13960")]


def test_client_get_order_to_state(fake: FakeAmazon, make_client: ClientFactory) -> None:
    fake.orders[JPY_ORDER.amazon_order_id] = order_doc_from_state(JPY_ORDER)
    client: SpApiClient = make_client()
    doc = client.get_order(JPY_ORDER.amazon_order_id)
    assert order_state_from_api(doc, JPY_ORDER.account_id, FETCHED) == JPY_ORDER


def test_discount_tax_is_split_between_item_and_shipping_promotions() -> None:
    """v2026 has one DISCOUNT tax subtype for item and shipping promotions (issue 8, item 3):
    split by each discount times its charge's tax rate, item taking the remainder."""
    state = _state(items=(_item("12345678901201", item_price=D("10.00"), item_tax=D("1.60"),
                                promotion_discount=D("1.00"), promotion_discount_tax=D("0.16"),
                                shipping_price=D("5.00"), shipping_tax=D("0.80"),
                                shipping_discount=D("5.00"),
                                shipping_discount_tax=D("0.80")),))
    back = order_state_from_api(order_doc_from_state(state), "acct-eu", FETCHED)
    assert back == state


def test_free_shipping_promotion_tax_belongs_to_shipping() -> None:
    state = _state(items=(_item("12345678901201", item_price=D("10.00"), item_tax=D("1.60"),
                                shipping_price=D("5.00"), shipping_tax=D("0.80"),
                                shipping_discount=D("5.00"), shipping_discount_tax=D("0.80")),))
    back = order_state_from_api(order_doc_from_state(state), "acct-eu", FETCHED)
    assert (back.items[0].promotion_discount_tax, back.items[0].shipping_discount_tax) == (
        D(0), D("0.80"))


def test_gift_wrap_is_mapped_both_ways() -> None:
    state = _state(items=(_item("12345678901201", item_price=D("10.00"), item_tax=D("1.60"),
                                gift_wrap_price=D("3.00"), gift_wrap_tax=D("0.48")),))
    assert order_state_from_api(order_doc_from_state(state), "acct-eu", FETCHED) == state


def test_missing_quantity_fulfilled_is_never_read_as_unshipped() -> None:
    """issue 8, item 10: a Shipped order shipped its units even when Amazon omits the field;
    on a PartiallyShipped order the units cannot be told apart: the read fails (retried)."""
    state = _state(items=(_item("12345678901201", item_price=D("10.00"), item_tax=D("1.60"),
                                quantity_shipped=2),))
    doc = order_doc_from_state(state)
    del doc["orderItems"][0]["fulfillment"]["quantityFulfilled"]
    doc["orderItems"][0]["fulfillment"]["quantityUnfulfilled"] = 0
    assert order_state_from_api(doc, "acct-eu", FETCHED).items[0].quantity_shipped == 2
    doc["fulfillment"]["fulfillmentStatus"] = "PARTIALLY_SHIPPED"
    with pytest.raises(OrderMappingError, match="no quantityFulfilled"):
        order_state_from_api(doc, "acct-eu", FETCHED)



def test_item_cancellations_are_read_verbatim() -> None:
    """Issue 9: cancellationRequest and cancellationExecution as Amazon sent them, unknown
    values kept, never guessed."""
    from sidecar.amazon.orders import ItemCancellation, item_cancellations

    doc = {"order": {"orderId": "111-0000001-0000001", "orderItems": [
        {"orderItemId": "11111111111111", "quantityOrdered": 2,
         "product": {"sellerSku": "A"}, "fulfillment": {"quantityUnfulfilled": 1},
         "cancellation": {"cancellationExecution": {"cancelledBy": "AMAZON",
                                                    "cancelReason": "NoInventory"}}},
        {"orderItemId": "22222222222222", "quantityOrdered": 1, "product": {"sellerSku": "B"},
         "cancellation": {"cancellationRequest": {"requester": "BUYER",
                                                  "cancelReason": "Ordered by mistake"}}},
        {"orderItemId": "33333333333333", "quantityOrdered": 1,
         "cancellation": {"cancellationExecution": {"cancelledBy": "MARTIAN"}}},
        {"orderItemId": "44444444444444", "quantityOrdered": 1},
    ]}}
    assert item_cancellations(doc) == [
        ItemCancellation("11111111111111", "A", 2, 1, cancelled_by="AMAZON",
                         cancel_reason="NoInventory"),
        ItemCancellation("22222222222222", "B", 1, None, requester="BUYER",
                         request_reason="Ordered by mistake"),
        ItemCancellation("33333333333333", "", 1, None, cancelled_by="MARTIAN"),
    ]
