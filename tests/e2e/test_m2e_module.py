"""An M2E Pro-imported order through the module's real resolver (observe.php), end to end.

The order's Amazon ids live only where M2E Pro keeps them (payment additional_information,
m2epro_order/m2epro_amazon_order, sales_order_item.additional_data): no ext_order_id, and a
Magento SKU that differs from Amazon's, so the bridge can only succeed through the snapshot's
resolved ids (issue 6 §1, §4)."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.conftest import Bridge
from tests.support.magento_factory import ItemSpec, MagentoFactory, Order
from tests.support.module import m2epro_import, run_observer

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")


def _m2e_memo(bridge: Bridge, refund_mode: int) -> tuple[Order, int]:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    item = bridge.amazon_item(order, "MUG-1")
    with bridge.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE sales_order_item SET ext_order_item_id = NULL, sku = 'MAGENTO-MUG' "
            f"WHERE item_id = {order.items['MUG-1']}"
        )
        m2epro_import(
            conn, order.entity_id, order.ext_order_id or "", refund_mode=refund_mode,
            order_item_ids={order.items["MUG-1"]: item},
        )
        memo_id = MagentoFactory(conn).creditmemo(order, {"MUG-1": 1})
    row_id = run_observer(bridge.url, "creditmemo", memo_id)
    assert row_id is not None
    return order, row_id


def test_m2e_import_with_its_refund_off_is_refunded_by_the_bridge(bridge: Bridge) -> None:
    order, row_id = _m2e_memo(bridge, 0)
    bridge.drive()
    assert bridge.row(row_id).status == "done"
    assert bridge.refunds(order, "MUG-1").amount("Principal") == D("10.00")


def test_m2e_import_with_its_refund_on_gets_nothing(bridge: Bridge) -> None:
    _, row_id = _m2e_memo(bridge, 1)
    bridge.drive()
    row = bridge.row(row_id)
    assert row.status == "skipped"
    assert "Cancel or Refund if Credit Memo is Created" in (row.status_message or "")
    assert bridge.emulator.state.all_feeds() == []
