"""sidecar.dao.feeds: the in-flight slot is a unique key, taken in the planning transaction."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sqlalchemy import Engine, select

from sidecar.dao import feeds as dao
from sidecar.tables import feed, feed_message

SLOT = dao.slot_of("A1SELLER", "POST_PAYMENT_ADJUSTMENT_DATA", "A1PA6795UKMFR9")


def _message(engine: Engine, outbox_id: int) -> int:
    with engine.begin() as conn:
        return dao.add_message(
            conn, outbox_id=outbox_id, account_id="acct", marketplace_id="A1PA6795UKMFR9",
            feed_type="POST_PAYMENT_ADJUSTMENT_DATA", amazon_order_id=f"302-0000000-000000{outbox_id}",
            magento_order_id=outbox_id, decision_json="{}",
        )


def _plan(engine: Engine, build: object = None) -> int | None:
    def default(messages: Sequence[tuple[int, str]]) -> tuple[bytes, int]:
        return b"<AmazonEnvelope/>", len(messages)

    return dao.plan_feed(
        engine, account_id="acct", feed_type="POST_PAYMENT_ADJUSTMENT_DATA",
        marketplace_id="A1PA6795UKMFR9", max_messages=10, build=build or default,  # type: ignore[arg-type]
        slot=SLOT,
    )


def _planned(engine: Engine) -> int:
    with engine.connect() as conn:
        rows = conn.execute(select(feed_message.c.id).where(feed_message.c.state == "planned"))
        return len(rows.all())


def test_two_planners_racing_get_one_feed(engine: Engine) -> None:
    """Issue 7 item 1: planner A has read the group's messages and is building its XML when
    planner B plans the message that arrived meanwhile. Both passed any check made outside
    the transaction; the unique slot lets exactly one feed through, the other plans nothing
    and its messages wait."""
    _message(engine, 1)
    building, go_on = threading.Event(), threading.Event()
    result: list[int | None] = []

    def slow_build(messages: Sequence[tuple[int, str]]) -> tuple[bytes, int]:
        building.set()
        go_on.wait(10)
        return b"<AmazonEnvelope/>", len(messages)

    a = threading.Thread(target=lambda: result.append(_plan(engine, slow_build)))
    a.start()
    assert building.wait(10)
    _message(engine, 2)  # A holds message 1 (SKIP LOCKED): B takes message 2
    b = _plan(engine)
    go_on.set()
    a.join(10)

    assert b is not None and result == [None]
    with engine.connect() as conn:
        slots = conn.execute(select(feed.c.inflight_slot)).scalars().all()
    assert slots == [SLOT]
    assert _planned(engine) == 1  # A's message waits for the next feed


def test_the_slot_is_freed_when_the_feed_id_is_stored(engine: Engine) -> None:
    _message(engine, 1)
    first = _plan(engine)
    assert first is not None
    _message(engine, 2)
    assert _plan(engine) is None  # the first feed holds the slot
    (row,) = dao.claim_feeds(engine, lease_seconds=60)
    with engine.begin() as conn:
        assert dao.advance(conn, row, release=True, state="submitted", amazon_feed_id="F1")
    assert dao.slots_in_flight(engine) == set()
    assert _plan(engine) is not None



def test_feed_errors_are_stored_without_sql_text(engine: Engine) -> None:
    """Issue 7 item 15: a feed's last_error is shown on the page and in the CLI, so SQL
    statement text is dropped when it is written, not only when it is displayed."""
    _message(engine, 1)
    assert _plan(engine) is not None
    (row,) = dao.claim_feeds(engine, lease_seconds=60)
    raw = "OperationalError: (1205) [SQL: UPDATE refund_bridge_feed SET x=%s] [parameters: (1,)]"
    with engine.begin() as conn:
        assert dao.advance(conn, row, release=True, last_error=raw)
    with engine.connect() as conn:
        stored = conn.execute(select(feed.c.last_error).where(feed.c.id == row.id)).scalar_one()
    assert stored.startswith("OperationalError: (1205)")
    assert "UPDATE" not in stored and "parameters" not in stored
