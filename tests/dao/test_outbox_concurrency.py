"""The outbox under real concurrency on MariaDB: worker processes, SKIP LOCKED, SIGKILL,
Magento's INSERT during a claim, and deadlock retries."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import OperationalError

from sidecar.dao import outbox
from sidecar.dao.outbox import OutboxRow
from sidecar.db import mysql_errno, retry_transient
from sidecar.outbox_runner import Done, Outcome, Settings, run_once
from sidecar.tables import outbox as outbox_table
from tests.dao import _workers
from tests.dao.conftest import T0, add_rows, at

SPAWN = multiprocessing.get_context("spawn")
QUEUE_TIMEOUT = 120  # generous: only reached when a child process is broken


def magento_insert(conn: Connection, entity_id: int) -> None:
    """What the Magento module does in the credit memo transaction."""
    conn.execute(insert(outbox_table).values(
        event_type="creditmemo", entity_id=entity_id, order_id=1, payload="{}",
        available_at=T0))


def test_four_processes_claim_2000_rows_exactly_once(engine: Engine, mariadb_url: str) -> None:
    ids = set(add_rows(engine, 2000))
    ready, results = SPAWN.Queue(), SPAWN.Queue()
    go = SPAWN.Event()
    workers = [
        SPAWN.Process(target=_workers.drain,
                      args=(mariadb_url, f"w{i}", T0.isoformat(), ready, go, results))
        for i in range(4)
    ]
    for p in workers:
        p.start()
    try:
        for _ in workers:
            ready.get(timeout=QUEUE_TIMEOUT)
        go.set()  # all four connected: start claiming at the same moment
        reports = [results.get(timeout=QUEUE_TIMEOUT) for _ in workers]
    finally:
        for p in workers:
            p.join(timeout=30)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]

    claimed: dict[str, list[int]] = {}
    for worker_id, got, lost, error in reports:
        assert error == "", f"{worker_id}: {error}"
        assert lost == [], f"{worker_id} lost leases it should hold"
        claimed[worker_id] = got
    every = [i for got in claimed.values() for i in got]
    assert len(every) == len(set(every)) == 2000  # no row claimed twice ...
    assert set(every) == ids  # ... and none left out
    assert sum(1 for got in claimed.values() if got) >= 2  # they really ran side by side
    assert outbox.status_counts(engine)["done"] == 2000
    with engine.connect() as conn:
        attempts = conn.execute(select(outbox_table.c.attempts).distinct()).scalars().all()
    assert attempts == [1]


@pytest.mark.parametrize("batch_size", [3, 100], ids=["partial-scan", "scan-to-end"])
def test_magento_insert_does_not_wait_for_an_open_claim(engine: Engine, batch_size: int) -> None:
    add_rows(engine, 10)
    with engine.connect() as claimer, engine.connect() as magento:
        magento.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 2")
        magento.commit()
        with claimer.begin():
            claimed = outbox.claim_in(claimer, "w1", batch_size=batch_size, lease_seconds=60,
                                      now=T0)
            assert claimed  # rows locked, transaction still open
            started = time.monotonic()
            with magento.begin():  # raises a lock wait timeout (1205) if it has to wait
                magento_insert(magento, 9001)  # lands inside the range the claim scanned
                magento_insert(magento, 9002)
            elapsed = time.monotonic() - started
            # and a second worker is not blocked either: it skips the locked rows
            with engine.connect() as other:
                other.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 2")
                other.commit()
                with other.begin():
                    theirs = outbox.claim_in(other, "w2", batch_size=100, lease_seconds=60,
                                             now=T0)
    assert elapsed < 1.0  # safety net only; the real check is that no 1205 was raised
    mine, others = {r.id for r in claimed}, {r.id for r in theirs}
    assert not mine & others
    assert len(mine | others) == 12


def test_under_repeatable_read_the_same_claim_would_block_magento(engine: Engine) -> None:
    """Control for the test above: it can fail. At REPEATABLE READ the claim's next-key locks
    make Magento's INSERT wait, which is why make_engine pins READ COMMITTED."""
    add_rows(engine, 10)
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as claimer, \
            engine.connect() as magento:
        magento.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
        magento.commit()
        with claimer.begin():
            assert outbox.claim_in(claimer, "w1", batch_size=100, lease_seconds=60, now=T0)
            with pytest.raises(OperationalError) as exc, magento.begin():
                magento_insert(magento, 9001)
    assert mysql_errno(exc.value) == 1205


def test_sigkilled_worker_rows_are_reaped_and_processed_once(
    engine: Engine, mariadb_url: str,
) -> None:
    ids = add_rows(engine, 12)
    results = SPAWN.Queue()
    victim = SPAWN.Process(target=_workers.claim_and_hang,
                           args=(mariadb_url, "victim", 5, 60, T0.isoformat(), results))
    victim.start()
    try:
        lost = results.get(timeout=QUEUE_TIMEOUT)
    finally:
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=30)
    assert victim.exitcode == -signal.SIGKILL
    assert lost == ids[:5]
    assert [r.status for r in outbox.list_rows(engine, status="processing")] == ["processing"] * 5

    calls: dict[int, int] = {}

    def handler(row: OutboxRow) -> Outcome:
        calls[row.id] = calls.get(row.id, 0) + 1
        return Done("done", f"by survivor, attempt {row.attempts}")

    settings = Settings(batch_size=4, lease_seconds=60)
    # the survivor meanwhile drains what was never claimed; the victim's rows stay leased
    while run_once(engine, "survivor", handler, settings, clock=lambda: at(30)):
        pass
    assert sorted(calls) == ids[5:]
    assert outbox.reap_expired(engine, now=at(60)) == 0  # lease still valid up to its end
    assert outbox.reap_expired(engine, now=at(61)) == 5
    for i in lost:
        r = outbox.get(engine, i)
        assert r is not None
        assert (r.status, r.last_error) == ("pending", "lease expired (worker victim lost it)")
    while run_once(engine, "survivor", handler, settings, clock=lambda: at(61)):
        pass
    assert calls == dict.fromkeys(ids, 1)  # every row processed exactly once
    for i in ids:
        r = outbox.get(engine, i)
        assert r is not None
        assert r.status == "done"
        assert r.attempts == (2 if i in lost else 1)
    assert outbox.status_counts(engine)["done"] == 12


def test_retry_transient_reruns_the_deadlock_victim(
    engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = add_rows(engine, 2)
    barrier = threading.Barrier(2, timeout=30)
    runs = {"ab": 0, "ba": 0}

    def transaction(name: str, first: int, second: int) -> Callable[[], str]:
        def run() -> str:
            runs[name] += 1
            with engine.begin() as conn:
                bump(conn, first)
                if runs[name] == 1:
                    barrier.wait()  # both hold their first row: opposite order = deadlock
                bump(conn, second)
            return name
        return run

    def bump(conn: Connection, oid: int) -> None:
        conn.execute(update(outbox_table).where(outbox_table.c.id == oid)
                     .values(attempts=outbox_table.c.attempts + 1))

    caplog.set_level(logging.WARNING, logger="sidecar.db")
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(retry_transient, transaction("ab", a, b)),
                   pool.submit(retry_transient, transaction("ba", b, a))]
        done: list[Any] = [f.result(timeout=60) for f in futures]
    assert done == ["ab", "ba"]  # both committed
    assert sorted(runs.values()) == [1, 2]  # the victim ran twice
    assert any("transient MySQL error 1213" in r.getMessage() for r in caplog.records)
    with engine.connect() as conn:
        counts = conn.execute(select(outbox_table.c.attempts).order_by(outbox_table.c.id))
        assert counts.scalars().all() == [2, 2]  # each transaction's two updates, once


def test_claim_retries_transient_errors(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """claim() is one retry_transient unit: a deadlock in it is retried, not raised."""
    add_rows(engine, 3)
    real = outbox.claim_in
    calls: list[int] = []

    def flaky(conn: Connection, *args: Any, **kwargs: Any) -> list[OutboxRow]:
        rows = real(conn, *args, **kwargs)
        calls.append(len(rows))
        if len(calls) == 1:
            raise OperationalError("UPDATE ...", {}, _Deadlock())
        return rows

    monkeypatch.setattr(outbox, "claim_in", flaky)
    rows = outbox.claim(engine, "w", batch_size=5, lease_seconds=60, now=T0)
    assert len(rows) == 3
    assert {r.attempts for r in rows} == {1}  # the failed try was rolled back
    assert calls == [3, 3]
    assert outbox.claim(engine, "w", batch_size=5, lease_seconds=60,
                        now=T0 + timedelta(seconds=1)) == []


class _Deadlock(Exception):
    def __init__(self) -> None:
        super().__init__(1213, "Deadlock found when trying to get lock; try restarting transaction")
