"""sidecar.resolution: a human settles a needs_attention row in one transaction."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from sidecar import resolution
from sidecar.dao import outbox as outbox_dao
from tests.support.rows import (
    add_feed_message,
    add_ledger_row,
    add_outbox_row,
    audit_rows,
    feed_message_row,
    ledger_states,
)


def test_a_failure_half_way_changes_nothing(engine: Engine,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Status, audit row, ledger and feed message commit together or not at all: a requeued
    row whose ledger entries stayed live would be skipped as 'already sent'."""
    oid = add_outbox_row(engine, 1, status="needs_attention")
    entry = add_ledger_row(engine, oid)
    message = add_feed_message(engine, oid)

    def broken() -> datetime:
        raise RuntimeError("crash between the status change and the ledger update")

    monkeypatch.setattr(resolution, "utcnow", broken)
    with pytest.raises(RuntimeError, match="crash"):
        resolution.resolve(engine, oid, done=False, actor="dba", reason="not on Amazon")
    row = outbox_dao.get(engine, oid)
    assert row is not None and row.status == "needs_attention"
    assert ledger_states(engine) == {entry: "pending"}
    assert feed_message_row(engine, message)["state"] == "unknown"
    assert audit_rows(engine) == []

    monkeypatch.undo()
    assert resolution.resolve(engine, oid, done=False, actor="dba", reason="not on Amazon")
    row = outbox_dao.get(engine, oid)
    assert row is not None and (row.status, row.attempts) == ("pending", 0)
    assert ledger_states(engine) == {entry: "rejected"}
    assert feed_message_row(engine, message)["state"] == "abandoned"
    assert audit_rows(engine) == [(oid, "resolve_requeue", "dba", "not on Amazon")]


@pytest.mark.parametrize("status", ["pending", "processing", "submitted", "done", "dead"])
def test_only_needs_attention_rows_are_resolved(engine: Engine, status: str) -> None:
    oid = add_outbox_row(engine, 1, status=status)
    entry = add_ledger_row(engine, oid)
    assert not resolution.resolve(engine, oid, done=True, actor="dba", reason="r")
    assert ledger_states(engine) == {entry: "pending"}
    assert audit_rows(engine) == []


def test_a_reason_is_required(engine: Engine) -> None:
    oid = add_outbox_row(engine, 1, status="needs_attention")
    with pytest.raises(ValueError, match="reason"):
        resolution.resolve(engine, oid, done=True, actor="dba", reason="  ")
    row = outbox_dao.get(engine, oid)
    assert row is not None and row.status == "needs_attention"
