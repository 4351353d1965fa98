"""sidecar.app: /livez, /readyz, the health page, /metrics and the admin API.

Most tests run on the real MariaDB (`engine`); the page and probes also on SQLite, which is
what the embedded demo serves.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, insert, select

from sidecar.amazon.credentials import AccountCredentials, Secret
from sidecar.app import HEALTH_JSON, create_app
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.db import make_engine
from sidecar.domain import AccountSettings
from sidecar.tables import outbox, worker_heartbeat
from tests.support.rows import (
    add_feed_message,
    add_ledger_row,
    add_outbox_row,
    audit_rows,
    feed_message_row,
    ledger_states,
)

ADMIN_TOKEN = "admin-token-7f3c9a1e-do-not-print"
SECRETS = {
    "lwa_client_secret": "lwa-secret-Q9zK2mXv-never-shown",
    "refresh_token": "Atzr|refresh-token-R4nD0m-never-shown",
    "aws_access_key_id": "AKIANEVERSHOWNKEY123",
    "aws_secret_access_key": "aws-secret-W8pLq5-never-shown",
}


def account() -> AmazonAccount:
    return AmazonAccount(
        account_id="eu-main", seller_id="A1EXAMPLESELLER", marketplace_id="A1PA6795UKMFR9",
        store_ids=(1, 4),
        credentials=AccountCredentials(
            lwa_client_id="amzn1.application-oa2-client.example",
            lwa_client_secret=Secret(SECRETS["lwa_client_secret"]),
            refresh_token=Secret(SECRETS["refresh_token"]),
            aws_access_key_id=Secret(SECRETS["aws_access_key_id"]),
            aws_secret_access_key=Secret(SECRETS["aws_secret_access_key"]),
        ),
        settings=AccountSettings(account_id="eu-main", refund_on_creditmemo=True),
    )


def config(*, admin: bool = True) -> Config:
    return Config(database_url="sqlite://", accounts=(account(),), worker_id="test-web",
                  admin_token=Secret(ADMIN_TOKEN) if admin else None)


def client_for(engine: Engine, cfg: Config | None = None) -> FlaskClient:
    app: Flask = create_app(cfg or config(), engine)
    app.testing = True
    return app.test_client()


@pytest.fixture(params=["mariadb", "sqlite"])
def db(request: pytest.FixtureRequest) -> Engine:
    """The same test on the real MariaDB and on the embedded demo's SQLite."""
    eng: Engine = request.getfixturevalue("engine" if request.param == "mariadb"
                                          else "sqlite_engine")
    return eng


@pytest.fixture
def client(engine: Engine) -> FlaskClient:
    return client_for(engine)


@pytest.fixture
def unreachable_engine() -> Iterator[Engine]:
    """An engine to a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eng = make_engine(f"mysql+pymysql://root@127.0.0.1:{port}/nowhere")
    yield eng
    eng.dispose()


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def beat(engine: Engine) -> None:
    workers_dao.beat(engine, "w1", rows_processed=0, started_at=utcnow())


# ------------------------------------------------------------------- probes


def test_livez_passes_without_a_database(unreachable_engine: Engine) -> None:
    resp = client_for(unreachable_engine).get("/livez")
    assert resp.status_code == 200
    assert resp.mimetype == HEALTH_JSON
    assert resp.get_json(force=True) == {"status": "pass", "checks": {}}


def test_readyz_fails_until_a_worker_beats(db: Engine) -> None:
    client = client_for(db)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == HEALTH_JSON
    body = json.loads(resp.get_data(as_text=True))
    assert body["status"] == "fail"
    assert body["checks"]["database:connection"] == [{"status": "pass"}]
    assert body["checks"]["worker:heartbeat"][0]["status"] == "fail"
    assert "no worker" in body["checks"]["worker:heartbeat"][0]["output"]

    beat(db)
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = json.loads(resp.get_data(as_text=True))
    assert body["status"] == "pass"
    assert body["checks"]["worker:heartbeat"][0]["status"] == "pass"


def test_readyz_and_the_page_are_loud_without_any_amazon_account(db: Engine) -> None:
    """A misconfiguration (no account at all) is a failing check and a banner, never a
    worker that idles with a green /readyz."""
    beat(db)
    cfg = dataclasses.replace(config(), accounts=())
    client = client_for(db, cfg)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    check = json.loads(resp.get_data(as_text=True))["checks"]["config:accounts"][0]
    assert check["status"] == "fail" and "SIDECAR_ACCOUNTS_FILE" in check["output"]
    page = client.get("/", headers=auth()).get_data(as_text=True)
    assert "No Amazon account configured" in page
    assert client_for(db).get("/readyz").status_code == 200  # with an account: ready


def test_readyz_fails_on_a_stale_heartbeat(engine: Engine) -> None:
    old = utcnow() - timedelta(seconds=config().heartbeat_stale_seconds + 60)
    with engine.begin() as conn:
        conn.execute(insert(worker_heartbeat).values(
            worker_id="gone", hostname="h", pid=1, started_at=old, beat_at=old, rows_processed=3,
        ))
    resp = client_for(engine).get("/readyz")
    assert resp.status_code == 503
    check = resp.get_json(force=True)["checks"]["worker:heartbeat"][0]
    assert check["status"] == "fail"
    assert "last heartbeat" in check["output"]


def test_readyz_503_when_the_database_is_unreachable(unreachable_engine: Engine) -> None:
    resp = client_for(unreachable_engine).get("/readyz")
    assert resp.status_code == 503
    assert resp.mimetype == HEALTH_JSON
    body = resp.get_json(force=True)
    assert body["status"] == "fail"
    assert body["checks"]["database:connection"] == [{"status": "fail"}]
    assert set(body["checks"]) == {"database:connection", "config:accounts"}


def test_health_page_says_the_database_is_unreachable(unreachable_engine: Engine) -> None:
    resp = client_for(unreachable_engine).get("/", headers=auth())
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "unreachable" in page
    assert "nowhere" not in page  # no connection details (or errors) on the page


# --------------------------------------------------------------- health page


def test_health_page_lists_counts_and_why_a_row_died(db: Engine) -> None:
    for n in range(1, 4):
        add_outbox_row(db, n, status="done", message="refund accepted by Amazon")
    dead = add_outbox_row(db, 10, status="dead", message="gave up after 10 attempts: HTTP 503",
                          error="HTTP 503")
    beat(db)
    resp = client_for(db).get("/", headers=auth())
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    # the counts table: one header cell and one count cell per status, in sorted order
    counts = outbox_dao.status_counts(db)
    header = "".join(f"<th>{s}</th>" for s in sorted(counts))
    values = "".join(f"<td>{counts[s]}</td>" for s in sorted(counts))
    assert header in page
    assert values in page
    assert counts["done"] == 3 and counts["dead"] == 1
    assert f"<tr><td>{dead}</td>" in page
    assert "gave up after 10 attempts: HTTP 503" in page
    assert "eu-main" in page  # the account table
    assert "reachable" in page and "last heartbeat" in page


def test_health_page_escapes_html_in_messages(engine: Engine) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    add_outbox_row(engine, 1, status="dead", message=evil)
    add_outbox_row(engine, 2, status="rejected", message=None, error=evil)
    page = client_for(engine).get("/", headers=auth()).get_data(as_text=True)
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_page_and_metrics_never_show_a_secret(db: Engine) -> None:
    add_outbox_row(db, 1, status="dead", message="boom")
    client = client_for(db)
    page = client.get("/", headers=auth()).get_data(as_text=True)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "eu-main" in page  # the account is shown ...
    for text in (page, metrics):
        for secret in (*SECRETS.values(), ADMIN_TOKEN):
            assert secret not in text  # ... its secrets are not


def test_metrics_counts_rows_by_status(engine: Engine) -> None:
    add_outbox_row(engine, 1, status="dead")
    add_outbox_row(engine, 2, status="done")
    add_outbox_row(engine, 3, status="done")
    add_outbox_row(engine, 4, status="pending", at=utcnow() - timedelta(minutes=5))
    resp = client_for(engine).get("/metrics")
    assert resp.status_code == 200
    assert resp.mimetype == "text/plain"
    text = resp.get_data(as_text=True)
    assert 'refund_bridge_outbox_rows{status="dead"} 1.0' in text
    assert 'refund_bridge_outbox_rows{status="done"} 2.0' in text
    assert 'refund_bridge_outbox_rows{status="needs_attention"} 0.0' in text
    line = next(ln for ln in text.splitlines()
                if ln.startswith("refund_bridge_outbox_oldest_pending_seconds "))
    assert float(line.split()[1]) >= 290


# ---------------------------------------------------------------- admin API


def test_admin_actions_are_off_without_a_token(engine: Engine) -> None:
    dead = add_outbox_row(engine, 1, status="dead")
    client = client_for(engine, config(admin=False))
    for action, body in (("requeue", {"reason": "r"}),
                         ("resolve", {"outcome": "done", "reason": "r"})):
        resp = client.post(f"/admin/outbox/{dead}/{action}", json=body, headers=auth())
        assert resp.status_code == 403
        assert "SIDECAR_ADMIN_TOKEN" in resp.get_data(as_text=True)
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "dead"
    assert audit_rows(engine) == []


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
    {"Authorization": ADMIN_TOKEN},  # no "Bearer "
    {"Authorization": f"Basic {ADMIN_TOKEN}"},
    {"Authorization": "Bearer "},
])
def test_admin_actions_need_the_right_token(client: FlaskClient, engine: Engine,
                                            headers: dict[str, str]) -> None:
    dead = add_outbox_row(engine, 1, status="dead")
    resp = client.post(f"/admin/outbox/{dead}/requeue", json={"reason": "r"}, headers=headers)
    assert resp.status_code == 401
    assert ADMIN_TOKEN not in resp.get_data(as_text=True)
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "dead"
    assert audit_rows(engine) == []


def test_requeue_a_dead_row(client: FlaskClient, engine: Engine) -> None:
    dead = add_outbox_row(engine, 1, status="dead", message="gave up")
    resp = client.post(f"/admin/outbox/{dead}/requeue", json={"reason": "fixed the SKU"},
                       headers=auth())
    assert resp.status_code == 200
    assert resp.get_json() == {"requeued": [dead]}
    row = outbox_dao.get(engine, dead)
    assert row is not None
    assert (row.status, row.attempts) == ("pending", 0)
    assert row.status_message == "requeued by token:admin (was dead): fixed the SKU"
    assert audit_rows(engine) == [(dead, "requeue", "token:admin", "fixed the SKU (was dead)")]


def test_the_actor_is_the_authenticated_identity_never_x_actor(client: FlaskClient,
                                                              engine: Engine) -> None:
    """Issue 7 item 16: X-Actor was free text recorded as the actor; it is ignored now."""
    dead = add_outbox_row(engine, 1, status="dead")
    for n, headers in enumerate(({}, {"X-Actor": "alice"}, {"X-Actor": "   "})):
        if n:
            with engine.begin() as conn:
                conn.execute(outbox.update().where(outbox.c.id == dead).values(status="dead"))
        resp = client.post(f"/admin/outbox/{dead}/requeue", json={"reason": "r"},
                           headers={**auth(), **headers})
        assert resp.status_code == 200
    assert [r[2] for r in audit_rows(engine)] == ["token:admin"] * 3


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, ["reason"],
                                  "not json"])
def test_requeue_needs_a_reason(client: FlaskClient, engine: Engine, body: object) -> None:
    dead = add_outbox_row(engine, 1, status="dead")
    if isinstance(body, str):
        resp = client.post(f"/admin/outbox/{dead}/requeue", data=body, headers=auth(),
                           content_type="application/json")
    else:
        resp = client.post(f"/admin/outbox/{dead}/requeue", json=body, headers=auth())
    assert resp.status_code == 400
    assert "reason" in resp.get_data(as_text=True)
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "dead"
    assert audit_rows(engine) == []


@pytest.mark.parametrize("status", ["pending", "processing", "submitted", "done"])
def test_requeue_leaves_live_and_done_rows_alone(client: FlaskClient, engine: Engine,
                                                 status: str) -> None:
    oid = add_outbox_row(engine, 1, status=status)
    resp = client.post(f"/admin/outbox/{oid}/requeue", json={"reason": "r"}, headers=auth())
    assert resp.status_code == 409
    assert resp.get_json() == {"requeued": []}
    row = outbox_dao.get(engine, oid)
    assert row is not None and row.status == status
    assert audit_rows(engine) == []


def test_requeue_refuses_a_needs_attention_row_and_names_resolve(
    client: FlaskClient, engine: Engine
) -> None:
    """Issue 7 item 2: POST /admin/outbox/ID/requeue on a needs_attention row made it end
    `skipped: already submitted`, never sent, its ledger pending forever. It is refused
    with 409 and a message naming `sidecar outbox resolve ID --requeue|--done` (and the
    resolve endpoint); nothing changes."""
    oid, mine, untouched, _ = _needs_attention_with_ledger(engine)
    resp = client.post(f"/admin/outbox/{oid}/requeue", json={"reason": "r"}, headers=auth())
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["requeued"] == []
    assert f"sidecar outbox resolve {oid} --requeue" in body["error"]
    assert f"sidecar outbox resolve {oid} --done" in body["error"]
    assert f"/admin/outbox/{oid}/resolve" in body["error"]
    row = outbox_dao.get(engine, oid)
    assert row is not None and row.status == "needs_attention"
    assert ledger_states(engine) == {**dict.fromkeys(mine, "pending"), **untouched}
    assert audit_rows(engine) == []


def _needs_attention_with_ledger(engine: Engine) -> tuple[int, list[int], dict[int, str], int]:
    """A needs_attention row with two pending ledger rows and an unknown feed message, plus
    rows that must not change: its own confirmed entry and another row's pending one."""
    oid = add_outbox_row(engine, 1, status="needs_attention", message="UNKNOWN OUTCOME")
    other = add_outbox_row(engine, 2, status="submitted")
    mine = [add_ledger_row(engine, oid, component="Principal"),
            add_ledger_row(engine, oid, component="Tax")]
    untouched = {add_ledger_row(engine, oid, state="confirmed", component="Shipping"): "confirmed",
                 add_ledger_row(engine, other): "pending"}
    message = add_feed_message(engine, oid)
    return oid, mine, untouched, message


@pytest.mark.parametrize(("outcome", "status", "ledger_state", "message_state"), [
    ("done", "done", "confirmed", "accepted"),
    ("requeue", "pending", "rejected", "abandoned"),
])
def test_resolve_a_needs_attention_row(client: FlaskClient, engine: Engine, outcome: str,
                                       status: str, ledger_state: str,
                                       message_state: str) -> None:
    oid, mine, untouched, message = _needs_attention_with_ledger(engine)
    resp = client.post(f"/admin/outbox/{oid}/resolve",
                       json={"outcome": outcome, "reason": "checked Seller Central"},
                       headers=auth())
    assert resp.status_code == 200
    assert resp.get_json() == {"resolved": True}
    row = outbox_dao.get(engine, oid)
    assert row is not None
    assert row.status == status
    assert row.status_message == f"resolved as {status} by token:admin: checked Seller Central"
    assert ledger_states(engine) == {**dict.fromkeys(mine, ledger_state), **untouched}
    fm = feed_message_row(engine, message)
    assert fm["state"] == message_state
    assert fm["result_message"] == "resolved by token:admin: checked Seller Central"
    action = "resolve_done" if outcome == "done" else "resolve_requeue"
    assert audit_rows(engine) == [(oid, action, "token:admin", "checked Seller Central")]

    # only once: the row is no longer waiting for a human
    again = client.post(f"/admin/outbox/{oid}/resolve",
                        json={"outcome": outcome, "reason": "twice"}, headers=auth())
    assert again.status_code == 409
    assert again.get_json() == {"resolved": False}
    assert len(audit_rows(engine)) == 1


@pytest.mark.parametrize("body", [{"reason": "r"}, {"outcome": "retry", "reason": "r"},
                                  {"outcome": "done"}, {"outcome": "done", "reason": " "}])
def test_resolve_needs_an_outcome_and_a_reason(client: FlaskClient, engine: Engine,
                                               body: dict[str, str]) -> None:
    oid, mine, untouched, _ = _needs_attention_with_ledger(engine)
    resp = client.post(f"/admin/outbox/{oid}/resolve", json=body, headers=auth())
    assert resp.status_code == 400
    row = outbox_dao.get(engine, oid)
    assert row is not None and row.status == "needs_attention"
    assert ledger_states(engine) == {**dict.fromkeys(mine, "pending"), **untouched}
    assert audit_rows(engine) == []


def test_resolve_refuses_a_row_not_waiting_for_a_human(client: FlaskClient,
                                                       engine: Engine) -> None:
    dead = add_outbox_row(engine, 1, status="dead")
    entry = add_ledger_row(engine, dead)
    resp = client.post(f"/admin/outbox/{dead}/resolve",
                       json={"outcome": "done", "reason": "r"}, headers=auth())
    assert resp.status_code == 409
    assert ledger_states(engine) == {entry: "pending"}
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.status).where(outbox.c.id == dead)).scalar_one() \
            == "dead"
    assert audit_rows(engine) == []


def test_admin_on_sqlite(sqlite_engine: Engine) -> None:
    """The demo serves the same admin API on SQLite."""
    oid, mine, _, _ = _needs_attention_with_ledger(sqlite_engine)
    client = client_for(sqlite_engine)
    resp = client.post(f"/admin/outbox/{oid}/resolve", json={"outcome": "requeue", "reason": "r"},
                       headers=auth())
    assert resp.status_code == 200
    assert {ledger_states(sqlite_engine)[i] for i in mine} == {"rejected"}
    dead = add_outbox_row(sqlite_engine, 3, status="dead")
    resp = client.post(f"/admin/outbox/{dead}/requeue", json={"reason": "r"}, headers=auth())
    assert resp.status_code == 200
    assert [a[1] for a in audit_rows(sqlite_engine)] == ["resolve_requeue", "requeue"]


# ------------------------------------------------- browser login (issue 7 item 15)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF_FIELD.search(page)
    assert found, page
    return found.group(1)


def login(client: FlaskClient, password: str = ADMIN_TOKEN) -> Any:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": "admin", "password": password,
                                       "csrf_token": token, "next": "/"})


def test_the_health_page_needs_the_admin(db: Engine) -> None:
    """Item 15: the page was open and showed Amazon order ids, amounts and SQL text."""
    add_outbox_row(db, 1, status="dead", message="302-1234567-1234567 refund of 16.80 failed")
    client = client_for(db)
    resp = client.get("/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        resp = client.get("/", headers=headers)
        assert resp.status_code == 401
        assert "302-1234567" not in resp.get_data(as_text=True)
    assert "302-1234567" in client.get("/", headers=auth()).get_data(as_text=True)  # scripts


def test_the_health_page_is_off_without_an_admin_token(engine: Engine) -> None:
    client = client_for(engine, config(admin=False))
    for path in ("/", "/login"):
        resp = client.get(path)
        assert resp.status_code == 403
        assert "SIDECAR_ADMIN_TOKEN" in resp.get_data(as_text=True)


def test_probes_and_metrics_stay_open(engine: Engine) -> None:
    client = client_for(engine)
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 503  # no worker yet: open, not 401
    assert client.get("/metrics").status_code == 200


def test_browser_login_sets_a_strict_httponly_session_and_shows_the_page(db: Engine) -> None:
    """Item 15: a login form; the session cookie is HttpOnly and SameSite=Strict."""
    add_outbox_row(db, 1, status="dead", message="gave up")
    client = client_for(db)
    page = client.get("/login").get_data(as_text=True)
    assert 'name="password" type="password"' in page
    resp = login(client)
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert ADMIN_TOKEN not in cookie
    page = client.get("/").get_data(as_text=True)
    assert "gave up" in page and "signed in as admin" in page


@pytest.mark.parametrize(("user", "password"), [("admin", "wrong"), ("root", ADMIN_TOKEN),
                                                ("admin", "")])
def test_a_wrong_login_is_refused(engine: Engine, user: str, password: str) -> None:
    client = client_for(engine)
    token = csrf_of(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": user, "password": password,
                                       "csrf_token": token})
    assert resp.status_code == 401
    assert "Wrong user name or password" in resp.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_the_csrf_token_is_refused(engine: Engine) -> None:
    client = client_for(engine)
    client.get("/login")
    resp = client.post("/login", data={"username": "admin", "password": ADMIN_TOKEN})
    assert resp.status_code == 403
    assert client.get("/").status_code == 302


def test_login_never_redirects_to_another_site(engine: Engine) -> None:
    client = client_for(engine)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "x"):
        token = csrf_of(client.get("/login").get_data(as_text=True))
        resp = client.post("/login", data={"username": "admin", "password": ADMIN_TOKEN,
                                           "csrf_token": token, "next": target})
        assert resp.headers["Location"] == "/", target


def test_a_page_action_needs_the_session_csrf_token(engine: Engine) -> None:
    """Item 15: with cookies, every POST carries the CSRF token; the actor is admin@web."""
    dead = add_outbox_row(engine, 1, status="dead", message="gave up")
    client = client_for(engine)
    login(client)
    resp = client.post(f"/admin/outbox/{dead}/requeue", data={"reason": "fixed"})
    assert resp.status_code == 303  # back to the page, which says why
    page = client.get("/").get_data(as_text=True)
    assert "requeue of row" in page and "refused (403)" in page and "CSRF" in page
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "dead"

    token = csrf_of(page)
    resp = client.post(f"/admin/outbox/{dead}/requeue",
                       data={"reason": "fixed the SKU", "csrf_token": token})
    assert resp.status_code == 303
    assert f"requeue of row {dead}: done" in client.get("/").get_data(as_text=True)
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "pending"
    assert audit_rows(engine) == [(dead, "requeue", "admin@web", "fixed the SKU (was dead)")]


def test_the_page_resolves_a_needs_attention_row_with_its_form(engine: Engine) -> None:
    oid, mine, _, _ = _needs_attention_with_ledger(engine)
    client = client_for(engine)
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert f'action="/admin/outbox/{oid}/resolve"' in page
    resp = client.post(f"/admin/outbox/{oid}/resolve",
                       data={"outcome": "done", "reason": "seen", "csrf_token": csrf_of(page)})
    assert resp.status_code == 303
    assert {ledger_states(engine)[i] for i in mine} == {"confirmed"}
    assert [a[2] for a in audit_rows(engine)] == ["admin@web"]


def test_a_cross_site_json_post_with_the_cookie_is_refused(engine: Engine) -> None:
    dead = add_outbox_row(engine, 1, status="dead")
    client = client_for(engine)
    login(client)
    resp = client.post(f"/admin/outbox/{dead}/requeue", json={"reason": "r"})
    assert resp.status_code == 403
    row = outbox_dao.get(engine, dead)
    assert row is not None and row.status == "dead"


def test_logout_needs_csrf_and_ends_the_session(engine: Engine) -> None:
    client = client_for(engine)
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert client.get("/").status_code == 302


def test_a_new_admin_token_ends_old_logins(engine: Engine) -> None:
    cfg = replace(config(), web_secret_key=Secret("k" * 32))
    client = create_app(cfg, engine).test_client()
    login(client)
    assert client.get("/").status_code == 200
    rotated = create_app(replace(cfg, admin_token=Secret("a-new-token-0123456789")), engine)
    other = rotated.test_client()
    other.set_cookie("refund_bridge_session",
                     client.get_cookie("refund_bridge_session").value)  # type: ignore[union-attr]
    assert other.get("/").status_code == 302


def test_no_sql_statement_text_on_the_page(db: Engine) -> None:
    """Item 15: stored errors quoting SQL (older rows, feed errors) are shown without it."""
    sql = ("(pymysql.err.IntegrityError) (1452, 'Cannot add or update a child row')\n"
           "[SQL: INSERT INTO sales_order_status_history (parent_id) VALUES (%(parent_id)s)]\n"
           "(Background on this error at: https://sqlalche.me/e/20/gkpj)")
    oid = add_outbox_row(db, 1, status="dead")
    with db.begin() as conn:  # written around the DAO, as an older version stored it
        conn.execute(outbox.update().where(outbox.c.id == oid).values(
            status_message=sql, last_error=sql))
    page = client_for(db).get("/", headers=auth()).get_data(as_text=True)
    assert "Cannot add or update a child row" in page
    for text_ in ("INSERT INTO", "[SQL", "parent_id)s", "sqlalche.me"):
        assert text_ not in page


def test_health_page_lists_amazon_orders_and_sync_checkpoints(db: Engine) -> None:
    """Issue 9 §2: a Pending order cancelled on Amazon shows Canceled in the order list."""
    from sidecar.dao import order_sync as sync_dao
    from sidecar.tables import amazon_order, order_sync

    now = utcnow()
    with db.begin() as conn:
        conn.execute(insert(amazon_order).values(
            amazon_order_id="111-0000001-0000001", account_id="eu-main",
            marketplace_id="A1PA6795UKMFR9", status="Canceled", fulfillment_channel="MFN",
            currency="EUR", last_updated_at=now, fetched_at=now, buyer_cancel_requested=True,
            buyer_cancel_reason="Ordered by mistake", magento_order_id=42, created_at=now,
            updated_at=now))
        conn.execute(insert(order_sync).values(
            account_id="eu-main", marketplace_id="A1PA6795UKMFR9", checkpoint=now,
            covered_from=now - timedelta(days=1), passes=3, orders_stored=7, updated_at=now))
    page = client_for(db).get("/", headers=auth()).get_data(as_text=True)
    assert "<td>111-0000001-0000001</td><td>eu-main</td><td>A1PA6795UKMFR9</td>" \
           "<td>Canceled</td>" in page
    assert "Ordered by mistake" in page
    assert "<td>3</td><td>7</td>" in page
    assert [s.passes for s in sync_dao.all_states(db)] == [3]
