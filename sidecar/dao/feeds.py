"""Feeds and feed messages: batching, the persisted state machine, per-message results."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from sidecar.clock import utcnow
from sidecar.db import retry_transient, scrub_sql
from sidecar.tables import feed, feed_message

ACTIVE_STATES = ("planned", "document_created", "uploaded", "submitting", "submitted")
TERMINAL_STATES = ("done", "cancelled", "fatal", "unknown")
# a feed in one of these states no longer holds its in-flight slot (its feedId is stored,
# or it ended): the next feed of the slot may be planned
SLOT_FREE_STATES = frozenset(("submitted", *TERMINAL_STATES))


def slot_of(seller_id: str, feed_type: str, marketplace_id: str) -> str:
    """The in-flight slot of a group. Keyed by the seller, not the account name: getFeeds
    shows a seller's feeds of every account configured for it, so two accounts of one
    seller and marketplace must not have createFeed answers outstanding at once either."""
    return f"{seller_id}|{feed_type}|{marketplace_id}"


@dataclass(frozen=True)
class FeedRow:
    id: int
    account_id: str
    feed_type: str
    marketplace_id: str
    state: str
    content: str
    message_count: int
    document_id: str | None
    upload_url: str | None = field(repr=False)  # presigned: credentials in its query
    amazon_feed_id: str | None
    result_document_id: str | None
    submit_started_at: datetime | None
    attempts: int  # failures since the feed last moved (the backoff)
    lease_token: str
    created_at: datetime
    inflight_slot: str | None = None
    submitted_at: datetime | None = None
    processing_status: str | None = None
    submit_attempts: int = 0
    poll_attempts: int = 0
    report_attempts: int = 0


@dataclass(frozen=True)
class MessageRow:
    id: int
    outbox_id: int
    amazon_order_id: str
    magento_order_id: int
    decision: str
    message_id: int | None
    state: str


def _skip_locked(conn: Connection, query: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return query
    return query.with_for_update(skip_locked=True)


def add_message(
    conn: Connection,
    *,
    outbox_id: int,
    account_id: str,
    marketplace_id: str,
    feed_type: str,
    amazon_order_id: str,
    magento_order_id: int,
    decision_json: str,
    now: datetime | None = None,
) -> int:
    """One message waiting for a feed; `now` is the worker's clock (created_at is how long
    it has waited: docs/feeds.md, when a feed is planned)."""
    now = utcnow() if now is None else now
    result = conn.execute(
        insert(feed_message).values(
            outbox_id=outbox_id,
            account_id=account_id,
            marketplace_id=marketplace_id,
            feed_type=feed_type,
            amazon_order_id=amazon_order_id,
            magento_order_id=magento_order_id,
            decision=decision_json,
            state="planned",
            created_at=now,
            updated_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


@dataclass(frozen=True)
class PlannedGroup:
    """Messages waiting for a feed, per (account, feed type, marketplace)."""

    account_id: str
    feed_type: str
    marketplace_id: str
    count: int
    size: int  # bytes of the waiting decisions' JSON: an estimate of the feed's size
    oldest: datetime  # created_at of the longest-waiting message (the worker's clock)


def planned_groups(engine: Engine) -> list[PlannedGroup]:
    """The groups with messages waiting for a feed (state planned)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                feed_message.c.account_id,
                feed_message.c.feed_type,
                feed_message.c.marketplace_id,
                func.count(),
                func.coalesce(func.sum(func.length(feed_message.c.decision)), 0),
                func.min(feed_message.c.created_at),
            )
            .where(feed_message.c.state == "planned")
            .group_by(
                feed_message.c.account_id, feed_message.c.feed_type, feed_message.c.marketplace_id
            )
        ).all()
    return [PlannedGroup(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5]) for r in rows]


def plan_feed(
    engine: Engine,
    *,
    account_id: str,
    feed_type: str,
    marketplace_id: str,
    max_messages: int,
    build: Callable[[Sequence[tuple[int, str]]], tuple[bytes, int]],
    slot: str | None = None,
) -> int | None:
    """Put waiting messages into a new feed (state planned). `build` gets (MessageID, decision
    JSON) pairs and returns the XML plus how many of them fit under the size limit.

    The feed takes the group's in-flight `slot` in the same transaction (a unique key): when
    another feed of the slot is planned, on its way to createFeed or waiting for its answer,
    the insert fails, nothing is planned and None is returned. Two planners racing get one
    feed, whatever they read before."""

    def tx() -> int | None:
        with engine.begin() as conn:
            rows = conn.execute(
                _skip_locked(
                    conn,
                    select(feed_message.c.id, feed_message.c.decision)
                    .where(
                        feed_message.c.state == "planned",
                        feed_message.c.account_id == account_id,
                        feed_message.c.feed_type == feed_type,
                        feed_message.c.marketplace_id == marketplace_id,
                    )
                    .order_by(feed_message.c.id)
                    .limit(max_messages),
                )
            ).all()
            if not rows:
                return None
            content, used = build([(n, r.decision) for n, r in enumerate(rows, start=1)])
            rows = rows[:used]
            now = utcnow()
            feed_pk = int(
                conn.execute(
                    insert(feed).values(
                        account_id=account_id,
                        feed_type=feed_type,
                        marketplace_id=marketplace_id,
                        inflight_slot=slot,
                        state="planned",
                        content=content.decode("utf-8"),
                        content_sha256=hashlib.sha256(content).hexdigest(),
                        message_count=len(rows),
                        next_check_at=now,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            )
            for n, r in enumerate(rows, start=1):
                conn.execute(
                    update(feed_message)
                    .where(feed_message.c.id == r.id)
                    .values(feed_pk=feed_pk, message_id=n, state="in_feed", updated_at=now)
                )
            return feed_pk

    try:
        return retry_transient(tx)
    except IntegrityError:
        return None  # the slot is taken: another feed of this group is in flight


def claim_feeds(
    engine: Engine, *, lease_seconds: int, limit: int = 10, now: datetime | None = None
) -> list[FeedRow]:
    """Feeds due for their next step, leased so one worker moves each feed at a time."""
    now = now or utcnow()

    def tx() -> list[FeedRow]:
        with engine.begin() as conn:
            rows = conn.execute(
                _skip_locked(
                    conn,
                    select(feed)
                    .where(
                        feed.c.state.in_(ACTIVE_STATES),
                        feed.c.next_check_at <= now,
                        or_(feed.c.lease_expires_at.is_(None), feed.c.lease_expires_at < now),
                    )
                    .order_by(feed.c.next_check_at, feed.c.id)
                    .limit(limit),
                )
            ).all()
            claimed = []
            for r in rows:
                token = str(uuid.uuid4())
                conn.execute(
                    update(feed)
                    .where(feed.c.id == r.id)
                    .values(
                        lease_token=token,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        updated_at=now,
                    )
                )
                claimed.append(
                    FeedRow(
                        id=r.id,
                        account_id=r.account_id,
                        feed_type=r.feed_type,
                        marketplace_id=r.marketplace_id,
                        state=r.state,
                        content=r.content,
                        message_count=r.message_count,
                        document_id=r.document_id,
                        upload_url=r.upload_url,
                        amazon_feed_id=r.amazon_feed_id,
                        result_document_id=r.result_document_id,
                        submit_started_at=r.submit_started_at,
                        attempts=r.attempts,
                        lease_token=token,
                        created_at=r.created_at,
                        inflight_slot=r.inflight_slot,
                        submitted_at=r.submitted_at,
                        processing_status=r.processing_status,
                        submit_attempts=r.submit_attempts,
                        poll_attempts=r.poll_attempts,
                        report_attempts=r.report_attempts,
                    )
                )
            return claimed

    return retry_transient(tx)


def advance(conn: Connection, row: FeedRow, *, release: bool = False, **values: object) -> bool:
    """Fenced write of the feed's next state; False when another worker took the lease."""
    return advance_values(conn, row, values, release=release)


def advance_values(
    conn: Connection, row: FeedRow, values: dict[str, object], *, release: bool
) -> bool:
    values = {**values, "updated_at": utcnow()}
    if isinstance(values.get("last_error"), str):  # errors are shown on the page: never SQL text
        values["last_error"] = scrub_sql(str(values["last_error"]))
    if values.get("state") in SLOT_FREE_STATES:
        values["inflight_slot"] = None  # feedId stored or feed ended: the group may move on
    if release:
        values.update(lease_token=None, lease_expires_at=None)
    result = conn.execute(
        update(feed)
        .where(and_(feed.c.id == row.id, feed.c.lease_token == row.lease_token))
        .values(**values)
    )
    return result.rowcount == 1


def known_amazon_feed_ids(conn: Connection) -> set[str]:
    """Every Amazon feed id this database owns, whatever the account: several accounts may
    be one seller (one per marketplace), and getFeeds shows that seller's feeds of them all."""
    rows = conn.execute(
        select(feed.c.amazon_feed_id).where(feed.c.amazon_feed_id.is_not(None))
    ).all()
    return {r[0] for r in rows}


def messages_of(conn: Connection, feed_pk: int) -> list[MessageRow]:
    rows = conn.execute(
        select(feed_message)
        .where(feed_message.c.feed_pk == feed_pk)
        .order_by(feed_message.c.message_id)
    ).all()
    return [
        MessageRow(
            id=r.id,
            outbox_id=r.outbox_id,
            amazon_order_id=r.amazon_order_id,
            magento_order_id=r.magento_order_id,
            decision=r.decision,
            message_id=r.message_id,
            state=r.state,
        )
        for r in rows
    ]


def set_message_result(
    conn: Connection,
    message_pk: int,
    state: str,
    *,
    code: str | None = None,
    message: str | None = None,
) -> None:
    conn.execute(
        update(feed_message)
        .where(feed_message.c.id == message_pk)
        .values(state=state, result_code=code, result_message=message, updated_at=utcnow())
    )


def slots_in_flight(engine: Engine) -> set[str]:
    """Slots held by a feed between planning and its stored feedId. Only a hint for the
    planner (it saves building XML that the unique key would refuse); the key decides."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(feed.c.inflight_slot).where(feed.c.inflight_slot.is_not(None))
        ).all()
    return {str(r[0]) for r in rows}


def groups_in_flight(engine: Engine) -> set[tuple[str, str, str]]:
    """(account, feed type, marketplace) with a feed on its way to createFeed or in
    `submitting`: feeds planned before migration 007 hold no slot, so the planner still
    waits for them."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(feed.c.account_id, feed.c.feed_type, feed.c.marketplace_id)
            .where(
                feed.c.state.in_(("planned", "document_created", "uploaded", "submitting")),
                feed.c.inflight_slot.is_(None),
            )
            .distinct()
        ).all()
    return {(r[0], r[1], r[2]) for r in rows}


def replan_message(conn: Connection, message_pk: int, why: str) -> None:
    """One message goes back to wait for the next feed (a cancellation after FATAL)."""
    conn.execute(
        update(feed_message)
        .where(feed_message.c.id == message_pk)
        .values(
            state="planned", feed_pk=None, message_id=None, result_message=why, updated_at=utcnow()
        )
    )


def replan_messages(conn: Connection, feed_pk: int) -> int:
    """Messages of a feed Amazon never processed go back to wait for the next feed."""
    result = conn.execute(
        update(feed_message)
        .where(feed_message.c.feed_pk == feed_pk, feed_message.c.state == "in_feed")
        .values(state="planned", feed_pk=None, message_id=None, updated_at=utcnow())
    )
    return int(result.rowcount)


def feed_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(feed.c.state, func.count()).group_by(feed.c.state)).all()
    return {r[0]: int(r[1]) for r in rows}


def recent_feeds(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                feed.c.id,
                feed.c.account_id,
                feed.c.feed_type,
                feed.c.state,
                feed.c.message_count,
                feed.c.amazon_feed_id,
                feed.c.processing_status,
                feed.c.submit_attempts,
                feed.c.poll_attempts,
                feed.c.report_attempts,
                feed.c.last_error,
                feed.c.submitted_at,
                feed.c.created_at,
                feed.c.updated_at,
            )
            .order_by(feed.c.id.desc())
            .limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]
