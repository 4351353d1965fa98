"""A human settles a refund whose outcome on Amazon could not be known (needs_attention).

--done: the refund is on Amazon; its ledger entries count as confirmed.
--requeue: it is not; the ledger entries are released and the credit memo is decided again.
"""

from __future__ import annotations

from sqlalchemy import Engine, update

from sidecar.clock import utcnow
from sidecar.dao import outbox as outbox_dao
from sidecar.db import retry_transient
from sidecar.tables import feed_message, ledger


def resolve(engine: Engine, outbox_id: int, *, done: bool, actor: str, reason: str) -> bool:
    """One transaction: the status change, its audit row and the ledger / feed message update
    commit together. (Were they separate, a crash in between would leave a requeued row with
    its ledger entries still live, and the credit memo would be skipped as already sent.)"""

    def run() -> bool:
        with engine.begin() as conn:
            # status first: only a needs_attention row may be resolved, and only once
            if not outbox_dao.mark_resolved_in(
                conn,
                outbox_id,
                status="done" if done else "pending",
                actor=actor,
                reason=reason,
            ):
                return False
            now = utcnow()
            conn.execute(
                update(ledger)
                .where(ledger.c.outbox_id == outbox_id, ledger.c.state == "pending")
                .values(state="confirmed" if done else "rejected", updated_at=now)
            )
            conn.execute(
                update(feed_message)
                .where(feed_message.c.outbox_id == outbox_id, feed_message.c.state == "unknown")
                .values(
                    state="accepted" if done else "abandoned",
                    result_message=f"resolved by {actor}: {reason}",
                    updated_at=now,
                )
            )
        return True

    return retry_transient(run)
