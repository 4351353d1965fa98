"""Refuse to run on the wrong tables: Magento installed with a table prefix.

Magento's `db-prefix` makes every table `<prefix>sales_order`, `<prefix>refund_bridge_outbox`
(the module writes through getTableName(), so its outbox row lands in the prefixed table).
This sidecar reads and writes unprefixed names only, so on such a database it would watch an
empty outbox and never see a credit memo. Every entry point (migrate, worker, web, CLI)
checks first and stops with a message naming the prefix it found.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, inspect

log = logging.getLogger(__name__)

ORDER_TABLE = "sales_order"
ORDER_ITEM_TABLE = "sales_order_item"
OUTBOX_TABLE = "refund_bridge_outbox"
PREFIX_SETTING = "SIDECAR_TABLE_PREFIX"


class WrongTables(RuntimeError):
    """The database's Magento tables are not the ones the sidecar would use."""


def _prefixes(names: set[str], table: str) -> set[str]:
    return {n[: -len(table)] for n in names if n.endswith(table) and n != table}


def table_prefix_problem(names: set[str]) -> str | None:
    """Why the sidecar must not run on a database with these tables (None: it may)."""
    magento = {p for p in _prefixes(names, ORDER_TABLE) if f"{p}{ORDER_ITEM_TABLE}" in names}
    outboxes = _prefixes(names, OUTBOX_TABLE)
    if ORDER_TABLE in names and not outboxes:
        if magento:
            log.warning(
                "this database also holds Magento tables with the prefix(es) %s; the sidecar "
                "uses the unprefixed ones", ", ".join(sorted(magento))
            )
        return None
    found = sorted(magento | outboxes)
    if not found:
        return None  # no Magento here at all (a sidecar-only database): nothing to confuse
    example = next(
        (f"{p}{t}" for p in found for t in (ORDER_TABLE, OUTBOX_TABLE) if f"{p}{t}" in names),
        found[0],
    )
    return (
        f"Magento's tables in this database carry the table prefix {found[0]!r} (found "
        f"{example}), but this sidecar reads and writes unprefixed names ({ORDER_TABLE}, "
        f"{OUTBOX_TABLE}) and would run on the wrong tables. A table prefix is not supported "
        f"yet ({PREFIX_SETTING} is reserved for it); use a Magento database without a prefix. "
        "Refusing to start."
    )


def tables_problem(engine: Engine) -> str | None:
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    return table_prefix_problem(names)


def check_tables(engine: Engine) -> None:
    """Raise WrongTables when Magento's tables here are prefixed (see the module doc)."""
    problem = tables_problem(engine)
    if problem is not None:
        raise WrongTables(problem)
