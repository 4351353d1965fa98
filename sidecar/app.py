"""Flask app: liveness/readiness, the admins' health page, metrics, and authenticated admin actions.

Run in production with gunicorn (`sidecar web`, or `gunicorn 'sidecar.app:create_app()'`).
Binds to 127.0.0.1 by default; nothing here shows a secret or SQL text.

Open: /livez, /readyz, /metrics (no order data). Everything else needs the admin: either a
bearer token (`Authorization: Bearer $SIDECAR_ADMIN_TOKEN`, for scripts) or a browser login
(/login, user "admin", password = the admin token) that sets a signed session cookie
(HttpOnly, SameSite=Strict); every POST made with the cookie carries the session's CSRF
token. The actor recorded for an action is the identity: "admin@web" or "token:admin".

The engines are created lazily in the process that serves requests (a gunicorn worker,
after the fork), never in the master. /readyz and the health page's first check use a
separate unpooled engine with short timeouts, so they answer within seconds while the
database hangs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import Engine, text
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from sidecar import config as config_mod
from sidecar.clock import utcnow
from sidecar.dao import feeds as feeds_dao
from sidecar.dao import order_sync as order_sync_dao
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import schema as schema_dao
from sidecar.dao import workers as workers_dao
from sidecar.db import LazyEngine, engine_for, scrub_sql
from sidecar.tables import apply_prefix

HEALTH_JSON = "application/health+json"
PROBLEM_STATUSES = ("needs_attention", "dead", "rejected")
ADMIN_USER = "admin"
SESSION_HOURS = 8


class _EngineSource(Protocol):
    def get(self) -> Engine: ...


class _Given:
    """An engine the caller made (tests, the demo): used as it is."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self) -> Engine:
        return self._engine


def create_app(cfg: config_mod.Config | None = None, engine: Engine | None = None) -> Flask:
    """No database connection is opened here: gunicorn's master calls this before it forks."""
    cfg = cfg or config_mod.from_env()
    app = Flask(__name__)
    main: _EngineSource
    probe: _EngineSource
    if engine is not None:
        main = probe = _Given(engine)
    else:
        conf = cfg
        # no pool in the web process: a page is asked for rarely, and a pooled socket that an
        # outage killed silently would cost a whole read timeout on the next page
        main = LazyEngine(lambda: engine_for(conf, pooled=False))
        # an in-memory SQLite database exists once: probe it through the same engine
        probe = main if cfg.database_url.startswith("sqlite") else LazyEngine(
            lambda: engine_for(conf, probe=True)
        )
    apply_prefix(cfg.table_prefix)
    app.extensions["refund_bridge"] = {"config": cfg, "engine": main, "probe": probe}
    _configure_session(app, cfg)

    app.add_url_rule("/livez", view_func=livez)
    app.add_url_rule("/readyz", view_func=readyz)
    app.add_url_rule("/", view_func=health_page)
    app.add_url_rule("/metrics", view_func=metrics)
    app.add_url_rule("/login", view_func=login, methods=["GET", "POST"])
    app.add_url_rule("/logout", view_func=logout, methods=["POST"])
    for action, view in (("requeue", admin_requeue), ("resolve", admin_resolve)):
        app.add_url_rule(
            f"/admin/outbox/<int:outbox_id>/{action}", view_func=view, methods=["POST"]
        )
    app.register_error_handler(HTTPException, _http_error)
    app.after_request(_back_to_the_page)
    app.add_template_filter(_clean, "clean")
    return app


def _configure_session(app: Flask, cfg: config_mod.Config) -> None:
    # without SIDECAR_SECRET_KEY(_FILE) a key is made per start (gunicorn: in the master,
    # shared by its workers): logins then last until the web server restarts
    key = cfg.web_secret_key.reveal() if cfg.web_secret_key else secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="refund_bridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=cfg.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )


def _cfg() -> config_mod.Config:
    cfg: config_mod.Config = current_app.extensions["refund_bridge"]["config"]
    return cfg


def _engine() -> Engine:
    source: _EngineSource = current_app.extensions["refund_bridge"]["engine"]
    return source.get()


def _probe_engine() -> Engine:
    source: _EngineSource = current_app.extensions["refund_bridge"]["probe"]
    return source.get()


def _clean(value: object) -> str:
    """Template filter: a stored message without any SQL text (older rows may hold some)."""
    return scrub_sql(None if value is None else str(value)) or ""


def _health(status: str, checks: dict[str, Any], code: int) -> Response:
    body = {"status": status, "checks": checks}
    return Response(json.dumps(body, default=str), status=code, mimetype=HEALTH_JSON)


def livez() -> Response:
    return _health("pass", {}, 200)


def _db_ok() -> bool:
    """SELECT 1 on the probe engine: bounded by its short timeouts (DB hang = fail fast)."""
    try:
        with _probe_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # the page reports it; the reason goes to the log, not the page
        current_app.logger.exception("database check failed")
        main = current_app.extensions["refund_bridge"]["engine"]
        if isinstance(main, LazyEngine):
            main.drop_pool()  # never reuse a socket the outage may have killed silently
        return False


def _worker_state() -> tuple[bool, str]:
    last = workers_dao.latest_beat(_probe_engine())
    if last is None:
        return False, "no worker has reported yet"
    age = (utcnow() - last).total_seconds()
    fresh = age <= _cfg().heartbeat_stale_seconds
    return fresh, f"last heartbeat {age:.0f}s ago"


def _tables_problem() -> str | None:
    """A prefixed Magento in this database (sidecar/dao/schema.py); None when fine."""
    try:
        return schema_dao.tables_problem(_engine(), _cfg().table_prefix)
    except Exception:  # the database check reports an unreachable database
        current_app.logger.exception("table check failed")
        return None


def readyz() -> Response:
    db_ok = _db_ok()
    checks: dict[str, Any] = {"database:connection": [{"status": "pass" if db_ok else "fail"}]}
    worker_ok = False
    tables_ok = True
    if db_ok:
        try:
            worker_ok, detail = _worker_state()
        except Exception:  # the database stopped answering between the two checks
            current_app.logger.exception("heartbeat check failed")
            worker_ok, detail = False, "the heartbeat could not be read"
        checks["worker:heartbeat"] = [{"status": "pass" if worker_ok else "fail", "output": detail}]
        problem = _tables_problem()
        tables_ok = problem is None
        checks["database:tables"] = [
            {"status": "pass" if tables_ok else "fail", "output": problem or "unprefixed"}
        ]
    accounts_ok = bool(_cfg().accounts)  # no account: every Amazon credit memo would fail
    checks["config:accounts"] = [{
        "status": "pass" if accounts_ok else "fail",
        "output": f"{len(_cfg().accounts)} Amazon account(s)" if accounts_ok
        else "no Amazon account configured (SIDECAR_ACCOUNTS_FILE): nothing can be sent",
    }]
    ok = db_ok and worker_ok and tables_ok and accounts_ok
    return _health("pass" if ok else "fail", checks, 200 if ok else 503)


def health_page() -> Response | BaseResponse | str:
    if _identity(page=True) is None:
        return redirect(url_for("login", next="/"))
    engine = _engine()
    db_ok = _db_ok()
    counts: dict[str, int] = {}
    problems: list[Any] = []
    recent: list[Any] = []
    skipped: list[Any] = []
    feeds: list[dict[str, Any]] = []
    amazon_orders: list[dict[str, object]] = []
    syncs: list[Any] = []
    oldest = "n/a"
    worker_ok, worker_text = False, "unknown"
    tables_problem = _tables_problem() if db_ok else None
    if db_ok and tables_problem is None:  # on the wrong tables nothing here would be true
        counts = outbox_dao.status_counts(engine)
        for status in PROBLEM_STATUSES:
            problems.extend(outbox_dao.list_rows(engine, status=status, limit=20))
        recent = outbox_dao.list_rows(engine, limit=20)
        skipped = outbox_dao.list_rows(engine, status="skipped", limit=20)
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
        skipped=skipped,
        feeds=feeds,
        amazon_orders=amazon_orders,
        syncs=syncs,
        oldest=oldest,
        worker_ok=worker_ok,
        worker_text=worker_text,
        tables_problem=tables_problem,
        accounts=_cfg().accounts,
        csrf_token=_csrf_token() if g.get("auth_via") == "session" else "",
        signed_in=g.get("auth_via") == "session",
        flashes=get_flashed_messages(),
        requeueable=REQUEUEABLE_ON_PAGE,
    )


def metrics() -> Response:
    engine = _probe_engine()  # short timeouts: a scrape never hangs on a stuck database
    registry = CollectorRegistry()
    rows = Gauge(
        "refund_bridge_outbox_rows", "Outbox rows by status", ["status"], registry=registry
    )
    for status, n in outbox_dao.status_counts(engine).items():
        rows.labels(status=status).set(n)
    oldest = Gauge(
        "refund_bridge_outbox_oldest_pending_seconds",
        "Age of the oldest pending row",
        registry=registry,
    )
    oldest.set(outbox_dao.oldest_pending_age_seconds(engine) or 0)
    feeds = Gauge("refund_bridge_feeds", "Feeds by state", ["state"], registry=registry)
    for state, n in feeds_dao.feed_counts(engine).items():
        feeds.labels(state=state).set(n)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


# ------------------------------------------------------------------ admin auth

REQUEUEABLE_ON_PAGE = ("dead", "rejected", "skipped")


def _admin_token() -> str:
    token = _cfg().admin_token
    if token is None:
        abort(403, "admin actions and the health page are disabled: set SIDECAR_ADMIN_TOKEN(_FILE)")
    return token.reveal()


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _token_tag(token: str) -> str:
    """Ties a session to the token it logged in with: changing the token ends every login."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()[:32]


def _identity(*, page: bool = False) -> str | None:
    """Who is asking: "token:admin" (bearer), "admin@web" (session), or None. A wrong
    bearer token is 401 at once; page=True lets the caller send a browser to /login."""
    token = _admin_token()
    header = request.headers.get("Authorization")
    if header is not None:
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not _same(given, token):
            abort(401, "a valid admin bearer token is required")
        g.auth_via = "token"
        return f"token:{ADMIN_USER}"
    if session.get("user") == ADMIN_USER and _same(str(session.get("tk", "")), _token_tag(token)):
        g.auth_via = "session"
        return f"{ADMIN_USER}@web"
    if page:
        return None
    abort(401, "a valid admin bearer token or a login (/login) is required")


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _check_csrf() -> None:
    given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not _same(given, str(session.get("csrf", ""))):
        abort(403, "the form's CSRF token is missing or wrong: reload the page and try again")


def _require_admin() -> str:
    """The authenticated actor; a POST made with the session cookie must carry its CSRF token."""
    actor = _identity()
    assert actor is not None
    if g.get("auth_via") == "session":
        _check_csrf()
    return actor


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host after the login (open redirect)."""
    target = target or "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or "\\" in target:
        return "/"
    return target


def login() -> Response | BaseResponse | str:
    token = _admin_token()
    error = ""
    if request.method == "POST":
        _check_csrf()
        user = request.form.get("username", "")
        if _same(user, ADMIN_USER) and _same(request.form.get("password", ""), token):
            session.clear()  # no fixation: a fresh session and CSRF token at each login
            session.permanent = True
            session.update(user=ADMIN_USER, tk=_token_tag(token),
                           csrf=secrets.token_urlsafe(32))
            return redirect(_safe_next(request.form.get("next")), code=303)
        current_app.logger.warning("failed admin login from %s", request.remote_addr)
        error = "Wrong user name or password."
    page = render_template(
        "login.html", csrf_token=_csrf_token(), error=error, user=ADMIN_USER,
        next=_safe_next(request.values.get("next")),
    )
    return Response(page, status=401 if error else 200, mimetype="text/html")


def logout() -> BaseResponse:
    _check_csrf()
    session.clear()
    return redirect(url_for("login"), code=303)


def _http_error(exc: HTTPException) -> Response | HTTPException:
    g.error_text = exc.description
    return exc


def _back_to_the_page(resp: Response) -> Response | BaseResponse:
    """A form posted from the page (session login) gets the page back with the outcome, not
    the API's JSON."""
    if not (g.get("auth_via") == "session" and request.method == "POST"
            and request.mimetype == "application/x-www-form-urlencoded"
            and request.path.startswith("/admin/")):
        return resp
    action = request.path.rstrip("/").rsplit("/", 2)
    what = f"{action[-1]} of row {action[-2]}"
    if resp.status_code < 300:
        flash(f"{what}: done")
    else:
        why = g.get("error_text") or resp.get_data(as_text=True)
        flash(f"{what} refused ({resp.status_code}): {why}")
    return redirect(url_for("health_page"), code=303)


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        return body
    if request.form:  # the health page's forms
        return {k: v for k, v in request.form.items() if k != "csrf_token"}
    return {}


def _reason() -> str:
    reason = str(_body().get("reason", "")).strip()
    if not reason:
        abort(400, "a reason is required")
    return reason


def admin_requeue(outbox_id: int) -> Response:
    actor = _require_admin()
    try:
        done = outbox_dao.requeue(_engine(), [outbox_id], actor=actor, reason=_reason())
    except outbox_dao.NeedsResolution as exc:
        hint = f'; or POST /admin/outbox/{outbox_id}/resolve {{"outcome": "done"|"requeue"}}'
        return Response(
            json.dumps({"requeued": [], "error": f"{exc}{hint}"}),
            status=409,
            mimetype="application/json",
        )
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
