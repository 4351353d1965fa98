"""sidecar.dao.amazon_orders: gift wrap survives the database (sql/mysql/011).

Issue 8 item 13: gift wrap is refunded with its item when the memo credits the whole item.
Without these columns an order read back from the database (the sync's stored state, the
usual case since issue 9) had no gift wrap, and the rule silently refunded none."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine

from sidecar.dao import amazon_orders
from sidecar.domain import AmazonOrderItem, AmazonOrderState, AmazonOrderStatus, FulfillmentChannel

T = datetime(2026, 11, 30, 12, 0, 0)


def test_gift_wrap_is_stored_and_read_back(db: Engine) -> None:
    item = AmazonOrderItem("11111111111111", "MUG-1", 2, 2, Decimal("20.00"), Decimal("3.80"),
                           Decimal("4.99"), Decimal("0.95"), gift_wrap_price=Decimal("3.00"),
                           gift_wrap_tax=Decimal("0.57"))
    state = AmazonOrderState(
        amazon_order_id="302-1111111-1111111", account_id="acct", marketplace_id="M",
        status=AmazonOrderStatus.SHIPPED, fulfillment_channel=FulfillmentChannel.MFN,
        currency="EUR", last_updated=T, fetched_at=T, items=(item,), raw_status="SHIPPED")
    with db.begin() as conn:
        amazon_orders.save_state(conn, state, magento_order_id=None, raw=None)
    with db.connect() as conn:
        back = amazon_orders.load_state(conn, "302-1111111-1111111")
    assert back is not None
    assert (back.items[0].gift_wrap_price, back.items[0].gift_wrap_tax) == (
        Decimal("3.00"), Decimal("0.57"))
