"""Shared fixtures: the throwaway MariaDB server and a fresh migrated database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sidecar.db import make_engine
from sidecar.migrate import migrate, split_statements
from tests.support.mariadb import MariaDBUnavailable, throwaway_server

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
MAGENTO_FIXTURE = ROOT / "tests" / "fixtures" / "magento_sales.sql"
IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """In CI a missing real part is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: required)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def mariadb_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    try:
        with throwaway_server() as server:
            yield server.url
    except MariaDBUnavailable as exc:
        missing(f"no MariaDB server: {exc}")


def _raw_connect(server_url: str, database: str | None = None) -> pymysql.Connection:
    u = make_url(server_url)
    return pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or "root",
        password=u.password or "",
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


def create_database(server_url: str, *, magento: bool = True, migrated: bool = True) -> str:
    """A fresh database with the Magento Sales fixture and all migrations; returns its URL."""
    name = "t_" + uuid.uuid4().hex[:12]
    conn = _raw_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
    finally:
        conn.close()
    if magento:
        conn = _raw_connect(server_url, name)
        try:
            with conn.cursor() as cur:
                for stmt in split_statements(MAGENTO_FIXTURE.read_text(encoding="utf-8")):
                    cur.execute(stmt)
        finally:
            conn.close()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if migrated:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
    return url


def drop_database(server_url: str, url: str) -> None:
    conn = _raw_connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {make_url(url).database}")
    finally:
        conn.close()


@pytest.fixture
def mariadb_url(mariadb_server_url: str) -> Iterator[str]:
    """URL of a fresh, migrated database with the Magento Sales tables."""
    url = create_database(mariadb_server_url)
    yield url
    drop_database(mariadb_server_url, url)


@pytest.fixture
def engine(mariadb_url: str) -> Iterator[Engine]:
    eng = make_engine(mariadb_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'sidecar.sqlite'}")
    migrate(eng, with_magento_tables=True)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def amazon_xsd_dir() -> Path:
    path = Path(os.environ.get("AMAZON_XSD_DIR", SHARED / "reference" / "amazon" / "xsd"))
    if not (path / "amzn-envelope.xsd").is_file():
        missing(f"Amazon XSDs not found at {path} (set AMAZON_XSD_DIR)")
    return path
