"""Fixtures of the reliability suite and its table of figures (printed at the end of the run).

The table (scenario, duplicates by refund counters / by feeds, lost, stuck, parked) is
printed in pytest's terminal summary and written to $RELIABILITY_TABLE when that is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sidecar.db import make_engine
from sidecar.emulator.config import EmulatorConfig
from sidecar.emulator.server import EmulatorServer
from tests.conftest import create_database, drop_database
from tests.reliability.harness import Figures, SharedClock, Workers, workers

FIGURES: list[Figures] = []


def record(fig: Figures) -> Figures:
    FIGURES.append(fig)
    return fig


def table() -> str:
    head = ("scenario", "memos", "dup(counters)", "dup(feeds)", "lost", "stuck", "parked",
            "parked feeds", "wall s", "sim s", "notes")
    rows = [head] + [
        (f.scenario, str(f.memos), str(f.dup_counters), str(f.dup_feeds), str(f.lost),
         str(f.stuck), str(f.parked), str(f.parked_feeds), f"{f.wall_s:.1f}", f"{f.sim_s:.0f}",
         f.notes)
        for f in FIGURES
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i in (0, 10) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    text = table()
    terminalreporter.write_sep("=", "reliability: duplicates / lost / stuck / parked")
    terminalreporter.write_line(text)
    target = os.environ.get("RELIABILITY_TABLE")
    if target:
        Path(target).write_text(text + "\n", encoding="utf-8")


@dataclass
class Rig:
    server_url: str
    url: str
    engine: Engine
    clock: SharedClock
    emulator: EmulatorServer
    pool: Workers


def emulator_config(xsd_dir: Path, **overrides: object) -> EmulatorConfig:
    """Fast Amazon: no rate limits (429s come as faults), one IN_PROGRESS poll per feed, a
    feed nobody polls processed after 2 minutes, tokens that outlive the accelerated clock."""
    values: dict[str, object] = {
        "xsd_dir": xsd_dir, "rate_limiting": False, "processing_polls": 1,
        "access_token_ttl": 10**8, "presigned_url_ttl": 10**8,
        "auto_process_seconds": 120.0,
    }
    values.update(overrides)
    return EmulatorConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def make_rig(mariadb_server_url: str, amazon_xsd_dir: Path, clock: SharedClock,
             tmp_path: Path) -> Iterator[object]:
    """make_rig(**emulator_overrides) -> Rig; everything is torn down after the test."""
    made: list[Rig] = []
    servers: list[EmulatorServer] = []

    def make(emulator: EmulatorServer | None = None, **overrides: object) -> Rig:
        if emulator is None:
            emulator = EmulatorServer(config=emulator_config(amazon_xsd_dir, **overrides),
                                      clock=clock).start()
            servers.append(emulator)
        url = create_database(mariadb_server_url)
        log_dir = tmp_path / f"logs{len(made)}"
        log_dir.mkdir()
        rig = Rig(mariadb_server_url, url, make_engine(url), clock, emulator,
                  Workers(clock, log_dir))
        made.append(rig)
        return rig

    try:
        yield make
    finally:
        for rig in made:
            rig.pool.stop_all()
        for server in servers:
            server.stop()
        for rig in made:
            rig.engine.dispose()
            drop_database(rig.server_url, rig.url)


__all__ = ["Rig", "record", "workers"]
