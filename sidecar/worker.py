"""The worker loop: reap expired leases, drain the outbox, move feeds, beat the heart."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from sidecar import outbox_runner
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import Config
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.feeds import FeedPump
from sidecar.orders_sync import OrderSync
from sidecar.processing import Context, EventHandler

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        *,
        clients: ClientFactory | None = None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        clients = clients or ClientFactory(engine)
        self.ctx = Context(
            engine=engine, config=cfg, client_for=clients, limiter=clients.limiter, now=now
        )
        self.handler = EventHandler(self.ctx)
        self.pump = FeedPump(self.ctx, lease_seconds=cfg.lease_seconds)
        self.order_sync = OrderSync(engine, cfg, clients, clients.limiter, now)
        self.started_at = utcnow()
        self.rows_processed = 0

    def cycle(self) -> int:
        """One pass; returns how much work it did (0 = idle)."""
        reaped = outbox_dao.reap_expired(
            self.engine, self.ctx.now(), max_attempts=self.cfg.max_attempts
        )
        processed = outbox_runner.run_once(
            self.engine, self.cfg.worker_id, self.handler, self.cfg, clock=self.ctx.now
        )
        self.rows_processed += processed
        steps = self.pump.run_once()
        moved = sum(1 for s in steps if s.moved)
        synced = self.sync_orders()  # after the credit memos: a pass never delays a feed
        workers_dao.beat(
            self.engine,
            self.cfg.worker_id,
            rows_processed=self.rows_processed,
            started_at=self.started_at,
        )
        return synced + reaped + processed + moved

    def sync_orders(self) -> int:
        """The order sync's step (issue 9): pages stored by the accounts this worker leads.
        A failure here never stops the outbox and the feeds."""
        if not self.cfg.order_sync:
            return 0
        try:
            return self.order_sync.run_once()
        except Exception:
            log.exception("order sync failed")
            return 0

    def run(
        self, *, once: bool = False, stop: threading.Event | None = None, max_cycles: int = 10_000
    ) -> None:
        stop = stop or threading.Event()
        cycles = 0
        while not stop.is_set():
            try:
                work = self.cycle()
            except Exception:  # the loop survives a bad cycle (DB restart, network)
                log.exception("worker cycle failed")
                work = 0
            cycles += 1
            if once and (work == 0 or cycles >= max_cycles):
                return
            if work == 0:
                stop.wait(self.cfg.poll_interval_seconds)
