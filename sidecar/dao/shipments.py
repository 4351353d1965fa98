"""Packages the bridge confirmed to Amazon (refund_bridge_shipment_package)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update

from sidecar.clock import utcnow
from sidecar.tables import shipment_package


@dataclass(frozen=True)
class Package:
    shipment_id: int
    amazon_order_id: str
    package_reference_id: str
    items: tuple[tuple[str, int], ...]  # (orderItemId, quantity) as confirmed
    tracking_number: str | None
    state: str = "confirmed"  # sending: the first confirmShipment may have reached Amazon


def get(conn: Connection, shipment_id: int) -> Package | None:
    row = conn.execute(
        select(shipment_package).where(shipment_package.c.shipment_id == shipment_id)
    ).one_or_none()
    if row is None:
        return None
    items = tuple((str(i["orderItemId"]), int(i["quantity"])) for i in json.loads(row.order_items))
    return Package(
        shipment_id=row.shipment_id,
        amazon_order_id=row.amazon_order_id,
        package_reference_id=row.package_reference_id,
        items=items,
        tracking_number=row.tracking_number,
        state=row.state,
    )


def save(
    conn: Connection,
    *,
    shipment_id: int,
    amazon_order_id: str,
    account_id: str,
    package_reference_id: str,
    items: tuple[tuple[str, int], ...],
    tracking_number: str | None,
    state: str = "confirmed",
) -> None:
    """Record a package about to be sent (state sending) or confirmed, or its new tracking
    number after an edit."""
    now = utcnow()
    order_items = json.dumps([{"orderItemId": c, "quantity": q} for c, q in items])
    done = conn.execute(
        update(shipment_package)
        .where(shipment_package.c.shipment_id == shipment_id)
        .values(
            order_items=order_items, tracking_number=tracking_number, state=state, updated_at=now
        )
    )
    if done.rowcount == 0:
        conn.execute(
            insert(shipment_package).values(
                shipment_id=shipment_id,
                amazon_order_id=amazon_order_id,
                account_id=account_id,
                package_reference_id=package_reference_id,
                order_items=order_items,
                tracking_number=tracking_number,
                state=state,
                confirmed_at=now,
                updated_at=now,
            )
        )


def forget_unsent(conn: Connection, shipment_id: int) -> None:
    """Amazon refused the first confirmation: no package of this shipment exists there."""
    conn.execute(
        delete(shipment_package).where(
            shipment_package.c.shipment_id == shipment_id, shipment_package.c.state == "sending"
        )
    )
