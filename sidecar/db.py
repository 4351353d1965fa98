"""Database engine: READ COMMITTED, pre-ping, UTC sessions, version check, transient retries."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import StaticPool

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


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
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
    return create_engine(
        url,
        isolation_level="READ COMMITTED",  # REPEATABLE READ claims block Magento's inserts
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=pool_size,
        pool_recycle=3600,
        connect_args={"charset": "utf8mb4", "init_command": "SET time_zone = '+00:00'"},
    )


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
