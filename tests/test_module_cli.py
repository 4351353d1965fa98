"""magento_module/Test/bin/observe.php: outbox rows written by the module's REAL observers.

Rows are created with the Magento factory and committed; then the PHP CLI loads them the way
Magento holds them at save time and runs the observer (tests/support/module.py). The payload
must match docs/snapshot.md and the committed rows, with every amount a decimal string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from sidecar.snapshot import parse_creditmemo, parse_shipment
from tests.conftest import ROOT, missing
from tests.support.magento_factory import ItemSpec, MagentoFactory, Order
from tests.support.module import m2epro_import, php_binary, run_observer

D = Decimal
AMAZON_ORDER_ID = "302-1234567-1234567"
SNAPSHOT_DOC = ROOT / "docs" / "snapshot.md"
# A JSON number right after an amount / quantity key would mean a float touched the money.
NUMERIC_AMOUNT = re.compile(
    r'"(qty[a-z_]*|price[a-z_]*|row_total[a-z_]*|[a-z_]*amount|[a-z_]*total[a-z_]*'
    r'|subtotal[a-z_]*|adjustment_[a-z]+|shipping_incl_tax)":\s*-?\d'
)


@pytest.fixture(autouse=True)
def _require_php() -> None:
    if php_binary() is None:
        missing("php CLI not found; the module observer CLI cannot run")


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


def doc_example() -> dict[str, Any]:
    """The creditmemo example of docs/snapshot.md."""
    m = re.search(r"```json\n(.*?)\n```", SNAPSHOT_DOC.read_text(encoding="utf-8"), re.S)
    assert m, f"no JSON example in {SNAPSHOT_DOC}"
    doc: dict[str, Any] = json.loads(m.group(1))
    return doc


def amazon_order(factory: MagentoFactory, ext_order_id: str | None = AMAZON_ORDER_ID) -> Order:
    return factory.order(
        [
            ItemSpec("ABC-1", 2, D("16.80"), D("3.19"), amazon_item_id="12345678901234",
                     name="Blue mug"),
            ItemSpec("GIFT-1", 1, D("5.00"), D("0.95"), amazon_item_id="33333333333333",
                     name="Gift wrap"),
        ],
        ext_order_id=ext_order_id, shipping=D("4.12"), shipping_tax=D("0.78"),
    )


def outbox_rows(conn: Connection) -> list[dict[str, Any]]:
    conn.rollback()  # a fresh snapshot: see what the PHP process committed
    return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM refund_bridge_outbox ORDER BY id"))]


def db_row(conn: Connection, table: str, pk: str, value: int) -> dict[str, Any]:
    row = conn.execute(text(f"SELECT * FROM `{table}` WHERE `{pk}` = :v"), {"v": value}).one()
    return dict(row._mapping)


def as_magento_string(value: object) -> str | None:
    """A DB value as Magento's model holds it (what the snapshot must carry)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)  # pymysql keeps the column scale: Decimal("16.8000")
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def assert_no_numeric_amounts(payload: str) -> None:
    assert not NUMERIC_AMOUNT.search(payload), payload


def test_creditmemo_row_is_written_by_the_module(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    memo_id = factory.creditmemo(order, {"ABC-1": 1}, shipping=D("4.12"), shipping_tax=D("0.78"))
    conn.commit()
    mug = order.items["ABC-1"]

    outbox_id = run_observer(mariadb_url, "creditmemo", memo_id, back_to_stock=[mug])

    assert isinstance(outbox_id, int)
    rows = outbox_rows(conn)
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == outbox_id
    assert (row["event_type"], row["entity_id"], row["order_id"]) == (
        "creditmemo", memo_id, order.entity_id)
    assert (row["status"], row["attempts"], row["lease_owner"], row["last_error"]) == (
        "pending", 0, None, None)

    payload = json.loads(row["payload"])
    memo = db_row(conn, "sales_creditmemo", "entity_id", memo_id)
    memo_item = db_row(conn, "sales_creditmemo_item", "parent_id", memo_id)
    order_item = db_row(conn, "sales_order_item", "item_id", mug)
    expected = {
        "schema_version": 2,
        "event_type": "creditmemo",
        "order": {
            "entity_id": order.entity_id, "increment_id": order.increment_id,
            "ext_order_id": AMAZON_ORDER_ID, "store_id": 1,
            "order_currency_code": "EUR", "base_currency_code": "EUR",
            "state": "processing", "status": "processing",
            "amazon_order_id": AMAZON_ORDER_ID, "amazon_order_id_source": "ext_order_id",
            "connector": None,
        },
        "creditmemo": {
            "entity_id": memo_id, "increment_id": memo["increment_id"],
            "created_at": as_magento_string(memo["created_at"]),
            "order_currency_code": "EUR",
            "state": 2, "created_by_connector": None, "restock_known": True,
            # the figures of the docs/snapshot.md example
            "subtotal": "16.8000", "subtotal_incl_tax": "19.9900", "tax_amount": "3.9700",
            "discount_amount": "0.0000",
            "shipping_amount": "4.1200", "shipping_tax_amount": "0.7800",
            "shipping_incl_tax": "4.9000",
            "adjustment_positive": "0.0000", "adjustment_negative": "0.0000",
            "grand_total": "24.8900",
        },
        "items": [
            {
                "entity_id": memo_item["entity_id"], "order_item_id": mug, "parent_item_id": None,
                "sku": "ABC-1", "name": "Blue mug", "product_type": "simple",
                "ext_order_item_id": "12345678901234",
                "qty": "1.0000", "price": "16.8000", "price_incl_tax": "19.9900",
                "row_total": "16.8000", "row_total_incl_tax": "19.9900",
                "tax_amount": "3.1900", "discount_amount": "0.0000",
                "back_to_stock": True, "amazon_order_item_id": None,
                # the order item's counters after this credit memo
                "qty_ordered": "2.0000", "qty_shipped": "0.0000", "qty_refunded": "1.0000",
                "qty_canceled": "0.0000",
            },
        ],
    }
    assert payload == expected

    # Same shape (keys and their order) as the documented example.
    example = doc_example()
    assert list(payload) == list(example)
    for key in ("order", "creditmemo"):
        assert list(payload[key]) == list(example[key]), key
    assert list(payload["items"][0]) == list(example["items"][0])

    # Every amount is the committed row's value, as a string.
    for field, value in payload["creditmemo"].items():
        if field == "state":
            assert value == memo[field]
        elif field not in ("entity_id", "created_by_connector", "restock_known"):
            assert value == as_magento_string(memo[field]), field
    item = payload["items"][0]
    for field in ("qty", "price", "price_incl_tax", "row_total", "row_total_incl_tax",
                  "tax_amount", "discount_amount", "sku", "name"):
        assert item[field] == as_magento_string(memo_item[field]), field
    for field in ("qty_ordered", "qty_shipped", "qty_refunded", "qty_canceled",
                  "ext_order_item_id", "product_type"):
        assert item[field] == as_magento_string(order_item[field]), field
    assert '"grand_total":"24.8900"' in row["payload"]
    assert_no_numeric_amounts(row["payload"])

    # The sidecar's strict parser accepts it.
    parsed = parse_creditmemo(row["payload"])
    assert parsed.grand_total == D("24.89")
    assert parsed.items[0].back_to_stock is True


def test_second_run_writes_nothing(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    memo_id = factory.creditmemo(order, {"ABC-1": 1, "GIFT-1": 1})
    conn.commit()

    first = run_observer(mariadb_url, "creditmemo", memo_id)
    assert first is not None
    before = outbox_rows(conn)
    payload = json.loads(before[0]["payload"])
    assert [i["back_to_stock"] for i in payload["items"]] == [False, False]

    # a later save (even with other flags) leaves the snapshot alone
    assert run_observer(mariadb_url, "creditmemo", memo_id) is None
    assert run_observer(mariadb_url, "creditmemo", memo_id,
                        back_to_stock=[order.items["ABC-1"]]) is None
    assert outbox_rows(conn) == before


def test_shipment_with_track_gives_a_shipment_row(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    shipment_id = factory.shipment(order, {"ABC-1": 2},
                                   tracks=[("dhl", "DHL Paket", "00340434161234567890")])
    conn.commit()

    outbox_id = run_observer(mariadb_url, "shipment", shipment_id)

    assert outbox_id is not None
    rows = outbox_rows(conn)
    assert [(r["id"], r["event_type"], r["entity_id"], r["order_id"]) for r in rows] == [
        (outbox_id, "shipment", shipment_id, order.entity_id)]
    payload = json.loads(rows[0]["payload"])
    shipment = db_row(conn, "sales_shipment", "entity_id", shipment_id)
    shipment_item = db_row(conn, "sales_shipment_item", "parent_id", shipment_id)
    assert payload == {
        "schema_version": 2,
        "event_type": "shipment",
        "order": {
            "entity_id": order.entity_id, "increment_id": order.increment_id,
            "ext_order_id": AMAZON_ORDER_ID, "store_id": 1,
            "order_currency_code": "EUR", "base_currency_code": "EUR",
            "state": "processing", "status": "processing",
            "amazon_order_id": AMAZON_ORDER_ID, "amazon_order_id_source": "ext_order_id",
            "connector": None,
        },
        "shipment": {
            "entity_id": shipment_id, "increment_id": shipment["increment_id"],
            "created_at": as_magento_string(shipment["created_at"]),
            "created_by_connector": None,
        },
        "items": [
            {
                "entity_id": shipment_item["entity_id"], "order_item_id": order.items["ABC-1"],
                "parent_item_id": None, "sku": "ABC-1", "name": "Blue mug",
                "ext_order_item_id": "12345678901234", "amazon_order_item_id": None,
                "qty": "2.0000",
            },
        ],
        "tracks": [
            {"carrier_code": "dhl", "title": "DHL Paket", "track_number": "00340434161234567890"},
        ],
    }
    assert payload["items"][0]["qty"] == as_magento_string(shipment_item["qty"])
    assert_no_numeric_amounts(rows[0]["payload"])
    parsed = parse_shipment(rows[0]["payload"])
    assert parsed.tracks[0].track_number == "00340434161234567890"

    assert run_observer(mariadb_url, "shipment", shipment_id) is None
    assert outbox_rows(conn) == rows


@pytest.mark.parametrize("ext_order_id", [None, "000000123", "302-1234567-123456"])
def test_non_amazon_order_writes_nothing(
    mariadb_url: str, conn: Connection, ext_order_id: str | None,
) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory, ext_order_id)
    memo_id = factory.creditmemo(order, {"ABC-1": 1})
    shipment_id = factory.shipment(order, {"ABC-1": 1}, tracks=[("dhl", "DHL", "123")])
    conn.commit()

    assert run_observer(mariadb_url, "creditmemo", memo_id) is None
    assert run_observer(mariadb_url, "shipment", shipment_id) is None
    assert outbox_rows(conn) == []


def test_disabled_module_writes_nothing(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    memo_id = factory.creditmemo(order, {"ABC-1": 1})
    conn.commit()

    assert run_observer(mariadb_url, "creditmemo", memo_id, disabled=True) is None
    assert outbox_rows(conn) == []
    assert run_observer(mariadb_url, "creditmemo", memo_id) is not None


def test_errors_are_reported_and_write_nothing(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    memo_id = factory.creditmemo(order, {"ABC-1": 1})
    conn.commit()

    with pytest.raises(RuntimeError, match="not found"):
        run_observer(mariadb_url, "creditmemo", memo_id + 1000)
    with pytest.raises(RuntimeError, match="not on credit memo"):
        run_observer(mariadb_url, "creditmemo", memo_id, back_to_stock=[order.items["GIFT-1"]])
    assert outbox_rows(conn) == []



M2E_AMAZON_ORDER_ID = "171-1234567-7654321"


def test_m2epro_imported_order_is_resolved_with_its_account_setting(
    mariadb_url: str, conn: Connection
) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    m2epro_import(conn, order.entity_id, M2E_AMAZON_ORDER_ID, account_id=4, refund_mode=1,
                  order_item_ids={order.items["ABC-1"]: "50000000000001"})
    memo_id = factory.creditmemo(order, {"ABC-1": 1})
    conn.commit()

    assert run_observer(mariadb_url, "creditmemo", memo_id) is not None
    payload = json.loads(outbox_rows(conn)[0]["payload"])
    assert payload["order"]["ext_order_id"] is None
    assert payload["order"]["amazon_order_id"] == M2E_AMAZON_ORDER_ID
    assert payload["order"]["amazon_order_id_source"] == "m2epro_payment"
    assert payload["order"]["connector"] == {
        "name": "m2epro", "account_id": 4, "refunds_on_creditmemo": True}
    assert payload["items"][0]["amazon_order_item_id"] == "50000000000001"


def test_api_refund_gives_restock_unknown(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    memo_id = factory.creditmemo(order, {"ABC-1": 1})
    conn.commit()

    assert run_observer(mariadb_url, "creditmemo", memo_id, api_refund=True) is not None
    payload = json.loads(outbox_rows(conn)[0]["payload"])
    assert payload["creditmemo"]["restock_known"] is False
    assert [i["back_to_stock"] for i in payload["items"]] == [None]


def test_track_added_later_gives_a_track_row(mariadb_url: str, conn: Connection) -> None:
    factory = MagentoFactory(conn)
    order = amazon_order(factory)
    shipment_id = factory.shipment(order, {"ABC-1": 2}, tracks=[("dhl", "DHL", "D1")])
    conn.commit()
    assert run_observer(mariadb_url, "shipment", shipment_id) is not None
    first_track = conn.execute(text("SELECT entity_id FROM sales_shipment_track WHERE parent_id = :s"),
                               {"s": shipment_id}).scalar_one()
    # the track saved with the shipment is in the shipment row already
    assert run_observer(mariadb_url, "track", first_track) is None

    track_id = conn.execute(text(
        "INSERT INTO sales_shipment_track (parent_id, order_id, carrier_code, title, track_number)"
        " VALUES (:s, :o, 'ups', 'UPS', '1Z2')"), {"s": shipment_id, "o": order.entity_id}).lastrowid
    conn.commit()
    outbox_id = run_observer(mariadb_url, "track", track_id)

    rows = outbox_rows(conn)
    assert [(r["event_type"], r["entity_id"]) for r in rows] == [
        ("shipment", shipment_id), ("track", track_id)]
    assert rows[1]["id"] == outbox_id
    payload = json.loads(rows[1]["payload"])
    assert payload["event_type"] == "track"
    assert payload["shipment"]["entity_id"] == shipment_id
    assert [t["track_number"] for t in payload["tracks"]] == ["D1", "1Z2"]
    assert run_observer(mariadb_url, "track", track_id) is None
