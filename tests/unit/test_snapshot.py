"""sidecar.snapshot: strict parsing of the outbox JSON payload (docs/snapshot.md)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from sidecar.domain import CreditMemo, Shipment
from sidecar.snapshot import SnapshotError, parse_creditmemo, parse_event, parse_shipment

D = Decimal

CREDITMEMO: dict[str, Any] = {
    "schema_version": 1,
    "event_type": "creditmemo",
    "order": {
        "entity_id": 12, "increment_id": "000000012", "ext_order_id": "302-1234567-1234567",
        "store_id": 1, "order_currency_code": "EUR", "base_currency_code": "EUR",
        "state": "processing", "status": "processing",
    },
    "creditmemo": {
        "entity_id": 5, "increment_id": "000000005", "created_at": "2026-11-26 10:00:00",
        "order_currency_code": "EUR",
        "subtotal": "16.8000", "subtotal_incl_tax": "19.9900", "tax_amount": "3.9700",
        "discount_amount": "0.0000",
        "shipping_amount": "4.1200", "shipping_tax_amount": "0.7800", "shipping_incl_tax": "4.9000",
        "adjustment_positive": "0.0000", "adjustment_negative": "0.0000",
        "grand_total": "24.8900",
    },
    "items": [
        {
            "entity_id": 9, "order_item_id": 33, "parent_item_id": None,
            "sku": "ABC-1", "name": "Blue mug", "product_type": "simple",
            "ext_order_item_id": "12345678901234",
            "qty": "1.0000", "price": "16.8000", "price_incl_tax": "19.9900",
            "row_total": "16.8000", "row_total_incl_tax": "19.9900",
            "tax_amount": "3.1900", "discount_amount": "0.0000",
            "back_to_stock": True,
            "qty_ordered": "2.0000", "qty_shipped": "1.0000", "qty_refunded": "1.0000",
            "qty_canceled": "0.0000",
        }
    ],
}

SHIPMENT: dict[str, Any] = {
    "schema_version": 1,
    "event_type": "shipment",
    "order": CREDITMEMO["order"],
    "shipment": {"entity_id": 7, "increment_id": "000000007", "created_at": "2026-11-26 09:00:00"},
    "items": [
        {"entity_id": 3, "order_item_id": 33, "parent_item_id": None, "sku": "ABC-1",
         "name": "Blue mug", "ext_order_item_id": "12345678901234", "qty": "1.0000"}
    ],
    "tracks": [{"carrier_code": "dhl", "title": "DHL", "track_number": "JJD000390007"}],
}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


def cm(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(CREDITMEMO)
    doc["creditmemo"].update(changes)
    return doc


def test_parse_creditmemo_documented_example() -> None:
    memo = parse_creditmemo(dumps(CREDITMEMO))
    assert memo.entity_id == 5
    assert memo.increment_id == "000000005"
    assert memo.created_at == datetime(2026, 11, 26, 10, 0, 0)
    assert memo.created_at.tzinfo is None
    assert memo.subtotal == D("16.8000")
    assert memo.grand_total == D("24.8900")
    assert memo.order.ext_order_id == "302-1234567-1234567"
    assert memo.order.order_currency_code == "EUR"
    (item,) = memo.items
    assert (item.order_item_id, item.sku, item.qty) == (33, "ABC-1", D("1.0000"))
    assert item.ext_order_item_id == "12345678901234"
    assert item.parent_item_id is None
    assert item.back_to_stock is True
    assert (item.qty_ordered, item.qty_shipped) == (D(2), D(1))
    assert all(isinstance(v, Decimal) for v in (item.price, item.row_total, item.tax_amount))


def test_parse_creditmemo_accepts_bytes_and_negative_header_discount() -> None:
    memo = parse_creditmemo(dumps(cm(discount_amount="-2.0000")).encode())
    assert memo.discount_amount == D("-2.0000")


def test_parse_shipment_documented_example() -> None:
    shipment = parse_shipment(dumps(SHIPMENT))
    assert isinstance(shipment, Shipment)
    assert shipment.created_at == datetime(2026, 11, 26, 9, 0, 0)
    assert shipment.items[0].qty == D(1)
    assert shipment.tracks[0].track_number == "JJD000390007"


def test_parse_event_dispatches_on_event_type() -> None:
    assert isinstance(parse_event(dumps(CREDITMEMO)), CreditMemo)
    assert isinstance(parse_event(dumps(SHIPMENT)), Shipment)
    with pytest.raises(SnapshotError, match=r"\$\.event_type: unknown value 'invoice'"):
        parse_event(dumps({**CREDITMEMO, "event_type": "invoice"}))


def test_parse_creditmemo_refuses_a_shipment() -> None:
    with pytest.raises(SnapshotError, match="expected 'creditmemo', got 'shipment'"):
        parse_creditmemo(dumps(SHIPMENT))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"schema_version": NaN}', "non-JSON constant NaN"),
        ("{}", "schema_version: missing"),
    ],
)
def test_invalid_json_rejected(payload: str, message: str) -> None:
    with pytest.raises(SnapshotError, match=message):
        parse_event(payload)


@pytest.mark.parametrize("version", [3, 0, "1", 1.0, None, True])
def test_unknown_schema_version_rejected(version: object) -> None:
    with pytest.raises(SnapshotError, match="schema_version: unsupported"):
        parse_creditmemo(dumps({**CREDITMEMO, "schema_version": version}))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (("creditmemo", "grand_total"), r"\$\.creditmemo\.grand_total: missing"),
        (("order", "entity_id"), r"\$\.order\.entity_id: missing"),
        (("creditmemo",), r"\$\.creditmemo: missing"),
        (("items",), r"\$\.items: missing"),
    ],
)
def test_missing_fields_rejected(path: tuple[str, ...], message: str) -> None:
    doc = copy.deepcopy(CREDITMEMO)
    target = doc
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(SnapshotError, match=message):
        parse_creditmemo(dumps(doc))


def test_missing_item_field_names_the_item() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    del doc["items"][0]["row_total"]
    with pytest.raises(SnapshotError, match=r"\$\.items\[0\]\.row_total: missing"):
        parse_creditmemo(dumps(doc))


@pytest.mark.parametrize("value", [16.8, 16, None, True, ["16.80"]])
def test_non_string_amounts_rejected(value: object) -> None:
    with pytest.raises(SnapshotError, match=r"creditmemo\.subtotal: amounts must be decimal"):
        parse_creditmemo(dumps(cm(subtotal=value)))


@pytest.mark.parametrize("value", ["1e2", "NaN", "Infinity", "", "16,80", " 16.80"])
def test_malformed_amounts_rejected(value: str) -> None:
    with pytest.raises(SnapshotError, match=r"creditmemo\.subtotal: not a plain decimal"):
        parse_creditmemo(dumps(cm(subtotal=value)))


def test_negative_amount_rejected() -> None:
    with pytest.raises(SnapshotError, match=r"shipping_amount: must not be negative"):
        parse_creditmemo(dumps(cm(shipping_amount="-1.0000")))


@pytest.mark.parametrize("value", ["5", 5.0, True, None])
def test_wrong_type_ids_rejected(value: object) -> None:
    expected = r"creditmemo\.entity_id: expected an integer"
    with pytest.raises(SnapshotError, match=expected):
        parse_creditmemo(dumps(cm(entity_id=value)))


def test_wrong_type_flag_rejected() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["items"][0]["back_to_stock"] = 1
    with pytest.raises(SnapshotError, match=r"back_to_stock: expected true or false"):
        parse_creditmemo(dumps(doc))


@pytest.mark.parametrize("value", ["2026-11-26T10:00:00", "2026-11-26", "26.11.2026 10:00:00", 0])
def test_bad_timestamp_rejected(value: object) -> None:
    with pytest.raises(SnapshotError, match=r"creditmemo\.created_at"):
        parse_creditmemo(dumps(cm(created_at=value)))


def test_bad_currency_rejected() -> None:
    with pytest.raises(SnapshotError, match=r"creditmemo\.order_currency_code: not an ISO 4217"):
        parse_creditmemo(dumps(cm(order_currency_code="euro")))


def test_null_ext_order_id_allowed() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["order"]["ext_order_id"] = None
    assert parse_creditmemo(dumps(doc)).order.ext_order_id is None


def test_shipment_track_must_be_object() -> None:
    doc = copy.deepcopy(SHIPMENT)
    doc["tracks"] = ["JJD000390007"]
    with pytest.raises(SnapshotError, match=r"\$\.tracks\[0\]: expected an object"):
        parse_shipment(dumps(doc))


def test_null_adjustment_shipping_discount_and_tax_read_as_zero() -> None:
    # Magento leaves these columns NULL when a refund (e.g. through the API) sets none of them
    doc = copy.deepcopy(CREDITMEMO)
    for key in ("adjustment_positive", "adjustment_negative", "shipping_amount",
                "shipping_tax_amount", "discount_amount", "tax_amount"):
        doc["creditmemo"][key] = None
    doc["items"][0]["tax_amount"] = None
    doc["items"][0]["discount_amount"] = None
    parsed = parse_creditmemo(dumps(doc))
    zero = D(0)
    assert (parsed.adjustment_positive, parsed.adjustment_negative) == (zero, zero)
    assert (parsed.shipping_amount, parsed.shipping_tax_amount, parsed.tax_amount) == (
        zero, zero, zero)
    assert (parsed.items[0].tax_amount, parsed.items[0].discount_amount) == (zero, zero)


def test_null_row_total_and_grand_total_still_rejected() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["items"][0]["row_total"] = None
    with pytest.raises(SnapshotError, match=r"items\[0\]\.row_total"):
        parse_creditmemo(dumps(doc))
    doc = copy.deepcopy(CREDITMEMO)
    doc["creditmemo"]["grand_total"] = None
    with pytest.raises(SnapshotError, match=r"creditmemo\.grand_total"):
        parse_creditmemo(dumps(doc))


# -------------------------------------------- issue 7 items 12, 13: poison at once


@pytest.mark.parametrize(("path", "value"), [
    (("creditmemo", "subtotal"), "16.80001"),
    (("creditmemo", "grand_total"), "0.00001"),
])
def test_more_than_four_decimals_is_poison_not_rounded(path: tuple[str, ...],
                                                       value: str) -> None:
    """Item 13: 16.80001 was silently rounded; Magento stores 4 decimals."""
    doc = copy.deepcopy(CREDITMEMO)
    doc[path[0]][path[1]] = value
    with pytest.raises(SnapshotError, match="more than 4 decimal places") as err:
        parse_creditmemo(json.dumps(doc))
    assert f"$.{'.'.join(path)}" in str(err.value) and value in str(err.value)


def test_item_quantity_with_five_decimals_is_poison() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["items"][0]["qty"] = "1.00001"
    with pytest.raises(SnapshotError, match=r"\$\.items\[0\]\.qty: .*4 decimal places"):
        parse_creditmemo(json.dumps(doc))


def test_four_decimals_and_trailing_zeros_are_fine() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["creditmemo"]["subtotal"] = "16.80000"
    doc["items"][0]["price"] = "16.8001"
    memo = parse_creditmemo(json.dumps(doc))
    assert memo.subtotal == D("16.8") and memo.items[0].price == D("16.8001")


@pytest.mark.parametrize("key", ["entity_id", "store_id"])
def test_an_id_beyond_int_unsigned_is_poison(key: str) -> None:
    """Item 12: an id of 2^40 reached the database and failed there with SQL text."""
    doc = copy.deepcopy(CREDITMEMO)
    doc["order"][key] = 2**40
    with pytest.raises(SnapshotError, match="at most 4294967295"):
        parse_creditmemo(json.dumps(doc))
    doc["order"][key] = 2**32 - 1
    parse_creditmemo(json.dumps(doc))


def test_json_nested_100000_deep_is_poison_not_a_recursion_error() -> None:
    """Item 12: RecursionError escaped the parser, so the row was retried to the limit."""
    payload = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(SnapshotError, match="nested too deeply"):
        parse_event(payload)


# ------------------------------------------------------------------ schema_version 2


def v2_creditmemo(**order: Any) -> dict[str, Any]:
    """The documented v1 example upgraded to schema_version 2 (docs/snapshot.md)."""
    doc = copy.deepcopy(CREDITMEMO)
    doc["schema_version"] = 2
    doc["order"].update(
        {
            "ext_order_id": None,
            "amazon_order_id": "302-7654321-7654321",
            "amazon_order_id_source": "m2epro_payment",
            "connector": {"name": "m2epro", "account_id": 3, "refunds_on_creditmemo": False},
        }
    )
    doc["order"].update(order)
    doc["creditmemo"].update({"state": 2, "created_by_connector": None, "restock_known": True})
    doc["items"][0]["amazon_order_item_id"] = "55555555555555"
    return doc


def v2_shipment(event_type: str = "shipment") -> dict[str, Any]:
    doc = copy.deepcopy(SHIPMENT)
    doc["schema_version"] = 2
    doc["event_type"] = event_type
    doc["order"] = v2_creditmemo()["order"]
    doc["shipment"]["created_by_connector"] = None
    doc["items"][0]["amazon_order_item_id"] = "55555555555555"
    return doc


def test_v1_amazon_order_id_is_ext_order_id() -> None:
    memo = parse_creditmemo(dumps(CREDITMEMO))
    assert memo.order.amazon_order_id == "302-1234567-1234567"
    assert memo.order.amazon_order_id_source == "ext_order_id"
    assert memo.order.connector is None
    assert (memo.state, memo.created_by_connector, memo.restock_known) == (None, None, True)
    assert memo.items[0].amazon_order_item_id is None


def test_v2_uses_the_resolved_id_never_ext_order_id() -> None:
    memo = parse_creditmemo(dumps(v2_creditmemo(ext_order_id="AMZ-302-1111111-1111111")))
    assert memo.order.amazon_order_id == "302-7654321-7654321"
    assert memo.order.ext_order_id == "AMZ-302-1111111-1111111"
    assert memo.order.amazon_order_id_source == "m2epro_payment"
    assert memo.order.connector is not None
    assert memo.order.connector.name == "m2epro"
    assert memo.order.connector.account_id == 3
    assert memo.order.connector.refunds_on_creditmemo is False
    assert memo.state == 2
    assert memo.items[0].amazon_order_item_id == "55555555555555"


def test_v2_null_id_and_unknown_connector_setting() -> None:
    doc = v2_creditmemo(
        amazon_order_id=None,
        amazon_order_id_source=None,
        connector={"name": "m2epro", "account_id": None, "refunds_on_creditmemo": None},
    )
    memo = parse_creditmemo(dumps(doc))
    assert memo.order.amazon_order_id is None
    assert memo.order.connector is not None
    assert memo.order.connector.refunds_on_creditmemo is None


def test_v2_open_memo_unknown_restock_and_connector_document() -> None:
    doc = v2_creditmemo()
    doc["creditmemo"].update({"state": 1, "created_by_connector": "m2epro", "restock_known": False})
    doc["items"][0]["back_to_stock"] = None
    memo = parse_creditmemo(dumps(doc))
    assert (memo.state, memo.created_by_connector, memo.restock_known) == (1, "m2epro", False)
    assert memo.items[0].back_to_stock is None


def test_v1_back_to_stock_null_still_rejected() -> None:
    doc = copy.deepcopy(CREDITMEMO)
    doc["items"][0]["back_to_stock"] = None
    with pytest.raises(SnapshotError, match=r"back_to_stock"):
        parse_creditmemo(dumps(doc))


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ("order", "amazon_order_id"),
        ("order", "amazon_order_id_source"),
        ("order", "connector"),
        ("creditmemo", "state"),
        ("creditmemo", "created_by_connector"),
        ("creditmemo", "restock_known"),
    ],
)
def test_v2_keys_must_be_present(where: str, key: str) -> None:
    doc = v2_creditmemo()
    del doc[where][key]
    with pytest.raises(SnapshotError, match=rf"\$\.{where}\.{key}: missing"):
        parse_creditmemo(dumps(doc))


def test_v2_item_amazon_order_item_id_must_be_present() -> None:
    doc = v2_creditmemo()
    del doc["items"][0]["amazon_order_item_id"]
    with pytest.raises(SnapshotError, match=r"items\[0\]\.amazon_order_item_id: missing"):
        parse_creditmemo(dumps(doc))


@pytest.mark.parametrize("state", [0, 4, "2", True])
def test_v2_bad_creditmemo_state_rejected(state: object) -> None:
    doc = v2_creditmemo()
    doc["creditmemo"]["state"] = state
    with pytest.raises(SnapshotError, match=r"\$\.creditmemo\.state"):
        parse_creditmemo(dumps(doc))


def test_v2_null_creditmemo_state_reads_as_unknown() -> None:
    doc = v2_creditmemo()
    doc["creditmemo"]["state"] = None
    assert parse_creditmemo(dumps(doc)).state is None


def test_v2_connector_must_be_an_object_with_a_name() -> None:
    doc = v2_creditmemo(connector={"account_id": 1, "refunds_on_creditmemo": True})
    with pytest.raises(SnapshotError, match=r"connector\.name: missing"):
        parse_creditmemo(dumps(doc))
    with pytest.raises(SnapshotError, match=r"connector: expected an object"):
        parse_creditmemo(dumps(v2_creditmemo(connector="m2epro")))


def test_v2_shipment_and_track_events() -> None:
    shipment = parse_event(dumps(v2_shipment()))
    assert isinstance(shipment, Shipment)
    assert shipment.event_type == "shipment"
    assert shipment.created_by_connector is None
    assert shipment.items[0].amazon_order_item_id == "55555555555555"
    track = parse_event(dumps(v2_shipment("track")))
    assert isinstance(track, Shipment)
    assert track.event_type == "track"
    assert track.entity_id == 7  # the shipment's id: the package reference stays the same


def test_track_event_needs_schema_version_2() -> None:
    doc = copy.deepcopy(SHIPMENT)
    doc["event_type"] = "track"
    with pytest.raises(SnapshotError, match=r"event_type"):
        parse_event(dumps(doc))
