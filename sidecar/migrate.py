"""Apply sql/mysql/NNN_*.sql in order and record them; SQLite gets metadata.create_all()."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, inspect, select, text

from sidecar import tables
from sidecar.clock import utcnow
from sidecar.dao.schema import check_tables
from sidecar.db import is_mysql, parse_version
from sidecar.migrate_mysql import for_mysql

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "mysql"
_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def migrations(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = sorted(p for p in sql_dir.iterdir() if _FILE.match(p.name))
    return [Migration(p.name, p) for p in found]


def split_statements(sql: str) -> list[str]:
    """Split a migration on ';' at line ends, ignoring '--' comment lines (no procedures here)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(current).strip().rstrip(";").strip()
            if stmt:
                statements.append(stmt)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def _applied(conn: Connection) -> dict[str, str]:
    if not inspect(conn).has_table(tables.schema_migration.name):
        return {}
    rows = conn.execute(
        select(tables.schema_migration.c.version, tables.schema_migration.c.checksum)
    )
    return {r.version: r.checksum for r in rows}


def _existing(conn: Connection) -> Callable[[str], tuple[set[str], set[str]]]:
    def of(table: str) -> tuple[set[str], set[str]]:
        args = {"t": table}
        columns = conn.execute(text(
            "SELECT LOWER(COLUMN_NAME) FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), args).scalars()
        indexes = conn.execute(text(
            "SELECT DISTINCT LOWER(INDEX_NAME) FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"), args).scalars()
        return set(columns), set(indexes)

    return of


def _portable(conn: Connection) -> Callable[[str], str | None]:
    """MariaDB runs the files as written; MySQL 8 gets ALTERs without IF NOT EXISTS
    (sidecar/migrate_mysql.py)."""
    version = str(conn.execute(text("SELECT VERSION()")).scalar_one())
    if parse_version(version)[0] == "mariadb":
        return lambda sql: sql
    existing = _existing(conn)
    return lambda sql: for_mysql(sql, existing)


def migrate(engine: Engine, *, with_magento_tables: bool = False) -> list[str]:
    """Apply what is missing; returns the versions applied now. Safe to run again. Table
    names carry the prefix set with tables.apply_prefix() (SIDECAR_TABLE_PREFIX)."""
    prefix = tables.current_prefix()
    if not is_mysql(engine):
        # embedded demo: the Magento subset is created too, as there is no Magento
        tables.metadata.create_all(engine)
        if with_magento_tables:
            tables.magento_metadata.create_all(engine)
            with engine.begin() as conn:
                for name in ("005_order_statuses.sql", "010_amazon_cancel_requested_status.sql"):
                    for stmt in split_statements((SQL_DIR / name).read_text()):
                        stmt = tables.prefixed_sql(stmt, prefix)
                        conn.execute(text(stmt.replace("INSERT IGNORE", "INSERT OR IGNORE")))
        return []
    check_tables(engine, prefix)  # another prefix than Magento's: the tables would be wrong
    done: list[str] = []
    with engine.connect() as conn:
        applied = _applied(conn)
    for m in migrations():
        if m.version in applied:
            if applied[m.version] != m.checksum:
                log.warning("%s changed since it was applied; not re-applying", m.version)
            continue
        # DDL commits implicitly in MySQL; every statement is idempotent (IF NOT EXISTS,
        # INSERT IGNORE), so a crash half-way is repaired by running migrate again.
        with engine.begin() as conn:
            portable = _portable(conn)
            for stmt in split_statements(m.sql):
                sql = portable(tables.prefixed_sql(stmt, prefix))
                if sql is not None:
                    conn.exec_driver_sql(sql)
            conn.execute(
                insert(tables.schema_migration).values(
                    version=m.version, checksum=m.checksum, applied_at=utcnow()
                )
            )
        log.info("applied %s", m.version)
        done.append(m.version)
    return done
