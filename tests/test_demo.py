"""sidecar.demo: the embedded demo (SQLite + emulator over HTTP + the real worker) settles every
demo case, and every start is a fresh demo."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from sidecar.dao import outbox as outbox_dao
from sidecar.db import make_engine
from sidecar.demo import CASES, run_demo
from sidecar.tables import feed, ledger, outbox, sales_order_status_history

TERMINAL = {"done", "skipped", "rejected", "dead"}
# what each demo case ends as (sidecar/demo.py CASES, in order)
EXPECTED = {"done": 4, "rejected": 2, "skipped": 1, "dead": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "demo" / "d.sqlite")  # the directory is created by run_demo


@pytest.fixture
def demo_engine(database: str) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{database}")
    yield eng
    eng.dispose()


def statuses(engine: Engine) -> dict[str, int]:
    return {s: n for s, n in outbox_dao.status_counts(engine).items() if n}


def test_demo_settles_every_case(database: str, demo_engine: Engine) -> None:
    assert run_demo(port=free_port(), database=database, cycles=8, processing_seconds=0) == 0
    counts = statuses(demo_engine)
    assert set(counts) <= TERMINAL
    assert sum(counts.values()) == len(CASES)
    assert counts == EXPECTED
    with demo_engine.connect() as conn:
        feeds = conn.execute(select(feed.c.state, func.count()).group_by(feed.c.state)).all()
        ledger_states = set(conn.execute(select(ledger.c.state).distinct()).scalars())
        rows = conn.execute(select(outbox.c.entity_id, outbox.c.status, outbox.c.order_id)
                            .order_by(outbox.c.entity_id)).all()
        commented = set(conn.execute(
            select(sales_order_status_history.c.parent_id).distinct()).scalars())
    assert feeds and {str(s) for s, _ in feeds} == {"done"}
    assert ledger_states == {"confirmed"}
    by_case = {CASES[r.entity_id - 1].title: r.status for r in rows}
    assert by_case["Corrupted outbox payload -> dead, the others go on"] == "dead"
    assert by_case["Account with refunds switched off -> skipped"] == "skipped"
    assert by_case["FBA order -> rejected"] == "rejected"
    assert by_case["Pending on Amazon -> rejected with a comment"] == "rejected"
    # every case Amazon or a rule answered has a comment on its Magento order
    answered = {r.order_id for r in rows if r.status in ("done", "rejected")}
    assert answered <= commented


def test_each_start_is_a_fresh_demo(database: str, demo_engine: Engine) -> None:
    # the emulator lives in memory: a restart must not poll feeds the new emulator never saw
    assert run_demo(port=free_port(), database=database, cycles=8, processing_seconds=0) == 0
    assert run_demo(port=free_port(), database=database, cycles=8, processing_seconds=0) == 0
    assert statuses(demo_engine) == EXPECTED
    with demo_engine.connect() as conn:
        states = conn.execute(select(feed.c.state)).scalars().all()
    assert states == ["done", "done"]
