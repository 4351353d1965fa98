"""(d) Two sidecars on one seller: two Magento shops (two databases), each with its own
worker process and its own config (account names differ), selling through the same Amazon
seller. createFeed answers are lost often, so each sidecar reconciles with getFeeds while
the other's feeds are in the same window: a feed is adopted only when it is provably ours.

When a lost createFeed answer cannot be told apart from the other sidecar's feed, the
exactly-once rules park the refund for a human (never done, never resent): each parked row
must say which command resolves it, and there are never more parked feeds than createFeed
calls without an answer (5xx, timeouts, lost answers: with the other sidecar's feeds in the
window, one where Amazon created nothing cannot be told apart either)."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.reliability.conftest import Rig, record
from tests.reliability.harness import (
    Figures,
    Memo,
    check,
    drive,
    lost_createfeed_answers,
    measure,
    seed_memos,
    settled,
)

MEMOS = 60  # per shop
FAULTS = {"createFeed": {"error_after": 0.25, "hang_after": 0.1, "error": 0.1}}


def test_two_sidecars_on_one_seller(make_rig: Callable[..., Rig]) -> None:
    a = make_rig(random_faults=FAULTS, random_fault_seed=3)
    b = make_rig(emulator=a.emulator)
    memos: dict[str, list[Memo]] = {"a": [], "b": []}

    def arrive() -> None:
        for shop, rig, start, prefix in (("a", a, 1, "302"), ("b", b, 5001, "303")):
            got = memos[shop]
            if len(got) < MEMOS:
                got.extend(seed_memos(rig.engine, rig.emulator, 1, start=start + len(got),
                                      prefix=prefix))

    t0 = time.monotonic()
    a.pool.start(a.url, a.emulator.url, account_id="shop-a", name="a")
    b.pool.start(b.url, b.emulator.url, account_id="shop-b", name="b")
    drive([a.engine, b.engine], a.clock, real_seconds=180, tick=arrive,
          done=lambda: all(len(m) == MEMOS for m in memos.values())
          and settled(a.engine) and settled(b.engine))
    a.pool.stop_all()
    b.pool.stop_all()
    lost_answers = lost_createfeed_answers(a.emulator, nothing_done_too=True)
    fig = Figures("d two sidecars, one seller", wall_s=time.monotonic() - t0,
                  sim_s=a.clock.seconds,
                  notes=f"{lost_answers} createFeed answers lost, "
                        f"{len(a.emulator.state.all_feeds())} feeds")
    measure(fig, a.engine, a.emulator, memos["a"])
    measure(fig, b.engine, b.emulator, memos["b"])
    record(fig)
    check(fig, lost_answers=lost_answers)
