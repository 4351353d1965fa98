"""Token buckets in refund_bridge_rate_limit: SQLite (demo) and real MariaDB (shared)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from sidecar.amazon.ratelimit import DEFAULT_LIMITS, Limit, RateLimiter, RateLimitWaitTooLong
from sidecar.db import make_engine
from tests.amazon.fakes import FakeClock

US = 1_000_000


def test_documented_default_plans() -> None:
    plans = {op: (str(limit.rate), limit.burst) for op, limit in DEFAULT_LIMITS.items()}
    assert plans == {
        "createFeed": ("0.0083", 15), "createFeedDocument": ("0.5", 15),
        "getFeed": ("2", 15), "getFeeds": ("0.0222", 10), "getFeedDocument": ("0.0222", 10),
        "cancelFeed": ("0.0222", 10), "searchOrders": ("0.0056", 20),
        "getOrder": ("0.5", 30), "confirmShipment": ("2", 10),
    }
    assert all(isinstance(limit.rate, Decimal) for limit in DEFAULT_LIMITS.values())
    # one createFeed token takes ~120 s once the burst is spent
    assert DEFAULT_LIMITS["createFeed"].refill_us() == 120_481_928


def test_burst_then_refill_sqlite(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    for _ in range(15):
        assert rl.try_acquire("a", "createFeed") == 0.0
    wait = rl.try_acquire("a", "createFeed")
    assert wait == pytest.approx(1 / 0.0083, abs=1e-5)
    assert rl.peek("a", "createFeed") == wait  # peek takes nothing
    clock.sleep(60)
    assert rl.try_acquire("a", "createFeed") == pytest.approx(wait - 60, abs=1e-5)
    clock.sleep(61)
    assert rl.peek("a", "createFeed") == 0.0
    assert rl.try_acquire("a", "createFeed") == 0.0
    state = rl.state("a", "createFeed")
    assert state is not None and Decimal(0) <= state.tokens < 1
    # other accounts and operations have their own buckets
    assert rl.try_acquire("b", "createFeed") == 0.0
    assert rl.try_acquire("a", "getFeed") == 0.0


def test_acquire_sleeps_outside_and_respects_max_wait(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, limits={"a": {"getOrder": Limit(Decimal("0.5"), 2)}},
                     clock_us=clock, sleep=clock.sleep)
    assert rl.acquire("a", "getOrder") == 0.0
    assert rl.acquire("a", "getOrder") == 0.0
    assert rl.acquire("a", "getOrder") == pytest.approx(2.0)
    assert clock.slept == [pytest.approx(2.0)]
    with pytest.raises(RateLimitWaitTooLong) as info:
        rl.acquire("a", "getOrder", max_wait_s=1.0)
    assert info.value.wait_s == pytest.approx(2.0)
    assert len(clock.slept) == 1  # did not sleep


def test_refill_never_exceeds_burst(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, limits={"a": {"getFeed": Limit(Decimal(2), 3)}},
                     clock_us=clock, sleep=clock.sleep)
    assert rl.try_acquire("a", "getFeed") == 0.0
    clock.sleep(3600)
    taken = 0
    while rl.try_acquire("a", "getFeed") == 0.0:
        taken += 1
    assert taken == 3


def test_penalize_blocks_and_empties(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    assert rl.penalize("a", "getFeed", 5) == 5.0
    assert rl.try_acquire("a", "getFeed") == pytest.approx(5.0)
    clock.sleep(5)
    # blocked time refilled tokens at 2/s
    assert rl.try_acquire("a", "getFeed") == 0.0
    # default penalty: the time one token takes
    assert rl.penalize("a", "createFeed") == pytest.approx(120.481928)
    assert rl.peek("a", "createFeed") == pytest.approx(120.481928)


def test_overrides_and_unknown_operation(sqlite_engine: Engine) -> None:
    rl = RateLimiter(sqlite_engine)
    rl.set_limits("fast", {"createFeed": Limit(Decimal(100), 100)})
    assert rl.limit_for("fast", "createFeed").burst == 100
    assert rl.limit_for("other", "createFeed") == DEFAULT_LIMITS["createFeed"]
    with pytest.raises(KeyError):
        rl.limit_for("a", "noSuchOperation")
    with pytest.raises(ValueError, match="rate must be"):
        Limit(Decimal(0), 1)


def test_clock_going_backwards_does_not_mint_tokens(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, limits={"a": {"getFeed": Limit(Decimal(1), 1)}},
                     clock_us=clock, sleep=clock.sleep)
    assert rl.try_acquire("a", "getFeed") == 0.0
    clock.now_us -= 10 * US  # another process with a slower clock
    assert rl.try_acquire("a", "getFeed") > 0


# --------------------------------------------------------------- MariaDB, shared bucket


def _hammer(url: str, clock: FakeClock, limit: Limit, n_workers: int,
            per_worker: int) -> tuple[int, list[BaseException]]:
    """n_workers 'processes' (own engine, own limiter), one shared bucket and clock."""
    granted = 0
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(n_workers)

    def worker() -> None:
        nonlocal granted
        engine = make_engine(url, pool_size=1)
        try:
            rl = RateLimiter(engine, limits={"shop": {"getFeed": limit}}, clock_us=clock,
                             sleep=clock.sleep)
            start.wait()
            for _ in range(per_worker):
                rl.acquire("shop", "getFeed")
                with lock:
                    granted += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(n_workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return granted, errors


def test_shared_bucket_on_mariadb_never_exceeds_plan(mariadb_url: str,
                                                     engine: Engine) -> None:
    clock = FakeClock()
    limit = Limit(Decimal(4), 5)
    granted, errors = _hammer(mariadb_url, clock, limit, n_workers=4, per_worker=15)
    assert errors == []
    assert granted == 60
    elapsed_s = Decimal(clock.now_us - clock.start_us) / US
    allowed = limit.burst + limit.rate * elapsed_s
    assert granted <= allowed, f"{granted} tokens in {elapsed_s}s, plan allows {allowed}"
    # the workers had to wait for refills: the plan, not luck, bounded them
    assert elapsed_s >= (granted - limit.burst) / limit.rate
    state = RateLimiter(engine).state("shop", "getFeed")
    assert state is not None and state.tokens < 1


def test_penalty_is_shared_on_mariadb(engine: Engine, mariadb_url: str) -> None:
    clock = FakeClock()
    a = RateLimiter(engine, clock_us=clock, sleep=clock.sleep)
    other = make_engine(mariadb_url)
    try:
        b = RateLimiter(other, clock_us=clock, sleep=clock.sleep)
        assert a.try_acquire("shop", "createFeed") == 0.0
        a.penalize("shop", "createFeed", 30)
        assert b.try_acquire("shop", "createFeed") == pytest.approx(30.0)
        assert b.peek("shop", "createFeed") == pytest.approx(30.0)
    finally:
        other.dispose()
