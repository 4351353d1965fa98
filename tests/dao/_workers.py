"""Worker processes for the concurrency tests (module level so 'spawn' can import them)."""

from __future__ import annotations

import threading
from datetime import datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from sidecar.dao import outbox
from sidecar.db import make_engine


def drain(
    url: str, worker_id: str, now_iso: str, ready: Queue[Any], go: Event, results: Queue[Any],
) -> None:
    """Claim batches until none is left; mark each row done; report the ids claimed."""
    engine = make_engine(url)
    claimed: list[int] = []
    lost: list[int] = []
    error = ""
    try:
        with engine.connect():
            pass  # connect before the start signal so all workers really start together
        ready.put(worker_id)
        go.wait(60)
        now = datetime.fromisoformat(now_iso)
        while rows := outbox.claim(engine, worker_id, batch_size=25, lease_seconds=300, now=now):
            for row in rows:
                claimed.append(row.id)
                if not outbox.complete(engine, row, outbox.DONE, f"by {worker_id}", now=now):
                    lost.append(row.id)
    except Exception as exc:  # reported to the parent, which fails the test
        error = f"{type(exc).__name__}: {exc}"
    finally:
        engine.dispose()
    results.put((worker_id, claimed, lost, error))


def claim_and_hang(
    url: str, worker_id: str, batch_size: int, lease_seconds: int, now_iso: str,
    results: Queue[Any],
) -> None:
    """Claim a batch, report it, then block forever (until the test kills us with SIGKILL)."""
    engine = make_engine(url)
    rows = outbox.claim(
        engine, worker_id, batch_size=batch_size, lease_seconds=lease_seconds,
        now=datetime.fromisoformat(now_iso),
    )
    results.put([r.id for r in rows])
    threading.Event().wait()  # "processing" that never ends
