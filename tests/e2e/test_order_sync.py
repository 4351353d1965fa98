"""Issue 9: the order sync end to end — real MariaDB, the worker, the emulator over HTTP with
Amazon's real rate limits, one simulated clock shared by all three (nothing sleeps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from sidecar import orders_sync
from sidecar.amazon.ratelimit import RateLimiter
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config, Marketplace
from sidecar.dao import order_sync as sync_dao
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.config import EmulatorConfig
from sidecar.emulator.model import OrderStatus
from sidecar.emulator.server import EmulatorServer
from sidecar.emulator.state import SeedItem
from sidecar.orders_sync import OrderSync
from sidecar.tables import (
    amazon_order,
    amazon_order_item,
    feed_message,
    outbox,
    sales_order,
    sales_order_grid,
    sales_order_status_history,
)
from sidecar.worker import Worker
from tests.support.sim_clock import SimClock

US, CA = "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"
D = Decimal



@dataclass
class Sim:
    engine: Engine
    clock: SimClock
    emulator: EmulatorServer
    account: AmazonAccount
    worker: Worker
    limiter: RateLimiter
    n: int = 0

    def order(self, *, qty: int = 1, status: str | None = None, state: str = "processing",
              marketplace: str = US) -> tuple[str, int, str]:
        """(amazon order id, Magento entity id, Amazon item id): on both sides."""
        self.n += 1
        amazon_id = f"111-{self.n:07d}-{5000000 + self.n:07d}"
        item_id = f"{self.n:07d}0000001"
        self.emulator.state.seed_order(
            amazon_id, marketplace_id=marketplace, currency="USD", status=status,
            items=[SeedItem(order_item_id=item_id, seller_sku=f"SKU-{self.n}",
                            quantity_ordered=qty, item_price=D("10.00") * qty,
                            item_tax=D("0.80") * qty)])
        with self.engine.begin() as conn:
            pk = conn.execute(insert(sales_order).values(
                state=state, status=state, increment_id=f"{100000000 + self.n:09d}",
                ext_order_id=amazon_id, store_id=1, order_currency_code="USD",
                grand_total=D("10.80") * qty)).inserted_primary_key
            assert pk is not None
            order_id = int(pk[0])
            conn.execute(insert(sales_order_grid).values(
                entity_id=order_id, status=state, increment_id=f"{100000000 + self.n:09d}"))
        return amazon_id, order_id, item_id

    def creditmemo(self, amazon_id: str, order_id: int, item_id: str, qty: int,
                   created: datetime) -> int:
        now = self.clock()
        memo_id = self.n * 100 + order_id
        payload = memo_payload(memo_id, order_id, amazon_id, item_id, qty, created)
        with self.engine.begin() as conn:
            pk = conn.execute(insert(outbox).values(
                event_type="creditmemo", entity_id=memo_id, order_id=order_id, payload=payload,
                available_at=now, created_at=now, updated_at=now)).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def later(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def sync(self) -> int:
        return self.worker.sync_orders()

    def drive(self) -> None:
        self.worker.run(once=True, max_cycles=50)

    def comments(self, order_id: int) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(
                select(sales_order_status_history.c.comment)
                .where(sales_order_status_history.c.parent_id == order_id)
                .order_by(sales_order_status_history.c.entity_id)).scalars())

    def calls(self, operation: str) -> int:
        return self.emulator.state.calls(operation)

    def row(self, outbox_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(outbox).where(outbox.c.id == outbox_id)).one()

    def drain(self, operation: str) -> None:
        """Spend this account's tokens of ``operation`` (another tool of the seller did)."""
        while self.limiter.try_acquire(self.account.account_id, operation) == 0:
            pass


def memo_payload(n: int, order_id: int, amazon_id: str, item_id: str, qty: int,
                 created: datetime) -> str:
    """docs/snapshot.md v1: ``qty`` units of the order's one line (10.00 + 0.80 tax each)."""
    q = D(qty)
    doc = {
        "schema_version": 1, "event_type": "creditmemo",
        "order": {"entity_id": order_id, "increment_id": f"{100000000 + order_id:09d}",
                  "ext_order_id": amazon_id, "store_id": 1, "order_currency_code": "USD",
                  "base_currency_code": "USD", "state": "processing", "status": "processing"},
        "creditmemo": {
            "entity_id": n, "increment_id": f"{200000000 + n:09d}",
            "created_at": f"{created:%Y-%m-%d %H:%M:%S}", "order_currency_code": "USD",
            "subtotal": f"{10 * q:.4f}", "subtotal_incl_tax": f"{D('10.80') * q:.4f}",
            "tax_amount": f"{D('0.80') * q:.4f}", "discount_amount": "0.0000",
            "shipping_amount": "0.0000", "shipping_tax_amount": "0.0000",
            "shipping_incl_tax": "0.0000", "adjustment_positive": "0.0000",
            "adjustment_negative": "0.0000", "grand_total": f"{D('10.80') * q:.4f}",
        },
        "items": [{
            "entity_id": n * 10 + 1, "order_item_id": n * 10 + 1, "parent_item_id": None,
            "sku": "SKU", "name": "Item", "product_type": "simple", "ext_order_item_id": item_id,
            "qty": f"{q:.4f}", "price": "10.0000", "price_incl_tax": "10.8000",
            "row_total": f"{10 * q:.4f}", "row_total_incl_tax": f"{D('10.80') * q:.4f}",
            "tax_amount": f"{D('0.80') * q:.4f}", "discount_amount": "0.0000",
            "back_to_stock": False, "qty_ordered": f"{q:.4f}", "qty_shipped": "0.0000",
            "qty_refunded": f"{q:.4f}", "qty_canceled": "0.0000",
        }],
    }
    return json.dumps(doc)


def make_sim(engine: Engine, emulator: EmulatorServer, clock: SimClock,
             marketplaces: tuple[Marketplace, ...] = (), worker_id: str = "w1") -> Sim:
    account = emulator_account(emulator.url, "acct-us", (1,), marketplace_id=US)
    # unsigned: SigV4 dates are real time, the emulator's clock is simulated
    account = replace(account, credentials=replace(account.credentials, sign_requests=False))
    if marketplaces:
        account = replace(account, marketplaces=marketplaces,
                          store_ids=tuple(s for m in marketplaces for s in m.store_ids))
    cfg = Config(database_url="", accounts=(account,), worker_id=worker_id,
                 feed_poll_seconds=0, poll_interval_seconds=0)
    # Amazon's published plans everywhere: the simulated clock makes waiting free
    limiter = RateLimiter(engine, clock_us=clock.epoch_us, sleep=clock.sleep)
    worker = Worker(cfg, engine, clients=ClientFactory(engine, limiter), now=clock)
    return Sim(engine, clock, emulator, account, worker, limiter)


@pytest.fixture
def sim(engine: Engine) -> Iterator[Sim]:
    clock = SimClock(utcnow().replace(tzinfo=UTC) - timedelta(days=2))
    with EmulatorServer(config=EmulatorConfig(xsd_dir=None), clock=clock) as emulator:
        yield make_sim(engine, emulator, clock)


def first_pass(sim: Sim) -> None:
    """The sync's first pass (its 1-day look-back covers the seeded orders)."""
    sim.later(orders_sync.MIN_AGE.total_seconds() + 1)
    sim.sync()
    (state,) = sync_dao.all_states(sim.engine)
    assert state.checkpoint is not None and not state.in_pass


# ----------------------------------------------------------------- §2 shown in Magento


def test_each_status_change_appears_once_in_magento(sim: Sim) -> None:
    pending, pending_mo, _ = sim.order(status="Pending", state="new")
    asked, asked_mo, _ = sim.order()
    partly, partly_mo, partly_item = sim.order(qty=2)
    first_pass(sim)
    assert sim.comments(pending_mo) == sim.comments(asked_mo) == sim.comments(partly_mo) == []

    amazon = sim.emulator.state
    amazon.cancel_order(pending, cancelled_by="AMAZON", reason="Payment declined")
    amazon.request_buyer_cancellation(asked, reason="Ordered by mistake")
    amazon.cancel_units(partly, partly_item, 1, cancelled_by="AMAZON", reason="NoInventory")
    for _ in range(3):  # more passes, and one forced over the same window: no repeats
        sim.later(200)
        sim.sync()
    since = sim.clock() - timedelta(hours=1)
    OrderSync(sim.engine, sim.worker.cfg, sim.worker.ctx.client_for, sim.limiter, sim.clock,
              owner="w1").sync(sim.account, US, since=since, wait=True)

    (c,) = sim.comments(pending_mo)
    assert f"Amazon order {pending} is Canceled on Amazon (was Pending)" in c
    assert "cancelled on Amazon by AMAZON, reason: 'Payment declined'" in c
    (c,) = sim.comments(asked_mo)
    assert "Buyer asked Amazon to cancel" in c and "'Ordered by mistake'" in c
    with sim.engine.connect() as conn:
        so = conn.execute(select(sales_order.c.state, sales_order.c.status)
                          .where(sales_order.c.entity_id == asked_mo)).one()
        grid = conn.execute(select(sales_order_grid.c.status)
                            .where(sales_order_grid.c.entity_id == asked_mo)).scalar_one()
        listed = dict(conn.execute(select(amazon_order.c.amazon_order_id,
                                          amazon_order.c.status)).all())
    assert (so.state, so.status, grid) == ("processing", "amazon_cancel_requested",
                                           "amazon_cancel_requested")
    (c,) = sim.comments(partly_mo)
    assert "1 unit(s) of SKU-3" in c and "by AMAZON, reason: 'NoInventory'" in c
    # the product's order list shows Amazon's side
    assert listed[pending] == "Canceled"
    assert listed[asked] == "Unshipped"
    assert [r["amazon_order_id"] for r in sync_dao.recent_orders(sim.engine)
            if r["status"] == "Canceled"] == [pending]


def test_an_unknown_status_is_stored_and_shown_never_guessed(sim: Sim) -> None:
    amazon_id, order_id, _ = sim.order()
    first_pass(sim)
    with sim.emulator.state.locked() as amazon:
        amazon.orders[amazon_id].status = OrderStatus.UNFULFILLABLE
        amazon.orders[amazon_id].last_updated_time = amazon.now()
    sim.later(200)
    sim.sync()
    with sim.engine.connect() as conn:
        status = conn.execute(select(amazon_order.c.status).where(
            amazon_order.c.amazon_order_id == amazon_id)).scalar_one()
    assert status == "Unfulfillable"
    assert sim.comments(order_id) == []


# ------------------------------------------------------------ §3 fresh decisions


def test_a_creditmemo_on_sync_proven_state_makes_no_get_order(sim: Sim) -> None:
    amazon_id, order_id, item_id = sim.order(qty=1)
    first_pass(sim)
    created = sim.clock()
    sim.later((orders_sync.SAFETY_MARGIN + orders_sync.MIN_AGE).total_seconds() + 40)
    sim.sync()  # this pass proves the order as of after the credit memo
    outbox_id = sim.creditmemo(amazon_id, order_id, item_id, 1, created)
    sim.drive()
    row = sim.row(outbox_id)
    assert row.status == "submitted", row.status_message
    assert sim.calls("getOrder") == 0
    assert sim.calls("searchOrders") == 2


def test_a_single_memo_while_idle_reads_get_order_at_once(sim: Sim) -> None:
    amazon_id, order_id, item_id = sim.order(qty=1)
    first_pass(sim)
    outbox_id = sim.creditmemo(amazon_id, order_id, item_id, 1, sim.clock())
    sim.drive()
    assert sim.row(outbox_id).status == "submitted"
    assert sim.calls("getOrder") == 1  # faster than waiting ~4 minutes for the next pass


def test_a_memo_on_an_order_changed_after_the_last_pass_waits_for_the_next_pass(
        sim: Sim) -> None:
    amazon_id, order_id, item_id = sim.order(qty=2)
    first_pass(sim)
    sim.later(10)
    sim.emulator.state.cancel_units(amazon_id, item_id, 1, cancelled_by="AMAZON",
                                    reason="NoInventory")
    sim.later(1)
    outbox_id = sim.creditmemo(amazon_id, order_id, item_id, 1, sim.clock())
    sim.drain("getOrder")  # Amazon is busy: the next pass is the faster proof
    sim.drive()
    row = sim.row(outbox_id)
    assert row.status == "pending"
    assert "waiting for the order sync" in row.status_message
    with sim.engine.connect() as conn:
        canceled_before = conn.execute(select(amazon_order_item.c.quantity_canceled).where(
            amazon_order_item.c.order_item_id == item_id)).scalar_one()
    assert canceled_before == 0  # the stored state is the old one
    # the clock moves to when the row asked to be looked at again
    while sim.row(outbox_id).status == "pending":
        sim.later(max(1.0, (sim.row(outbox_id).available_at - sim.clock()).total_seconds()))
        sim.drive()
    row = sim.row(outbox_id)
    assert row.status == "submitted", row.status_message
    assert sim.calls("getOrder") == 0
    with sim.engine.connect() as conn:
        decision = json.loads(conn.execute(select(feed_message.c.decision).where(
            feed_message.c.outbox_id == outbox_id)).scalar_one())
    # decided on the new state: Amazon cancelled one unit itself, the memo's unit is the
    # one left, cancelled by a refund line (the old state would have cancelled the order)
    assert decision["kind"] == "refund"
    assert [(line["quantity"], line["quantity_cancelled"]) for line in decision["lines"]] == [
        (0, 1)]
    assert "already has refunds or cancellations" in decision["note"]
    with sim.engine.connect() as conn:
        assert conn.execute(select(amazon_order_item.c.quantity_canceled).where(
            amazon_order_item.c.order_item_id == item_id)).scalar_one() == 1


# ----------------------------------------------------------- §1 checkpoint and leader


def _seed_many(sim: Sim, n: int) -> None:
    for k in range(n):
        sim.emulator.state.seed_order(
            f"112-{k:07d}-{k:07d}", marketplace_id=US, currency="USD",
            items=[SeedItem(order_item_id=f"9{k:06d}0000001", seller_sku="S",
                            quantity_ordered=1, item_price=D("5.00"))])
        sim.later(1)


def _stored(sim: Sim) -> int:
    with sim.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM refund_bridge_amazon_order"))
                   .scalar_one())


def test_a_restart_mid_pagination_neither_skips_nor_repeats(
        sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed_many(sim, 250)
    sim.later(orders_sync.MIN_AGE.total_seconds() + 1)
    sync = OrderSync(sim.engine, sim.worker.cfg, sim.worker.ctx.client_for, sim.limiter,
                     sim.clock, owner="w1")
    real_store = orders_sync.store_order
    stored_pages: list[int] = []

    def crash_on_second_page(*args: Any, **kwargs: Any) -> bool:
        if len(stored_pages) == 100:
            raise RuntimeError("SIGKILL while storing page 2")
        stored_pages.append(1)
        return real_store(*args, **kwargs)

    monkeypatch.setattr(orders_sync, "store_order", crash_on_second_page)
    with pytest.raises(RuntimeError):
        sync.sync(sim.account, US)
    (state,) = sync_dao.all_states(sim.engine)
    assert state.in_pass and state.pages_stored == 1 and state.page_token
    assert _stored(sim) == 100  # page 2 rolled back as a whole
    monkeypatch.setattr(orders_sync, "store_order", real_store)
    # a new process resumes at page 2 with the stored token
    again = OrderSync(sim.engine, sim.worker.cfg, sim.worker.ctx.client_for, sim.limiter,
                      sim.clock, owner="w1")
    result = again.sync(sim.account, US, wait=True)
    assert result.completed and result.pages == 2
    (state,) = sync_dao.all_states(sim.engine)
    assert not state.in_pass and state.orders_stored == 250 and state.passes == 1
    assert _stored(sim) == 250
    assert sim.calls("searchOrders") == 4  # pages 1, 2 (lost), 2, 3: none skipped


def test_an_expired_page_token_restarts_the_pass_without_gaps(sim: Sim) -> None:
    _seed_many(sim, 150)
    sim.later(orders_sync.MIN_AGE.total_seconds() + 1)
    sim.drain("searchOrders")
    sim.clock.advance(sim.limiter.peek("acct-us", "searchOrders") + 1)  # one token: one page
    assert sim.sync() == 1
    sim.emulator.state.expire_order_pages()
    for _ in range(3):  # the expired token restarts the pass at its first page
        sim.later(sim.limiter.peek("acct-us", "searchOrders") + 1)
        sim.sync()
    (state,) = sync_dao.all_states(sim.engine)
    assert not state.in_pass and _stored(sim) == 150


def test_two_workers_sync_once(engine: Engine) -> None:
    clock = SimClock(utcnow().replace(tzinfo=UTC) - timedelta(days=2))
    with EmulatorServer(config=EmulatorConfig(xsd_dir=None), clock=clock) as emulator:
        one = make_sim(engine, emulator, clock, worker_id="w1")
        two = make_sim(engine, emulator, clock, worker_id="w2")
        _seed_many(one, 120)
        one.later(orders_sync.MIN_AGE.total_seconds() + 1)
        assert one.sync() == 2
        assert two.sync() == 0  # w1 leads the account
        assert emulator.state.calls("searchOrders") == 2
        (state,) = sync_dao.all_states(engine)
        assert state.orders_stored == 120
        # w1 dies; after its lease w2 leads and goes on from the checkpoint
        one.later(orders_sync.LEASE_TTL.total_seconds() + 1)
        emulator.state.set_order_status("112-0000001-0000001", OrderStatus.CANCELED)
        one.later(200)
        assert two.sync() == 1
        (state,) = sync_dao.all_states(engine)
        assert state.orders_stored == 121 and state.passes == 2


def test_a_seller_with_two_marketplaces_has_a_checkpoint_each(engine: Engine) -> None:
    clock = SimClock(utcnow().replace(tzinfo=UTC) - timedelta(days=2))
    with EmulatorServer(config=EmulatorConfig(xsd_dir=None), clock=clock) as emulator:
        sim = make_sim(engine, emulator, clock, marketplaces=(
            Marketplace(US, (1,), "USD"), Marketplace(CA, (2,), "CAD")))
        us_id, _, _ = sim.order(marketplace=US)
        ca_id, _, _ = sim.order(marketplace=CA)
        sim.later(orders_sync.MIN_AGE.total_seconds() + 1)
        sim.sync()
        states = {s.marketplace_id: s for s in sync_dao.all_states(engine)}
        assert set(states) == {US, CA}
        assert all(s.checkpoint is not None and s.orders_stored == 1 for s in states.values())
        with engine.connect() as conn:
            where = dict(conn.execute(select(amazon_order.c.amazon_order_id,
                                             amazon_order.c.marketplace_id)).all())
        assert where == {us_id: US, ca_id: CA}
