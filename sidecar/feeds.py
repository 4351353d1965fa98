"""The feed pump: batches queued messages into SP-API feeds and walks each feed's state machine.

    planned -> document_created -> uploaded -> submitting -> submitted -> done
                                                   |             +-> cancelled (replanned)
                                                   |             +-> fatal
                                                   +-> (reconcile with getFeeds) -> submitted
                                                   +-> unknown (parked for a human)

Each state is committed before the next call to Amazon, so a crash at any point resumes from
the last committed state. `submitting` is written before createFeed: finding a feed in that
state means createFeed may or may not have reached Amazon, and because Amazon does not
de-duplicate refunds it is reconciled with getFeeds, never blindly repeated (docs/feeds.md).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from sidecar import codec
from sidecar.amazon.client import Feed as AmazonFeed
from sidecar.amazon.client import OutcomeUnknown, SpApiClient, SpApiError, Throttled
from sidecar.amazon.feed_xml import (
    FEED_CONTENT_TYPE,
    FEED_TYPE_ACKNOWLEDGEMENT,
    MESSAGE_TYPE_ACKNOWLEDGEMENT,
    MESSAGE_TYPE_ADJUSTMENT,
    FeedBuilder,
)
from sidecar.amazon.report import (
    MessageResult,
    ProcessingReport,
    ReportError,
    message_outcomes,
    parse_processing_report,
)
from sidecar.config import AmazonAccount
from sidecar.dao import amazon_orders, magento
from sidecar.dao import feeds as dao
from sidecar.dao import outbox as outbox_dao
from sidecar.domain import Cancel, Refund
from sidecar.processing import Context

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_FEED = 5000
RECONCILE_GRACE = timedelta(minutes=5)  # getFeeds may lag createFeed this long
RECONCILE_GIVE_UP = timedelta(hours=2)
RECONCILE_RETRY = timedelta(seconds=60)
WINDOW_SLACK = timedelta(minutes=2)
REPORT_READS = 3  # an unusable processing report is read this often before it is given up


@dataclass(frozen=True)
class StepResult:
    feed_pk: int
    state: str
    detail: str = ""
    moved: bool = True  # False: waiting (rate limit, Amazon still processing, error backoff)


class FeedPump:
    def __init__(self, ctx: Context, *, lease_seconds: int = 300) -> None:
        self.ctx = ctx
        self.lease_seconds = lease_seconds

    # ---------------------------------------------------------------- batching

    def plan(self) -> list[int]:
        """One feed per (account, feed type, marketplace) with waiting messages, built only
        when createFeed has a token and no other feed of the group is on its way there:
        until then messages keep collecting, so the feed Amazon gets is as full as it can be."""
        planned = []
        busy = dao.groups_in_flight(self.ctx.engine)
        for account_id, feed_type, marketplace_id, _count in dao.planned_groups(self.ctx.engine):
            if (account_id, feed_type, marketplace_id) in busy:
                continue
            limiter = self.ctx.limiter
            if limiter is not None and limiter.peek(account_id, "createFeed") > 0:
                continue  # no createFeed token yet: let the batch grow until there is one
            try:
                account = self.ctx.config.account(account_id)
            except KeyError:
                log.error("messages for unknown account %s wait until it is configured", account_id)
                continue
            try:
                feed_pk = dao.plan_feed(
                    self.ctx.engine,
                    account_id=account_id,
                    feed_type=feed_type,
                    marketplace_id=marketplace_id,
                    max_messages=MAX_MESSAGES_PER_FEED,
                    build=functools.partial(self._build, account, feed_type),
                )
            except Exception:  # one group's trouble never stops the others nor the feeds
                log.exception(
                    "could not plan a %s feed for %s / %s", feed_type, account_id, marketplace_id
                )
                continue
            if feed_pk is not None:
                planned.append(feed_pk)
        return planned

    @staticmethod
    def _build(
        account: AmazonAccount, feed_type: str, messages: Sequence[tuple[int, str]]
    ) -> tuple[bytes, int]:
        message_type = (
            MESSAGE_TYPE_ACKNOWLEDGEMENT
            if feed_type == FEED_TYPE_ACKNOWLEDGEMENT
            else MESSAGE_TYPE_ADJUSTMENT
        )
        builder = FeedBuilder(account.seller_id, message_type)
        used = 0
        for message_id, raw in messages:
            if not builder.try_add(message_id, codec.load_decision(raw)):
                break
            used += 1
        return builder.to_bytes(), used

    # ---------------------------------------------------------- state machine

    def run_once(self) -> list[StepResult]:
        self.plan()
        results = []
        for row in dao.claim_feeds(
            self.ctx.engine, lease_seconds=self.lease_seconds, now=self.ctx.now()
        ):
            try:
                results.append(self.step(row))
            except Exception as exc:  # one feed's trouble never stops the others
                log.exception("feed %s: step from %s failed", row.id, row.state)
                with self.ctx.engine.begin() as conn:
                    dao.advance(
                        conn,
                        row,
                        release=True,
                        last_error=f"{type(exc).__name__}: {exc}",
                        attempts=row.attempts + 1,
                        next_check_at=self.ctx.now() + self._backoff(row.attempts),
                    )
                results.append(StepResult(row.id, row.state, f"error: {exc}", moved=False))
        return results

    @staticmethod
    def _backoff(attempts: int) -> timedelta:
        return timedelta(seconds=min(600, 5 * 2 ** min(attempts, 7)))

    def step(self, row: dao.FeedRow) -> StepResult:
        """Move one feed forward as far as it can go now."""
        client = self.ctx.client_for(self.ctx.config.account(row.account_id))
        state = row.state
        if state == "planned":
            document_id, url = client.create_feed_document(FEED_CONTENT_TYPE)
            row = self._commit(
                row, state="document_created", document_id=document_id, upload_url=url
            )
            state = row.state
        if state == "document_created":
            assert row.upload_url is not None
            try:
                client.upload_feed_document(
                    row.upload_url, row.content.encode("utf-8"), FEED_CONTENT_TYPE
                )
            except SpApiError as exc:
                if not 400 <= exc.status < 500:
                    raise
                # the presigned URL expired (5 min) or was refused: ask for a new document
                self._release(
                    row,
                    state="planned",
                    document_id=None,
                    upload_url=None,
                    last_error=f"upload refused, new document: {exc}",
                    next_check_at=self.ctx.now(),
                )
                return StepResult(row.id, "planned", "upload refused; new document")
            row = self._commit(row, state="uploaded")
            state = row.state
        if state == "uploaded":
            return self._submit(client, row)
        if state == "submitting":
            return self._reconcile(client, row)
        if state == "submitted":
            return self._poll(client, row)
        return StepResult(row.id, state, "nothing to do", moved=False)

    def _commit(self, row: dao.FeedRow, **values: object) -> dao.FeedRow:
        with self.ctx.engine.begin() as conn:
            _fenced(conn, row, values, release=False)
        fields = {k: v for k, v in values.items() if k in dao.FeedRow.__dataclass_fields__}
        return dao.FeedRow(**{**row.__dict__, **fields})

    def _submit(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        wait = self.ctx.limiter.peek(row.account_id, "createFeed") if self.ctx.limiter else 0.0
        if wait > 0:
            # Amazon allows one feed per ~2 min after the burst; meanwhile messages batch up
            self._release(row, next_check_at=self.ctx.now() + timedelta(seconds=wait))
            return StepResult(
                row.id, "uploaded", f"createFeed rate limit: {wait:.0f}s", moved=False
            )
        started = self.ctx.now()
        # a fresh lease: nobody may reconcile this feed while its createFeed is under way
        row = self._commit(
            row,
            state="submitting",
            submit_started_at=started,
            lease_expires_at=started + timedelta(seconds=self.lease_seconds),
        )
        assert row.document_id is not None
        try:
            feed_id = client.create_feed(row.feed_type, [row.marketplace_id], row.document_id)
        except OutcomeUnknown as exc:
            self._release(
                row,
                last_error=f"createFeed outcome unknown: {exc}",
                next_check_at=self.ctx.now() + RECONCILE_RETRY,
            )
            return StepResult(row.id, "submitting", "outcome unknown; will reconcile", moved=False)
        except Throttled as exc:
            # a 429 (or our own limiter) refused it before Amazon did anything: safe to resend
            self._release(
                row,
                state="uploaded",
                last_error=f"createFeed throttled: {exc}",
                next_check_at=self.ctx.now() + timedelta(seconds=max(1.0, exc.retry_after_s)),
            )
            return StepResult(row.id, "uploaded", "createFeed throttled", moved=False)
        except SpApiError as exc:
            if not 400 <= exc.status < 500 or exc.status == 429:
                # a 2xx whose body could not be read (Amazon created the feed), a 5xx, no
                # answer: not a refusal, so the feed may exist; stay submitting and reconcile
                self._release(
                    row,
                    last_error=f"createFeed outcome unknown: {exc}",
                    next_check_at=self.ctx.now() + RECONCILE_RETRY,
                )
                return StepResult(
                    row.id, "submitting", "outcome unknown; will reconcile", moved=False
                )
            # Amazon refused createFeed outright (4xx): no feed exists. Such a refusal does
            # not heal by waiting, so the messages end rejected with Amazon's words; an
            # admin requeues them once the cause (account, marketplace) is fixed.
            self._refused(row, exc)
            return StepResult(row.id, "cancelled", str(exc))
        self._release(
            row,
            state="submitted",
            amazon_feed_id=feed_id,
            submitted_at=self.ctx.now(),
            next_check_at=self.ctx.now(),
            last_error=None,
        )
        self._comment_submitted(row.id, feed_id)
        return StepResult(row.id, "submitted", feed_id)

    def _release(self, row: dao.FeedRow, **values: object) -> None:
        with self.ctx.engine.begin() as conn:
            _settle(conn, row, **values)

    def _refused(self, row: dao.FeedRow, exc: SpApiError) -> None:
        why = f"createFeed refused: {exc}"
        with self.ctx.engine.begin() as conn:
            _settle(
                conn,
                row,
                state="cancelled",
                last_error=why,
                finished_at=self.ctx.now(),
            )
            for m in dao.messages_of(conn, row.id):
                refusal = MessageResult(m.message_id or 0, "Error", exc.status, why)
                self._apply_result(conn, row, m, refusal)

    def _comment_submitted(self, feed_pk: int, amazon_feed_id: str) -> None:
        with self.ctx.engine.begin() as conn:
            for m in dao.messages_of(conn, feed_pk):
                decision = codec.load_decision(m.decision)
                magento.add_comment(
                    conn,
                    m.magento_order_id,
                    f"submitted to Amazon in feed {amazon_feed_id}: {codec.describe(decision)}",
                )

    # ------------------------------------------------------------ reconciling

    def _reconcile(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        """createFeed may have reached Amazon: find the feed with getFeeds, or prove it absent."""
        now = self.ctx.now()
        started = row.submit_started_at or row.created_at
        with self.ctx.engine.connect() as conn:
            known = dao.known_amazon_feed_ids(conn)
        candidates = [
            f
            for f in self._feeds_between(client, row.feed_type, started - WINDOW_SLACK, now)
            if f.feed_id not in known
            # another marketplace's feed (a sibling account of the same seller) is not ours
            and (not f.marketplace_ids or row.marketplace_id in f.marketplace_ids)
        ]
        matching: list[AmazonFeed] = []
        undecided = False
        for candidate in candidates:
            if candidate.processing_status in ("IN_QUEUE", "IN_PROGRESS"):
                undecided = True
                continue
            if candidate.processing_status == "DONE" and candidate.result_feed_document_id:
                report = self._report(client, candidate.result_feed_document_id)
                if report is not None and report.messages_processed == row.message_count:
                    matching.append(candidate)
            elif candidate.processing_status in ("FATAL", "CANCELLED"):
                undecided = True  # cannot tell whose it is from a report
        if len(matching) == 1 and not undecided:
            feed = matching[0]
            self._release(
                row,
                state="submitted",
                amazon_feed_id=feed.feed_id,
                submitted_at=now,
                next_check_at=now,
                last_error="reconciled with getFeeds",
            )
            self._comment_submitted(row.id, feed.feed_id)
            return StepResult(row.id, "submitted", f"reconciled: {feed.feed_id}")
        if not candidates and now - started >= RECONCILE_GRACE:
            # No feed of this type was created since we tried: createFeed never reached Amazon.
            self._release(
                row,
                state="uploaded",
                next_check_at=now,
                last_error="createFeed did not reach Amazon (getFeeds shows no feed)",
            )
            return StepResult(row.id, "uploaded", "not created; will submit again")
        if now - started < RECONCILE_GIVE_UP:
            self._release(row, next_check_at=now + RECONCILE_RETRY)
            return StepResult(
                row.id, "submitting", f"{len(candidates)} candidate feed(s); waiting", moved=False
            )
        return self._park_unknown(
            row,
            f"createFeed at {started:%Y-%m-%d %H:%M:%S} UTC had no answer "
            f"and getFeeds shows {len(candidates)} feed(s) that cannot be "
            "told apart",
        )

    def _feeds_between(
        self, client: SpApiClient, feed_type: str, since: datetime, until: datetime
    ) -> list[AmazonFeed]:
        found: list[AmazonFeed] = []
        token: str | None = None
        while True:
            page, token = client.get_feeds([feed_type], since, until, next_token=token)
            found.extend(page)
            if not token:
                return found

    def _report(self, client: SpApiClient, document_id: str) -> ProcessingReport | None:
        url, compression = client.get_feed_document(document_id)
        try:
            return parse_processing_report(client.download(url), compression_algorithm=compression)
        except ReportError:
            return None

    def _park_unknown(self, row: dao.FeedRow, why: str) -> StepResult:
        with self.ctx.engine.begin() as conn:
            _settle(conn, row, state="unknown", last_error=why, finished_at=self.ctx.now())
            self._settle_unprocessed(conn, row, why)
        return StepResult(row.id, "unknown", why)

    def _settle_unprocessed(self, conn: Connection, row: dao.FeedRow, why: str) -> None:
        """A feed whose outcome cannot be known: cancellations are safe to send again (Amazon
        refuses to cancel twice); refunds are parked for a human, their ledger kept as spent."""
        for m in dao.messages_of(conn, row.id):
            decision = codec.load_decision(m.decision)
            if isinstance(decision, Cancel):
                dao.replan_message(conn, m.id, why)
                continue
            dao.set_message_result(conn, m.id, "unknown", message=why)
            instruction = (
                f"UNKNOWN OUTCOME: Amazon may or may not have refunded {decision.total} "
                f"{decision.currency} on {decision.amazon_order_id} ({why}). Check the order in "
                "Seller Central. If the refund is there: `sidecar outbox resolve "
                f"{m.outbox_id} --done --reason ...`; if not: `sidecar outbox resolve "
                f"{m.outbox_id} --requeue --reason ...`. It is never re-sent automatically."
            )
            outbox_dao.settle_submitted_in(conn, m.outbox_id, "needs_attention", instruction)
            magento.record(conn, m.magento_order_id, instruction, magento.FAILED)

    # ---------------------------------------------------------------- results

    def _poll(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        assert row.amazon_feed_id is not None
        feed = client.get_feed(row.amazon_feed_id)
        now = self.ctx.now()
        status = feed.processing_status
        if status in ("IN_QUEUE", "IN_PROGRESS"):
            self._release(
                row,
                processing_status=status,
                next_check_at=now + timedelta(seconds=self.ctx.config.feed_poll_seconds),
            )
            return StepResult(row.id, "submitted", status, moved=False)
        if status == "CANCELLED":
            # Amazon did not process any of it: every message waits for the next feed
            with self.ctx.engine.begin() as conn:
                if dao.advance(
                    conn,
                    row,
                    release=True,
                    state="cancelled",
                    processing_status=status,
                    finished_at=now,
                ):
                    dao.replan_messages(conn, row.id)
            return StepResult(row.id, "cancelled")
        if status == "FATAL":
            why = (
                f"Amazon feed {row.amazon_feed_id} ended FATAL (some, none or all may have applied)"
            )
            with self.ctx.engine.begin() as conn:
                _settle(
                    conn,
                    row,
                    state="fatal",
                    processing_status=status,
                    finished_at=now,
                    last_error=why,
                )
                self._settle_unprocessed(conn, row, why)
            return StepResult(row.id, "fatal", why)
        if status != "DONE" or not feed.result_feed_document_id:
            self._release(
                row,
                processing_status=status,
                next_check_at=now + timedelta(seconds=self.ctx.config.feed_poll_seconds),
            )
            return StepResult(row.id, "submitted", f"unexpected status {status}", moved=False)
        url, compression = client.get_feed_document(feed.result_feed_document_id)
        data = client.download(url)
        with self.ctx.engine.begin() as conn:
            messages = dao.messages_of(conn, row.id)
            try:
                report = parse_processing_report(data, compression_algorithm=compression)
                outcomes = message_outcomes(report, [m.message_id or 0 for m in messages])
            except ReportError as exc:
                if row.attempts + 1 < REPORT_READS:
                    raise  # read it again after a backoff (a download cut short)
                # the same bytes every time: what Amazon did cannot be known from them
                why = (
                    f"Amazon feed {row.amazon_feed_id} is DONE but its processing report "
                    f"cannot be used ({exc})"
                )
                _settle(
                    conn,
                    row,
                    state="unknown",
                    processing_status=status,
                    result_document_id=feed.result_feed_document_id,
                    finished_at=now,
                    last_error=why,
                )
                self._settle_unprocessed(conn, row, why)
                return StepResult(row.id, "unknown", why)
            _settle(
                conn,
                row,
                state="done",
                processing_status=status,
                result_document_id=feed.result_feed_document_id,
                finished_at=now,
            )
            accepted = 0
            for m in messages:
                result = outcomes.get(m.message_id or 0)
                self._apply_result(conn, row, m, result)
                accepted += result is None
        return StepResult(row.id, "done", f"{accepted}/{len(messages)} accepted")

    def _apply_result(
        self, conn: Connection, row: dao.FeedRow, m: dao.MessageRow, result: MessageResult | None
    ) -> None:
        decision = codec.load_decision(m.decision)
        what = codec.describe(decision)
        if result is None:
            dao.set_message_result(conn, m.id, "accepted")
            amazon_orders.settle_ledger(conn, m.id, "confirmed")
            text = f"Amazon accepted (feed {row.amazon_feed_id}): {what}"
            if decision.note:  # why the amount differs from the credit memo stays visible
                text += f" ({decision.note})"
            outbox_dao.settle_submitted_in(conn, m.outbox_id, "done", text)
            whole = isinstance(decision, Cancel) and decision.whole_order
            status = magento.CANCELED if whole else magento.REFUNDED
            magento.record(conn, m.magento_order_id, text, status)
            return
        code, description = str(result.message_code), result.description
        dao.set_message_result(conn, m.id, "rejected", code=code, message=description)
        amazon_orders.settle_ledger(conn, m.id, "rejected")
        text = (
            f"Amazon rejected (feed {row.amazon_feed_id}, code {code}): {description} "
            f"-- was: {what}"
        )
        outbox_dao.settle_submitted_in(conn, m.outbox_id, "rejected", text)
        magento.record(conn, m.magento_order_id, text, magento.FAILED)


class LeaseLost(RuntimeError):
    pass


def _fenced(
    conn: Connection, row: dao.FeedRow, values: dict[str, object], *, release: bool
) -> None:
    """The feed's next state, written only while this worker holds its lease."""
    if not dao.advance_values(conn, row, values, release=release):
        raise LeaseLost(f"feed {row.id}: lease lost")


def _settle(conn: Connection, row: dao.FeedRow, **values: object) -> None:
    """A fenced write that also gives the lease back."""
    _fenced(conn, row, values, release=True)


__all__ = ["FeedPump", "LeaseLost", "Refund", "StepResult"]
