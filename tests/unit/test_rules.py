"""One named test per refund rule (docs/rules.md lists which test proves which rule)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from sidecar.amazon.orders import order_doc_from_state, order_state_from_api
from sidecar.codec import describe, dump_decision, load_decision
from sidecar.domain import (
    AdjustmentReason,
    AmazonOrderState,
    AmazonOrderStatus,
    Cancel,
    CancelItem,
    CancelReason,
    Component,
    FulfillmentChannel,
    Refund,
    RefundLedger,
    Reject,
    Skip,
    TaxConvention,
    Wait,
)
from sidecar.rules import decide
from tests.unit.rule_builders import (
    AMZ_ID,
    CODE_A,
    CODE_B,
    DE,
    MEMO_CREATED,
    NOW,
    amz_item,
    amz_order,
    components,
    ledger,
    ledger_entry,
    line_components,
    memo,
    memo_item,
    settings,
)

D = Decimal
P, T, S, ST, RF, GW, GWT = (
    Component.PRINCIPAL,
    Component.TAX,
    Component.SHIPPING,
    Component.SHIPPING_TAX,
    Component.RESTOCKING_FEE,
    Component.GIFT_WRAP,
    Component.GIFT_WRAP_TAX,
)
SHIPPED = AmazonOrderStatus.SHIPPED
UNSHIPPED = AmazonOrderStatus.UNSHIPPED
PARTIAL = AmazonOrderStatus.PARTIALLY_SHIPPED
EMPTY = RefundLedger()


def as_refund(decision: object) -> Refund:
    assert isinstance(decision, Refund), decision
    return decision


def as_reject(decision: object) -> str:
    assert isinstance(decision, Reject), decision
    return decision.reason


def shipped_order() -> AmazonOrderState:
    return amz_order(amz_item(qty=2, shipped=2), status=SHIPPED)


# ------------------------------------------------------------------ rule 1


def test_rule1_amazon_order_of_a_store_without_account_is_a_misconfiguration() -> None:
    """The module resolved an Amazon order id, but no account covers its store: rejected
    with what to fix (a loud misconfiguration), never skipped as "not an Amazon order"."""
    decision = decide(memo(memo_item()), amz_order(), None, EMPTY, NOW)
    assert isinstance(decision, Reject)
    assert "has no Amazon account" in decision.reason and "store_ids" in decision.reason
    assert "requeue" in decision.reason


def test_rule1_no_account_and_no_amazon_id_skipped() -> None:
    decision = decide(memo(memo_item(), ext_order_id="000000012"), amz_order(), None, EMPTY, NOW)
    assert isinstance(decision, Skip)
    assert "not an Amazon order" in decision.reason


@pytest.mark.parametrize("ext", [None, "000000012", "302-123456-1234567", "302-1234567-12345678"])
def test_rule1_non_amazon_order_id_skipped(ext: str | None) -> None:
    decision = decide(memo(memo_item(), ext_order_id=ext), amz_order(), settings(), EMPTY, NOW)
    assert isinstance(decision, Skip)
    assert "not an Amazon order" in decision.reason


def test_rule1_refund_setting_off_skipped() -> None:
    decision = decide(
        memo(memo_item()), amz_order(), settings(refund_on_creditmemo=False), EMPTY, NOW
    )
    assert isinstance(decision, Skip)
    assert "Cancellation & Refund if Credit Memo is created" in decision.reason


def test_rule12_already_submitted_memo_skipped() -> None:
    done = RefundLedger(creditmemo_ids=frozenset({5}))
    decision = decide(memo(memo_item()), amz_order(), settings(), done, NOW)
    assert isinstance(decision, Skip)
    assert "already submitted" in decision.reason


# ------------------------------------------------------------ fresh state


def test_fresh_state_unknown_order_waits_for_refresh() -> None:
    decision = decide(memo(memo_item()), None, settings(), EMPTY, NOW)
    assert isinstance(decision, Wait)
    assert decision.refresh_order


def test_fresh_state_order_read_before_memo_waits_for_refresh() -> None:
    stale = amz_order(fetched_at=MEMO_CREATED.replace(minute=0, second=0, hour=9))
    decision = decide(memo(memo_item()), stale, settings(), EMPTY, NOW)
    assert isinstance(decision, Wait)
    assert decision.refresh_order
    assert "before credit memo" in decision.reason


def test_fresh_state_other_amazon_order_rejected() -> None:
    other = amz_order(amazon_order_id="999-1234567-1234567")
    assert "not the credit memo's order" in as_reject(
        decide(memo(memo_item()), other, settings(), EMPTY, NOW)
    )


# ------------------------------------------------------------ rules 2 and 3


def test_rule3_pending_rejected() -> None:
    order = amz_order(status=AmazonOrderStatus.PENDING)
    reason = as_reject(decide(memo(memo_item()), order, settings(), EMPTY, NOW))
    assert "status Pending" in reason


@pytest.mark.parametrize(
    "status",
    [
        AmazonOrderStatus.CANCELED,
        AmazonOrderStatus.UNFULFILLABLE,
        AmazonOrderStatus.INVOICE_UNCONFIRMED,
        AmazonOrderStatus.PENDING_AVAILABILITY,
    ],
)
def test_rule3_non_refundable_status_rejected(status: AmazonOrderStatus) -> None:
    order = amz_order(status=status)
    reason = as_reject(decide(memo(memo_item()), order, settings(), EMPTY, NOW))
    assert f"status {status.value}" in reason


def test_rule3_unknown_status_rejected() -> None:
    order = amz_order(status=None, raw_status="Teleported")
    reason = as_reject(decide(memo(memo_item()), order, settings(), EMPTY, NOW))
    assert "unknown" in reason
    assert "Teleported" in reason


# ------------------------------------------------------------------ rule 11


def test_rule11_fba_order_rejected() -> None:
    order = amz_order(channel=FulfillmentChannel.AFN)
    assert "FBA" in as_reject(decide(memo(memo_item()), order, settings(), EMPTY, NOW))


def test_rule11_currency_mismatch_rejected() -> None:
    order = amz_order(currency="GBP")
    reason = as_reject(decide(memo(memo_item()), order, settings(), EMPTY, NOW))
    assert "EUR" in reason
    assert "GBP" in reason


def test_rule11_empty_memo_rejected() -> None:
    empty = memo(memo_item(qty=0))
    assert "empty" in as_reject(decide(empty, amz_order(), settings(), EMPTY, NOW))


def test_rule11_units_above_remaining_rejected() -> None:
    already = ledger(ledger_entry(CODE_A, P, "16.80", 1), ledger_entry(CODE_A, T, "3.19"))
    reason = as_reject(decide(memo(memo_item(qty=2)), shipped_order(), settings(), already, NOW))
    assert "2 unit(s)" in reason
    assert "only 1 of 2" in reason


def test_rule11_amount_above_remaining_rejected_with_numbers() -> None:
    order = amz_order(replace(amz_item(qty=3, shipped=3), item_price=D("10.00"), item_tax=D(0)))
    too_much = memo(memo_item(qty=1, row_total="3.40", tax="0"))
    reason = as_reject(decide(too_much, order, settings(), EMPTY, NOW))
    assert "Principal of SKU ABC-1" in reason
    assert "3.40 EUR" in reason
    assert "3.33 EUR" in reason
    assert "exceeds by 0.07 EUR" in reason


def test_rule11_rounding_difference_capped() -> None:
    order = amz_order(replace(amz_item(qty=3, shipped=3), item_price=D("10.00"), item_tax=D(0)))
    one_cent_over = memo(memo_item(qty=1, row_total="3.34", tax="0"))
    refund = as_refund(decide(one_cent_over, order, settings(), EMPTY, NOW))
    assert components(refund)[P] == D("3.33")
    assert "capped" in refund.note


def test_rule11_last_unit_gets_the_remainder() -> None:
    order = amz_order(replace(amz_item(qty=3, shipped=3), item_price=D("10.00"), item_tax=D(0)))
    done = ledger(ledger_entry(CODE_A, P, "6.66", 2))
    refund = as_refund(
        decide(memo(memo_item(qty=1, row_total="3.34", tax="0")), order, settings(), done, NOW)
    )
    assert components(refund)[P] == D("3.34")
    assert refund.note == ""


def test_rule11_ledger_reduces_what_remains() -> None:
    done = ledger(ledger_entry(CODE_A, P, "16.80", 1), ledger_entry(CODE_A, T, "3.19"))
    refund = as_refund(decide(memo(memo_item(qty=1)), shipped_order(), settings(), done, NOW))
    assert components(refund) == {P: D("16.80"), T: D("3.19")}


# ------------------------------------------------------------- item mapping


def test_mapping_by_amazon_order_item_code() -> None:
    item = memo_item(sku="RENAMED-IN-MAGENTO", ext=CODE_A)
    refund = as_refund(decide(memo(item), shipped_order(), settings(), EMPTY, NOW))
    assert [line.order_item_id for line in refund.lines] == [CODE_A]


def test_mapping_by_sku_when_code_missing_or_unknown() -> None:
    for ext in (None, "99999999999999", "not-a-code"):
        credit = memo(memo_item(ext=ext))
        refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
        assert [line.order_item_id for line in refund.lines] == [CODE_A]


def test_mapping_unknown_sku_rejected() -> None:
    item = memo_item(sku="NOPE-1", ext=None)
    reason = as_reject(decide(memo(item), shipped_order(), settings(), EMPTY, NOW))
    assert "SKU NOPE-1" in reason


def test_mapping_ambiguous_sku_rejected() -> None:
    order = amz_order(
        amz_item(CODE_A, qty=1, shipped=1), amz_item(CODE_B, qty=1, shipped=1), status=SHIPPED
    )
    reason = as_reject(decide(memo(memo_item(ext=None)), order, settings(), EMPTY, NOW))
    assert "matches 2 items" in reason


def test_mapping_configurable_parent_and_child_counted_once() -> None:
    order = amz_order(
        amz_item(
            sku="SHIRT-M",
            qty=1,
            shipped=1,
            unit_tax="0",
            shipping="0",
            shipping_tax="0",
            unit_price="20.00",
        )
    )
    parent = memo_item(40, "SHIRT-M", 1, "20.00", "0", ext=None)
    child = memo_item(41, "SHIRT-M", 1, "0", "0", ext=None, parent=40)
    refund = as_refund(decide(memo(parent, child), order, settings(), EMPTY, NOW))
    assert len(refund.lines) == 1
    line = refund.lines[0]
    assert (line.quantity, line.merchant_adjustment_item_id) == (1, "CM000000005-41")
    assert dict(line.components) == {P: D("20.00")}


def test_mapping_zero_qty_lines_skipped() -> None:
    order = amz_order(amz_item(CODE_A, qty=2, shipped=2), amz_item(CODE_B, "XYZ", 1, 1))
    refund = as_refund(
        decide(
            memo(memo_item(), memo_item(34, "XYZ", 0, ext=CODE_B)), order, settings(), EMPTY, NOW
        )
    )
    assert [line.order_item_id for line in refund.lines] == [CODE_A]


def test_mapping_fractional_quantity_rejected() -> None:
    reason = as_reject(decide(memo(memo_item(qty="1.5")), shipped_order(), settings(), EMPTY, NOW))
    assert "not a whole number" in reason


# ---------------------------------------------------------- rules 4, 5, 6


def test_rule4_unshipped_buyer_request_full_memo_cancels_with_buyercanceled() -> None:
    order = amz_order(amz_item(qty=2, buyer_cancel=True), status=UNSHIPPED)
    decision = decide(memo(memo_item(qty=2), shipping="4.12"), order, settings(), EMPTY, NOW)
    assert isinstance(decision, Cancel)
    assert decision.items == (CancelItem(CODE_A, CancelReason.BUYER_CANCELED, 2),)
    assert decision.amazon_order_id == AMZ_ID
    assert decision.merchant_order_id == "000000012"


def test_rule5_unshipped_whole_order_cancels_with_noinventory() -> None:
    order = amz_order(amz_item(CODE_A, qty=2), amz_item(CODE_B, "XYZ", 1), status=UNSHIPPED)
    full = memo(memo_item(qty=2), memo_item(34, "XYZ", 1, ext=CODE_B))
    decision = decide(full, order, settings(), EMPTY, NOW)
    assert isinstance(decision, Cancel)
    assert decision.items == (
        CancelItem(CODE_A, CancelReason.NO_INVENTORY, 2),
        CancelItem(CODE_B, CancelReason.NO_INVENTORY, 1),
    )


def test_rule6_unshipped_partial_memo_cancels_units_not_the_order() -> None:
    order = amz_order(amz_item(CODE_A, qty=2), amz_item(CODE_B, "XYZ", 1), status=UNSHIPPED)
    refund = as_refund(decide(memo(memo_item(qty=2)), order, settings(), EMPTY, NOW))
    assert len(refund.lines) == 1
    line = refund.lines[0]
    assert line.merchant_adjustment_item_id == "CM000000005-33-c"
    assert (line.reason, line.quantity, line.quantity_cancelled) == (
        AdjustmentReason.NO_INVENTORY,
        0,
        2,
    )
    assert dict(line.components) == {P: D("33.60"), T: D("6.38")}


def test_item8_buyer_request_partial_memo_cancels_the_requested_item_whole() -> None:
    # the buyer asked to cancel; the memo credits one of two units: Amazon still cancels
    # both (BuyerCanceled, whole units) and the note says Magento should credit the rest
    order = amz_order(amz_item(qty=2, buyer_cancel=True), status=UNSHIPPED)
    credit = memo(memo_item(qty=1))
    decision = decide(credit, order, settings(), EMPTY, NOW)
    assert isinstance(decision, Cancel), decision
    assert decision.items == (CancelItem(CODE_A, CancelReason.BUYER_CANCELED, 2),)
    assert decision.whole_order  # the only item: the order is cancelled
    assert "Amazon refunds the whole cancelled amount" in decision.note
    # Amazon refunds both units and their shipping: 2 x 19.99 + 4.90
    assert "credit the remaining 24.89 EUR in Magento too" in decision.note
    assert "Amazon refunds 44.88 EUR, 24.89 EUR more than the credit memo's grand total" in (
        decision.note
    )


def test_item8_never_buyercanceled_for_items_the_buyer_did_not_ask_to_cancel() -> None:
    order = amz_order(
        amz_item(CODE_A, qty=1, buyer_cancel=True), amz_item(CODE_B, "XYZ", 1), status=UNSHIPPED
    )
    whole = memo(memo_item(33, qty=1), memo_item(34, "XYZ", 1, ext=CODE_B))
    decision = decide(whole, order, settings(), EMPTY, NOW)
    assert isinstance(decision, Cancel), decision
    assert set(decision.items) == {
        CancelItem(CODE_A, CancelReason.BUYER_CANCELED, 1),
        CancelItem(CODE_B, CancelReason.NO_INVENTORY, 1),
    }
    assert decision.whole_order
    # a memo on the other item only still cancels the requested one, as the buyer asked
    other = decide(memo(memo_item(34, "XYZ", 1, ext=CODE_B)), order, settings(), EMPTY, NOW)
    assert isinstance(other, Cancel), other
    assert set(other.items) == set(decision.items)
    only_asked = decide(memo(memo_item(33, qty=1)), order, settings(), EMPTY, NOW)
    assert isinstance(only_asked, Cancel), only_asked
    assert only_asked.items == (CancelItem(CODE_A, CancelReason.BUYER_CANCELED, 1),)
    assert not only_asked.whole_order  # item B stays open: Magento is not told "cancelled"
    assert load_decision(dump_decision(only_asked)) == only_asked
    # part of another item: an acknowledgement carries whole items only (re-sending one after
    # an unknown outcome must not cancel more units), so refund lines do it all
    three = amz_order(amz_item(CODE_A, qty=1, buyer_cancel=True), amz_item(CODE_B, "XYZ", 3),
                      status=UNSHIPPED)
    mixed = as_refund(decide(memo(memo_item(34, "XYZ", 1, ext=CODE_B)), three, settings(),
                             EMPTY, NOW))
    assert {(ln.order_item_id, ln.reason, ln.quantity_cancelled) for ln in mixed.lines} == {
        (CODE_A, AdjustmentReason.CUSTOMER_CANCEL, 1), (CODE_B, AdjustmentReason.NO_INVENTORY, 1)}


def test_item8_buyer_requested_units_are_never_sent_as_no_inventory() -> None:
    # an earlier refund on the item rules out an OrderAcknowledgement: the requested units
    # are cancelled by refund lines, with CustomerCancel (never NoInventory), all of them
    order = amz_order(amz_item(qty=3, buyer_cancel=True), status=UNSHIPPED)
    earlier = ledger(ledger_entry(CODE_A, P, "16.80", 1, cancelled=True, confirmed=True))
    refund = as_refund(decide(memo(memo_item(qty=1)), order, settings(), earlier, NOW))
    (line,) = refund.lines
    assert (line.reason, line.quantity_cancelled) == (AdjustmentReason.CUSTOMER_CANCEL, 2)
    assert "the buyer asked to cancel SKU ABC-1" in refund.note
    assert "credit the rest in Magento too" in refund.note


def test_rule6_unshipped_with_earlier_refunds_never_cancels_the_order() -> None:
    order = amz_order(amz_item(qty=2), status=UNSHIPPED)
    earlier = ledger(
        ledger_entry(CODE_A, P, "16.80", 1, cancelled=True), ledger_entry(CODE_A, T, "3.19")
    )
    refund = as_refund(decide(memo(memo_item(qty=1)), order, settings(), earlier, NOW))
    (line,) = refund.lines
    assert line.quantity_cancelled == 1
    assert dict(line.components) == {P: D("16.80"), T: D("3.19")}


def test_rule6_units_cancelled_by_us_and_seen_by_amazon_count_once() -> None:
    # Amazon processed our earlier QuantityCancelled: its quantity_canceled shows that unit,
    # and our ledger shows it too; one unit is left, not zero
    order = amz_order(amz_item(qty=2, canceled=1), status=UNSHIPPED)
    earlier = ledger(
        ledger_entry(CODE_A, P, "16.80", 1, cancelled=True, confirmed=True),
        ledger_entry(CODE_A, T, "3.19", confirmed=True),
    )
    refund = as_refund(decide(memo(memo_item(qty=1)), order, settings(), earlier, NOW))
    (line,) = refund.lines
    assert line.quantity_cancelled == 1
    assert dict(line.components) == {P: D("16.80"), T: D("3.19")}


def test_item2_pending_cancellation_and_one_made_outside_the_bridge_both_count() -> None:
    # 3 units: the buyer cancelled one in Seller Central (Amazon shows it), and our own
    # cancellation of another is still in flight (pending, not yet on Amazon): 1 unit is left
    order = amz_order(amz_item(qty=3, canceled=1), status=UNSHIPPED)
    in_flight = ledger(ledger_entry(CODE_A, P, "16.80", 1, cancelled=True))
    reason = as_reject(decide(memo(memo_item(qty=2)), order, settings(), in_flight, NOW))
    assert "only 1 of 3 remain" in reason
    # once confirmed, Amazon's count includes ours: still one unit left, never zero or two
    shown = amz_order(amz_item(qty=3, canceled=2), status=UNSHIPPED)
    confirmed = ledger(ledger_entry(CODE_A, P, "16.80", 1, cancelled=True, confirmed=True))
    refund = as_refund(decide(memo(memo_item(qty=1)), shown, settings(), confirmed, NOW))
    assert refund.lines[0].quantity_cancelled == 1
    assert "only 1 of 3 remain" in as_reject(
        decide(memo(memo_item(qty=2)), shown, settings(), confirmed, NOW)
    )


def test_rule6_units_cancelled_outside_the_bridge_still_count() -> None:
    # the buyer or Amazon cancelled one unit without us: only one unit remains
    order = amz_order(amz_item(qty=2, canceled=1), status=UNSHIPPED)
    reason = as_reject(decide(memo(memo_item(qty=2)), order, settings(), EMPTY, NOW))
    assert "only 1 of 2 remain" in reason


def test_rule6_units_magento_shipped_but_amazon_does_not_know_rejected() -> None:
    # the shipment never reached Amazon: cancelling those units as NoInventory would be wrong
    order = amz_order(amz_item(qty=2, shipped=0), status=UNSHIPPED)
    shipped_in_magento = replace(memo_item(qty=1), qty_shipped=D(2))
    reason = as_reject(decide(memo(shipped_in_magento), order, settings(), EMPTY, NOW))
    assert "Magento shows 2 unit(s) shipped but Amazon shows 0" in reason
    assert "confirm the shipment to Amazon first" in reason


def test_rule4_order_already_cancelled_by_us_rejected() -> None:
    order = amz_order(amz_item(qty=2), status=UNSHIPPED)
    cancelled = RefundLedger(creditmemo_ids=frozenset({4}), order_canceled_by_us=True)
    reason = as_reject(decide(memo(memo_item(qty=1)), order, settings(), cancelled, NOW))
    assert "already cancelled" in reason


def test_rule6_partially_shipped_unshipped_units_first_then_returns() -> None:
    order = amz_order(
        amz_item(
            qty=3,
            shipped=1,
            unit_price="10.00",
            unit_tax="1.90",
            shipping="3.00",
            shipping_tax="0.57",
        ),
        status=PARTIAL,
    )
    credit = memo(
        memo_item(qty=3, unit_price="10.00", unit_tax="1.90"), shipping="3.00", shipping_tax="0.57"
    )
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    cancelled, returned = refund.lines
    assert cancelled.merchant_adjustment_item_id == "CM000000005-33-c"
    assert (cancelled.reason, cancelled.quantity, cancelled.quantity_cancelled) == (
        AdjustmentReason.NO_INVENTORY,
        0,
        2,
    )
    assert returned.merchant_adjustment_item_id == "CM000000005-33"
    assert (returned.reason, returned.quantity, returned.quantity_cancelled) == (
        AdjustmentReason.CUSTOMER_RETURN,
        1,
        0,
    )
    assert dict(cancelled.components) == {P: D("20.00"), T: D("3.80"), S: D("2.00"), ST: D("0.38")}
    assert dict(returned.components) == {P: D("10.00"), T: D("1.90"), S: D("1.00"), ST: D("0.19")}
    assert refund.total == credit.grand_total


# ------------------------------------------------------------------ rule 7


def test_rule7_shipped_partial_refund_customer_return() -> None:
    credit = memo(memo_item(qty=1), shipping="4.12", shipping_tax="0.78")
    refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert line.order_item_id == CODE_A
    assert line.merchant_adjustment_item_id == "CM000000005-33"
    assert (line.reason, line.quantity, line.quantity_cancelled) == (
        AdjustmentReason.CUSTOMER_RETURN,
        1,
        0,
    )
    assert line.components == ((P, D("16.80")), (T, D("3.19")), (S, D("4.12")), (ST, D("0.78")))
    assert refund.total == credit.grand_total == D("24.89")
    assert (refund.amazon_order_id, refund.currency) == (AMZ_ID, "EUR")


def test_rule7_partially_shipped_refund_of_shipped_units_only() -> None:
    order = amz_order(amz_item(qty=2, shipped=2), amz_item(CODE_B, "XYZ", 1, 0), status=PARTIAL)
    refund = as_refund(decide(memo(memo_item(qty=2)), order, settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert (line.reason, line.quantity) == (AdjustmentReason.CUSTOMER_RETURN, 2)


# ------------------------------------------------------------------ rule 8


def two_item_order() -> AmazonOrderState:
    return amz_order(
        amz_item(CODE_A, "A", 2, 2, "10.00", "0", "5.00", "0"),
        amz_item(CODE_B, "B", 1, 1, "30.00", "0", "5.00", "0"),
    )


def test_rule8_shipping_spread_pro_rata_by_principal() -> None:
    credit = memo(
        memo_item(33, "A", 1, "10.00", "0", ext=CODE_A),
        memo_item(34, "B", 1, "30.00", "0", ext=CODE_B),
        shipping="4.00",
    )
    refund = as_refund(decide(credit, two_item_order(), settings(), EMPTY, NOW))
    assert components(refund, CODE_A)[S] == D("1.00")
    assert components(refund, CODE_B)[S] == D("3.00")


def test_item9_shipping_is_refunded_only_on_the_credited_items() -> None:
    # item A's shipping is 5.00; the memo refunds 7.00 shipping with item A only: 5.00 goes
    # with A, nothing is moved onto item B (not credited), the 2.00 is named in the note
    credit = memo(memo_item(33, "A", 1, "10.00", "0", ext=CODE_A), shipping="7.00")
    refund = as_refund(decide(credit, two_item_order(), settings(), EMPTY, NOW))
    assert components(refund, CODE_A)[S] == D("5.00")
    assert [line.order_item_id for line in refund.lines] == [CODE_A]
    assert "Shipping of 2.00 EUR is not sent" in refund.note
    assert "2.00 EUR less than the credit memo's grand total 17.00 EUR" in refund.note


def test_rule8_shipping_only_memo_above_what_amazon_charged_rejected() -> None:
    credit = memo(shipping="11.00")
    reason = as_reject(decide(credit, two_item_order(), settings(), EMPTY, NOW))
    assert "Shipping of 11.00 EUR exceeds" in reason
    assert "by 1.00 EUR" in reason


def test_rule8_shipping_discount_reduces_shipping() -> None:
    credit = memo(memo_item(qty=1), shipping="4.12", shipping_tax="0.78", header_discount="1.00")
    refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    assert components(refund)[S] == D("3.12")
    assert refund.total == credit.grand_total


# ------------------------------------------------------------------ rule 9


def test_rule9_adjustment_fee_refunds_the_whole_order() -> None:
    credit = memo(memo_item(qty=1), adjustment_negative="5.00")
    refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert (line.quantity, line.reason) == (2, AdjustmentReason.CUSTOMER_RETURN)
    assert dict(line.components) == {P: D("33.60"), T: D("6.38"), S: D("4.12"), ST: D("0.78")}
    assert "Adjustment Fee of 5.00 EUR" in refund.note
    assert "whole order is refunded" in refund.note


def test_rule9_adjustment_fee_on_unshipped_order_cancels_it() -> None:
    order = amz_order(amz_item(qty=2), status=UNSHIPPED)
    decision = decide(
        memo(memo_item(qty=1), adjustment_negative="5.00"), order, settings(), EMPTY, NOW
    )
    assert isinstance(decision, Cancel)
    assert decision.items == (CancelItem(CODE_A, CancelReason.NO_INVENTORY, 2),)
    assert "Adjustment Fee" in decision.note


def test_rule9_adjustment_fee_as_restocking_fee_when_enabled() -> None:
    credit = memo(memo_item(qty=1), adjustment_negative="5.00")
    refund = as_refund(decide(credit, shipped_order(), settings(restocking=True), EMPTY, NOW))
    (line,) = refund.lines
    assert line.quantity == 1
    assert line.components == ((P, D("16.80")), (T, D("3.19")), (RF, D("-5.00")))
    assert refund.total == credit.grand_total == D("14.99")


def test_rule9_restocking_fee_larger_than_refund_rejected() -> None:
    credit = memo(memo_item(qty=1), adjustment_negative="30.00")
    reason = as_reject(decide(credit, shipped_order(), settings(restocking=True), EMPTY, NOW))
    assert "RestockingFee" in reason
    assert "30.00 EUR" in reason


def test_rule9_adjustment_refund_sent_as_extra_principal() -> None:
    order = amz_order(
        amz_item(CODE_A, "A", 2, 2, "16.80", "0", "0", "0"),
        amz_item(CODE_B, "B", 2, 2, "10.00", "0", "0", "0"),
    )
    credit = memo(
        memo_item(33, "A", 1, "16.80", "0", ext=CODE_A),
        memo_item(34, "B", 1, "10.00", "0", ext=CODE_B),
        adjustment_positive="5.36",
    )
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund, CODE_A) == {P: D("20.16")}
    assert components(refund, CODE_B) == {P: D("12.00")}
    assert refund.total == credit.grand_total
    assert "Adjustment Refund 5.36 EUR" in refund.note


def test_rule9_adjustment_refund_beyond_remaining_principal_rejected() -> None:
    order = amz_order(amz_item(qty=1, shipped=1))
    credit = memo(memo_item(qty=1), adjustment_positive="1.00")
    reason = as_reject(decide(credit, order, settings(), EMPTY, NOW))
    assert "Adjustment Refund of 1.00 EUR exceeds" in reason


# ------------------------------------------------------- promotions and tax


def test_promotion_magento_discount_reduces_principal() -> None:
    order = amz_order(
        amz_item(qty=2, shipped=2, unit_price="20.00", unit_tax="0", promotion="4.00")
    )
    credit = memo(memo_item(qty=1, unit_price="20.00", unit_tax="0", discount="2.00"))
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("18.00")}
    assert refund.total == credit.grand_total


def test_promotion_ignored_in_magento_rejected() -> None:
    order = amz_order(
        amz_item(qty=2, shipped=2, unit_price="20.00", unit_tax="0", promotion="4.00")
    )
    credit = memo(memo_item(qty=1, unit_price="20.00", unit_tax="0"))
    assert "exceeds by 2.00 EUR" in as_reject(decide(credit, order, settings(), EMPTY, NOW))


def test_item1_vat_inclusive_eur_sends_net_amounts_and_no_tax() -> None:
    # DE: 19.99 gross = 16.80 + 3.19 VAT; shipping 4.90 = 4.12 + 0.78. Amazon adds the VAT
    # itself ("Partial Refunds with VAT-Exclusive Prices"): send net, no Tax components
    order = amz_order(
        amz_item(
            qty=1, shipped=1, unit_price="19.99", unit_tax="3.19", shipping="4.90",
            shipping_tax="0.78",
        ),
        marketplace_id=DE,
    )
    credit = memo(memo_item(qty=1), shipping="4.12", shipping_tax="0.78")
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert line.components == ((P, D("16.80")), (S, D("4.12")))
    assert "the buyer gets back about 24.89 EUR" in refund.note
    assert "3.97 EUR less than the credit memo's grand total 24.89 EUR" in refund.note
    assert "Amazon adds VAT at the order's original rate" in refund.note


def test_item1_vat_inclusive_jpy_sends_net_whole_yen() -> None:
    # JP: prices include 10% consumption tax; the proceeds say so (prices_include_tax)
    order = amz_order(
        amz_item(
            qty=2, shipped=2, unit_price="1100", unit_tax="100", shipping="550", shipping_tax="50"
        ),
        currency="JPY",
        prices_include_tax=True,
    )
    credit = memo(
        memo_item(qty=1, row_total="1000.0000", tax="100.0000"),
        shipping="500.0000",
        shipping_tax="50.0000",
        currency="JPY",
    )
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert line.components == ((P, D("1000")), (S, D("500")))
    assert [str(a) for _, a in line.components] == ["1000", "500"]
    assert "the buyer gets back about 1650 JPY" in refund.note


def test_item1_tax_inclusive_marketplace_sends_no_tax_even_when_proceeds_show_it_on_top() -> None:
    # v2026's own UK example lists ITEM net and TAX on top: still a tax-inclusive marketplace,
    # the refund is VAT-exclusive with no tax component; the net cap is ITEM itself
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="16.80", unit_tax="3.19"),
                      marketplace_id=DE, prices_include_tax=False)
    refund = as_refund(decide(memo(memo_item(qty=1)), order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("16.80")}
    assert "the buyer gets back about 19.99 EUR" in refund.note


def test_item1_gross_convention_is_ignored_by_the_rules() -> None:
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="19.99", unit_tax="3.19"),
                      marketplace_id=DE)
    credit = memo(memo_item(qty=1))
    gross = decide(credit, order, settings(convention=TaxConvention.GROSS), EMPTY, NOW)
    assert gross == decide(credit, order, settings(), EMPTY, NOW)
    assert components(as_refund(gross)) == {P: D("16.80")}


def test_tax_net_plus_tax_on_vat_inclusive_prices_never_counts_vat_twice() -> None:
    order = amz_order(
        amz_item(
            qty=2,
            shipped=2,
            unit_price="19.99",
            unit_tax="3.19",
            shipping="4.90",
            shipping_tax="0.78",
        ),
        prices_include_tax=True,
    )
    credit = memo(memo_item(qty=1), shipping="4.12", shipping_tax="0.78")
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("16.80"), S: D("4.12")}
    wrong = memo(memo_item(qty=1, row_total="19.99"))  # gross price as net: VAT twice
    assert "Principal of SKU ABC-1" in as_reject(decide(wrong, order, settings(), EMPTY, NOW))


def test_tax_net_plus_tax_jpy() -> None:
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="1000", unit_tax="100"), currency="JPY")
    credit = memo(memo_item(qty=1, row_total="1000", tax="100"), currency="JPY")
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("1000"), T: D("100")}


# ------------------------------------------------------ rounding, ids, KWD


def test_amounts_quantized_once_half_up() -> None:
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="10.01", unit_tax="0"))
    credit = memo(memo_item(qty=1, row_total="10.0050", tax="0"))
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("10.01")}


def test_kwd_amount_needing_three_decimals_rejected() -> None:
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="5.125", unit_tax="0"), currency="KWD")
    credit = memo(memo_item(qty=1, row_total="5.1250", tax="0"), currency="KWD")
    reason = as_reject(decide(credit, order, settings(), EMPTY, NOW))
    assert "5.125 KWD" in reason
    assert "at most 2" in reason


def test_kwd_amount_with_two_significant_decimals_sent() -> None:
    order = amz_order(amz_item(qty=1, shipped=1, unit_price="5.120", unit_tax="0"), currency="KWD")
    credit = memo(memo_item(qty=1, row_total="5.1200", tax="0"), currency="KWD")
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert [str(a) for _, a in refund.lines[0].components] == ["5.12"]


def test_merchant_adjustment_item_id_at_most_40_chars() -> None:
    order = amz_order(amz_item(qty=2, shipped=1), status=PARTIAL)
    long_increment = "X" * 40
    credit = memo(memo_item(qty=2), increment_id=long_increment, entity_id=123456)
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    ids = [line.merchant_adjustment_item_id for line in refund.lines]
    assert ids == ["CM123456-33-c", "CM123456-33"]
    assert all(len(i) <= 40 for i in ids)


def test_decide_is_deterministic() -> None:
    credit = memo(memo_item(qty=1), shipping="4.12", shipping_tax="0.78")
    first = decide(credit, shipped_order(), settings(), EMPTY, NOW)
    assert first == decide(credit, shipped_order(), settings(), EMPTY, NOW)
    assert line_components(as_refund(first), "CM000000005-33")[S] == D("4.12")


def test_rule8_shipping_only_memo_refunds_amount_only_lines() -> None:
    credit = memo(shipping="4.12", shipping_tax="0.78")
    refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert (line.reason, line.quantity, line.quantity_cancelled) == (
        AdjustmentReason.GENERAL_ADJUSTMENT,
        0,
        0,
    )
    assert line.merchant_adjustment_item_id == f"CM000000005-{CODE_A}"
    assert dict(line.components) == {P: D("0.00"), S: D("4.12"), ST: D("0.78")}


def test_item12_restocking_fee_is_never_charged_on_units_never_shipped() -> None:
    # Unshipped, whole order with a fee kept as RestockingFee: no cancel (the fee would be
    # lost) and no fee on cancelled units either: rejected with the reason
    order = amz_order(amz_item(qty=1), status=UNSHIPPED)
    credit = memo(memo_item(qty=1), adjustment_negative="2.00")
    reason = as_reject(decide(credit, order, settings(restocking=True), EMPTY, NOW))
    assert "never charged on units that were not shipped" in reason
    # PartiallyShipped: one unit cancelled, one returned: the fee only on the return line
    partly = amz_order(amz_item(qty=2, shipped=1), status=PARTIAL)
    refund = as_refund(decide(memo(memo_item(qty=2), adjustment_negative="2.00"), partly,
                              settings(restocking=True), EMPTY, NOW))
    by_reason = {line.reason: dict(line.components) for line in refund.lines}
    assert RF not in by_reason[AdjustmentReason.NO_INVENTORY]
    assert by_reason[AdjustmentReason.CUSTOMER_RETURN][RF] == D("-2.00")


# ------------------------------------------------ review: money defects found


def test_rule8_header_discount_without_shipping_never_refunds_above_the_memo() -> None:
    # the memo's header discount (1.00) is larger than its items' discounts (0) and it refunds
    # no shipping: the extra discount cannot be a shipping discount. Ignoring it would refund
    # 19.99 on a credit memo of 18.99.
    credit = memo(memo_item(qty=1), header_discount="1.00")
    assert credit.grand_total == D("18.99")
    reason = as_reject(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    assert "larger than item discounts plus shipping" in reason


def test_rule11_money_of_units_cancelled_outside_the_bridge_is_not_refundable() -> None:
    # Amazon's item_price/item_tax are totals for quantity_ordered (2 units); one unit was
    # cancelled on Amazon without us (Amazon refunded it), so only one unit's money remains.
    order = amz_order(amz_item(qty=2, canceled=1), status=UNSHIPPED)
    whole = as_refund(
        decide(memo(memo_item(qty=1), adjustment_negative="1.00"), order, settings(), EMPTY, NOW)
    )
    (line,) = whole.lines
    assert line.quantity_cancelled == 1
    assert (components(whole)[P], components(whole)[T]) == (D("16.80"), D("3.19"))
    # a memo asking two units' money for the one unit left is rejected, not sent
    double = memo(memo_item(qty=1, row_total="33.60", tax="6.38"))
    assert "Principal of SKU ABC-1" in as_reject(decide(double, order, settings(), EMPTY, NOW))
    # a goodwill Adjustment Refund cannot take the cancelled unit's Principal either
    goodwill = memo(memo_item(qty=1), adjustment_positive="16.80")
    assert "Adjustment Refund" in as_reject(decide(goodwill, order, settings(), EMPTY, NOW))


def test_rule9_item_cancelled_outside_the_bridge_is_not_refunded_again() -> None:
    order = amz_order(
        amz_item(CODE_A, qty=2, shipped=2), amz_item(CODE_B, "XYZ", 1, 0, canceled=1),
        status=SHIPPED,
    )
    refund = as_refund(
        decide(memo(memo_item(qty=1), adjustment_negative="1.00"), order, settings(), EMPTY, NOW)
    )
    assert [line.order_item_id for line in refund.lines] == [CODE_A]
    assert refund.total == D("44.88")




def test_rule8_item_discount_rounding_is_not_a_shipping_discount() -> None:
    # three lines with a 0.3333 discount each (0.33 once quantized) and a header discount of
    # 1.00: the 0.01 difference is rounding, not a shipping discount; no shipping is refunded
    order = amz_order(
        amz_item(CODE_A, "A", 1, 1, "10.00", "0", "0", "0"),
        amz_item(CODE_B, "B", 1, 1, "10.00", "0", "0", "0"),
        amz_item("32345678901234", "C", 1, 1, "10.00", "0", "0", "0"),
    )
    credit = memo(
        memo_item(33, "A", 1, "10.00", "0", discount="0.3333", ext=CODE_A),
        memo_item(34, "B", 1, "10.00", "0", discount="0.3333", ext=CODE_B),
        memo_item(35, "C", 1, "10.00", "0", discount="0.3334", ext="32345678901234"),
        header_discount="1.00",
    )
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert set(components(refund)) == {P}


def test_rule11_a_memo_whose_only_amount_rounds_away_is_rejected() -> None:
    # 0.004 EUR of shipping quantizes to 0.00: nothing would be sent, so nothing is submitted
    order = amz_order(amz_item(qty=2, shipped=2), status=SHIPPED)
    reason = as_reject(decide(memo(shipping="0.004"), order, settings(), EMPTY, NOW))
    assert "nothing is left to send" in reason


# ------------------------------------------- issue 8: cases an independent review found


def test_item3_free_shipping_promotion_tax_is_kept_apart_from_the_item_tax() -> None:
    # v2026 proceeds: one TAX/DISCOUNT value; here it is the free-shipping promotion's tax
    state = amz_order(
        replace(amz_item(qty=1, shipped=1, unit_price="10.00", unit_tax="1.60", shipping="5.00",
                         shipping_tax="0.80"),
                shipping_discount=D("5.00"), shipping_discount_tax=D("0.80")),
        prices_include_tax=False,
    )
    order = order_state_from_api(order_doc_from_state(state), "acct-1", state.fetched_at)
    full = memo(memo_item(qty=1, unit_price="10.00", unit_tax="1.60"))
    refund = as_refund(decide(full, order, settings(), EMPTY, NOW))
    assert components(refund) == {P: D("10.00"), T: D("1.60")}
    whole = as_refund(decide(replace(full, adjustment_negative=D("1.00")), order, settings(),
                             EMPTY, NOW))
    assert components(whole) == {P: D("10.00"), T: D("1.60")}  # no ShippingTax never paid


def test_item4_zero_decimal_memos_that_complete_an_item_get_what_remains() -> None:
    order = amz_order(replace(amz_item(qty=3, shipped=3, shipping="0", shipping_tax="0"),
                              item_price=D("1000"), item_tax=D(0)), currency="JPY")
    third = memo_item(qty=1, row_total="333.3400", tax="0")
    first = as_refund(decide(memo(replace(third, row_total=D("333.3300")), currency="JPY"),
                             order, settings(), EMPTY, NOW))
    assert components(first) == {P: D("333")}
    assert "0.33 JPY less than the credit memo's grand total 333.33 JPY" in first.note
    two_sent = ledger(ledger_entry(CODE_A, P, "333", 1, confirmed=True),
                      ledger_entry(CODE_A, P, "333", 1))
    last = as_refund(decide(memo(third, currency="JPY"), order, settings(), two_sent, NOW))
    assert components(last) == {P: D("334")}  # 333 + 333 + 334 = 1000, as in Magento
    assert "completes the item" in last.note
    assert "0.66 JPY more than the credit memo's grand total 333.34 JPY" in last.note


def test_item5_grand_total_the_lines_do_not_itemise_is_named_with_its_amount() -> None:
    # catalog prices incl. tax, discount on incl. prices: Magento's grand total carries
    # discount_tax_compensation_amount, which no line itemises
    credit = memo(memo_item(qty=1, discount="2.00"))
    credit = replace(credit, grand_total=credit.grand_total + D("0.32"))
    refund = as_refund(decide(credit, shipped_order(), settings(), EMPTY, NOW))
    assert "0.32 EUR less than the credit memo's grand total 18.31 EUR" in refund.note
    assert "discount_tax_compensation_amount" in refund.note


def test_item6_several_magento_lines_on_one_amazon_item_are_added_before_rounding() -> None:
    order = amz_order(replace(amz_item(qty=3, shipped=3), item_price=D("30.03"), item_tax=D(0)))
    credit = memo(
        memo_item(33, qty=1, row_total="10.0050", tax="0"),
        memo_item(34, qty=1, row_total="10.0050", tax="0"),
    )
    refund = as_refund(decide(credit, order, settings(), EMPTY, NOW))
    assert components(refund)[P] == D("20.01")  # not 10.01 + 10.01


def test_item10_shipped_order_without_item_fulfilment_data_is_never_cancelled() -> None:
    # Amazon omitted quantityFulfilled (0 here) on a Shipped order: the units were shipped
    order = amz_order(amz_item(qty=2, shipped=0), status=SHIPPED)
    refund = as_refund(decide(memo(memo_item(qty=1)), order, settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert (line.reason, line.quantity, line.quantity_cancelled) == (
        AdjustmentReason.CUSTOMER_RETURN, 1, 0)


def test_item11_bundle_children_shipped_units_are_compared_in_bundle_units() -> None:
    order = amz_order(amz_item(CODE_A, "BUNDLE-1", qty=1, shipped=1))
    parent = replace(memo_item(33, "BUNDLE-1", 1), qty_ordered=D(1), qty_shipped=D(1))
    child = replace(memo_item(34, "PART-1", 2, "0", "0", ext=None, parent=33),
                    qty_ordered=D(2), qty_shipped=D(2))
    refund = as_refund(decide(memo(parent, child), order, settings(), EMPTY, NOW))
    (line,) = refund.lines
    assert (line.quantity, line.reason) == (1, AdjustmentReason.CUSTOMER_RETURN)
    # a bundle Magento shipped but Amazon does not know about is still refused
    unknown = amz_order(amz_item(CODE_A, "BUNDLE-1", qty=1, shipped=0), status=UNSHIPPED)
    assert "confirm the shipment" in as_reject(
        decide(memo(parent, child), unknown, settings(), EMPTY, NOW))


def test_item13_gift_wrap_goes_back_with_the_whole_item_else_is_named() -> None:
    wrapped = replace(amz_item(qty=2, shipped=2), gift_wrap_price=D("3.00"),
                      gift_wrap_tax=D("0.57"))
    order = amz_order(wrapped)
    whole = as_refund(decide(memo(memo_item(qty=2)), order, settings(), EMPTY, NOW))
    assert (components(whole)[GW], components(whole)[GWT]) == (D("3.00"), D("0.57"))
    assert "gift wrap of SKU ABC-1 refunded with the whole item" in whole.note
    assert "3.57 EUR more than the credit memo's grand total" in whole.note
    part = as_refund(decide(memo(memo_item(qty=1)), order, settings(), EMPTY, NOW))
    assert GW not in components(part)
    assert "gift wrap of SKU ABC-1 (3.57 EUR) is not refunded" in part.note


def test_item15_amount_only_line_is_described_as_an_amount_only_adjustment() -> None:
    refund = as_refund(decide(memo(shipping="4.12"), shipped_order(), settings(), EMPTY, NOW))
    text = describe(refund)
    assert "amount-only adjustment" in text
    assert "0 cancelled" not in text
