"""Amazon order state as last read from SP-API, and the refund ledger per order item."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from sidecar.clock import utcnow
from sidecar.domain import (
    AmazonOrderItem,
    AmazonOrderState,
    AmazonOrderStatus,
    Cancel,
    Component,
    FulfillmentChannel,
    LedgerEntry,
    Refund,
    RefundLedger,
)
from sidecar.tables import amazon_order, amazon_order_item, ledger

# ledger component for a cancellation line (no money moves: it only counts units)
CANCEL_COMPONENT = "Cancel"
LIVE_LEDGER_STATES = ("pending", "confirmed")
STALE = datetime(2000, 1, 1)


def save_state(
    conn: Connection, state: AmazonOrderState, *, magento_order_id: int | None, raw: str | None
) -> None:
    now = utcnow()
    values: dict[str, object] = {
        "account_id": state.account_id,
        "marketplace_id": state.marketplace_id,
        "status": state.status.value if state.status else state.raw_status or "Unknown",
        "fulfillment_channel": state.fulfillment_channel.value,
        "currency": state.currency,
        "prices_include_tax": state.prices_include_tax,
        "last_updated_at": state.last_updated,
        "fetched_at": state.fetched_at,
        "buyer_cancel_requested": state.buyer_cancel_requested,
        "buyer_cancel_reason": next(
            (i.buyer_cancel_reason for i in state.items if i.buyer_cancel_reason), None
        ),
        "raw": raw,
        "updated_at": now,
    }
    if magento_order_id is not None:
        values["magento_order_id"] = magento_order_id
    exists = conn.execute(
        select(amazon_order.c.amazon_order_id)
        .where(amazon_order.c.amazon_order_id == state.amazon_order_id)
        .with_for_update()
    ).first()
    if exists:
        conn.execute(
            update(amazon_order)
            .where(amazon_order.c.amazon_order_id == state.amazon_order_id)
            .values(**values)
        )
    else:
        conn.execute(
            insert(amazon_order).values(
                amazon_order_id=state.amazon_order_id, created_at=now, **values
            )
        )
    conn.execute(
        delete(amazon_order_item).where(
            amazon_order_item.c.amazon_order_id == state.amazon_order_id
        )
    )
    if state.items:
        conn.execute(
            insert(amazon_order_item),
            [
                {
                    "amazon_order_id": state.amazon_order_id,
                    "order_item_id": i.order_item_id,
                    "seller_sku": i.seller_sku,
                    "quantity_ordered": i.quantity_ordered,
                    "quantity_shipped": i.quantity_shipped,
                    "quantity_canceled": i.quantity_canceled,
                    "item_price": i.item_price,
                    "item_tax": i.item_tax,
                    "shipping_price": i.shipping_price,
                    "shipping_tax": i.shipping_tax,
                    "promotion_discount": i.promotion_discount,
                    "promotion_discount_tax": i.promotion_discount_tax,
                    "shipping_discount": i.shipping_discount,
                    "shipping_discount_tax": i.shipping_discount_tax,
                    "gift_wrap_price": i.gift_wrap_price,
                    "gift_wrap_tax": i.gift_wrap_tax,
                    "buyer_cancel_requested": i.buyer_cancel_requested,
                    "buyer_cancel_reason": i.buyer_cancel_reason,
                    "magento_order_item_id": i.magento_order_item_id,
                }
                for i in state.items
            ],
        )


def load_state(
    conn: Connection, amazon_order_id: str, *, lock: bool = False
) -> AmazonOrderState | None:
    query = select(amazon_order).where(amazon_order.c.amazon_order_id == amazon_order_id)
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).one_or_none()
    if row is None:
        return None
    items = conn.execute(
        select(amazon_order_item)
        .where(amazon_order_item.c.amazon_order_id == amazon_order_id)
        .order_by(amazon_order_item.c.order_item_id)
    ).all()
    try:
        status: AmazonOrderStatus | None = AmazonOrderStatus(row.status)
    except ValueError:
        status = None
    return AmazonOrderState(
        amazon_order_id=row.amazon_order_id,
        account_id=row.account_id,
        marketplace_id=row.marketplace_id,
        status=status,
        fulfillment_channel=FulfillmentChannel(row.fulfillment_channel),
        currency=row.currency,
        last_updated=row.last_updated_at,
        fetched_at=row.fetched_at,
        raw_status=row.status,
        prices_include_tax=None if row.prices_include_tax is None else bool(row.prices_include_tax),
        items=tuple(
            AmazonOrderItem(
                order_item_id=i.order_item_id,
                seller_sku=i.seller_sku,
                quantity_ordered=i.quantity_ordered,
                quantity_shipped=i.quantity_shipped,
                quantity_canceled=i.quantity_canceled,
                item_price=Decimal(i.item_price),
                item_tax=Decimal(i.item_tax),
                shipping_price=Decimal(i.shipping_price),
                shipping_tax=Decimal(i.shipping_tax),
                promotion_discount=Decimal(i.promotion_discount),
                promotion_discount_tax=Decimal(i.promotion_discount_tax),
                shipping_discount=Decimal(i.shipping_discount),
                shipping_discount_tax=Decimal(i.shipping_discount_tax),
                gift_wrap_price=Decimal(i.gift_wrap_price),
                gift_wrap_tax=Decimal(i.gift_wrap_tax),
                buyer_cancel_requested=bool(i.buyer_cancel_requested),
                buyer_cancel_reason=i.buyer_cancel_reason,
                magento_order_item_id=i.magento_order_item_id,
            )
            for i in items
        ),
    )


def mark_stale(conn: Connection, amazon_order_id: str) -> None:
    """The next decision must re-read the order from Amazon (e.g. after a shipment)."""
    conn.execute(
        update(amazon_order)
        .where(amazon_order.c.amazon_order_id == amazon_order_id)
        .values(fetched_at=STALE)
    )


def lock_order(conn: Connection, amazon_order_id: str) -> None:
    """Serialise decisions per Amazon order, so two credit memos cannot both spend one balance."""
    if conn.dialect.name == "sqlite":
        return  # SQLite serialises writers already
    conn.execute(
        select(amazon_order.c.amazon_order_id)
        .where(amazon_order.c.amazon_order_id == amazon_order_id)
        .with_for_update()
    ).first()


def load_ledger(conn: Connection, amazon_order_id: str) -> RefundLedger:
    rows = conn.execute(
        select(ledger).where(
            ledger.c.amazon_order_id == amazon_order_id, ledger.c.state.in_(LIVE_LEDGER_STATES)
        )
    ).all()
    entries = []
    canceled = False
    for r in rows:
        acknowledgement = r.component == CANCEL_COMPONENT
        canceled = canceled or acknowledgement
        # an OrderAcknowledgement cancel counts its units as cancelled units of the item
        entries.append(
            LedgerEntry(
                order_item_id=r.order_item_id,
                component=Component.PRINCIPAL if acknowledgement else Component(r.component),
                amount=Decimal(0) if acknowledgement else Decimal(r.amount),
                quantity=r.quantity,
                cancelled=acknowledgement or bool(r.cancelled),
                confirmed=r.state == "confirmed",
            )
        )
    return RefundLedger(
        entries=tuple(entries),
        creditmemo_ids=frozenset(r.creditmemo_id for r in rows),
        order_canceled_by_us=canceled,
    )


def add_ledger(
    conn: Connection,
    decision: Cancel | Refund,
    *,
    creditmemo_id: int,
    outbox_id: int,
    feed_message_id: int,
) -> None:
    now = utcnow()
    common = {
        "amazon_order_id": decision.amazon_order_id,
        "creditmemo_id": creditmemo_id,
        "outbox_id": outbox_id,
        "feed_message_id": feed_message_id,
        "state": "pending",
        "created_at": now,
        "updated_at": now,
    }
    rows: list[dict[str, object]] = []
    if isinstance(decision, Cancel):
        rows = [
            {
                **common,
                "order_item_id": i.order_item_id,
                "component": CANCEL_COMPONENT,
                "amount": Decimal(0),
                "quantity": i.quantity,
            }
            for i in decision.items
        ]
    else:
        for line in decision.lines:
            units = line.quantity + line.quantity_cancelled
            components = dict(line.components)
            # units are counted once per line, on its Principal entry (RefundLedger.units)
            components.setdefault(Component.PRINCIPAL, Decimal(0))
            for component, amount in components.items():
                rows.append(
                    {
                        **common,
                        "order_item_id": line.order_item_id,
                        "component": component.value,
                        "amount": amount,
                        "quantity": units if component == Component.PRINCIPAL else 0,
                        "cancelled": component == Component.PRINCIPAL
                        and line.quantity_cancelled > 0,
                    }
                )
    if rows:
        conn.execute(insert(ledger), rows)


def settle_ledger(conn: Connection, feed_message_id: int, state: str) -> None:
    """confirmed when Amazon accepted the message, rejected when it refused it."""
    conn.execute(
        update(ledger)
        .where(ledger.c.feed_message_id == feed_message_id)
        .values(state=state, updated_at=utcnow())
    )


def cancelled_units(conn: Connection, amazon_order_id: str) -> dict[str, int]:
    """Units the bridge cancelled (or is cancelling) per Amazon order item: its own
    OrderAcknowledgement cancellations and QuantityCancelled lines, rejected ones excluded.
    A shipment never confirms them (Amazon answers 400)."""
    rows = conn.execute(
        select(ledger.c.order_item_id, func.sum(ledger.c.quantity))
        .where(
            ledger.c.amazon_order_id == amazon_order_id,
            ledger.c.state.in_(LIVE_LEDGER_STATES),
            or_(
                ledger.c.component == CANCEL_COMPONENT,
                and_(ledger.c.component == Component.PRINCIPAL.value, ledger.c.cancelled),
            ),
        )
        .group_by(ledger.c.order_item_id)
    ).all()
    return {str(r[0]): int(r[1] or 0) for r in rows}


def save_synced(
    conn: Connection, state: AmazonOrderState, *, raw: str | None
) -> tuple[AmazonOrderState | None, bool]:
    """Upsert an order read by the order sync: (the state stored before, stored now?).

    A page never overwrites a newer state (a getOrder after the page's read); the Magento
    order link and the item links of the stored state are kept."""
    previous = load_state(conn, state.amazon_order_id, lock=True)
    if previous is not None and previous.last_updated > state.last_updated:
        return previous, False
    links = {i.order_item_id: i.magento_order_item_id for i in (previous.items if previous
                                                                else ())}
    items = tuple(
        replace(i, magento_order_item_id=i.magento_order_item_id or links.get(i.order_item_id))
        for i in state.items
    )
    if previous is not None and previous.fetched_at > state.fetched_at:
        state = replace(state, fetched_at=previous.fetched_at)
    save_state(conn, replace(state, items=items), magento_order_id=None, raw=raw)
    return previous, True


def mark_fresh(conn: Connection, amazon_order_id: str, as_of: datetime) -> None:
    """The sync proved the stored state current as of ``as_of`` (docs/order-sync.md)."""
    conn.execute(
        update(amazon_order)
        .where(amazon_order.c.amazon_order_id == amazon_order_id,
               amazon_order.c.fetched_at < as_of)
        .values(fetched_at=as_of)
    )


def link_magento_order(conn: Connection, amazon_order_id: str, magento_order_id: int) -> None:
    conn.execute(
        update(amazon_order)
        .where(amazon_order.c.amazon_order_id == amazon_order_id,
               amazon_order.c.magento_order_id.is_(None))
        .values(magento_order_id=magento_order_id)
    )


def magento_order_of(conn: Connection, amazon_order_id: str) -> int | None:
    return conn.execute(
        select(amazon_order.c.magento_order_id)
        .where(amazon_order.c.amazon_order_id == amazon_order_id)
    ).scalar_one_or_none()
