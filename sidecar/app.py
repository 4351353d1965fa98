"""Flask app: liveness/readiness, the admins' health page, metrics, and authenticated admin actions.

Run in production with gunicorn (`sidecar web`, or `gunicorn 'sidecar.app:create_app()'`).
Binds to 127.0.0.1 by default; nothing here shows a secret.
"""

from __future__ import annotations

import hmac
import json
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, current_app, render_template, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import Engine, text

from sidecar import config as config_mod
from sidecar.clock import utcnow
from sidecar.dao import feeds as feeds_dao
from sidecar.dao import order_sync as order_sync_dao
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.db import make_engine

HEALTH_JSON = "application/health+json"
PROBLEM_STATUSES = ("needs_attention", "dead", "rejected")


def create_app(cfg: config_mod.Config | None = None, engine: Engine | None = None) -> Flask:
    cfg = cfg or config_mod.from_env()
    app = Flask(__name__)
    engine = engine or make_engine(cfg.database_url)
    app.extensions["refund_bridge"] = {"config": cfg, "engine": engine}

    app.add_url_rule("/livez", view_func=livez)
    app.add_url_rule("/readyz", view_func=readyz)
    app.add_url_rule("/", view_func=health_page)
    app.add_url_rule("/metrics", view_func=metrics)
    for action, view in (("requeue", admin_requeue), ("resolve", admin_resolve)):
        app.add_url_rule(
            f"/admin/outbox/<int:outbox_id>/{action}", view_func=view, methods=["POST"]
        )
    return app


def _cfg() -> config_mod.Config:
    cfg: config_mod.Config = current_app.extensions["refund_bridge"]["config"]
    return cfg


def _engine() -> Engine:
    engine: Engine = current_app.extensions["refund_bridge"]["engine"]
    return engine


def _health(status: str, checks: dict[str, Any], code: int) -> Response:
    body = {"status": status, "checks": checks}
    return Response(json.dumps(body, default=str), status=code, mimetype=HEALTH_JSON)


def livez() -> Response:
    return _health("pass", {}, 200)


def _db_ok() -> bool:
    try:
        with _engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # the page reports it; the reason goes to the log, not the page
        current_app.logger.exception("database check failed")
        return False


def _worker_state() -> tuple[bool, str]:
    last = workers_dao.latest_beat(_engine())
    if last is None:
        return False, "no worker has reported yet"
    age = (utcnow() - last).total_seconds()
    fresh = age <= _cfg().heartbeat_stale_seconds
    return fresh, f"last heartbeat {age:.0f}s ago"


def readyz() -> Response:
    db_ok = _db_ok()
    checks: dict[str, Any] = {"database:connection": [{"status": "pass" if db_ok else "fail"}]}
    worker_ok = False
    if db_ok:
        worker_ok, detail = _worker_state()
        checks["worker:heartbeat"] = [{"status": "pass" if worker_ok else "fail", "output": detail}]
    ok = db_ok and worker_ok
    return _health("pass" if ok else "fail", checks, 200 if ok else 503)


def health_page() -> str:
    engine = _engine()
    db_ok = _db_ok()
    counts: dict[str, int] = {}
    problems: list[Any] = []
    recent: list[Any] = []
    feeds: list[dict[str, Any]] = []
    amazon_orders: list[dict[str, object]] = []
    syncs: list[Any] = []
    oldest = "n/a"
    worker_ok, worker_text = False, "unknown"
    if db_ok:
        counts = outbox_dao.status_counts(engine)
        for status in PROBLEM_STATUSES:
            problems.extend(outbox_dao.list_rows(engine, status=status, limit=20))
        recent = outbox_dao.list_rows(engine, limit=20)
        feeds = feeds_dao.recent_feeds(engine)
        amazon_orders = order_sync_dao.recent_orders(engine)
        syncs = order_sync_dao.all_states(engine)
        age = outbox_dao.oldest_pending_age_seconds(engine)
        oldest = "none" if age is None else str(timedelta(seconds=int(age)))
        worker_ok, worker_text = _worker_state()
    return render_template(
        "health.html",
        db_ok=db_ok,
        counts=sorted(counts.items()),
        problems=problems,
        recent=recent,
        feeds=feeds,
        amazon_orders=amazon_orders,
        syncs=syncs,
        oldest=oldest,
        worker_ok=worker_ok,
        worker_text=worker_text,
        accounts=_cfg().accounts,
    )


def metrics() -> Response:
    registry = CollectorRegistry()
    rows = Gauge(
        "refund_bridge_outbox_rows", "Outbox rows by status", ["status"], registry=registry
    )
    for status, n in outbox_dao.status_counts(_engine()).items():
        rows.labels(status=status).set(n)
    oldest = Gauge(
        "refund_bridge_outbox_oldest_pending_seconds",
        "Age of the oldest pending row",
        registry=registry,
    )
    oldest.set(outbox_dao.oldest_pending_age_seconds(_engine()) or 0)
    feeds = Gauge("refund_bridge_feeds", "Feeds by state", ["state"], registry=registry)
    for state, n in feeds_dao.feed_counts(_engine()).items():
        feeds.labels(state=state).set(n)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _require_admin() -> str:
    token = _cfg().admin_token
    if token is None:
        abort(403, "admin actions are disabled: set SIDECAR_ADMIN_TOKEN(_FILE)")
    header = request.headers.get("Authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), token.reveal().encode()):
        abort(401, "a valid admin bearer token is required")
    return (request.headers.get("X-Actor", "").strip() or "admin-web")[:128]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _reason() -> str:
    reason = str(_body().get("reason", "")).strip()
    if not reason:
        abort(400, "a reason is required")
    return reason


def admin_requeue(outbox_id: int) -> Response:
    actor = _require_admin()
    done = outbox_dao.requeue(_engine(), [outbox_id], actor=actor, reason=_reason())
    return Response(
        json.dumps({"requeued": done}), status=200 if done else 409, mimetype="application/json"
    )


def admin_resolve(outbox_id: int) -> Response:
    from sidecar.resolution import resolve

    actor = _require_admin()
    outcome = str(_body().get("outcome", ""))
    if outcome not in ("done", "requeue"):
        abort(400, "outcome must be 'done' or 'requeue'")
    ok = resolve(_engine(), outbox_id, done=outcome == "done", actor=actor, reason=_reason())
    return Response(
        json.dumps({"resolved": ok}), status=200 if ok else 409, mimetype="application/json"
    )
