"""One pass of the outbox loop: claim a batch, run the handler on each row, record the outcome.

The handler decides; this module turns its answer into a fenced status change
(sidecar.dao.outbox). One bad row never stops the batch:

* an exception from the handler becomes Retry("<Type>: <message>") (backoff, then dead after
  max_attempts); a database error becomes a short message for people (never SQL text; the
  details go to the log, without statement parameters);
* a PoisonError, json.JSONDecodeError or RecursionError (a payload that can never be
  processed, e.g. nested 100,000 deep), or a database refusing the row's data (a value out
  of range, a missing referenced row) is dead at once with the reason;
* a failure while recording the outcome is logged and left to the reaper (the lease expires
  and the row comes back), so handlers must be idempotent, as with any at-least-once queue.

A handler that writes other tables together with the row's status calls
`outbox.complete_in(conn, row, ...)` inside its own transaction and returns Handled(message):
the runner then writes nothing.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from sidecar.clock import utcnow
from sidecar.dao import outbox
from sidecar.dao.outbox import OutboxRow
from sidecar.db import describe_db_error, is_data_error, scrub_sql

log = logging.getLogger(__name__)


class PoisonError(ValueError):
    """The row can never be processed (invalid payload): dead at once, no retries."""


@dataclass(frozen=True)
class Done:
    """Final status (or 'submitted') chosen by the handler."""

    status: str = outbox.DONE
    message: str = ""


@dataclass(frozen=True)
class Retry:
    """Temporary failure: try again after a backoff (dead after max_attempts)."""

    error: str


@dataclass(frozen=True)
class Defer:
    """Not yet (a rule said "wait"): pending again at `until`, the attempt is not counted
    unless `counted` (e.g. a credit memo dated ahead of our clock): then the row is dead
    once it used max_attempts."""

    until: datetime
    message: str
    counted: bool = False


@dataclass(frozen=True)
class Dead:
    """Give up now (poison payload, impossible request)."""

    reason: str


@dataclass(frozen=True)
class Handled:
    """The handler already recorded the row's status itself (complete_in in its transaction)."""

    message: str = ""


Outcome = Done | Retry | Defer | Dead | Handled
Handler = Callable[[OutboxRow], Outcome]


class RunnerSettings(Protocol):
    """What run_once needs; sidecar.config.Config satisfies it."""

    @property
    def batch_size(self) -> int: ...
    @property
    def lease_seconds(self) -> float: ...
    @property
    def max_attempts(self) -> int: ...
    @property
    def backoff_base_seconds(self) -> float: ...
    @property
    def backoff_max_seconds(self) -> float: ...


@dataclass(frozen=True)
class Settings:
    batch_size: int = 50
    lease_seconds: float = 300
    max_attempts: int = 10
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0


def apply_outcome(
    engine: Engine, row: OutboxRow, outcome: Outcome, settings: RunnerSettings, *,
    now: datetime | None = None, rng: random.Random | None = None,
) -> bool:
    """Record the outcome with a fenced write. False = the lease was lost, nothing written."""
    match outcome:
        case Handled():
            return True
        case Done(status=status, message=message):
            return outbox.complete(engine, row, status, message, now=now)
        case Retry(error=error):
            return outbox.retry(
                engine, row, error, max_attempts=settings.max_attempts,
                base_seconds=settings.backoff_base_seconds,
                max_seconds=settings.backoff_max_seconds, now=now, rng=rng,
            )
        case Defer(until=until, message=message, counted=True):
            if row.attempts >= settings.max_attempts:
                reason = f"gave up after {row.attempts} attempts: {message}"
                return outbox.complete(engine, row, outbox.DEAD, reason, error=message, now=now)
            return outbox.defer(engine, row, until, message, now=now, count_attempt=True)
        case Defer(until=until, message=message):
            return outbox.defer(engine, row, until, message, now=now)
        case Dead(reason=reason):
            return outbox.complete(engine, row, outbox.DEAD, reason, error=reason, now=now)
    raise TypeError(f"handler returned {outcome!r}, not an Outcome")


def _handle(row: OutboxRow, handler: Handler) -> Outcome:
    try:
        outcome = handler(row)
    except RecursionError:
        log.error("outbox row %s: poison payload: nested too deeply", row.id)
        return Dead("poison payload: nested too deeply to be a snapshot; nothing was sent")
    except (PoisonError, json.JSONDecodeError) as exc:
        log.error("outbox row %s: poison payload: %s", row.id, exc)
        return Dead(f"poison payload: {type(exc).__name__}: {exc}")
    except DBAPIError as exc:
        log.exception("outbox row %s: database error (attempt %s)", row.id, row.attempts)
        if is_data_error(exc):
            return Dead(f"poison payload: {describe_db_error(exc)}; nothing was sent to Amazon")
        return Retry(describe_db_error(exc))
    except Exception as exc:
        log.exception("outbox row %s: handler failed (attempt %s)", row.id, row.attempts)
        return Retry(scrub_sql(f"{type(exc).__name__}: {exc}") or type(exc).__name__)
    if not isinstance(outcome, Done | Retry | Defer | Dead | Handled):
        return Retry(f"handler bug: returned {outcome!r}, not an Outcome")
    return outcome


def run_once(
    engine: Engine, worker_id: str, handler: Handler, settings: RunnerSettings, *,
    clock: Callable[[], datetime] = utcnow, rng: random.Random | None = None,
    after_row: Callable[[], None] | None = None,
) -> int:
    """Claim one batch and process it. Returns how many rows were claimed (0 = idle).

    after_row runs after each row (the worker's heartbeat during a long batch); its
    failure is logged and never stops the batch."""
    claimed_at = clock()
    rows = outbox.claim(
        engine, worker_id, batch_size=settings.batch_size,
        lease_seconds=settings.lease_seconds, now=claimed_at,
    )
    for row in rows:
        _process(engine, row, handler, settings, clock, claimed_at, rng)
        if after_row is not None:
            try:
                after_row()
            except Exception:
                log.exception("after-row hook failed; the batch goes on")
    return len(rows)


def _process(
    engine: Engine, row: OutboxRow, handler: Handler, settings: RunnerSettings,
    clock: Callable[[], datetime], claimed_at: datetime, rng: random.Random | None,
) -> None:
    try:
        # later rows of a slow batch: renew the lease before starting, or skip if it is gone
        now = clock()
        if (now - claimed_at).total_seconds() >= settings.lease_seconds / 2 and not (
            outbox.extend_lease(engine, row, lease_seconds=settings.lease_seconds, now=now)
        ):
            log.warning("outbox row %s: lease lost before processing; skipped", row.id)
            return
    except Exception:
        log.exception("outbox row %s: could not renew the lease; left to the reaper", row.id)
        return
    outcome = _handle(row, handler)
    try:
        if not apply_outcome(engine, row, outcome, settings, now=clock(), rng=rng):
            log.warning("outbox row %s: lease lost; outcome %r not recorded", row.id, outcome)
    except Exception:
        log.exception(
            "outbox row %s: could not record %r; the reaper returns it after the lease", row.id,
            outcome,
        )
