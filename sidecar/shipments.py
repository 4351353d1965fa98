"""Which units of a Magento shipment may be confirmed to Amazon (pure: no I/O).

Amazon refuses (400) a confirmation of units it already shows as shipped, and of units that
were cancelled; Magento still offers both for shipment (a credit memo on an unshipped order
does not cancel the Magento item, and a package confirmed by another connector is not
known to Magento). So each Magento line is matched to its Amazon item (the module's Amazon
OrderItemId first, then ext_order_item_id, then the item link, then the SKU as the
documented fallback), and only the units still open on Amazon are confirmed:

    open = ordered - shipped on Amazon - max(cancelled on Amazon, cancelled by the bridge)

(the bridge's own cancellations count even before Amazon has processed the feed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sidecar.domain import AmazonOrderItem, AmazonOrderState, Shipment, ShipmentItem

AMAZON_ITEM_CODE = re.compile(r"[0-9]{14}", re.ASCII)


@dataclass(frozen=True)
class PackagePlan:
    items: tuple[tuple[str, int], ...]  # (Amazon orderItemId, quantity) to confirm
    notes: tuple[str, ...] = ()  # units left out, and why
    unmatched: str | None = None  # a Magento line with no Amazon item: nothing is confirmed

    @property
    def units(self) -> int:
        return sum(q for _, q in self.items)


def match_item(line: ShipmentItem, state: AmazonOrderState) -> AmazonOrderItem | None:
    for code in (line.amazon_order_item_id, line.ext_order_item_id):
        if code is not None and AMAZON_ITEM_CODE.fullmatch(code):
            for item in state.items:
                if item.order_item_id == code:
                    return item
    linked = [i for i in state.items if i.magento_order_item_id == line.order_item_id]
    if len(linked) == 1:
        return linked[0]
    by_sku = [i for i in state.items if i.seller_sku == line.sku]
    return by_sku[0] if len(by_sku) == 1 else None


def plan_package(
    shipment: Shipment, state: AmazonOrderState, cancelled_by_bridge: Mapping[str, int]
) -> PackagePlan:
    """The units of ``shipment`` still open on Amazon; see the module docstring."""
    wanted: dict[str, int] = {}
    skus: dict[str, str] = {}
    items: dict[str, AmazonOrderItem] = {}
    for line, item in _matched_lines(shipment, state):
        if item is None:
            return PackagePlan(
                (),
                unmatched=f"SKU {line.sku!r} (Magento order item {line.order_item_id}) is not "
                f"on Amazon order {state.amazon_order_id}",
            )
        wanted[item.order_item_id] = wanted.get(item.order_item_id, 0) + int(line.qty)
        skus[item.order_item_id], items[item.order_item_id] = line.sku, item
    confirm: list[tuple[str, int]] = []
    notes: list[str] = []
    for code, qty in wanted.items():
        item = items[code]
        cancelled = max(item.quantity_canceled, cancelled_by_bridge.get(code, 0))
        open_units = max(0, item.quantity_ordered - item.quantity_shipped - cancelled)
        send = min(qty, open_units)
        if send > 0:
            confirm.append((code, send))
        if send < qty:
            notes.append(_left_out(skus[code], code, qty - send, item, cancelled))
    return PackagePlan(tuple(confirm), tuple(notes))


def _matched_lines(
    shipment: Shipment, state: AmazonOrderState
) -> list[tuple[ShipmentItem, AmazonOrderItem | None]]:
    """Each unit counted once: a parent line and its children (configurable, bundle) describe
    the same units, so the parent is used when it matches an Amazon item (a configurable: it
    carries the child's SKU), else its children (a bundle sold as separate Amazon items)."""
    ids = {line.order_item_id for line in shipment.items}
    children: dict[int, list[ShipmentItem]] = {}
    for line in shipment.items:
        if line.parent_item_id is not None and line.parent_item_id in ids:
            children.setdefault(line.parent_item_id, []).append(line)
    out: list[tuple[ShipmentItem, AmazonOrderItem | None]] = []
    for line in shipment.items:
        if line.parent_item_id is not None and line.parent_item_id in ids:
            continue  # handled with its parent
        item = match_item(line, state)
        kids = children.get(line.order_item_id, [])
        if item is None and kids:
            out.extend((kid, match_item(kid, state)) for kid in kids if kid.qty > 0)
        elif line.qty > 0 or item is None:
            out.append((line, item))
    return out


def _left_out(sku: str, code: str, units: int, item: AmazonOrderItem, cancelled: int) -> str:
    why = []
    if item.quantity_shipped:
        why.append(f"{item.quantity_shipped} already shown as shipped on Amazon")
    if cancelled:
        why.append(f"{cancelled} cancelled on Amazon")
    return (
        f"SKU {sku} (Amazon item {code}): {units} unit(s) not confirmed, of "
        f"{item.quantity_ordered} ordered {', '.join(why) or 'none are open'}"
    )
