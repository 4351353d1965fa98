"""(c) Database outages: the workers reach MariaDB through a TCP proxy that resets every
connection, blackholes them (accepted, never answered), or silently drops the server side,
for OUTAGE seconds while credit memos are in flight. After healing, every row and feed must
become terminal within RECOVERY seconds, with no duplicate and nothing lost."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from sidecar.tables import outbox
from tests.reliability.conftest import Rig, record
from tests.reliability.harness import Figures, check, drive, measure, seed_memos
from tests.reliability.tcp_proxy import TcpProxy

MEMOS = 120
WORKERS = 2
OUTAGE = 15.0  # real seconds
RECOVERY = 60.0  # real seconds after healing
KINDS = ("reset", "blackhole", "drop")


@pytest.mark.parametrize("kind", KINDS)
def test_database_outage(make_rig: Callable[..., Rig], kind: str) -> None:
    rig = make_rig()
    server = make_url(rig.url)
    with TcpProxy(server.host or "127.0.0.1", server.port or 3306) as proxy:
        via_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)
        memos = seed_memos(rig.engine, rig.emulator, MEMOS)
        t0 = time.monotonic()
        for _ in range(WORKERS):
            rig.pool.start(via_proxy, rig.emulator.url)

        def started() -> bool:  # the outage hits work in flight
            with rig.engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(outbox)
                                        .where(outbox.c.status != "pending")).scalar_one()) > 10

        drive([rig.engine], rig.clock, real_seconds=60, done=started)
        getattr(proxy, kind)()
        drive([rig.engine], rig.clock, real_seconds=OUTAGE, done=lambda: False)
        proxy.heal()
        healed = time.monotonic()
        drive([rig.engine], rig.clock, real_seconds=RECOVERY)
        fig = record(measure(Figures(f"c db {kind} {OUTAGE:.0f}s", wall_s=time.monotonic() - t0,
                                     sim_s=rig.clock.seconds,
                                     notes=f"{WORKERS} workers; settled "
                                           f"{time.monotonic() - healed:.0f}s after healing"),
                             rig.engine, rig.emulator, memos))
        rig.pool.stop_all()
    # a worker cut off between createFeed's answer and storing the feedId: one per worker
    check(fig, lost_answers=WORKERS)
