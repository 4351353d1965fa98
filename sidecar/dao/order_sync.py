"""The order sync's SQL: checkpoints per (account, marketplace), the leader lease per account,
the Amazon -> Magento order link, and the changes announced in Magento (each once)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, insert, inspect, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from sidecar.tables import (
    amazon_order,
    current_prefix,
    order_announcement,
    order_sync,
    order_sync_lease,
    sales_order,
)

M2E_TABLES = ("m2epro_amazon_order", "m2epro_order")


@dataclass(frozen=True)
class SyncState:
    account_id: str
    marketplace_id: str
    checkpoint: datetime | None
    covered_from: datetime | None
    pass_after: datetime | None
    pass_before: datetime | None
    page_token: str | None
    pages_stored: int
    orders_stored: int
    passes: int
    last_error: str | None
    updated_at: datetime
    proof_wanted: datetime | None = None

    @property
    def in_pass(self) -> bool:
        return self.pass_after is not None and self.pass_before is not None


# ------------------------------------------------------------------------- the lease


def acquire_lease(engine: Engine, account_id: str, owner: str, now: datetime,
                  ttl: timedelta) -> bool:
    """Take or renew the account's sync lease; False while another worker holds it."""
    expires = now + ttl
    with engine.begin() as conn:
        renewed = conn.execute(
            update(order_sync_lease)
            .where(order_sync_lease.c.account_id == account_id,
                   or_(order_sync_lease.c.owner == owner, order_sync_lease.c.expires_at < now))
            .values(owner=owner, expires_at=expires)
        ).rowcount
        if renewed:
            return True
        exists = conn.execute(
            select(order_sync_lease.c.owner).where(order_sync_lease.c.account_id == account_id)
        ).first()
        if exists is not None:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(order_sync_lease).values(
                    account_id=account_id, owner=owner, expires_at=expires))
        except IntegrityError:
            return False  # another worker inserted it first
        return True


def holds_lease(conn: Connection, account_id: str, owner: str, now: datetime) -> bool:
    """Inside the transaction that stores a page: the fence (the row stays locked)."""
    query = select(order_sync_lease.c.owner).where(
        order_sync_lease.c.account_id == account_id,
        order_sync_lease.c.owner == owner,
        order_sync_lease.c.expires_at >= now,
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return conn.execute(query).first() is not None


def lease_holder(engine: Engine, account_id: str, now: datetime) -> tuple[str, datetime] | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(order_sync_lease.c.owner, order_sync_lease.c.expires_at)
            .where(order_sync_lease.c.account_id == account_id,
                   order_sync_lease.c.expires_at >= now)
        ).first()
    return None if row is None else (row.owner, row.expires_at)


def release_lease(engine: Engine, account_id: str, owner: str) -> None:
    with engine.begin() as conn:
        conn.execute(order_sync_lease.delete().where(
            order_sync_lease.c.account_id == account_id, order_sync_lease.c.owner == owner))


# ------------------------------------------------------------------- checkpoints


def load(conn: Connection, account_id: str, marketplace_id: str) -> SyncState | None:
    row = conn.execute(select(order_sync).where(
        order_sync.c.account_id == account_id, order_sync.c.marketplace_id == marketplace_id
    )).first()
    if row is None:
        return None
    return SyncState(
        account_id=row.account_id, marketplace_id=row.marketplace_id,
        checkpoint=row.checkpoint, covered_from=row.covered_from,
        pass_after=row.pass_after, pass_before=row.pass_before, page_token=row.page_token,
        pages_stored=int(row.pages_stored), orders_stored=int(row.orders_stored),
        passes=int(row.passes), last_error=row.last_error, updated_at=row.updated_at,
        proof_wanted=row.proof_wanted,
    )


def all_states(engine: Engine) -> list[SyncState]:
    with engine.connect() as conn:
        keys = conn.execute(select(order_sync.c.account_id, order_sync.c.marketplace_id)
                            .order_by(order_sync.c.account_id, order_sync.c.marketplace_id)).all()
        return [s for k in keys if (s := load(conn, k.account_id, k.marketplace_id))]


def start_pass(conn: Connection, account_id: str, marketplace_id: str, after: datetime,
               before: datetime, now: datetime) -> None:
    values = {"pass_after": after, "pass_before": before, "page_token": None,
              "pages_stored": 0, "updated_at": now}
    changed = conn.execute(update(order_sync).where(
        order_sync.c.account_id == account_id, order_sync.c.marketplace_id == marketplace_id
    ).values(**values)).rowcount
    if not changed:
        conn.execute(insert(order_sync).values(
            account_id=account_id, marketplace_id=marketplace_id, **values))


def page_stored(conn: Connection, state: SyncState, next_token: str | None, orders: int,
                now: datetime) -> None:
    """Advance after a stored page; the last page completes the pass (checkpoint moves)."""
    where = and_(order_sync.c.account_id == state.account_id,
                 order_sync.c.marketplace_id == state.marketplace_id)
    values: dict[str, object] = {
        "page_token": next_token, "pages_stored": state.pages_stored + 1,
        "orders_stored": state.orders_stored + orders, "last_error": None, "updated_at": now,
    }
    if next_token is None:
        assert state.pass_after is not None
        assert state.pass_before is not None
        gap_free = state.checkpoint is not None and state.pass_after <= state.checkpoint
        covered = (min(state.covered_from or state.pass_after, state.pass_after) if gap_free
                   else state.pass_after)
        checkpoint = max(state.checkpoint or state.pass_before, state.pass_before)
        values.update(checkpoint=checkpoint, covered_from=covered, pass_after=None,
                      pass_before=None, passes=state.passes + 1)
    conn.execute(update(order_sync).where(where).values(**values))


def want_proof(conn: Connection, account_id: str, marketplace_id: str, as_of: datetime) -> None:
    """A credit memo waits for a pass proving ``as_of``: the sync starts one as soon as
    Amazon allows, even before PASS_INTERVAL."""
    conn.execute(update(order_sync).where(
        order_sync.c.account_id == account_id, order_sync.c.marketplace_id == marketplace_id,
        or_(order_sync.c.proof_wanted.is_(None), order_sync.c.proof_wanted < as_of),
    ).values(proof_wanted=as_of))


def restart_pass(conn: Connection, state: SyncState, error: str, now: datetime) -> None:
    """The page token is no longer accepted: the pass restarts at its first page (it may
    repeat orders already stored, never skip one)."""
    conn.execute(update(order_sync).where(
        order_sync.c.account_id == state.account_id,
        order_sync.c.marketplace_id == state.marketplace_id,
    ).values(page_token=None, pages_stored=0, last_error=error[:2000], updated_at=now))


def note_error(engine: Engine, account_id: str, marketplace_id: str, error: str,
               now: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(order_sync).where(
            order_sync.c.account_id == account_id, order_sync.c.marketplace_id == marketplace_id
        ).values(last_error=error[:2000], updated_at=now))


# ------------------------------------------------------------ Magento order link


_M2E_SEEN: dict[str, tuple[float, bool]] = {}
M2E_RECHECK_S = 300.0  # M2E Pro may be installed while the sidecar runs


def _m2e_available(conn: Connection) -> bool:
    key = repr(conn.engine.url)
    seen = _M2E_SEEN.get(key)
    now = time.monotonic()
    if seen is None or now - seen[0] > M2E_RECHECK_S:
        names = set(inspect(conn).get_table_names())
        prefix = current_prefix()
        seen = _M2E_SEEN[key] = (now, all(prefix + t in names for t in M2E_TABLES))
    return seen[1]


def find_magento_order(conn: Connection, amazon_order_id: str) -> int | None:
    """sales_order.ext_order_id, else M2E Pro's own link (when its tables exist)."""
    found = conn.execute(
        select(sales_order.c.entity_id).where(sales_order.c.ext_order_id == amazon_order_id)
        .order_by(sales_order.c.entity_id).limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    if not _m2e_available(conn):
        return None
    prefix = current_prefix()  # M2E Pro's tables carry Magento's table prefix too
    m2e = conn.execute(text(
        f"SELECT o.magento_order_id FROM {prefix}m2epro_amazon_order a "  # noqa: S608 (prefix is checked)
        f"JOIN {prefix}m2epro_order o ON o.id = a.order_id "
        "WHERE a.amazon_order_id = :id AND o.magento_order_id IS NOT NULL "
        "AND o.component_mode = 'amazon' ORDER BY o.id LIMIT 1"
    ), {"id": amazon_order_id}).scalar_one_or_none()
    return None if m2e is None else int(m2e)


def magento_order_state(conn: Connection, order_id: int) -> str | None:
    return conn.execute(
        select(sales_order.c.state).where(sales_order.c.entity_id == order_id)
    ).scalar_one_or_none()


# ------------------------------------------------------------------ announcements


def announced(conn: Connection, amazon_order_id: str) -> set[str]:
    return set(conn.execute(select(order_announcement.c.change_key).where(
        order_announcement.c.amazon_order_id == amazon_order_id)).scalars())


def record_announcement(conn: Connection, amazon_order_id: str, change_key: str,
                        magento_order_id: int | None, comment: str, now: datetime) -> None:
    conn.execute(insert(order_announcement).values(
        amazon_order_id=amazon_order_id, change_key=change_key[:191],
        magento_order_id=magento_order_id, comment=comment, announced_at=now))


def recent_orders(engine: Engine, limit: int = 20) -> list[dict[str, object]]:
    """The product's order list (health page): Amazon's status as last read."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(amazon_order.c.amazon_order_id, amazon_order.c.account_id,
                   amazon_order.c.marketplace_id, amazon_order.c.status,
                   amazon_order.c.buyer_cancel_requested, amazon_order.c.buyer_cancel_reason,
                   amazon_order.c.magento_order_id, amazon_order.c.last_updated_at)
            .order_by(amazon_order.c.last_updated_at.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]
