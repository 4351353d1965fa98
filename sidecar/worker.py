"""The worker loop: reap expired leases, drain the outbox, move feeds, beat the heart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from sidecar import outbox_runner
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import Config
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.dao.schema import WrongTables, check_tables
from sidecar.db import is_connection_error, is_mysql
from sidecar.feeds import FeedPump
from sidecar.orders_sync import OrderSync
from sidecar.processing import Context, EventHandler
from sidecar.tables import apply_prefix

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        cfg: Config,
        engine: Engine,
        *,
        clients: ClientFactory | None = None,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.engine = engine
        apply_prefix(cfg.table_prefix)
        clients = clients or ClientFactory(engine)
        self.ctx = Context(
            engine=engine, config=cfg, client_for=clients, limiter=clients.limiter, now=now
        )
        self.handler = EventHandler(self.ctx)
        self.pump = FeedPump(self.ctx, lease_seconds=cfg.lease_seconds)
        self.order_sync = OrderSync(engine, cfg, clients, clients.limiter, now)
        self.started_at = utcnow()
        self.rows_processed = 0
        self._monotonic = monotonic
        self._last_beat: float | None = None

    def beat(self, *, force: bool = False) -> None:
        """Write the heartbeat if heartbeat_interval_seconds passed since the last one."""
        now = self._monotonic()
        last = self._last_beat
        if not force and last is not None and now - last < self.cfg.heartbeat_interval_seconds:
            return
        workers_dao.beat(
            self.engine,
            self.cfg.worker_id,
            rows_processed=self.rows_processed,
            started_at=self.started_at,
        )
        self._last_beat = now

    def _row_done(self) -> None:
        self.rows_processed += 1
        self.beat()

    def cycle(self) -> int:
        """One pass; returns how much work it did (0 = idle). Beats at the start, after rows
        of a long batch (at least every heartbeat_interval_seconds) and at the end, so
        /readyz stays green while a healthy worker drains a backlog."""
        self.beat()
        reaped = outbox_dao.reap_expired(
            self.engine, self.ctx.now(), max_attempts=self.cfg.max_attempts
        )
        processed = outbox_runner.run_once(
            self.engine, self.cfg.worker_id, self.handler, self.cfg, clock=self.ctx.now,
            after_row=self._row_done,
        )
        self.beat()
        steps = self.pump.run_once()
        moved = sum(1 for s in steps if s.moved)
        synced = self.sync_orders()  # after the credit memos: a pass never delays a feed
        self.beat(force=True)
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

    def _drop_dead_connections(self, exc: Exception) -> None:
        """After a lost or timed-out connection, close the whole pool: its other sockets may be
        silently dead too, and each would cost a read timeout on its next pre-ping."""
        if is_mysql(self.engine) and is_connection_error(exc):
            log.warning("database connection lost; reconnecting on the next cycle")
            self.engine.dispose()

    def run(
        self, *, once: bool = False, stop: threading.Event | None = None, max_cycles: int = 10_000
    ) -> None:
        stop = stop or threading.Event()
        tables_checked = False
        cycles = 0
        while not stop.is_set():
            try:
                if not tables_checked:  # WrongTables stops the worker: never the wrong tables
                    check_tables(self.engine, self.cfg.table_prefix)
                    tables_checked = True
                work = self.cycle()
            except WrongTables:
                raise
            except Exception as exc:  # the loop survives a bad cycle (DB restart, network)
                log.exception("worker cycle failed")
                self._drop_dead_connections(exc)
                work = 0
            cycles += 1
            if once and (work == 0 or cycles >= max_cycles):
                return
            if work == 0:
                stop.wait(self.cfg.poll_interval_seconds)
