"""Issue 7 items 3, 8 and 12 (DB errors): the sidecar keeps moving, and says so, under faults.

The database outages are real: a TCP proxy (tests/support/tcp_proxy.py) in front of the
throwaway MariaDB drops every connection silently (accepts, never answers) and heals.
No test sleeps: each waits for a thread with a deadline and asserts how long it took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pymysql
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from sidecar import outbox_runner
from sidecar.app import create_app
from sidecar.clock import utcnow
from sidecar.config import Config
from sidecar.dao import outbox as outbox_dao
from sidecar.dao import workers as workers_dao
from sidecar.db import LazyEngine, engine_for, scrub_sql
from sidecar.emulator.accounts import emulator_account
from sidecar.outbox_runner import Dead, Defer, Retry
from sidecar.worker import Worker
from tests.support import tcp_proxy
from tests.support.rows import add_outbox_row

TIMEOUT = 1.0  # the DB timeouts these tests configure (seconds)


def run_with_deadline(fn: Callable[[], Any], deadline: float) -> tuple[bool, float, Any]:
    """(finished, seconds, result or exception) of fn run in a thread for at most deadline."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # reported to the test
            out["value"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(deadline)
    return not thread.is_alive(), time.monotonic() - started, out.get("value")


@pytest.fixture
def proxy(mariadb_url: str) -> Iterator[tcp_proxy.TcpProxy]:
    with tcp_proxy.start(tcp_proxy.target_of(mariadb_url)) as p:
        yield p


def proxied_accounts() -> tuple[Any, ...]:
    """One account: /readyz fails without any (a misconfiguration, config:accounts)."""
    return (emulator_account("http://127.0.0.1:9", "acct", (1,), marketplace_id="ATVPDKIKX0DER"),)


def proxied_config(proxy: tcp_proxy.TcpProxy, mariadb_url: str, **kwargs: Any) -> Config:
    return Config(
        database_url=proxy.url(mariadb_url), worker_id="liveness-worker",
        accounts=proxied_accounts(),
        db_connect_timeout_seconds=TIMEOUT, db_read_timeout_seconds=TIMEOUT,
        db_write_timeout_seconds=TIMEOUT, poll_interval_seconds=0, **kwargs,
    )


# ------------------------------------------------------- item 3: silent DB drop


def test_silent_db_drop_fails_the_worker_cycle_within_the_timeout_and_it_resumes(
    proxy: tcp_proxy.TcpProxy, mariadb_url: str, engine: Engine
) -> None:
    """Item 3: with the server side dropped silently, workers stopped forever (no read/write
    timeouts; even the pre-ping blocked). Now the cycle raises within the DB timeouts, and
    the next cycles work once the network heals."""
    cfg = proxied_config(proxy, mariadb_url)
    proxied = engine_for(cfg)
    worker = Worker(cfg, proxied)
    done, _, result = run_with_deadline(worker.cycle, 30)
    assert done and not isinstance(result, BaseException), result

    proxy.blackhole()
    done, took, result = run_with_deadline(worker.cycle, 30)
    assert done, "the worker cycle hangs on a silently dropped database"
    assert isinstance(result, OperationalError), result
    assert took < 10 * TIMEOUT

    proxy.heal()
    ok = False
    started = time.monotonic()
    for _ in range(10):  # stale pooled sockets are found dead one by one, each within TIMEOUT
        done, _, result = run_with_deadline(worker.cycle, 30)
        assert done
        if not isinstance(result, BaseException):
            ok = True
            break
    assert ok, result
    assert time.monotonic() - started < 30
    assert workers_dao.latest_beat(engine) is not None
    proxied.dispose()


def test_worker_run_logs_the_outage_and_keeps_looping(
    proxy: tcp_proxy.TcpProxy, mariadb_url: str, engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 3: "no log line" during the outage: the loop logs each failed cycle and goes on."""
    cfg = proxied_config(proxy, mariadb_url)
    proxied = engine_for(cfg)
    worker = Worker(cfg, proxied)
    worker.cycle()
    assert proxied.pool.checkedin() >= 1  # type: ignore[attr-defined]
    proxy.blackhole()
    stop = threading.Event()
    done, _, _ = run_with_deadline(lambda: worker.run(once=True, stop=stop, max_cycles=2), 30)
    assert done
    assert "worker cycle failed" in caplog.text
    # the pool's other sockets died with the network: closed, not pre-pinged one by one
    assert proxied.pool.checkedin() == 0  # type: ignore[attr-defined]
    proxy.heal()
    done, _, result = run_with_deadline(worker.cycle, 30)
    assert done and not isinstance(result, BaseException), result
    proxied.dispose()


def test_readyz_answers_503_quickly_while_the_database_hangs(
    proxy: tcp_proxy.TcpProxy, mariadb_url: str, engine: Engine
) -> None:
    """Item 3: `/readyz` never answered while the database hung. It runs its check on its own
    unpooled engine with short timeouts, so it says 503 within seconds."""
    workers_dao.beat(engine, "w1", rows_processed=0, started_at=utcnow())
    # the configured timeouts are long: the probe's own short ones must bound it
    cfg = replace(proxied_config(proxy, mariadb_url), db_read_timeout_seconds=300,
                  db_connect_timeout_seconds=300, db_write_timeout_seconds=300)
    client = create_app(cfg).test_client()
    assert client.get("/readyz").status_code == 200

    proxy.blackhole()
    for path in ("/readyz", "/metrics"):
        done, took, resp = run_with_deadline(lambda p=path: client.get(p), 30)  # type: ignore[misc]
        assert done, f"{path} hangs while the database hangs"
        assert took < 6, f"{path} took {took:.1f}s"
        assert resp.status_code == (503 if path == "/readyz" else 500)
    proxy.heal()
    assert client.get("/readyz").status_code == 200


def test_a_reset_connection_is_replaced_on_the_next_use(
    proxy: tcp_proxy.TcpProxy, mariadb_url: str
) -> None:
    """Item 3 (database reset): pooled connections killed by RST are pre-pinged and replaced."""
    cfg = proxied_config(proxy, mariadb_url)
    proxied = engine_for(cfg)
    with proxied.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    proxy.reset_all()
    with proxied.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    proxied.dispose()


def test_engines_are_made_after_fork_never_shared_by_two_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 3: the web server opened its engine in gunicorn's master before forking (one
    socket shared by three processes). A LazyEngine makes its engine in the process using
    it and makes a new one in a forked child."""
    made: list[int] = []

    def factory() -> Any:
        made.append(len(made))
        return engine_for(Config(database_url="sqlite://"))

    lazy = LazyEngine(factory)
    assert not lazy.created and made == []  # nothing at creation (the master)
    first = lazy.get()
    assert lazy.get() is first and made == [0]
    import os

    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as in a forked child
    assert not lazy.created
    child = lazy.get()
    assert child is not first and made == [0, 1]


def test_the_web_command_opens_no_connection_in_the_gunicorn_master(
    mariadb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 3: `sidecar web` checks the server, closes that connection, and hands gunicorn an
    app whose engine does not exist yet; gunicorn's timeout outlasts the DB timeouts."""
    from gunicorn.app.base import BaseApplication

    from sidecar.cli import main

    seen: dict[str, Any] = {}

    def fake_run(self: Any) -> None:
        app = self.load()
        seen["created"] = app.extensions["refund_bridge"]["engine"].created
        seen["timeout"] = self.cfg.timeout
        seen["preload"] = self.cfg.preload_app

    monkeypatch.setattr(BaseApplication, "run", fake_run)
    monkeypatch.setenv("SIDECAR_DATABASE_URL", mariadb_url)
    for name in ("SIDECAR_ACCOUNTS_FILE", "SIDECAR_ADMIN_TOKEN", "SIDECAR_ADMIN_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert main(["web", "--bind", "127.0.0.1:0"]) == 0
    assert seen == {"created": False, "timeout": 80, "preload": False}


def test_db_timeouts_are_configurable_and_bound_lock_waits(mariadb_url: str) -> None:
    """Item 3: PyMySQL connect/read/write timeouts from the settings; the session's lock wait
    stays below the read timeout so it still ends as the retried MySQL error 1205."""
    cfg = Config(database_url=mariadb_url, db_connect_timeout_seconds=3,
                 db_read_timeout_seconds=30, db_write_timeout_seconds=20)
    eng = engine_for(cfg)
    with eng.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        assert (raw.connect_timeout, raw._read_timeout, raw._write_timeout) == (3, 30, 20)
        wait = conn.execute(text("SELECT @@SESSION.innodb_lock_wait_timeout")).scalar_one()
        assert int(wait) == 20
    eng.dispose()


# ------------------------------------------------- item 8: heartbeat mid-cycle


class Ticks:
    """A monotonic clock the test moves: each row "takes" step seconds."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now


def test_readyz_stays_green_while_a_healthy_worker_drains_a_long_batch(engine: Engine) -> None:
    """Item 8: 503 "no worker has reported yet" for ~260 s while healthy workers drained a
    backlog (the heartbeat was written only after a whole cycle). The worker beats at the
    start of a cycle and at least every heartbeat_interval_seconds inside it."""
    cfg = Config(database_url="unused", worker_id="busy-worker", heartbeat_interval_seconds=10)
    ticks = Ticks(step=15)  # each row takes 15 s: longer than the interval
    worker = Worker(cfg, engine, monotonic=ticks)
    web = create_app(Config(database_url="unused", accounts=proxied_accounts()), engine).test_client()
    seen: list[tuple[int, int | None]] = []

    def slow_handler(row: outbox_dao.OutboxRow) -> outbox_runner.Outcome:
        ticks.now += ticks.step
        beats = workers_dao.workers(engine)
        seen.append((web.get("/readyz").status_code,
                     beats[0]["rows_processed"] if beats else None))
        return outbox_runner.Done("done", "ok")

    worker.handler = slow_handler  # type: ignore[assignment]
    for n in range(1, 5):
        add_outbox_row(engine, n)
    worker.cycle()
    assert [code for code, _ in seen] == [200] * 4
    # the beats inside the batch carry the progress: 0 before row 1, then one per row
    assert [rows for _, rows in seen] == [0, 1, 2, 3]
    assert workers_dao.workers(engine)[0]["rows_processed"] == 4


def test_heartbeat_is_throttled_inside_a_batch(engine: Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 8: fast rows do not write a heartbeat each (at most one per interval)."""
    cfg = Config(database_url="unused", worker_id="fast-worker", heartbeat_interval_seconds=10)
    ticks = Ticks(step=1)
    worker = Worker(cfg, engine, monotonic=ticks)
    writes: list[int] = []
    real_beat = workers_dao.beat

    def counting_beat(*args: Any, **kwargs: Any) -> None:
        writes.append(kwargs["rows_processed"])
        real_beat(*args, **kwargs)

    def fast(row: outbox_dao.OutboxRow) -> outbox_runner.Outcome:
        ticks.now += ticks.step
        return outbox_runner.Done("done", "ok")

    worker.handler = fast  # type: ignore[assignment]
    for n in range(1, 26):
        add_outbox_row(engine, n)
    monkeypatch.setattr(workers_dao, "beat", counting_beat)
    worker.cycle()
    # start, after rows 10 and 20 (10 s each), end of the batch is not due, final forced beat
    assert writes == [0, 10, 20, 25]


# ------------------------------------------- item 12: database errors, for people


def _db_error(cls: type[Exception], errno: int, message: str) -> Exception:
    orig = pymysql.err.IntegrityError(errno, message)
    return cls(  # type: ignore[call-arg]
        "INSERT INTO sales_order_status_history (parent_id, comment) VALUES (%(p)s, %(c)s)",
        {"p": 1, "c": "secret"}, orig, hide_parameters=True,
    )


def _outcome(exc: Exception) -> Any:
    row = outbox_dao.OutboxRow(
        id=1, event_type="creditmemo", entity_id=1, order_id=1, payload="{}",
        status="processing", attempts=1, available_at=utcnow(), lease_owner="w",
        lease_token="t", lease_expires_at=None, status_message=None, last_error=None,
        created_at=utcnow(), updated_at=utcnow(),
    )

    def handler(_: outbox_dao.OutboxRow) -> outbox_runner.Outcome:
        raise exc

    return outbox_runner._handle(row, handler)


def test_a_database_refusing_the_data_is_dead_at_once_without_sql_text() -> None:
    """Item 12: the row ended dead only after every attempt, its reason the raw database
    error with the SQL statement. A data error is poison now, in words for people."""
    outcome = _outcome(_db_error(IntegrityError, 1452, "Cannot add or update a child row"))
    assert isinstance(outcome, Dead)
    assert "refers to a Magento row that does not exist" in outcome.reason
    for sql in ("INSERT", "sales_order_status_history", "[SQL", "secret", "%(p)s"):
        assert sql not in outcome.reason


def test_a_lost_connection_is_retried_with_a_short_message() -> None:
    outcome = _outcome(_db_error(OperationalError, 2013, "Lost connection (timed out)"))
    assert isinstance(outcome, Retry)
    assert outcome.error.startswith("database connection lost or timed out")
    assert "INSERT" not in outcome.error


def test_a_counted_defer_ends_dead_after_max_attempts(engine: Engine) -> None:
    """Item 4: these waits count as attempts; at the limit the row is dead with the reason."""
    add_outbox_row(engine, 1)
    settings = outbox_runner.Settings(max_attempts=2)
    until = utcnow()
    for attempt in (1, 2):
        [row] = outbox_dao.claim(engine, "w", batch_size=1, lease_seconds=60,
                                 now=until + timedelta(seconds=5 * attempt))
        assert row.attempts == attempt
        outbox_runner.apply_outcome(
            engine, row, Defer(until, "memo dated ahead", counted=True), settings
        )
    final = outbox_dao.get(engine, row.id)
    assert final is not None
    assert (final.status, final.attempts) == ("dead", 2)
    assert final.status_message == "gave up after 2 attempts: memo dated ahead"


def test_sql_text_is_scrubbed_from_stored_messages(engine: Engine) -> None:
    """Item 15: never SQL statement text in a stored message (scrubbed at write)."""
    raw = str(_db_error(IntegrityError, 1452, "Cannot add or update a child row"))
    assert "[SQL:" in raw
    assert scrub_sql(raw) == "(pymysql.err.IntegrityError) (1452, 'Cannot add or update a child row')"
    row_id = add_outbox_row(engine, 1)
    [row] = outbox_dao.claim(engine, "w", batch_size=1, lease_seconds=60)
    assert row.id == row_id
    outbox_dao.complete(engine, row, "dead", f"failed: {raw}", error=raw)
    stored = outbox_dao.get(engine, row_id)
    assert stored is not None
    for text_ in (stored.status_message or "", stored.last_error or ""):
        assert "INSERT" not in text_ and "[SQL" not in text_


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float, headers: dict[str, str] | None = None) -> tuple[int, float]:
    import urllib.error
    import urllib.request

    started = time.monotonic()
    try:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (http only)
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return int(exc.code), time.monotonic() - started


def test_gunicorn_readyz_answers_503_within_seconds_while_the_database_hangs(
    proxy: tcp_proxy.TcpProxy, mariadb_url: str, engine: Engine, tmp_path: Any
) -> None:
    """Item 3, as the tester ran it: `sidecar web` (gunicorn, 2 workers) in front of a
    database that stops answering. /readyz never answered and workers were killed in a
    WORKER TIMEOUT loop; now each answers 503 within seconds, and 200 once it heals."""
    import os
    import subprocess
    import sys

    workers_dao.beat(engine, "w1", rows_processed=0, started_at=utcnow())
    port = _free_port()
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.a]\nseller_id = "A1SELLER"\nmarketplace_id = "ATVPDKIKX0DER"\n'
        'store_ids = [1]\nlwa_client_id = "c"\nlwa_client_secret_env = "T_SECRET"\n'
        'refresh_token_env = "T_REFRESH"\n', encoding="utf-8")
    env = {**os.environ, "SIDECAR_DATABASE_URL": proxy.url(mariadb_url),
           "SIDECAR_ADMIN_TOKEN": "gunicorn-test-token", "SIDECAR_HEARTBEAT_STALE_SECONDS": "3600",
           "SIDECAR_ACCOUNTS_FILE": str(accounts), "T_SECRET": "s", "T_REFRESH": "r"}
    log = (tmp_path / "web.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar.cli", "web", "--bind", f"127.0.0.1:{port}",
         "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = threading.Event()
        for _ in range(200):  # gunicorn's start, not the behaviour under test
            try:
                if _get(f"{base}/livez", 2)[0] == 200:
                    break
            except OSError:
                ready.wait(0.1)
        assert _get(f"{base}/readyz", 10)[0] == 200
        page = _get(f"{base}/", 10, {"Authorization": "Bearer gunicorn-test-token"})
        assert page[0] == 200

        proxy.blackhole()
        for _ in range(4):  # both workers
            code, took = _get(f"{base}/readyz", 15)
            assert code == 503
            assert took < 6, f"/readyz took {took:.1f}s"
        proxy.heal()
        assert _get(f"{base}/readyz", 10)[0] == 200
        for _ in range(4):  # a page after the outage: no ResourceClosedError, no hang
            code, took = _get(f"{base}/", 40, {"Authorization": "Bearer gunicorn-test-token"})
            assert code == 200
            assert took < 6, f"the page took {took:.1f}s after the outage"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert "WORKER TIMEOUT" not in (tmp_path / "web.log").read_text()
