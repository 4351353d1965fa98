"""(a) Load with faults: credit memos through several worker processes while every SP-API
operation fails now and then: 5xx, 429, hangs past the client timeout, and lost answers
after the emulator did the work (error_after / hang_after)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from tests.reliability.conftest import Rig, record
from tests.reliability.harness import (
    HANG_SECONDS,
    Figures,
    Memo,
    check,
    drive,
    lost_createfeed_answers,
    measure,
    seed_memos,
    settled,
)

MEMOS = int(os.environ.get("RELIABILITY_LOAD_MEMOS", "300"))
WORKERS = 3

#: Every operation the sidecar calls, and the fault mix per call.
BEFORE = {"error": 0.04, "throttle": 0.04, "hang": 0.01}
AFTER = {"error_after": 0.03, "hang_after": 0.01}
FAULTS = {
    op: {**BEFORE, **(AFTER if op not in ("lwaToken",) else {})}
    for op in ("createFeedDocument", "uploadFeedDocument", "getFeed", "getFeeds",
               "getFeedDocument", "downloadFeedDocument", "getOrder", "lwaToken")
}
#: createFeed is where exactly-once is decided: its answers are lost far more often.
FAULTS["createFeed"] = {"error": 0.1, "throttle": 0.1, "hang": 0.05, "error_after": 0.1,
                        "hang_after": 0.05}
ARRIVALS_PER_TICK = 1  # credit memos trickle in while the workers run: many small feeds


def test_load_with_faults_on_every_operation(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(random_faults=FAULTS, random_fault_seed=7,
                   random_fault_seconds=HANG_SECONDS)
    memos: list[Memo] = []

    def arrive() -> None:
        if len(memos) < MEMOS:
            n = min(ARRIVALS_PER_TICK, MEMOS - len(memos))
            memos.extend(seed_memos(rig.engine, rig.emulator, n, start=len(memos) + 1))

    t0 = time.monotonic()
    for _ in range(WORKERS):
        rig.pool.start(rig.url, rig.emulator.url)
    finished = drive([rig.engine], rig.clock, real_seconds=240, tick=arrive,
                     done=lambda: len(memos) == MEMOS and settled(rig.engine))
    rig.pool.stop_all()
    taken: dict[tuple[str, str], Any] = rig.emulator.state.random_faults_taken()
    fig = record(measure(Figures("a load+faults", wall_s=time.monotonic() - t0,
                                 sim_s=rig.clock.seconds,
                                 notes=f"{WORKERS} workers, {sum(taken.values())} faults, "
                                       f"{len(rig.emulator.state.all_feeds())} feeds"),
                         rig.engine, rig.emulator, memos))
    assert finished or fig.stuck, "the driver stopped early without stuck rows"
    check(fig, lost_answers=lost_createfeed_answers(rig.emulator))
