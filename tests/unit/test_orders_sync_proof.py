"""orders_sync.proof_for on the embedded SQLite: which proof a credit memo gets."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from sidecar import orders_sync
from sidecar.amazon.ratelimit import Limit, RateLimiter
from sidecar.dao import amazon_orders
from sidecar.dao import order_sync as sync_dao
from sidecar.domain import AmazonOrderItem, AmazonOrderState, AmazonOrderStatus, FulfillmentChannel
from sidecar.emulator.accounts import emulator_account

NOW = datetime(2026, 11, 30, 12, 0, 0)
ACCOUNT = emulator_account("http://127.0.0.1:9", "acct", (1,), marketplace_id="M")
ORDER = "111-0000001-0000001"


def _store(engine: Engine, fetched_at: datetime) -> None:
    state = AmazonOrderState(
        amazon_order_id=ORDER, account_id="acct", marketplace_id="M",
        status=AmazonOrderStatus.SHIPPED, fulfillment_channel=FulfillmentChannel.MFN,
        currency="USD", last_updated=fetched_at, fetched_at=fetched_at,
        items=(AmazonOrderItem("11111111111111", "S", 1, 1, Decimal(10), Decimal(1),
                               Decimal(0), Decimal(0)),), raw_status="SHIPPED")
    with engine.begin() as conn:
        amazon_orders.save_state(conn, state, magento_order_id=None, raw=None)


def _checkpoint(engine: Engine, checkpoint: datetime, covered_from: datetime) -> None:
    with engine.begin() as conn:
        sync_dao.start_pass(conn, "acct", "M", covered_from, checkpoint, NOW)
        state = sync_dao.load(conn, "acct", "M")
        assert state is not None
        sync_dao.page_stored(conn, state, None, 1, NOW)


def _busy_limiter(engine: Engine) -> RateLimiter:
    limiter = RateLimiter(engine, clock_us=lambda: int(NOW.timestamp() * 1e6),
                          limits={"acct": {"getOrder": Limit(Decimal("0.001"), 1)}})
    assert limiter.try_acquire("acct", "getOrder") == 0  # Amazon busy: no getOrder token
    return limiter


def test_proven_state_is_used_and_marked_fresh(sqlite_engine: Engine) -> None:
    _store(sqlite_engine, NOW - timedelta(hours=2))
    _checkpoint(sqlite_engine, NOW - timedelta(minutes=3), NOW - timedelta(days=1))
    memo = NOW - timedelta(minutes=6)
    state = orders_sync.proof_for(sqlite_engine, None, ACCOUNT, ORDER, memo, NOW)
    assert state is not None
    assert state.fetched_at == NOW - timedelta(minutes=5)  # checkpoint - SAFETY_MARGIN
    with sqlite_engine.connect() as conn:
        stored = amazon_orders.load_state(conn, ORDER)
    assert stored is not None and stored.fetched_at == state.fetched_at


def test_a_state_read_before_the_passes_were_gap_free_is_not_proven(
        sqlite_engine: Engine) -> None:
    _store(sqlite_engine, NOW - timedelta(days=2))
    _checkpoint(sqlite_engine, NOW - timedelta(minutes=3), NOW - timedelta(days=1))
    limiter = _busy_limiter(sqlite_engine)
    with pytest.raises(orders_sync.AwaitingSync):  # not proven; the next pass will prove it
        orders_sync.proof_for(sqlite_engine, limiter, ACCOUNT, ORDER, NOW - timedelta(minutes=6),
                              NOW)
    with sqlite_engine.connect() as conn:
        assert sync_dao.load(conn, "acct", "M").proof_wanted == NOW - timedelta(minutes=6)  # type: ignore[union-attr]


def test_never_seen_or_overdue_reads_get_order(sqlite_engine: Engine) -> None:
    limiter = _busy_limiter(sqlite_engine)
    assert orders_sync.proof_for(sqlite_engine, limiter, ACCOUNT, ORDER, NOW, NOW) is None
    _store(sqlite_engine, NOW - timedelta(hours=2))
    _checkpoint(sqlite_engine, NOW - timedelta(hours=1), NOW - timedelta(days=1))
    # the sync stopped an hour ago: the credit memo does not wait for it forever
    assert orders_sync.proof_for(sqlite_engine, limiter, ACCOUNT, ORDER,
                                 NOW - timedelta(minutes=30), NOW) is None
