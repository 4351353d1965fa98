"""The outbox `refund_bridge_outbox`: claim, fenced status changes, reaper, admin actions.

All outbox SQL lives here (SQLAlchemy 2 Core). It runs on MariaDB 10.6+ / MySQL 8.0.1+
(READ COMMITTED sessions in UTC, see sidecar.db.make_engine) and on SQLite for the embedded
demo, where `FOR UPDATE SKIP LOCKED` is simply omitted because SQLite serialises writers.

Statuses (sql/README.md documents each, with DBA queries):

    pending          waiting to be claimed; `available_at` in the future = retry backoff / defer
    processing       leased by one worker (lease_owner, lease_token, lease_expires_at)
    submitted        handed to a feed, waiting for Amazon's processing report; no lease
    done             finished                                           (terminal)
    skipped          nothing to do for Amazon (rule said so)            (terminal)
    rejected         Amazon or a rule refused it                        (terminal)
    dead             gave up after max attempts, or poison payload      (terminal)
    needs_attention  unknown outcome, parked for a human                (terminal)

Concurrency contract:

* `claim` is one short transaction: `SELECT id ... FOR UPDATE SKIP LOCKED` then `UPDATE` to
  processing with a fresh uuid4 lease token (one token per claimed batch; every fenced write
  matches id AND token AND status, so a shared token is as strong as one per row).
* Every later write by a worker is fenced: `UPDATE ... WHERE id=:id AND lease_token=:token AND
  status='processing'`; it returns False when the lease was lost (reaped and possibly claimed
  by someone else), and the caller must then do nothing more with the row.
* On SQLite (no row locks) the claim UPDATE is also fenced on `status='pending'`, and the
  claimed rows are always read back by token, so no row is ever claimed twice there either.

Times are naive UTC datetimes (sidecar.clock.utcnow). The outbox columns are TIMESTAMP with
second precision on MySQL (they are also declared in Magento's db_schema.xml), so `now` is
floored to the second and future deadlines (lease end, retry time) are rounded up. Every
function takes `now` so tests can move time instead of sleeping; SQL NOW() is never used.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    String,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)

from sidecar.clock import utcnow
from sidecar.db import retry_transient, scrub_sql
from sidecar.tables import audit_log, outbox

T = TypeVar("T")

PENDING: Final = "pending"
PROCESSING: Final = "processing"
SUBMITTED: Final = "submitted"
DONE: Final = "done"
SKIPPED: Final = "skipped"
REJECTED: Final = "rejected"
DEAD: Final = "dead"
NEEDS_ATTENTION: Final = "needs_attention"

STATUSES: Final[tuple[str, ...]] = (
    PENDING, PROCESSING, SUBMITTED, DONE, SKIPPED, REJECTED, DEAD, NEEDS_ATTENTION,
)
TERMINAL: Final = frozenset({DONE, SKIPPED, REJECTED, DEAD, NEEDS_ATTENTION})
# what a lease holder may set with complete(): every terminal status, or hand-off to a feed
COMPLETE_STATUSES: Final = TERMINAL | {SUBMITTED}
# what the feed tracker may set on a submitted row once Amazon's report is in (or not)
SETTLE_STATUSES: Final = TERMINAL | {PENDING}
# what an operator may send back to pending with requeue(); a needs_attention row is
# settled with resolve (its refund may be on Amazon, and its ledger entries still count)
REQUEUEABLE: Final = frozenset({DEAD, REJECTED, SKIPPED})
RESOLVE_STATUSES: Final = frozenset({DONE, PENDING})

# TEXT holds 65,535 bytes; 4-byte utf8mb4 characters * 8,000 stays well below it, so a huge
# error (an HTML error page, a traceback) can never make a status write fail.
MAX_TEXT: Final = 8000
MAX_OWNER: Final = 128  # lease_owner / audit actor VARCHAR(128)


class NeedsResolution(ValueError):
    """requeue() was asked for needs_attention rows: only resolve may settle them."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        listed = ", ".join(map(str, ids))
        example = ids[0] if ids else "ID"
        super().__init__(
            f"outbox row(s) {listed} need(s) attention: the refund may already be on Amazon, "
            "and a requeue would neither resend it nor free its amount. Check the order in "
            f"Seller Central, then `sidecar outbox resolve {example} --done --reason ...` "
            f"(it is there) or `sidecar outbox resolve {example} --requeue --reason ...` "
            "(it is not; it is decided and sent again). Nothing was changed."
        )


class LeaseError(ValueError):
    """A fenced write was attempted with a row that never held a lease (a programming error)."""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    event_type: str
    entity_id: int
    order_id: int
    payload: str = field(repr=False)
    status: str
    attempts: int
    available_at: datetime
    lease_owner: str | None
    lease_token: str | None
    lease_expires_at: datetime | None
    status_message: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mapping(cls, m: Mapping[Any, Any]) -> OutboxRow:
        return cls(
            id=int(m["id"]),
            event_type=str(m["event_type"]),
            entity_id=int(m["entity_id"]),
            order_id=int(m["order_id"]),
            payload=str(m["payload"]),
            status=str(m["status"]),
            attempts=int(m["attempts"]),
            available_at=m["available_at"],
            lease_owner=m["lease_owner"],
            lease_token=m["lease_token"],
            lease_expires_at=m["lease_expires_at"],
            status_message=m["status_message"],
            last_error=m["last_error"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


# ------------------------------------------------------------------------ helpers


def _floor(dt: datetime) -> datetime:
    return dt.replace(microsecond=0)


def _ceil(dt: datetime) -> datetime:
    return dt if dt.microsecond == 0 else dt.replace(microsecond=0) + timedelta(seconds=1)


def _now(now: datetime | None) -> datetime:
    value = utcnow() if now is None else now
    if value.tzinfo is not None:
        raise ValueError("pass naive UTC datetimes (sidecar.clock.utcnow)")
    return _floor(value)


def _clip(text: str | None) -> str | None:
    """Every message written: SQL statement text dropped (scrub_sql), then length-capped."""
    text = scrub_sql(text)
    if text is None or len(text) <= MAX_TEXT:
        return text
    return text[: MAX_TEXT - 20] + " ...[truncated]"


def _check_name(what: str, value: str) -> None:
    if not value or len(value) > MAX_OWNER:
        raise ValueError(f"{what} must be 1..{MAX_OWNER} characters, got {value!r}")


def _is_mysql(conn: Connection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


def _in_tx(engine: Engine, fn: Callable[[Connection], T]) -> T:
    """Run fn in one transaction, again on deadlock / lock wait timeout / snapshot conflict."""

    def run() -> T:
        with engine.begin() as conn:
            return fn(conn)

    return retry_transient(run)


def _fence(row: OutboxRow) -> ColumnElement[bool]:
    if row.lease_token is None:
        # `lease_token == None` would render IS NULL and match every unleased row
        raise LeaseError(f"outbox row {row.id} has no lease token; claim it first")
    return and_(
        outbox.c.id == row.id,
        outbox.c.lease_token == row.lease_token,
        outbox.c.status == PROCESSING,
    )


_CLEAR_LEASE: Final[dict[str, None]] = {
    "lease_owner": None, "lease_token": None, "lease_expires_at": None,
}


def backoff_seconds(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempt-1))).

    `attempt` is the number of the attempt that just failed (1 for the first).
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1, got {attempt}")
    if base <= 0 or cap <= 0:
        raise ValueError(f"base and cap must be > 0, got base={base} cap={cap}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return rng.uniform(0.0, ceiling)


_default_rng = random.Random()


# -------------------------------------------------------------------------- claim


def claim_in(
    conn: Connection, worker_id: str, *, batch_size: int, lease_seconds: float,
    now: datetime | None = None,
) -> list[OutboxRow]:
    """Claim up to batch_size due pending rows inside the caller's (short!) transaction."""
    _check_name("worker_id", worker_id)
    if batch_size < 1 or lease_seconds <= 0:
        raise ValueError("batch_size must be >= 1 and lease_seconds > 0")
    t = _now(now)
    pick = (
        select(outbox.c.id)
        .where(outbox.c.status == PENDING, outbox.c.available_at <= t)
        .order_by(outbox.c.available_at, outbox.c.id)
        .limit(batch_size)
    )
    if _is_mysql(conn):
        pick = pick.with_for_update(skip_locked=True)
    ids = [int(i) for i in conn.execute(pick).scalars()]
    if not ids:
        return []
    token = str(uuid.uuid4())
    take = update(outbox).where(outbox.c.id.in_(ids))
    if not _is_mysql(conn):
        # SQLite: the SELECT locked nothing, so fence on what it saw. On MySQL the rows are
        # ours (FOR UPDATE), and the WHERE must stay on the primary key alone: with status /
        # available_at in it the optimizer may walk the (status, available_at, id) index
        # instead and lock pending rows that other workers then skip.
        take = take.where(outbox.c.status == PENDING, outbox.c.available_at <= t)
    conn.execute(
        take.values(
            status=PROCESSING,
            lease_owner=worker_id,
            lease_token=token,
            lease_expires_at=t + timedelta(seconds=math.ceil(lease_seconds)),
            attempts=outbox.c.attempts + 1,
            updated_at=t,
        )
    )
    got = conn.execute(select(outbox).where(outbox.c.id.in_(ids), outbox.c.lease_token == token))
    by_id = {r.id: OutboxRow.from_mapping(r._mapping) for r in got}
    return [by_id[i] for i in ids if i in by_id]


def claim(
    engine: Engine, worker_id: str, *, batch_size: int, lease_seconds: float,
    now: datetime | None = None,
) -> list[OutboxRow]:
    """Lease up to batch_size due pending rows to worker_id (one short transaction)."""
    return _in_tx(
        engine,
        lambda c: claim_in(c, worker_id, batch_size=batch_size, lease_seconds=lease_seconds,
                           now=now),
    )


# ----------------------------------------------------------------- fenced writes


def complete_in(
    conn: Connection, row: OutboxRow, status: str, message: str, *,
    error: str | None = None, now: datetime | None = None,
) -> bool:
    """Lease holder sets a terminal status or 'submitted' and drops the lease.

    Fenced: False means the lease was lost and nothing was written. `error` (optional) also
    sets last_error, e.g. for 'dead'.
    """
    if status not in COMPLETE_STATUSES:
        raise ValueError(f"complete() cannot set {status!r}; one of {sorted(COMPLETE_STATUSES)}")
    values: dict[str, Any] = {
        "status": status, "status_message": _clip(message), "updated_at": _now(now),
        **_CLEAR_LEASE,
    }
    if error is not None:
        values["last_error"] = _clip(error)
    return conn.execute(update(outbox).where(_fence(row)).values(**values)).rowcount == 1


def complete(
    engine: Engine, row: OutboxRow, status: str, message: str, *,
    error: str | None = None, now: datetime | None = None,
) -> bool:
    return _in_tx(engine, lambda c: complete_in(c, row, status, message, error=error, now=now))


def retry_in(
    conn: Connection, row: OutboxRow, error: str, *, max_attempts: int, base_seconds: float,
    max_seconds: float, now: datetime | None = None, rng: random.Random | None = None,
) -> bool:
    """Back to pending after an exponential, jittered, capped delay; dead once
    row.attempts >= max_attempts ("gave up after N attempts: <error>"). Fenced."""
    t = _now(now)
    values: dict[str, Any]
    if row.attempts >= max_attempts:
        values = {
            "status": DEAD,
            "status_message": _clip(f"gave up after {row.attempts} attempts: {error}"),
        }
    else:
        delay = backoff_seconds(row.attempts, base_seconds, max_seconds, rng or _default_rng)
        at = _ceil(t + timedelta(seconds=delay))
        values = {
            "status": PENDING,
            "available_at": at,
            "status_message": _clip(
                f"attempt {row.attempts}/{max_attempts} failed, retry at "
                f"{at:%Y-%m-%d %H:%M:%S} UTC: {error}"
            ),
        }
    values.update(last_error=_clip(error), updated_at=t, **_CLEAR_LEASE)
    return conn.execute(update(outbox).where(_fence(row)).values(**values)).rowcount == 1


def retry(
    engine: Engine, row: OutboxRow, error: str, *, max_attempts: int, base_seconds: float,
    max_seconds: float, now: datetime | None = None, rng: random.Random | None = None,
) -> bool:
    return _in_tx(
        engine,
        lambda c: retry_in(c, row, error, max_attempts=max_attempts, base_seconds=base_seconds,
                           max_seconds=max_seconds, now=now, rng=rng),
    )


def defer_in(
    conn: Connection, row: OutboxRow, until: datetime, message: str, *,
    now: datetime | None = None, count_attempt: bool = False,
) -> bool:
    """Back to pending at `until` without counting this attempt (a rule said "wait"), or
    counting it (count_attempt: the claim's increment stays). Fenced."""
    if until.tzinfo is not None:
        raise ValueError("pass naive UTC datetimes (sidecar.clock.utcnow)")
    values: dict[str, Any] = {
        "status": PENDING,
        "available_at": _ceil(until),
        "status_message": _clip(message),
        "updated_at": _now(now),
        **_CLEAR_LEASE,
    }
    if not count_attempt:
        # undo the claim's increment (unsigned column: never go below 0)
        values["attempts"] = case((outbox.c.attempts > 0, outbox.c.attempts - 1), else_=0)
    return conn.execute(update(outbox).where(_fence(row)).values(**values)).rowcount == 1


def defer(
    engine: Engine, row: OutboxRow, until: datetime, message: str, *,
    now: datetime | None = None, count_attempt: bool = False,
) -> bool:
    return _in_tx(
        engine,
        lambda c: defer_in(c, row, until, message, now=now, count_attempt=count_attempt),
    )


def extend_lease_in(
    conn: Connection, row: OutboxRow, *, lease_seconds: float, now: datetime | None = None,
) -> bool:
    """Push the lease end to now + lease_seconds while still holding it. Fenced."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be > 0")
    t = _now(now)
    stmt = update(outbox).where(_fence(row)).values(
        lease_expires_at=t + timedelta(seconds=math.ceil(lease_seconds)), updated_at=t
    )
    return conn.execute(stmt).rowcount == 1


def extend_lease(
    engine: Engine, row: OutboxRow, *, lease_seconds: float, now: datetime | None = None,
) -> bool:
    return _in_tx(engine, lambda c: extend_lease_in(c, row, lease_seconds=lease_seconds, now=now))


def settle_submitted_in(
    conn: Connection, outbox_id: int, status: str, message: str, *,
    error: str | None = None, now: datetime | None = None,
) -> bool:
    """A 'submitted' row (no lease) gets its final status once Amazon's report is read, or
    goes back to pending to be sent again. Fenced on status='submitted'."""
    if status not in SETTLE_STATUSES:
        raise ValueError(f"cannot settle a submitted row as {status!r}")
    t = _now(now)
    values: dict[str, Any] = {"status": status, "status_message": _clip(message), "updated_at": t}
    if status == PENDING:
        values["available_at"] = t
    if error is not None:
        values["last_error"] = _clip(error)
    stmt = (
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == SUBMITTED)
        .values(**values)
    )
    return conn.execute(stmt).rowcount == 1


def settle_submitted(
    engine: Engine, outbox_id: int, status: str, message: str, *,
    error: str | None = None, now: datetime | None = None,
) -> bool:
    return _in_tx(
        engine, lambda c: settle_submitted_in(c, outbox_id, status, message, error=error, now=now)
    )


# ------------------------------------------------------------------------ reaper


def reap_expired_in(
    conn: Connection, *, now: datetime | None = None, max_attempts: int | None = None,
) -> int:
    """Processing rows whose lease ended go back to pending (due at once), or to dead when
    they already used max_attempts claims. Returns how many rows were freed."""
    t = _now(now)
    expired = and_(outbox.c.status == PROCESSING, outbox.c.lease_expires_at < t)
    lost = (
        literal("lease expired (worker ")
        + func.coalesce(outbox.c.lease_owner, "?")
        + literal(" lost it)")
    )
    # MySQL evaluates SET assignments left to right, each seeing the previous ones: the
    # messages that read lease_owner must come before lease_owner is cleared.
    clear = [(outbox.c.lease_owner, None), (outbox.c.lease_token, None),
             (outbox.c.lease_expires_at, None), (outbox.c.updated_at, t)]
    freed = 0
    if max_attempts is not None:
        gave_up = (
            literal("gave up after ") + cast(outbox.c.attempts, String) + literal(" attempts: ")
            + lost
        )
        freed += conn.execute(
            update(outbox)
            .where(expired, outbox.c.attempts >= max_attempts)
            .ordered_values(
                (outbox.c.status_message, gave_up), (outbox.c.last_error, lost),
                (outbox.c.status, DEAD), *clear,
            )
        ).rowcount
    freed += conn.execute(
        update(outbox)
        .where(expired)
        .ordered_values(
            (outbox.c.status_message, lost), (outbox.c.last_error, lost),
            (outbox.c.status, PENDING), (outbox.c.available_at, t), *clear,
        )
    ).rowcount
    return freed


def reap_expired(
    engine: Engine, now: datetime | None = None, *, max_attempts: int | None = None,
) -> int:
    return _in_tx(engine, lambda c: reap_expired_in(c, now=now, max_attempts=max_attempts))


# ----------------------------------------------------------------- admin actions


def _audit(
    conn: Connection, entries: list[tuple[int, str, str]], *, actor: str, created_at: datetime,
) -> None:
    if entries:
        conn.execute(
            insert(audit_log),
            [
                {"outbox_id": oid, "action": action, "actor": actor, "reason": _clip(reason),
                 "created_at": created_at}
                for oid, action, reason in entries
            ],
        )


def _check_admin(actor: str, reason: str) -> None:
    _check_name("actor", actor)
    if not reason.strip():
        raise ValueError("a reason is required")


def requeue_in(
    conn: Connection, ids: Iterable[int] | None = None, *, status: str | None = None,
    actor: str, reason: str, limit: int | None = None, now: datetime | None = None,
) -> list[int]:
    """requeue() inside the caller's transaction."""
    if (ids is None) == (status is None):
        raise ValueError("pass either ids or status")
    if status == NEEDS_ATTENTION:
        raise NeedsResolution([])
    if status is not None and status not in REQUEUEABLE:
        raise ValueError(f"cannot requeue {status!r} rows; one of {sorted(REQUEUEABLE)}")
    _check_admin(actor, reason)
    stamp = utcnow() if now is None else now
    t = _now(stamp)
    pick = select(outbox.c.id, outbox.c.status).order_by(outbox.c.id)
    if ids is not None:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return []
        parked = [
            int(r[0]) for r in conn.execute(
                select(outbox.c.id).where(
                    outbox.c.id.in_(wanted), outbox.c.status == NEEDS_ATTENTION
                ).order_by(outbox.c.id)
            )
        ]
        if parked:
            raise NeedsResolution(parked)
        pick = pick.where(outbox.c.id.in_(wanted), outbox.c.status.in_(REQUEUEABLE))
    else:
        pick = pick.where(outbox.c.status == status)
    if limit is not None:
        pick = pick.limit(limit)
    if _is_mysql(conn):
        pick = pick.with_for_update()
    done: list[int] = []
    entries: list[tuple[int, str, str]] = []
    for oid, old in conn.execute(pick).all():
        changed = conn.execute(
            update(outbox)
            .where(outbox.c.id == oid, outbox.c.status == old)  # fenced for SQLite too
            .values(
                status=PENDING, attempts=0, available_at=t, updated_at=t,
                status_message=_clip(f"requeued by {actor} (was {old}): {reason}"),
                **_CLEAR_LEASE,
            )
        ).rowcount
        if changed == 1:
            done.append(int(oid))
            entries.append((int(oid), "requeue", f"{reason} (was {old})"))
    _audit(conn, entries, actor=actor, created_at=stamp)
    return done


def requeue(
    engine: Engine, ids: Iterable[int] | None = None, *, status: str | None = None,
    actor: str, reason: str, limit: int | None = None, now: datetime | None = None,
) -> list[int]:
    """Send dead / rejected / skipped rows back to pending with their attempts reset; one
    audit-log row each. Pass either ids or a status filter. Rows in any other status are
    left alone. Returns the ids requeued. needs_attention rows are refused with
    :class:`NeedsResolution` (nothing changes): `resolve` settles them."""
    wanted = None if ids is None else list(ids)  # an iterator must survive a retry
    return _in_tx(
        engine,
        lambda c: requeue_in(c, wanted, status=status, actor=actor, reason=reason, limit=limit,
                             now=now),
    )


def mark_resolved_in(
    conn: Connection, outbox_id: int, *, status: str, actor: str, reason: str,
    now: datetime | None = None,
) -> bool:
    """mark_resolved() inside the caller's transaction (e.g. with the ledger update)."""
    if status not in RESOLVE_STATUSES:
        raise ValueError(f"resolve to 'done' or 'pending', not {status!r}")
    _check_admin(actor, reason)
    stamp = utcnow() if now is None else now
    t = _now(stamp)
    values: dict[str, Any] = {
        "status": status, "updated_at": t,
        "status_message": _clip(f"resolved as {status} by {actor}: {reason}"),
        **_CLEAR_LEASE,
    }
    if status == PENDING:
        values.update(attempts=0, available_at=t)
    changed = conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == NEEDS_ATTENTION)
        .values(**values)
    ).rowcount
    if changed != 1:
        return False
    action = "resolve_done" if status == DONE else "resolve_requeue"
    _audit(conn, [(outbox_id, action, reason)], actor=actor, created_at=stamp)
    return True


def mark_resolved(
    engine: Engine, outbox_id: int, *, status: str, actor: str, reason: str,
    now: datetime | None = None,
) -> bool:
    """A human settles a needs_attention row: 'done' (it did happen on Amazon) or 'pending'
    (process it again, attempts reset). Audit-logged. False if the row is not
    needs_attention."""
    return _in_tx(
        engine,
        lambda c: mark_resolved_in(c, outbox_id, status=status, actor=actor, reason=reason,
                                   now=now),
    )


# -------------------------------------------------------------------- inspection


def status_counts(engine: Engine) -> dict[str, int]:
    """Rows per status; every known status is present (0 when empty), unknown ones too."""
    with engine.connect() as conn:
        found = conn.execute(
            select(outbox.c.status, func.count()).group_by(outbox.c.status)
        ).all()
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({str(s): int(n) for s, n in found})
    return counts


def oldest_pending_age_seconds(engine: Engine, now: datetime | None = None) -> float | None:
    """How long the longest-waiting due pending row has been claimable (now - available_at);
    rows still backing off (available_at in the future) do not count. None if none is due."""
    current = utcnow() if now is None else now
    with engine.connect() as conn:
        oldest = conn.execute(
            select(func.min(outbox.c.available_at)).where(
                outbox.c.status == PENDING, outbox.c.available_at <= _now(current)
            )
        ).scalar_one_or_none()
    if oldest is None:
        return None
    return max(0.0, float((current - oldest).total_seconds()))


def claimable_exists(engine: Engine, now: datetime, event_type: str = "creditmemo") -> bool:
    """Whether a row of `event_type` is claimable now (pending, available_at <= now): the feed
    planner holds a group while the backlog is still being decided (docs/feeds.md). Rows
    backing off or deferred to the future do not count. Walks the claim index (status,
    available_at, id) and stops at the first match."""
    with engine.connect() as conn:
        found = conn.execute(
            select(outbox.c.id)
            .where(
                outbox.c.status == PENDING,
                outbox.c.available_at <= _now(now),
                outbox.c.event_type == event_type,
            )
            .limit(1)
        ).first()
    return found is not None


def list_rows(engine: Engine, status: str | None = None, limit: int = 50) -> list[OutboxRow]:
    """Newest first."""
    stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(outbox.c.status == status)
    with engine.connect() as conn:
        return [OutboxRow.from_mapping(r._mapping) for r in conn.execute(stmt)]


def get(engine: Engine, outbox_id: int) -> OutboxRow | None:
    with engine.connect() as conn:
        r = conn.execute(select(outbox).where(outbox.c.id == outbox_id)).first()
    return None if r is None else OutboxRow.from_mapping(r._mapping)


def open_events_before(
    conn: Connection, *, order_id: int, event_type: str, before_id: int,
) -> list[int]:
    """entity_ids of the order's earlier events of this type still pending or processing
    (e.g. a credit memo waits for an earlier shipment to be confirmed first)."""
    rows = conn.execute(
        select(outbox.c.entity_id)
        .where(
            outbox.c.order_id == order_id,
            outbox.c.event_type == event_type,
            outbox.c.id < before_id,
            outbox.c.status.in_((PENDING, PROCESSING)),
        )
        .order_by(outbox.c.id)
    ).scalars()
    return [int(e) for e in rows]
