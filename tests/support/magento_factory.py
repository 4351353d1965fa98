"""A small factory for Amazon orders, credit memos and shipments in the Magento Sales fixture.

It writes the rows Magento itself would write (sales_order, sales_order_item,
sales_order_grid, sales_creditmemo(_item), sales_shipment(_item,_track)) with Magento's
totals arithmetic for the simple cases the tests need: per-unit price and tax, one
shipping charge, optional adjustments. Amounts are Decimal, rounded like Magento.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, text

CENT = Decimal("0.01")
# increment ids are unique per store and entity type in Magento: one sequence for all
_INCREMENTS = itertools.count(100000001)


def r2(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ItemSpec:
    sku: str
    qty: int
    price: Decimal  # per unit, excl. tax
    tax: Decimal  # per unit
    amazon_item_id: str | None = None  # goes to sales_order_item.ext_order_item_id
    name: str = ""
    discount: Decimal = Decimal(0)  # per unit


@dataclass
class Order:
    entity_id: int
    increment_id: str
    ext_order_id: str | None
    currency: str
    store_id: int
    items: dict[str, int] = field(default_factory=dict)  # sku -> sales_order_item.item_id
    specs: dict[str, ItemSpec] = field(default_factory=dict)
    shipping: Decimal = Decimal(0)
    shipping_tax: Decimal = Decimal(0)


class MagentoFactory:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @staticmethod
    def _next_increment() -> str:
        return f"{next(_INCREMENTS):09d}"

    def _insert(self, table: str, values: dict[str, object]) -> int:
        cols = ", ".join(f"`{c}`" for c in values)
        params = ", ".join(f":{c}" for c in values)
        result = self.conn.execute(
            text(f"INSERT INTO `{table}` ({cols}) VALUES ({params})"), values
        )
        return int(result.lastrowid or 0)

    def order(
        self,
        items: list[ItemSpec],
        *,
        ext_order_id: str | None,
        currency: str = "EUR",
        store_id: int = 1,
        shipping: Decimal = Decimal(0),
        shipping_tax: Decimal = Decimal(0),
        state: str = "processing",
        status: str = "processing",
    ) -> Order:
        increment = self._next_increment()
        subtotal = sum((i.price * i.qty for i in items), Decimal(0))
        tax = sum((i.tax * i.qty for i in items), Decimal(0)) + shipping_tax
        discount = sum((i.discount * i.qty for i in items), Decimal(0))
        grand = subtotal + tax + shipping - discount
        order_id = self._insert(
            "sales_order",
            {
                "state": state,
                "status": status,
                "increment_id": increment,
                "ext_order_id": ext_order_id,
                "store_id": store_id,
                "order_currency_code": currency,
                "base_currency_code": currency,
                "global_currency_code": currency,
                "store_currency_code": currency,
                "subtotal": subtotal,
                "base_subtotal": subtotal,
                "tax_amount": tax,
                "shipping_amount": shipping,
                "shipping_tax_amount": shipping_tax,
                "discount_amount": -discount,
                "grand_total": grand,
                "base_grand_total": grand,
                "total_qty_ordered": sum(i.qty for i in items),
            },
        )
        self._insert(
            "sales_order_grid",
            {
                "entity_id": order_id,
                "status": status,
                "store_id": store_id,
                "increment_id": increment,
                "grand_total": grand,
                "base_grand_total": grand,
                "order_currency_code": currency,
                "base_currency_code": currency,
            },
        )
        order = Order(
            order_id,
            increment,
            ext_order_id,
            currency,
            store_id,
            shipping=shipping,
            shipping_tax=shipping_tax,
        )
        for spec in items:
            item_id = self._insert(
                "sales_order_item",
                {
                    "order_id": order_id,
                    "store_id": store_id,
                    "product_type": "simple",
                    "sku": spec.sku,
                    "name": spec.name or spec.sku,
                    "ext_order_item_id": spec.amazon_item_id,
                    "qty_ordered": spec.qty,
                    "qty_invoiced": spec.qty,
                    "price": spec.price,
                    "base_price": spec.price,
                    "price_incl_tax": spec.price + spec.tax,
                    "tax_amount": spec.tax * spec.qty,
                    "discount_amount": spec.discount * spec.qty,
                    "row_total": spec.price * spec.qty,
                    "base_row_total": spec.price * spec.qty,
                    "row_total_incl_tax": (spec.price + spec.tax) * spec.qty,
                },
            )
            order.items[spec.sku] = item_id
            order.specs[spec.sku] = spec
        return order

    def creditmemo(
        self,
        order: Order,
        lines: dict[str, int],
        *,
        shipping: Decimal = Decimal(0),
        shipping_tax: Decimal = Decimal(0),
        adjustment_positive: Decimal = Decimal(0),
        adjustment_negative: Decimal = Decimal(0),
    ) -> int:
        """lines: sku -> qty credited. Returns sales_creditmemo.entity_id."""
        subtotal = sum((order.specs[s].price * q for s, q in lines.items()), Decimal(0))
        tax = sum((order.specs[s].tax * q for s, q in lines.items()), Decimal(0)) + shipping_tax
        discount = sum((order.specs[s].discount * q for s, q in lines.items()), Decimal(0))
        grand = subtotal + tax + shipping - discount + adjustment_positive - adjustment_negative
        memo_id = self._insert(
            "sales_creditmemo",
            {
                "store_id": order.store_id,
                "order_id": order.entity_id,
                "increment_id": self._next_increment(),
                "state": 2,
                "order_currency_code": order.currency,
                "base_currency_code": order.currency,
                "subtotal": subtotal,
                "base_subtotal": subtotal,
                "subtotal_incl_tax": subtotal + tax - shipping_tax,
                "tax_amount": tax,
                "discount_amount": -discount,
                "shipping_amount": shipping,
                "shipping_tax_amount": shipping_tax,
                "shipping_incl_tax": shipping + shipping_tax,
                "adjustment_positive": adjustment_positive,
                "adjustment_negative": adjustment_negative,
                "adjustment": adjustment_positive - adjustment_negative,
                "grand_total": grand,
                "base_grand_total": grand,
            },
        )
        for sku, qty in lines.items():
            spec = order.specs[sku]
            self._insert(
                "sales_creditmemo_item",
                {
                    "parent_id": memo_id,
                    "order_item_id": order.items[sku],
                    "sku": sku,
                    "name": spec.name or sku,
                    "qty": qty,
                    "price": spec.price,
                    "base_price": spec.price,
                    "price_incl_tax": spec.price + spec.tax,
                    "row_total": spec.price * qty,
                    "base_row_total": spec.price * qty,
                    "row_total_incl_tax": (spec.price + spec.tax) * qty,
                    "tax_amount": spec.tax * qty,
                    "discount_amount": spec.discount * qty,
                },
            )
            self.conn.execute(
                text(
                    "UPDATE sales_order_item SET qty_refunded = qty_refunded + :q WHERE item_id = :i"
                ),
                {"q": qty, "i": order.items[sku]},
            )
        # Magento closes an order once everything is refunded
        open_qty = self.conn.execute(
            text(
                "SELECT SUM(qty_ordered - qty_refunded) FROM sales_order_item WHERE order_id = :o"
            ),
            {"o": order.entity_id},
        ).scalar_one()
        if open_qty == 0:
            for table in ("sales_order", "sales_order_grid"):
                column = "state = 'closed', " if table == "sales_order" else ""
                self.conn.execute(
                    text(f"UPDATE {table} SET {column}status = 'closed' WHERE entity_id = :o"),
                    {"o": order.entity_id},
                )
        return memo_id

    def shipment(
        self, order: Order, lines: dict[str, int], tracks: Sequence[tuple[str, str, str]] = ()
    ) -> int:
        """lines: sku -> qty shipped; tracks: (carrier_code, title, number)."""
        shipment_id = self._insert(
            "sales_shipment",
            {
                "store_id": order.store_id,
                "order_id": order.entity_id,
                "increment_id": self._next_increment(),
                "total_qty": sum(lines.values()),
            },
        )
        for sku, qty in lines.items():
            self._insert(
                "sales_shipment_item",
                {
                    "parent_id": shipment_id,
                    "order_item_id": order.items[sku],
                    "sku": sku,
                    "name": order.specs[sku].name or sku,
                    "qty": qty,
                    "price": order.specs[sku].price,
                },
            )
            self.conn.execute(
                text(
                    "UPDATE sales_order_item SET qty_shipped = qty_shipped + :q WHERE item_id = :i"
                ),
                {"q": qty, "i": order.items[sku]},
            )
        for carrier, title, number in tracks:
            self._insert(
                "sales_shipment_track",
                {
                    "parent_id": shipment_id,
                    "order_id": order.entity_id,
                    "carrier_code": carrier,
                    "title": title,
                    "track_number": number,
                },
            )
        return shipment_id
