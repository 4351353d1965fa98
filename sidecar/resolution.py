"""A human settles a refund whose outcome on Amazon could not be known (needs_attention).

--done: the refund is on Amazon; its ledger entries count as confirmed.
--requeue: it is not; the ledger entries are released and the credit memo is decided again.
"""

from __future__ import annotations

from sqlalchemy import Engine, update

from sidecar.clock import utcnow
from sidecar.dao import outbox as outbox_dao
from sidecar.tables import feed_message, ledger


def resolve(engine: Engine, outbox_id: int, *, done: bool, actor: str, reason: str) -> bool:
    # status first: only a needs_attention row may be resolved, and only once
    if not outbox_dao.mark_resolved(
        engine, outbox_id, status="done" if done else "pending", actor=actor, reason=reason
    ):
        return False
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            update(ledger)
            .where(ledger.c.outbox_id == outbox_id, ledger.c.state == "pending")
            .values(state="confirmed" if done else "rejected", updated_at=now)
        )
        conn.execute(
            update(feed_message)
            .where(feed_message.c.outbox_id == outbox_id, feed_message.c.state == "unknown")
            .values(state="accepted" if done else "abandoned",
                    result_message=f"resolved by {actor}: {reason}", updated_at=now)
        )
    return True
