"""A Magento installed with a table prefix: every entry point refuses, naming the prefix."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from sidecar.app import create_app
from sidecar.cli import main
from sidecar.clock import utcnow
from sidecar.config import Config, ConfigError, from_env
from sidecar.dao import workers as workers_dao
from sidecar.dao.schema import WrongTables, table_prefix_problem
from sidecar.migrate import migrate
from sidecar.worker import Worker


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


def test_table_prefix_setting_is_refused_until_supported() -> None:
    with pytest.raises(ConfigError, match="SIDECAR_TABLE_PREFIX"):
        from_env({"SIDECAR_TABLE_PREFIX": "mg_"})


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
    client = create_app(Config(database_url="sqlite://"), prefixed).test_client()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    check = json.loads(resp.get_data(as_text=True))["checks"]["database:tables"][0]
    assert check["status"] == "fail" and "'mg_'" in check["output"]
    assert "Wrong tables" in client.get("/").get_data(as_text=True)
