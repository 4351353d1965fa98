"""sidecar.migrate: sql/mysql/NNN_*.sql on MariaDB create exactly what sidecar.tables declares;
SQLite (the embedded demo) gets the same tables from metadata.create_all()."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Table, UniqueConstraint, func, inspect, select
from sqlalchemy.engine import Dialect

from sidecar import tables
from sidecar.db import make_engine
from sidecar.migrate import SQL_DIR, migrate, migrations, split_statements
from tests.conftest import create_database, drop_database

SIDECAR_TABLES = sorted(t.name for t in tables.metadata.sorted_tables)


@pytest.fixture
def fresh(mariadb_server_url: str) -> Iterator[Engine]:
    """A database with Magento's Sales tables and none of the sidecar's yet."""
    url = create_database(mariadb_server_url, migrated=False)
    eng = make_engine(url)
    yield eng
    eng.dispose()
    drop_database(mariadb_server_url, url)


def ddl_type(t: Any, dialect: Dialect) -> str:
    """A column type as MariaDB spells it, without display widths: 'INTEGER UNSIGNED'."""
    s = str(t.compile(dialect=dialect)).upper()
    s = re.sub(r"\b(TINYINT|SMALLINT|INTEGER|BIGINT)\(\d+\)", r"\1", s)
    s = s.replace("NUMERIC", "DECIMAL").replace("BOOL", "TINYINT")
    s = re.sub(r"\bTINYINT(\(1\))?", "TINYINT", s)
    return s


def declared(table: Table, dialect: Dialect) -> dict[str, tuple[str, bool]]:
    cols: list[Column[Any]] = list(table.columns)
    return {c.name: (ddl_type(c.type, dialect), bool(c.nullable)) for c in cols}


def reflected(engine: Engine, name: str) -> dict[str, tuple[str, bool]]:
    cols = inspect(engine).get_columns(name)
    return {c["name"]: (ddl_type(c["type"], engine.dialect), bool(c["nullable"])) for c in cols}


def test_migrate_creates_every_declared_table(fresh: Engine) -> None:
    assert not set(SIDECAR_TABLES) & set(inspect(fresh).get_table_names())
    applied = migrate(fresh)
    assert applied == [m.version for m in migrations()]
    assert set(SIDECAR_TABLES) <= set(inspect(fresh).get_table_names())


@pytest.fixture(scope="module")
def migrated_once(mariadb_server_url: str) -> Iterator[Engine]:
    """One migrated database shared by the per-table checks (read only)."""
    url = create_database(mariadb_server_url, migrated=False)
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()
    drop_database(mariadb_server_url, url)


@pytest.mark.parametrize("name", SIDECAR_TABLES)
def test_columns_match_the_declaration(migrated_once: Engine, name: str) -> None:
    table = tables.metadata.tables[name]
    got = reflected(migrated_once, name)
    want = declared(table, migrated_once.dialect)
    assert list(got) == list(want), "column names and their order"
    assert got == want, "types and nullability"


@pytest.mark.parametrize("name", SIDECAR_TABLES)
def test_keys_and_indexes_match_the_declaration(migrated_once: Engine, name: str) -> None:
    table = tables.metadata.tables[name]
    insp = inspect(migrated_once)
    assert insp.get_pk_constraint(name)["constrained_columns"] == [
        c.name for c in table.primary_key.columns
    ]
    got = {i["name"]: (list(i["column_names"]), bool(i["unique"]))
           for i in insp.get_indexes(name)}
    want = {str(i.name): ([c.name for c in i.columns], bool(i.unique)) for i in table.indexes}
    for u in table.constraints:
        if isinstance(u, UniqueConstraint):
            want[str(u.name)] = ([c.name for c in u.columns], True)
    assert got == want


def test_magento_columns_the_sidecar_uses_exist(migrated_once: Engine) -> None:
    """sidecar.tables declares a subset of Magento's tables: every column it names must be
    in Magento's schema (the Sales fixture), with the same nullability for the NOT NULL ones."""
    for table in tables.magento_metadata.sorted_tables:
        got = reflected(migrated_once, table.name)
        for col in table.columns:
            assert col.name in got, f"{table.name}.{col.name}"
            if not col.nullable:
                assert got[col.name][1] is False, f"{table.name}.{col.name} nullable"


def test_every_file_is_recorded_and_a_second_run_applies_nothing(fresh: Engine) -> None:
    first = migrate(fresh)
    files = sorted(p.name for p in SQL_DIR.glob("*.sql"))
    assert first == files
    with fresh.connect() as conn:
        rows = conn.execute(
            select(tables.schema_migration.c.version, tables.schema_migration.c.checksum,
                   tables.schema_migration.c.applied_at)
            .order_by(tables.schema_migration.c.version)
        ).all()
    assert [r.version for r in rows] == files
    for r in rows:
        assert r.checksum == hashlib.sha256((SQL_DIR / r.version).read_bytes()).hexdigest()
        assert r.applied_at is not None
    assert migrate(fresh) == []
    with fresh.connect() as conn:
        count = conn.execute(select(func.count()).select_from(tables.schema_migration))
        assert count.scalar_one() == len(files)


def test_a_half_applied_schema_is_repaired(fresh: Engine) -> None:
    """A crash after some DDL but before the migration's row: every statement is idempotent,
    so migrate simply applies that file again."""
    migrate(fresh)
    with fresh.begin() as conn:
        conn.execute(tables.schema_migration.delete()
                     .where(tables.schema_migration.c.version >= "003"))
    assert migrate(fresh) == [m.version for m in migrations() if m.version >= "003"]
    assert migrate(fresh) == []


def test_a_changed_file_is_reported_not_reapplied(fresh: Engine,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    migrate(fresh)
    with fresh.begin() as conn:
        conn.execute(tables.schema_migration.update()
                     .where(tables.schema_migration.c.version == "001_outbox.sql")
                     .values(checksum="0" * 64))
    with caplog.at_level("WARNING", logger="sidecar.migrate"):
        assert migrate(fresh) == []
    assert "001_outbox.sql changed since it was applied" in caplog.text


def test_order_statuses_are_seeded(migrated_once: Engine) -> None:
    with migrated_once.connect() as conn:
        statuses = set(conn.execute(select(tables.sales_order_status.c.status)).scalars())
    assert {"amazon_refund_pending", "amazon_refund_failed", "amazon_refunded",
            "amazon_canceled", "amazon_cancel_requested"} <= statuses
    with migrated_once.connect() as conn:
        states = set(conn.execute(
            select(tables.sales_order_status_state.c.state)
            .where(tables.sales_order_status_state.c.status == "amazon_cancel_requested")
        ).scalars())
    assert states == {"processing", "new"}


def test_sqlite_creates_the_same_tables(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    try:
        assert migrate(eng) == []
        assert sorted(inspect(eng).get_table_names()) == SIDECAR_TABLES
        for name in SIDECAR_TABLES:
            cols = [c["name"] for c in inspect(eng).get_columns(name)]
            assert cols == [c.name for c in tables.metadata.tables[name].columns]
        assert migrate(eng) == []  # again: nothing breaks
    finally:
        eng.dispose()


def test_sqlite_demo_gets_the_magento_subset_too(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'm.sqlite'}")
    try:
        migrate(eng, with_magento_tables=True)
        migrate(eng, with_magento_tables=True)  # INSERT OR IGNORE: safe to repeat
        names = set(inspect(eng).get_table_names())
        magento = {t.name for t in tables.magento_metadata.sorted_tables}
        assert names == set(SIDECAR_TABLES) | magento
        with eng.connect() as conn:
            statuses = list(conn.execute(select(tables.sales_order_status.c.status)).scalars())
        assert len(statuses) == len(set(statuses)) == 5  # 005 + 010 amazon_cancel_requested
    finally:
        eng.dispose()


def test_file_names_are_numbered_and_unique() -> None:
    found = migrations()
    assert [m.version for m in found] == sorted(m.version for m in found)
    numbers = [m.version[:3] for m in found]
    assert len(numbers) == len(set(numbers))
    assert numbers[0] == "000"


def test_split_statements() -> None:
    sql = """-- a comment; with a semicolon
CREATE TABLE a (
  x INT -- trailing comment stays
);
  -- indented comment
INSERT INTO a VALUES (1);

SELECT 1"""
    assert split_statements(sql) == [
        "CREATE TABLE a (\n  x INT -- trailing comment stays\n)",
        "INSERT INTO a VALUES (1)",
        "SELECT 1",
    ]
