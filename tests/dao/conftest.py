"""Fixtures for the outbox DAO tests: a fixed clock and a row factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from sidecar.db import make_engine
from sidecar.migrate import SQL_DIR, migrate, split_statements
from sidecar.tables import outbox
from tests.conftest import create_database, drop_database

@pytest.fixture
def mariadb_url(mariadb_server_url: str) -> Iterator[str]:
    """tests/conftest.py's fixture, working around a migrate() ordering bug: 001 records
    itself in refund_bridge_schema_migration, which only 002 creates. Pre-create that table
    (the first statement of 002, IF NOT EXISTS) and migrate. Drop once migrate() is fixed."""
    url = create_database(mariadb_server_url, migrated=False)
    eng = make_engine(url)
    try:
        bootstrap = split_statements((SQL_DIR / "002_sidecar_state.sql").read_text())[0]
        assert "refund_bridge_schema_migration" in bootstrap
        with eng.begin() as conn:
            conn.exec_driver_sql(bootstrap)
        migrate(eng)
    finally:
        eng.dispose()
    yield url
    drop_database(mariadb_server_url, url)


# Every test passes `now` explicitly; rows are due from T0 on.
T0 = datetime(2030, 1, 2, 12, 0, 0)

AddRows = Callable[..., list[int]]


def add_rows(
    engine: Engine, n: int, *, start: int = 1, event_type: str = "creditmemo",
    available_at: datetime = T0, payload: str | Callable[[int], str] = '{"ok": true}',
    order_id: int = 100,
) -> list[int]:
    """Insert n pending rows (entity_id start..start+n-1) as Magento would; returns their ids."""
    entities = list(range(start, start + n))
    with engine.begin() as conn:
        conn.execute(
            insert(outbox),
            [
                {
                    "event_type": event_type, "entity_id": e, "order_id": order_id,
                    "payload": payload(e) if callable(payload) else payload,
                    "available_at": available_at, "created_at": available_at,
                    "updated_at": available_at,
                }
                for e in entities
            ],
        )
        ids = conn.execute(
            select(outbox.c.id)
            .where(outbox.c.event_type == event_type, outbox.c.entity_id.in_(entities))
            .order_by(outbox.c.id)
        ).scalars()
        return [int(i) for i in ids]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["mariadb", "sqlite"])
def db(request: pytest.FixtureRequest) -> Engine:
    """The same test on the real MariaDB and on the embedded demo's SQLite."""
    name = "engine" if request.param == "mariadb" else "sqlite_engine"
    eng: Engine = request.getfixturevalue(name)
    return eng
