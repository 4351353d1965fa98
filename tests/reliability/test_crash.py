"""(b) Crash points: a worker is SIGKILLed at each point of the feed state machine, then a
fresh worker finishes the job; and random kills under load.

The code under test has no crash hook, so the kill is timed from outside: the emulator
holds the chosen call (before it runs, or after it took effect and before its answer) until
the test has killed the worker, or the test holds a row lock the worker's transaction
needs (the report being applied, the outbox being settled) and kills the worker while it
waits for it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, func, select, text

from sidecar.tables import feed, feed_message, ledger, outbox
from tests.reliability.conftest import Rig, record
from tests.reliability.harness import (
    Figures,
    Memo,
    check,
    drive,
    lost_createfeed_answers,
    measure,
    open_feeds,
    seed_memos,
    settled,
)
from tests.reliability.harness import wait_for as wait_until

MEMOS_PER_POINT = 3
REACH_SECONDS = 60.0  # real seconds for a worker to get to the crash point


@dataclass(frozen=True)
class Point:
    name: str
    operation: str | None = None  # emulator hold on this operation ...
    after: bool = False  # ... after the call took effect
    lock: str | None = None  # or: a row lock on "ledger" / "outbox" during the report apply


POINTS = [
    Point("before createFeedDocument", "createFeedDocument"),
    Point("after upload", "uploadFeedDocument", after=True),
    Point("before createFeed", "createFeed"),
    Point("createFeed done, feedId not stored", "createFeed", after=True),
    Point("after feedId stored", "getFeed"),
    Point("during poll (feed processed)", "getFeed", after=True),
    Point("report downloaded, not applied", "downloadFeedDocument", after=True),
    Point("during report apply", "getFeed", lock="ledger"),
    Point("during outbox settle", "getFeed", lock="outbox"),
]


def lock_waits(engine: Engine) -> int:
    """Statements waiting for a row lock (InnoDB's view, or a blocked UPDATE in the
    process list)."""
    with engine.connect() as conn:
        waiting = int(conn.execute(text(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"
        )).scalar_one())
        blocked = int(conn.execute(text(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() "
            "AND INFO LIKE 'UPDATE refund\\_bridge\\_%' AND TIME_MS > 200"
        )).scalar_one())
    return waiting + blocked


def transactions(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT trx_state, LEFT(trx_query, 120) FROM information_schema.INNODB_TRX"))]


@contextmanager
def row_locks(engine: Engine, what: str, memos: list[Memo]) -> Iterator[None]:
    """Hold FOR UPDATE locks the worker's report transaction needs, until the block ends."""
    ids = [m.outbox_id for m in memos]
    with engine.connect() as conn, conn.begin() as tx:
        if what == "outbox":
            conn.execute(select(outbox.c.id).where(outbox.c.id.in_(ids)).with_for_update())
        else:
            messages = select(feed_message.c.id).where(feed_message.c.outbox_id.in_(ids))
            conn.execute(select(ledger.c.id).where(ledger.c.feed_message_id.in_(messages))
                         .with_for_update())
        try:
            yield
        finally:
            tx.rollback()


def feeds_submitted(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(select(func.count()).select_from(feed)
                                 .where(feed.c.amazon_feed_id.is_not(None))).scalar_one())


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_sigkill_at_crash_point(make_rig: Callable[..., Rig], point: Point) -> None:
    rig = make_rig(processing_polls=0)  # the first getFeed processes the feed
    memos = seed_memos(rig.engine, rig.emulator, MEMOS_PER_POINT)
    assert point.operation is not None
    hold = rig.emulator.state.hold(point.operation, after=point.after)
    t0 = time.monotonic()
    victim = rig.pool.start(rig.url, rig.emulator.url)
    try:
        wait_until(hold.reached.is_set, REACH_SECONDS, f"the worker at {point.name}")
        if point.lock is None:
            rig.pool.kill(victim)
            if not point.after:
                hold.abort()  # the killed worker's call never reaches Amazon
        else:
            with row_locks(rig.engine, point.lock, memos):
                hold.release()
                try:
                    wait_until(lambda: lock_waits(rig.engine) > 0, REACH_SECONDS,
                               f"the worker waiting for the {point.lock} lock")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}; transactions: {transactions(rig.engine)}; "
                                         f"feeds: {open_feeds(rig.engine)}") from None
                rig.pool.kill(victim)
    finally:
        hold.release()
    rig.pool.start(rig.url, rig.emulator.url)
    drive([rig.engine], rig.clock, real_seconds=90)
    fig = record(measure(Figures(f"b kill: {point.name}", wall_s=time.monotonic() - t0,
                                 sim_s=rig.clock.seconds, notes="1 SIGKILL"),
                         rig.engine, rig.emulator, memos))
    # a createFeed that took effect with its answer lost: the feed cannot be proven ours
    check(fig, lost_answers=1 if point.operation == "createFeed" and point.after else 0)


RANDOM_MEMOS = 150
RANDOM_KILLS = 12
WORKERS = 3


def test_random_sigkills_under_load(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(random_faults={"createFeed": {"error_after": 0.1}}, random_fault_seed=11)
    rng = random.Random(5)
    memos: list[Memo] = []
    ticks = 0

    def chaos() -> None:
        nonlocal ticks
        ticks += 1
        if len(memos) < RANDOM_MEMOS:
            memos.extend(seed_memos(rig.engine, rig.emulator, 1, start=len(memos) + 1))
        if rig.pool.kills < RANDOM_KILLS and ticks % 25 == 0:
            rig.pool.kill(rng.choice(sorted(rig.pool.procs)))
            rig.pool.start(rig.url, rig.emulator.url)

    t0 = time.monotonic()
    for _ in range(WORKERS):
        rig.pool.start(rig.url, rig.emulator.url)
    drive([rig.engine], rig.clock, real_seconds=180, tick=chaos,
          done=lambda: rig.pool.kills >= RANDOM_KILLS and len(memos) == RANDOM_MEMOS
          and settled(rig.engine))
    fig = record(measure(Figures("b random SIGKILLs", wall_s=time.monotonic() - t0,
                                 sim_s=rig.clock.seconds,
                                 notes=f"{rig.pool.kills} kills, {WORKERS} workers, "
                                       f"{len(rig.emulator.state.all_feeds())} feeds"),
                         rig.engine, rig.emulator, memos))
    # a kill may land after createFeed took effect, before its feedId is stored
    check(fig, lost_answers=lost_createfeed_answers(rig.emulator) + rig.pool.kills)
