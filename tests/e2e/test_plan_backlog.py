"""Issue 9 §3: a backlog of credit memos being decided is not spent on small feeds.

A group's feed is held while credit memos are still claimable now, unless the group already
fills a feed or its oldest message has waited PLAN_HOLD_MAX (docs/feeds.md). The worker here
claims one row per cycle, so a backlog of three is decided over three cycles.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from sidecar.amazon.feed_xml import MAX_FEED_BYTES
from sidecar.clients import ClientFactory
from sidecar.dao import feeds as feeds_dao
from sidecar.feeds import plan
from sidecar.feeds.common import MAX_MESSAGES_PER_FEED, PLAN_HOLD_MAX
from sidecar.tables import outbox
from sidecar.worker import Worker
from tests.e2e.conftest import Bridge
from tests.support.magento_factory import ItemSpec

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")


def one_row_per_cycle(bridge: Bridge) -> Worker:
    w = bridge.worker
    clients = ClientFactory(bridge.engine, w.ctx.limiter)  # the fixture's fast limits
    return Worker(replace(w.cfg, batch_size=1), bridge.engine, clients=clients, now=bridge.clock)


def refunds(bridge: Bridge, n: int) -> list[int]:
    """n shipped orders, one credit memo each (a Refund each: one adjustment feed group)."""
    return [bridge.creditmemo(bridge.order([MUG], shipped={"MUG-1": 2}), {"MUG-1": 1})
            for _ in range(n)]


def feed_sizes(bridge: Bridge) -> list[int]:
    return [int(r[0]) for r in bridge.sql(
        "SELECT COUNT(*) FROM refund_bridge_feed_message WHERE feed_pk IS NOT NULL "
        "GROUP BY feed_pk ORDER BY feed_pk")]


def test_a_backlog_of_claimable_credit_memos_holds_planning(bridge: Bridge) -> None:
    refunds(bridge, 3)
    w = one_row_per_cycle(bridge)
    w.cycle()
    w.cycle()
    assert feed_sizes(bridge) == []  # two decided, one still claimable: held
    assert bridge.emulator.state.calls("createFeed") == 0
    w.cycle()
    assert feed_sizes(bridge) == [3]  # the backlog is decided: one feed with all of it
    assert bridge.emulator.state.calls("createFeed") == 1


def test_the_bound_releases_a_held_group(bridge: Bridge) -> None:
    refunds(bridge, 2)
    w = one_row_per_cycle(bridge)
    w.cycle()
    assert w.pump.plan() == []  # the second credit memo is still claimable
    bridge.clock.advance(seconds=PLAN_HOLD_MAX.total_seconds() - 5)
    assert w.pump.plan() == []
    bridge.clock.advance(seconds=6)  # the first message has now waited PLAN_HOLD_MAX
    assert len(w.pump.plan()) == 1
    assert feed_sizes(bridge) == [1]


def test_a_single_credit_memo_while_idle_is_planned_at_once(bridge: Bridge) -> None:
    later, now = refunds(bridge, 2)
    with bridge.engine.begin() as conn:  # backing off: not a backlog
        conn.execute(update(outbox).where(outbox.c.id == later)
                     .values(available_at=bridge.clock() + timedelta(hours=1)))
    w = one_row_per_cycle(bridge)
    w.cycle()
    assert bridge.row(now).status == "submitted"
    assert feed_sizes(bridge) == [1]
    assert bridge.emulator.state.calls("createFeed") == 1


def test_a_full_group_is_planned_at_once(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "MAX_MESSAGES_PER_FEED", 2)  # a full feed without 5,000 rows
    refunds(bridge, 3)
    w = one_row_per_cycle(bridge)
    w.cycle()
    assert feed_sizes(bridge) == []
    w.cycle()
    assert feed_sizes(bridge) == [2]  # full, although the third is still claimable
    assert bridge.emulator.state.calls("createFeed") == 1


NOW = datetime(2026, 3, 2, 12, 0)


def group(count: int = 1, size: int = 100, waited: float = 0.0) -> feeds_dao.PlannedGroup:
    return feeds_dao.PlannedGroup("acct-eu", "POST_PAYMENT_ADJUSTMENT_DATA", "ATVPDKIKX0DER",
                                  count, size, NOW - timedelta(seconds=waited))


def test_ready_by_count_size_or_age() -> None:
    assert not plan.ready(group(waited=PLAN_HOLD_MAX.total_seconds() - 1), NOW)
    assert plan.ready(group(count=MAX_MESSAGES_PER_FEED), NOW)
    assert plan.ready(group(size=MAX_FEED_BYTES), NOW)
    assert plan.ready(group(waited=PLAN_HOLD_MAX.total_seconds()), NOW)
