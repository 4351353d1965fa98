"""Orders API v2026-01-01 shapes (checked against Amazon's model) and confirmShipment."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sidecar.emulator import EmulatorState, ManualClock, SeedItem
from sidecar.emulator.model import EmulatorOrder, OrderStatus
from tests.conftest import SHARED, missing
from tests.emulator.conftest import US_ITEM_A, US_ITEM_B, US_ORDER
from tests.emulator.support import (
    ADJUSTMENT,
    Api,
    adjusted_item,
    adjustment_feed,
    adjustment_message,
)

ALL_INCLUDED = "BUYER,PROCEEDS,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES"


@pytest.fixture(scope="module")
def orders_model() -> dict[str, Any]:
    path = Path(SHARED) / "reference" / "amazon" / "models" / "orders_2026-01-01.json"
    if not path.is_file():
        missing(f"Orders model not found at {path}")
    model: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return model


def check(instance: Any, schema: dict[str, Any], model: dict[str, Any], where: str = "$") -> None:
    """Required fields, types and enums of a swagger 2.0 schema (enough for these shapes)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        check(instance, model["definitions"][name], model, where)
        return
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        assert isinstance(instance, dict), f"{where}: expected an object"
        for name in schema.get("required", []):
            assert name in instance, f"{where}: required {name!r} missing"
        properties = schema.get("properties", {})
        for name, value in instance.items():
            assert name in properties, f"{where}: {name!r} is not in the model"
            check(value, properties[name], model, f"{where}.{name}")
    elif kind == "array":
        assert isinstance(instance, list), f"{where}: expected an array"
        for i, value in enumerate(instance):
            check(value, schema["items"], model, f"{where}[{i}]")
    elif kind == "string":
        assert isinstance(instance, str), f"{where}: expected a string"
        if "enum" in schema:
            assert instance in schema["enum"], f"{where}: {instance!r} not in enum"
    elif kind == "integer":
        assert isinstance(instance, int) and not isinstance(instance, bool), where
    elif kind == "boolean":
        assert isinstance(instance, bool), where


def test_get_order_matches_the_model(api: Api, state: EmulatorState, orders_model: dict[str, Any],
                                     shipped_order: EmulatorOrder) -> None:
    state.request_buyer_cancellation(US_ORDER, "Found it cheaper", [US_ITEM_B])
    response = api.call("GET", f"/orders/2026-01-01/orders/{US_ORDER}",
                        params={"includedData": ALL_INCLUDED})
    assert response.status_code == 200
    assert response.headers["x-amzn-RateLimit-Limit"] == "0.5"
    body = response.json()
    check(body, {"$ref": "#/definitions/GetOrderResponse"}, orders_model)
    order = body["order"]
    assert order["orderId"] == US_ORDER
    assert order["salesChannel"] == {"channelName": "AMAZON", "marketplaceId": "ATVPDKIKX0DER",
                                     "marketplaceName": "Amazon.com"}
    assert order["fulfillment"]["fulfillmentStatus"] == "PARTIALLY_SHIPPED"
    assert order["fulfillment"]["fulfilledBy"] == "MERCHANT"
    item_a, item_b = order["orderItems"]
    assert item_a["orderItemId"] == US_ITEM_A
    assert item_a["product"]["sellerSku"] == "SKU-A"
    assert item_a["product"]["price"]["unitPrice"] == {"amount": "20.00", "currencyCode": "USD"}
    assert item_a["fulfillment"] == {"quantityFulfilled": 2, "quantityUnfulfilled": 0}
    breakdowns = {b["type"]: b for b in item_a["proceeds"]["breakdowns"]}
    assert breakdowns["ITEM"]["subtotal"]["amount"] == "40.00"
    assert breakdowns["SHIPPING"]["subtotal"]["amount"] == "6.00"
    assert {d["subtype"]: d["value"]["amount"]
            for d in breakdowns["TAX"]["detailedBreakdowns"]} == {"ITEM": "3.20",
                                                                 "SHIPPING": "0.48"}
    assert item_a["proceeds"]["proceedsTotal"]["amount"] == "49.68"
    assert "cancellation" not in item_a
    assert item_b["cancellation"] == {"cancellationRequest": {
        "requester": "BUYER", "cancelReason": "Found it cheaper"}}
    assert order["proceeds"]["grandTotal"]["amount"] == "65.88"


def test_included_data_controls_the_parts(api: Api, shipped_order: EmulatorOrder) -> None:
    bare = api.call("GET", f"/orders/2026-01-01/orders/{US_ORDER}").json()["order"]
    assert set(bare) == {"orderId", "createdTime", "lastUpdatedTime", "salesChannel",
                         "orderItems"}
    assert set(bare["orderItems"][0]) == {"orderItemId", "quantityOrdered", "product"}
    bad = api.call("GET", f"/orders/2026-01-01/orders/{US_ORDER}",
                   params={"includedData": "EVERYTHING"})
    assert bad.status_code == 400
    assert "x-amzn-RateLimit-Limit" not in bad.headers
    absent = api.call("GET", "/orders/2026-01-01/orders/111-0000000-0000000")
    assert absent.status_code == 404
    assert absent.json()["errors"][0]["code"] == "NotFound"


def test_search_orders_pages_and_filters(api: Api, state: EmulatorState, clock: ManualClock,
                                         orders_model: dict[str, Any]) -> None:
    start = state.now()
    for _ in range(3):
        clock.advance(60)
        state.seed_order(items=[SeedItem()])
    clock.advance(60)
    state.seed_order(status=OrderStatus.PENDING, items=[SeedItem()])
    params = {"lastUpdatedAfter": (start + timedelta(seconds=1)).isoformat(),
              "marketplaceIds": "ATVPDKIKX0DER", "fulfillmentStatuses": "UNSHIPPED",
              "maxResultsPerPage": "2", "includedData": "FULFILLMENT"}
    first = api.call("GET", "/orders/2026-01-01/orders", params=params)
    assert first.status_code == 200, first.text
    body = first.json()
    check(body, {"$ref": "#/definitions/SearchOrdersResponse"}, orders_model)
    assert len(body["orders"]) == 2
    token = body["pagination"]["nextToken"]
    second = api.call("GET", "/orders/2026-01-01/orders",
                      params={"paginationToken": token, "includedData": "FULFILLMENT"}).json()
    assert len(second["orders"]) == 1
    assert "pagination" not in second
    seen = [o["orderId"] for o in body["orders"] + second["orders"]]
    assert len(set(seen)) == 3
    assert all(o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
               for o in body["orders"] + second["orders"])
    created = api.call("GET", "/orders/2026-01-01/orders",
                       params={"createdAfter": start.isoformat()}).json()
    assert len(created["orders"]) == 4
    assert "createdBefore" in created


@pytest.mark.parametrize("params", [
    {},
    {"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedAfter": "2026-01-01T00:00:00Z"},
    {"createdAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2026-01-02T00:00:00Z"},
    {"lastUpdatedAfter": "yesterday"},
    {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "maxResultsPerPage": "101"},
    {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "fulfillmentStatuses": "Unshipped,NOPE"},
])
def test_search_orders_rejects_bad_queries(api: Api, params: dict[str, str]) -> None:
    response = api.call("GET", "/orders/2026-01-01/orders", params=params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "InvalidInput"


def _package(reference: str, items: dict[str, int]) -> dict[str, Any]:
    return {"marketplaceId": "ATVPDKIKX0DER", "packageDetail": {
        "packageReferenceId": reference, "carrierCode": "UPS", "trackingNumber": "1Z999",
        "shipDate": "2026-03-02T12:00:00Z",
        "orderItems": [{"orderItemId": k, "quantity": v} for k, v in items.items()]}}


def test_confirm_shipment(api: Api, state: EmulatorState, orders_model: dict[str, Any]) -> None:
    order = state.seed_order(items=[SeedItem(quantity_ordered=2), SeedItem(seller_sku="B")])
    oid = order.amazon_order_id
    first, second = (i.order_item_id for i in order.items)
    path = f"/orders/v0/orders/{oid}/shipmentConfirmation"
    response = api.call("POST", path, json=_package("1", {first: 1}))
    assert response.status_code == 204, response.text
    assert response.headers["x-amzn-RateLimit-Limit"] == "2"
    assert state.order(oid).status == OrderStatus.PARTIALLY_SHIPPED
    # the same packageReferenceId edits the package instead of adding one
    assert api.call("POST", path, json=_package("1", {first: 2})).status_code == 204
    after = state.order(oid)
    assert [i.quantity_shipped for i in after.items] == [2, 0]
    assert list(after.packages) == ["1"]
    assert after.status == OrderStatus.PARTIALLY_SHIPPED
    too_many = api.call("POST", path, json=_package("2", {first: 1}))
    assert too_many.status_code == 400
    assert api.call("POST", path, json=_package("2", {second: 1})).status_code == 204
    assert state.order(oid).status == OrderStatus.SHIPPED
    assert [r.edit for r in state.shipments(oid)] == [False, True, False]
    shown = api.call("GET", f"/orders/2026-01-01/orders/{oid}",
                     params={"includedData": "PACKAGES"}).json()
    check(shown, {"$ref": "#/definitions/GetOrderResponse"}, orders_model)
    assert [p["packageReferenceId"] for p in shown["order"]["packages"]] == ["1", "2"]
    # shipped units can now be refunded
    feed = api.submit(ADJUSTMENT, adjustment_feed(adjustment_message(1, oid, [adjusted_item(
        first, {"Principal": "10.00"}, quantity=1)])))
    assert api.report(feed).successful == 1


@pytest.mark.parametrize(("body", "status"), [
    ({"marketplaceId": "ATVPDKIKX0DER"}, 400),
    ("not json", 400),
    ({"marketplaceId": "A1PA6795UKMFR9", "packageDetail": _package("1", {US_ITEM_B: 1})[
        "packageDetail"]}, 400),
    (_package("0", {US_ITEM_B: 1}), 400),
    (_package("1", {"99999999999999": 1}), 400),
    (_package("1", {US_ITEM_B: 0}), 400),
])
def test_confirm_shipment_validation(api: Api, shipped_order: EmulatorOrder, body: Any,
                                     status: int) -> None:
    path = f"/orders/v0/orders/{US_ORDER}/shipmentConfirmation"
    response = api.call("POST", path, json=body)
    assert response.status_code == status, response.text
    assert _has_errors(response)


def _has_errors(response: Any) -> bool:
    return bool(response.json()["errors"])


def test_confirm_shipment_of_cancelled_or_unknown_order(api: Api, state: EmulatorState) -> None:
    order = state.seed_order(status=OrderStatus.CANCELED, items=[SeedItem()])
    item = order.items[0].order_item_id
    path = f"/orders/v0/orders/{order.amazon_order_id}/shipmentConfirmation"
    assert api.call("POST", path, json=_package("1", {item: 1})).status_code == 400
    unknown = "/orders/v0/orders/111-0000000-0000000/shipmentConfirmation"
    assert api.call("POST", unknown, json=_package("1", {item: 1})).status_code == 404


def test_order_state_round_trip(state: EmulatorState, shipped_order: EmulatorOrder) -> None:
    domain = state.order_state(US_ORDER)
    assert domain.status.value == "PartiallyShipped"
    assert domain.items[0].item_price == Decimal("40.00")
    state.reset()
    state.seed_from_domain(domain)
    assert state.order(US_ORDER).items[1].order_item_id == US_ITEM_B


def test_confirm_shipment_refuses_shipped_and_cancelled_units(
    api: Api, state: EmulatorState
) -> None:
    """Amazon answers 400 when shipped units are confirmed again in a new package, or when
    cancelled units are confirmed at all (seen with a real store); the text says which."""
    order = state.seed_order(items=[SeedItem(quantity_ordered=3, quantity_shipped=1)])
    oid, item = order.amazon_order_id, order.items[0].order_item_id
    with state.lock:
        state.orders[oid].items[0].quantity_canceled = 1
    path = f"/orders/v0/orders/{oid}/shipmentConfirmation"
    refused = api.call("POST", path, json=_package("7", {item: 2}))
    assert refused.status_code == 400
    text = refused.json()["errors"][0]["message"]
    assert "1 are left to ship (1 already shipped, 1 cancelled)" in text
    assert api.call("POST", path, json=_package("7", {item: 1})).status_code == 204
    again = api.call("POST", path, json=_package("8", {item: 1}))
    assert again.status_code == 400
    assert "is Shipped; its shipment cannot be confirmed" in again.json()["errors"][0]["message"]
    # the same package again is an edit, not a second confirmation
    assert api.call("POST", path, json=_package("7", {item: 1})).status_code == 204
    assert [r.edit for r in state.shipments(oid)] == [False, True]


# ------------------------------------------------ issue 9: searchOrders for the order sync


def _search(api: Api, **params: str) -> Any:
    return api.call("GET", "/orders/2026-01-01/orders", params=params)


def test_last_updated_before_must_be_two_minutes_old(api: Api, state: EmulatorState) -> None:
    now = state.now()
    too_new = _search(api, lastUpdatedAfter=(now - timedelta(hours=1)).isoformat(),
                      lastUpdatedBefore=(now - timedelta(seconds=60)).isoformat())
    assert too_new.status_code == 400
    assert "two minutes" in too_new.json()["errors"][0]["message"]
    reversed_window = _search(api, lastUpdatedAfter=(now - timedelta(hours=1)).isoformat(),
                              lastUpdatedBefore=(now - timedelta(hours=2)).isoformat())
    assert reversed_window.status_code == 400
    ok = _search(api, lastUpdatedAfter=(now - timedelta(hours=1)).isoformat(),
                 lastUpdatedBefore=(now - timedelta(seconds=121)).isoformat())
    assert ok.status_code == 200
    assert ok.json()["lastUpdatedBefore"].startswith(
        (now - timedelta(seconds=121)).strftime("%Y-%m-%dT%H:%M:%S"))


def test_pages_are_fixed_by_the_first_request(api: Api, state: EmulatorState,
                                              clock: ManualClock) -> None:
    """An order updated between two page requests moves no other order: no skip, no repeat."""
    start = state.now()
    ids = []
    for _ in range(5):
        clock.advance(10)
        ids.append(state.seed_order(items=[SeedItem()]).amazon_order_id)
    clock.advance(300)
    query = {"lastUpdatedAfter": start.isoformat(),
             "lastUpdatedBefore": (state.now() - timedelta(minutes=3)).isoformat(),
             "maxResultsPerPage": "2", "includedData": "FULFILLMENT"}
    first = _search(api, **query).json()
    state.set_order_status(ids[0], OrderStatus.CANCELED)  # leaves the window
    seen = [o["orderId"] for o in first["orders"]]
    token = first["pagination"]["nextToken"]
    while token:
        page = _search(api, paginationToken=token, includedData="FULFILLMENT").json()
        seen += [o["orderId"] for o in page["orders"]]
        token = page.get("pagination", {}).get("nextToken")
    assert seen == ids


def test_amazon_cancels_units_and_orders(api: Api, state: EmulatorState,
                                         shipped_order: EmulatorOrder,
                                         orders_model: dict[str, Any]) -> None:
    state.cancel_units(US_ORDER, US_ITEM_B, 1, cancelled_by="AMAZON", reason="NoInventory")
    doc = api.call("GET", f"/orders/2026-01-01/orders/{US_ORDER}",
                   params={"includedData": "FULFILLMENT,CANCELLATION"}).json()
    check(doc, {"$ref": "#/definitions/GetOrderResponse"}, orders_model)
    item_b = next(i for i in doc["order"]["orderItems"] if i["orderItemId"] == US_ITEM_B)
    assert item_b["cancellation"]["cancellationExecution"] == {
        "cancelledBy": "AMAZON", "cancelReason": "NoInventory"}
    assert item_b["fulfillment"]["quantityUnfulfilled"] == 0
    assert doc["order"]["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    pending = state.seed_order(status=OrderStatus.PENDING, items=[SeedItem()])
    state.cancel_order(pending.amazon_order_id, cancelled_by="BUYER", reason="Changed mind")
    doc = api.call("GET", f"/orders/2026-01-01/orders/{pending.amazon_order_id}",
                   params={"includedData": "FULFILLMENT,CANCELLATION"}).json()
    assert doc["order"]["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    (item,) = doc["order"]["orderItems"]
    assert item["cancellation"]["cancellationExecution"]["cancelledBy"] == "BUYER"


def test_a_seller_with_two_marketplaces(api: Api, state: EmulatorState,
                                        clock: ManualClock) -> None:
    start = state.now()
    us = state.seed_order(items=[SeedItem()], marketplace_id="ATVPDKIKX0DER")
    ca = state.seed_order(items=[SeedItem()], marketplace_id="A2EUQ1WTGCTBG2", currency="CAD")
    clock.advance(600)
    for marketplace, order in (("ATVPDKIKX0DER", us), ("A2EUQ1WTGCTBG2", ca)):
        body = _search(api, lastUpdatedAfter=start.isoformat(), marketplaceIds=marketplace,
                       includedData="FULFILLMENT").json()
        assert [o["orderId"] for o in body["orders"]] == [order.amazon_order_id]
    both = _search(api, lastUpdatedAfter=start.isoformat(),
                   marketplaceIds="ATVPDKIKX0DER,A2EUQ1WTGCTBG2").json()
    assert len(both["orders"]) == 2
