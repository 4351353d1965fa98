"""The feed pump: batches queued messages into SP-API feeds and walks each feed's state machine.

    planned -> document_created -> uploaded -> submitting -> submitted -> done
                                                   |             +-> cancelled (replanned)
                                                   |             +-> fatal
                                                   |             +-> unknown (bounds, below)
                                                   +-> (reconcile with getFeeds) -> submitted
                                                   +-> unknown (parked for a human)

One module per step: `plan` (batching, the in-flight slot), `submit` (document, upload,
createFeed), `reconcile` (an unknown createFeed outcome), `poll` (getFeed and the processing
report), `apply` (outcomes to outbox, ledger and Magento). Each state is committed before the
next call to Amazon, so a crash at any point resumes from the last committed state.
`submitting` is written before createFeed: finding a feed in that state means createFeed may
or may not have reached Amazon, and because Amazon does not de-duplicate refunds it is
reconciled with getFeeds, never blindly repeated (docs/feeds.md).
"""

from __future__ import annotations

import logging

from sidecar.dao import feeds as dao
from sidecar.domain import Refund
from sidecar.feeds.common import (
    FEED_MAX_AGE,
    MAX_MESSAGES_PER_FEED,
    POLL_ANOMALIES,
    RECONCILE_GIVE_UP,
    RECONCILE_GRACE,
    RECONCILE_RETRY,
    REPORT_READS,
    SUBMIT_ATTEMPTS,
    UNKNOWN_OUTCOME_BLOCK,
    WINDOW_SLACK,
    LeaseLost,
    StepResult,
    backoff,
)
from sidecar.feeds.plan import Plan
from sidecar.feeds.poll import Poll
from sidecar.feeds.reconcile import Reconcile
from sidecar.feeds.submit import Submit
from sidecar.processing import Context

log = logging.getLogger(__name__)


class FeedPump:
    def __init__(self, ctx: Context, *, lease_seconds: int = 300) -> None:
        self.ctx = ctx
        self.lease_seconds = lease_seconds
        self.plan = Plan(ctx, lease_seconds=lease_seconds)
        self._submit = Submit(ctx, lease_seconds=lease_seconds)
        self._reconcile = Reconcile(ctx, lease_seconds=lease_seconds)
        self._poll = Poll(ctx, lease_seconds=lease_seconds)

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
                        next_check_at=self.ctx.now() + backoff(row.attempts),
                    )
                results.append(StepResult(row.id, row.state, f"error: {exc}", moved=False))
        return results

    def step(self, row: dao.FeedRow) -> StepResult:
        """Move one feed forward as far as it can go now."""
        client = self.ctx.client_for(self.ctx.config.account(row.account_id))
        if row.state == "planned":
            row = self._submit.document(client, row)
        if row.state == "document_created":
            uploaded = self._submit.upload(client, row)
            if isinstance(uploaded, StepResult):
                return uploaded
            row = uploaded
        if row.state == "uploaded":
            return self._submit(client, row)
        if row.state == "submitting":
            return self._reconcile(client, row)
        if row.state == "submitted":
            return self._poll(client, row)
        return StepResult(row.id, row.state, "nothing to do", moved=False)


__all__ = [
    "FEED_MAX_AGE",
    "MAX_MESSAGES_PER_FEED",
    "POLL_ANOMALIES",
    "RECONCILE_GIVE_UP",
    "RECONCILE_GRACE",
    "RECONCILE_RETRY",
    "REPORT_READS",
    "SUBMIT_ATTEMPTS",
    "UNKNOWN_OUTCOME_BLOCK",
    "WINDOW_SLACK",
    "FeedPump",
    "LeaseLost",
    "Refund",
    "StepResult",
]
