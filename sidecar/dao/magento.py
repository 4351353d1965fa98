"""Writes into Magento's own tables: order comments and the bridge's custom order statuses.

Magento's order *state* is never touched. A status is set only when it is assigned to the
order's current state in sales_order_status_state (otherwise Magento's admin would show an
order in a status its state does not allow); the state is read from the database at write
time, never from the snapshot (on the admin path the snapshot holds the pre-refund state).
sales_order_grid is updated with sales_order, as Magento refreshes the grid only when it
saves the order itself. Only the two `status` columns change: `updated_at` drives Magento's
asynchronous grid indexing and the "modified" filters of integrations, so it is never touched.

Comments are system comments: `is_customer_notified = 2` (Magento's "not applicable", no
e-mail was or will be sent) and `is_visible_on_front = 0`.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, insert, select, update

from sidecar.clock import utcnow
from sidecar.tables import (
    sales_order,
    sales_order_grid,
    sales_order_status_history,
    sales_order_status_state,
)

PENDING = "amazon_refund_pending"
FAILED = "amazon_refund_failed"
REFUNDED = "amazon_refunded"
CANCELED = "amazon_canceled"
COMMENT_PREFIX = "Amazon refund bridge: "
BRIDGE_SUCCESS_STATUSES = (REFUNDED, CANCELED)
NOTIFY_NOT_APPLICABLE = 2  # sales_order_status_history.is_customer_notified: "not applicable"


def add_comment(
    conn: Connection, order_id: int, comment: str, *, status: str | None = None
) -> None:
    """A history comment on the order; status defaults to the order's current one."""
    if status is None:
        status = conn.execute(
            select(sales_order.c.status).where(sales_order.c.entity_id == order_id)
        ).scalar_one_or_none()
    conn.execute(
        insert(sales_order_status_history).values(
            parent_id=order_id,
            comment=COMMENT_PREFIX + comment,
            status=status,
            is_customer_notified=NOTIFY_NOT_APPLICABLE,
            is_visible_on_front=0,
            entity_name="order",
            created_at=utcnow(),
        )
    )


def set_status(conn: Connection, order_id: int, status: str) -> bool:
    """Set sales_order.status (and the grid copy) if the order's state allows it."""
    row = conn.execute(
        select(sales_order.c.state).where(sales_order.c.entity_id == order_id)
    ).one_or_none()
    if row is None:
        return False
    allowed = conn.execute(
        select(sales_order_status_state.c.status).where(
            and_(
                sales_order_status_state.c.status == status,
                sales_order_status_state.c.state == row.state,
            )
        )
    ).first()
    if allowed is None:
        return False
    _write_status(conn, order_id, status)
    return True


def _write_status(conn: Connection, order_id: int, status: str) -> None:
    # only `status`: ON UPDATE CURRENT_TIMESTAMP would move updated_at, so keep its value
    conn.execute(
        update(sales_order)
        .where(sales_order.c.entity_id == order_id)
        .values(status=status, updated_at=sales_order.c.updated_at)
    )
    conn.execute(
        update(sales_order_grid)
        .where(sales_order_grid.c.entity_id == order_id)
        .values(status=status, updated_at=sales_order_grid.c.updated_at)
    )


def reset_bridge_status(conn: Connection, order_id: int) -> str | None:
    """When the order shows a bridge success status (Amazon refunded / cancelled) and a later
    Amazon call failed, put back the default status of the order's current state; returns
    the status set, or None when nothing changed."""
    row = conn.execute(
        select(sales_order.c.state, sales_order.c.status).where(
            sales_order.c.entity_id == order_id
        )
    ).one_or_none()
    if row is None or row.status not in BRIDGE_SUCCESS_STATUSES:
        return None
    default = conn.execute(
        select(sales_order_status_state.c.status).where(
            and_(
                sales_order_status_state.c.state == row.state,
                sales_order_status_state.c.is_default == 1,
            )
        )
    ).scalar_one_or_none()
    if default is None:
        return None
    _write_status(conn, order_id, default)
    return str(default)


def record(conn: Connection, order_id: int, comment: str, status: str | None = None) -> None:
    """Status change (when allowed) plus a comment carrying the resulting status."""
    if status is not None:
        set_status(conn, order_id, status)
    add_comment(conn, order_id, comment)


def order_exists(conn: Connection, order_id: int) -> bool:
    """Is there a sales_order row with this entity_id (a payload may name one that is not)?"""
    found = conn.execute(
        select(sales_order.c.entity_id).where(sales_order.c.entity_id == order_id)
    ).first()
    return found is not None
