"""Snapshot schema_version 2 payloads for tests, built in Python from the module's v1 rows.

The module (PHP, helper h1) writes v2 itself; until every test runs on that, tests take the
row the real observer wrote and upgrade its payload the way docs/snapshot.md defines v2, so
the sidecar is exercised with exactly the keys the contract promises.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert, select, update

from sidecar.clock import utcnow
from sidecar.tables import outbox

UNSET: Any = object()


def m2e(refunds_on_creditmemo: bool | None, account_id: int | None = 1) -> dict[str, Any]:
    return {
        "name": "m2epro",
        "account_id": account_id,
        "refunds_on_creditmemo": refunds_on_creditmemo,
    }


def upgrade(
    payload: str,
    *,
    amazon_order_id: str | None = UNSET,
    source: str | None = "m2epro_payment",
    connector: dict[str, Any] | None = None,
    ext_order_id: str | None = UNSET,
    state: int = 2,
    created_by_connector: str | None = None,
    restock_known: bool = True,
    item_ids: Mapping[int, str | None] | None = None,
    item_changes: Mapping[int, Mapping[str, Any]] | None = None,
    event_type: str | None = None,
) -> str:
    """A v1 payload as v2. item_ids: Magento order_item_id -> Amazon OrderItemId (default:
    the v1 ext_order_item_id); item_changes: order_item_id -> keys to overwrite."""
    doc = json.loads(payload)
    order = doc["order"]
    doc["schema_version"] = 2
    order["amazon_order_id"] = order["ext_order_id"] if amazon_order_id is UNSET else (
        amazon_order_id
    )
    order["amazon_order_id_source"] = source if order["amazon_order_id"] is not None else None
    order["connector"] = connector
    if ext_order_id is not UNSET:
        order["ext_order_id"] = ext_order_id
    header = doc.get("creditmemo") or doc["shipment"]
    header["created_by_connector"] = created_by_connector
    if "creditmemo" in doc:
        header["state"] = state
        header["restock_known"] = restock_known
    for item in doc["items"]:
        known = (item_ids or {}).get(item["order_item_id"], item.get("ext_order_item_id"))
        item["amazon_order_item_id"] = known
        if not restock_known and "back_to_stock" in item:
            item["back_to_stock"] = None
        item.update((item_changes or {}).get(item["order_item_id"], {}))
    if event_type is not None:
        doc["event_type"] = event_type
    return json.dumps(doc)


V2_ORDER_KEYS = ("amazon_order_id", "amazon_order_id_source", "connector")
V2_HEADER_KEYS = ("state", "created_by_connector", "restock_known")


def as_v1(payload: str) -> str:
    """The payload as a module before schema_version 2 wrote it (a row queued before the
    upgrade): the v2 keys removed, whichever version the module under test writes."""
    doc = json.loads(payload)
    doc["schema_version"] = 1
    for key in V2_ORDER_KEYS:
        doc["order"].pop(key, None)
    for key in V2_HEADER_KEYS:
        (doc.get("creditmemo") or doc["shipment"]).pop(key, None)
    for item in doc["items"]:
        item.pop("amazon_order_item_id", None)
    return json.dumps(doc)


def upgrade_row(engine: Engine, outbox_id: int, **changes: Any) -> str:
    """Rewrite a pending outbox row's payload as v2 (see upgrade); returns the new payload."""
    with engine.begin() as conn:
        payload = conn.execute(
            select(outbox.c.payload).where(outbox.c.id == outbox_id)
        ).scalar_one()
        new = upgrade(payload, **changes)
        conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(payload=new))
    return new


def add_row(engine: Engine, event_type: str, entity_id: int, order_id: int, payload: str) -> int:
    """A pending row as the module writes it (e.g. a "track" row for a track id)."""
    now = utcnow().replace(microsecond=0)
    with engine.begin() as conn:
        pk = conn.execute(
            insert(outbox).values(
                event_type=event_type, entity_id=entity_id, order_id=order_id, payload=payload,
                status="pending", available_at=now, created_at=now, updated_at=now,
            )
        ).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def payload_of(engine: Engine, outbox_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(select(outbox.c.payload).where(outbox.c.id == outbox_id)).scalar_one()
        )
