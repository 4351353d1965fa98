"""The reliability harness: worker subprocesses on a shared accelerated clock, the SP-API
emulator in this process, seeding, a driver that waits on conditions, and the figures.

Time. Every party reads one clock: real time plus a shift held in shared memory
(:class:`SharedClock`). The workers (spawned processes), their rate limiter and the emulator
all read it; only the driver moves it, at
most :data:`ACCELERATION` simulated seconds per real second. So a lease of
:data:`LEASE_SECONDS` still outlasts any HTTP timeout of the workers (their clients time out
after :data:`CLIENT_TIMEOUT`), and the sidecar's minutes-long waits (reconciliation grace,
feed backoff) pass in seconds without anybody sleeping.

Figures (:class:`Figures`): per scenario, duplicates counted twice (the emulator's per-item
refund counters: more than one accepted adjustment; the feeds Amazon processed: an order in
more than one DONE feed), lost (a valid credit memo that did not end refunded, or ended
"done" with nothing refunded), stuck (an outbox row or feed not terminal at the deadline)
and parked (needs_attention).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import multiprocessing
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, func, insert, select

from sidecar.amazon.client import SpApiClient
from sidecar.amazon.ratelimit import DEFAULT_LIMITS, Limit, RateLimiter, epoch_us
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config
from sidecar.db import make_engine
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.model import FeedStatus
from sidecar.emulator.server import EmulatorServer
from sidecar.tables import feed, feed_message, outbox, sales_order, sales_order_grid
from tests.bench import ORDER_LINES, SHIPPING, SHIPPING_TAX, memo_payload, seed_amazon_order

SPAWN = multiprocessing.get_context("spawn")
MARKETPLACE = "A1PA6795UKMFR9"
ACCELERATION = 60.0  # simulated seconds per real second, at most
LEASE_SECONDS = 120
CLIENT_TIMEOUT = (1.0, 1.5)  # connect, read: a lost answer costs 1.5 s real = 90 s simulated
HANG_SECONDS = 2.0  # emulator hang faults outlast the read timeout
TERMINAL_ROWS = ("done", "skipped", "rejected", "dead", "needs_attention")
TERMINAL_FEEDS = ("done", "cancelled", "fatal", "unknown")
FAST = {op: Limit(Decimal(1000), 1000) for op in DEFAULT_LIMITS}
D = Decimal
log = logging.getLogger("reliability")


# --------------------------------------------------------------------------------- clock


class SharedClock:
    """Real time plus a shift in shared memory: one clock for every process."""

    def __init__(self, shift: Synchronized[float] | None = None) -> None:
        self.shift = shift if shift is not None else SPAWN.Value("d", 0.0, lock=False)

    @property
    def seconds(self) -> float:
        return float(self.shift.value)

    def time(self) -> float:  # the emulator's Clock protocol
        return time.time() + self.seconds

    def __call__(self) -> datetime:  # the worker's now()
        return utcnow() + timedelta(seconds=self.seconds)

    def epoch_us(self) -> int:  # the rate limiter's clock
        return epoch_us() + int(self.seconds * 1_000_000)

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.shift.value = self.seconds + seconds


# ------------------------------------------------------------------------ worker process


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """Everything a spawned worker needs (picklable)."""

    database_url: str
    emulator_url: str
    worker_id: str
    account_id: str = "acct-eu"
    store_ids: tuple[int, ...] = (1,)
    batch_size: int = 10
    log_path: str | None = None


def account_for(emulator_url: str, account_id: str, store_ids: tuple[int, ...]) -> AmazonAccount:
    """The emulator's seller, requests unsigned: SigV4 dates come from the real clock, and
    the emulator (on the shifted clock) would refuse them as more than 15 minutes off."""
    acct = emulator_account(emulator_url, account_id, store_ids, marketplace_id=MARKETPLACE)
    return dataclasses.replace(
        acct, credentials=dataclasses.replace(acct.credentials, sign_requests=False)
    )


def worker_config(spec: WorkerSpec) -> Config:
    return Config(
        database_url=spec.database_url,
        accounts=(account_for(spec.emulator_url, spec.account_id, spec.store_ids),),
        worker_id=spec.worker_id,
        batch_size=spec.batch_size,
        lease_seconds=LEASE_SECONDS,
        max_attempts=10,
        backoff_base_seconds=1.0,
        backoff_max_seconds=120.0,
        poll_interval_seconds=0.05,
        feed_poll_seconds=5.0,
    )


class QuickClients(ClientFactory):
    """Clients with short timeouts and backoffs (real seconds: they sleep for real)."""

    def __call__(self, account: AmazonAccount) -> SpApiClient:
        with self._lock:
            client = self._clients.get(account.account_id)
            if client is None:
                extra: dict[str, Any] = {}
                if "upload_hosts" in inspect.signature(SpApiClient).parameters:
                    # the feed upload goes only to allowed hosts (h3): the emulator's
                    extra["upload_hosts"] = getattr(account.settings, "upload_hosts", ())
                client = SpApiClient(
                    account.account_id, account.credentials, self.limiter,
                    session=requests.Session(), timeout=CLIENT_TIMEOUT,
                    backoff_base_s=0.02, backoff_cap_s=0.2, sleep=time.sleep, **extra,
                )
                self._clients[account.account_id] = client
            return client


def worker_main(spec: WorkerSpec, shift: Synchronized[float]) -> None:
    """Spawned: one sidecar worker on the shared clock until SIGTERM (or SIGKILL)."""
    from sidecar.worker import Worker

    handlers: list[logging.Handler] = []
    if spec.log_path:
        handlers.append(logging.FileHandler(spec.log_path))
    logging.basicConfig(level=logging.WARNING, handlers=handlers or None,
                        format=f"%(asctime)s {spec.worker_id} %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    clock = SharedClock(shift)
    cfg = worker_config(spec)
    engine = make_engine(spec.database_url)
    limiter = RateLimiter(engine, default_limits=FAST, clock_us=clock.epoch_us)
    worker = Worker(cfg, engine, clients=QuickClients(engine, limiter), now=clock)
    worker.run(stop=stop, max_cycles=10**9)


class Workers:
    """Spawned worker processes that a test can kill (SIGKILL) and replace."""

    def __init__(self, clock: SharedClock, log_dir: Path) -> None:
        self.clock = clock
        self.log_dir = log_dir
        self.procs: dict[str, BaseProcess] = {}
        self.kills = 0
        self._n = 0

    def start(self, database_url: str, emulator_url: str, **kwargs: Any) -> str:
        self._n += 1
        worker_id = f"{kwargs.pop('name', 'w')}{self._n}"
        spec = WorkerSpec(database_url, emulator_url, worker_id,
                          log_path=str(self.log_dir / f"{worker_id}.log"), **kwargs)
        proc = SPAWN.Process(target=worker_main, args=(spec, self.clock.shift),
                             name=worker_id, daemon=True)
        proc.start()
        self.procs[worker_id] = proc
        return worker_id

    def kill(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        proc.kill()  # SIGKILL: no cleanup, no goodbye
        proc.join(timeout=10)
        self.kills += 1

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self.procs.clear()

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            if text:
                out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


@contextmanager
def workers(clock: SharedClock, log_dir: Path) -> Iterator[Workers]:
    pool = Workers(clock, log_dir)
    try:
        yield pool
    finally:
        pool.stop_all()


# -------------------------------------------------------------------------------- seeding


@dataclasses.dataclass(frozen=True)
class Memo:
    """One valid credit memo row: one unit of each of ORDER_LINES plus shipping."""

    outbox_id: int
    amazon_order_id: str
    item_ids: tuple[str, ...]


def seed_memos(engine: Engine, emulator: EmulatorServer, n: int, *, start: int = 1,
               store_id: int = 1, prefix: str = "302") -> list[Memo]:
    """n orders in Magento and on the emulator, each with one credit memo outbox row."""
    now = utcnow().replace(microsecond=0) + timedelta(seconds=0)
    memos = []
    with engine.begin() as conn:
        for k in range(start, start + n):
            amazon_id = f"{prefix}-{k:07d}-{4000000 + k:07d}"
            codes = seed_amazon_order(emulator, k, amazon_id, MARKETPLACE, "EUR", now)
            order_id = insert_order(conn, k, amazon_id, store_id)
            payload = json.loads(memo_payload(k, order_id, amazon_id, codes,
                                              now - timedelta(minutes=1), currency="EUR"))
            payload["order"]["store_id"] = store_id
            row_id = conn.execute(insert(outbox).values(
                event_type="creditmemo", entity_id=k, order_id=order_id,
                payload=json.dumps(payload), available_at=now - timedelta(minutes=1),
                created_at=now, updated_at=now,
            )).inserted_primary_key[0]  # type: ignore[index]
            memos.append(Memo(int(row_id), amazon_id, tuple(codes)))
    return memos


def insert_order(conn: Any, k: int, amazon_id: str, store_id: int = 1) -> int:
    increment = f"{100000000 + k:09d}"
    order_id = int(conn.execute(insert(sales_order).values(
        state="complete", status="complete", increment_id=increment, ext_order_id=amazon_id,
        store_id=store_id, order_currency_code="EUR",
        grand_total=sum((li.price + li.tax) * li.qty for li in ORDER_LINES) + SHIPPING
        + SHIPPING_TAX,
    )).inserted_primary_key[0])
    conn.execute(insert(sales_order_grid).values(entity_id=order_id, status="complete",
                                                 increment_id=increment))
    return order_id


# --------------------------------------------------------------------------------- driver


def settled(engine: Engine) -> bool:
    """Every outbox row and every feed terminal, no message waiting for a feed."""
    with engine.connect() as conn:
        open_rows = conn.execute(select(func.count()).select_from(outbox)
                                 .where(outbox.c.status.not_in(TERMINAL_ROWS))).scalar_one()
        open_feeds = conn.execute(select(func.count()).select_from(feed)
                                  .where(feed.c.state.not_in(TERMINAL_FEEDS))).scalar_one()
        waiting = conn.execute(select(func.count()).select_from(feed_message)
                               .where(feed_message.c.state == "planned")).scalar_one()
    return int(open_rows) + int(open_feeds) + int(waiting) == 0


def next_due(engine: Engine) -> datetime | None:
    """The earliest moment the database says something becomes due."""
    with engine.connect() as conn:
        pending = conn.execute(select(func.min(outbox.c.available_at))
                               .where(outbox.c.status == "pending")).scalar_one()
        leased = conn.execute(select(func.min(outbox.c.lease_expires_at))
                              .where(outbox.c.status == "processing")).scalar_one()
        feeds = conn.execute(select(func.min(func.greatest(
            feed.c.next_check_at, func.coalesce(feed.c.lease_expires_at, feed.c.next_check_at))))
            .where(feed.c.state.not_in(TERMINAL_FEEDS))).scalar_one()
    due = [d for d in (pending, leased, feeds) if d is not None]
    return min(due) if due else None


TICK = 0.05


def drive(engines: Sequence[Engine], clock: SharedClock, *, real_seconds: float,
          sim_seconds: float = 24 * 3600, tick: Callable[[], None] | None = None,
          done: Callable[[], bool] | None = None) -> bool:
    """Wait until every database has settled (or ``done``), moving the shared clock on by
    at most ACCELERATION x the real time (never past the next due moment by more than a
    second). False when a deadline passed first."""
    real_deadline = time.monotonic() + real_seconds
    sim_start = clock.seconds
    finished = done or (lambda: all(settled(e) for e in engines))
    wake = threading.Event()
    while time.monotonic() < real_deadline and clock.seconds - sim_start < sim_seconds:
        if tick is not None:
            tick()
        if finished():
            return True
        _advance(engines, clock)
        wake.wait(TICK)  # a poll interval, not a wait for an outcome
    return finished()


def _advance(engines: Sequence[Engine], clock: SharedClock) -> None:
    step = ACCELERATION * TICK
    dues = [d for d in (next_due(e) for e in engines) if d is not None]
    if dues:
        ahead = (min(dues) - clock()).total_seconds() + 1.0
        if ahead > 0:
            step = min(step, ahead)
    clock.advance(step)


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    wake = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        wake.wait(TICK)


# -------------------------------------------------------------------------------- figures


@dataclasses.dataclass
class Figures:
    scenario: str
    memos: int = 0
    dup_counters: int = 0
    dup_feeds: int = 0
    lost: int = 0
    stuck: int = 0
    parked: int = 0
    parked_feeds: int = 0  # feeds ended "unknown" / "fatal": their refunds go to a human
    wall_s: float = 0.0
    sim_s: float = 0.0
    notes: str = ""
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.dup_counters + self.dup_feeds


_ORDER_RE = re.compile(rb"<AmazonOrderID>([^<]+)</AmazonOrderID>")
_MESSAGE_RE = re.compile(rb"<Message>.*?</Message>", re.S)
_MESSAGE_ID_RE = re.compile(rb"<MessageID>(\d+)</MessageID>")


def feeds_per_order(emulator: EmulatorServer) -> Counter[str]:
    """Order id -> how many DONE feeds accepted a message for it (Amazon applied them)."""
    counts: Counter[str] = Counter()
    for f in emulator.state.all_feeds():
        if f.status != FeedStatus.DONE:
            continue
        content = emulator.state.document_content(f.input_feed_document_id) or b""
        accepted = set(f.accepted_messages)
        orders = set()
        for message in _MESSAGE_RE.findall(content):
            mid, order = _MESSAGE_ID_RE.search(message), _ORDER_RE.search(message)
            if mid and order and int(mid.group(1)) in accepted:
                orders.add(order.group(1).decode())
        counts.update(orders)
    return counts


def statuses(engine: Engine) -> dict[int, tuple[str, str]]:
    with engine.connect() as conn:
        return {int(r.id): (r.status, r.status_message or r.last_error or "")
                for r in conn.execute(select(outbox.c.id, outbox.c.status,
                                             outbox.c.status_message, outbox.c.last_error))}


def open_feeds(engine: Engine) -> list[str]:
    """One line per feed that is not terminal: what it waits for."""
    with engine.connect() as conn:
        return [f"feed {r.id} {r.state} amazon={r.amazon_feed_id} attempts={r.attempts} "
                f"next={r.next_check_at}: {(r.last_error or '')[:160]}"
                for r in conn.execute(select(feed).where(feed.c.state.not_in(TERMINAL_FEEDS)))]


def measure(fig: Figures, engine: Engine, emulator: EmulatorServer, memos: Iterable[Memo],
            *, other_rows_terminal: bool = True) -> Figures:
    """Fill duplicates / lost / stuck / parked for ``memos`` (valid credit memos)."""
    memos = list(memos)
    rows = statuses(engine)
    per_feed = feeds_per_order(emulator)
    fig.memos += len(memos)
    for m in memos:
        status, message = rows[m.outbox_id]
        counters = [emulator.state.refund_counter(m.amazon_order_id, i) for i in m.item_ids]
        fig.dup_counters += sum(max(0, c.adjustments - 1) for c in counters)
        fig.dup_feeds += max(0, per_feed[m.amazon_order_id] - 1)
        refunded = all(c.adjustments >= 1 and c.units_refunded >= 1 for c in counters)
        if status == "needs_attention":
            fig.parked += 1
            if "resolve" not in message:
                fig.problems.append(f"row {m.outbox_id} parked without saying how to "
                                    f"resolve it: {message[:200]}")
                fig.lost += 1  # nobody would know what to do with it
        elif status not in TERMINAL_ROWS:
            fig.stuck += 1
            fig.problems.append(f"row {m.outbox_id} stuck in {status}: {message[:120]}")
        elif status != "done" or not refunded:
            fig.lost += 1
            fig.problems.append(f"row {m.outbox_id} {status}, refunded={refunded}: "
                                f"{message[:160]}")
        if any(c.adjustments > 1 for c in counters) or per_feed[m.amazon_order_id] > 1:
            fig.problems.append(f"row {m.outbox_id} ({m.amazon_order_id}) refunded "
                                f"{[c.adjustments for c in counters]} times, in "
                                f"{per_feed[m.amazon_order_id]} feeds")
    mine = {m.outbox_id for m in memos}
    if other_rows_terminal:
        fig.stuck += sum(1 for i, (s, _) in rows.items()
                         if i not in mine and s not in TERMINAL_ROWS)
    with engine.connect() as conn:
        fig.parked_feeds += int(conn.execute(
            select(func.count()).select_from(feed)
            .where(feed.c.state.in_(("unknown", "fatal")))).scalar_one())
    stuck_feeds = open_feeds(engine)
    fig.stuck += len(stuck_feeds)
    fig.problems[:0] = stuck_feeds
    return fig


def check(fig: Figures, *, lost_answers: int = 0) -> None:
    """The suite's assertion: no duplicate, nothing lost, nothing stuck, and parking only
    where the exactly-once rules must park: a feed ends unknown only when a createFeed
    answer was lost after Amazon created a feed (at most ``lost_answers`` such feeds: an
    all-accepted report cannot prove a feed ours, docs/feeds.md), and every parked row
    says which command resolves it (checked in :func:`measure`)."""
    problems = "\n".join(fig.problems[:30])
    assert fig.duplicates == 0, f"{fig.scenario}: {fig.duplicates} duplicate refunds\n{problems}"
    assert fig.lost == 0, f"{fig.scenario}: {fig.lost} lost refunds\n{problems}"
    assert fig.stuck == 0, f"{fig.scenario}: {fig.stuck} stuck rows/feeds\n{problems}"
    assert fig.parked_feeds <= lost_answers, (
        f"{fig.scenario}: {fig.parked_feeds} feeds parked, but only {lost_answers} createFeed "
        f"answers were lost after Amazon acted\n{problems}")
    assert fig.parked == 0 or fig.parked_feeds > 0, (
        f"{fig.scenario}: {fig.parked} rows parked without a parked feed\n{problems}")


def lost_createfeed_answers(emulator: EmulatorServer, *, nothing_done_too: bool = False) -> int:
    """createFeed calls whose feed Amazon created but whose answer the sidecar never got;
    ``nothing_done_too``: also the 5xx / timeouts where Amazon created nothing (with another
    tool's feeds in the window the sidecar cannot tell those apart either)."""
    taken = emulator.state.random_faults_taken()
    kinds = ["error_after", "hang_after"] + (["error", "hang"] if nothing_done_too else [])
    return sum(taken.get(("createFeed", kind), 0) for kind in kinds)
