"""Rows as the worker would have left them, for tests of the admin surfaces (app, CLI)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, select

from sidecar.clock import utcnow
from sidecar.tables import audit_log, feed_message, ledger, outbox


def add_outbox_row(
    engine: Engine, entity_id: int, *, status: str = "pending", message: str | None = None,
    error: str | None = None, order_id: int = 100, event_type: str = "creditmemo",
    at: datetime | None = None,
) -> int:
    t = (at or utcnow()).replace(microsecond=0)
    with engine.begin() as conn:
        pk = conn.execute(insert(outbox).values(
            event_type=event_type, entity_id=entity_id, order_id=order_id, payload="{}",
            status=status, status_message=message, last_error=error, available_at=t,
            created_at=t, updated_at=t,
        )).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def add_ledger_row(
    engine: Engine, outbox_id: int, *, state: str = "pending", component: str = "Principal",
    amount: Decimal = Decimal("10.00"), amazon_order_id: str = "302-0000001-0000001",
    feed_message_id: int = 1,
) -> int:
    now = utcnow()
    with engine.begin() as conn:
        pk = conn.execute(insert(ledger).values(
            amazon_order_id=amazon_order_id, order_item_id="00000010000001", component=component,
            amount=amount, quantity=1, cancelled=False, creditmemo_id=outbox_id,
            outbox_id=outbox_id, feed_message_id=feed_message_id, state=state,
            created_at=now, updated_at=now,
        )).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def add_feed_message(engine: Engine, outbox_id: int, *, state: str = "unknown") -> int:
    now = utcnow()
    with engine.begin() as conn:
        pk = conn.execute(insert(feed_message).values(
            outbox_id=outbox_id, account_id="acct", marketplace_id="A1PA6795UKMFR9",
            feed_type="POST_PAYMENT_ADJUSTMENT_DATA", amazon_order_id="302-0000001-0000001",
            magento_order_id=100, decision="{}", state=state, created_at=now, updated_at=now,
        )).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def ledger_states(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(ledger.c.id, ledger.c.state)).all()
    return {int(r[0]): str(r[1]) for r in rows}


def feed_message_row(engine: Engine, message_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(feed_message).where(feed_message.c.id == message_id)).one()
    return dict(row._mapping)


def audit_rows(engine: Engine) -> list[tuple[int, str, str, str]]:
    """(outbox_id, action, actor, reason), oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.outbox_id, audit_log.c.action, audit_log.c.actor,
                   audit_log.c.reason).order_by(audit_log.c.id)
        ).all()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]
