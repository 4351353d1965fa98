"""End to end with snapshot schema_version 2: orders imported by M2E Pro, M2E Pro's own
refund setting, Magento's open credit memos and unknown restock, and shipments (only open
units, track edits). The module's real observer writes each row; its payload is upgraded to
v2 in Python (tests/support/snapshot_v2.py) as docs/snapshot.md defines it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import text

from sidecar.amazon.client import SpApiClient, SpApiError
from sidecar.amazon.credentials import Secret
from sidecar.app import create_app
from tests.e2e.conftest import Bridge
from tests.support.magento_factory import ItemSpec, Order
from tests.support.snapshot_v2 import add_row, as_v1, m2e, payload_of, upgrade, upgrade_row

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")
M2E_SETTING = "M2E Pro > Amazon > Accounts > account 1 > Orders > Cancel or Refund if Credit Memo is Created"


def m2e_order(bridge: Bridge, **kwargs: Any) -> Order:
    return bridge.order([MUG], **kwargs)


def m2e_creditmemo(bridge: Bridge, order: Order, lines: dict[str, int], **v2: Any) -> int:
    """A credit memo on an order as M2E Pro imports it: M2E never writes ext_order_id (the
    v1 observer needs it to write the row, so it is cleared afterwards); the module's
    resolver found the id in M2E's payment data."""
    row_id = bridge.creditmemo(order, lines)
    with bridge.engine.begin() as conn:
        conn.execute(
            text("UPDATE sales_order SET ext_order_id = NULL WHERE entity_id = :i"),
            {"i": order.entity_id},
        )
    mug = order.items["MUG-1"]
    upgrade_row(
        bridge.engine,
        row_id,
        ext_order_id=None,
        amazon_order_id=order.ext_order_id,
        # Magento's SKU differs from Amazon's and ext_order_item_id is empty, as M2E leaves it:
        # only amazon_order_item_id can match the item
        item_ids={mug: bridge.amazon_item(order, "MUG-1")},
        item_changes={mug: {"sku": "MAGENTO-MUG", "ext_order_item_id": None}},
        **v2,
    )
    return row_id


def health_page(bridge: Bridge) -> str:
    cfg = dataclasses.replace(bridge.worker.ctx.config, admin_token=Secret("page-token"))
    app = create_app(cfg, bridge.engine)
    headers = {"Authorization": "Bearer page-token"}  # the page is behind the admin login
    return app.test_client().get("/", headers=headers).get_data(as_text=True)


def test_m2e_order_is_refunded_by_amazon_order_item_id(bridge: Bridge) -> None:
    order = m2e_order(bridge, shipped={"MUG-1": 2})
    row_id = m2e_creditmemo(bridge, order, {"MUG-1": 1}, connector=m2e(False))
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    counter = bridge.refunds(order, "MUG-1")
    assert counter.adjustments == 1
    assert counter.amount("Principal") == D("10.00")
    assert bridge.magento_status(order)[1] == "amazon_refunded"


def test_m2e_account_with_its_own_refund_on_gets_nothing_sent(bridge: Bridge) -> None:
    order = m2e_order(bridge, shipped={"MUG-1": 2})
    row_id = m2e_creditmemo(bridge, order, {"MUG-1": 1}, connector=m2e(True))
    unknown = m2e_order(bridge, shipped={"MUG-1": 2})
    unknown_id = m2e_creditmemo(bridge, unknown, {"MUG-1": 1}, connector=m2e(None))
    bridge.drive()

    for oid, o in ((row_id, order), (unknown_id, unknown)):
        row = bridge.row(oid)
        assert row.status == "skipped"
        assert M2E_SETTING in (row.status_message or "")
        assert any(M2E_SETTING in c for c in bridge.comments(o))
    assert "could not be read" in (bridge.row(unknown_id).status_message or "")
    assert bridge.emulator.state.all_feeds() == []
    assert bridge.refunds(order, "MUG-1").adjustments == 0
    page = health_page(bridge)
    assert "Not sent to Amazon" in page
    assert M2E_SETTING.replace(">", "&gt;") in page


def test_creditmemo_created_by_m2e_is_not_echoed(bridge: Bridge) -> None:
    order = m2e_order(bridge)
    row_id = m2e_creditmemo(
        bridge, order, {"MUG-1": 2}, connector=m2e(False), created_by_connector="m2epro"
    )
    bridge.drive()

    assert bridge.row(row_id).status == "skipped"
    assert any(
        "created by M2E Pro from Amazon data; not echoed" in c for c in bridge.comments(order)
    )
    assert bridge.emulator.state.all_feeds() == []


def test_open_creditmemo_from_the_api_is_not_sent(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    upgrade_row(bridge.engine, row_id, state=1, source="ext_order_id")
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "skipped"
    expected = "Magento did not refund this credit memo (state open); nothing sent to Amazon"
    assert expected in (row.status_message or "")
    assert any(expected in c for c in bridge.comments(order))
    assert bridge.emulator.state.all_feeds() == []


def test_v1_row_with_a_non_amazon_id_gets_a_comment(bridge: Bridge) -> None:
    # the module's pattern let "AMZ-302-..." through; the sidecar cannot use it: say so
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    doc = json.loads(as_v1(payload_of(bridge.engine, row_id)))
    doc["order"]["ext_order_id"] = f"AMZ-{order.ext_order_id}"
    with bridge.engine.begin() as conn:
        conn.execute(
            text("UPDATE refund_bridge_outbox SET payload = :p WHERE id = :i"),
            {"p": json.dumps(doc), "i": row_id},
        )
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "skipped"
    assert "is not in Amazon's form" in (row.status_message or "")
    assert any("is not in Amazon's form" in c for c in bridge.comments(order))


def test_v2_row_without_an_amazon_id_gets_a_comment(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    upgrade_row(bridge.engine, row_id, amazon_order_id=None)
    bridge.drive()

    assert bridge.row(row_id).status == "skipped"
    assert any("has no usable Amazon order id" in c for c in bridge.comments(order))


def test_restock_unknown_on_the_api_path_is_reported_as_unknown(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1}, back_to_stock=["MUG-1"])
    upgrade_row(bridge.engine, row_id, restock_known=False, source="ext_order_id")
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    queued = [c for c in bridge.comments(order) if "queued for Amazon" in c]
    assert "Return to stock: unknown" in queued[0]
    assert not any("Returned to stock" in c for c in bridge.comments(order))


# ------------------------------------------------------------------ shipments


def test_confirm_shipments_off_sends_nothing(bridge: Bridge) -> None:
    cfg = bridge.worker.ctx.config
    first = cfg.accounts[0]
    off = replace(first, settings=replace(first.settings, confirm_shipments=False))
    bridge.worker.ctx.config = replace(cfg, accounts=(off, *cfg.accounts[1:]))
    order = bridge.order([MUG])
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "skipped"
    assert "confirm_shipments is off" in (row.status_message or "")
    assert bridge.emulator.state.shipments(order.ext_order_id) == []


def test_units_amazon_already_shows_shipped_are_not_confirmed_again(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})  # e.g. M2E Pro confirmed it already
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "skipped", row.status_message
    assert "already shown as shipped on Amazon" in (row.status_message or "")
    assert bridge.emulator.state.shipments(order.ext_order_id) == []


def test_units_the_bridge_cancelled_are_never_confirmed(bridge: Bridge) -> None:
    order = bridge.order([MUG])  # 2 units, unshipped
    memo_id = bridge.creditmemo(order, {"MUG-1": 1})  # cancels 1 unit with NoInventory
    bridge.drive()
    assert bridge.row(memo_id).status == "done", bridge.row(memo_id).status_message

    # Magento still offers both units for shipment
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "done", row.status_message
    assert "1 unit(s) not confirmed" in (row.status_message or "")
    sent = bridge.emulator.state.shipments(order.ext_order_id)
    assert [r.items for r in sent] == [((bridge.amazon_item(order, "MUG-1"), 1),)]


def test_whole_order_cancelled_then_shipped_sends_nothing(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    memo_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()
    assert bridge.row(memo_id).status == "done", bridge.row(memo_id).status_message
    status_before = bridge.magento_status(order)

    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "skipped", row.status_message
    assert "2 cancelled on Amazon" in (row.status_message or "")
    assert bridge.emulator.state.shipments(order.ext_order_id) == []
    assert bridge.magento_status(order) == status_before


def test_refused_shipment_does_not_keep_a_bridge_success_status(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    with bridge.engine.begin() as conn:
        for table in ("sales_order", "sales_order_grid"):
            conn.execute(
                text(f"UPDATE {table} SET status = 'amazon_refunded' WHERE entity_id = :i"),
                {"i": order.entity_id},
            )
    ship_id = bridge.shipment(order, {"MUG-1": 2}, tracks=(("dhl", "DHL", " "),))
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "rejected", row.status_message
    assert "Amazon refused" in (row.status_message or "")
    assert bridge.magento_status(order) == ("processing", "processing", "processing")


def test_shipment_created_by_m2e_is_not_echoed(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    upgrade_row(bridge.engine, ship_id, created_by_connector="m2epro", connector=m2e(False))
    bridge.drive()

    assert bridge.row(ship_id).status == "skipped"
    assert any("not echoed" in c for c in bridge.comments(order))
    assert bridge.emulator.state.shipments(order.ext_order_id) == []


def test_track_added_later_confirms_then_edits_the_same_package(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    ship_id = bridge.shipment(order, {"MUG-1": 2}, tracks=())
    shipment_payload = upgrade_row(bridge.engine, ship_id, source="ext_order_id")
    bridge.drive()
    assert bridge.row(ship_id).status == "skipped"
    assert "no tracking number yet" in (bridge.row(ship_id).status_message or "")
    shipment_id = json.loads(shipment_payload)["shipment"]["entity_id"]

    def track_row(track_id: int, number: str) -> int:
        doc = json.loads(upgrade(shipment_payload, source="ext_order_id", event_type="track"))
        doc["tracks"].append({"carrier_code": "ups", "title": "UPS", "track_number": number})
        return add_row(bridge.engine, "track", track_id, order.entity_id, json.dumps(doc))

    first = track_row(9001, "1Z0001")
    bridge.drive()
    assert bridge.row(first).status == "done", bridge.row(first).status_message
    second = track_row(9002, "1Z0002")
    bridge.drive()
    assert bridge.row(second).status == "done", bridge.row(second).status_message

    sent = bridge.emulator.state.shipments(order.ext_order_id)
    assert [(r.package_reference_id, r.tracking_number, r.edit) for r in sent] == [
        (str(shipment_id), "1Z0001", False),
        (str(shipment_id), "1Z0002", True),
    ]
    amazon = bridge.amazon_order(order)
    assert list(amazon.packages) == [str(shipment_id)]
    assert amazon.item(bridge.amazon_item(order, "MUG-1")).quantity_shipped == 2
    # the same track again changes nothing and calls nothing
    third = track_row(9003, "1Z0002")
    bridge.drive()
    assert bridge.row(third).status == "skipped", bridge.row(third).status_message
    assert len(bridge.emulator.state.shipments(order.ext_order_id)) == 2


class _LostAnswer:
    """A client whose first confirmShipment reaches Amazon but whose answer is lost."""

    def __init__(self, inner: Any, lost: list[int]) -> None:
        self.inner, self.lost = inner, lost

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def confirm_shipment(self, order_id: str, body: Any) -> Any:
        result = self.inner.confirm_shipment(order_id, body)
        if not self.lost:
            self.lost.append(1)
            raise SpApiError("confirmShipment", 0, None, "read timed out")
        return result


def test_a_lost_confirmation_answer_resends_the_same_package(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    client_for = bridge.worker.ctx.client_for
    lost: list[int] = []
    bridge.worker.ctx.client_for = lambda account: cast(
        SpApiClient, _LostAnswer(client_for(account), lost)
    )
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()
    assert bridge.row(ship_id).status == "pending"  # retried: the outcome was unknown
    bridge.clock.advance(hours=1)
    bridge.drive()

    row = bridge.row(ship_id)
    assert row.status == "done", row.status_message
    sent = bridge.emulator.state.shipments(order.ext_order_id)
    assert [r.edit for r in sent] == [False, True]  # the same package again, not skipped
    assert list(bridge.amazon_order(order).packages) == [str(sent[0].package_reference_id)]
