"""sidecar/dao/order_sync.py: the leader lease, the checkpoint arithmetic, the Magento link."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, text

from sidecar.dao import order_sync as dao
from sidecar.tables import sales_order

T0 = datetime(2026, 11, 30, 12, 0, 0)
TTL = timedelta(minutes=5)


def test_one_leader_per_account_until_its_lease_expires(engine: Engine) -> None:
    assert dao.acquire_lease(engine, "acct", "w1", T0, TTL)
    assert not dao.acquire_lease(engine, "acct", "w2", T0 + timedelta(minutes=1), TTL)
    assert dao.acquire_lease(engine, "acct", "w1", T0 + timedelta(minutes=4), TTL)  # renewed
    assert not dao.acquire_lease(engine, "acct", "w2", T0 + timedelta(minutes=8), TTL)
    assert dao.acquire_lease(engine, "acct", "w2", T0 + timedelta(minutes=10), TTL)
    with engine.connect() as conn:
        assert not dao.holds_lease(conn, "acct", "w1", T0 + timedelta(minutes=10))
    assert dao.lease_holder(engine, "acct", T0 + timedelta(minutes=10))[0] == "w2"  # type: ignore[index]
    assert dao.acquire_lease(engine, "other", "w1", T0, TTL)  # per account


def test_checkpoint_moves_only_when_the_last_page_is_stored(engine: Engine) -> None:
    after, before = T0 - timedelta(days=1), T0
    with engine.begin() as conn:
        dao.start_pass(conn, "acct", "M", after, before, T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None and state.in_pass
        dao.page_stored(conn, state, "token-2", 100, T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None
        assert (state.checkpoint, state.page_token, state.pages_stored) == (None, "token-2", 1)
        dao.page_stored(conn, state, None, 20, T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None and not state.in_pass
        assert (state.checkpoint, state.covered_from, state.orders_stored, state.passes) == (
            before, after, 120, 1)
        # the next pass starts at the checkpoint: coverage stays gap-free from `after`
        dao.start_pass(conn, "acct", "M", before, before + timedelta(minutes=5), T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None
        dao.page_stored(conn, state, None, 1, T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None
        assert (state.checkpoint, state.covered_from) == (before + timedelta(minutes=5), after)
        # a pass that starts after the checkpoint leaves a gap: coverage restarts there
        late = before + timedelta(hours=1)
        dao.start_pass(conn, "acct", "M", late, late + timedelta(minutes=5), T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None
        dao.page_stored(conn, state, None, 0, T0)
        state = dao.load(conn, "acct", "M")
        assert state is not None and state.covered_from == late


def test_magento_order_by_ext_order_id_or_m2e_pro(engine: Engine) -> None:
    with engine.begin() as conn:
        assert dao.find_magento_order(conn, "111-0000001-0000001") is None  # no order yet
        pk = conn.execute(insert(sales_order).values(
            state="new", status="pending", increment_id="1", ext_order_id="111-0000001-0000001",
            store_id=1)).inserted_primary_key
        assert pk is not None
        assert dao.find_magento_order(conn, "111-0000001-0000001") == int(pk[0])
        # M2E Pro's tables as its installer makes them (the fixture has them, empty)
        conn.execute(text("INSERT INTO m2epro_order (id, account_id, magento_order_id, "
                          "component_mode) VALUES (7, 1, 4242, 'amazon'), (8, 1, NULL, 'amazon'), "
                          "(9, 1, 4343, 'ebay')"))
        conn.execute(text("INSERT INTO m2epro_amazon_order VALUES "
                          "(7, '111-0000002-0000002'), (8, '111-0000003-0000003'), (9, '111-0000004-0000004')"))
    dao._M2E_SEEN.clear()  # M2E Pro installed meanwhile: seen at the next re-check
    with engine.begin() as conn:
        assert dao.find_magento_order(conn, "111-0000002-0000002") == 4242
        assert dao.find_magento_order(conn, "111-0000003-0000003") is None  # not created yet
        assert dao.find_magento_order(conn, "111-0000004-0000004") is None  # an eBay order
