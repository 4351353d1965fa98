"""`sidecar` console script: migrate, worker, web, demo, and the DBA's outbox commands."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from sidecar import config as config_mod
from sidecar.clock import utcnow
from sidecar.dao.schema import WrongTables, check_tables
from sidecar.db import UnsupportedServer, check_server, engine_for, scrub_sql
from sidecar.migrate import migrate
from sidecar.tables import apply_prefix

log = logging.getLogger("sidecar")


def _engine(cfg: config_mod.Config) -> Any:
    try:
        engine = engine_for(cfg)
    except (ArgumentError, NoSuchModuleError) as exc:  # the messages never quote the URL
        raise config_mod.ConfigError(f"SIDECAR_DATABASE_URL: {exc}") from None
    check_server(engine)
    apply_prefix(cfg.table_prefix)
    check_tables(engine, cfg.table_prefix)  # never run silently on the wrong tables
    return engine


def cmd_migrate(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    applied = migrate(_engine(cfg), with_magento_tables=args.demo_magento_tables)
    print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")
    return 0


def cmd_worker(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from sidecar.worker import Worker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Worker(cfg, _engine(cfg)).run(once=args.once, stop=stop)
    return 0


def cmd_web(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    from sidecar.app import create_app

    # refuse an unsupported server before starting, then close that connection: the master
    # must not hold a socket its workers would inherit (each worker makes its own engine)
    _engine(cfg).dispose()
    app = create_app(cfg)
    # a request stuck on the database fails by the DB timeouts before gunicorn kills it
    timeout = max(30, int(cfg.db_connect_timeout_seconds + 2 * cfg.db_read_timeout_seconds) + 10)

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", args.bind or cfg.bind)
            self.cfg.set("workers", args.workers)
            self.cfg.set("accesslog", "-")
            self.cfg.set("timeout", timeout)
            self.cfg.set("preload_app", False)

        def load(self) -> Any:
            return app

    _Gunicorn().run()
    return 0


def cmd_demo(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from sidecar.demo import run_demo

    return run_demo(port=args.port, database=args.database, cycles=args.cycles)


def _print_rows(rows: Sequence[Any]) -> None:
    for r in rows:
        msg = (scrub_sql(r.status_message or r.last_error) or "").replace("\n", " ")
        print(
            f"{r.id:>8}  {r.event_type:<10} {r.entity_id:>8}  order {r.order_id:<8} "
            f"{r.status:<16} attempts={r.attempts:<3} {r.updated_at}  {msg}"
        )


def cli_actor() -> str:
    """Who acts from the command line: the OS user, never free text."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        user = "unknown"
    return f"cli:{user}"[:128]


def cmd_outbox(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    from sidecar.dao import outbox as dao

    engine = _engine(cfg)
    if args.outbox_cmd == "status":
        counts = dao.status_counts(engine)
        age = dao.oldest_pending_age_seconds(engine)
        if args.json:
            print(json.dumps({"counts": counts, "oldest_pending_age_seconds": age}))
            return 0
        for status, n in sorted(counts.items()):
            print(f"{status:<16} {n}")
        print(f"oldest pending: {'none' if age is None else f'{age:.0f}s'}")
        return 0
    if args.outbox_cmd == "list":
        _print_rows(dao.list_rows(engine, status=args.status, limit=args.limit))
        return 0
    if args.outbox_cmd == "show":
        row = dao.get(engine, args.id)
        if row is None:
            print(f"no outbox row {args.id}", file=sys.stderr)
            return 1
        for key, value in row.__dict__.items():
            if key in ("status_message", "last_error"):
                value = scrub_sql(value)  # rows stored by older versions may quote SQL
            print(f"{key}: {value}")
        return 0
    actor = cli_actor()
    if args.outbox_cmd == "requeue":
        if not args.id and not args.status:
            print("give --id or --status", file=sys.stderr)
            return 2
        try:
            done = dao.requeue(
                engine,
                args.id or None,
                status=None if args.id else args.status,
                actor=actor,
                reason=args.reason,
            )
        except dao.NeedsResolution as exc:
            print(f"sidecar: {exc}", file=sys.stderr)
            return 1
        print(f"requeued {len(done)} row(s): {', '.join(map(str, done))}")
        return 0 if done else 1
    if args.outbox_cmd == "resolve":
        from sidecar.resolution import resolve

        ok = resolve(engine, args.id, done=args.done, actor=actor, reason=args.reason)
        if ok:
            print(f"row {args.id} resolved as {'done' if args.done else 'requeued'}")
            return 0
        row = dao.get(engine, args.id)
        hint = (
            f"; to send it again: `sidecar outbox requeue --id {args.id} --reason ...`"
            if row is not None and row.status in dao.REQUEUEABLE
            else ""
        )
        print(f"row {args.id} is not waiting for a human (needs_attention); nothing changed{hint}")
        return 1
    return 2


def _since(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since wants an ISO 8601 time such as 2026-11-30T00:00:00Z, got {value!r}"
        ) from None
    return when.astimezone(UTC).replace(tzinfo=None) if when.tzinfo else when


def cmd_orders(cfg: config_mod.Config, args: argparse.Namespace) -> int:
    """The order sync for a DBA: one pass now per account and marketplace (docs/order-sync.md)."""
    from sidecar.clients import ClientFactory
    from sidecar.dao import order_sync as sync_dao
    from sidecar.orders_sync import OrderSync

    engine = _engine(cfg)
    if args.orders_cmd == "status":
        for st in sync_dao.all_states(engine):
            print(f"{st.account_id:<16} {st.marketplace_id:<16} checkpoint={st.checkpoint} "
                  f"covered_from={st.covered_from} passes={st.passes} "
                  f"orders={st.orders_stored} in_pass={st.in_pass} "
                  f"error={st.last_error or '-'}")
        return 0
    accounts = [a for a in cfg.accounts if not args.account or a.account_id == args.account]
    if not accounts:
        print("no such account in SIDECAR_ACCOUNTS_FILE", file=sys.stderr)
        return 2
    clients = ClientFactory(engine)
    sync = OrderSync(engine, cfg, clients, clients.limiter, utcnow, owner=f"cli:{cfg.worker_id}")
    failed = 0
    for account in accounts:
        held = sync_dao.lease_holder(engine, account.account_id, utcnow())
        if held is not None and held[0] != sync.owner:
            print(f"{account.account_id}: worker {held[0]} leads its sync until {held[1]}; "
                  "run again then (or stop that worker)", file=sys.stderr)
            failed += 1
            continue
        try:
            for m in account.marketplaces:
                r = sync.sync(account, m.marketplace_id, since=args.since, wait=True)
                print(f"{account.account_id} {m.marketplace_id}: {r.pages} page(s), "
                      f"{r.orders} order(s) stored, "
                      f"{'pass complete' if r.completed else 'nothing to do or not complete'}")
        finally:
            sync_dao.release_lease(engine, account.account_id, sync.owner)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sidecar", description="Magento <-> Amazon refund bridge")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("migrate", help="apply sql/mysql migrations (safe to run again)")
    m.add_argument(
        "--demo-magento-tables",
        action="store_true",
        help="SQLite only: also create the Magento tables the sidecar touches",
    )
    m.set_defaults(fn=cmd_migrate)

    w = sub.add_parser("worker", help="drain the outbox and move feeds")
    w.add_argument("--once", action="store_true", help="process until idle, then exit")
    w.set_defaults(fn=cmd_worker)

    web = sub.add_parser("web", help="health page and admin API under gunicorn")
    web.add_argument("--bind", default=None, help="default SIDECAR_BIND or 127.0.0.1:8080")
    web.add_argument("--workers", type=int, default=2)
    web.set_defaults(fn=cmd_web)

    d = sub.add_parser("demo", help="embedded demo: SQLite + SP-API emulator + demo data")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--database", default="var/demo.sqlite")
    d.add_argument("--cycles", type=int, default=0, help="stop after N worker cycles (0: run)")
    d.set_defaults(fn=cmd_demo)

    o = sub.add_parser("outbox", help="inspect and repair outbox rows")
    osub = o.add_subparsers(dest="outbox_cmd", required=True)
    st = osub.add_parser("status", help="rows per status and the oldest pending age")
    st.add_argument("--json", action="store_true")
    ls = osub.add_parser("list", help="rows, newest first")
    ls.add_argument("--status")
    ls.add_argument("--limit", type=int, default=50)
    sh = osub.add_parser("show", help="one row")
    sh.add_argument("id", type=int)
    rq = osub.add_parser(
        "requeue", help="send dead/rejected/skipped rows back (needs_attention: use resolve)"
    )
    rq.add_argument("--id", type=int, action="append", default=[])
    rq.add_argument("--status", choices=["dead", "rejected", "skipped", "needs_attention"])
    rq.add_argument("--reason", required=True)
    rs = osub.add_parser("resolve", help="settle a needs_attention row after checking Amazon")
    rs.add_argument("id", type=int)
    how = rs.add_mutually_exclusive_group(required=True)
    how.add_argument("--done", action="store_true", help="the refund IS on Amazon")
    how.add_argument("--requeue", action="store_true", help="it is NOT: decide and send again")
    rs.add_argument("--reason", required=True)
    o.set_defaults(fn=cmd_outbox)

    orders = sub.add_parser("orders", help="the order sync (searchOrders) for a DBA")
    orsub = orders.add_subparsers(dest="orders_cmd", required=True)
    sy = orsub.add_parser("sync", help="one pass now per account and marketplace")
    sy.add_argument("--since", type=_since, default=None,
                    help="re-read orders updated since this ISO 8601 time (UTC when no zone)")
    sy.add_argument("--account", help="only this account")
    orsub.add_parser("status", help="checkpoints per account and marketplace")
    orders.set_defaults(fn=cmd_orders)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = config_mod.from_env()
        return int(args.fn(cfg, args))
    except (config_mod.ConfigError, UnsupportedServer, WrongTables) as exc:
        print(f"sidecar: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "utcnow"]
