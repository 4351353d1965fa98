"""Builders for credit memos, Amazon orders and ledgers used by the rules tests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sidecar.domain import (
    AccountSettings,
    AmazonOrderItem,
    AmazonOrderState,
    AmazonOrderStatus,
    Component,
    CreditMemo,
    CreditMemoItem,
    FulfillmentChannel,
    LedgerEntry,
    MagentoOrderRef,
    Refund,
    RefundLedger,
    TaxConvention,
)

AMZ_ID = "302-1234567-1234567"
CODE_A = "12345678901234"
CODE_B = "22345678901234"
CODE_C = "32345678901234"
US = "ATVPDKIKX0DER"  # prices without tax: Tax and ShippingTax components are sent
DE = "A1PA6795UKMFR9"  # prices include VAT: net amounts only, Amazon adds the VAT
JP = "A1VC38T7YXB528"
MEMO_CREATED = datetime(2026, 11, 26, 10, 0, 0)
FETCHED = datetime(2026, 11, 26, 10, 5, 0)
NOW = datetime(2026, 11, 26, 10, 6, 0)

D = Decimal


def amz_item(
    code: str = CODE_A,
    sku: str = "ABC-1",
    qty: int = 2,
    shipped: int = 0,
    unit_price: str = "16.80",
    unit_tax: str = "3.19",
    shipping: str = "4.12",
    shipping_tax: str = "0.78",
    *,
    promotion: str = "0",
    promotion_tax: str = "0",
    canceled: int = 0,
    buyer_cancel: bool = False,
    magento_id: int | None = None,
) -> AmazonOrderItem:
    """An Amazon order item; unit prices are multiplied by qty, shipping is the item total."""
    return AmazonOrderItem(
        order_item_id=code,
        seller_sku=sku,
        quantity_ordered=qty,
        quantity_shipped=shipped,
        item_price=D(unit_price) * qty,
        item_tax=D(unit_tax) * qty,
        shipping_price=D(shipping),
        shipping_tax=D(shipping_tax),
        promotion_discount=D(promotion),
        promotion_discount_tax=D(promotion_tax),
        quantity_canceled=canceled,
        buyer_cancel_requested=buyer_cancel,
        buyer_cancel_reason="changed my mind" if buyer_cancel else None,
        magento_order_item_id=magento_id,
    )


def amz_order(
    *items: AmazonOrderItem,
    status: AmazonOrderStatus | None = AmazonOrderStatus.SHIPPED,
    currency: str = "EUR",
    channel: FulfillmentChannel = FulfillmentChannel.MFN,
    fetched_at: datetime = FETCHED,
    prices_include_tax: bool | None = None,
    amazon_order_id: str = AMZ_ID,
    raw_status: str = "",
    marketplace_id: str = US,
) -> AmazonOrderState:
    return AmazonOrderState(
        amazon_order_id=amazon_order_id,
        account_id="acct-1",
        marketplace_id=marketplace_id,
        status=status,
        fulfillment_channel=channel,
        currency=currency,
        last_updated=fetched_at,
        fetched_at=fetched_at,
        items=items or (amz_item(),),
        raw_status=raw_status or (status.value if status else ""),
        prices_include_tax=prices_include_tax,
    )


def memo_item(
    order_item_id: int = 33,
    sku: str = "ABC-1",
    qty: int | str = 1,
    unit_price: str = "16.80",
    unit_tax: str = "3.19",
    *,
    discount: str = "0",
    ext: str | None = CODE_A,
    parent: int | None = None,
    row_total: str | None = None,
    tax: str | None = None,
) -> CreditMemoItem:
    q = D(qty)
    row = D(row_total) if row_total is not None else D(unit_price) * q
    tax_amount = D(tax) if tax is not None else D(unit_tax) * q
    return CreditMemoItem(
        order_item_id=order_item_id,
        sku=sku,
        qty=q,
        price=D(unit_price),
        price_incl_tax=D(unit_price) + D(unit_tax),
        row_total=row,
        row_total_incl_tax=row + tax_amount,
        tax_amount=tax_amount,
        discount_amount=D(discount),
        back_to_stock=True,
        ext_order_item_id=ext,
        parent_item_id=parent,
        name=sku,
    )


def memo(
    *items: CreditMemoItem,
    shipping: str = "0",
    shipping_tax: str = "0",
    adjustment_positive: str = "0",
    adjustment_negative: str = "0",
    currency: str = "EUR",
    ext_order_id: str | None = AMZ_ID,
    increment_id: str = "000000005",
    entity_id: int = 5,
    created_at: datetime = MEMO_CREATED,
    header_discount: str | None = None,
) -> CreditMemo:
    subtotal = sum((i.row_total for i in items), D(0))
    item_tax = sum((i.tax_amount for i in items), D(0))
    discount = sum((i.discount_amount for i in items), D(0))
    header = -D(header_discount) if header_discount is not None else -discount
    grand = (
        subtotal + item_tax + header + D(shipping) + D(shipping_tax)
        + D(adjustment_positive) - D(adjustment_negative)
    )
    return CreditMemo(
        entity_id=entity_id,
        increment_id=increment_id,
        created_at=created_at,
        order_currency_code=currency,
        subtotal=subtotal,
        tax_amount=item_tax + D(shipping_tax),
        discount_amount=header,
        shipping_amount=D(shipping),
        shipping_tax_amount=D(shipping_tax),
        adjustment_positive=D(adjustment_positive),
        adjustment_negative=D(adjustment_negative),
        grand_total=grand,
        items=items,
        order=MagentoOrderRef(
            entity_id=12,
            increment_id="000000012",
            ext_order_id=ext_order_id,
            store_id=1,
            order_currency_code=currency,
            amazon_order_id=ext_order_id,  # as a v1 snapshot reads it
        ),
    )


def settings(
    *,
    refund_on_creditmemo: bool = True,
    restocking: bool = False,
    convention: TaxConvention = TaxConvention.NET_PLUS_TAX,
) -> AccountSettings:
    return AccountSettings(
        account_id="acct-1",
        refund_on_creditmemo=refund_on_creditmemo,
        adjustment_fee_as_restocking_fee=restocking,
        tax_convention=convention,
    )


def ledger_entry(
    code: str,
    component: Component,
    amount: str,
    quantity: int = 0,
    *,
    cancelled: bool = False,
    confirmed: bool = False,
) -> LedgerEntry:
    return LedgerEntry(code, component, D(amount), quantity, cancelled, confirmed)


def ledger(*entries: LedgerEntry, creditmemo_ids: frozenset[int] = frozenset()) -> RefundLedger:
    return RefundLedger(entries=entries, creditmemo_ids=creditmemo_ids)


def components(refund: Refund, code: str | None = None) -> dict[Component, Decimal]:
    """Sum of each component over the refund's lines (optionally one Amazon item only)."""
    out: dict[Component, Decimal] = {}
    for line in refund.lines:
        if code is not None and line.order_item_id != code:
            continue
        for component, amount in line.components:
            out[component] = out.get(component, D(0)) + amount
    return out


def line_components(refund: Refund, merchant_id: str) -> dict[Component, Decimal]:
    for line in refund.lines:
        if line.merchant_adjustment_item_id == merchant_id:
            return dict(line.components)
    raise AssertionError(f"no line {merchant_id} in {refund.lines}")
