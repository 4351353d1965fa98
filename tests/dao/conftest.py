"""Fixtures for the outbox DAO tests: a fixed clock and a row factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from sidecar.tables import outbox

# Every test passes `now` explicitly; rows are due from T0 on.
T0 = datetime(2030, 1, 2, 12, 0, 0)



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
