"""What every step of the feed pump shares: bounds, the step result, fenced writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Connection

from sidecar.dao import feeds as dao
from sidecar.processing import Context

MAX_MESSAGES_PER_FEED = 5000
#: a group's feed is not planned while credit memos are still claimable (a backlog being
#: decided), unless its longest-waiting message has waited this long on the worker's clock
#: or the group already fills a feed: the bound on what batching adds (docs/feeds.md)
PLAN_HOLD_MAX = timedelta(seconds=60)

#: getFeeds may lag createFeed this long: with no candidate feed at all after an unknown
#: createFeed outcome, the feed is sent again only once this has passed. It is also the
#: longest a createFeed that failed WITHOUT creating anything can block its group, and only
#: when Amazon's answer did not say so (timeout, 5xx, connection reset). A 4xx or 429 is a
#: definite "nothing created" and blocks nothing (`make bench` prints this bound).
RECONCILE_GRACE = timedelta(minutes=5)
UNKNOWN_OUTCOME_BLOCK = RECONCILE_GRACE
#: candidates still IN_QUEUE / IN_PROGRESS are waited for this long, then the feed is unknown
RECONCILE_GIVE_UP = timedelta(hours=2)
RECONCILE_RETRY = timedelta(seconds=60)
#: the sidecar's and Amazon's clocks may differ this much (createdTime vs submit_started_at)
WINDOW_SLACK = timedelta(minutes=2)

#: createFeed refused for a reason that is not the content (401/403 after a fresh token):
#: tried this often (with backoff), then its messages end rejected with the instruction
SUBMIT_ATTEMPTS = 8
#: getFeed answers that make no sense (DONE without resultFeedDocumentId, a status outside
#: the model): read this often, then the feed is unknown
POLL_ANOMALIES = 3
#: an unusable processing report is read this often before the feed is unknown
REPORT_READS = 3
#: a submitted feed that Amazon has not finished after this long is unknown (Order
#: Adjustment feeds have been seen IN_PROGRESS for days; docs/feeds.md)
FEED_MAX_AGE = timedelta(days=2)


@dataclass(frozen=True)
class StepResult:
    feed_pk: int
    state: str
    detail: str = ""
    moved: bool = True  # False: waiting (rate limit, Amazon still processing, error backoff)


class LeaseLost(RuntimeError):
    pass


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(600, 5 * 2 ** min(attempts, 7)))


def fenced(conn: Connection, row: dao.FeedRow, values: dict[str, object], *, release: bool) -> None:
    """The feed's next state, written only while this worker holds its lease."""
    if not dao.advance_values(conn, row, values, release=release):
        raise LeaseLost(f"feed {row.id}: lease lost")


def settle(conn: Connection, row: dao.FeedRow, **values: object) -> None:
    """A fenced write that also gives the lease back."""
    fenced(conn, row, values, release=True)


class Step:
    """A step of the state machine: the context plus committed, fenced writes."""

    def __init__(self, ctx: Context, *, lease_seconds: int = 300) -> None:
        self.ctx = ctx
        self.lease_seconds = lease_seconds

    def commit(self, row: dao.FeedRow, **values: object) -> dao.FeedRow:
        """Write and keep the lease; returns the row as it now is."""
        if "state" in values and values["state"] != row.state:
            values.setdefault("attempts", 0)  # the backoff counts failures of one state
        with self.ctx.engine.begin() as conn:
            fenced(conn, row, values, release=False)
        fields = {k: v for k, v in values.items() if k in dao.FeedRow.__dataclass_fields__}
        return replace(row, **fields)  # type: ignore[arg-type]

    def release(self, row: dao.FeedRow, **values: object) -> None:
        """Write and give the lease back."""
        if "state" in values and values["state"] != row.state:
            values.setdefault("attempts", 0)
        with self.ctx.engine.begin() as conn:
            settle(conn, row, **values)

    def wait(self, row: dao.FeedRow, delay: timedelta, why: str, **values: object) -> StepResult:
        """A failure of this step: count it, back off, keep the state."""
        self.release(
            row,
            attempts=row.attempts + 1,
            last_error=why,
            next_check_at=self.ctx.now() + delay,
            **values,
        )
        return StepResult(row.id, str(values.get("state", row.state)), why, moved=False)
