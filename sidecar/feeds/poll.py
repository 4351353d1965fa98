"""Poll getFeed until Amazon finishes, then read and apply the processing report.

Every wait has a bound: a feed Amazon has not finished FEED_MAX_AGE after submission, a
getFeed that keeps answering nonsense (DONE without resultFeedDocumentId, a status outside
the model) POLL_ANOMALIES times, a report unusable REPORT_READS times: each ends the feed
`unknown` (refunds parked for a human, cancellations re-planned), never resubmitted.
"""

from __future__ import annotations

from datetime import timedelta

from sidecar.amazon.client import Feed as AmazonFeed
from sidecar.amazon.client import SpApiClient
from sidecar.amazon.report import ReportError, message_outcomes, parse_processing_report
from sidecar.dao import feeds as dao
from sidecar.feeds.apply import Apply
from sidecar.feeds.common import (
    FEED_MAX_AGE,
    POLL_ANOMALIES,
    REPORT_READS,
    Step,
    StepResult,
    backoff,
    settle,
)


class Poll(Step):
    def __call__(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        assert row.amazon_feed_id is not None
        if row.processing_status == "DONE" and row.result_document_id:
            return Report(self.ctx, lease_seconds=self.lease_seconds)(client, row)
        try:
            feed = client.get_feed(row.amazon_feed_id)
        except Exception as exc:
            if self._too_old(row):
                return self._expired(row, f"getFeed keeps failing ({exc})")
            return self.wait(
                row, backoff(row.attempts), f"getFeed failed: {exc}",
                poll_attempts=row.poll_attempts + 1,
            )
        status = feed.processing_status
        if status in ("IN_QUEUE", "IN_PROGRESS"):
            if self._too_old(row):
                return self._expired(row, f"Amazon still says {status}", processing_status=status)
            self.release(
                row,
                processing_status=status,
                next_check_at=self.ctx.now() + timedelta(seconds=self.ctx.config.feed_poll_seconds),
            )
            return StepResult(row.id, "submitted", status, moved=False)
        if status == "CANCELLED":
            return self._cancelled(row)
        if status == "FATAL":
            why = (
                f"Amazon feed {row.amazon_feed_id} ended FATAL "
                "(some, none or all may have applied)"
            )
            return Apply(self.ctx).unknown(row, why, state="fatal", processing_status=status)
        if status == "DONE" and feed.result_feed_document_id:
            row = self.commit(
                row, processing_status=status, result_document_id=feed.result_feed_document_id
            )
            return Report(self.ctx, lease_seconds=self.lease_seconds)(client, row)
        return self._anomaly(row, feed)

    def _too_old(self, row: dao.FeedRow) -> bool:
        since = row.submitted_at or row.submit_started_at or row.created_at
        return self.ctx.now() - since >= FEED_MAX_AGE

    def _expired(self, row: dao.FeedRow, what: str, **values: object) -> StepResult:
        since = row.submitted_at or row.submit_started_at or row.created_at
        why = (
            f"Amazon feed {row.amazon_feed_id} has not finished {FEED_MAX_AGE.days} days after "
            f"its submission at {since:%Y-%m-%d %H:%M:%S} UTC: {what}"
        )
        return Apply(self.ctx).unknown(row, why, **values)

    def _cancelled(self, row: dao.FeedRow) -> StepResult:
        # Amazon did not process any of it: every message waits for the next feed
        with self.ctx.engine.begin() as conn:
            settle(
                conn, row, state="cancelled", processing_status="CANCELLED",
                finished_at=self.ctx.now(),
            )
            dao.replan_messages(conn, row.id)
        return StepResult(row.id, "cancelled")

    def _anomaly(self, row: dao.FeedRow, feed: AmazonFeed) -> StepResult:
        status = feed.processing_status
        what = (
            "DONE without a resultFeedDocumentId" if status == "DONE"
            else f"processingStatus {status!r}, which the Feeds model does not define"
        )
        attempts = row.poll_attempts + 1
        if attempts >= POLL_ANOMALIES or self._too_old(row):
            why = f"getFeed said {what} {attempts} times for Amazon feed {row.amazon_feed_id}"
            return Apply(self.ctx).unknown(row, why, processing_status=status[:32])
        return self.wait(
            row, backoff(row.attempts), f"getFeed said {what}; asking again",
            poll_attempts=attempts, processing_status=status[:32],
        )


class Report(Step):
    def __call__(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        assert row.result_document_id is not None
        try:
            url, compression = client.get_feed_document(row.result_document_id)
            data = client.download(url)
        except Exception as exc:  # no bytes: a transport problem, bounded by the feed's age
            if self.ctx.now() - (row.submitted_at or row.created_at) >= FEED_MAX_AGE:
                why = f"the processing report of Amazon feed {row.amazon_feed_id} cannot be read"
                return Apply(self.ctx).unknown(row, f"{why} ({exc})")
            return self.wait(row, backoff(row.attempts), f"report download failed: {exc}")
        with self.ctx.engine.begin() as conn:
            messages = dao.messages_of(conn, row.id)
            try:
                report = parse_processing_report(data, compression_algorithm=compression)
                outcomes = message_outcomes(report, [m.message_id or 0 for m in messages])
            except ReportError as exc:
                reads = row.report_attempts + 1
                if reads < REPORT_READS:
                    failure: ReportError | None = exc
                else:
                    # the same bytes every time: what Amazon did cannot be known from them
                    why = (
                        f"Amazon feed {row.amazon_feed_id} is DONE but its processing report "
                        f"cannot be used ({exc})"
                    )
                    settle(
                        conn, row, state="unknown", finished_at=self.ctx.now(), last_error=why,
                        report_attempts=reads,
                    )
                    Apply(self.ctx).unprocessed(conn, row, why)
                    return StepResult(row.id, "unknown", why)
            else:
                failure = None
                settle(conn, row, state="done", finished_at=self.ctx.now(), last_error=None)
                for m in messages:
                    Apply(self.ctx).result(conn, row, m, outcomes.get(m.message_id or 0))
        if failure is not None:  # read it again after a backoff (a download cut short)
            return self.wait(
                row, backoff(row.attempts), f"processing report unusable: {failure}",
                report_attempts=row.report_attempts + 1,
            )
        accepted = sum(1 for m in messages if outcomes.get(m.message_id or 0) is None)
        return StepResult(row.id, "done", f"{accepted}/{len(messages)} accepted")
