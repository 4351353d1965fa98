"""sidecar.migrate_mysql: MySQL 8 takes the MariaDB-style ALTERs of sql/mysql."""

from __future__ import annotations

from pathlib import Path

from sidecar.migrate import split_statements
from sidecar.migrate_mysql import clauses, for_mysql

SQL = Path(__file__).resolve().parents[2] / "sql" / "mysql"


def _nothing(_table: str) -> tuple[set[str], set[str]]:
    return set(), set()


def test_a_fresh_table_gets_every_clause_without_if_not_exists() -> None:
    (stmt,) = split_statements((SQL / "007_feed_slots_and_step_attempts.sql").read_text())
    out = for_mysql(stmt, _nothing)
    assert out is not None
    assert "IF NOT EXISTS" not in out.upper()
    assert out.count("ADD COLUMN") == 4 and "ADD UNIQUE KEY REFUND_BRIDGE_FEED_INFLIGHT_SLOT" in out
    assert "COMMENT 'seller|feed type|marketplace while between planned" in out


def test_a_half_applied_migration_adds_only_what_is_missing() -> None:
    (stmt,) = split_statements((SQL / "007_feed_slots_and_step_attempts.sql").read_text())

    def half(table: str) -> tuple[set[str], set[str]]:
        assert table == "refund_bridge_feed"
        return {"id", "inflight_slot", "submit_attempts"}, {"primary"}

    out = for_mysql(stmt, half)
    assert out is not None
    assert "inflight_slot VARCHAR" not in out and "submit_attempts INT" not in out
    assert "poll_attempts INT" in out and "report_attempts INT" in out
    assert "ADD UNIQUE KEY REFUND_BRIDGE_FEED_INFLIGHT_SLOT" in out


def test_a_fully_applied_alter_is_skipped_and_other_statements_pass_unchanged() -> None:
    (stmt,) = split_statements((SQL / "007_feed_slots_and_step_attempts.sql").read_text())

    def done(_table: str) -> tuple[set[str], set[str]]:
        return ({"inflight_slot", "submit_attempts", "poll_attempts", "report_attempts"},
                {"refund_bridge_feed_inflight_slot"})

    assert for_mysql(stmt, done) is None
    create = "CREATE TABLE IF NOT EXISTS t (a INT)"
    assert for_mysql(create, done) == create


def test_clauses_split_only_at_top_level_commas() -> None:
    body = "ADD COLUMN a DECIMAL(20,4) COMMENT 'x, y', ADD KEY k (a, b)"
    assert clauses(body) == ["ADD COLUMN a DECIMAL(20,4) COMMENT 'x, y'", "ADD KEY k (a, b)"]
