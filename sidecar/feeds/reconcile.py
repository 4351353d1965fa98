"""Reconcile: createFeed may have reached Amazon; adopt a feed only when it is provably ours.

The argument (docs/feeds.md, "Unknown outcomes"): the in-flight slot guarantees that no
other feed of this database for the same seller, feed type and marketplace was waiting for
a createFeed answer in our window, so every Amazon feed of that type and marketplace in the
window whose id this database does not know is either this feed's or another tool's. The
Feeds API cannot tell them apart (getFeed has no inputFeedDocumentId), so a candidate is
ours only when its processing report names our order at every one of our MessageIDs. It is
provably NOT ours when its report contradicts our document (another message count, a
MessageID we did not send, another order at one of our MessageIDs), and harmless when
Amazon cancelled it (nothing was processed). Anything else might be ours.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sidecar.amazon.client import Feed as AmazonFeed
from sidecar.amazon.client import SpApiClient
from sidecar.amazon.report import ProcessingReport, ReportError, parse_processing_report
from sidecar.dao import feeds as dao
from sidecar.feeds.apply import Apply
from sidecar.feeds.common import (
    RECONCILE_GIVE_UP,
    RECONCILE_GRACE,
    RECONCILE_RETRY,
    WINDOW_SLACK,
    Step,
    StepResult,
)


class Verdict(enum.Enum):
    OURS = "ours"  # the report names our order at every MessageID
    POSSIBLE = "possible"  # nothing proves it either way
    UNDECIDED = "undecided"  # still IN_QUEUE / IN_PROGRESS
    NOT_OURS = "not ours"  # its report contradicts our document
    HARMLESS = "harmless"  # CANCELLED: Amazon processed none of it, whoever's it is


def verdict(feed: AmazonFeed, report: ProcessingReport | None, ours: dict[int, str]) -> Verdict:
    """How a candidate relates to our feed (`ours`: MessageID -> AmazonOrderID)."""
    if feed.processing_status in ("IN_QUEUE", "IN_PROGRESS"):
        return Verdict.UNDECIDED
    if feed.processing_status == "CANCELLED":
        return Verdict.HARMLESS
    if feed.processing_status != "DONE" or report is None:
        return Verdict.POSSIBLE
    if report.messages_processed is not None and report.messages_processed != len(ours):
        return Verdict.NOT_OURS
    identified = set()
    for r in report.results:
        if r.message_id == 0:
            continue
        if r.message_id not in ours:
            return Verdict.NOT_OURS
        if r.amazon_order_id is not None:
            if r.amazon_order_id != ours[r.message_id]:
                return Verdict.NOT_OURS
            identified.add(r.message_id)
    if report.messages_processed == len(ours) and identified == set(ours):
        return Verdict.OURS
    return Verdict.POSSIBLE


class Reconcile(Step):
    def __call__(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        now = self.ctx.now()
        started = row.submit_started_at or row.created_at
        if now - started < RECONCILE_GRACE:
            # getFeeds may not show a feed created this recently: look once it would
            self.release(row, next_check_at=started + RECONCILE_GRACE)
            return StepResult(row.id, "submitting", "waiting for getFeeds to catch up", False)
        with self.ctx.engine.connect() as conn:
            known = dao.known_amazon_feed_ids(conn)
            ours = {m.message_id or 0: m.amazon_order_id for m in dao.messages_of(conn, row.id)}
        # createFeed can only have taken effect while its call was under way (within its lease)
        until = min(now, started + timedelta(seconds=self.lease_seconds) + WINDOW_SLACK)
        candidates = [
            f
            for f in self._feeds_between(client, row.feed_type, started - WINDOW_SLACK, until)
            if f.feed_id not in known
            and (not f.marketplace_ids or row.marketplace_id in f.marketplace_ids)
        ]
        undecided = [f.feed_id for f in candidates if verdict(f, None, ours) is Verdict.UNDECIDED]
        if undecided and now - started < RECONCILE_GIVE_UP:
            # judged once Amazon has finished them all (reports are read only then: their
            # getFeedDocument budget is 0.0222/s)
            self.release(row, next_check_at=now + RECONCILE_RETRY)
            detail = f"candidates {', '.join(undecided)} still processing; waiting"
            return StepResult(row.id, "submitting", detail, moved=False)
        verdicts = {f.feed_id: verdict(f, self._report(client, f), ours) for f in candidates}
        proven = [f for f in candidates if verdicts[f.feed_id] is Verdict.OURS]
        if len(proven) == 1:
            return self._adopt(row, proven[0])
        open_ = [
            f.feed_id for f in candidates
            if verdicts[f.feed_id] in (Verdict.OURS, Verdict.POSSIBLE, Verdict.UNDECIDED)
        ]
        if not open_:
            # Amazon shows no feed that could be ours: createFeed never reached it
            self.release(
                row,
                state="uploaded",
                next_check_at=now,
                last_error="createFeed did not reach Amazon (getFeeds shows no feed that could "
                f"be ours; {len(candidates)} other feed(s) ruled out by their reports)",
            )
            return StepResult(row.id, "uploaded", "not created; will submit again")
        return Apply(self.ctx).unknown(
            row,
            f"createFeed at {started:%Y-%m-%d %H:%M:%S} UTC had no answer, and getFeeds shows "
            f"Amazon feed(s) {', '.join(open_)} of this type and marketplace from that time "
            "that this database does not know and that cannot be proven ours (another tool "
            "of the seller may have sent them)",
        )

    def _adopt(self, row: dao.FeedRow, feed: AmazonFeed) -> StepResult:
        now = self.ctx.now()
        self.release(
            row,
            state="submitted",
            amazon_feed_id=feed.feed_id,
            submitted_at=now,
            next_check_at=now,
            last_error="reconciled: the processing report names our order at every MessageID",
        )
        Apply(self.ctx).submitted(row.id, feed.feed_id)
        return StepResult(row.id, "submitted", f"reconciled: {feed.feed_id}")

    @staticmethod
    def _feeds_between(
        client: SpApiClient, feed_type: str, since: datetime, until: datetime
    ) -> list[AmazonFeed]:
        found: list[AmazonFeed] = []
        token: str | None = None
        while True:
            page, token = client.get_feeds([feed_type], since, until, next_token=token)
            found.extend(page)
            if not token:
                return found

    @staticmethod
    def _report(client: SpApiClient, feed: AmazonFeed) -> ProcessingReport | None:
        if feed.processing_status != "DONE" or not feed.result_feed_document_id:
            return None
        url, compression = client.get_feed_document(feed.result_feed_document_id)
        try:
            return parse_processing_report(client.download(url), compression_algorithm=compression)
        except ReportError:
            return None
