"""sidecar.feeds.reconcile.verdict: when a candidate Amazon feed is provably ours, provably
not ours, harmless, undecided, or merely possible (docs/feeds.md, "Unknown outcomes")."""

from __future__ import annotations

from datetime import datetime

import pytest

from sidecar.amazon.client import Feed
from sidecar.amazon.report import MessageResult, ProcessingReport
from sidecar.feeds.reconcile import Verdict, verdict

OURS = {1: "302-0000001-4000001", 2: "302-0000002-4000002"}


def feed(status: str = "DONE") -> Feed:
    return Feed("1001", "POST_PAYMENT_ADJUSTMENT_DATA", status, datetime(2026, 3, 1),
                result_feed_document_id="doc" if status == "DONE" else None)


def report(processed: int | None, *results: tuple[int, str | None]) -> ProcessingReport:
    return ProcessingReport(
        "Complete", processed, None, len(results), 0,
        [MessageResult(n, "Error", 18028, "no", amazon_order_id=o) for n, o in results],
    )


@pytest.mark.parametrize(("status", "expected"), [
    ("IN_QUEUE", Verdict.UNDECIDED), ("IN_PROGRESS", Verdict.UNDECIDED),
    ("CANCELLED", Verdict.HARMLESS), ("FATAL", Verdict.POSSIBLE),
    ("UNDOCUMENTED", Verdict.POSSIBLE),
])
def test_status_alone(status: str, expected: Verdict) -> None:
    assert verdict(feed(status), None, OURS) is expected


def test_an_all_accepted_report_of_our_size_is_only_possible() -> None:
    """Another tool's feed with the same number of messages looks exactly like this."""
    assert verdict(feed(), report(2), OURS) is Verdict.POSSIBLE
    assert verdict(feed(), None, OURS) is Verdict.POSSIBLE  # unreadable report


def test_a_report_naming_our_order_at_every_message_id_is_ours() -> None:
    r = report(2, (1, OURS[1]), (2, OURS[2]))
    assert verdict(feed(), r, OURS) is Verdict.OURS


def test_partly_identified_is_still_only_possible() -> None:
    assert verdict(feed(), report(2, (2, OURS[2])), OURS) is Verdict.POSSIBLE
    assert verdict(feed(), report(2, (1, None), (2, OURS[2])), OURS) is Verdict.POSSIBLE


@pytest.mark.parametrize("r", [
    report(1),  # another message count
    report(3, (1, OURS[1]), (2, OURS[2])),
    report(2, (3, "302-0000003-4000003")),  # a MessageID we never sent
    report(2, (1, "999-0000000-0000000")),  # another order at our MessageID 1
])
def test_a_report_that_contradicts_our_document_is_not_ours(r: ProcessingReport) -> None:
    assert verdict(feed(), r, OURS) is Verdict.NOT_OURS


def test_a_document_level_error_proves_nothing_by_itself() -> None:
    assert verdict(feed(), report(2, (0, None)), OURS) is Verdict.POSSIBLE
