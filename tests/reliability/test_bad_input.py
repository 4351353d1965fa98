"""(e) The bad-input corpus: ~50 hostile outbox rows among valid credit memos. Each hostile
row ends terminal (dead / skipped / rejected) after at most QUICK attempts, with a reason a
person can read (no SQL text, no traceback), never blocks the valid rows, and never makes
a refund: every adjustment Amazon accepted belongs to a valid credit memo."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, insert, select

from sidecar.clock import utcnow
from sidecar.tables import outbox
from tests.reliability.conftest import Rig, record
from tests.reliability.harness import Figures, check, drive, insert_order, measure, seed_memos

VALID = 10
QUICK = 2  # attempts a hostile row may take before it ends
HOSTILE_END = ("dead", "skipped", "rejected")
SQL_TEXT = re.compile(r"\[SQL:|\bSELECT\b.*\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.*\bSET\b|"
                      r"\bWHERE\b|pymysql|sqlalchemy|Traceback|\(\d{4}, ['\"]")
Doc = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        target: Any = doc
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return doc
    return mutate


def _drop(path: str) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        target: Any = doc
        keys = path.split(".")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[keys[-1]]
        return doc
    return mutate


def _no_item_ids(then: Callable[[Doc], Doc]) -> Callable[[Doc], Doc]:
    """Only the SKU links the item (so a hostile SKU cannot be matched by item id)."""
    def mutate(doc: Doc) -> Doc:
        for item in doc["items"]:
            item["ext_order_item_id"] = None
        return then(doc)
    return mutate


def _all_items(key: str, value: Any) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        for item in doc["items"]:
            item[key] = value
        return doc
    return mutate


def _nothing(then: Callable[[Doc], Doc]) -> Callable[[Doc], Doc]:
    """No shipping and no totals either: only the item lines could carry money."""
    def mutate(doc: Doc) -> Doc:
        for key in ("shipping_amount", "shipping_tax_amount", "shipping_incl_tax",
                    "grand_total", "tax_amount", "subtotal", "subtotal_incl_tax"):
            doc["creditmemo"][key] = "0.0000"
        return then(doc)
    return mutate


def _both(*changes: Callable[[Doc], Doc]) -> Callable[[Doc], Doc]:
    def mutate(doc: Doc) -> Doc:
        for change in changes:
            doc = change(doc)
        return doc
    return mutate


#: name -> a change to a valid payload (dict), or raw payload text, or (row columns, change).
Hostile = Callable[[Doc], Doc] | str | tuple[dict[str, Any], Callable[[Doc], Doc]]
DEEP = "[" * 100_000 + "]" * 100_000
CORPUS: dict[str, Hostile] = {
    "invoice row with a credit memo payload": ({"event_type": "invoice"}, lambda d: d),
    "shipment row with a credit memo payload": ({"event_type": "shipment"}, lambda d: d),
    "payload event_type says shipment": _set("event_type", "shipment"),
    "payload order id is another order": ({"order_id": "other"}, lambda d: d),
    "payload credit memo id differs from the row": _set("creditmemo.entity_id", 999_999_999),
    "100,000-deep JSON": DEEP,
    "truncated JSON": '{"schema_version": 1, "event_type": "creditmemo", "order": {',
    "empty payload": "",
    "JSON array": "[1, 2, 3]",
    "JSON null": "null",
    "JSON string": '"creditmemo"',
    "item id 2^40": _all_items("order_item_id", 2**40),
    "order entity id 2^40": _set("order.entity_id", 2**40),
    "qty 10^30": _set("items.0.qty", "1000000000000000000000000000000.0000"),
    "price with 5 decimals": _set("items.0.price", "16.80001"),
    "grand total with 5 decimals": _set("creditmemo.grand_total", "61.04001"),
    "shipping with 5 decimals": _set("creditmemo.shipping_amount", "4.99001"),
    "amount NaN string": _set("creditmemo.subtotal", "NaN"),
    "amount Infinity string": _set("items.0.row_total", "Infinity"),
    "amount -Infinity string": _set("items.0.tax_amount", "-Infinity"),
    "amount NaN literal": '{"schema_version": 1, "event_type": "creditmemo", "x": NaN}',
    "amount as a float number": _set("items.0.price", 16.8),
    "amount as a list": _set("creditmemo.grand_total", ["61.04"]),
    "amount as an object": _set("items.0.row_total", {"value": "16.80"}),
    "negative qty": _set("items.0.qty", "-1.0000"),
    "zero qty everywhere, nothing else": _nothing(_all_items("qty", "0.0000")),
    "qty as a boolean": _set("items.0.qty", True),
    "credit memo dated 2099": _set("creditmemo.created_at", "2099-01-01 00:00:00"),
    "credit memo date not a date": _set("creditmemo.created_at", "yesterday"),
    "credit memo date missing": _drop("creditmemo.created_at"),
    "order key missing": _drop("order"),
    "creditmemo key missing": _drop("creditmemo"),
    "items key missing": _drop("items"),
    "items empty, nothing else": _nothing(_set("items", [])),
    "items is an object": _set("items", {"sku": "MUG-BLUE"}),
    "item sku missing": _no_item_ids(_drop("items.0.sku")),
    "schema_version 99": _set("schema_version", 99),
    "schema_version as a string": _set("schema_version", "1"),
    "Amazon order id XML-ish": _set("order.ext_order_id",
                                    "302-1</AmazonOrderID><AmazonOrderID>302-1234567-1234567"),
    "Amazon order id CDATA": _set("order.ext_order_id", "<![CDATA[302-0000001-4000001]]>"),
    "item code and SKU XML entities": _both(
        _all_items("ext_order_item_id", "&lt;Quantity&gt;99&lt;/Quantity&gt;"),
        _all_items("sku", "&amp;&lt;Quantity&gt;")),
    "SKU XML-ish, no item ids": _no_item_ids(_set("items.0.sku", "<Message><MessageID>1")),
    "SKU right-to-left override": _no_item_ids(_all_items("sku", "\u202eEULB-GUM")),
    "SKU NUL byte": _no_item_ids(_all_items("sku", "MUG\u0000BLUE")),
    "SKU emoji": _no_item_ids(_all_items("sku", "\U0001f4a5\U0001f4a5")),
    "order on no Amazon account (store 999)": _set("order.store_id", 999),
    "Amazon order that does not exist": _set("order.ext_order_id", "302-9999999-9999999"),
    "Magento order that does not exist": ({"order_id": 987_654_321},
                                          _set("order.entity_id", 987_654_321)),
    "currency XXX": _set("creditmemo.order_currency_code", "XXX"),
    "refund of 50 units": _all_items("qty", "50.0000"),
    "item code and SKU not on the order": _both(
        _all_items("ext_order_item_id", "99999999999999"), _all_items("sku", "NOT-SOLD")),
    "adjustment_negative not a number": _set("creditmemo.adjustment_negative", "ten euros"),
    "a 2 MB SKU, no item ids": _no_item_ids(_all_items("sku", "x" * 2_000_000)),
}


def insert_hostile(engine: Engine, k: int, name: str, hostile: Hostile, base: Doc,
                   order_id: int, other_order: int) -> int:
    row: dict[str, Any] = {"event_type": "creditmemo", "entity_id": k, "order_id": order_id}
    if isinstance(hostile, str):
        payload = hostile
    else:
        if isinstance(hostile, tuple):
            columns, hostile = hostile
            row.update(columns)
            if row["order_id"] == "other":
                row["order_id"] = other_order
        payload = json.dumps(hostile(copy.deepcopy(base)))
    now = utcnow().replace(microsecond=0)
    with engine.begin() as conn:
        return int(conn.execute(insert(outbox).values(
            **row, payload=payload, available_at=now, created_at=now, updated_at=now,
        )).inserted_primary_key[0])  # type: ignore[index]


def test_bad_input_corpus(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    valid = seed_memos(rig.engine, rig.emulator, VALID // 2, start=1)
    # one real order and memo per hostile row, so a wrong refund would show on its counters
    seeds = seed_memos(rig.engine, rig.emulator, len(CORPUS), start=1001)
    with rig.engine.begin() as conn:
        rows = {int(r.id): r for r in conn.execute(
            select(outbox).where(outbox.c.id.in_([s.outbox_id for s in seeds])))}
        conn.execute(outbox.delete().where(outbox.c.id.in_(list(rows))))
        extra_order = insert_order(conn, 99_999, "302-0099999-4099999")
    hostile_ids: dict[int, str] = {}
    order_of: dict[str, str] = {}
    for k, ((name, hostile), seed) in enumerate(zip(CORPUS.items(), seeds, strict=True),
                                                start=5001):
        base_row = rows[seed.outbox_id]
        base = json.loads(base_row.payload)
        base["creditmemo"]["entity_id"] = k
        hostile_ids[insert_hostile(rig.engine, k, name, hostile, base, base_row.order_id,
                                   extra_order)] = name
        order_of[seed.amazon_order_id] = name
    valid += seed_memos(rig.engine, rig.emulator, VALID - len(valid), start=2001)

    t0 = time.monotonic()
    rig.pool.start(rig.url, rig.emulator.url)
    drive([rig.engine], rig.clock, real_seconds=75, sim_seconds=3600)
    fig = measure(Figures("e bad input", wall_s=time.monotonic() - t0, sim_s=rig.clock.seconds,
                          notes=f"{len(CORPUS)} hostile rows + {VALID} valid memos"),
                  rig.engine, rig.emulator, valid, other_rows_terminal=False)

    with rig.engine.connect() as conn:
        ended = {int(r.id): r for r in conn.execute(
            select(outbox).where(outbox.c.id.in_(list(hostile_ids))))}
    wrong: list[str] = []
    for row_id, name in hostile_ids.items():
        r = ended[row_id]
        reason = (r.status_message or r.last_error or "").replace("\n", " ")
        if r.status not in HOSTILE_END:
            (fig.problems.append if r.status in ("needs_attention", "done") else
             lambda _: None)(f"{name}: {r.status}")
            if r.status in ("pending", "processing", "submitted"):
                fig.stuck += 1
            wrong.append(f"{name}: ended {r.status} (attempts {r.attempts}): {reason[:200]}")
        elif r.attempts > QUICK:
            wrong.append(f"{name}: {r.status} only after {r.attempts} attempts: {reason[:200]}")
        elif not reason.strip() or SQL_TEXT.search(reason) or len(reason) > 2000:
            wrong.append(f"{name}: {r.status} with an unreadable reason: {reason[:300]!r}")
    fig.memos += len(hostile_ids)
    valid_orders = {m.amazon_order_id for m in valid}
    refunded = [c for c in rig.emulator.state.refund_counters()
                if c.adjustments and c.amazon_order_id not in valid_orders]
    fig.lost += 0
    fig.dup_counters += sum(c.adjustments for c in refunded)  # a refund nobody asked for
    fig.notes += f"; {len(wrong)} hostile rows wrong"
    record(fig)
    culprits = sorted({order_of.get(c.amazon_order_id, c.amazon_order_id) for c in refunded})
    assert not refunded, "hostile rows made refunds: " + "; ".join(culprits) + "\n" + \
        "\n".join(wrong)
    assert not wrong, "hostile rows not ended right:\n" + "\n".join(wrong)
    check(fig, lost_answers=0)
