"""Benchmarks: `make bench` (= python -m tests.bench). Prints figures; asserts nothing timed.

Speed and memory figures live here, never in the timed-out test suites. Runs against
TEST_DATABASE_URL when set, else starts its own throwaway mariadbd (tests.support.mariadb).
Everything stays on loopback. Sections:

1. outbox claim throughput: 4 spawned processes drain 20,000 rows (~2 KB payload) with
   sidecar.dao.outbox.claim(batch 100) + complete(); every row claimed exactly once?
2. Magento-side INSERT latency into the outbox from another connection while (1) runs
3. rules.decide on a 3-item shipped order with shipping
4. FeedBuilder: a ~10 MB OrderAdjustment feed (time, memory, messages), XSD validation
5. end to end: 500 credit memo outbox rows -> Worker -> SP-API emulator over HTTP, with
   Amazon's default createFeed limit (15 burst, 1 per ~2 min) so batching shows. The
   rate-limit waits are skipped by shifting one shared clock (worker, limiter, emulator)
   instead of sleeping; the wall time excludes them and the skipped time is printed.
6. order sync (issue 9 §3, tests/bench_sync.py): 10,000 credit memos decided on sync-proven
   state vs one getOrder each, and a single credit memo while Amazon is idle; every figure
   with its target also goes to bench/results.json ({"value", "unit", "target", "met"}).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import platform
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import make_url

from sidecar.amazon.ratelimit import DEFAULT_LIMITS, Limit, RateLimiter, epoch_us
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import Config
from sidecar.dao import outbox as outbox_dao
from sidecar.db import make_engine
from sidecar.domain import Refund
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.config import (
    DEFAULT_RATE_LIMITS,
    OPERATIONS,
    EmulatorConfig,
)
from sidecar.emulator.server import EmulatorServer
from sidecar.emulator.state import SeedItem
from sidecar.rules import decide
from sidecar.tables import feed, feed_message, outbox, sales_order, sales_order_grid
from sidecar.worker import Worker
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
SPAWN = multiprocessing.get_context("spawn")
QUEUE_TIMEOUT = 300.0  # only reached when a child process is broken

CLAIM_ROWS = 20_000
CLAIM_WORKERS = 4
CLAIM_BATCH = 100
PAYLOAD_BYTES = 2048
INSERT_PACE_S = 0.01  # the Magento-side inserter: one credit memo every ~10 ms
E2E_ROWS = 500
E2E_BATCH = 10  # worker claim batch: the planner holds feeds until the backlog is decided (one feed)
RULES_MIN_SECONDS = 1.5
D = Decimal

log = logging.getLogger("bench")


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- results table


@dataclasses.dataclass
class Table:
    rows: list[tuple[str, str, str, str]] = dataclasses.field(default_factory=list)

    def add(self, section: str, metric: str, value: object, unit: str = "") -> None:
        if isinstance(value, float):
            shown = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        elif isinstance(value, int):
            shown = f"{value:,}"
        else:
            shown = str(value)
        self.rows.append((section, metric, shown, unit))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in self.rows) for i in range(4)]
        last = ""
        for section, metric, value, unit in self.rows:
            if section != last and last:
                print()
            label = section if section != last else ""
            last = section
            print(f"{label:<{widths[0]}}  {metric:<{widths[1]}}  {value:>{widths[2]}}  {unit}")
        print(flush=True)


# --------------------------------------------------------------------------- database


@contextmanager
def mariadb_server() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from tests.support.mariadb import throwaway_server

    with throwaway_server() as server:
        yield server.url


def raw_connect(url: str) -> pymysql.Connection:
    u = make_url(url)
    return pymysql.connect(
        host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
        password=u.password or "", database=u.database, charset="utf8mb4", autocommit=False,
    )


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# --------------------------------------------------------------------- snapshot payloads


def _m(x: Decimal) -> str:
    return str(x.quantize(D("0.0001")))


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int  # ordered (and shipped)
    price: Decimal  # per unit, excl. tax
    tax: Decimal  # per unit


ORDER_LINES = (
    Line("MUG-BLUE", 2, D("16.80"), D("3.19")),
    Line("TEA-EARL", 1, D("24.00"), D("4.56")),
    Line("SPOON-SET", 3, D("5.50"), D("1.05")),
)
SHIPPING, SHIPPING_TAX = D("4.99"), D("0.95")


def memo_payload(n: int, order_id: int, amazon_id: str, codes: list[str],
                 created: datetime, pad: int = 0, currency: str = "USD") -> str:
    """docs/snapshot.md: one unit of each line plus the whole shipping credited."""
    items = []
    for k, (line, code) in enumerate(zip(ORDER_LINES, codes, strict=True), start=1):
        items.append({
            "entity_id": n * 10 + k, "order_item_id": n * 10 + k, "parent_item_id": None,
            "sku": line.sku, "name": line.sku.title() + ("x" * pad if k == 1 else ""),
            "product_type": "simple", "ext_order_item_id": code, "qty": "1.0000",
            "price": _m(line.price), "price_incl_tax": _m(line.price + line.tax),
            "row_total": _m(line.price), "row_total_incl_tax": _m(line.price + line.tax),
            "tax_amount": _m(line.tax), "discount_amount": "0.0000", "back_to_stock": True,
            "qty_ordered": _m(D(line.qty)), "qty_shipped": _m(D(line.qty)),
            "qty_refunded": "1.0000", "qty_canceled": "0.0000",
        })
    subtotal = sum((line.price for line in ORDER_LINES), D(0))
    item_tax = sum((line.tax for line in ORDER_LINES), D(0))
    doc = {
        "schema_version": 1, "event_type": "creditmemo",
        "order": {"entity_id": order_id, "increment_id": f"{100000000 + n:09d}",
                  "ext_order_id": amazon_id, "store_id": 1, "order_currency_code": currency,
                  "base_currency_code": currency, "state": "complete", "status": "complete"},
        "creditmemo": {
            "entity_id": n, "increment_id": f"{200000000 + n:09d}",
            "created_at": f"{created:%Y-%m-%d %H:%M:%S}", "order_currency_code": currency,
            "subtotal": _m(subtotal), "subtotal_incl_tax": _m(subtotal + item_tax),
            "tax_amount": _m(item_tax + SHIPPING_TAX), "discount_amount": "0.0000",
            "shipping_amount": _m(SHIPPING), "shipping_tax_amount": _m(SHIPPING_TAX),
            "shipping_incl_tax": _m(SHIPPING + SHIPPING_TAX), "adjustment_positive": "0.0000",
            "adjustment_negative": "0.0000",
            "grand_total": _m(subtotal + item_tax + SHIPPING + SHIPPING_TAX),
        },
        "items": items,
    }
    return json.dumps(doc)


MEMO_GRAND_TOTAL = (sum((line.price + line.tax for line in ORDER_LINES), D(0))
                    + SHIPPING + SHIPPING_TAX)


def padded_payload(n: int) -> str:
    base = memo_payload(n, 1000 + n, "302-1234567-1234567",
                        ["12345678901234", "22345678901234", "32345678901234"],
                        datetime(2030, 1, 1))
    return memo_payload(n, 1000 + n, "302-1234567-1234567",
                        ["12345678901234", "22345678901234", "32345678901234"],
                        datetime(2030, 1, 1), pad=max(0, PAYLOAD_BYTES - len(base)))


# ------------------------------------------------------- 1 + 2: claim throughput, inserts


def claim_worker(url: str, worker_id: str, ready: Queue[Any], go: Event,
                 results: Queue[Any]) -> None:
    """Spawned: claim batches of CLAIM_BATCH, complete each row, report what was claimed."""
    engine = make_engine(url)
    claimed: list[int] = []
    lost = 0
    error = ""
    started = finished = 0.0
    try:
        with engine.connect():
            pass  # connect before the start signal
        ready.put(worker_id)
        go.wait(60)
        started = time.perf_counter()
        while rows := outbox_dao.claim(engine, worker_id, batch_size=CLAIM_BATCH,
                                       lease_seconds=300):
            for row in rows:
                claimed.append(row.id)
                if not outbox_dao.complete(engine, row, outbox_dao.DONE, f"by {worker_id}"):
                    lost += 1
        finished = time.perf_counter()
    except Exception as exc:  # reported to the parent
        error = f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    results.put((worker_id, claimed, lost, error, started, finished))


class MagentoInserter(threading.Thread):
    """What the Magento module does per credit memo: INSERT one outbox row and COMMIT."""

    def __init__(self, url: str) -> None:
        super().__init__(name="magento-inserter", daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.insert_s: list[float] = []
        self.commit_s: list[float] = []
        self.errors: list[str] = []
        self.ids: list[int] = []

    def run(self) -> None:
        conn = raw_connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = 5")
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # Magento's
                cur.execute("SET time_zone = '+00:00'")
            conn.commit()
            n = 50_000_000
            while not self.stop.is_set():
                n += 1
                payload = padded_payload(n)
                try:
                    with conn.cursor() as cur:
                        t0 = time.perf_counter()
                        cur.execute(
                            "INSERT INTO refund_bridge_outbox (event_type, entity_id, order_id,"
                            " payload) VALUES ('creditmemo', %s, %s, %s)",
                            (n, 1000 + n, payload))
                        t1 = time.perf_counter()
                        new_id = int(cur.lastrowid)
                    conn.commit()
                    t2 = time.perf_counter()
                    self.insert_s.append(t1 - t0)
                    self.commit_s.append(t2 - t0)
                    self.ids.append(new_id)
                except pymysql.MySQLError as exc:
                    conn.rollback()
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.stop.wait(INSERT_PACE_S)
        finally:
            conn.close()


def row_lock_waits(url: str) -> tuple[int, int]:
    """InnoDB's server-wide (row lock waits, total ms waited) counters."""
    conn = raw_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                        "('Innodb_row_lock_waits', 'Innodb_row_lock_time')")
            values = {str(k): int(v) for k, v in cur.fetchall()}
    finally:
        conn.close()
    return values.get("Innodb_row_lock_waits", 0), values.get("Innodb_row_lock_time", 0)


def seed_outbox(engine: Engine, n: int) -> list[int]:
    due = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    with engine.begin() as conn:
        for start in range(1, n + 1, 1000):
            conn.execute(insert(outbox), [
                {"event_type": "creditmemo", "entity_id": e, "order_id": 1000 + e,
                 "payload": padded_payload(e), "available_at": due, "created_at": due,
                 "updated_at": due}
                for e in range(start, min(n, start + 999) + 1)
            ])
        return [int(i) for i in conn.execute(select(outbox.c.id).order_by(outbox.c.id)).scalars()]


def bench_claims(server_url: str, table: Table) -> None:
    url = create_database(server_url)
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        ids = seed_outbox(engine, CLAIM_ROWS)
        with engine.connect() as conn:
            avg = conn.execute(select(func.avg(func.length(outbox.c.payload)))).scalar_one()
        say(f"seeded {len(ids):,} outbox rows in {time.perf_counter() - t0:.1f}s")

        ready, results = SPAWN.Queue(), SPAWN.Queue()
        go = SPAWN.Event()
        workers = [SPAWN.Process(target=claim_worker, args=(url, f"w{i}", ready, go, results))
                   for i in range(CLAIM_WORKERS)]
        for p in workers:
            p.start()
        inserter = MagentoInserter(url)
        try:
            for _ in workers:
                ready.get(timeout=QUEUE_TIMEOUT)
            inserter.start()
            time.sleep(0.5)  # baseline inserts before the claims start
            baseline = len(inserter.insert_s)
            waits_before = row_lock_waits(url)
            go.set()
            reports = [results.get(timeout=QUEUE_TIMEOUT) for _ in workers]
            during = len(inserter.insert_s)
            waits_after = row_lock_waits(url)
        finally:
            inserter.stop.set()
            inserter.join(timeout=30)
            for p in workers:
                p.join(timeout=30)

        errors = [f"{w}: {e}" for w, _, _, e, _, _ in reports if e]
        claimed = [i for _, got, _, _, _, _ in reports for i in got]
        lost = sum(r[2] for r in reports)
        started = min(r[4] for r in reports)
        finished = max(r[5] for r in reports)
        elapsed = finished - started
        with engine.connect() as conn:
            pending = {int(i) for i in conn.execute(
                select(outbox.c.id).where(outbox.c.status == "pending")).scalars()}
            attempts = sorted(int(a) for a in conn.execute(
                select(outbox.c.attempts).where(outbox.c.status == "done").distinct()).scalars())
        counts = outbox_dao.status_counts(engine)
        every = set(ids) | set(inserter.ids)
        twice = len(claimed) - len(set(claimed))
        missed = every - set(claimed) - pending
        seeded_missed = set(ids) - set(claimed)
        ok = not errors and twice == 0 and not missed and not seeded_missed and lost == 0 \
            and attempts == [1] and counts["done"] == len(claimed)

        s = "1 outbox claim"
        table.add(s, "rows seeded (avg payload)", f"{len(ids):,} ({avg:,.0f} B)")
        table.add(s, "worker processes x claim batch", f"{CLAIM_WORKERS} x {CLAIM_BATCH}")
        table.add(s, "rows claimed+completed", len(claimed),
                  f"(incl. {len(set(claimed) & set(inserter.ids)):,} inserted during the run)")
        table.add(s, "drain time", elapsed, "s")
        table.add(s, "throughput (claim + complete)", len(claimed) / elapsed, "rows/s")
        per_worker = ", ".join(f"{w}={len(got):,}" for w, got, _, _, _, _ in sorted(reports))
        table.add(s, "rows per worker", per_worker)
        table.add(s, "claimed twice / seeded missed / lost leases",
                  f"{twice} / {len(seeded_missed)} / {lost}")
        table.add(s, "left pending (inserted after the drain)", len(pending))
        table.add(s, "exactly-once check", "PASS" if ok else "FAIL",
                  "; ".join(errors) or f"attempts={attempts}, done={counts['done']:,}")

        s = "2 Magento INSERT"
        ins = sorted(inserter.insert_s[baseline:during])
        com = sorted(inserter.commit_s[baseline:during])
        quiet = sorted(inserter.insert_s[:baseline] + inserter.insert_s[during:])
        table.add(s, "inserts during the claims", len(ins),
                  f"(1 per ~{INSERT_PACE_S * 1000:.0f} ms, REPEATABLE READ session)")
        table.add(s, "INSERT p50 / p99 / max",
                  f"{percentile(ins, 50) * 1e3:.2f} / {percentile(ins, 99) * 1e3:.2f} / "
                  f"{(ins[-1] if ins else float('nan')) * 1e3:.2f}", "ms")
        table.add(s, "INSERT+COMMIT p50 / p99",
                  f"{percentile(com, 50) * 1e3:.2f} / {percentile(com, 99) * 1e3:.2f}", "ms")
        table.add(s, "INSERT p50 with no claims running",
                  f"{percentile(quiet, 50) * 1e3:.2f}", f"ms ({len(quiet)} samples)")
        table.add(s, "InnoDB row lock waits during the claims",
                  waits_after[0] - waits_before[0],
                  f"server-wide, all sessions ({waits_after[1] - waits_before[1]} ms waited)")
        table.add(s, "lock wait timeouts / errors", len(inserter.errors),
                  inserter.errors[0] if inserter.errors else "(none: not blocked)")
    finally:
        engine.dispose()
        drop_database(server_url, url)


# ------------------------------------------------------------------------------ 3 rules


def rules_inputs() -> tuple[Any, ...]:
    from tests.unit import rule_builders as rb

    order = rb.amz_order(
        rb.amz_item(rb.CODE_A, "MUG-BLUE", qty=2, shipped=2, unit_price="16.80",
                    unit_tax="3.19", shipping="4.99", shipping_tax="0.95"),
        rb.amz_item(rb.CODE_B, "TEA-EARL", qty=1, shipped=1, unit_price="24.00",
                    unit_tax="4.56", shipping="0", shipping_tax="0"),
        rb.amz_item(rb.CODE_C, "SPOON-SET", qty=3, shipped=3, unit_price="5.50",
                    unit_tax="1.05", shipping="0", shipping_tax="0"),
    )
    memo = rb.memo(
        rb.memo_item(33, "MUG-BLUE", 1, "16.80", "3.19", ext=rb.CODE_A),
        rb.memo_item(34, "TEA-EARL", 1, "24.00", "4.56", ext=rb.CODE_B),
        rb.memo_item(35, "SPOON-SET", 1, "5.50", "1.05", ext=rb.CODE_C),
        shipping="4.99", shipping_tax="0.95",
    )
    return memo, order, rb.settings(), rb.ledger(), rb.NOW


def bench_rules(table: Table) -> Refund:
    memo, order, settings, ledger, now = rules_inputs()
    decision = decide(memo, order, settings, ledger, now)
    if not isinstance(decision, Refund):
        raise AssertionError(f"expected a Refund, got {decision!r}")
    for _ in range(200):
        decide(memo, order, settings, ledger, now)
    n = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < RULES_MIN_SECONDS:
        for _ in range(500):
            decide(memo, order, settings, ledger, now)
        n += 500
    s = "3 rules.decide"
    table.add(s, "input", f"3 shipped items + shipping -> Refund {decision.total} "
                          f"{decision.currency}, {len(decision.lines)} lines")
    table.add(s, "decisions", n, f"in {elapsed:.2f} s")
    table.add(s, "throughput", n / elapsed, "decisions/s")
    table.add(s, "latency", elapsed / n * 1e6, "us/decision")
    return decision


# ---------------------------------------------------------------------------- 4 feeds


def xsd_dir() -> Path | None:
    configured = os.environ.get("AMAZON_XSD_DIR")
    default = ROOT.parent / "shared" / "reference" / "amazon" / "xsd"
    path = Path(configured) if configured else default
    return path if (path / "amzn-envelope.xsd").is_file() else None


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def feed_probe(refund: Refund, xsd: str | None, results: Queue[Any]) -> None:
    """Spawned (a clean process, so RSS figures are the feed's own)."""
    from sidecar.amazon.feed_xml import MESSAGE_TYPE_ADJUSTMENT, FeedBuilder
    from sidecar.amazon.xsd import load_schema, validate_feed

    out: dict[str, Any] = {}
    try:
        refunds = [dataclasses.replace(refund, amazon_order_id=f"302-{n:07d}-{n * 7 % 10**7:07d}")
                   for n in range(1, 12_001)]

        def build() -> tuple[int, float, bytes, float]:
            builder = FeedBuilder("A1EXAMPLESELLER", MESSAGE_TYPE_ADJUSTMENT)
            t0 = time.perf_counter()
            for message_id, r in enumerate(refunds, start=1):
                if not builder.try_add(message_id, r):
                    break
            else:
                raise AssertionError("12,000 refunds did not fill a feed")
            t1 = time.perf_counter()
            payload = builder.to_bytes()
            return len(builder), t1 - t0, payload, time.perf_counter() - t1

        rss0 = _rss_kib("VmRSS")
        messages, add_s, payload, ser_s = build()
        hwm = _rss_kib("VmHWM")
        out.update(messages=messages, add_s=add_s, ser_s=ser_s, size=len(payload),
                   rss_growth_kib=hwm - rss0)
        del payload
        tracemalloc.start()
        build()
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if xsd is not None:
            _, _, payload, _ = build()
            t0 = time.perf_counter()
            load_schema(Path(xsd))
            out["xsd_compile_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            validate_feed(payload, Path(xsd))
            out["xsd_validate_s"] = time.perf_counter() - t0
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    results.put(out)


def bench_feed(refund: Refund, table: Table) -> None:
    xsd = xsd_dir()
    results = SPAWN.Queue()
    p = SPAWN.Process(target=feed_probe, args=(refund, str(xsd) if xsd else None, results))
    p.start()
    out = results.get(timeout=QUEUE_TIMEOUT)
    p.join(timeout=30)
    s = "4 feed building"
    if "error" in out:
        table.add(s, "ERROR", out["error"])
        return
    size_mb = out["size"] / 1e6
    table.add(s, "messages per feed (3-line refunds)", out["messages"],
              f"in {out['size']:,} B ({out['size'] / 2**20:.2f} MiB, limit 10 MiB)")
    table.add(s, "build (try_add x messages)", out["add_s"], "s")
    table.add(s, "serialise (to_bytes)", out["ser_s"], "s")
    table.add(s, "build rate", size_mb / (out["add_s"] + out["ser_s"]), "MB/s")
    table.add(s, "tracemalloc peak (Python heap)", out["traced_peak"] / 2**20, "MiB")
    table.add(s, "process RSS growth (incl. libxml2)", out["rss_growth_kib"] / 1024,
              "MiB (tracemalloc cannot see libxml2's malloc)")
    if "xsd_validate_s" in out:
        table.add(s, "XSD compile (once)", out["xsd_compile_s"], "s")
        table.add(s, "XSD validation of the feed", out["xsd_validate_s"], f"s ({xsd})")
    else:
        table.add(s, "XSD validation", "skipped",
                  "no amzn-envelope.xsd: set AMAZON_XSD_DIR or ../shared/reference/amazon/xsd")


# ------------------------------------------------------------------------- 5 end to end


class ShiftedClock:
    """Real time plus a shift the driver adds to instead of sleeping (rate-limit waits)."""

    def __init__(self) -> None:
        self.shift = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:  # the emulator's Clock protocol
        return time.time() + self.shift

    def __call__(self) -> datetime:  # the worker's now()
        return utcnow() + timedelta(seconds=self.shift)

    def epoch_us(self) -> int:  # the rate limiter's clock
        return epoch_us() + int(self.shift * 1_000_000)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.shift += max(0.0, seconds)


def seed_amazon_order(emulator: EmulatorServer, k: int, amazon_id: str, marketplace_id: str,
                      currency: str, now: datetime) -> list[str]:
    """Order k of ORDER_LINES on the emulator, shipped in full; returns its OrderItemIds."""
    codes = [f"{k:07d}{j:07d}" for j in range(1, len(ORDER_LINES) + 1)]
    emulator.state.seed_order(
        amazon_id, marketplace_id=marketplace_id, currency=currency,
        created_time=now - timedelta(days=3), last_updated_time=now - timedelta(days=1),
        items=[SeedItem(order_item_id=code, seller_sku=line.sku,
                        quantity_ordered=line.qty, quantity_shipped=line.qty,
                        item_price=line.price * line.qty, item_tax=line.tax * line.qty,
                        shipping_price=SHIPPING if j == 0 else D(0),
                        shipping_tax=SHIPPING_TAX if j == 0 else D(0))
               for j, (line, code) in enumerate(zip(ORDER_LINES, codes, strict=True))],
    )
    return codes


def seed_e2e(engine: Engine, emulator: EmulatorServer, n: int) -> list[tuple[str, list[str]]]:
    now = utcnow().replace(microsecond=0)
    orders: list[tuple[str, list[str]]] = []
    rows = []
    with engine.begin() as conn:
        for k in range(1, n + 1):
            amazon_id = f"302-{k:07d}-{4000000 + k:07d}"
            codes = seed_amazon_order(emulator, k, amazon_id, E2E_MARKETPLACE, "USD", now)
            increment = f"{100000000 + k:09d}"
            order_id = int(conn.execute(insert(sales_order).values(
                state="complete", status="complete", increment_id=increment,
                ext_order_id=amazon_id, store_id=1, order_currency_code="USD",
                grand_total=sum((li.price + li.tax) * li.qty for li in ORDER_LINES) + SHIPPING
                + SHIPPING_TAX,
            )).inserted_primary_key[0])  # type: ignore[index]
            conn.execute(insert(sales_order_grid).values(entity_id=order_id, status="complete",
                                                         increment_id=increment))
            rows.append({"event_type": "creditmemo", "entity_id": k, "order_id": order_id,
                         "payload": memo_payload(k, order_id, amazon_id, codes, now),
                         "available_at": now, "created_at": now, "updated_at": now})
            orders.append((amazon_id, codes))
        conn.execute(insert(outbox), rows)
    return orders


# US: prices without tax and a separate Tax component, as the seeded orders are. A DE order
# would need VAT-inclusive prices (refunds there are sent net: docs/rules.md)
E2E_MARKETPLACE = "ATVPDKIKX0DER"
FEED_DONE_STATES = ("done", "cancelled", "fatal", "unknown")


def next_due(engine: Engine, limiter: RateLimiter, now: datetime) -> datetime | None:
    """When the worker next has something to do: a feed check, a pending row, or the next
    createFeed token for messages waiting to be batched."""
    with engine.connect() as conn:
        waiting = conn.execute(select(func.count()).select_from(feed_message)
                               .where(feed_message.c.state == "planned")).scalar_one()
        feed_due = conn.execute(select(func.min(feed.c.next_check_at))
                                .where(feed.c.state.not_in(FEED_DONE_STATES))).scalar_one()
        row_due = conn.execute(select(func.min(outbox.c.available_at))
                               .where(outbox.c.status == "pending")).scalar_one()
    token_due = (now + timedelta(seconds=limiter.peek("acct-eu", "createFeed"))
                 if waiting else None)
    due = [d for d in (feed_due, row_due, token_due) if d is not None]
    return min(due) if due else None


def bench_e2e(server_url: str, table: Table) -> None:
    url = create_database(server_url)
    engine = make_engine(url)
    clock = ShiftedClock()
    xsd = xsd_dir()
    # Amazon's default plan for createFeed; everything else fast (getOrder's default 0.5/s
    # would make 500 rows a 16-minute benchmark of one rate limit)
    fast = {op: Limit(D(1000), 1000) for op in DEFAULT_LIMITS if op != "createFeed"}
    emulator_limits = {op: (1000.0, 1000) for op in DEFAULT_RATE_LIMITS if op != "createFeed"}
    try:
        with EmulatorServer(config=EmulatorConfig(xsd_dir=xsd, rate_limits=emulator_limits),
                            clock=clock) as emulator:
            acct = emulator_account(emulator.url, "acct-eu", (1,), marketplace_id=E2E_MARKETPLACE)
            cfg = Config(database_url=url, accounts=(acct,), worker_id="bench-worker",
                         batch_size=E2E_BATCH, feed_poll_seconds=0, poll_interval_seconds=0)
            limiter = RateLimiter(engine, limits={"acct-eu": fast}, clock_us=clock.epoch_us,
                                  sleep=clock.advance)
            worker = Worker(cfg, engine, clients=ClientFactory(engine, limiter), now=clock)
            orders = seed_e2e(engine, emulator, E2E_ROWS)
            say(f"seeded {E2E_ROWS} credit memos; driving the worker")

            cycles = 0
            t0 = time.perf_counter()
            while cycles < 20_000:
                cycles += 1
                if worker.cycle():
                    continue
                due = next_due(engine, limiter, clock())
                if due is None:
                    break  # nothing pending, no feed in flight
                clock.advance((due - clock()).total_seconds() + 0.01)
            wall = time.perf_counter() - t0

            counts = outbox_dao.status_counts(engine)
            with engine.connect() as conn:
                sizes = [int(m) for m in conn.execute(
                    select(feed.c.message_count).order_by(feed.c.id)).scalars()]
                states: dict[str, int] = dict(conn.execute(
                    select(feed.c.state, func.count()).group_by(feed.c.state)).all())
            once = wrong = 0
            refunded = D(0)
            for amazon_id, codes in orders:
                for code in codes:
                    c = emulator.state.refund_counter(amazon_id, code)
                    refunded += c.total
                    if c.adjustments == 1 and c.units_refunded == 1:
                        once += 1
                    else:
                        wrong += 1
            expected = MEMO_GRAND_TOTAL * len(orders)
            calls = {op: emulator.state.calls(op) for op in sorted(OPERATIONS)}
            amazon_feeds = emulator.state.all_feeds()

        s = "5 end to end"
        table.add(s, "credit memo rows (3 items + shipping)", E2E_ROWS,
                  f"worker batch {E2E_BATCH}, emulator XSD check "
                  f"{'on' if xsd else 'off'}")
        table.add(s, "wall time", wall, f"s ({cycles} worker cycles)")
        table.add(s, "throughput", E2E_ROWS / wall, "rows/s")
        table.add(s, "createFeed waits skipped (clock shifted)", clock.shift,
                  "s of simulated time, not slept")
        table.add(s, "outbox statuses", ", ".join(f"{k}={v}" for k, v in counts.items() if v))
        table.add(s, "feeds created (sidecar / emulator)", f"{len(sizes)} / {len(amazon_feeds)}",
                  ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
        table.add(s, "messages per feed", " ".join(map(str, sizes)))
        for op, n in calls.items():
            if n:
                limit = "Amazon default" if op == "createFeed" else ""
                table.add(s, f"SP-API calls: {op}", n, limit)
        table.add(s, "items refunded exactly once", f"{once} / {once + wrong}",
                  "PASS" if wrong == 0 and once == 3 * E2E_ROWS else "FAIL")
        table.add(s, "refunded on Amazon vs credit memos",
                  f"{refunded} / {expected} USD", "PASS" if refunded == expected else "FAIL")
    finally:
        engine.dispose()
        drop_database(server_url, url)


# ---------------------------------------------------------------------------------- main


def machine(server_url: str) -> str:
    conn = raw_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            version = str(row[0]) if row else "?"
    finally:
        conn.close()
    return (f"machine: nproc={os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), "
            f"Python {platform.python_version()} ({platform.machine()}), "
            f"MariaDB {version}")


def timed(name: str, fn: Callable[[], Any]) -> Any:
    say(f"{name} ...")
    t0 = time.perf_counter()
    result = fn()
    say(f"{name} done in {time.perf_counter() - t0:.1f}s")
    return result


def exactly_once_bounds(table: Table) -> dict[str, Any]:
    """Issue 7 item 10: how long a createFeed that failed keeps its group's feeds waiting.
    Only an unknown outcome (timeout, 5xx) blocks, for the getFeeds lag the reconciliation
    argument needs (docs/feeds.md); a definitive refusal (4xx, 429) blocks nothing."""
    from sidecar.feeds import UNKNOWN_OUTCOME_BLOCK
    from tests.bench_sync import figure

    s = "7 exactly-once bounds (issue 7)"
    out = {
        "createfeed_unknown_outcome_group_block": figure(
            UNKNOWN_OUTCOME_BLOCK.total_seconds(),
            "s a group waits after a createFeed whose outcome is unknown", 300.0),
        "createfeed_refused_group_block": figure(
            0.0, "s a group waits after a createFeed Amazon refused (4xx, 429)", 0.0),
    }
    for name, fig in out.items():
        table.add(s, name, fig["value"], f"{fig['unit']} (target <= {fig['target']})"
                  f"{' MET' if fig['met'] else ' NOT MET'}")
    return out


def other_figures(table: Table, *, exclude: set[str]) -> dict[str, Any]:
    """Sections 1-5 as figures too (no target: they are measured, not promised)."""
    out: dict[str, Any] = {}
    for section, metric, value, unit in table.rows:
        if metric in exclude or section.startswith(("6 ", "7 ")):
            continue
        out[f"{section} / {metric}"] = {"value": value, "unit": unit, "target": None,
                                        "met": None}
    return out


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    table = Table()
    started = time.perf_counter()
    with mariadb_server() as server_url:
        print(machine(server_url), flush=True)
        timed("1+2 outbox claims / Magento inserts", lambda: bench_claims(server_url, table))
        refund = timed("3 rules", lambda: bench_rules(table))
        timed("4 feed building", lambda: bench_feed(refund, table))
        timed("5 end to end", lambda: bench_e2e(server_url, table))
        from tests.bench_sync import bench_sync

        results = timed("6 order sync", lambda: bench_sync(server_url, table, say))
    results.update(exactly_once_bounds(table))
    results.update(other_figures(table, exclude=set(results)))
    print()
    table.print()
    out = ROOT / "bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures with targets: {out.relative_to(ROOT)}")
    print(f"total bench time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
