"""JSON form of Cancel / Refund decisions, as stored in refund_bridge_feed_message.decision.

Amounts are strings, so a stored decision reads back to the same Decimals.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sidecar.domain import (
    AdjustmentReason,
    Cancel,
    CancelItem,
    CancelReason,
    Component,
    Refund,
    RefundLine,
)


def dump_decision(decision: Cancel | Refund) -> str:
    doc: dict[str, Any]
    if isinstance(decision, Cancel):
        doc = {
            "kind": "cancel",
            "amazon_order_id": decision.amazon_order_id,
            "merchant_order_id": decision.merchant_order_id,
            "note": decision.note,
            "whole_order": decision.whole_order,
            "items": [
                {"order_item_id": i.order_item_id, "reason": str(i.reason), "quantity": i.quantity}
                for i in decision.items
            ],
        }
    else:
        doc = {
            "kind": "refund",
            "amazon_order_id": decision.amazon_order_id,
            "currency": decision.currency,
            "note": decision.note,
            "lines": [
                {
                    "order_item_id": ln.order_item_id,
                    "merchant_adjustment_item_id": ln.merchant_adjustment_item_id,
                    "reason": str(ln.reason),
                    "quantity": ln.quantity,
                    "quantity_cancelled": ln.quantity_cancelled,
                    "components": [[str(c), str(a)] for c, a in ln.components],
                }
                for ln in decision.lines
            ],
        }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def load_decision(raw: str) -> Cancel | Refund:
    doc = json.loads(raw)
    if doc["kind"] == "cancel":
        return Cancel(
            amazon_order_id=doc["amazon_order_id"],
            merchant_order_id=doc["merchant_order_id"],
            note=doc.get("note", ""),
            whole_order=bool(doc.get("whole_order", True)),
            items=tuple(
                CancelItem(i["order_item_id"], CancelReason(i["reason"]), int(i["quantity"]))
                for i in doc["items"]
            ),
        )
    return Refund(
        amazon_order_id=doc["amazon_order_id"],
        currency=doc["currency"],
        note=doc.get("note", ""),
        lines=tuple(
            RefundLine(
                order_item_id=ln["order_item_id"],
                merchant_adjustment_item_id=ln["merchant_adjustment_item_id"],
                reason=AdjustmentReason(ln["reason"]),
                quantity=int(ln["quantity"]),
                quantity_cancelled=int(ln["quantity_cancelled"]),
                components=tuple((Component(c), Decimal(a)) for c, a in ln["components"]),
            )
            for ln in doc["lines"]
        ),
    )


def describe(decision: Cancel | Refund) -> str:
    """One line for humans: Magento comments, the health page, logs."""
    if isinstance(decision, Cancel):
        reasons = sorted({str(i.reason) for i in decision.items})
        return (
            f"cancel {len(decision.items)} item(s) of Amazon order {decision.amazon_order_id}"
            f" (CancelReason {', '.join(reasons)})"
        )
    parts = []
    for ln in decision.lines:
        comps = ", ".join(f"{c} {a}" for c, a in ln.components)
        if ln.quantity:
            qty = f"{ln.quantity} returned"
        elif ln.quantity_cancelled:
            qty = f"{ln.quantity_cancelled} cancelled"
        else:
            qty = "amount-only adjustment, no units"
        parts.append(f"item {ln.order_item_id} {qty} ({ln.reason}): {comps}")
    return (
        f"refund {decision.total} {decision.currency} on Amazon order {decision.amazon_order_id}: "
        + "; ".join(parts)
    )
