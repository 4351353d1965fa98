"""Exactly once toward Amazon: repeats, lost answers, FATAL feeds and the human in the loop."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from sidecar import outbox_runner
from sidecar.amazon.client import SpApiClient, SpApiError
from sidecar.emulator.model import FaultKind
from sidecar.resolution import resolve
from sidecar.tables import feed, ledger
from tests.e2e.conftest import MARKETPLACE, STORE, STORE_GROSS, Bridge
from tests.support.magento_factory import ItemSpec
from tests.support.module import run_observer

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")


def feed_states(bridge: Bridge) -> list[str]:
    with bridge.engine.connect() as conn:
        return [r[0] for r in conn.execute(select(feed.c.state).order_by(feed.c.id))]


def test_saving_and_driving_again_refunds_once(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()
    bridge.drive()
    memo_id = bridge.sql("SELECT entity_id FROM refund_bridge_outbox WHERE id = :i", i=row_id)[0][0]
    assert run_observer(bridge.url, "creditmemo", memo_id) is None  # a second save: no row
    bridge.drive()

    assert bridge.row(row_id).status == "done"
    assert bridge.refunds(order, "MUG-1").adjustments == 1
    assert bridge.emulator.state.calls("createFeed") == 1


def test_createfeed_answer_lost_is_reconciled_not_resent(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    # Amazon creates the feed, then the answer is lost (HTTP 500 after the fact)
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)
    bridge.drive()
    assert feed_states(bridge) == ["submitting"]
    assert bridge.row(row_id).status == "submitted"

    bridge.emulator.state.process_pending_feeds()  # Amazon processed it meanwhile
    bridge.clock.advance(seconds=61)
    bridge.drive()

    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 1
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_createfeed_that_never_reached_amazon_is_sent_again_after_the_grace(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # 500, nothing created
    bridge.drive()
    assert feed_states(bridge) == ["submitting"]

    bridge.clock.advance(seconds=61)
    bridge.drive()
    assert feed_states(bridge) == ["submitting"], "getFeeds may lag: wait for the grace period"

    bridge.clock.advance(minutes=5)
    bridge.drive()
    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done"
    assert bridge.emulator.state.calls("createFeed") == 2
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_indistinguishable_feeds_park_the_refund_for_a_human(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)
    bridge.drive()
    # another tool of the seller submits a refund feed of one message in the same window
    emu = bridge.emulator.state
    content = emu.document_content(emu.all_feeds()[0].input_feed_document_id)
    assert content is not None
    doc = emu.create_feed_document("A1EXAMPLESELLER", "text/xml; charset=UTF-8")
    emu.upload_document(doc.feed_document_id, "text/xml; charset=UTF-8", content)
    emu.create_feed(
        "A1EXAMPLESELLER", "POST_PAYMENT_ADJUSTMENT_DATA", [MARKETPLACE], doc.feed_document_id
    )
    emu.process_pending_feeds()

    bridge.clock.advance(seconds=61)
    bridge.drive()
    assert feed_states(bridge) == ["submitting"]
    bridge.clock.advance(hours=2)
    bridge.drive()

    assert feed_states(bridge) == ["unknown"]
    row = bridge.row(row_id)
    assert row.status == "needs_attention"
    assert "sidecar outbox resolve" in (row.status_message or "")
    assert any("UNKNOWN OUTCOME" in c for c in bridge.comments(order))
    assert bridge.emulator.state.calls("createFeed") == 1  # never re-sent by the sidecar

    assert resolve(bridge.engine, row_id, done=True, actor="dba", reason="seen in Seller Central")
    assert bridge.row(row_id).status == "done"
    with bridge.engine.connect() as conn:
        states = {
            r[0] for r in conn.execute(select(ledger.c.state).where(ledger.c.outbox_id == row_id))
        }
    assert states == {"confirmed"}


def test_fatal_refund_feed_is_parked_and_a_requeue_sends_it_again(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.fatal_next_feed(applied=False)
    bridge.drive()

    assert feed_states(bridge) == ["fatal"]
    row = bridge.row(row_id)
    assert row.status == "needs_attention"
    assert "FATAL" in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1

    # the admin checked Seller Central: nothing happened, so send it again
    assert resolve(bridge.engine, row_id, done=False, actor="admin", reason="not on Amazon")
    bridge.drive()
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_fatal_cancellation_feed_is_retried_automatically(bridge: Bridge) -> None:
    order = bridge.order([MUG])
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.emulator.state.fatal_next_feed(applied=False)
    bridge.drive()
    bridge.drive()

    assert feed_states(bridge) == ["fatal", "done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.amazon_order(order).status == "Canceled"


def test_many_credit_memos_share_one_feed(bridge: Bridge) -> None:
    orders = [bridge.order([MUG], shipped={"MUG-1": 2}) for _ in range(5)]
    rows = [bridge.creditmemo(o, {"MUG-1": 1}) for o in orders]
    bridge.drive()

    assert [bridge.row(r).status for r in rows] == ["done"] * 5
    calls = {
        op: bridge.emulator.state.calls(op)
        for op in (
            "getOrder",
            "createFeedDocument",
            "uploadFeedDocument",
            "createFeed",
            "getFeed",
            "getFeedDocument",
            "downloadFeedDocument",
            "getFeeds",
        )
    }
    # one getOrder per memo (never decide on stale state), then one feed for all five
    assert calls == {
        "getOrder": 5,
        "createFeedDocument": 1,
        "uploadFeedDocument": 1,
        "createFeed": 1,
        "getFeed": 1,
        "getFeedDocument": 1,
        "downloadFeedDocument": 1,
        "getFeeds": 0,
    }
    assert all(bridge.refunds(o, "MUG-1").adjustments == 1 for o in orders)


def test_throttled_createfeed_is_submitted_again_without_reconciling(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    # more 429s than the client retries: Amazon refused every attempt, nothing was created
    bridge.emulator.state.inject_fault("createFeed", FaultKind.THROTTLE, count=20)
    bridge.drive()
    assert feed_states(bridge) == ["uploaded"]
    assert bridge.emulator.state.all_feeds() == []

    bridge.emulator.state.clear_faults()
    bridge.clock.advance(minutes=5)
    bridge.drive()
    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done"
    assert bridge.emulator.state.calls("getFeeds") == 0
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_gzip_processing_report_is_read(bridge: Bridge) -> None:
    bridge.emulator.state.config.gzip_reports = True  # compressionAlgorithm GZIP
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_a_second_feed_never_adopts_the_first_feeds_lost_createfeed(bridge: Bridge) -> None:
    """Feed A's createFeed reached Amazon but its answer was lost; feed B of the same group
    then went out and its createFeed did not reach Amazon. B's reconcile must not adopt A's
    Amazon feed (B's refund would be marked done without happening) and A must not then be
    sent again (A's refund twice)."""
    first, second = (bridge.order([MUG], shipped={"MUG-1": 2}) for _ in range(2))
    first_row = bridge.creditmemo(first, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)  # created, answer lost
    bridge.drive()
    second_row = bridge.creditmemo(second, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # nothing created
    bridge.drive()
    bridge.emulator.state.process_pending_feeds()

    # A's first reconcile fails (getFeeds refused once): B's comes first
    bridge.emulator.state.inject_fault("getFeeds", FaultKind.ERROR, status=400)
    for _ in range(4):
        bridge.clock.advance(minutes=6)
        bridge.drive()
        bridge.emulator.state.process_pending_feeds()
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert bridge.refunds(first, "MUG-1").adjustments == 1
    assert bridge.refunds(second, "MUG-1").adjustments == 1
    assert bridge.row(first_row).status == "done", bridge.row(first_row).status_message
    assert bridge.row(second_row).status == "done", bridge.row(second_row).status_message


def test_reconcile_ignores_feeds_of_another_account_of_the_same_seller(bridge: Bridge) -> None:
    """Two accounts of one seller (e.g. two EU marketplaces): the other account's feed, whose
    id this database knows, is no candidate for ours."""
    other = bridge.order([MUG], shipped={"MUG-1": 2}, store_id=STORE_GROSS, gross=True)
    other_row = bridge.creditmemo(other, {"MUG-1": 1})
    bridge.drive()
    assert bridge.row(other_row).status == "done"

    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # nothing created
    bridge.drive()
    bridge.clock.advance(seconds=61)
    bridge.drive()
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.refunds(order, "MUG-1").adjustments == 1
    assert bridge.refunds(other, "MUG-1").adjustments == 1


def test_createfeed_unreadable_2xx_answer_is_reconciled_not_resent(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Amazon answered createFeed with 202 but the body was unreadable: the client raises
    SpApiError with status 200 (MalformedResponse). The feed exists; it must be reconciled,
    never treated as refused and sent again."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    account = bridge.worker.cfg.account_for_store(STORE)
    assert account is not None
    client = bridge.worker.ctx.client_for(account)
    real = client.create_feed

    def garbled(*args: object, **kwargs: object) -> str:
        real(*args, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(client, "create_feed", real)
        raise SpApiError("createFeed", 200, "MalformedResponse", "expected a JSON object")

    monkeypatch.setattr(client, "create_feed", garbled)
    bridge.drive()
    bridge.emulator.state.process_pending_feeds()
    bridge.clock.advance(seconds=61)
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 1
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_a_message_that_cannot_be_put_in_a_feed_stops_nothing_else(bridge: Bridge) -> None:
    """An order in a currency Amazon's feeds do not take (South Africa's ZAR): that credit
    memo ends rejected with the reason, and every other credit memo still goes out."""
    bad = bridge.order([MUG], shipped={"MUG-1": 2}, currency="ZAR")
    bad_row = bridge.creditmemo(bad, {"MUG-1": 1})
    good = bridge.order([MUG], shipped={"MUG-1": 2}, store_id=STORE_GROSS, gross=True)
    good_row = bridge.creditmemo(good, {"MUG-1": 1})
    bridge.drive()

    assert bridge.row(good_row).status == "done", bridge.row(good_row).status_message
    assert bridge.refunds(good, "MUG-1").adjustments == 1
    row = bridge.row(bad_row)
    assert row.status == "rejected", row.status_message
    assert "ZAR" in (row.status_message or "")
    with bridge.engine.connect() as conn:
        states = {
            r[0] for r in conn.execute(select(ledger.c.state).where(ledger.c.outbox_id == bad_row))
        }
    assert states <= {"rejected"}  # nothing of it counts as spent


def test_a_stored_message_no_feed_can_carry_does_not_stop_other_accounts(bridge: Bridge) -> None:
    """A message queued before its decision could be checked (an older version) fails in the
    feed builder: its group waits, logged, but other groups and every feed still move."""
    bad = bridge.order([MUG], shipped={"MUG-1": 2})
    bridge.creditmemo(bad, {"MUG-1": 1})
    w = bridge.worker
    outbox_runner.run_once(bridge.engine, w.cfg.worker_id, w.handler, w.cfg, clock=w.ctx.now)
    with bridge.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE refund_bridge_feed_message SET decision = "
                "REPLACE(decision, '\"EUR\"', '\"ZAR\"')"
            )
        )
    good = bridge.order([MUG], shipped={"MUG-1": 2}, store_id=STORE_GROSS, gross=True)
    good_row = bridge.creditmemo(good, {"MUG-1": 1})
    bridge.drive()

    assert bridge.row(good_row).status == "done", bridge.row(good_row).status_message
    assert bridge.refunds(good, "MUG-1").adjustments == 1


def test_an_unreadable_processing_report_parks_the_refund_instead_of_polling_forever(
    bridge: Bridge,
) -> None:
    """Amazon says DONE but its report cannot be read (or processed fewer messages than we
    sent): the outcome is unknown. Reading it again gives the same bytes, so the refund is
    parked for a human, never left `submitted` forever."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    emu = bridge.emulator.state
    emu.slow_next_feed(polls=50)
    bridge.drive()
    assert feed_states(bridge) == ["submitted"]
    emu.process_pending_feeds()
    report_id = emu.all_feeds()[0].result_feed_document_id
    assert report_id is not None
    with emu.lock:
        emu.documents[report_id].content = b"<ProcessingReport><StatusCode>Complete"
    for _ in range(12):
        bridge.clock.advance(minutes=11)
        bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "needs_attention", row.status_message
    assert "sidecar outbox resolve" in (row.status_message or "")
    assert feed_states(bridge) == ["unknown"]
    assert bridge.refunds(order, "MUG-1").adjustments == 1  # it did happen: a human confirms


def test_expired_upload_url_gets_a_new_document(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("uploadFeedDocument", FaultKind.ERROR, status=403)
    bridge.drive()

    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeedDocument") == 2
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_createfeed_refused_with_4xx_ends_rejected_with_amazons_words(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR, status=400)
    bridge.drive()

    assert feed_states(bridge) == ["cancelled"]
    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "createFeed refused" in (row.status_message or "")
    assert bridge.magento_status(order)[1] == "amazon_refund_failed"
    with bridge.engine.connect() as conn:
        states = {
            r[0] for r in conn.execute(select(ledger.c.state).where(ledger.c.outbox_id == row_id))
        }
    assert states == {"rejected"}  # the money is free again for a requeue
    assert bridge.refunds(order, "MUG-1").adjustments == 0


class Crash(BaseException):
    """The process dies here: nothing after this line runs, no handler catches it."""


def test_crash_between_createfeed_and_storing_its_id_is_reconciled_by_another_worker(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    real_create_feed = SpApiClient.create_feed

    def create_feed_then_die(self: SpApiClient, *args: Any, **kwargs: Any) -> str:
        real_create_feed(self, *args, **kwargs)  # Amazon has the feed ...
        raise Crash  # ... and the worker dies before it writes the feedId down

    monkeypatch.setattr(SpApiClient, "create_feed", create_feed_then_die)
    with pytest.raises(Crash):
        bridge.drive()
    monkeypatch.setattr(SpApiClient, "create_feed", real_create_feed)
    assert feed_states(bridge) == ["submitting"]

    bridge.drive()  # the dead worker's lease still holds: nobody touches the feed
    assert feed_states(bridge) == ["submitting"]
    assert bridge.emulator.state.calls("createFeed") == 1

    bridge.emulator.state.process_pending_feeds()
    bridge.clock.advance(seconds=bridge.worker.cfg.lease_seconds + 1)
    bridge.drive()  # lease expired: reconciled with getFeeds, not sent again

    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 1
    assert bridge.refunds(order, "MUG-1").adjustments == 1
