"""SQLAlchemy Core definitions of every table the sidecar touches.

On MySQL/MariaDB the DDL of record is `sql/mysql/*.sql` (applied by `sidecar migrate`);
tests/test_migrate.py proves these definitions match it. On SQLite (the embedded demo)
`metadata.create_all()` creates them. Magento's own tables are declared with only the
columns the sidecar reads or writes (`magento_metadata`).
"""

from __future__ import annotations

import re

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import mysql

metadata = MetaData()
magento_metadata = MetaData()

# BIGINT UNSIGNED on MySQL, INTEGER on SQLite (so AUTOINCREMENT works there)
Id = (
    BigInteger()
    .with_variant(mysql.BIGINT(unsigned=True), "mysql", "mariadb")
    .with_variant(Integer(), "sqlite")
)
UInt = Integer().with_variant(mysql.INTEGER(unsigned=True), "mysql", "mariadb")
# Sidecar-owned times: DATETIME(6), naive UTC (the engine pins the session to +00:00)
Time6 = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# Magento-compatible times (the outbox is also declared in db_schema.xml: no fractions there)
Stamp = DateTime().with_variant(mysql.TIMESTAMP(), "mysql", "mariadb")
Money = Numeric(20, 4, asdecimal=True)
Qty = Numeric(12, 4, asdecimal=True)
MediumText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
NOW = text("CURRENT_TIMESTAMP")

outbox = Table(
    "refund_bridge_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_type", String(32), nullable=False),
    Column("entity_id", UInt, nullable=False),
    Column("order_id", UInt, nullable=False),
    Column("payload", MediumText, nullable=False),
    Column("status", String(32), nullable=False, server_default="pending"),
    Column("attempts", UInt, nullable=False, server_default="0"),
    Column("available_at", Stamp, nullable=False, server_default=NOW),
    Column("lease_owner", String(128)),
    Column("lease_token", String(36)),
    Column("lease_expires_at", Stamp),
    Column("status_message", Text),
    Column("last_error", Text),
    Column("created_at", Stamp, nullable=False, server_default=NOW),
    Column("updated_at", Stamp, nullable=False, server_default=NOW),
    UniqueConstraint("event_type", "entity_id", name="REFUND_BRIDGE_OUTBOX_EVENT_TYPE_ENTITY_ID"),
    Index("REFUND_BRIDGE_OUTBOX_STATUS_AVAILABLE_AT_ID", "status", "available_at", "id"),
    Index("REFUND_BRIDGE_OUTBOX_ORDER_ID", "order_id"),
)

schema_migration = Table(
    "refund_bridge_schema_migration",
    metadata,
    Column("version", String(128), primary_key=True),
    Column("checksum", String(64), nullable=False),
    Column("applied_at", Time6, nullable=False),
)

worker_heartbeat = Table(
    "refund_bridge_worker_heartbeat",
    metadata,
    Column("worker_id", String(128), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Time6, nullable=False),
    Column("beat_at", Time6, nullable=False),
    Column("rows_processed", BigInteger, nullable=False, server_default="0"),
)

# Amazon's view of an order, as last read with getOrder / searchOrders.
amazon_order = Table(
    "refund_bridge_amazon_order",
    metadata,
    Column("amazon_order_id", String(32), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("fulfillment_channel", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("prices_include_tax", Boolean),
    Column("last_updated_at", Time6, nullable=False),
    Column("fetched_at", Time6, nullable=False),
    Column("buyer_cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("buyer_cancel_reason", String(255)),
    Column("magento_order_id", UInt),
    Column("raw", MediumText),
    Column("created_at", Time6, nullable=False),
    Column("updated_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_AMAZON_ORDER_MAGENTO_ORDER_ID", "magento_order_id"),
    Index("REFUND_BRIDGE_AMAZON_ORDER_ACCOUNT_STATUS", "account_id", "status"),
)

amazon_order_item = Table(
    "refund_bridge_amazon_order_item",
    metadata,
    Column("amazon_order_id", String(32), nullable=False),
    Column("order_item_id", String(20), nullable=False),
    Column("seller_sku", String(255), nullable=False),
    Column("quantity_ordered", Integer, nullable=False),
    Column("quantity_shipped", Integer, nullable=False),
    Column("quantity_canceled", Integer, nullable=False, server_default="0"),
    Column("item_price", Money, nullable=False),
    Column("item_tax", Money, nullable=False),
    Column("shipping_price", Money, nullable=False),
    Column("shipping_tax", Money, nullable=False),
    Column("promotion_discount", Money, nullable=False, server_default="0"),
    Column("promotion_discount_tax", Money, nullable=False, server_default="0"),
    Column("shipping_discount", Money, nullable=False, server_default="0"),
    Column("shipping_discount_tax", Money, nullable=False, server_default="0"),
    Column("gift_wrap_price", Money, nullable=False, server_default="0"),  # 011
    Column("gift_wrap_tax", Money, nullable=False, server_default="0"),  # 011
    Column("buyer_cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("buyer_cancel_reason", String(255)),
    Column("magento_order_item_id", UInt),
    PrimaryKeyConstraint("amazon_order_id", "order_item_id"),
)

# 009: the order sync's checkpoint per (account, marketplace), its leader lease per account,
# and the Amazon changes announced in Magento (each once).
order_sync = Table(
    "refund_bridge_order_sync",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    Column("checkpoint", Time6),
    Column("covered_from", Time6),
    Column("pass_after", Time6),
    Column("pass_before", Time6),
    Column("page_token", Text),
    Column("pages_stored", Integer, nullable=False, server_default="0"),
    Column("orders_stored", BigInteger, nullable=False, server_default="0"),
    Column("passes", BigInteger, nullable=False, server_default="0"),
    Column("proof_wanted", Time6),
    Column("last_error", Text),
    Column("updated_at", Time6, nullable=False),
    PrimaryKeyConstraint("account_id", "marketplace_id"),
)

order_sync_lease = Table(
    "refund_bridge_order_sync_lease",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Time6, nullable=False),
)

order_announcement = Table(
    "refund_bridge_order_announcement",
    metadata,
    Column("amazon_order_id", String(32), nullable=False),
    Column("change_key", String(191), nullable=False),
    Column("magento_order_id", UInt),
    Column("comment", Text, nullable=False),
    Column("announced_at", Time6, nullable=False),
    PrimaryKeyConstraint("amazon_order_id", "change_key"),
)

# One row per (feed message line, component): what was sent and whether Amazon took it.
ledger = Table(
    "refund_bridge_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("amazon_order_id", String(32), nullable=False),
    Column("order_item_id", String(20), nullable=False),
    Column("component", String(32), nullable=False),
    Column("amount", Money, nullable=False),
    Column("quantity", Integer, nullable=False, server_default="0"),
    Column("cancelled", Boolean, nullable=False, server_default="0"),
    Column("creditmemo_id", UInt, nullable=False),
    Column("outbox_id", Id, nullable=False),
    Column("feed_message_id", Id, nullable=False),
    # pending (sent or about to be) | confirmed (Amazon accepted) | rejected (Amazon refused)
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("created_at", Time6, nullable=False),
    Column("updated_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_LEDGER_ORDER", "amazon_order_id", "order_item_id"),
    Index("REFUND_BRIDGE_LEDGER_FEED_MESSAGE", "feed_message_id"),
)

# A feed and its state machine: planned -> document_created -> uploaded -> submitting
# -> submitted -> done | cancelled | fatal | unknown (see docs/feeds.md).
feed = Table(
    "refund_bridge_feed",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("feed_type", String(64), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    # seller|feed type|marketplace from planning until the feedId is stored (007, unique)
    Column("inflight_slot", String(191)),
    Column("state", String(32), nullable=False),
    Column("content", MediumText, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("message_count", Integer, nullable=False),
    Column("document_id", String(255)),
    Column("upload_url", Text),
    Column("amazon_feed_id", String(64)),
    Column("processing_status", String(32)),
    Column("result_document_id", String(255)),
    Column("submit_started_at", Time6),
    Column("submitted_at", Time6),
    Column("finished_at", Time6),
    Column("next_check_at", Time6, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("submit_attempts", Integer, nullable=False, server_default="0"),
    Column("poll_attempts", Integer, nullable=False, server_default="0"),
    Column("report_attempts", Integer, nullable=False, server_default="0"),
    Column("lease_token", String(36)),
    Column("lease_expires_at", Time6),
    Column("last_error", Text),
    Column("created_at", Time6, nullable=False),
    Column("updated_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_FEED_STATE_NEXT_CHECK", "state", "next_check_at", "id"),
    Index("REFUND_BRIDGE_FEED_AMAZON_FEED_ID", "amazon_feed_id"),
    Index("REFUND_BRIDGE_FEED_INFLIGHT_SLOT", "inflight_slot", unique=True),
)

# One OrderAdjustment / OrderAcknowledgement message, waiting for or inside a feed.
feed_message = Table(
    "refund_bridge_feed_message",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", Id, nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    Column("feed_type", String(64), nullable=False),
    Column("amazon_order_id", String(32), nullable=False),
    Column("magento_order_id", UInt, nullable=False),
    Column("decision", MediumText, nullable=False),  # JSON of the Cancel / Refund decision
    Column("feed_pk", Id),
    Column("message_id", Integer),  # MessageID inside the feed
    # planned | in_feed | accepted | rejected | unknown
    Column("state", String(16), nullable=False, server_default="planned"),
    Column("result_code", String(32)),
    Column("result_message", Text),
    Column("created_at", Time6, nullable=False),
    Column("updated_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_FEED_MESSAGE_PENDING", "state", "account_id", "feed_type", "id"),
    Index("REFUND_BRIDGE_FEED_MESSAGE_FEED", "feed_pk"),
    Index("REFUND_BRIDGE_FEED_MESSAGE_OUTBOX", "outbox_id"),
)

# Packages the bridge confirmed to Amazon, one per Magento shipment (sql/mysql/006).
shipment_package = Table(
    "refund_bridge_shipment_package",
    metadata,
    Column("shipment_id", UInt, primary_key=True, autoincrement=False),
    Column("amazon_order_id", String(32), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("package_reference_id", String(32), nullable=False),
    Column("order_items", Text, nullable=False),
    Column("tracking_number", String(255)),
    Column("state", String(16), nullable=False, server_default="confirmed"),  # or sending
    Column("confirmed_at", Time6, nullable=False),
    Column("updated_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_SHIPMENT_PACKAGE_ORDER", "amazon_order_id"),
)

# Token buckets shared by every sidecar process of one account (see amazon/ratelimit.py).
rate_limit = Table(
    "refund_bridge_rate_limit",
    metadata,
    Column("account_id", String(64), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("tokens", Numeric(12, 6, asdecimal=True), nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("blocked_until_us", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("account_id", "operation"),
)

# Admin actions (requeue / resolve) with who and why.
audit_log = Table(
    "refund_bridge_audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_id", Id),
    Column("action", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Time6, nullable=False),
    Index("REFUND_BRIDGE_AUDIT_LOG_OUTBOX_ID", "outbox_id"),
)

# ------------------------------------------------------------- Magento (subset)

sales_order = Table(
    "sales_order",
    magento_metadata,
    Column("entity_id", UInt, primary_key=True, autoincrement=True),
    Column("state", String(32)),
    Column("status", String(32)),
    Column("increment_id", String(32)),
    Column("ext_order_id", String(255)),
    Column("store_id", SmallInteger),
    Column("order_currency_code", String(255)),
    Column("grand_total", Money),
    Column("updated_at", Stamp, server_default=NOW),
)

sales_order_grid = Table(
    "sales_order_grid",
    magento_metadata,
    Column("entity_id", UInt, primary_key=True),
    Column("status", String(32)),
    Column("increment_id", String(50)),
    Column("updated_at", Stamp),
)

sales_order_item = Table(
    "sales_order_item",
    magento_metadata,
    Column("item_id", UInt, primary_key=True, autoincrement=True),
    Column("order_id", UInt, nullable=False),
    Column("sku", String(255)),
    Column("ext_order_item_id", String(255)),
    Column("qty_ordered", Qty),
    Column("qty_shipped", Qty),
    Column("qty_refunded", Qty),
)

sales_order_status_history = Table(
    "sales_order_status_history",
    magento_metadata,
    Column("entity_id", UInt, primary_key=True, autoincrement=True),
    Column("parent_id", UInt, nullable=False),
    Column("is_customer_notified", Integer),
    Column("is_visible_on_front", SmallInteger, nullable=False, server_default="0"),
    Column("comment", Text),
    Column("status", String(32)),
    Column("created_at", Stamp, nullable=False, server_default=NOW),
    Column("entity_name", String(32)),
)

sales_order_status = Table(
    "sales_order_status",
    magento_metadata,
    Column("status", String(32), primary_key=True),
    Column("label", String(128), nullable=False),
)

sales_order_status_state = Table(
    "sales_order_status_state",
    magento_metadata,
    Column("status", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("is_default", SmallInteger, nullable=False, server_default="0"),
    Column("visible_on_front", SmallInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("status", "state"),
)


# ------------------------------------------------------------------ table prefix

TABLE_PREFIX_PATTERN = re.compile(r"[A-Za-z0-9_]{0,32}")
_prefix = ""


def _all_tables() -> list[Table]:
    return [*metadata.tables.values(), *magento_metadata.tables.values()]


def base_name(table: Table) -> str:
    """The table's name without Magento's table prefix."""
    name: str = table.info.setdefault("base_name", table.name)
    return name


def apply_prefix(prefix: str) -> None:
    """Name every table, the sidecar's and Magento's, `<prefix><name>` as Magento's
    `db.table_prefix` does (SIDECAR_TABLE_PREFIX). Idempotent; "" restores the plain names.
    Call it at start, before the first statement: an engine caches compiled SQL."""
    global _prefix
    if not TABLE_PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(
            f"table prefix {prefix!r}: only letters, digits and '_' (at most 32), as Magento allows"
        )
    for table in _all_tables():
        table.name = table.fullname = prefix + base_name(table)
    _prefix = prefix


def current_prefix() -> str:
    return _prefix


def prefixed_sql(sql: str, prefix: str) -> str:
    """A migration's SQL with every table this module declares named `<prefix><name>`."""
    if not prefix:
        return sql
    names = sorted({base_name(t) for t in _all_tables()}, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, names))
    pattern = re.compile(rf"(?<![A-Za-z0-9_])({alternatives})(?![A-Za-z0-9_])")
    return pattern.sub(lambda m: prefix + m.group(1), sql)
