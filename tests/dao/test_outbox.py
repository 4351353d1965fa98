"""sidecar.dao.outbox and sidecar.outbox_runner: claim, fenced writes, backoff, reaper, admin.

Functional tests run on the real MariaDB (`engine`) and, where the embedded demo uses the same
code, on SQLite too (`db`). Time never passes by sleeping: every call takes `now`.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from sidecar.dao import outbox
from sidecar.dao.outbox import OutboxRow, backoff_seconds
from sidecar.outbox_runner import (
    Dead,
    Defer,
    Done,
    Handled,
    Handler,
    Outcome,
    PoisonError,
    Settings,
    run_once,
)
from sidecar.tables import audit_log
from sidecar.tables import outbox as outbox_table
from tests.dao.conftest import T0, add_rows, at

LEASE = 60


def claim_one(engine: Engine, now: datetime = T0, worker: str = "w1") -> OutboxRow:
    rows = outbox.claim(engine, worker, batch_size=1, lease_seconds=LEASE, now=now)
    assert len(rows) == 1
    return rows[0]


def row(engine: Engine, oid: int) -> OutboxRow:
    got = outbox.get(engine, oid)
    assert got is not None
    return got


def audit_rows(engine: Engine) -> list[tuple[int, str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.outbox_id, audit_log.c.action, audit_log.c.actor,
                   audit_log.c.reason).order_by(audit_log.c.id)
        ).all()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


class MaxRng(random.Random):
    """Always the top of the jitter range, to see the exponential ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


# ---------------------------------------------------------------------------- claim


def test_claim_leases_due_rows_oldest_first(db: Engine) -> None:
    late = add_rows(db, 2, start=1, available_at=at(-10))
    early = add_rows(db, 3, start=10, available_at=at(-20))
    future = add_rows(db, 1, start=20, available_at=at(3600))

    rows = outbox.claim(db, "host-a:1", batch_size=4, lease_seconds=LEASE, now=T0)

    assert [r.id for r in rows] == early + late[:1]
    for r in rows:
        assert r.status == "processing"
        assert r.attempts == 1
        assert r.lease_owner == "host-a:1"
        assert r.lease_token is not None and len(r.lease_token) == 36
        assert r.lease_expires_at == at(LEASE)
        assert r.payload == '{"ok": true}'
        assert row(db, r.id) == r  # what claim returned is what the table holds
    rest = outbox.claim(db, "host-b:1", batch_size=10, lease_seconds=LEASE, now=T0)
    assert [r.id for r in rest] == late[1:]
    assert outbox.claim(db, "host-b:1", batch_size=10, lease_seconds=LEASE, now=T0) == []
    assert row(db, future[0]).status == "pending"


def test_claim_floors_now_and_rounds_the_lease_up(db: Engine) -> None:
    (oid,) = add_rows(db, 1, available_at=at(1))
    # 0.9 s before the row is due: floored to T0, not due yet
    assert outbox.claim(db, "w", batch_size=1, lease_seconds=1, now=at(0.9)) == []
    got = outbox.claim(db, "w", batch_size=1, lease_seconds=10.2, now=at(1.5))
    assert [r.id for r in got] == [oid]
    assert got[0].lease_expires_at == at(12)  # floor(now) + ceil(lease)


def test_claim_validates_arguments(db: Engine) -> None:
    with pytest.raises(ValueError, match="worker_id"):
        outbox.claim(db, "x" * 129, batch_size=1, lease_seconds=1, now=T0)
    with pytest.raises(ValueError, match="batch_size"):
        outbox.claim(db, "w", batch_size=0, lease_seconds=1, now=T0)
    with pytest.raises(ValueError, match="naive UTC"):
        outbox.claim(db, "w", batch_size=1, lease_seconds=1,
                     now=datetime.now().astimezone())


# --------------------------------------------------------------------- fenced writes


@pytest.mark.parametrize("status", sorted(outbox.COMPLETE_STATUSES))
def test_complete_sets_status_and_clears_the_lease(db: Engine, status: str) -> None:
    add_rows(db, 1)
    r = claim_one(db)
    assert outbox.complete(db, r, status, "why", now=at(5))
    got = row(db, r.id)
    assert (got.status, got.status_message, got.attempts) == (status, "why", 1)
    assert (got.lease_owner, got.lease_token, got.lease_expires_at) == (None, None, None)
    assert got.updated_at == at(5)
    # the lease is gone: a second write with the same token changes nothing
    assert not outbox.complete(db, r, "done", "again")
    assert row(db, r.id) == got


def test_complete_refuses_non_terminal_statuses_and_unleased_rows(db: Engine) -> None:
    (oid,) = add_rows(db, 1)
    r = claim_one(db)
    for status in ("pending", "processing", "bogus"):
        with pytest.raises(ValueError, match="cannot set"):
            outbox.complete(db, r, status, "")
    unleased = row(db, oid)
    outbox.complete(db, r, "done", "ok")
    with pytest.raises(outbox.LeaseError):
        outbox.complete(db, row(db, oid), "done", "no token")  # lease_token is None
    assert unleased.lease_token is not None


def test_complete_dead_records_the_error(db: Engine) -> None:
    add_rows(db, 1)
    r = claim_one(db)
    assert outbox.complete(db, r, "dead", "poison", error="bad json")
    got = row(db, r.id)
    assert (got.status, got.status_message, got.last_error) == ("dead", "poison", "bad json")


def test_complete_in_joins_the_callers_transaction(db: Engine) -> None:
    add_rows(db, 1)
    r = claim_one(db)
    with db.connect() as conn, conn.begin() as tx:
        assert outbox.complete_in(conn, r, "submitted", "queued for Amazon")
        tx.rollback()  # e.g. the feed message insert failed: the status change goes too
    assert row(db, r.id).status == "processing"
    with db.begin() as conn:
        assert outbox.complete_in(conn, r, "submitted", "queued for Amazon")
    assert row(db, r.id).status == "submitted"


def test_settle_submitted(db: Engine) -> None:
    a, b = add_rows(db, 2)
    ra, rb = outbox.claim(db, "w", batch_size=2, lease_seconds=LEASE, now=T0)
    assert outbox.complete(db, ra, "submitted", "in feed 7")
    assert not outbox.settle_submitted(db, b, "done", "not submitted")  # still processing
    assert outbox.settle_submitted(db, a, "rejected", "Amazon said no", error="code 18028")
    got = row(db, a)
    assert (got.status, got.status_message, got.last_error) == (
        "rejected", "Amazon said no", "code 18028")
    assert not outbox.settle_submitted(db, a, "done", "twice")
    with pytest.raises(ValueError, match="settle"):
        outbox.settle_submitted(db, a, "processing", "")
    assert outbox.complete(db, rb, "submitted", "in feed 8")
    assert outbox.settle_submitted(db, b, "pending", "feed lost, send again", now=at(99))
    again = row(db, b)
    assert (again.status, again.available_at, again.attempts) == ("pending", at(99), 1)


def test_retry_backs_off_then_gives_up(db: Engine) -> None:
    (oid,) = add_rows(db, 1)
    now = T0
    for attempt in (1, 2):
        r = claim_one(db, now)
        assert r.attempts == attempt
        assert outbox.retry(db, r, f"timeout {attempt}", max_attempts=3, base_seconds=10,
                            max_seconds=1000, now=now, rng=MaxRng())
        got = row(db, oid)
        delay = 10 * 2 ** (attempt - 1)  # MaxRng: the top of the jitter range
        assert got.status == "pending"
        assert got.available_at == now + timedelta(seconds=delay)
        assert got.last_error == f"timeout {attempt}"
        assert got.status_message is not None and f"attempt {attempt}/3" in got.status_message
        assert got.lease_token is None
        # not due before the backoff ends
        assert outbox.claim(db, "w", batch_size=1, lease_seconds=LEASE,
                            now=got.available_at - timedelta(seconds=1)) == []
        now = got.available_at
    r = claim_one(db, now)
    assert r.attempts == 3
    assert outbox.retry(db, r, "timeout 3", max_attempts=3, base_seconds=10, max_seconds=1000,
                        now=now)
    dead = row(db, oid)
    assert dead.status == "dead"
    assert dead.status_message == "gave up after 3 attempts: timeout 3"
    assert dead.last_error == "timeout 3"
    assert outbox.claim(db, "w", batch_size=1, lease_seconds=LEASE, now=at(10**6)) == []


def test_retry_with_jitter_stays_in_range(engine: Engine) -> None:
    add_rows(engine, 1)
    r = claim_one(engine)
    assert outbox.retry(engine, r, "boom", max_attempts=5, base_seconds=30, max_seconds=3600,
                        now=T0, rng=random.Random(7))
    due = row(engine, r.id).available_at
    assert T0 <= due <= at(30)


def test_retry_clips_a_huge_error(engine: Engine) -> None:
    add_rows(engine, 1)
    r = claim_one(engine)
    error = "€" * 100_000  # 300 kB of utf8mb4: more than a TEXT column holds
    assert outbox.retry(engine, r, error, max_attempts=5, base_seconds=1, max_seconds=1, now=T0)
    got = row(engine, r.id)
    assert got.last_error is not None
    assert len(got.last_error) <= outbox.MAX_TEXT
    assert got.last_error.endswith("[truncated]")


def test_defer_does_not_count_the_attempt(db: Engine) -> None:
    (oid,) = add_rows(db, 1)
    r = claim_one(db)
    assert outbox.defer(db, r, at(30.5), "waiting for shipment 7", now=T0)
    got = row(db, oid)
    assert (got.status, got.attempts, got.status_message) == (
        "pending", 0, "waiting for shipment 7")
    assert got.available_at == at(31)  # rounded up: never claimed before `until`
    assert got.lease_token is None
    assert outbox.claim(db, "w", batch_size=1, lease_seconds=LEASE, now=at(30)) == []
    assert claim_one(db, at(31)).attempts == 1
    assert not outbox.defer(db, r, at(60), "stale lease")


def test_extend_lease(db: Engine) -> None:
    add_rows(db, 1)
    r = claim_one(db)
    assert outbox.extend_lease(db, r, lease_seconds=LEASE, now=at(50))
    assert row(db, r.id).lease_expires_at == at(50 + LEASE)
    assert outbox.reap_expired(db, now=at(LEASE + 1)) == 0  # the old end is no longer it
    assert outbox.reap_expired(db, now=at(50 + LEASE + 1)) == 1
    assert not outbox.extend_lease(db, r, lease_seconds=LEASE, now=at(200))


# ------------------------------------------------------------------------- reaper


def test_reaper_returns_expired_leases_only(db: Engine) -> None:
    a, b = add_rows(db, 2)
    (ra,) = outbox.claim(db, "host-a:11", batch_size=1, lease_seconds=10, now=T0)
    (rb,) = outbox.claim(db, "host-b:22", batch_size=1, lease_seconds=100, now=T0)
    assert (ra.id, rb.id) == (a, b)
    assert outbox.reap_expired(db, now=at(10)) == 0  # expires_at == now: still held
    assert outbox.reap_expired(db, now=at(11)) == 1
    got = row(db, a)
    assert got.status == "pending"
    assert got.available_at == at(11)
    assert got.last_error == "lease expired (worker host-a:11 lost it)"
    assert (got.lease_owner, got.lease_token, got.lease_expires_at) == (None, None, None)
    assert got.attempts == 1  # the lost claim counts
    assert row(db, b).status == "processing"
    assert rb.lease_token is not None


def test_reaper_kills_rows_that_used_all_attempts(db: Engine) -> None:
    (oid,) = add_rows(db, 1)
    now = T0
    for attempt in (1, 2, 3):
        r = claim_one(db, now, worker=f"w{attempt}")
        assert r.attempts == attempt
        now += timedelta(seconds=LEASE + 1)
        assert outbox.reap_expired(db, now=now, max_attempts=3) == 1
    got = row(db, oid)
    assert got.status == "dead"
    assert got.status_message == "gave up after 3 attempts: lease expired (worker w3 lost it)"
    assert got.last_error == "lease expired (worker w3 lost it)"
    assert got.lease_owner is None


def test_late_write_after_a_lost_lease_changes_nothing(db: Engine) -> None:
    add_rows(db, 1)
    old = claim_one(db, worker="slow")
    assert outbox.reap_expired(db, now=at(LEASE + 1)) == 1
    new = claim_one(db, at(LEASE + 1), worker="fast")
    assert new.lease_token != old.lease_token
    before = row(db, new.id)

    assert not outbox.complete(db, old, "done", "late")
    assert not outbox.retry(db, old, "late", max_attempts=1, base_seconds=1, max_seconds=1)
    assert not outbox.defer(db, old, at(999), "late")
    assert not outbox.extend_lease(db, old, lease_seconds=LEASE)
    with db.begin() as conn:
        assert not outbox.complete_in(conn, old, "done", "late")
    assert row(db, new.id) == before
    assert (before.status, before.lease_owner, before.attempts) == ("processing", "fast", 2)

    assert outbox.complete(db, new, "done", "by fast")
    assert row(db, new.id).status_message == "by fast"


# ----------------------------------------------------------------- admin actions


def _park(engine: Engine, statuses: list[str]) -> list[int]:
    ids = add_rows(engine, len(statuses), start=500)
    for oid, status in zip(ids, statuses, strict=True):
        with engine.begin() as conn:
            conn.execute(update(outbox_table).where(outbox_table.c.id == oid).values(
                status=status, attempts=7, last_error=f"error of {oid}"))
    return ids


def test_requeue_by_id_resets_and_audits(db: Engine) -> None:
    dead, done, rejected, attention, skipped = _park(
        db, ["dead", "done", "rejected", "needs_attention", "skipped"])
    got = outbox.requeue(db, [done, dead, rejected, 999], actor="alice",
                         reason="Amazon outage over", now=at(100))
    assert got == [dead, rejected]
    for oid in (dead, rejected):
        r = row(db, oid)
        assert (r.status, r.attempts, r.available_at) == ("pending", 0, at(100))
        assert r.status_message is not None and r.status_message.startswith("requeued by alice")
        assert r.last_error == f"error of {oid}"  # history kept
    assert row(db, done).status == "done"
    assert audit_rows(db) == [
        (dead, "requeue", "alice", "Amazon outage over (was dead)"),
        (rejected, "requeue", "alice", "Amazon outage over (was rejected)"),
    ]
    assert outbox.requeue(db, [skipped], actor="bob", reason="retry") == [skipped]
    assert row(db, attention).status == "needs_attention"  # only resolve settles it
    assert outbox.requeue(db, [], actor="bob", reason="nothing") == []


def test_requeue_refuses_needs_attention_rows_and_names_resolve(db: Engine) -> None:
    """Issue 7 item 2, "an operator requeue that loses a refund": requeue on a needs_attention
    row made it pending with its ledger entries still pending, so it ended `skipped: already
    submitted`, never sent, its ledger pending forever. Now it is refused, nothing changes,
    and the refusal names `sidecar outbox resolve ID --requeue|--done`."""
    attention, dead = _park(db, ["needs_attention", "dead"])
    with pytest.raises(outbox.NeedsResolution) as refused:
        outbox.requeue(db, [dead, attention], actor="bob", reason="retry")
    text = str(refused.value)
    assert f"sidecar outbox resolve {attention} --requeue" in text
    assert f"sidecar outbox resolve {attention} --done" in text
    assert (row(db, attention).status, row(db, dead).status) == ("needs_attention", "dead")
    assert audit_rows(db) == []
    with pytest.raises(outbox.NeedsResolution, match="sidecar outbox resolve"):
        outbox.requeue(db, status="needs_attention", actor="bob", reason="retry")
    assert row(db, attention).status == "needs_attention"


def test_requeue_by_status(db: Engine) -> None:
    ids = _park(db, ["dead", "rejected", "dead", "dead"])
    assert outbox.requeue(db, status="dead", actor="ops", reason="fixed", limit=2) == [
        ids[0], ids[2]]
    assert outbox.requeue(db, status="dead", actor="ops", reason="fixed") == [ids[3]]
    assert outbox.status_counts(db)["rejected"] == 1
    assert len(audit_rows(db)) == 3


def test_requeue_validates(db: Engine) -> None:
    with pytest.raises(ValueError, match="either"):
        outbox.requeue(db, actor="a", reason="r")
    with pytest.raises(ValueError, match="either"):
        outbox.requeue(db, [1], status="dead", actor="a", reason="r")
    with pytest.raises(ValueError, match="cannot requeue"):
        outbox.requeue(db, status="done", actor="a", reason="r")
    with pytest.raises(ValueError, match="reason"):
        outbox.requeue(db, [1], actor="a", reason="  ")
    with pytest.raises(ValueError, match="actor"):
        outbox.requeue(db, [1], actor="", reason="r")


def test_mark_resolved(db: Engine) -> None:
    a, b, c = _park(db, ["needs_attention", "needs_attention", "dead"])
    assert outbox.mark_resolved(db, a, status="done", actor="carol",
                                reason="refund visible in Seller Central")
    assert outbox.mark_resolved(db, b, status="pending", actor="carol", reason="not applied",
                                now=at(5))
    assert not outbox.mark_resolved(db, c, status="done", actor="carol", reason="wrong row")
    assert not outbox.mark_resolved(db, a, status="done", actor="carol", reason="twice")
    ra, rb = row(db, a), row(db, b)
    assert (ra.status, ra.attempts) == ("done", 7)
    assert ra.status_message == "resolved as done by carol: refund visible in Seller Central"
    assert (rb.status, rb.attempts, rb.available_at) == ("pending", 0, at(5))
    assert audit_rows(db) == [
        (a, "resolve_done", "carol", "refund visible in Seller Central"),
        (b, "resolve_requeue", "carol", "not applied"),
    ]
    with pytest.raises(ValueError, match="resolve"):
        outbox.mark_resolved(db, a, status="skipped", actor="carol", reason="r")


# -------------------------------------------------------------------- inspection


def test_status_counts_and_oldest_pending(db: Engine) -> None:
    assert outbox.status_counts(db) == dict.fromkeys(outbox.STATUSES, 0)
    assert outbox.oldest_pending_age_seconds(db, now=T0) is None
    add_rows(db, 3, start=1, available_at=at(-90))
    add_rows(db, 2, start=10, available_at=at(-30))
    add_rows(db, 1, start=20, available_at=at(600))  # backing off: not "waiting"
    _park(db, ["dead"])
    outbox.claim(db, "w", batch_size=2, lease_seconds=LEASE, now=T0)
    counts = outbox.status_counts(db)
    assert counts == {**dict.fromkeys(outbox.STATUSES, 0), "pending": 4, "processing": 2,
                      "dead": 1}
    assert outbox.oldest_pending_age_seconds(db, now=at(0.5)) == 90.5
    assert outbox.oldest_pending_age_seconds(db, now=at(-95)) is None


def test_list_rows_and_get(db: Engine) -> None:
    ids = add_rows(db, 3)
    claim_one(db)
    assert [r.id for r in outbox.list_rows(db)] == ids[::-1]
    assert [r.id for r in outbox.list_rows(db, status="pending", limit=1)] == [ids[2]]
    assert [r.id for r in outbox.list_rows(db, status="processing")] == [ids[0]]
    assert outbox.get(db, 424242) is None
    assert row(db, ids[1]).entity_id == 2
    assert "payload" not in repr(row(db, ids[1]))


def test_open_events_before(db: Engine) -> None:
    ships = add_rows(db, 3, start=1, event_type="shipment", order_id=5)
    add_rows(db, 1, start=9, event_type="shipment", order_id=6)
    (memo,) = add_rows(db, 1, start=1, event_type="creditmemo", order_id=5)
    later = add_rows(db, 1, start=4, event_type="shipment", order_id=5)
    claim_one(db)  # ships[0] -> processing: still open
    with db.begin() as conn:
        conn.execute(update(outbox_table).where(outbox_table.c.id == ships[1])
                     .values(status="done"))
    with db.connect() as conn:
        assert outbox.open_events_before(
            conn, order_id=5, event_type="shipment", before_id=memo) == [1, 3]
    assert later[0] > memo


# ---------------------------------------------------------------------- backoff


@given(attempt=st.integers(1, 10_000), base=st.floats(0.001, 1e4), cap=st.floats(0.001, 1e6),
       seed=st.integers(0, 2**32))
def test_backoff_is_jittered_below_the_capped_exponential(
    attempt: int, base: float, cap: float, seed: int,
) -> None:
    delay = backoff_seconds(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2.0 ** min(attempt - 1, 64))


def test_backoff_doubles_until_the_cap() -> None:
    top = [backoff_seconds(n, 5, 100, MaxRng()) for n in range(1, 9)]
    assert top == [5, 10, 20, 40, 80, 100, 100, 100]
    samples = [backoff_seconds(4, 5, 100, random.Random(i)) for i in range(2000)]
    assert len(set(samples)) > 1900  # jitter: a thundering herd is spread out
    assert 15 < sum(samples) / len(samples) < 25  # full jitter: mean is half the ceiling (40)


def test_backoff_rejects_bad_arguments() -> None:
    rng = random.Random(1)
    with pytest.raises(ValueError, match="attempt"):
        backoff_seconds(0, 1, 1, rng)
    with pytest.raises(ValueError, match="base"):
        backoff_seconds(1, 0, 1, rng)


# ------------------------------------------------------------------------- runner

SETTINGS = Settings(batch_size=10, lease_seconds=LEASE, max_attempts=3,
                    backoff_base_seconds=10, backoff_max_seconds=100)


def json_handler(seen: list[int]) -> Handler:
    def handle(r: OutboxRow) -> Outcome:
        seen.append(r.id)
        doc = json.loads(r.payload)
        if doc.get("fail"):
            raise RuntimeError("Amazon said 503")
        if doc.get("poison"):
            raise PoisonError("order has no items")
        if doc.get("wait"):
            return Defer(at(300), "waiting for the shipment")
        if doc.get("skip"):
            return Done("skipped", "not an Amazon order")
        if doc.get("dead"):
            return Dead("unsupported currency")
        return Done("done", f"ok {doc['n']}")
    return handle


def test_run_once_poison_rows_die_while_the_others_proceed(db: Engine) -> None:
    payloads = {
        1: '{"n": 1}', 2: '{"n": 2, "oops', 3: '{"fail": true}', 4: '{"poison": true}',
        5: '{"wait": true}', 6: '{"skip": true}', 7: '{"dead": true}', 8: '{"n": 8}',
    }
    ids = add_rows(db, 8, payload=lambda e: payloads[e])
    seen: list[int] = []
    handler = json_handler(seen)
    assert run_once(db, "w1", handler, SETTINGS, clock=lambda: T0, rng=MaxRng()) == 8
    assert seen == ids  # every row was handled, in claim order
    got = {e: row(db, oid) for e, oid in zip(payloads, ids, strict=True)}
    assert (got[1].status, got[1].status_message) == ("done", "ok 1")
    assert got[2].status == "dead"
    assert got[2].status_message is not None
    assert got[2].status_message.startswith("poison payload: JSONDecodeError: Unterminated")
    assert got[2].last_error == got[2].status_message
    assert (got[3].status, got[3].last_error) == ("pending", "RuntimeError: Amazon said 503")
    assert got[3].available_at == at(10)
    assert (got[4].status, got[4].status_message) == (
        "dead", "poison payload: PoisonError: order has no items")
    assert (got[5].status, got[5].attempts, got[5].available_at) == ("pending", 0, at(300))
    assert (got[6].status, got[6].status_message) == ("skipped", "not an Amazon order")
    assert (got[7].status, got[7].last_error) == ("dead", "unsupported currency")
    assert got[8].status == "done"


def test_run_once_retries_failures_until_dead(db: Engine) -> None:
    (oid,) = add_rows(db, 1, payload='{"fail": true}')
    handler = json_handler([])
    now = T0
    for _ in range(3):
        assert run_once(db, "w", handler, SETTINGS, clock=lambda: now) == 1  # noqa: B023
        now += timedelta(seconds=10**4)  # after any backoff
    assert run_once(db, "w", handler, SETTINGS, clock=lambda: now) == 0
    got = row(db, oid)
    assert got.status == "dead"
    assert got.status_message == "gave up after 3 attempts: RuntimeError: Amazon said 503"


def test_run_once_handled_and_bad_outcomes(db: Engine) -> None:
    a, b, c = add_rows(db, 3)

    def handler(r: OutboxRow) -> Outcome:
        if r.id == a:  # writes its own status with other rows in one transaction
            with db.begin() as conn:
                assert outbox.complete_in(conn, r, "submitted", "in feed 1")
            return Handled("in feed 1")
        if r.id == b:
            return Done("processing", "not a final status")  # rejected by complete()
        return "not an outcome"  # type: ignore[return-value]

    assert run_once(db, "w", handler, SETTINGS, clock=lambda: T0) == 3
    assert row(db, a).status == "submitted"
    assert row(db, b).status == "processing"  # not recorded: the reaper returns it later
    assert row(db, c).status == "pending"
    assert row(db, c).last_error is not None
    assert "handler bug" in (row(db, c).last_error or "")


def test_run_once_renews_the_lease_and_skips_rows_it_lost(db: Engine) -> None:
    a, b, c = add_rows(db, 3)
    times = iter([T0, at(1), at(2), at(LEASE + 5), at(LEASE + 6), at(LEASE + 7), at(LEASE + 8)])
    seen: list[int] = []

    def handler(r: OutboxRow) -> Outcome:
        seen.append(r.id)
        if r.id == a:  # slow: meanwhile the reaper frees b and c and another worker takes b
            assert outbox.extend_lease(db, r, lease_seconds=2 * LEASE, now=T0)
            assert outbox.reap_expired(db, now=at(LEASE + 1)) == 2
            assert [x.id for x in outbox.claim(db, "other", batch_size=1, lease_seconds=LEASE,
                                               now=at(LEASE + 1))] == [b]
        return Done("done", "ok")

    assert run_once(db, "w", handler, SETTINGS, clock=lambda: next(times)) == 3
    assert seen == [a]  # b was lost; c's lease was gone too: both skipped, nobody ran twice
    assert row(db, a).status == "done"
    assert (row(db, b).status, row(db, b).lease_owner) == ("processing", "other")
    assert row(db, c).status == "pending"


def test_admin_actions_join_the_callers_transaction(db: Engine) -> None:
    a, b = _park(db, ["needs_attention", "dead"])
    with db.connect() as conn, conn.begin() as tx:
        assert outbox.mark_resolved_in(conn, a, status="done", actor="dan", reason="seen")
        assert outbox.requeue_in(conn, [b], actor="dan", reason="try again") == [b]
        tx.rollback()  # e.g. the ledger update failed: status and audit go too
    assert (row(db, a).status, row(db, b).status) == ("needs_attention", "dead")
    assert audit_rows(db) == []
    assert outbox.requeue(db, (i for i in [b]), actor="dan", reason="generator") == [b]


# ------------------------------------------------------- claimable (the feed planner's hold)


def test_claimable_exists_counts_only_credit_memos_due_now(db: Engine) -> None:
    assert not outbox.claimable_exists(db, T0)
    add_rows(db, 1, event_type="shipment")  # not a credit memo: no feed message behind it
    later = add_rows(db, 1, start=10, available_at=at(30))  # backing off / deferred
    assert not outbox.claimable_exists(db, T0)
    assert outbox.claimable_exists(db, at(30))  # its time has come
    # claimed (processing): being decided, nothing waits to be claimed
    assert len(outbox.claim(db, "w1", batch_size=2, lease_seconds=LEASE, now=at(30))) == 2
    assert row(db, later[0]).status == "processing"
    assert not outbox.claimable_exists(db, at(31))
