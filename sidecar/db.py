"""Database engine: READ COMMITTED, pre-ping, UTC sessions, version check, transient retries.

Every MySQL connection has connect / read / write timeouts (DbTimeouts), so a database that
stops answering (a silent drop, a blackholed route) raises within the timeout instead of
hanging the worker forever; the pre-ping is a read on the socket and is bounded by the same
read timeout. Processes that fork (gunicorn) create their engine lazily in each child
(LazyEngine), never in the parent: a pooled socket must never be shared by two processes.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool, StaticPool

log = logging.getLogger(__name__)
T = TypeVar("T")

# 1213 deadlock, 1205 lock wait timeout, 1020 record changed (snapshot isolation conflict)
TRANSIENT_MYSQL_ERRORS = frozenset({1213, 1205, 1020})
MIN_MARIADB = (10, 6)
MIN_MYSQL = (8, 0, 1)


class UnsupportedServer(RuntimeError):
    pass


def is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


@dataclass(frozen=True)
class DbTimeouts:
    """PyMySQL socket timeouts in seconds (SIDECAR_DB_*_TIMEOUT_SECONDS, README.md).

    read applies to every read of the socket: the handshake, the pre-ping and each result.
    The session's innodb_lock_wait_timeout is kept below it, so a lock wait still ends as
    MySQL error 1205 (retried) rather than as a read timeout."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 30.0

    def lock_wait_seconds(self) -> int:
        return max(1, min(50, int(self.read) - 10 if self.read > 15 else int(self.read / 2)))


# /readyz and the health page's first check: answer within a few seconds whatever the DB does
PROBE_TIMEOUTS = DbTimeouts(connect=2.0, read=2.0, write=2.0)


class DbSettings(Protocol):
    """What engine_for needs; sidecar.config.Config satisfies it."""

    @property
    def database_url(self) -> str: ...
    @property
    def db_connect_timeout_seconds(self) -> float: ...
    @property
    def db_read_timeout_seconds(self) -> float: ...
    @property
    def db_write_timeout_seconds(self) -> float: ...


def timeouts_of(cfg: DbSettings) -> DbTimeouts:
    return DbTimeouts(
        connect=cfg.db_connect_timeout_seconds,
        read=cfg.db_read_timeout_seconds,
        write=cfg.db_write_timeout_seconds,
    )


def probe_timeouts(cfg: DbSettings) -> DbTimeouts:
    """The probes' timeouts: the configured ones, but never more than PROBE_TIMEOUTS."""
    t = timeouts_of(cfg)
    p = PROBE_TIMEOUTS
    return DbTimeouts(min(t.connect, p.connect), min(t.read, p.read), min(t.write, p.write))


DEFAULT_TIMEOUTS = DbTimeouts()


def make_engine(
    url: str, *, pool_size: int = 5, timeouts: DbTimeouts = DEFAULT_TIMEOUTS,
    pooled: bool = True,
) -> Engine:
    """pooled=False: no pool (one connection per use, no pre-ping), for probes that must
    never wait on a pooled socket to a database that stopped answering."""
    # hide_parameters: a failed statement's exception text (logged, stored as last_error,
    # shown on the health page) must not quote its values, e.g. a presigned upload URL
    if url.startswith("sqlite"):
        kwargs: dict[str, object] = {
            "connect_args": {"check_same_thread": False, "timeout": 30},
            "hide_parameters": True,
        }
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    init = (
        f"SET time_zone = '+00:00', innodb_lock_wait_timeout = {timeouts.lock_wait_seconds()}"
    )
    connect_args = {
        "charset": "utf8mb4",
        "init_command": init,
        "connect_timeout": max(1, round(timeouts.connect)),  # PyMySQL wants >0
        "read_timeout": timeouts.read,
        "write_timeout": timeouts.write,
    }
    pool: dict[str, object] = (
        {"pool_pre_ping": True, "pool_size": pool_size, "pool_recycle": 3600}
        if pooled
        else {"poolclass": NullPool}
    )
    return create_engine(
        url,
        isolation_level="READ COMMITTED",  # REPEATABLE READ claims block Magento's inserts
        hide_parameters=True,
        connect_args=connect_args,
        **pool,
    )


def engine_for(cfg: DbSettings, *, probe: bool = False, pooled: bool = True) -> Engine:
    """The engine for cfg's database with cfg's timeouts; probe: unpooled, short timeouts."""
    if probe:
        return make_engine(cfg.database_url, timeouts=probe_timeouts(cfg), pooled=False)
    return make_engine(cfg.database_url, timeouts=timeouts_of(cfg), pooled=pooled)


class LazyEngine:
    """An engine created on first use in the process that uses it.

    Created again (the inherited one is dropped without touching its sockets) when the
    process id changed, i.e. in a forked child such as a gunicorn worker."""

    def __init__(self, factory: Callable[[], Engine]) -> None:
        self._factory = factory
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def get(self) -> Engine:
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's sockets stay the parent's
                self._engine = self._factory()
                self._pid = os.getpid()
            return self._engine

    @property
    def created(self) -> bool:
        return self._engine is not None and self._pid == os.getpid()

    def drop_pool(self) -> None:
        """Close this process's pooled connections (the database was found hanging: they
        may be silently dead, and each would cost a read timeout on its next pre-ping)."""
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None


def parse_version(version: str) -> tuple[str, tuple[int, ...]]:
    """('mariadb', (10, 11, 6)) from '10.11.6-MariaDB-0+deb12u1', ('mysql', (8, 0, 36)) else.

    MariaDB's '5.5.5-' compatibility prefix (what the handshake, and some proxies, report)
    is dropped: '5.5.5-10.11.6-MariaDB' is 10.11.6."""
    kind = "mariadb" if "mariadb" in version.lower() else "mysql"
    if kind == "mariadb":
        version = version.removeprefix("5.5.5-")
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if not m:
        raise UnsupportedServer(f"cannot read the server version from {version!r}")
    return kind, tuple(int(p) for p in m.groups())


def assert_supported(version: str) -> None:
    """Raise UnsupportedServer for a server without SKIP LOCKED (MariaDB < 10.6, MySQL < 8.0.1)."""
    kind, parts = parse_version(version)
    minimum = MIN_MARIADB if kind == "mariadb" else MIN_MYSQL
    if parts < minimum:
        need = ".".join(map(str, minimum))
        raise UnsupportedServer(
            f"{kind} {version} is too old: the outbox needs FOR UPDATE SKIP LOCKED, "
            f"available from {kind} {need}. Upgrade the database server."
        )


def check_server(engine: Engine) -> str:
    """Refuse servers without SKIP LOCKED (MariaDB < 10.6, MySQL < 8.0.1). Returns the version."""
    if not is_mysql(engine):
        return "sqlite"
    with engine.connect() as conn:
        version = str(conn.execute(text("SELECT VERSION()")).scalar_one())
    assert_supported(version)
    return version


def mysql_errno(exc: BaseException) -> int | None:
    orig = getattr(exc, "orig", None)
    args = getattr(orig, "args", None)
    if args and isinstance(args[0], int):
        return args[0]
    return None


def retry_transient(fn: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.05) -> T:
    """Run fn (one whole transaction) again on deadlock / lock wait timeout / snapshot conflict."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (OperationalError, DBAPIError) as exc:
            errno = mysql_errno(exc)
            if errno not in TRANSIENT_MYSQL_ERRORS or attempt == attempts:
                raise
            delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())
            log.warning("transient MySQL error %s, retry %d in %.3fs", errno, attempt, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


# ----------------------------------------------------------- errors, for people

# the connection is gone or timed out: the database may come back, retry later
CONNECTION_ERRORS = frozenset({2003, 2006, 2013, 2014, 2055, 1927, 4031})
# the row's data can never be stored as it is: retrying cannot help
DATA_ERRORS: dict[int, str] = {
    1048: "a required value is missing",
    1264: "a number is out of range for its column (Magento ids are at most 4294967295)",
    1366: "a value has the wrong type for its column",
    1406: "a value is too long for its column",
    1452: "it refers to a Magento row that does not exist",
}
_SQL_TAIL = re.compile(r"\s*\[(SQL|parameters|SQL parameters)[: ].*", re.DOTALL)
_BACKGROUND = re.compile(r"\s*\(Background on this error at: [^)]*\)")
# statements as SQLAlchemy renders them (upper-case keywords): never plain words like "update"
_STATEMENT = re.compile(
    r"\b(SELECT\s.*?\sFROM\s|INSERT INTO\s|UPDATE\s+\S+\s+SET\s|DELETE FROM\s|REPLACE INTO\s)"
    r".*",
    re.DOTALL,
)


def is_connection_error(exc: BaseException) -> bool:
    """The connection is gone or timed out (not a statement the server refused)."""
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or mysql_errno(exc) in CONNECTION_ERRORS
    )


def is_data_error(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and mysql_errno(exc) in DATA_ERRORS


def describe_db_error(exc: BaseException) -> str:
    """A short message for people (status_message, the health page): no SQL, no values."""
    errno = mysql_errno(exc)
    if is_connection_error(exc):
        return f"database connection lost or timed out (MySQL error {errno}); retrying"
    if errno in DATA_ERRORS:
        return f"the database refused the data: {DATA_ERRORS[errno]} (MySQL error {errno})"
    if errno in TRANSIENT_MYSQL_ERRORS:
        return f"database busy: deadlock or lock wait timeout (MySQL error {errno}); retrying"
    if errno is not None:
        return f"database error (MySQL error {errno}); details are in the sidecar's log"
    return f"database error ({type(exc).__name__}); details are in the sidecar's log"


def scrub_sql(text: str | None) -> str | None:
    """Drop SQL statement text from an error message SQLAlchemy formatted ("[SQL: ...]",
    "[parameters: ...]", the background link) and any bare statement it quotes."""
    if text is None:
        return None
    cleaned = _BACKGROUND.sub("", _SQL_TAIL.sub("", text))
    cleaned = _STATEMENT.sub("(SQL statement not shown)", cleaned)
    return cleaned
