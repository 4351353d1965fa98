"""Refuse to run on the wrong tables: Magento's table prefix and the sidecar's must agree.

Magento's `db.table_prefix` makes every table `<prefix>sales_order`,
`<prefix>refund_bridge_outbox` (the module writes through getTableName(), so its outbox row
lands in the prefixed table). The sidecar names its tables with SIDECAR_TABLE_PREFIX
(sidecar.tables.apply_prefix). If the two differ the sidecar would watch an empty outbox and
never see a credit memo, so every entry point (migrate, worker, web, CLI) checks first and
stops with a message naming the prefix it found.
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
    return {n[: -len(table)] for n in names if n.endswith(table)}


def _setting(prefix: str) -> str:
    return f"{PREFIX_SETTING}={prefix}" if prefix else f"{PREFIX_SETTING} unset"


def table_prefix_problem(names: set[str], prefix: str = "") -> str | None:
    """Why the sidecar, naming its tables with ``prefix``, must not run on a database with
    these tables (None: it may)."""
    magento = {p for p in _prefixes(names, ORDER_TABLE) if f"{p}{ORDER_ITEM_TABLE}" in names}
    other_outboxes = _prefixes(names, OUTBOX_TABLE) - {prefix}
    if f"{prefix}{ORDER_TABLE}" in names and not other_outboxes:
        if magento - {prefix}:
            log.warning(
                "this database also holds Magento tables with the prefix(es) %s; the sidecar "
                "uses %r", ", ".join(repr(p) for p in sorted(magento - {prefix})), prefix
            )
        return None
    found = sorted((magento | other_outboxes) - {prefix})
    if not found:
        return None  # no Magento here at all (a sidecar-only database): nothing to confuse
    example = next(
        (f"{p}{t}" for p in found for t in (ORDER_TABLE, OUTBOX_TABLE) if f"{p}{t}" in names),
        found[0],
    )
    wanted = f"{PREFIX_SETTING}={found[0]}" if found[0] else f"{PREFIX_SETTING} unset"
    return (
        f"Magento's tables in this database carry the table prefix {found[0]!r} (found "
        f"{example}), but the sidecar is configured with {_setting(prefix)} and would run on "
        f"the wrong tables; set {wanted} (Magento's app/etc/env.php db table_prefix). "
        "Refusing to start."
    )


def tables_problem(engine: Engine, prefix: str = "") -> str | None:
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
    return table_prefix_problem(names, prefix)


def check_tables(engine: Engine, prefix: str = "") -> None:
    """Raise WrongTables when Magento's tables here carry another prefix (module doc)."""
    problem = tables_problem(engine, prefix)
    if problem is not None:
        raise WrongTables(problem)
