"""Bench section 6 (issue 9 §3): credit memos decided on sync-proven state vs one getOrder each.

Emulator with Amazon's real rate limits, one simulated clock shared by the emulator, the
worker and the rate limiter (every wait is a clock jump, never a sleep; requests are unsigned
because SigV4 dates are real time). Three runs:

The worker's default claim batch (``SIDECAR_BATCH_SIZE``) in all three: the feed planner holds
a group while credit memos are still claimable, so a backlog fills few large feeds instead of
spending createFeed's burst on small ones (docs/feeds.md, when a feed is planned).

* backlog, with the order sync: 10,000 credit memos on 10,000 distinct orders that the sync
  has already read as they arrived (100 searchOrders pages, made before the credit memos and
  counted apart). Simulated time from the inserts until the emulator has accepted every
  message (its own processing time is 0 here and stated), SP-API calls per credit memo.
* backlog, without the sync (today: one getOrder per credit memo), on fewer rows from the
  same run; the 10,000-row time follows from getOrder's plan and is printed as such.
* a single credit memo while Amazon is idle: outbox insert -> createFeed, the worker's own
  (wall) time, p50 over several trials.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, insert, select

from sidecar import orders_sync
from sidecar.amazon.ratelimit import DEFAULT_LIMITS, RateLimiter
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import Config
from sidecar.dao import order_sync as sync_dao
from sidecar.db import make_engine
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.config import OPERATIONS, EmulatorConfig
from sidecar.emulator.server import EmulatorServer
from sidecar.emulator.state import SeedItem
from sidecar.tables import feed, feed_message, outbox, sales_order, sales_order_grid
from sidecar.worker import Worker
from tests.conftest import create_database, drop_database
from tests.support.sim_clock import SimClock

MARKETPLACE = "ATVPDKIKX0DER"
ACCOUNT = "acct-us"
BACKLOG = int(os.environ.get("BENCH_SYNC_MEMOS", "10000"))  # issue 9 §3: 10,000
BASELINE = int(os.environ.get("BENCH_GETORDER_MEMOS", "500"))
IDLE_TRIALS = 15
TARGET_BACKLOG_S = 600.0
TARGET_CALLS_PER_MEMO = 0.05
TARGET_IDLE_P50_S = 1.0
FEED_DONE = ("done", "cancelled", "fatal", "unknown")
D = Decimal



@dataclass
class Run:
    engine: Engine
    clock: SimClock
    emulator: EmulatorServer
    worker: Worker
    limiter: RateLimiter

    def calls(self) -> dict[str, int]:
        return {op: self.emulator.state.calls(op) for op in sorted(OPERATIONS)}


def memo_payload(n: int, order_id: int, amazon_id: str, item_id: str,
                 created: datetime) -> str:
    """docs/snapshot.md v1: the order's one unit (10.00 + 0.80 tax) credited."""
    return json.dumps({
        "schema_version": 1, "event_type": "creditmemo",
        "order": {"entity_id": order_id, "increment_id": f"{100000000 + n:09d}",
                  "ext_order_id": amazon_id, "store_id": 1, "order_currency_code": "USD",
                  "base_currency_code": "USD", "state": "complete", "status": "complete"},
        "creditmemo": {
            "entity_id": n, "increment_id": f"{200000000 + n:09d}",
            "created_at": f"{created:%Y-%m-%d %H:%M:%S}", "order_currency_code": "USD",
            "subtotal": "10.0000", "subtotal_incl_tax": "10.8000", "tax_amount": "0.8000",
            "discount_amount": "0.0000", "shipping_amount": "0.0000",
            "shipping_tax_amount": "0.0000", "shipping_incl_tax": "0.0000",
            "adjustment_positive": "0.0000", "adjustment_negative": "0.0000",
            "grand_total": "10.8000"},
        "items": [{
            "entity_id": n, "order_item_id": n, "parent_item_id": None, "sku": "SKU",
            "name": "Item", "product_type": "simple", "ext_order_item_id": item_id,
            "qty": "1.0000", "price": "10.0000", "price_incl_tax": "10.8000",
            "row_total": "10.0000", "row_total_incl_tax": "10.8000", "tax_amount": "0.8000",
            "discount_amount": "0.0000", "back_to_stock": False, "qty_ordered": "1.0000",
            "qty_shipped": "1.0000", "qty_refunded": "1.0000", "qty_canceled": "0.0000"}],
    })


def _ids(k: int) -> tuple[str, str]:
    return f"113-{k:07d}-{k:07d}", f"8{k:06d}0000001"


def seed_orders(run: Run, first: int, n: int, spread_s: float) -> dict[int, int]:
    """n shipped one-unit orders on Amazon and in Magento, updated over ``spread_s`` before
    now; returns k -> Magento entity id."""
    now = run.clock()
    orders, grid = [], []
    for j, k in enumerate(range(first, first + n)):
        amazon_id, item_id = _ids(k)
        updated = now - timedelta(seconds=spread_s * (n - j) / n)
        run.emulator.state.seed_order(
            amazon_id, marketplace_id=MARKETPLACE, currency="USD",
            created_time=updated - timedelta(hours=1), last_updated_time=updated,
            items=[SeedItem(order_item_id=item_id, seller_sku="SKU", quantity_ordered=1,
                            quantity_shipped=1, item_price=D("10.00"), item_tax=D("0.80"))])
        increment = f"{100000000 + k:09d}"
        orders.append({"entity_id": k, "state": "complete", "status": "complete",
                       "increment_id": increment, "ext_order_id": amazon_id, "store_id": 1,
                       "order_currency_code": "USD", "grand_total": D("10.80")})
        grid.append({"entity_id": k, "status": "complete", "increment_id": increment})
    with run.engine.begin() as conn:
        for i in range(0, n, 1000):
            conn.execute(insert(sales_order), orders[i:i + 1000])
            conn.execute(insert(sales_order_grid), grid[i:i + 1000])
    return {k: k for k in range(first, first + n)}


def insert_memos(run: Run, magento: dict[int, int]) -> None:
    now = run.clock()
    rows = []
    for k, order_id in magento.items():
        amazon_id, item_id = _ids(k)
        rows.append({"event_type": "creditmemo", "entity_id": k, "order_id": order_id,
                     "payload": memo_payload(k, order_id, amazon_id, item_id, now),
                     "available_at": now, "created_at": now, "updated_at": now})
    with run.engine.begin() as conn:
        for i in range(0, len(rows), 1000):
            conn.execute(insert(outbox), rows[i:i + 1000])


def next_due(run: Run, now: datetime) -> datetime | None:
    """When the worker next has something to do (feeds, rows, createFeed token, a pass)."""
    with run.engine.connect() as conn:
        waiting = conn.execute(select(func.count()).select_from(feed_message)
                               .where(feed_message.c.state == "planned")).scalar_one()
        feed_due = conn.execute(select(func.min(feed.c.next_check_at))
                                .where(feed.c.state.not_in(FEED_DONE))).scalar_one()
        row_due = conn.execute(select(func.min(outbox.c.available_at))
                               .where(outbox.c.status == "pending")).scalar_one()
        states = [s for s in (sync_dao.load(conn, ACCOUNT, MARKETPLACE),) if s is not None]
    due = [d for d in (feed_due, row_due) if d is not None]
    if waiting:
        due.append(now + timedelta(seconds=run.limiter.peek(ACCOUNT, "createFeed")))
    if run.worker.cfg.order_sync and states and (row_due is not None or states[0].in_pass):
        state = states[0]
        base = state.checkpoint or now
        when = base + orders_sync.MIN_AGE + orders_sync.PASS_INTERVAL
        if state.proof_wanted is not None and (
                state.checkpoint is None
                or state.checkpoint - orders_sync.SAFETY_MARGIN < state.proof_wanted):
            when = min(when, state.proof_wanted + orders_sync.SAFETY_MARGIN
                       + orders_sync.MIN_AGE)
        due.append(max(when, now + timedelta(seconds=run.limiter.peek(ACCOUNT,
                                                                      "searchOrders"))))
    return min(due) if due else None


def drive(run: Run, until_done: Callable[[], bool], max_cycles: int = 100_000) -> int:
    cycles = 0
    while cycles < max_cycles and not until_done():
        cycles += 1
        if run.worker.cycle():
            continue
        now = run.clock()
        due = next_due(run, now)
        if due is None:
            break
        run.clock.advance(max(0.01, (due - now).total_seconds() + 0.01))
    return cycles


def all_done(run: Run) -> Callable[[], bool]:
    def check() -> bool:
        with run.engine.connect() as conn:
            return not conn.execute(select(func.count()).select_from(outbox)
                                    .where(outbox.c.status.in_(("pending", "processing",
                                                                "submitted")))).scalar_one()
    return check


def make_run(engine: Engine, emulator: EmulatorServer, clock: SimClock, url: str,
             *, sync: bool) -> Run:
    account = emulator_account(emulator.url, ACCOUNT, (1,), marketplace_id=MARKETPLACE)
    account = replace(account, credentials=replace(account.credentials, sign_requests=False))
    cfg = Config(database_url=url, accounts=(account,), worker_id="bench-sync",
                 feed_poll_seconds=0, poll_interval_seconds=0,
                 order_sync=sync)
    limiter = RateLimiter(engine, clock_us=clock.epoch_us, sleep=clock.sleep)
    worker = Worker(cfg, engine, clients=ClientFactory(engine, limiter), now=clock)
    return Run(engine, clock, emulator, worker, limiter)


def presync(run: Run) -> int:
    """The sync reads the orders as they arrive (before the credit memos): pages stored."""
    run.clock.advance(orders_sync.MIN_AGE.total_seconds() + 1)
    pages = 0
    target = run.clock() - orders_sync.MIN_AGE
    while True:
        with run.engine.connect() as conn:
            state = sync_dao.load(conn, ACCOUNT, MARKETPLACE)
        if state is not None and state.checkpoint and state.checkpoint >= target:
            return pages
        stored = run.worker.sync_orders()
        pages += stored
        if not stored:
            run.clock.advance(max(1.0, run.limiter.peek(ACCOUNT, "searchOrders")) + 0.01)


@dataclass
class Backlog:
    memos: int
    sim_s: float
    wall_s: float
    calls: dict[str, int]
    presync_pages: int
    presync_calls: int

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


def backlog(server_url: str, n: int, *, sync: bool) -> Backlog:
    url = create_database(server_url)
    engine = make_engine(url)
    clock = SimClock(utcnow().replace(tzinfo=UTC))
    try:
        with EmulatorServer(config=EmulatorConfig(xsd_dir=None, access_token_ttl=10**9), clock=clock) as emulator:
            run = make_run(engine, emulator, clock, url, sync=sync)
            magento = seed_orders(run, 1, n, spread_s=20 * 3600)
            pages = presync(run) if sync else 0
            presync_calls = emulator.state.calls("searchOrders")
            clock.advance(3600)  # the backlog comes later; Amazon's buckets are full again
            before = run.calls()
            insert_memos(run, magento)
            t_sim, t_wall = clock.time(), time.perf_counter()
            drive(run, all_done(run))
            sim_s, wall_s = clock.time() - t_sim, time.perf_counter() - t_wall
            after = run.calls()
            calls = {op: after[op] - before[op] for op in after if after[op] - before[op]}
            for other in ("lwaToken", "uploadFeedDocument", "downloadFeedDocument"):
                calls.pop(other, None)  # LWA and the presigned S3 URLs are not SP-API calls
            with engine.connect() as conn:
                done = conn.execute(select(func.count()).select_from(outbox)
                                    .where(outbox.c.status == "done")).scalar_one()
            if done != n:
                raise RuntimeError(f"backlog: {done} of {n} credit memos done")
        return Backlog(n, sim_s, wall_s, calls, pages, presync_calls)
    finally:
        engine.dispose()
        drop_database(server_url, url)


def idle_single(server_url: str, trials: int) -> list[float]:
    """Worker wall time from one outbox insert to its createFeed, Amazon idle."""
    url = create_database(server_url)
    engine = make_engine(url)
    clock = SimClock(utcnow().replace(tzinfo=UTC))
    out: list[float] = []
    try:
        with EmulatorServer(config=EmulatorConfig(xsd_dir=None, access_token_ttl=10**9), clock=clock) as emulator:
            run = make_run(engine, emulator, clock, url, sync=True)
            magento = seed_orders(run, 1, trials, spread_s=3600)
            presync(run)
            for k, order_id in magento.items():
                clock.advance(1800)  # idle: every bucket is full again
                created = emulator.state.calls("createFeed")
                amazon_id, item_id = _ids(k)
                now = clock()
                t0 = time.perf_counter()
                with engine.begin() as conn:
                    conn.execute(insert(outbox).values(
                        event_type="creditmemo", entity_id=k, order_id=order_id,
                        payload=memo_payload(k, order_id, amazon_id, item_id, now),
                        available_at=now, created_at=now, updated_at=now))
                for _ in range(50):
                    run.worker.cycle()
                    if emulator.state.calls("createFeed") > created:
                        break
                out.append(time.perf_counter() - t0)
                drive(run, all_done(run))
    finally:
        engine.dispose()
        drop_database(server_url, url)
    return sorted(out)


def figure(value: float, unit: str, target: float | None, *, at_most: bool = True
           ) -> dict[str, Any]:
    met = True if target is None else (value <= target if at_most else value >= target)
    return {"value": round(value, 4), "unit": unit, "target": target, "met": met}


def bench_sync(server_url: str, table: Any, say: Callable[[str], None]) -> dict[str, Any]:
    say(f"6a backlog of {BACKLOG} credit memos with the order sync")
    synced = backlog(server_url, BACKLOG, sync=True)
    say(f"6b backlog of {BASELINE} credit memos, one getOrder each (today)")
    base = backlog(server_url, BASELINE, sync=False)
    say(f"6c single credit memo while idle ({IDLE_TRIALS} trials)")
    idle = idle_single(server_url, IDLE_TRIALS)
    p50 = idle[len(idle) // 2]
    get_order = DEFAULT_LIMITS["getOrder"]
    base_10k_s = max(0.0, float((BACKLOG - get_order.burst) / get_order.rate))
    results = {
        "sync_backlog_time_to_accepted": figure(synced.sim_s, "s (simulated)", TARGET_BACKLOG_S),
        "sync_backlog_calls_per_creditmemo": figure(
            synced.total_calls / synced.memos, "SP-API calls", TARGET_CALLS_PER_MEMO),
        "sync_presync_search_orders_calls": figure(
            synced.presync_calls, f"searchOrders for {BACKLOG} orders as they arrived "
            "(before the credit memos)", None),
        "amazon_processing_time_in_emulator": figure(0.0, "s (excluded from the times above)",
                                                     None),
        "getorder_backlog_time_to_accepted_measured": figure(
            base.sim_s, f"s (simulated, {BASELINE} credit memos)", TARGET_BACKLOG_S),
        f"getorder_backlog_time_to_accepted_{BACKLOG}": figure(
            base_10k_s, f"s (getOrder plan: ({BACKLOG} - 30 burst) / 0.5 per s)",
            TARGET_BACKLOG_S),
        "getorder_backlog_calls_per_creditmemo": figure(
            base.total_calls / base.memos, "SP-API calls", TARGET_CALLS_PER_MEMO),
        "single_idle_p50_insert_to_createfeed": figure(p50, "s of worker wall time",
                                                       TARGET_IDLE_P50_S),
    }
    s = "6 order sync (issue 9)"
    for name, fig in results.items():
        target = "" if fig["target"] is None else f" (target <= {fig['target']})"
        verdict = "" if fig["target"] is None else (" MET" if fig["met"] else " NOT MET")
        table.add(s, name, fig["value"], f"{fig['unit']}{target}{verdict}")
    table.add(s, "sync backlog SP-API calls", ", ".join(f"{k}={v}" for k, v in
                                                        sorted(synced.calls.items())))
    table.add(s, "getOrder backlog SP-API calls", ", ".join(f"{k}={v}" for k, v in
                                                            sorted(base.calls.items())))
    table.add(s, "sync backlog wall time", synced.wall_s, "s")
    table.add(s, "single idle trials", " ".join(f"{t:.3f}" for t in idle), "s")
    return results
