"""Submit: createFeedDocument, upload, createFeed; `submitting` is committed before createFeed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from sidecar.amazon.client import (
    OutcomeUnknown,
    SpApiClient,
    SpApiError,
    Throttled,
    UnsafeUploadUrl,
)
from sidecar.amazon.feed_xml import FEED_CONTENT_TYPE
from sidecar.dao import feeds as dao
from sidecar.feeds.apply import Apply
from sidecar.feeds.common import (
    RECONCILE_RETRY,
    SUBMIT_ATTEMPTS,
    Step,
    StepResult,
    backoff,
)

#: createFeed answers that say Amazon created nothing and that are not about the content
_NOT_CREATED_RETRY = frozenset({401, 403, 408})


class Submit(Step):
    def document(self, client: SpApiClient, row: dao.FeedRow) -> dao.FeedRow:
        document_id, url = client.create_feed_document(FEED_CONTENT_TYPE)
        return self.commit(row, state="document_created", document_id=document_id, upload_url=url)

    def upload(self, client: SpApiClient, row: dao.FeedRow) -> dao.FeedRow | StepResult:
        assert row.upload_url is not None
        try:
            client.upload_feed_document(
                row.upload_url, row.content.encode("utf-8"), FEED_CONTENT_TYPE
            )
        except UnsafeUploadUrl as exc:
            # not an Amazon upload host (or not https): the bytes never leave; ask again later
            return self.wait(
                row, backoff(row.attempts), f"{exc}; a new document will be asked for",
                state="planned", document_id=None, upload_url=None,
            )
        except SpApiError as exc:
            if not 400 <= exc.status < 500:
                raise
            # the presigned URL expired (5 min) or was refused: ask for a new document
            self.release(
                row,
                state="planned",
                document_id=None,
                upload_url=None,
                last_error=f"upload refused, new document: {exc}",
                next_check_at=self.ctx.now(),
            )
            return StepResult(row.id, "planned", "upload refused; new document")
        return self.commit(row, state="uploaded", upload_url=None)

    def __call__(self, client: SpApiClient, row: dao.FeedRow) -> StepResult:
        wait = self.ctx.limiter.peek(row.account_id, "createFeed") if self.ctx.limiter else 0.0
        if wait > 0:
            # Amazon allows one feed per ~2 min after the burst; meanwhile messages batch up
            self.release(row, next_check_at=self.ctx.now() + timedelta(seconds=wait))
            detail = f"createFeed rate limit: {wait:.0f}s"
            return StepResult(row.id, "uploaded", detail, moved=False)
        started = self.ctx.now()
        slot = row.inflight_slot or dao.slot_of(
            self.ctx.config.account(row.account_id).seller_id, row.feed_type, row.marketplace_id
        )
        try:
            # a fresh lease: nobody may reconcile this feed while its createFeed is under way;
            # the slot (unique) proves no other feed of the group awaits a createFeed answer
            row = self.commit(
                row,
                state="submitting",
                inflight_slot=slot,
                submit_started_at=started,
                lease_expires_at=started + timedelta(seconds=self.lease_seconds),
            )
        except IntegrityError:
            return self.wait(row, RECONCILE_RETRY, "another feed of this group is in flight")
        assert row.document_id is not None
        try:
            feed_id = client.create_feed(row.feed_type, [row.marketplace_id], row.document_id)
        except OutcomeUnknown as exc:
            return self._unknown(row, str(exc))
        except Throttled as exc:
            # a 429 (or our own limiter) refused it before Amazon did anything: safe to resend
            self.release(
                row,
                state="uploaded",
                last_error=f"createFeed throttled: {exc}",
                next_check_at=self.ctx.now() + timedelta(seconds=max(1.0, exc.retry_after_s)),
            )
            return StepResult(row.id, "uploaded", "createFeed throttled", moved=False)
        except SpApiError as exc:
            if not 400 <= exc.status < 500:
                # a 2xx whose body could not be read, a 5xx, no answer: the feed may exist
                return self._unknown(row, f"createFeed outcome unknown: {exc}")
            if exc.status in _NOT_CREATED_RETRY:
                return self._not_created(row, exc)
            # Amazon refused the content (400 InvalidInput, 413, ...): no feed exists and
            # waiting will not heal it, so the messages end rejected with Amazon's words
            return Apply(self.ctx).refused(row, exc, f"createFeed refused: {exc}")
        self.release(
            row,
            state="submitted",
            amazon_feed_id=feed_id,
            submitted_at=self.ctx.now(),
            next_check_at=self.ctx.now(),
            last_error=None,
        )
        Apply(self.ctx).submitted(row.id, feed_id)
        return StepResult(row.id, "submitted", feed_id)

    def _unknown(self, row: dao.FeedRow, why: str) -> StepResult:
        self.release(
            row,
            submit_attempts=row.submit_attempts + 1,
            last_error=why,
            next_check_at=self.ctx.now() + RECONCILE_RETRY,
        )
        return StepResult(row.id, "submitting", "outcome unknown; will reconcile", moved=False)

    def _not_created(self, row: dao.FeedRow, exc: SpApiError) -> StepResult:
        """401/403 even with a fresh token (the client refreshed it and retried), 408: Amazon
        created nothing and the content is not at fault. Back to `uploaded` with a backoff;
        after SUBMIT_ATTEMPTS the messages end rejected with the instruction."""
        attempts = row.submit_attempts + 1
        if attempts >= SUBMIT_ATTEMPTS:
            why = (
                f"createFeed refused {attempts} times, nothing was created: {exc}. Check the "
                "account's credentials and the application's roles, then "
                "`sidecar outbox requeue --status rejected --reason ...`"
            )
            return Apply(self.ctx).refused(row, exc, why)
        return self.wait(
            row,
            backoff(attempts),
            f"createFeed refused, nothing created (attempt {attempts}/{SUBMIT_ATTEMPTS}): {exc}",
            state="uploaded",
            submit_attempts=attempts,
        )
