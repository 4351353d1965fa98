"""Feeds API flow and Amazon's refund / cancellation rules, over real HTTP."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from lxml import etree

from sidecar.emulator import EmulatorConfig, EmulatorState, ManualClock, SeedItem
from sidecar.emulator.model import EmulatorOrder, FeedFaultKind, OrderStatus
from sidecar.emulator.processing import (
    AMOUNT_EXCEEDS_REMAINING,
    CURRENCY_MISMATCH,
    ITEM_NOT_CANCELLABLE,
    ITEM_NOT_FOUND,
    ORDER_ALREADY_CANCELED,
    ORDER_NOT_FOUND,
    QUANTITY_ALREADY_SHIPPED,
    QUANTITY_NOT_SHIPPED,
    XML_PARSE_ERROR,
    XML_SCHEMA_ERROR,
)
from sidecar.emulator.server import EmulatorServer
from tests.emulator.conftest import US_ITEM_A, US_ITEM_B, US_ORDER
from tests.emulator.support import (
    ACKNOWLEDGEMENT,
    ADJUSTMENT,
    DE,
    TIMEOUT,
    Api,
    acknowledgement_feed,
    adjusted_item,
    adjustment_feed,
    adjustment_message,
    cancel_message,
)

REFUND_ONE_A = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
    US_ITEM_A, {"Principal": "20.00", "Tax": "1.60"}, quantity=1)]))


def test_refund_flow_done_and_counted(api: Api, state: EmulatorState,
                                      shipped_order: EmulatorOrder) -> None:
    feed = api.submit(ADJUSTMENT, REFUND_ONE_A)
    assert feed["processingStatus"] == "DONE"
    assert feed["feedType"] == ADJUSTMENT
    assert {"feedId", "createdTime", "processingStartTime", "processingEndTime",
            "resultFeedDocumentId"} <= set(feed)
    report = api.report(feed)
    assert (report.processed, report.successful, report.with_error) == (1, 1, 0)
    assert report.results == []
    counter = state.refund_counter(US_ORDER, US_ITEM_A)
    assert counter.adjustments == 1
    assert counter.units_refunded == 1
    assert counter.components == {"Principal": Decimal("20.00"), "Tax": Decimal("1.60")}
    assert state.refund_counter(US_ORDER, US_ITEM_B).adjustments == 0


def test_same_message_again_is_a_second_refund(api: Api, state: EmulatorState,
                                               shipped_order: EmulatorOrder) -> None:
    api.submit(ADJUSTMENT, REFUND_ONE_A)
    second = api.submit(ADJUSTMENT, REFUND_ONE_A)  # Amazon does not de-duplicate
    assert api.report(second).successful == 1
    counter = state.refund_counter(US_ORDER, US_ITEM_A)
    assert counter.adjustments == 2
    assert counter.units_refunded == 2
    assert counter.amount("Principal") == Decimal("40.00")
    third = api.report(api.submit(ADJUSTMENT, REFUND_ONE_A))  # nothing left to refund
    assert third.with_error == 1
    assert set(third.codes()) >= {AMOUNT_EXCEEDS_REMAINING, QUANTITY_NOT_SHIPPED}
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 2


def test_report_validates_against_the_xsd(api: Api, shipped_order: EmulatorOrder,
                                          xsd_dir: Path) -> None:
    bad = adjustment_feed(adjustment_message(7, US_ORDER, [adjusted_item(
        US_ITEM_A, {"Principal": "999.00"})]))
    report = api.report(api.submit(ADJUSTMENT, bad))
    schema = etree.XMLSchema(etree.parse(str(xsd_dir / "amzn-envelope.xsd")))
    assert schema.validate(report.root), schema.error_log
    assert report.results[0]["order"] == US_ORDER
    assert report.results[0]["item"] == US_ITEM_A
    assert report.results[0]["result"] == "Error"


@pytest.mark.parametrize(("components", "quantity", "code"), [
    ({"Principal": "40.01"}, 0, AMOUNT_EXCEEDS_REMAINING),
    ({"Shipping": "6.01"}, 0, AMOUNT_EXCEEDS_REMAINING),
    ({"ShippingTax": "0.49"}, 0, AMOUNT_EXCEEDS_REMAINING),
    ({"GiftWrap": "1.00"}, 0, AMOUNT_EXCEEDS_REMAINING),
    ({"Principal": "10.00"}, 3, QUANTITY_NOT_SHIPPED),
])
def test_refund_above_what_remains_is_rejected(api: Api, state: EmulatorState,
                                               shipped_order: EmulatorOrder,
                                               components: dict[str, str], quantity: int,
                                               code: int) -> None:
    feed = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
        US_ITEM_A, components, quantity=quantity)]))
    report = api.report(api.submit(ADJUSTMENT, feed))
    assert (report.successful, report.with_error) == (0, 1)
    assert code in report.codes()
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 0


def test_partial_refunds_add_up_to_the_cap(api: Api, state: EmulatorState,
                                           shipped_order: EmulatorOrder) -> None:
    first = adjustment_message(1, US_ORDER, [adjusted_item(US_ITEM_A, {"Principal": "25.00"})])
    second = adjustment_message(2, US_ORDER, [adjusted_item(US_ITEM_A, {"Principal": "15.01"})])
    report = api.report(api.submit(ADJUSTMENT, adjustment_feed(first, second)))
    assert (report.processed, report.successful, report.with_error) == (2, 1, 1)
    assert report.results[0]["message_id"] == 2
    assert "remaining refundable amount 15.00 USD" in report.results[0]["description"]


def test_unknown_order_and_item(api: Api, state: EmulatorState,
                                shipped_order: EmulatorOrder) -> None:
    feed = adjustment_feed(
        adjustment_message(1, "111-0000000-0000000", [adjusted_item(US_ITEM_A,
                                                                    {"Principal": "1.00"})]),
        adjustment_message(2, US_ORDER, [adjusted_item("99999999999999",
                                                       {"Principal": "1.00"})]),
    )
    report = api.report(api.submit(ADJUSTMENT, feed))
    assert report.with_error == 2
    assert [(r["message_id"], r["code"]) for r in report.results] == [
        (1, ORDER_NOT_FOUND), (2, ITEM_NOT_FOUND)]
    assert report.results[1]["item"] == "99999999999999"


def test_order_in_another_marketplace_is_not_found(api: Api,
                                                   shipped_order: EmulatorOrder) -> None:
    report = api.report(api.submit(ADJUSTMENT, REFUND_ONE_A, marketplaces=[DE]))
    assert report.codes() == [ORDER_NOT_FOUND]


def test_refund_of_unshipped_units_is_rejected(api: Api, state: EmulatorState,
                                               shipped_order: EmulatorOrder) -> None:
    feed = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
        US_ITEM_B, {"Principal": "15.00"}, quantity=1)]))
    report = api.report(api.submit(ADJUSTMENT, feed))
    assert report.codes() == [QUANTITY_NOT_SHIPPED]
    assert "not shipped" in report.results[0]["description"]
    assert state.refund_counter(US_ORDER, US_ITEM_B).adjustments == 0


def test_quantity_cancelled_for_unshipped_units(api: Api, state: EmulatorState,
                                                shipped_order: EmulatorOrder) -> None:
    shipped = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
        US_ITEM_A, {"Principal": "20.00"}, quantity_cancelled=1, reason="NoInventory")]))
    assert api.report(api.submit(ADJUSTMENT, shipped)).codes() == [QUANTITY_ALREADY_SHIPPED]
    unshipped = adjustment_feed(adjustment_message(2, US_ORDER, [adjusted_item(
        US_ITEM_B, {"Principal": "15.00", "Tax": "1.20"}, quantity_cancelled=1,
        reason="NoInventory")]))
    assert api.report(api.submit(ADJUSTMENT, unshipped)).successful == 1
    counter = state.refund_counter(US_ORDER, US_ITEM_B)
    assert (counter.adjustments, counter.units_cancelled) == (1, 1)
    order = state.order(US_ORDER)
    assert order.status == OrderStatus.SHIPPED  # the only open unit is gone
    assert state.cancellations(US_ORDER)[0].source == "OrderAdjustment"


def test_currency_mismatch(api: Api, shipped_order: EmulatorOrder) -> None:
    feed = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
        US_ITEM_A, {"Principal": "1.00"}, currency="EUR")]))
    assert api.report(api.submit(ADJUSTMENT, feed)).codes() == [CURRENCY_MISMATCH]


def test_vat_inclusive_refunds_are_vat_exclusive(api: Api, state: EmulatorState) -> None:
    """Amazon's "Partial Refunds with VAT-Exclusive Prices": net amounts, VAT added by Amazon
    at the original rate, tax fields ignored."""
    state.seed_order("302-1234567-1234567", marketplace_id=DE, currency="EUR",
                     prices_include_tax=True, items=[
        SeedItem("12345678901234", "SHIRT", 1, Decimal("19.99"), Decimal("3.19"),
                 Decimal("4.90"), Decimal("0.78"), quantity_shipped=1)])

    def refund(components: dict[str, str], message_id: int) -> list[int]:
        feed = adjustment_feed(adjustment_message(message_id, "302-1234567-1234567", [
            adjusted_item("12345678901234", components, currency="EUR")]))
        return api.report(api.submit(ADJUSTMENT, feed, marketplaces=[DE])).codes()

    # the gross price as Principal would refund the VAT twice (19.99 + 3.19 VAT)
    assert refund({"Principal": "19.99"}, 1) == [AMOUNT_EXCEEDS_REMAINING]
    assert refund({"Principal": "16.80"}, 2) == []
    assert state.buyer_refunded("302-1234567-1234567", "12345678901234") == Decimal("19.99")
    assert refund({"Shipping": "4.12", "ShippingTax": "0.78"}, 3) == []  # tax ignored
    assert state.buyer_refunded("302-1234567-1234567", "12345678901234") == Decimal("24.89")
    assert refund({"Shipping": "0.01"}, 4) == [AMOUNT_EXCEEDS_REMAINING]


def test_cancel_buyer_canceled(api: Api, state: EmulatorState) -> None:
    order = state.seed_order(items=[SeedItem(buyer_cancel_requested=True,
                                             buyer_cancel_reason="Ordered twice")])
    item = order.items[0].order_item_id
    feed = api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(cancel_message(
        1, order.amazon_order_id, [(item, "BuyerCanceled", None)])))
    assert feed["processingStatus"] == "DONE"
    assert api.report(feed).successful == 1
    after = state.order(order.amazon_order_id)
    assert after.status == OrderStatus.CANCELED
    assert after.items[0].cancel_reason == "BuyerCanceled"
    assert after.seller_order_id == "100000001"
    [record] = state.cancellations(order.amazon_order_id)
    assert (record.reason, record.quantity, record.source) == (
        "BuyerCanceled", 1, "OrderAcknowledgement")
    shown = api.call("GET", f"/orders/2026-01-01/orders/{order.amazon_order_id}",
                     params={"includedData": "CANCELLATION,FULFILLMENT"}).json()["order"]
    assert shown["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert shown["orderItems"][0]["cancellation"] == {
        "cancellationRequest": {"requester": "BUYER", "cancelReason": "Ordered twice"},
        "cancellationExecution": {"cancelledBy": "MERCHANT", "cancelReason": "BuyerCanceled"},
    }
    again = api.report(api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(cancel_message(
        2, order.amazon_order_id, [(item, "BuyerCanceled", None)]))))
    assert again.codes() == [ORDER_ALREADY_CANCELED]


def test_item_level_cancel_no_inventory(api: Api, state: EmulatorState) -> None:
    order = state.seed_order(items=[SeedItem(quantity_ordered=2), SeedItem(seller_sku="B")])
    first, second = (i.order_item_id for i in order.items)
    oid = order.amazon_order_id
    report = api.report(api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(
        cancel_message(1, oid, [(first, "NoInventory", 1)]))))
    assert report.successful == 1
    assert state.order(oid).status == OrderStatus.UNSHIPPED
    assert state.order(oid).items[0].quantity_canceled == 1
    too_many = api.report(api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(
        cancel_message(2, oid, [(first, "NoInventory", 2)]))))
    assert too_many.codes() == [ITEM_NOT_CANCELLABLE]
    api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(
        cancel_message(3, oid, [(first, "NoInventory", None), (second, "NoInventory", None)])))
    assert state.order(oid).status == OrderStatus.CANCELED
    assert [c.reason for c in state.cancellations(oid)] == ["NoInventory"] * 3


def test_cancel_of_a_shipped_item_is_rejected(api: Api, state: EmulatorState,
                                              shipped_order: EmulatorOrder) -> None:
    report = api.report(api.submit(ACKNOWLEDGEMENT, acknowledgement_feed(cancel_message(
        1, US_ORDER, [(US_ITEM_A, "NoInventory", None), (US_ITEM_B, "NoInventory", None)]))))
    assert report.codes() == [ITEM_NOT_CANCELLABLE]
    assert state.order(US_ORDER).items[1].quantity_canceled == 0  # message is atomic


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE AmazonEnvelope [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<AmazonEnvelope><Header><DocumentVersion>1.01</DocumentVersion>
<MerchantIdentifier>&c;&xxe;</MerchantIdentifier></Header>
<MessageType>OrderAdjustment</MessageType>
<Message><MessageID>1</MessageID><OrderAdjustment><AmazonOrderID>111-1234567-7654321</AmazonOrderID>
<AdjustedItem><AmazonOrderItemCode>11111111111111</AmazonOrderItemCode>
<AdjustmentReason>CustomerReturn</AdjustmentReason><ItemPriceAdjustments><Component>
<Type>Principal</Type><Amount currency="USD">1.00</Amount></Component></ItemPriceAdjustments>
</AdjustedItem></OrderAdjustment></Message></AmazonEnvelope>"""


def test_entity_expansion_is_fatal_and_applies_nothing(api: Api, state: EmulatorState,
                                                       shipped_order: EmulatorOrder) -> None:
    feed = api.submit(ADJUSTMENT, BILLION_LAUGHS)
    assert feed["processingStatus"] == "FATAL"
    report = api.report(feed)
    assert report.codes() == [XML_PARSE_ERROR]
    assert "DOCTYPE" in report.results[0]["description"]
    assert b"root:" not in report.data
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 0


def test_wrong_message_type_and_garbage_are_fatal(api: Api,
                                                  shipped_order: EmulatorOrder) -> None:
    ack = acknowledgement_feed(cancel_message(1, US_ORDER, [(US_ITEM_B, "NoInventory", None)]))
    assert api.submit(ADJUSTMENT, ack)["processingStatus"] == "FATAL"
    assert api.submit(ADJUSTMENT, b"<not-xml")["processingStatus"] == "FATAL"


def test_schema_invalid_feed_rejects_every_message(clock: ManualClock, xsd_dir: Path) -> None:
    with EmulatorServer(EmulatorState(EmulatorConfig(xsd_dir=xsd_dir), clock)) as server, \
            Api(server.url) as api:
        server.state.seed_order(US_ORDER, items=[SeedItem(US_ITEM_A, quantity_shipped=1)])
        good = adjustment_message(1, US_ORDER, [adjusted_item(US_ITEM_A, {"Principal": "1.00"})])
        bad = adjustment_message(2, US_ORDER, [adjusted_item(
            US_ITEM_A, {"Principal": "1.00"}, reason="BuyerCanceled")])  # not an AdjustmentReason
        report = api.report(api.submit(ADJUSTMENT, adjustment_feed(good, bad)))
        assert (report.processed, report.successful, report.with_error) == (2, 0, 2)
        assert set(report.codes()) == {XML_SCHEMA_ERROR}
        assert any("BuyerCanceled" in r["description"] for r in report.results
                   if r["message_id"] == 2)
        assert server.state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 0
        valid = api.report(api.submit(ADJUSTMENT, adjustment_feed(good)))
        assert valid.successful == 1


def test_processing_delay_in_polls(clock: ManualClock) -> None:
    config = EmulatorConfig(xsd_dir=None, processing_polls=2)
    with EmulatorServer(EmulatorState(config, clock)) as server, Api(server.url) as api:
        server.state.seed_order(US_ORDER, items=[SeedItem(US_ITEM_A, quantity_shipped=1)])
        feed_id = api.create_feed(ADJUSTMENT, REFUND_ONE_A.replace(b"20.00", b"1.00")
                                  .replace(b"<Quantity>1</Quantity>", b"")).json()["feedId"]
        statuses = [api.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}")
                    .json()["processingStatus"] for _ in range(4)]
        assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "DONE", "DONE"]


def test_processing_delay_in_seconds_and_explicit_advance(clock: ManualClock) -> None:
    config = EmulatorConfig(xsd_dir=None, processing_seconds=30)
    with EmulatorServer(EmulatorState(config, clock)) as server, Api(server.url) as api:
        server.state.seed_order(US_ORDER, items=[SeedItem(US_ITEM_A, quantity_shipped=1)])
        xml = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
            US_ITEM_A, {"Principal": "1.00"})]))
        first = api.create_feed(ADJUSTMENT, xml).json()["feedId"]
        second = api.create_feed(ADJUSTMENT, xml).json()["feedId"]
        path = "/feeds/2021-06-30/feeds/"
        assert api.call("GET", path + first).json()["processingStatus"] == "IN_PROGRESS"
        clock.advance(30)
        assert api.call("GET", path + first).json()["processingStatus"] == "DONE"
        assert server.state.process_pending_feeds() == [second]
        assert api.call("GET", path + second).json()["processingStatus"] == "DONE"
        assert server.state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 2


def test_cancel_feed_only_in_queue(api: Api, shipped_order: EmulatorOrder) -> None:
    feed_id = api.create_feed(ADJUSTMENT, REFUND_ONE_A).json()["feedId"]
    assert api.call("DELETE", f"/feeds/2021-06-30/feeds/{feed_id}").status_code == 200
    feed = api.call("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
    assert feed["processingStatus"] == "CANCELLED"
    assert "resultFeedDocumentId" not in feed
    done = api.submit(ADJUSTMENT, REFUND_ONE_A)
    refused = api.call("DELETE", f"/feeds/2021-06-30/feeds/{done['feedId']}")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "InvalidInput"
    missing = api.call("GET", "/feeds/2021-06-30/feeds/1")
    assert missing.status_code == 404


def test_get_feeds_filters_and_pages(api: Api, state: EmulatorState,
                                     shipped_order: EmulatorOrder) -> None:
    ids = [api.create_feed(ADJUSTMENT, REFUND_ONE_A).json()["feedId"] for _ in range(3)]
    api.create_feed(ACKNOWLEDGEMENT, acknowledgement_feed(
        cancel_message(1, US_ORDER, [(US_ITEM_B, "NoInventory", None)])))
    state.process_pending_feeds()
    first = api.call("GET", "/feeds/2021-06-30/feeds",
                     params={"feedTypes": ADJUSTMENT, "pageSize": "2"}).json()
    assert len(first["feeds"]) == 2
    rest = api.call("GET", "/feeds/2021-06-30/feeds",
                    params={"nextToken": first["nextToken"]}).json()
    assert "nextToken" not in rest
    assert sorted(f["feedId"] for f in first["feeds"] + rest["feeds"]) == sorted(ids)
    assert all(f["processingStatus"] == "DONE" for f in first["feeds"])
    none = api.call("GET", "/feeds/2021-06-30/feeds",
                    params={"feedTypes": ADJUSTMENT, "processingStatuses": "IN_QUEUE"}).json()
    assert none == {"feeds": []}
    assert api.call("GET", "/feeds/2021-06-30/feeds").status_code == 400
    mixed = api.call("GET", "/feeds/2021-06-30/feeds",
                     params={"nextToken": "x", "pageSize": "2"})
    assert mixed.status_code == 400


def test_upload_rules(api: Api, clock: ManualClock) -> None:
    doc = api.call("POST", "/feeds/2021-06-30/documents",
                   json={"contentType": "text/xml; charset=UTF-8"}).json()
    url = doc["url"]
    assert "X-Amz-Signature=" in url
    assert url.startswith(api.base_url + "/_upload/")
    wrong_type = requests.put(url, data=b"<x/>", headers={"Content-Type": "text/xml"},
                              timeout=TIMEOUT)
    assert wrong_type.status_code == 403
    authed = requests.put(url, data=b"<x/>", timeout=TIMEOUT,
                          headers={"Content-Type": "text/xml; charset=UTF-8",
                                   "Authorization": "Bearer x"})
    assert authed.status_code == 400
    tampered = requests.put(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), data=b"<x/>",
                            headers={"Content-Type": "text/xml; charset=UTF-8"},
                            timeout=TIMEOUT)
    assert tampered.status_code == 403
    clock.advance(301)
    expired = requests.put(url, data=b"<x/>", headers={"Content-Type": "text/xml; charset=UTF-8"},
                           timeout=TIMEOUT)
    assert expired.status_code == 403
    assert b"expired" in expired.content


def test_empty_document_feed_is_fatal(api: Api) -> None:
    doc = api.call("POST", "/feeds/2021-06-30/documents",
                   json={"contentType": "text/xml; charset=UTF-8"}).json()
    created = api.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": ADJUSTMENT, "marketplaceIds": ["ATVPDKIKX0DER"],
        "inputFeedDocumentId": doc["feedDocumentId"]})
    assert created.status_code == 202
    feed = api.call("GET", f"/feeds/2021-06-30/feeds/{created.json()['feedId']}").json()
    assert feed["processingStatus"] == "FATAL"
    bad = api.call("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": "POST_FLAT_FILE_LISTINGS_DATA", "marketplaceIds": ["ATVPDKIKX0DER"],
        "inputFeedDocumentId": doc["feedDocumentId"]})
    assert bad.status_code == 400


def test_gzip_reports(clock: ManualClock) -> None:
    config = EmulatorConfig(xsd_dir=None, gzip_reports=True)
    with EmulatorServer(EmulatorState(config, clock)) as server, Api(server.url) as api:
        server.state.seed_order(US_ORDER, items=[SeedItem(US_ITEM_A, quantity_shipped=1)])
        feed = api.submit(ADJUSTMENT, adjustment_feed(adjustment_message(
            1, US_ORDER, [adjusted_item(US_ITEM_A, {"Principal": "1.00"})])))
        path = f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}"
        doc = api.call("GET", path).json()
        assert doc["compressionAlgorithm"] == "GZIP"
        raw = requests.get(doc["url"], timeout=TIMEOUT)
        assert raw.headers["Content-Encoding"] == "identity"
        assert b"<MessagesSuccessful>1</MessagesSuccessful>" in gzip.decompress(raw.content)
        auto = api.call("GET", path, params={"enableContentEncodingUrlHeader": "true"}).json()
        decoded = requests.get(auto["url"], timeout=TIMEOUT)  # requests un-gzips it
        assert b"<MessagesSuccessful>1</MessagesSuccessful>" in decoded.content


def test_feed_quirks_misreport_getfeed(api: Api, state: EmulatorState,
                                       shipped_order: EmulatorOrder) -> None:
    """NO_RESULT_DOCUMENT: processed (the refund counts) but getFeed never names the report;
    ODD_STATUS: getFeed says a processingStatus outside the model."""
    state.inject_feed_fault(FeedFaultKind.NO_RESULT_DOCUMENT)
    feed = api.submit(ADJUSTMENT, REFUND_ONE_A)
    assert feed["processingStatus"] == "DONE"
    assert "resultFeedDocumentId" not in feed
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 1

    state.inject_feed_fault(FeedFaultKind.ODD_STATUS)
    feed = api.submit(ADJUSTMENT, REFUND_ONE_A)
    assert feed["processingStatus"] == "UNDOCUMENTED"
