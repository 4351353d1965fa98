"""Token buckets in refund_bridge_rate_limit: SQLite (demo) and real MariaDB (shared)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from sidecar.amazon.ratelimit import (
    DEFAULT_LIMITS,
    Limit,
    RateLimiter,
    RateLimitWaitTooLong,
    bucket_key,
)
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
    # an override above the published plan is ignored: it never refills faster
    rl.set_limits("fast", {"createFeed": Limit(Decimal(100), 100)})
    assert rl.override_for("fast", "createFeed") is None
    assert rl.limit_for("fast", "createFeed") == DEFAULT_LIMITS["createFeed"]
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


# ------------------------------------------- issue 7 item 9: buckets Amazon counts


def test_two_config_names_for_one_seller_share_a_bucket(sqlite_engine: Engine) -> None:
    """Scenario of issue 7 item 9: two configured accounts of one seller and application
    spent two createFeed bursts (five 429s). Now they take from one bucket."""
    clock = FakeClock()
    rl = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    key = bucket_key("A1SELLER", "Atzr|token", "amzn1.application-oa2-client.abc")
    rl.register("eu-main", key)
    rl.register("eu-second-name", key)
    for n in range(15):
        account = "eu-main" if n % 2 else "eu-second-name"
        assert rl.try_acquire(account, "createFeed") == 0.0
    assert rl.try_acquire("eu-second-name", "createFeed") > 0
    assert rl.try_acquire("eu-main", "createFeed") > 0
    # another application of the same seller is counted apart (Amazon: per seller AND app)
    rl.register("other-app", bucket_key("A1SELLER", "Atzr|token", "amzn1.other"))
    assert rl.try_acquire("other-app", "createFeed") == 0.0


def test_bucket_key_without_seller_hashes_the_refresh_token() -> None:
    key = bucket_key(None, "Atzr|secret-refresh-token", "amzn1.application-oa2-client.abc")
    assert key.startswith("token:") and "secret" not in key and len(key) <= 64
    assert key == bucket_key("", "Atzr|secret-refresh-token", "amzn1.application-oa2-client.abc")
    assert key != bucket_key(None, "Atzr|other", "amzn1.application-oa2-client.abc")
    long_seller = bucket_key("A" * 200, None, "amzn1.application-oa2-client.abc")
    assert len(long_seller) <= 64


def test_a_process_with_a_faster_override_does_not_refill_faster(
        sqlite_engine: Engine) -> None:
    """Scenario of issue 7 item 9: a process with a different rate override refilled the
    shared bucket at its own rate (thirty 429s). The bucket refills at the published
    rate whatever either process's override says."""
    clock = FakeClock()
    plain = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    greedy = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    greedy.set_limits("shop", {"createFeed": Limit(Decimal(10), 100)})
    for _ in range(15):
        assert plain.try_acquire("shop", "createFeed") == 0.0
    clock.sleep(60)  # 60 s at 0.0083/s: half a token, whoever asks
    assert greedy.try_acquire("shop", "createFeed") > 0
    assert plain.try_acquire("shop", "createFeed") > 0
    clock.sleep(61)
    assert greedy.try_acquire("shop", "createFeed") == 0.0
    assert plain.try_acquire("shop", "createFeed") > 0  # one token in 121 s, not more


def test_a_lower_override_only_lowers_this_process(sqlite_engine: Engine) -> None:
    clock = FakeClock()
    modest = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    modest.set_limits("shop", {"getOrder": Limit(Decimal("0.1"), 2)})
    other = RateLimiter(sqlite_engine, clock_us=clock, sleep=clock.sleep)
    assert modest.try_acquire("shop", "getOrder") == 0.0
    assert modest.try_acquire("shop", "getOrder") == 0.0
    assert modest.try_acquire("shop", "getOrder") == pytest.approx(10.0)
    assert modest.peek("shop", "getOrder") == pytest.approx(10.0)
    # the shared bucket still has the published burst's remaining 28 tokens for others
    for _ in range(28):
        assert other.try_acquire("shop", "getOrder") == 0.0
    assert other.try_acquire("shop", "getOrder") > 0
    clock.sleep(10)
    # this process's own token is back (10 s at 0.1/s) and the shared bucket has 5
    assert modest.try_acquire("shop", "getOrder") == 0.0


def test_client_factory_puts_two_account_names_of_one_seller_in_one_bucket(
        sqlite_engine: Engine) -> None:
    from dataclasses import replace

    from sidecar.amazon.credentials import Secret
    from sidecar.clients import ClientFactory
    from sidecar.emulator.accounts import emulator_account

    one = emulator_account("http://127.0.0.1:9", "eu-main", (1,), marketplace_id="A1PA6795UKMFR9")
    two = emulator_account("http://127.0.0.1:9", "eu-old-name", (2,),
                           marketplace_id="A13V1IB3VIYZZH")
    other_seller = replace(one, account_id="other", seller_id="A2OTHER")
    no_seller = replace(one, account_id="tokenonly", seller_id="",
                        credentials=replace(one.credentials, refresh_token=Secret("Atzr|x")))
    factory = ClientFactory(sqlite_engine)
    for account in (one, two, other_seller, no_seller):
        factory(account)
    limiter = factory.limiter
    assert limiter.bucket_of("eu-main") == limiter.bucket_of("eu-old-name")
    assert limiter.bucket_of("eu-main").startswith("seller:A1EXAMPLESELLER|app:")
    assert limiter.bucket_of("other") != limiter.bucket_of("eu-main")
    assert limiter.bucket_of("tokenonly").startswith("token:")
    assert "Atzr" not in limiter.bucket_of("tokenonly")
