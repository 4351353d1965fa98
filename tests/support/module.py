"""Run the Magento module's REAL save_after observers from Python tests.

`run_observer()` calls `php magento_module/Test/bin/observe.php`, which loads a committed
credit memo / shipment from the database the way Magento holds it in memory at save time and
runs the module's observer on it in one transaction, so the outbox row is written by the module
code itself (not by a Python imitation of it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
OBSERVE_PHP = ROOT / "magento_module" / "Test" / "bin" / "observe.php"
EVENTS = ("creditmemo", "shipment", "track")
TIMEOUT_SECONDS = 60.0


def php_binary() -> str | None:
    """Path of the `php` CLI, or None when it is not installed."""
    return shutil.which("php")


def db_env(database_url: str) -> dict[str, str]:
    """TEST_DB_* variables for observe.php from a SQLAlchemy URL (mysql+pymysql://u:pw@h:p/db)."""
    url = make_url(database_url)
    if not url.database:
        raise ValueError(f"database URL {url!r} names no database")
    return {
        "TEST_DB_HOST": url.host or "127.0.0.1",
        "TEST_DB_PORT": str(url.port or 3306),
        "TEST_DB_USER": url.username or "root",
        "TEST_DB_PASSWORD": url.password or "",
        "TEST_DB_NAME": url.database,
    }


def run_observer(
    database_url: str, event: str, entity_id: int, *,
    back_to_stock: Sequence[int] = (), disabled: bool = False,
    api_refund: bool = False, m2epro_created: bool = False,
) -> int | None:
    """Run the module's observer for a committed credit memo / shipment / track.

    ``event="track"`` takes a ``sales_shipment_track.entity_id`` (a track saved after its
    shipment). ``api_refund``: the credit memo as RefundOrderInterface builds it (no "Return to
    Stock" flag on any item). ``m2epro_created``: M2E Pro's registry flag
    ``m2epro_extension_skip_shipment_observer`` is set (a shipment/track M2E Pro creates).

    Returns the id of the outbox row it wrote, or None when it wrote none (not an Amazon order,
    module disabled, or the row already existed). Raises RuntimeError when php is missing or
    the observer fails.
    """
    if event not in EVENTS:
        raise ValueError(f"event must be one of {EVENTS}, not {event!r}")
    if (back_to_stock or api_refund) and event != "creditmemo":
        raise ValueError("back_to_stock and api_refund apply to credit memos only")
    php = php_binary()
    if php is None:
        raise RuntimeError(
            "php CLI not found on PATH; the module observer cannot run "
            "(install Debian's php-cli and php-mysql: make system-deps)"
        )
    args = [php, str(OBSERVE_PHP), event, str(int(entity_id))]
    if back_to_stock:
        args.append("--back-to-stock=" + ",".join(str(int(i)) for i in back_to_stock))
    if disabled:
        args.append("--disabled")
    if api_refund:
        args.append("--api-refund")
    if m2epro_created:
        args.append("--m2epro-created")
    try:
        proc = subprocess.run(
            args, env={**os.environ, **db_env(database_url)}, cwd=ROOT,
            capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"observe.php {event} {entity_id} timed out after {exc.timeout}s") from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"observe.php {event} {entity_id} failed (exit {proc.returncode}): "
            f"{proc.stderr.strip() or proc.stdout.strip()}"
        )
    out = proc.stdout.strip()
    if out == "none":
        return None
    if not out.isdigit():
        raise RuntimeError(f"observe.php {event} {entity_id}: unexpected output {proc.stdout!r}")
    return int(out)


def m2epro_import(
    conn: Connection, order_id: int, amazon_order_id: str, *,
    account_id: int = 1, refund_mode: int | None = 1,
    order_item_ids: dict[int, str] | None = None, amazon_component_enabled: bool = True,
) -> None:
    """Store what M2E Pro keeps for an Amazon order it imported (tests/fixtures' M2E tables).

    ``sales_order.ext_order_id`` NULL (M2E never writes it); the payment with method
    ``m2epropayment`` and ``additional_information`` {component_mode: amazon, channel_order_id};
    ``m2epro_order`` + ``m2epro_amazon_order``; the account's ``magento_orders_settings`` JSON
    with ``refund_and_cancellation.refund_mode`` (None: no account row); and per Magento order
    item (``order_item_ids``: sales_order_item.item_id -> Amazon OrderItemId) its
    ``additional_data`` ``{"m2epro_extension": {"items": [{"order_item_id": ...}]}}``;
    ``m2epro_config`` ``/component/amazon/`` ``mode`` (M2E's Amazon part on or off).
    The caller commits.
    """
    info = {"component_mode": "amazon", "payment_method": "", "channel_order_id": amazon_order_id,
            "channel_final_fee": 0, "cash_on_delivery_cost": 0, "transactions": [], "tax_id": None}
    conn.execute(text("UPDATE sales_order SET ext_order_id = NULL WHERE entity_id = :o"), {"o": order_id})
    conn.execute(
        text("INSERT INTO sales_order_payment (parent_id, method, additional_information)"
             " VALUES (:o, 'm2epropayment', :i)"),
        {"o": order_id, "i": json.dumps(info)},
    )
    m2e_id = conn.execute(
        text("INSERT INTO m2epro_order (account_id, magento_order_id, component_mode)"
             " VALUES (:a, :o, 'amazon')"),
        {"a": account_id, "o": order_id},
    ).lastrowid
    conn.execute(
        text("INSERT INTO m2epro_amazon_order (order_id, amazon_order_id) VALUES (:m, :a)"),
        {"m": m2e_id, "a": amazon_order_id},
    )
    if refund_mode is not None:
        settings = {"refund_and_cancellation": {
            "refund_mode": refund_mode, "credit_memo": 0, "credit_memo_buyer_requested_cancel": 0}}
        conn.execute(
            text("INSERT INTO m2epro_amazon_account (account_id, magento_orders_settings)"
                 " VALUES (:a, :s) ON DUPLICATE KEY UPDATE magento_orders_settings = VALUES(magento_orders_settings)"),
            {"a": account_id, "s": json.dumps(settings)},
        )
    conn.execute(text("DELETE FROM m2epro_config WHERE `group` = '/component/amazon/' AND `key` = 'mode'"))
    conn.execute(
        text("INSERT INTO m2epro_config (`group`, `key`, `value`) VALUES ('/component/amazon/', 'mode', :v)"),
        {"v": "1" if amazon_component_enabled else "0"},
    )
    for item_id, amazon_item_id in (order_item_ids or {}).items():
        data = {"m2epro_extension": {"pretended_to_be_simple": False,
                                     "items": [{"order_item_id": amazon_item_id}]}}
        conn.execute(text("UPDATE sales_order_item SET additional_data = :d WHERE item_id = :i"),
                     {"d": json.dumps(data), "i": item_id})
