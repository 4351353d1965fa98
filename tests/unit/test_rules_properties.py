"""Property tests for sidecar.rules.decide over random orders, ledgers and credit memos.

Invariants: determinism; nothing negative except RestockingFee; every amount quantized and at
most 2 decimals; per item and component nothing above what Amazon still has to refund; units
never above what remains; on tax-inclusive marketplaces no tax component; the refund equals the
credit memo to the minor unit unless the decision says why not; and whenever what Amazon
refunds differs from the credit memo's grand total, the note states the exact difference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.domain import (
    AccountSettings,
    AdjustmentReason,
    AmazonOrderState,
    AmazonOrderStatus,
    Cancel,
    CancelReason,
    Component,
    CreditMemo,
    CreditMemoItem,
    Refund,
    RefundLedger,
    Reject,
)
from sidecar.money import is_quantized, minor_unit, quantize
from sidecar.rules import decide
from tests.unit.rule_builders import (
    DE,
    NOW,
    US,
    amz_item,
    amz_order,
    ledger_entry,
    memo,
    memo_item,
)
from tests.unit.rule_builders import (
    settings as account_settings,
)

D = Decimal
P, T, S, ST, RF = (
    Component.PRINCIPAL,
    Component.TAX,
    Component.SHIPPING,
    Component.SHIPPING_TAX,
    Component.RESTOCKING_FEE,
)
CODES = ("11111111111111", "22222222222222", "33333333333333")


@dataclass(frozen=True)
class Case:
    memo: CreditMemo
    order: AmazonOrderState
    settings: AccountSettings
    ledger: RefundLedger
    remaining: dict[tuple[str, Component], Decimal]  # computed independently of rules.py
    remaining_units: dict[str, int]
    jitter: bool
    untold: Decimal = Decimal(0)  # part of the grand total no line itemises


def money(draw: st.DrawFn, currency: str, low: int, high: int) -> Decimal:
    return D(draw(st.integers(low, high))) * minor_unit(currency)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    currency = draw(st.sampled_from(["EUR", "JPY"]))
    marketplace = draw(st.sampled_from([US, DE]))
    gross = marketplace == DE  # prices include VAT: net amounts are sent, no tax component
    scale = 1 if currency == "JPY" else 100
    n_items = draw(st.integers(1, 3))
    amazon_items = []
    memo_items: list[CreditMemoItem] = []
    entries = []
    remaining: dict[tuple[str, Component], Decimal] = {}
    remaining_units: dict[str, int] = {}
    jitter = False
    shipping_room = D(0)
    shipping_tax_room = D(0)
    for index in range(n_items):
        code = CODES[index]
        sku = f"SKU-{index}"
        qty = draw(st.integers(1, 4))
        shipped = draw(st.integers(0, qty))
        unit_net = money(draw, currency, 0, 200 * scale)
        unit_tax = quantize(unit_net * draw(st.sampled_from([D(0), D("0.07"), D("0.19")])),
                            currency)
        ship_net = money(draw, currency, 0, 10 * scale)
        ship_tax = quantize(ship_net * D("0.19"), currency)
        unit_p, unit_t = (unit_net, D(0)) if gross else (unit_net, unit_tax)
        amazon_items.append(amz_item(
            code, sku, qty, shipped,
            str(unit_net + unit_tax if gross else unit_net), str(unit_tax),
            str(ship_net + ship_tax if gross else ship_net), str(ship_tax),
        ))
        done = draw(st.integers(0, shipped))  # units refunded earlier (shipped ones)
        if done:
            entries.append(ledger_entry(code, P, str(unit_p * done), done))
            if unit_t:
                entries.append(ledger_entry(code, T, str(unit_t * done)))
        remaining[(code, P)] = unit_p * (qty - done)
        remaining[(code, T)] = unit_t * (qty - done)
        ship_p, ship_t = (ship_net, D(0)) if gross else (ship_net, ship_tax)
        remaining[(code, S)] = ship_p
        remaining[(code, ST)] = ship_t
        remaining_units[code] = qty - done
        shipping_room += ship_net
        shipping_tax_room += ship_tax
        too_many = draw(st.sampled_from([False] * 9 + [True]))  # sometimes too many units
        credited = qty - done + 1 if too_many else draw(st.integers(0, qty - done))
        if credited:
            row_total = unit_net * credited
            if row_total and draw(st.booleans()) and draw(st.booleans()):
                row_total += minor_unit(currency) * draw(st.sampled_from([-1, 1]))
                jitter = True
            memo_items.append(memo_item(
                100 + index, sku, credited, str(unit_net), str(unit_tax), ext=code,
                row_total=str(row_total), tax=str(unit_tax * credited),
            ))
    shipping = quantize(shipping_room * draw(st.sampled_from([D(0), D("0.5"), D(1), D("1.1")])),
                        currency)
    shipping_tax = quantize(shipping_tax_room * shipping / shipping_room, currency) \
        if shipping_room else D(0)
    positive = draw(st.sampled_from([D(0), D(0), D(1), D("7.5")])) * (scale // 10 or 1)
    negative = draw(st.sampled_from([D(0), D(0), D(0), D(2)])) * (scale // 10 or 1)
    shipped_all = all(i.quantity_shipped == i.quantity_ordered for i in amazon_items)
    none_shipped = all(i.quantity_shipped == 0 for i in amazon_items)
    status = (AmazonOrderStatus.SHIPPED if shipped_all else
              AmazonOrderStatus.UNSHIPPED if none_shipped else AmazonOrderStatus.PARTIALLY_SHIPPED)
    buyer = draw(st.booleans()) and status == AmazonOrderStatus.UNSHIPPED
    if buyer:
        amazon_items[0] = amz_item(
            amazon_items[0].order_item_id, amazon_items[0].seller_sku,
            amazon_items[0].quantity_ordered, 0,
            str(amazon_items[0].item_price / amazon_items[0].quantity_ordered),
            str(amazon_items[0].item_tax / amazon_items[0].quantity_ordered),
            str(amazon_items[0].shipping_price), str(amazon_items[0].shipping_tax),
            buyer_cancel=True,
        )
    credit = memo(
        *memo_items,
        shipping=str(shipping), shipping_tax=str(shipping_tax),
        adjustment_positive=str(quantize(positive, currency)),
        adjustment_negative=str(quantize(negative, currency)),
        currency=currency,
    )
    # Magento totals the lines do not itemise (discount_tax_compensation_amount): item 5
    untold = draw(st.sampled_from([D(0), D(0), D(0), D("0.4975"), D("1.50")]))
    if untold:
        credit = replace(credit, grand_total=credit.grand_total + untold)
    order = amz_order(*amazon_items, status=status, currency=currency,
                      marketplace_id=marketplace, prices_include_tax=gross or None)
    return Case(
        credit, order,
        account_settings(restocking=draw(st.booleans())),
        RefundLedger(entries=tuple(entries)),
        remaining, remaining_units, jitter, untold,
    )


def memo_components(case: Case) -> dict[Component, Decimal]:
    """What the credit memo asks for, per component (net; no tax where prices include VAT)."""
    gross = bool(case.order.prices_include_tax)
    cur = case.memo.order_currency_code
    p = sum((quantize(i.row_total - i.discount_amount, cur)
             for i in case.memo.items), D(0)) + quantize(case.memo.adjustment_positive, cur)
    t = D(0) if gross else sum((quantize(i.tax_amount, cur) for i in case.memo.items), D(0))
    s = quantize(case.memo.shipping_amount, cur)
    st_ = D(0) if gross else quantize(case.memo.shipping_tax_amount, cur)
    rf = -quantize(case.memo.adjustment_negative, cur)
    return {P: p, T: t, S: s, ST: st_, RF: rf}


@settings(max_examples=200, deadline=None, derandomize=True)
@given(cases())
def test_refund_invariants(case: Case) -> None:
    decision = decide(case.memo, case.order, case.settings, case.ledger, NOW)
    # determinism
    assert decision == decide(case.memo, case.order, case.settings, case.ledger, NOW)
    if isinstance(decision, Reject):
        assert decision.reason
        return
    if isinstance(decision, Cancel):
        assert case.order.status == AmazonOrderStatus.UNSHIPPED
        assert not case.ledger.entries
        if not case.order.buyer_cancel_requested:
            assert {i.order_item_id: i.quantity for i in decision.items} == {
                c: u for c, u in case.remaining_units.items() if u
            }
        for cancelled in decision.items:
            requested = any(i.buyer_cancel_requested for i in case.order.items
                            if i.order_item_id == cancelled.order_item_id)
            assert (cancelled.reason == CancelReason.BUYER_CANCELED) == requested
        assert "Amazon refunds the buyer what it charged" in decision.note
        return
    assert isinstance(decision, Refund), decision
    cur = case.memo.order_currency_code
    sums: dict[tuple[str, Component], Decimal] = {}
    units: dict[str, int] = {}
    credited = {i.ext_order_item_id for i in case.memo.items if i.qty > 0}
    asked = {i.order_item_id for i in case.order.items if i.buyer_cancel_requested}
    for line in decision.lines:
        assert len(line.merchant_adjustment_item_id) <= 40
        assert not (line.quantity and line.quantity_cancelled)
        kinds = {c for c, a in line.components if a}
        whole = case.memo.adjustment_negative > 0 and not case.settings.adjustment_fee_as_restocking_fee
        if credited and kinds & {S, ST} and not whole:  # item 9: shipping with credited items
            assert line.order_item_id in credited | asked
        if RF in kinds:  # item 12: a restocking fee only on returned units
            assert line.reason == AdjustmentReason.CUSTOMER_RETURN and line.quantity > 0
        if line.order_item_id in asked and line.quantity_cancelled:  # item 8
            assert line.reason == AdjustmentReason.CUSTOMER_CANCEL
        assert line.quantity >= 0
        assert line.quantity_cancelled >= 0
        units[line.order_item_id] = (
            units.get(line.order_item_id, 0) + line.quantity + line.quantity_cancelled
        )
        for component, amount in line.components:
            assert is_quantized(amount, cur)
            assert amount == amount.quantize(D("0.01"))
            if component == RF:
                assert amount <= 0
            else:
                assert amount >= 0
                key = (line.order_item_id, component)
                sums[key] = sums.get(key, D(0)) + amount
                if case.order.prices_include_tax:
                    assert component not in (T, ST)  # Amazon adds the VAT itself
    for key, total in sums.items():
        assert total <= case.remaining[key], (key, total, case.remaining[key])
    for code, count in units.items():
        assert count <= case.remaining_units[code]
    assert_difference_explained(case, decision)
    whole_order = (
        case.memo.adjustment_negative > 0 and not case.settings.adjustment_fee_as_restocking_fee
    )
    if whole_order:
        assert "whole order is refunded" in decision.note
        return
    got = {c: sum((a for (_, comp), a in sums.items() if comp == c), D(0)) for c in (P, T, S, ST)}
    got[RF] = sum((a for line in decision.lines for c, a in line.components if c == RF), D(0))
    expected = memo_components(case)
    explained = ("capped", "reduced", "is not sent", "instead of", "buyer asked")
    if any(word in decision.note for word in explained):
        assert case.jitter or "capped" not in decision.note
        for component in (P, T, S, ST):
            assert got[component] <= expected[component] or "instead of" in decision.note
    else:
        assert got == expected
        if not case.order.prices_include_tax:
            assert decision.total == quantize(case.memo.grand_total - case.untold, cur)


def assert_difference_explained(case: Case, decision: Refund) -> None:
    """Item 7: sent != grand total => the note states the exact difference and a reason."""
    cur = case.memo.order_currency_code
    diff = case.memo.grand_total - decision.total
    if diff == 0:
        return
    amount = quantize(abs(diff), cur) if is_quantized(diff, cur) else abs(diff).normalize()
    stated = (f"{format(amount, 'f')} {cur} {'less' if diff > 0 else 'more'} than the credit "
              f"memo's grand total")
    assert stated in decision.note, (stated, decision.note)
    assert ": " in decision.note.split(stated, 1)[1]  # followed by the reasons
