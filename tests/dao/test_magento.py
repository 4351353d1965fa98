"""sidecar.dao.magento on the real Magento fixture: system comments, status-only writes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, select, text

from sidecar.dao import magento
from sidecar.tables import sales_order, sales_order_grid, sales_order_status_history
from tests.support.magento_factory import ItemSpec, MagentoFactory, Order

OLD = datetime(2026, 1, 2, 3, 4, 5)
MUG = ItemSpec("MUG-1", 1, Decimal("10.00"), Decimal("1.90"))


def _order(engine: Engine, state: str = "processing") -> Order:
    with engine.begin() as conn:
        order = MagentoFactory(conn).order([MUG], ext_order_id="302-1234567-1234567",
                                           state=state, status=state)
        for table in ("sales_order", "sales_order_grid"):
            conn.execute(text(f"UPDATE {table} SET updated_at = :t WHERE entity_id = :i"),
                         {"t": OLD, "i": order.entity_id})
    return order


def _updated_at(engine: Engine, order: Order) -> tuple[datetime, datetime]:
    with engine.connect() as conn:
        a = conn.execute(select(sales_order.c.updated_at)
                         .where(sales_order.c.entity_id == order.entity_id)).scalar_one()
        b = conn.execute(select(sales_order_grid.c.updated_at)
                         .where(sales_order_grid.c.entity_id == order.entity_id)).scalar_one()
    return a, b


def test_status_change_touches_status_only_never_updated_at(engine: Engine) -> None:
    order = _order(engine)
    with engine.begin() as conn:
        assert magento.set_status(conn, order.entity_id, magento.REFUNDED)
    with engine.connect() as conn:
        status = conn.execute(select(sales_order.c.status, sales_order_grid.c.status)
                              .join(sales_order_grid,
                                    sales_order_grid.c.entity_id == sales_order.c.entity_id)
                              .where(sales_order.c.entity_id == order.entity_id)).one()
    assert tuple(status) == (magento.REFUNDED, magento.REFUNDED)
    assert _updated_at(engine, order) == (OLD, OLD)


def test_comments_are_system_comments(engine: Engine) -> None:
    order = _order(engine)
    with engine.begin() as conn:
        magento.record(conn, order.entity_id, "hello", magento.PENDING)
    with engine.connect() as conn:
        row = conn.execute(select(sales_order_status_history)
                           .where(sales_order_status_history.c.parent_id == order.entity_id)
                           ).one()
    assert (row.is_customer_notified, row.is_visible_on_front) == (2, 0)
    assert row.status == magento.PENDING
    assert _updated_at(engine, order) == (OLD, OLD)


def test_status_write_back_reads_the_current_state_not_the_snapshot(engine: Engine) -> None:
    # the admin path's snapshot says "processing"; Magento has closed the order since, and
    # amazon_canceled is assigned to the closed state only
    order = _order(engine, state="closed")
    with engine.begin() as conn:
        assert magento.set_status(conn, order.entity_id, magento.CANCELED)
    open_order = _order(engine, state="processing")
    with engine.begin() as conn:
        assert not magento.set_status(conn, open_order.entity_id, magento.CANCELED)


def test_reset_bridge_status_puts_back_the_state_default(engine: Engine) -> None:
    order = _order(engine)
    with engine.begin() as conn:
        assert magento.reset_bridge_status(conn, order.entity_id) is None  # not ours
        magento.set_status(conn, order.entity_id, magento.REFUNDED)
        assert magento.reset_bridge_status(conn, order.entity_id) == "processing"
    assert _updated_at(engine, order) == (OLD, OLD)
