"""SP-API token buckets shared by every sidecar process, stored in refund_bridge_rate_limit.

Amazon limits each operation per selling partner and application with a token bucket
(``rate`` tokens per second, at most ``burst`` tokens). Several sidecar processes calling
for the same seller must share one bucket, so the bucket lives in the database, keyed by
what Amazon counts, whatever the configuration calls the account: :func:`bucket_key` =
(seller id, or a hash of the refresh token when no seller id is known; a hash of the LWA
client id, i.e. the application), plus the operation. Two configured accounts of one seller
and application therefore share every bucket (:meth:`RateLimiter.register`).

A bucket always refills at the published plan (Amazon's default, or the plan the code was
constructed with, e.g. the emulator's). A process's own override (the accounts file's
``rate_limits``, :meth:`RateLimiter.set_limits`) may only LOWER what this process takes: it
adds a second, process-local bucket in front of the shared one; an override above the
published plan is ignored (with a warning), so no process refills the shared bucket faster.

* one short transaction per attempt: ``SELECT ... FOR UPDATE`` the (account, operation) row
  (inserted with ``burst`` tokens when missing), refill it by ``elapsed * rate`` (Decimal
  arithmetic on integer microseconds, never float), then either take a token or compute how
  long until one is there; commit;
* the caller sleeps OUTSIDE the transaction and tries again (:meth:`RateLimiter.acquire`);
* after a 429, :meth:`RateLimiter.penalize` empties the bucket and sets
  ``blocked_until_us`` (Retry-After, or the time one token takes to refill).

On SQLite (the embedded demo) there is no ``FOR UPDATE``: the UPDATE is fenced on the values
read (compare-and-swap) and retried when another writer got there first.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from sqlalchemy import Connection, Engine, and_, insert, select, update

from sidecar.db import is_mysql, retry_transient
from sidecar.tables import rate_limit

log = logging.getLogger(__name__)

US_PER_S = 1_000_000
TOKEN_QUANTUM = Decimal("0.000001")  # DECIMAL(12,6)
ONE = Decimal(1)


@dataclass(frozen=True)
class Limit:
    """``rate`` tokens per second, bucket of ``burst`` tokens."""

    rate: Decimal
    burst: int

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Decimal):
            object.__setattr__(self, "rate", Decimal(str(self.rate)))
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {self.rate}/{self.burst}")

    def refill_us(self, tokens: Decimal = ONE) -> int:
        """Microseconds until ``tokens`` tokens have dripped in."""
        return int((tokens * US_PER_S / self.rate).to_integral_value(rounding=ROUND_CEILING))


def _limit(rate: str, burst: int) -> Limit:
    return Limit(Decimal(rate), burst)


#: Amazon's documented default usage plans (Feeds API 2021-06-30, Orders v2026-01-01 and v0).
DEFAULT_LIMITS: Mapping[str, Limit] = {
    "createFeed": _limit("0.0083", 15),
    "createFeedDocument": _limit("0.5", 15),
    "getFeed": _limit("2", 15),
    "getFeeds": _limit("0.0222", 10),
    "getFeedDocument": _limit("0.0222", 10),
    "cancelFeed": _limit("0.0222", 10),
    "searchOrders": _limit("0.0056", 20),
    "getOrder": _limit("0.5", 30),
    "confirmShipment": _limit("2", 10),
}


class RateLimitWaitTooLong(RuntimeError):
    """acquire() would have to wait longer than allowed; nothing was taken."""

    def __init__(self, account_id: str, operation: str, wait_s: float) -> None:
        super().__init__(
            f"rate limit for {operation} of account {account_id}: next token in {wait_s:.1f}s"
        )
        self.account_id = account_id
        self.operation = operation
        self.wait_s = wait_s


def epoch_us() -> int:
    return time.time_ns() // 1000


def _digest(value: str, length: int) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:length]


def bucket_key(seller_id: str | None, refresh_token: str | None, lwa_client_id: str) -> str:
    """The selling partner and application Amazon counts a call against (<= 64 chars).

    ``seller:<seller id>|app:<sha256(client id)[:12]>``, or, without a seller id,
    ``token:<sha256(refresh token)[:24]>|app:...`` (the refresh token itself never leaves
    the process)."""
    app = f"app:{_digest(lwa_client_id, 12)}"
    if seller_id:
        return f"seller:{seller_id[:40]}|{app}"
    if not refresh_token:
        raise ValueError("a bucket needs a seller id or a refresh token")
    return f"token:{_digest(refresh_token, 24)}|{app}"


class _LocalBucket:
    """This process's own, lower limit (an override): in memory, never shared."""

    def __init__(self, limit: Limit, now_us: int) -> None:
        self.limit = limit
        self.tokens = Decimal(limit.burst)
        self.updated_us = now_us

    def wait_s(self, now_us: int) -> float:
        elapsed = max(0, now_us - self.updated_us)
        self.tokens = min(Decimal(self.limit.burst),
                          self.tokens + self.limit.rate * Decimal(elapsed) / US_PER_S)
        self.updated_us = max(now_us, self.updated_us)
        if self.tokens >= ONE:
            return 0.0
        return max(self.limit.refill_us(ONE - self.tokens), 1) / US_PER_S

    def take(self) -> None:
        self.tokens -= ONE


@dataclass(frozen=True)
class BucketState:
    tokens: Decimal
    updated_at_us: int
    blocked_until_us: int


class RateLimiter:
    """Database-backed token buckets keyed by (bucket, operation).

    Callers name the configured account; :meth:`register` maps it to its bucket (see
    :func:`bucket_key`); an unregistered account id is its own bucket.
    ``limits`` is the PUBLISHED plan per account where it differs from Amazon's defaults:
    ``{"acct": {"getFeed": Limit(...)}}`` (the emulator's and the tests' faster plans): the
    shared bucket refills at it. :meth:`set_limits` (a process's override from the accounts
    file) can only lower what this process takes.
    ``clock_us`` returns epoch microseconds; ``sleep`` takes seconds. Both are injectable so
    tests never sleep for real.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        limits: Mapping[str, Mapping[str, Limit]] | None = None,
        default_limits: Mapping[str, Limit] = DEFAULT_LIMITS,
        clock_us: Callable[[], int] = epoch_us,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = engine
        self._defaults = dict(default_limits)
        self._published: dict[str, dict[str, Limit]] = {
            acct: dict(ops) for acct, ops in (limits or {}).items()
        }
        self._overrides: dict[str, dict[str, Limit]] = {}
        self._buckets: dict[str, str] = {}
        self._local: dict[tuple[str, str], _LocalBucket] = {}
        self.clock_us = clock_us
        self.sleep = sleep
        self._mysql = is_mysql(engine)
        # SQLite has no row locks: serialise this process's writers (CAS covers the rest)
        self._local_lock = threading.Lock() if not self._mysql else None

    # ------------------------------------------------------------------ configuration

    def register(self, account_id: str, bucket: str) -> None:
        """Calls for ``account_id`` count against ``bucket`` (a :func:`bucket_key`)."""
        if len(bucket) > 64:
            raise ValueError("a bucket key has at most 64 characters")
        self._buckets[account_id] = bucket

    def bucket_of(self, account_id: str) -> str:
        return self._buckets.get(account_id, account_id)

    def set_limits(self, account_id: str, limits: Mapping[str, Limit]) -> None:
        """This process's override: it may only lower what this process takes."""
        for operation, limit in limits.items():
            published = self.limit_for(account_id, operation)
            if limit.rate >= published.rate and limit.burst >= published.burst:
                log.warning("rate limit override %s/%s (%s/s, burst %d) is not below the "
                            "published plan (%s/s, burst %d): ignored, the shared bucket "
                            "refills at the published rate", account_id, operation,
                            limit.rate, limit.burst, published.rate, published.burst)
                continue
            lowered = Limit(min(limit.rate, published.rate), min(limit.burst, published.burst))
            self._overrides.setdefault(account_id, {})[operation] = lowered
            self._local.pop((account_id, operation), None)

    def limit_for(self, account_id: str, operation: str) -> Limit:
        """The published plan: what the shared bucket refills at."""
        published = self._published.get(account_id, {}).get(operation)
        if published is not None:
            return published
        try:
            return self._defaults[operation]
        except KeyError:
            raise KeyError(f"no rate limit known for SP-API operation {operation!r}") from None

    def override_for(self, account_id: str, operation: str) -> Limit | None:
        """This process's own lower limit, if one is set."""
        return self._overrides.get(account_id, {}).get(operation)

    def _local_bucket(self, account_id: str, operation: str) -> _LocalBucket | None:
        override = self.override_for(account_id, operation)
        if override is None:
            return None
        key = (account_id, operation)
        bucket = self._local.get(key)
        if bucket is None:
            bucket = self._local[key] = _LocalBucket(override, self.clock_us())
        return bucket

    # ------------------------------------------------------------------ public API

    def try_acquire(self, account_id: str, operation: str) -> float:
        """Take one token if there is one: returns 0.0. Else returns the seconds to wait
        (> 0) and takes nothing. Never sleeps."""
        local = self._local_bucket(account_id, operation)
        if local is not None:
            wait = local.wait_s(self.clock_us())
            if wait > 0:
                return wait
        wait = self._attempt(account_id, operation, take=True)
        if local is not None and wait <= 0:
            local.take()
        return wait

    def peek(self, account_id: str, operation: str) -> float:
        """Seconds until a token is available (0.0: now). Takes nothing, never sleeps.

        The feed batcher asks this before it builds a feed ("may I create a feed now?");
        the client then takes the token itself when it calls createFeed."""
        local = self._local_bucket(account_id, operation)
        wait = local.wait_s(self.clock_us()) if local is not None else 0.0
        return max(wait, self._attempt(account_id, operation, take=False))

    def acquire(self, account_id: str, operation: str, *, max_wait_s: float | None = None,
                ) -> float:
        """Take one token, sleeping (outside any transaction) until there is one.

        Returns the seconds slept. Raises :class:`RateLimitWaitTooLong` (nothing taken) when
        the next wait would push the total beyond ``max_wait_s``."""
        waited = 0.0
        while True:
            wait = self.try_acquire(account_id, operation)
            if wait <= 0:
                return waited
            if max_wait_s is not None and waited + wait > max_wait_s:
                raise RateLimitWaitTooLong(account_id, operation, wait)
            log.debug("rate limit %s/%s: waiting %.3fs", account_id, operation, wait)
            self.sleep(wait)
            waited += wait

    def penalize(self, account_id: str, operation: str,
                 retry_after_s: float | Decimal | None = None) -> float:
        """Amazon answered 429: empty the bucket and block it for ``retry_after_s`` (default:
        the time one token takes to refill). Returns the block in seconds."""
        limit = self.limit_for(account_id, operation)
        if retry_after_s is None:
            block_us = limit.refill_us()
        else:
            seconds = Decimal(str(retry_after_s)) if not isinstance(retry_after_s, Decimal) \
                else retry_after_s
            block_us = max(0, int((seconds * US_PER_S).to_integral_value(ROUND_CEILING)))

        bucket = self.bucket_of(account_id)

        def txn() -> None:
            with self._engine.begin() as conn:
                now = self.clock_us()
                state = self._load(conn, bucket, operation, limit, now)
                blocked = max(state.blocked_until_us, now + block_us)
                conn.execute(
                    update(rate_limit)
                    .where(rate_limit.c.account_id == bucket,
                           rate_limit.c.operation == operation)
                    .values(tokens=Decimal(0), updated_at_us=max(now, state.updated_at_us),
                            blocked_until_us=blocked)
                )

        self._run(txn)
        log.info("rate limit %s/%s: throttled by Amazon, blocked for %.3fs",
                 account_id, operation, block_us / US_PER_S)
        return block_us / US_PER_S

    def state(self, account_id: str, operation: str) -> BucketState | None:
        """The stored row (not refilled), for the health page and tests."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(rate_limit.c.tokens, rate_limit.c.updated_at_us,
                       rate_limit.c.blocked_until_us)
                .where(rate_limit.c.account_id == self.bucket_of(account_id),
                       rate_limit.c.operation == operation)
            ).one_or_none()
        if row is None:
            return None
        return BucketState(Decimal(row.tokens), int(row.updated_at_us),
                           int(row.blocked_until_us))

    # ------------------------------------------------------------------ internals

    def _run(self, fn: Callable[[], None]) -> None:
        if self._local_lock is not None:
            with self._local_lock:
                retry_transient(fn)
        else:
            retry_transient(fn)

    def _load(self, conn: Connection, bucket: str, operation: str, limit: Limit,
              now: int) -> BucketState:
        query = (
            select(rate_limit.c.tokens, rate_limit.c.updated_at_us,
                   rate_limit.c.blocked_until_us)
            .where(rate_limit.c.account_id == bucket,
                   rate_limit.c.operation == operation)
            .with_for_update()
        )
        row = conn.execute(query).one_or_none()
        if row is None:
            conn.execute(
                insert(rate_limit)
                .prefix_with("IGNORE", dialect="mysql")
                .prefix_with("IGNORE", dialect="mariadb")
                .prefix_with("OR IGNORE", dialect="sqlite")
                .values(account_id=bucket, operation=operation,
                        tokens=Decimal(limit.burst), updated_at_us=now, blocked_until_us=0)
            )
            row = conn.execute(query).one()
        return BucketState(Decimal(row.tokens), int(row.updated_at_us),
                           int(row.blocked_until_us))

    def _attempt(self, account_id: str, operation: str, *, take: bool) -> float:
        limit = self.limit_for(account_id, operation)
        bucket = self.bucket_of(account_id)
        result: list[float] = []

        def txn() -> None:
            result.clear()
            while True:
                with self._engine.begin() as conn:
                    now = self.clock_us()
                    state = self._load(conn, bucket, operation, limit, now)
                    if state.blocked_until_us > now:
                        result.append((state.blocked_until_us - now) / US_PER_S)
                        return
                    effective_now = max(now, state.updated_at_us)  # clocks of processes differ
                    elapsed = effective_now - state.updated_at_us
                    tokens = min(
                        Decimal(limit.burst),
                        state.tokens + limit.rate * Decimal(elapsed) / US_PER_S,
                    ).quantize(TOKEN_QUANTUM, rounding=ROUND_DOWN)
                    if tokens < ONE:
                        wait_us = limit.refill_us(ONE - tokens)
                        result.append(max(wait_us, 1) / US_PER_S)
                        return
                    if not take:
                        result.append(0.0)
                        return
                    # compare-and-swap on what was read: a no-op fence under FOR UPDATE,
                    # the only guard on SQLite across processes
                    changed = conn.execute(
                        update(rate_limit)
                        .where(and_(
                            rate_limit.c.account_id == bucket,
                            rate_limit.c.operation == operation,
                            rate_limit.c.updated_at_us == state.updated_at_us,
                            rate_limit.c.tokens == state.tokens,
                            rate_limit.c.blocked_until_us == state.blocked_until_us,
                        ))
                        .values(tokens=tokens - ONE, updated_at_us=effective_now)
                    ).rowcount
                    if changed == 1:
                        result.append(0.0)
                        return
                # lost the race (SQLite only): read again

        self._run(txn)
        return result[0]
