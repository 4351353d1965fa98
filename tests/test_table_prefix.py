"""A Magento installed with a table prefix: every entry point refuses, naming the prefix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, inspect, text

from sidecar.amazon.credentials import Secret
from sidecar.app import create_app
from sidecar.cli import main
from sidecar.clock import utcnow
from sidecar.config import Config, ConfigError, from_env
from sidecar.dao import workers as workers_dao
from sidecar.dao.schema import WrongTables, table_prefix_problem, tables_problem
from sidecar.db import make_engine
from sidecar.migrate import migrate, split_statements
from sidecar.tables import apply_prefix, prefixed_sql, sales_order, sales_order_grid
from sidecar.worker import Worker
from tests.conftest import MAGENTO_FIXTURE, create_database, drop_database
from tests.support.snapshot_v2 import add_row, upgrade


def test_unprefixed_magento_is_fine() -> None:
    assert table_prefix_problem({"sales_order", "sales_order_item", "refund_bridge_outbox"}) is None
    assert table_prefix_problem(set()) is None  # a sidecar-only database


def test_prefixed_magento_is_named() -> None:
    problem = table_prefix_problem({"mg_sales_order", "mg_sales_order_item"})
    assert problem is not None
    assert "'mg_'" in problem and "mg_sales_order" in problem
    assert "SIDECAR_TABLE_PREFIX" in problem


def test_a_prefixed_outbox_beside_unprefixed_tables_is_refused() -> None:
    # the module of a prefixed store writes there: the sidecar would never see its rows
    problem = table_prefix_problem(
        {"sales_order", "sales_order_item", "refund_bridge_outbox", "mg_refund_bridge_outbox"}
    )
    assert problem is not None and "mg_refund_bridge_outbox" in problem


def test_an_unrelated_suffix_is_not_a_prefix() -> None:
    assert table_prefix_problem({"sales_order", "sales_order_item", "x_sales_order"}) is None


def test_the_configured_prefix_is_expected() -> None:
    names = {"mg_sales_order", "mg_sales_order_item", "mg_refund_bridge_outbox"}
    assert table_prefix_problem(names, "mg_") is None
    problem = table_prefix_problem({"sales_order", "sales_order_item"}, "mg_")
    assert problem is not None
    assert "prefix ''" in problem and "SIDECAR_TABLE_PREFIX unset" in problem
    other = table_prefix_problem({"xy_sales_order", "xy_sales_order_item"}, "mg_")
    assert other is not None and "SIDECAR_TABLE_PREFIX=xy_" in other


def test_table_prefix_setting_is_validated() -> None:
    assert from_env({"SIDECAR_TABLE_PREFIX": "mg_"}).table_prefix == "mg_"
    assert from_env({}).table_prefix == ""
    with pytest.raises(ConfigError, match="SIDECAR_TABLE_PREFIX"):
        from_env({"SIDECAR_TABLE_PREFIX": "mg; DROP"})


def test_prefixed_sql_renames_declared_tables_only() -> None:
    sql = (
        "CREATE TABLE IF NOT EXISTS refund_bridge_outbox (id INT, "
        "KEY REFUND_BRIDGE_OUTBOX_ORDER_ID (order_id));\n"
        "INSERT IGNORE INTO sales_order_status_state (status) VALUES ('x'); -- sales_order_status"
    )
    out = prefixed_sql(sql, "mg_")
    assert "EXISTS mg_refund_bridge_outbox (" in out
    assert "KEY REFUND_BRIDGE_OUTBOX_ORDER_ID" in out
    assert "INTO mg_sales_order_status_state (" in out
    assert prefixed_sql(sql, "") == sql


@pytest.fixture
def prefixed(engine: Engine) -> Engine:
    """The per-test database as a store installed with `--db-prefix=mg_` has it."""
    with engine.begin() as conn:
        for table in ("sales_order", "sales_order_item", "refund_bridge_outbox"):
            conn.execute(text(f"RENAME TABLE {table} TO mg_{table}"))
    return engine


def test_migrate_refuses(prefixed: Engine) -> None:
    with pytest.raises(WrongTables, match="'mg_'"):
        migrate(prefixed)


def test_worker_refuses(prefixed: Engine) -> None:
    with pytest.raises(WrongTables, match="SIDECAR_TABLE_PREFIX"):
        Worker(Config(database_url="sqlite://"), prefixed).run(once=True)


def test_cli_refuses(
    prefixed: Engine, mariadb_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SIDECAR_DATABASE_URL", mariadb_url)
    monkeypatch.delenv("SIDECAR_TABLE_PREFIX", raising=False)
    monkeypatch.delenv("SIDECAR_ACCOUNTS_FILE", raising=False)
    for argv in (["migrate"], ["outbox", "status"], ["worker", "--once"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "'mg_'" in err and "Refusing to start" in err


def test_readyz_and_page_show_it(prefixed: Engine) -> None:
    workers_dao.beat(prefixed, "w1", rows_processed=0, started_at=utcnow())
    cfg = Config(database_url="sqlite://", admin_token=Secret("page-token"))
    client = create_app(cfg, prefixed).test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    check = json.loads(resp.get_data(as_text=True))["checks"]["database:tables"][0]
    assert check["status"] == "fail" and "'mg_'" in check["output"]
    page = client.get("/", headers={"Authorization": "Bearer page-token"})
    assert "Wrong tables" in page.get_data(as_text=True)


# ---------------------------------------------------------------- SIDECAR_TABLE_PREFIX


@pytest.fixture
def mg_store(mariadb_server_url: str) -> Iterator[tuple[str, Engine]]:
    """A store installed with `--db-prefix=mg_`: Magento's tables, none of the sidecar's yet;
    the sidecar runs with SIDECAR_TABLE_PREFIX=mg_ (and the plain names come back after)."""
    url = create_database(mariadb_server_url, magento=False, migrated=False)
    fixture = MAGENTO_FIXTURE.read_text(encoding="utf-8")
    engine = make_engine(url)
    with engine.begin() as conn:
        for stmt in split_statements(re.sub(r"`(sales_\w+)`", r"`mg_\1`", fixture)):
            conn.exec_driver_sql(stmt)
    apply_prefix("mg_")
    try:
        yield url, engine
    finally:
        apply_prefix("")
        engine.dispose()
        drop_database(mariadb_server_url, url)


def _v2_row(engine: Engine) -> tuple[int, int]:
    """An order of a store without an Amazon account, and its credit memo row (prefixed)."""
    with engine.begin() as conn:
        pk = conn.execute(insert(sales_order).values(
            state="processing", status="processing", increment_id="100000001",
            store_id=3, order_currency_code="EUR", grand_total=10,
        )).inserted_primary_key
        assert pk is not None
        order_id = int(pk[0])
        conn.execute(insert(sales_order_grid).values(
            entity_id=order_id, status="processing", increment_id="100000001"))
    payload = upgrade(json.dumps({
        "schema_version": 1, "event_type": "creditmemo",
        "order": {"entity_id": order_id, "increment_id": "100000001",
                  "ext_order_id": "302-1234567-1234567", "store_id": 3,
                  "order_currency_code": "EUR"},
        "creditmemo": {"entity_id": 5, "increment_id": "5", "created_at": "2026-11-26 10:00:00",
                       "order_currency_code": "EUR", "subtotal": "10.0000",
                       "tax_amount": "0.0000", "discount_amount": "0.0000",
                       "shipping_amount": "0.0000", "shipping_tax_amount": "0.0000",
                       "adjustment_positive": "0.0000", "adjustment_negative": "0.0000",
                       "grand_total": "10.0000"},
        "items": [],
    }), source="ext_order_id")
    return order_id, add_row(engine, "creditmemo", 5, order_id, payload)


def test_prefixed_store_runs_on_its_prefixed_tables(
    mg_store: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, engine = mg_store
    assert "'mg_'" in (tables_problem(engine, "") or "")
    migrate(engine)
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        statuses = conn.execute(
            text("SELECT COUNT(*) FROM mg_sales_order_status WHERE status LIKE 'amazon_%'")
        ).scalar_one()
    assert {"mg_refund_bridge_outbox", "mg_refund_bridge_ledger"} <= names
    assert not any(n.startswith("refund_bridge_") for n in names)
    assert statuses >= 4

    order_id, row_id = _v2_row(engine)
    Worker(Config(database_url=url, table_prefix="mg_"), engine).run(once=True)
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM mg_refund_bridge_outbox WHERE id = :i"), {"i": row_id}
        ).scalar_one()
        comments = conn.execute(
            text("SELECT comment FROM mg_sales_order_status_history WHERE parent_id = :o"),
            {"o": order_id},
        ).scalars().all()
    assert status == "rejected"  # no account for the store: a loud misconfiguration
    assert any("no Amazon account" in c for c in comments)

    monkeypatch.setenv("SIDECAR_DATABASE_URL", url)
    monkeypatch.delenv("SIDECAR_ACCOUNTS_FILE", raising=False)
    monkeypatch.setenv("SIDECAR_TABLE_PREFIX", "mg_")
    assert main(["outbox", "status"]) == 0
    assert "rejected" in capsys.readouterr().out
    monkeypatch.delenv("SIDECAR_TABLE_PREFIX")
    assert main(["outbox", "status"]) == 2
    assert "SIDECAR_TABLE_PREFIX=mg_" in capsys.readouterr().err
