"""Exactly once toward Amazon: repeats, lost answers, FATAL feeds and the human in the loop."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from sidecar import outbox_runner
from sidecar.amazon.client import SpApiClient, SpApiError
from sidecar.emulator.model import FaultKind, FeedFaultKind
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


def amazon_feed_ids(bridge: Bridge) -> list[str]:
    return [f.feed_id for f in bridge.emulator.state.all_feeds()]


def test_createfeed_answer_lost_parks_the_refund_naming_the_candidate(bridge: Bridge) -> None:
    """Issue 7 item 1: an Amazon feed is adopted only when provably ours. Amazon created our
    feed but the answer was lost (500 after the fact); its report (all accepted) cannot
    tell it from another tool's one-message feed, so the refund is parked for a human with
    the candidate's feed id named, never marked done and never resent."""
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
    assert feed_states(bridge) == ["submitting"], "getFeeds may lag: wait for the grace"
    bridge.clock.advance(minutes=5)
    bridge.drive()

    assert feed_states(bridge) == ["unknown"]
    row = bridge.row(row_id)
    assert row.status == "needs_attention", row.status_message
    (candidate,) = amazon_feed_ids(bridge)
    assert f"feed(s) {candidate}" in (row.status_message or "")
    assert f"sidecar outbox resolve {row_id} --done" in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_createfeed_answer_lost_is_adopted_when_the_report_names_every_order(
    bridge: Bridge,
) -> None:
    """A candidate whose processing report names our AmazonOrderID at every one of our
    MessageIDs (here: Amazon rejected them all) is provably ours: adopted, applied, done."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)
    bridge.drive()
    # before Amazon processes the feed, the order is cancelled: the message is refused
    bridge.emulator.state.set_order_status(order.ext_order_id or "", "Canceled")
    bridge.emulator.state.process_pending_feeds()
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert feed_states(bridge) == ["done"]
    row = bridge.row(row_id)
    assert row.status == "rejected", row.status_message
    assert "Amazon rejected (feed" in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1


def test_another_tools_feed_is_never_adopted_when_ours_was_never_created(bridge: Bridge) -> None:
    """Issue 7 item 1, the variant without a race: our createFeed gets a 500 and creates
    nothing; another tool of the same seller posts a one-message refund feed in the window.
    Today's reconcile adopts it and marks the memo done with nothing refunded. Now: parked
    for a human, the other tool's feed id named, never done, never resent."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    other = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # 500, nothing created
    bridge.drive()
    assert feed_states(bridge) == ["submitting"]
    emu = bridge.emulator.state
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope><Header><DocumentVersion>1.01'
        f"</DocumentVersion><MerchantIdentifier>A1EXAMPLESELLER</MerchantIdentifier></Header>"
        f"<MessageType>OrderAdjustment</MessageType><Message><MessageID>1</MessageID>"
        f"<OrderAdjustment><AmazonOrderID>{other.ext_order_id}</AmazonOrderID>"
        f"<AdjustedItem><AmazonOrderItemCode>{bridge.amazon_item(other, 'MUG-1')}"
        f"</AmazonOrderItemCode><AdjustmentReason>CustomerReturn</AdjustmentReason>"
        f"<ItemPriceAdjustments><Component><Type>Principal</Type>"
        f'<Amount currency="EUR">1.00</Amount></Component></ItemPriceAdjustments>'
        f"</AdjustedItem></OrderAdjustment></Message></AmazonEnvelope>"
    ).encode()
    doc = emu.create_feed_document("A1EXAMPLESELLER", "text/xml; charset=UTF-8")
    emu.upload_document(doc.feed_document_id, "text/xml; charset=UTF-8", content)
    theirs = emu.create_feed(
        "A1EXAMPLESELLER", "POST_PAYMENT_ADJUSTMENT_DATA", [MARKETPLACE], doc.feed_document_id
    )
    emu.process_pending_feeds()
    assert bridge.refunds(other, "MUG-1").adjustments == 1  # the other tool's refund

    bridge.clock.advance(minutes=6)
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "needs_attention", row.status_message
    assert theirs.feed_id in (row.status_message or "")
    assert feed_states(bridge) == ["unknown"]
    assert bridge.refunds(order, "MUG-1").adjustments == 0  # nothing was refunded ...
    assert bridge.emulator.state.calls("createFeed") == 1  # ... and nothing resent
    with bridge.engine.connect() as conn:
        states = {
            r[0] for r in conn.execute(select(ledger.c.state).where(ledger.c.outbox_id == row_id))
        }
    assert states == {"pending"}  # still counted as spent until a human resolves it


def test_another_tools_feed_with_another_message_count_is_ruled_out(bridge: Bridge) -> None:
    """A candidate whose report processed another number of messages than ours cannot be
    ours: with no other candidate, createFeed never reached Amazon, and ours is sent again."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # 500, nothing created
    bridge.drive()
    emu = bridge.emulator.state
    message = (
        "<Message><MessageID>{n}</MessageID><OrderAdjustment><AmazonOrderID>999-0000000-"
        "000000{n}</AmazonOrderID><AdjustedItem><AmazonOrderItemCode>00000000000000"
        "</AmazonOrderItemCode><AdjustmentReason>CustomerReturn</AdjustmentReason>"
        "<ItemPriceAdjustments><Component><Type>Principal</Type><Amount currency=\"EUR\">1.00"
        "</Amount></Component></ItemPriceAdjustments></AdjustedItem></OrderAdjustment></Message>"
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope><Header><DocumentVersion>1.01'
        "</DocumentVersion><MerchantIdentifier>A1EXAMPLESELLER</MerchantIdentifier></Header>"
        "<MessageType>OrderAdjustment</MessageType>"
        + message.format(n=1) + message.format(n=2) + "</AmazonEnvelope>"
    ).encode()
    doc = emu.create_feed_document("A1EXAMPLESELLER", "text/xml; charset=UTF-8")
    emu.upload_document(doc.feed_document_id, "text/xml; charset=UTF-8", content)
    emu.create_feed(
        "A1EXAMPLESELLER", "POST_PAYMENT_ADJUSTMENT_DATA", [MARKETPLACE], doc.feed_document_id
    )
    emu.process_pending_feeds()
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 2
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
    sent again (A's refund twice). With the in-flight slot B is not even planned until A
    is settled: A is parked (its feed cannot be proven A's), B goes out once, done."""
    first, second = (bridge.order([MUG], shipped={"MUG-1": 2}) for _ in range(2))
    first_row = bridge.creditmemo(first, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)  # created, answer lost
    bridge.drive()
    second_row = bridge.creditmemo(second, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # nothing created
    bridge.drive()
    assert feed_states(bridge) == ["submitting"], "B waits: A holds the group's slot"
    bridge.emulator.state.process_pending_feeds()

    # A's first reconcile fails (getFeeds refused once)
    bridge.emulator.state.inject_fault("getFeeds", FaultKind.ERROR, status=400)
    for _ in range(4):
        bridge.clock.advance(minutes=6)
        bridge.drive()
        bridge.emulator.state.process_pending_feeds()
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert bridge.refunds(first, "MUG-1").adjustments == 1
    assert bridge.refunds(second, "MUG-1").adjustments == 1
    assert bridge.row(first_row).status == "needs_attention", bridge.row(first_row).status_message
    assert bridge.row(second_row).status == "done", bridge.row(second_row).status_message


def test_two_planners_racing_make_one_feed_per_group(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 7 item 1, the race: two planners both read "no feed of this group in flight"
    before either committed, so today both plan a feed, and two createFeed answers of one
    group can be outstanding at once (the one whose answer is lost then adopts the other's
    Amazon feed). The database's slot lets exactly one through."""
    from sidecar.dao import feeds as feeds_dao

    orders = [bridge.order([MUG], shipped={"MUG-1": 2}) for _ in range(2)]
    rows = [bridge.creditmemo(o, {"MUG-1": 1}) for o in orders]
    w = bridge.worker
    outbox_runner.run_once(bridge.engine, w.cfg.worker_id, w.handler, w.cfg, clock=w.ctx.now)
    # both planners' pre-checks ran before either feed existed
    monkeypatch.setattr(feeds_dao, "slots_in_flight", lambda engine: set())
    monkeypatch.setattr(feeds_dao, "groups_in_flight", lambda engine: set())
    with bridge.engine.begin() as conn:  # planner 1 took only the first message
        conn.execute(text("UPDATE refund_bridge_feed_message SET state = 'held' WHERE id > "
                          "(SELECT m FROM (SELECT MIN(id) m FROM refund_bridge_feed_message) x)"))
    first = w.pump.plan()
    with bridge.engine.begin() as conn:  # the second message arrives for planner 2
        conn.execute(text("UPDATE refund_bridge_feed_message SET state = 'planned' "
                          "WHERE state = 'held'"))
    second = w.pump.plan()

    assert len(first) == 1 and second == []
    monkeypatch.undo()
    bridge.drive()
    assert [bridge.row(r).status for r in rows] == ["done", "done"]
    assert bridge.emulator.state.calls("createFeed") == 2
    assert all(bridge.refunds(o, "MUG-1").adjustments == 1 for o in orders)


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


def test_createfeed_unreadable_2xx_answer_is_parked_not_resent(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Amazon answered createFeed with 202 but the body was unreadable: the client raises
    SpApiError with status 200 (MalformedResponse). The feed exists; it must be reconciled,
    never treated as refused and sent again (its all-accepted report cannot prove it ours,
    so the refund waits for a human)."""
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
    bridge.clock.advance(minutes=6)
    bridge.drive()

    assert bridge.row(row_id).status == "needs_attention", bridge.row(row_id).status_message
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

    assert feed_states(bridge) == ["unknown"]  # its report cannot prove it ours: a human
    assert bridge.row(row_id).status == "needs_attention", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 1
    assert bridge.refunds(order, "MUG-1").adjustments == 1


# ------------------------------------------------- issue 7 items 5, 6, 7, 14 / issue 9 §5


def feed_row(bridge: Bridge) -> Any:
    with bridge.engine.connect() as conn:
        return conn.execute(select(feed).order_by(feed.c.id.desc()).limit(1)).one()


def test_feed_in_progress_for_days_ends_unknown_not_polled_forever(bridge: Bridge) -> None:
    """Issue 7 item 5 / issue 9 §5: a feed Amazon keeps IN_PROGRESS (seen for days) was
    still `submitted` after 72 simulated hours. Past FEED_MAX_AGE it ends `unknown`: the
    refund is parked with the instruction, never resubmitted, shown with the feed."""
    from sidecar.dao import feeds as feeds_dao
    from sidecar.feeds import FEED_MAX_AGE

    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.slow_next_feed(polls=10**9)
    bridge.drive()
    assert feed_states(bridge) == ["submitted"]
    for _ in range(int(FEED_MAX_AGE / timedelta(hours=12))):
        bridge.clock.advance(hours=12)
        bridge.drive()

    assert feed_states(bridge) == ["unknown"]
    row = bridge.row(row_id)
    assert row.status == "needs_attention", row.status_message
    assert "has not finished 2 days after" in (row.status_message or "")
    assert f"sidecar outbox resolve {row_id} --requeue" in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1
    shown = feeds_dao.recent_feeds(bridge.engine)[0]  # the health page's feed table
    assert shown["state"] == "unknown" and "2 days" in shown["last_error"]


def test_cancellation_feed_stuck_in_progress_is_replanned(bridge: Bridge) -> None:
    """The same bound for a cancellation: Amazon refuses to cancel twice, so it is sent
    again in a new feed instead of being parked."""
    order = bridge.order([MUG])
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.emulator.state.slow_next_feed(polls=10**9)
    bridge.drive()
    bridge.clock.advance(days=2, seconds=1)
    bridge.drive()

    assert feed_states(bridge) == ["unknown", "done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.amazon_order(order).status == "Canceled"


@pytest.mark.parametrize("quirk", [FeedFaultKind.NO_RESULT_DOCUMENT, FeedFaultKind.ODD_STATUS])
def test_nonsense_getfeed_answers_end_unknown(bridge: Bridge, quirk: FeedFaultKind) -> None:
    """Issue 7 item 5: getFeed saying DONE without resultFeedDocumentId, or a status the
    model does not define, was polled for good. After POLL_ANOMALIES answers the feed is
    unknown, its refund parked, never resubmitted."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_feed_fault(quirk)
    bridge.drive()
    for _ in range(4):
        bridge.clock.advance(minutes=15)
        bridge.drive()

    assert feed_states(bridge) == ["unknown"]
    row = bridge.row(row_id)
    assert row.status == "needs_attention", row.status_message
    assert "getFeed said" in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1


def test_earlier_getfeed_failures_do_not_use_up_the_report_reads(bridge: Bridge) -> None:
    """Issue 7 item 6: one shared counter parked a refund after a single unreadable report
    because two unrelated getFeed failures came first. Each step counts its own attempts."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    emu = bridge.emulator.state
    emu.slow_next_feed(polls=1)
    bridge.drive()
    for _ in range(2):  # two getFeed failures
        emu.inject_fault("getFeed", FaultKind.ERROR, status=404)
        bridge.clock.advance(minutes=15)
        bridge.drive()
    assert feed_row(bridge).poll_attempts == 2
    emu.process_pending_feeds()
    report_id = emu.all_feeds()[0].result_feed_document_id
    assert report_id is not None
    with emu.lock:
        good = emu.documents[report_id].content
        emu.documents[report_id].content = b"<ProcessingReport><StatusCode>Complete"
    bridge.clock.advance(minutes=15)
    bridge.drive()  # one unreadable read
    assert feed_states(bridge) == ["submitted"]
    with emu.lock:
        emu.documents[report_id].content = good  # the download was cut short
    bridge.clock.advance(minutes=15)
    bridge.drive()

    assert feed_states(bridge) == ["done"]
    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert (feed_row(bridge).poll_attempts, feed_row(bridge).report_attempts) == (2, 1)


@pytest.mark.parametrize("status", [401, 403])
def test_createfeed_401_403_refreshes_the_token_and_is_sent(bridge: Bridge, status: int) -> None:
    """Issue 7 item 7: a transient 401/403 on createFeed rejected every message of the feed
    for good. Amazon created nothing, so the client refreshes the LWA token and sends it
    again; the refund goes out once."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR, status=status)
    tokens_before = bridge.emulator.state.calls("lwaToken")
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    assert bridge.emulator.state.calls("createFeed") == 2
    assert bridge.emulator.state.calls("lwaToken") > tokens_before
    assert bridge.refunds(order, "MUG-1").adjustments == 1


def test_createfeed_403_that_persists_goes_back_then_ends_with_the_instruction(
    bridge: Bridge,
) -> None:
    """A 403 that a fresh token does not cure is no refusal of the content: the feed goes
    back to `uploaded` (nothing blocks: Amazon created nothing), and only after
    SUBMIT_ATTEMPTS the messages end rejected, telling the operator what to fix."""
    from sidecar.feeds import SUBMIT_ATTEMPTS

    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR, status=403, count=100)
    bridge.drive()
    assert feed_states(bridge) == ["uploaded"]
    assert bridge.row(row_id).status == "submitted"
    for _ in range(SUBMIT_ATTEMPTS):
        bridge.clock.advance(minutes=11)
        bridge.drive()

    assert feed_states(bridge) == ["cancelled"]
    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "sidecar outbox requeue --status rejected" in (row.status_message or "")
    assert bridge.emulator.state.calls("getFeeds") == 0
    assert bridge.emulator.state.all_feeds() == []


def test_createfeed_500_blocks_its_group_only_for_the_grace(bridge: Bridge) -> None:
    """Issue 7 item 10: only an unknown outcome (timeout, 5xx) blocks the group, for
    UNKNOWN_OUTCOME_BLOCK at most when Amazon shows nothing; a 429 or 401/403 blocks
    nothing (test_throttled_createfeed_..., test_createfeed_401_403_...)."""
    from sidecar.feeds import UNKNOWN_OUTCOME_BLOCK

    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR)  # 500, nothing created
    bridge.drive()
    assert feed_states(bridge) == ["submitting"]
    bridge.clock.advance(seconds=UNKNOWN_OUTCOME_BLOCK.total_seconds() + 1)
    bridge.drive()
    assert bridge.row(row_id).status == "done"
    assert timedelta(minutes=5) >= UNKNOWN_OUTCOME_BLOCK


def test_upload_url_of_a_foreign_host_is_never_used(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 7 item 14: the feed upload went to whatever URL createFeedDocument returned.
    A URL outside the account's upload hosts is refused before a byte is sent; the feed
    asks for a new document later."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    account = bridge.worker.cfg.account_for_store(STORE)
    assert account is not None
    client = bridge.worker.ctx.client_for(account)
    real = client.create_feed_document
    sent: list[str] = []

    def evil(content_type: str) -> tuple[str, str]:
        doc_id, _url = real(content_type)
        return doc_id, "http://169.254.169.254/latest/upload?X-Amz-Signature=x"

    monkeypatch.setattr(client, "create_feed_document", evil)
    monkeypatch.setattr(client, "_raw", lambda *a, **k: sent.append(str(a[2])))
    bridge.drive()
    assert sent == []
    assert feed_states(bridge) == ["planned"]
    assert "not in the account's upload_hosts" in (feed_row(bridge).last_error or "")
    monkeypatch.undo()
    bridge.clock.advance(minutes=11)
    bridge.drive()
    assert bridge.row(row_id).status == "done"


def test_a_candidate_still_processing_is_waited_for_then_named(bridge: Bridge) -> None:
    """The answer is lost and Amazon keeps our feed IN_PROGRESS: the reconcile waits (no
    report is read meanwhile) and after RECONCILE_GIVE_UP parks the refund naming it."""
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.emulator.state.slow_next_feed(polls=10**9)
    bridge.emulator.state.inject_fault("createFeed", FaultKind.ERROR_AFTER)
    bridge.drive()
    for _ in range(3):
        bridge.clock.advance(minutes=6)
        bridge.drive()
    assert feed_states(bridge) == ["submitting"]
    assert bridge.emulator.state.calls("getFeedDocument") == 0
    bridge.clock.advance(hours=2)
    bridge.drive()

    assert feed_states(bridge) == ["unknown"]
    (candidate,) = amazon_feed_ids(bridge)
    row = bridge.row(row_id)
    assert row.status == "needs_attention" and candidate in (row.status_message or "")
    assert bridge.emulator.state.calls("createFeed") == 1
