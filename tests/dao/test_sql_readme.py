"""Every ```sql block of sql/README.md runs on MariaDB (strict GROUP BY, as MySQL 8 has it),
and the raw requeue there does what `sidecar outbox requeue` does."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, select, update

from sidecar.dao import outbox
from sidecar.migrate import split_statements
from sidecar.tables import audit_log
from sidecar.tables import outbox as outbox_table
from tests.dao.conftest import add_rows

README = Path(__file__).resolve().parents[2] / "sql" / "README.md"


def sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_queries_run_and_the_raw_requeue_works(engine: Engine) -> None:
    ids = add_rows(engine, 45)
    assert ids[41:44] == [42, 43, 44]
    for oid, status in ((42, "dead"), (43, "rejected"), (44, "done"), (45, "needs_attention")):
        with engine.begin() as conn:
            conn.execute(update(outbox_table).where(outbox_table.c.id == oid)
                         .values(status=status, attempts=5, last_error="boom"))
    blocks = sql_blocks()
    assert len(blocks) >= 10
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ONLY_FULL_GROUP_BY')")
        for block in blocks:
            for stmt in split_statements(block):
                cur.execute(stmt)
                cur.fetchall()
        cur.close()
    finally:
        raw.close()

    for oid, was in ((42, "dead"), (43, "rejected")):
        row = outbox.get(engine, oid)
        assert row is not None
        assert (row.status, row.attempts, row.lease_token) == ("pending", 0, None)
        assert row.status_message == f"requeued by dba:alice (was {was}): Amazon outage over"
    untouched = [outbox.get(engine, i) for i in (44, 45)]
    assert [r.status if r else None for r in untouched] == ["done", "needs_attention"]
    with engine.connect() as conn:
        audit = conn.execute(select(audit_log.c.outbox_id, audit_log.c.action, audit_log.c.actor,
                                    audit_log.c.reason).order_by(audit_log.c.id)).all()
    assert [tuple(a) for a in audit] == [
        (42, "requeue", "dba:alice", "Amazon outage over (was dead)"),
        (43, "requeue", "dba:alice", "Amazon outage over (was rejected)"),
    ]
