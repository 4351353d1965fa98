"""Worker heartbeats, read by /readyz and the health page."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from sidecar.clock import utcnow
from sidecar.tables import worker_heartbeat


def beat(engine: Engine, worker_id: str, *, rows_processed: int, started_at: datetime) -> None:
    now = utcnow()
    with engine.begin() as conn:
        changed = conn.execute(
            update(worker_heartbeat)
            .where(worker_heartbeat.c.worker_id == worker_id)
            .values(beat_at=now, rows_processed=rows_processed)
        ).rowcount
        if changed == 0:
            conn.execute(
                insert(worker_heartbeat).values(
                    worker_id=worker_id,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=started_at,
                    beat_at=now,
                    rows_processed=rows_processed,
                )
            )


def latest_beat(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.max(worker_heartbeat.c.beat_at))).scalar_one_or_none()
    return value if isinstance(value, datetime) else None


def workers(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(worker_heartbeat).order_by(worker_heartbeat.c.beat_at.desc()).limit(limit)
        ).all()
    return [dict(r._mapping) for r in rows]
