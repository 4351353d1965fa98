"""sidecar.db: server version check, engine session settings, transient-error retries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

from sidecar import db
from sidecar.db import (
    UnsupportedServer,
    assert_supported,
    check_server,
    is_mysql,
    make_engine,
    mysql_errno,
    parse_version,
    retry_transient,
)


@pytest.mark.parametrize(("version", "expected"), [
    ("10.11.6-MariaDB-0+deb12u1", ("mariadb", (10, 11, 6))),
    ("10.6.16-MariaDB", ("mariadb", (10, 6, 16))),
    ("11.4.2-MariaDB-ubu2404-log", ("mariadb", (11, 4, 2))),
    ("5.5.5-10.11.6-MariaDB", ("mariadb", (10, 11, 6))),  # the handshake's compat prefix
    ("10.5.23-MariaDB-1:10.5.23+maria~deb11", ("mariadb", (10, 5, 23))),
    ("8.0.36", ("mysql", (8, 0, 36))),
    ("8.0.36-0ubuntu0.22.04.1", ("mysql", (8, 0, 36))),
    ("8.4.0-commercial", ("mysql", (8, 4, 0))),
    ("5.7.44-log", ("mysql", (5, 7, 44))),
])
def test_parse_version(version: str, expected: tuple[str, tuple[int, ...]]) -> None:
    assert parse_version(version) == expected


@pytest.mark.parametrize("version", ["", "MariaDB", "10.6", "v8.0.1"])
def test_parse_version_refuses_what_it_cannot_read(version: str) -> None:
    with pytest.raises(UnsupportedServer, match="cannot read the server version"):
        parse_version(version)


@pytest.mark.parametrize("version", [
    "10.6.0-MariaDB", "10.6.16-MariaDB-log", "10.11.6-MariaDB-0+deb12u1", "11.4.2-MariaDB",
    "5.5.5-10.6.5-MariaDB", "8.0.1", "8.0.36-0ubuntu0.22.04.1", "8.4.0", "9.0.1",
])
def test_supported_versions(version: str) -> None:
    assert_supported(version)


@pytest.mark.parametrize(("version", "kind", "need"), [
    ("10.5.23-MariaDB", "mariadb", "10.6"),
    ("10.3.39-MariaDB-0+deb10u1", "mariadb", "10.6"),
    ("5.5.5-10.4.32-MariaDB", "mariadb", "10.6"),
    ("8.0.0-dmr", "mysql", "8.0.1"),
    ("5.7.44-log", "mysql", "8.0.1"),
])
def test_old_versions_are_refused(version: str, kind: str, need: str) -> None:
    with pytest.raises(UnsupportedServer) as err:
        assert_supported(version)
    message = str(err.value)
    assert message.startswith(f"{kind} {version} is too old")
    assert "SKIP LOCKED" in message
    assert f"available from {kind} {need}." in message


def test_check_server_passes_on_the_real_mariadb(engine: Engine) -> None:
    version = check_server(engine)
    assert parse_version(version)[0] == "mariadb"
    with engine.connect() as conn:
        assert version == conn.execute(text("SELECT VERSION()")).scalar_one()


def test_check_server_refuses_an_old_server(engine: Engine,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """check_server feeds the server's own answer to assert_supported."""
    seen: list[str] = []

    def old(version: str) -> None:
        seen.append(version)
        raise UnsupportedServer("too old")

    monkeypatch.setattr(db, "assert_supported", old)
    with pytest.raises(UnsupportedServer, match="too old"):
        check_server(engine)
    with engine.connect() as conn:
        assert seen == [conn.execute(text("SELECT VERSION()")).scalar_one()]


def test_check_server_on_sqlite(sqlite_engine: Engine) -> None:
    assert not is_mysql(sqlite_engine)
    assert check_server(sqlite_engine) == "sqlite"


def test_mariadb_sessions_are_read_committed_and_utc(mariadb_url: str) -> None:
    eng = make_engine(mariadb_url)
    try:
        assert is_mysql(eng)
        for _ in range(2):  # every pooled connection, not only the first
            with eng.connect() as conn:
                isolation, tz = conn.execute(
                    text("SELECT @@SESSION.tx_isolation, @@SESSION.time_zone")
                ).one()
                assert isolation == "READ-COMMITTED"
                assert tz == "+00:00"
                assert conn.get_isolation_level() == "READ COMMITTED"
                charset = conn.execute(text("SELECT @@SESSION.character_set_client")).scalar_one()
                assert charset == "utf8mb4"
                # NOW() is UTC in these sessions (naive datetimes stored are UTC)
                offset = conn.execute(
                    text("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
                ).scalar_one()
                assert offset == 0
    finally:
        eng.dispose()


def test_sqlite_engine_uses_wal(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with eng.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000
    finally:
        eng.dispose()


def test_in_memory_sqlite_keeps_one_database() -> None:
    eng = make_engine("sqlite://")
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with eng.connect() as conn:  # a second checkout sees the same database
            assert conn.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 0
    finally:
        eng.dispose()


# ------------------------------------------------------------------------ retry_transient


def mysql_error(errno: int, message: str) -> OperationalError:
    return OperationalError("UPDATE refund_bridge_outbox ...", {},
                            pymysql.err.OperationalError(errno, message))


def failing(errors: list[Exception]) -> tuple[Callable[[], str], list[int]]:
    """fn raising each of errors in turn, then returning 'ok'; and its call counter."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry delays instead of sleeping them."""
    delays: list[float] = []
    monkeypatch.setattr("sidecar.db.time.sleep", delays.append)
    return delays


@pytest.mark.parametrize(("errno", "message"), [
    (1213, "Deadlock found when trying to get lock; try restarting transaction"),
    (1205, "Lock wait timeout exceeded; try restarting transaction"),
    (1020, "Record has changed since last read in table 'refund_bridge_outbox'"),
])
def test_retry_transient_retries_transient_errors(errno: int, message: str,
                                                  no_sleep: list[float]) -> None:
    fn, calls = failing([mysql_error(errno, message), mysql_error(errno, message)])
    assert retry_transient(fn, attempts=5, base_delay=0.05) == "ok"
    assert len(calls) == 3
    assert len(no_sleep) == 2
    # exponential with jitter in [0.5, 1.5): attempt 1 ~ 0.05, attempt 2 ~ 0.1
    assert 0.025 <= no_sleep[0] < 0.075
    assert 0.05 <= no_sleep[1] < 0.15


def test_retry_transient_gives_up_after_attempts(no_sleep: list[float]) -> None:
    deadlock = mysql_error(1213, "Deadlock")
    fn, calls = failing([deadlock] * 10)
    with pytest.raises(OperationalError) as err:
        retry_transient(fn, attempts=3, base_delay=0)
    assert err.value is deadlock
    assert len(calls) == 3
    assert len(no_sleep) == 2


@pytest.mark.parametrize("error", [
    mysql_error(2003, "Can't connect to MySQL server"),
    mysql_error(1146, "Table 'x' doesn't exist"),
    OperationalError("SELECT 1", {}, Exception("no errno")),
    IntegrityError("INSERT", {}, pymysql.err.IntegrityError(1062, "Duplicate entry")),
    ValueError("not a database error"),
])
def test_retry_transient_reraises_other_errors_at_once(error: Exception,
                                                       no_sleep: list[float]) -> None:
    fn, calls = failing([error])
    with pytest.raises(type(error)) as err:
        retry_transient(fn, attempts=5, base_delay=0)
    assert err.value is error
    assert len(calls) == 1
    assert no_sleep == []


def test_mysql_errno() -> None:
    assert mysql_errno(mysql_error(1213, "Deadlock")) == 1213
    assert mysql_errno(OperationalError("x", {}, Exception("text only"))) is None
    assert mysql_errno(ValueError("x")) is None


def test_a_real_deadlock_is_retried(mariadb_url: str, no_sleep: list[float]) -> None:
    """Two sessions lock two rows in opposite orders; InnoDB kills one with 1213 and
    retry_transient runs that transaction again."""
    eng = make_engine(mariadb_url)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE dl (id INT PRIMARY KEY, n INT) ENGINE=InnoDB"))
            conn.execute(text("INSERT INTO dl VALUES (1, 0), (2, 0)"))
        a_has_1 = threading.Event()
        b_has_2 = threading.Event()
        attempts = {"a": 0, "b": 0}

        def tx(name: str, first: int, second: int, mine: threading.Event,
               theirs: threading.Event) -> None:
            attempts[name] += 1
            with eng.begin() as conn:
                conn.execute(text("UPDATE dl SET n = n + 1 WHERE id = :i"), {"i": first})
                mine.set()
                if attempts[name] == 1:
                    assert theirs.wait(10)
                conn.execute(text("UPDATE dl SET n = n + 1 WHERE id = :i"), {"i": second})

        errors: list[BaseException] = []

        def run(name: str, first: int, second: int, mine: threading.Event,
                theirs: threading.Event) -> None:
            try:
                retry_transient(lambda: tx(name, first, second, mine, theirs), base_delay=0)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=run, args=("a", 1, 2, a_has_1, b_has_2)),
            threading.Thread(target=run, args=("b", 2, 1, b_has_2, a_has_1)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert errors == []
        assert sorted(attempts.values()) == [1, 2]  # one victim, retried once
        with eng.connect() as conn:
            assert conn.execute(text("SELECT SUM(n) FROM dl")).scalar_one() == 4
    finally:
        eng.dispose()


PRESIGNED = "https://bucket.s3.amazonaws.com/doc?X-Amz-Signature=SIGNATURE-SECRET"


@pytest.mark.parametrize("which", ["sqlite", "mariadb"])
def test_database_errors_never_quote_statement_parameters(
    which: str, request: pytest.FixtureRequest
) -> None:
    # feeds.py writes the presigned upload URL as a parameter; a failing statement must
    # not carry it into the exception text (log.exception, last_error, the health page)
    url = (str(request.getfixturevalue("tmp_path") / "p.sqlite") if which == "sqlite"
           else request.getfixturevalue("mariadb_url"))
    engine = make_engine(f"sqlite:///{url}" if which == "sqlite" else url)
    try:
        with pytest.raises(Exception) as info, engine.begin() as conn:
            conn.execute(text("INSERT INTO no_such_table (u) VALUES (:u)"), {"u": PRESIGNED})
        assert "no_such_table" in str(info.value)
        assert "SIGNATURE-SECRET" not in str(info.value)
        assert "SIGNATURE-SECRET" not in repr(info.value)
    finally:
        engine.dispose()


def test_a_feed_row_repr_never_shows_the_presigned_upload_url() -> None:
    from datetime import datetime

    from sidecar.dao.feeds import FeedRow

    row = FeedRow(id=1, account_id="a", feed_type="T", marketplace_id="M", state="planned",
                  content="<x/>", message_count=1, document_id="d", upload_url=PRESIGNED,
                  amazon_feed_id=None, result_document_id=None, submit_started_at=None,
                  attempts=0, lease_token="t", created_at=datetime(2026, 1, 1))
    assert "SIGNATURE-SECRET" not in repr(row)
    assert row.upload_url == PRESIGNED
