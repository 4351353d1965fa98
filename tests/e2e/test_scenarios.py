"""One end-to-end scenario per rule (issue: refund rules and Amazon submission, section 8)."""

from __future__ import annotations

from decimal import Decimal

from tests.e2e.conftest import STORE_GROSS, STORE_SETTING_OFF, STORE_WITHOUT_ACCOUNT, Bridge
from tests.support.magento_factory import ItemSpec
from tests.support.module import run_observer

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")
TEE = ItemSpec("TEE-1", 1, D("20.00"), D("3.80"), name="T-shirt")


def test_unshipped_whole_order_is_cancelled_with_no_inventory(bridge: Bridge) -> None:
    order = bridge.order([MUG, TEE])
    row_id = bridge.creditmemo(order, {"MUG-1": 2, "TEE-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    amazon = bridge.amazon_order(order)
    assert amazon.status == "Canceled"
    assert {i.cancel_reason for i in amazon.items} == {"NoInventory"}
    assert bridge.refunds(order, "MUG-1").adjustments == 0
    # Magento closed the order with the credit memo; its state stays, its status says why
    assert bridge.magento_status(order) == ("closed", "amazon_canceled", "amazon_canceled")
    assert any("Amazon accepted" in c for c in bridge.comments(order))


def test_unshipped_with_buyer_request_is_cancelled_with_buyer_canceled(bridge: Bridge) -> None:
    order = bridge.order([MUG], buyer_cancel=True)
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()

    assert bridge.row(row_id).status == "done"
    amazon = bridge.amazon_order(order)
    assert amazon.status == "Canceled"
    assert [i.cancel_reason for i in amazon.items] == ["BuyerCanceled"]


def test_ship_some_then_credit_the_rest_cancels_only_those_units(bridge: Bridge) -> None:
    order = bridge.order([MUG, TEE])
    ship_id = bridge.shipment(order, {"MUG-1": 2})
    bridge.drive()
    assert bridge.row(ship_id).status == "done", bridge.row(ship_id).status_message
    assert bridge.amazon_order(order).status == "PartiallyShipped"

    row_id = bridge.creditmemo(order, {"TEE-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    amazon = bridge.amazon_order(order)
    tee = amazon.item(bridge.amazon_item(order, "TEE-1"))
    mug = amazon.item(bridge.amazon_item(order, "MUG-1"))
    assert (tee.quantity_canceled, tee.cancel_reason) == (1, "NoInventory")
    assert (mug.quantity_shipped, mug.quantity_canceled) == (2, 0)
    assert amazon.status != "Canceled"


def test_shipped_partial_refund_with_shipping_is_customer_return(bridge: Bridge) -> None:
    order = bridge.order(
        [MUG, TEE], shipped={"MUG-1": 2, "TEE-1": 1}, shipping=D("5.00"), shipping_tax=D("0.95")
    )
    row_id = bridge.creditmemo(
        order, {"MUG-1": 1}, shipping=D("5.00"), shipping_tax=D("0.95"), back_to_stock=["MUG-1"]
    )
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    queued = [c for c in bridge.comments(order) if "queued for Amazon" in c]
    assert "Returned to stock in Magento: MUG-1 x1." in queued[0]
    linked = bridge.sql(
        "SELECT magento_order_item_id FROM refund_bridge_amazon_order_item WHERE order_item_id = :i",
        i=bridge.amazon_item(order, "MUG-1"),
    )
    assert linked == [(order.items["MUG-1"],)]
    counter = bridge.refunds(order, "MUG-1")
    assert counter.adjustments == 1
    assert counter.amount("Principal") == D("10.00")
    assert counter.amount("Tax") == D("1.90")
    assert counter.amount("Shipping") == D("5.00")
    assert counter.amount("ShippingTax") == D("0.95")
    assert bridge.emulator.state.adjustments(order.ext_order_id)[0].reason == "CustomerReturn"
    assert bridge.magento_status(order)[1] == "amazon_refunded"


def test_adjustment_fee_refunds_the_whole_order(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1}, adjustment_negative=D("3.00"))
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    counter = bridge.refunds(order, "MUG-1")
    assert counter.amount("Principal") == D("20.00")
    assert counter.amount("Tax") == D("3.80")


def test_pending_order_is_rejected_with_a_comment(bridge: Bridge) -> None:
    order = bridge.order([MUG], status="Pending")
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "Pending" in (row.status_message or "")
    assert any("Pending" in c for c in bridge.comments(order))
    assert bridge.emulator.state.all_feeds() == []


def test_canceled_order_is_rejected_with_a_comment(bridge: Bridge) -> None:
    order = bridge.order([MUG], status="Canceled")
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "Canceled" in (row.status_message or "")
    assert bridge.magento_status(order)[1] in ("amazon_refund_failed", "processing")
    assert bridge.emulator.state.all_feeds() == []


def test_non_amazon_order_writes_nothing_and_a_store_without_account_is_loud(
    bridge: Bridge,
) -> None:
    """An Amazon order of a store no account covers is a misconfiguration: rejected with
    what to fix (and a Magento comment), never a quiet skip."""
    order = bridge.order([MUG], store_id=STORE_WITHOUT_ACCOUNT)
    row_id = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()
    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert f"store {STORE_WITHOUT_ACCOUNT} has no Amazon account" in (row.status_message or "")
    assert "store_ids" in (row.status_message or "") and "requeue" in (row.status_message or "")
    assert any("has no Amazon account" in c for c in bridge.comments(order))
    assert bridge.emulator.state.all_feeds() == []

    from sqlalchemy import text

    with bridge.engine.begin() as conn:
        conn.execute(
            text("UPDATE sales_order SET ext_order_id = '100000042' WHERE entity_id = :i"),
            {"i": order.entity_id},
        )
    from tests.support.magento_factory import MagentoFactory

    with bridge.engine.begin() as conn:
        memo = MagentoFactory(conn).creditmemo(order, {"MUG-1": 1})
    assert run_observer(bridge.url, "creditmemo", memo) is None


def test_refund_setting_off_is_skipped(bridge: Bridge) -> None:
    order = bridge.order([MUG], store_id=STORE_SETTING_OFF, shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "skipped"
    assert "refund_on_creditmemo" in (row.status_message or "")
    assert bridge.emulator.state.all_feeds() == []


def test_currency_mismatch_is_rejected(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2}, currency="EUR", amazon_currency="GBP")
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "GBP" in (row.status_message or "") and "EUR" in (row.status_message or "")


def test_fba_order_is_rejected(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2}, fulfillment_channel="AFN")
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "rejected"
    assert "FBA" in (row.status_message or "") or "Amazon" in (row.status_message or "")


def test_two_credit_memos_exceeding_the_order_second_is_rejected(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    first = bridge.creditmemo(order, {"MUG-1": 2})
    bridge.drive()
    assert bridge.row(first).status == "done", bridge.row(first).status_message

    second = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    row = bridge.row(second)
    assert row.status == "rejected", row.status_message
    counter = bridge.refunds(order, "MUG-1")
    assert counter.adjustments == 1
    assert counter.amount("Principal") == D("20.00")


def test_amazon_rejection_shows_amazons_text(bridge: Bridge) -> None:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    # Someone refunds the item in Seller Central after the sidecar read the order:
    # the sidecar's message now asks for more than remains, and Amazon says so.
    bridge.worker.handler.refresh_order(
        bridge.worker.cfg.accounts[0], order.ext_order_id or "", order.entity_id
    )
    bridge.emulator.state.order(order.ext_order_id or "")  # exists
    _refund_directly_on_amazon(bridge, order)
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "rejected", row.status_message
    assert "Amazon rejected" in (row.status_message or "")
    assert any("Amazon rejected" in c for c in bridge.comments(order))
    assert bridge.magento_status(order)[1] == "amazon_refund_failed"


def _refund_directly_on_amazon(bridge: Bridge, order: object) -> None:
    """Spend the item's balance on the emulator, as a refund made in Seller Central would."""
    from tests.support.magento_factory import Order

    assert isinstance(order, Order)
    emu = bridge.emulator.state
    with emu.lock:
        item = emu.orders[order.ext_order_id or ""].item(bridge.amazon_item(order, "MUG-1"))
        assert item is not None
        item.item_price = D("0.00")
        item.item_tax = D("0.00")


def test_tax_inclusive_jpy_order_refunds_net_and_the_buyer_gets_the_memo_total(
    bridge: Bridge,
) -> None:
    # issue 8 item 1. JP marketplace: prices include 10% consumption tax, yen have no minor
    # unit. Net amounts are sent, no tax component; Amazon adds the tax at the original rate.
    cup = ItemSpec("CUP-JP", 3, D("1000"), D("100"), name="Tea cup")
    order = bridge.order(
        [cup],
        shipped={"CUP-JP": 3},
        currency="JPY",
        store_id=STORE_GROSS,
        gross=True,
        shipping=D("500"),
        shipping_tax=D("50"),
    )
    row_id = bridge.creditmemo(order, {"CUP-JP": 1}, shipping=D("500"), shipping_tax=D("50"))
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    counter = bridge.refunds(order, "CUP-JP")
    assert counter.amount("Principal") == D("1000")
    assert counter.amount("Shipping") == D("500")
    assert counter.amount("Tax") == counter.amount("ShippingTax") == 0
    # what the buyer gets back is the credit memo's grand total: 1,000 + 100 + 500 + 50
    amazon_id = order.ext_order_id or ""
    assert bridge.emulator.state.buyer_refunded(amazon_id, bridge.amazon_item(order, "CUP-JP")) \
        == D("1650")
    queued = [c for c in bridge.comments(order) if "queued for Amazon" in c]
    assert "the buyer gets back about 1650 JPY" in queued[0]
    assert "150 JPY not sent: VAT" in queued[0]


def test_tax_inclusive_eur_order_refunds_net_and_the_buyer_gets_the_memo_total(
    bridge: Bridge,
) -> None:
    lamp = ItemSpec("LAMP-DE", 2, D("16.80"), D("3.19"), name="Lampe")
    order = bridge.order(
        [lamp], shipped={"LAMP-DE": 2}, currency="EUR", store_id=STORE_GROSS, gross=True
    )
    row_id = bridge.creditmemo(order, {"LAMP-DE": 1})
    bridge.drive()

    assert bridge.row(row_id).status == "done", bridge.row(row_id).status_message
    counter = bridge.refunds(order, "LAMP-DE")
    assert counter.amount("Principal") == D("16.80")
    assert counter.amount("Tax") == 0
    amazon_id = order.ext_order_id or ""
    assert bridge.emulator.state.buyer_refunded(amazon_id, bridge.amazon_item(order, "LAMP-DE")) \
        == D("19.99")
    assert "the buyer gets back about 19.99 EUR" in (bridge.row(row_id).status_message or "")


def test_units_cancelled_outside_the_bridge_and_ours_in_flight_are_both_counted(
    bridge: Bridge,
) -> None:
    # issue 8 item 2: 3 units. The buyer cancels one in Seller Central; our first memo's
    # cancellation of another is still in flight when the second memo asks for two more.
    jug = ItemSpec("JUG-1", 3, D("10.00"), D("1.90"), name="Jug")
    order = bridge.order([jug])
    emu = bridge.emulator.state
    with emu.lock:
        item = emu.orders[order.ext_order_id or ""].item(bridge.amazon_item(order, "JUG-1"))
        assert item is not None
        item.quantity_canceled = 1  # cancelled on Amazon, not by the bridge
    first = bridge.creditmemo(order, {"JUG-1": 1})
    second = bridge.creditmemo(order, {"JUG-1": 2})
    bridge.drive()

    assert bridge.row(first).status == "done", bridge.row(first).status_message
    row = bridge.row(second)
    assert row.status == "rejected", row.status_message
    assert "only 1 of 3 remain" in (row.status_message or "")
    jug_on_amazon = bridge.amazon_order(order).item(bridge.amazon_item(order, "JUG-1"))
    assert jug_on_amazon.quantity_canceled == 2  # never more units than the order has
    assert bridge.refunds(order, "JUG-1").units_cancelled == 1


def test_buyer_cancel_request_cancels_the_requested_item_whole_on_any_memo(
    bridge: Bridge,
) -> None:
    # issue 8 item 8: the buyer asked to cancel the mugs only; the memo credits one mug
    order = bridge.order([MUG, TEE])
    amazon_id = order.ext_order_id or ""
    bridge.emulator.state.request_buyer_cancellation(
        amazon_id, "Ordered twice", [bridge.amazon_item(order, "MUG-1")]
    )
    row_id = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    amazon = bridge.amazon_order(order)
    mug = amazon.item(bridge.amazon_item(order, "MUG-1"))
    tee = amazon.item(bridge.amazon_item(order, "TEE-1"))
    assert (mug.quantity_canceled, mug.cancel_reason) == (2, "BuyerCanceled")  # whole units
    assert (tee.quantity_canceled, tee.cancel_reason) == (0, None)  # not asked: untouched
    assert amazon.status == "Unshipped"
    assert bridge.magento_status(order)[1] == "amazon_refunded"  # not the whole order
    comment = next(c for c in bridge.comments(order) if "queued for Amazon" in c)
    assert "Amazon refunds the whole cancelled amount" in comment
    assert "credit the remaining 11.90 EUR in Magento too" in comment


def test_shipping_is_refunded_only_with_the_items_it_was_charged_for(bridge: Bridge) -> None:
    # issue 8 item 9: shipping was charged on the mugs; the memo credits the T-shirt and
    # refunds shipping: nothing is moved onto the mugs, the comment says what was not sent
    order = bridge.order(
        [MUG, TEE], shipped={"MUG-1": 2, "TEE-1": 1}, shipping=D("5.00"), shipping_tax=D("0.95")
    )
    row_id = bridge.creditmemo(order, {"TEE-1": 1}, shipping=D("5.00"), shipping_tax=D("0.95"))
    bridge.drive()

    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    assert bridge.refunds(order, "MUG-1").adjustments == 0
    tee = bridge.refunds(order, "TEE-1")
    assert (tee.amount("Principal"), tee.amount("Tax")) == (D("20.00"), D("3.80"))
    assert tee.amount("Shipping") == tee.amount("ShippingTax") == 0
    message = row.status_message or ""
    assert "Shipping of 5.00 EUR is not sent" in message
    assert "5.95 EUR less than the credit memo's grand total 29.75 EUR" in message
    assert any("Shipping of 5.00 EUR is not sent" in c for c in bridge.comments(order))


def test_two_partial_credit_memos_on_an_unshipped_order_cancel_unit_by_unit(bridge: Bridge) -> None:
    order = bridge.order([MUG])  # 2 units
    first = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()
    assert bridge.row(first).status == "done", bridge.row(first).status_message
    mug = bridge.amazon_order(order).item(bridge.amazon_item(order, "MUG-1"))
    assert (mug.quantity_canceled, bridge.amazon_order(order).status) == (1, "Unshipped")

    second = bridge.creditmemo(order, {"MUG-1": 1})
    bridge.drive()
    assert bridge.row(second).status == "done", bridge.row(second).status_message
    mug = bridge.amazon_order(order).item(bridge.amazon_item(order, "MUG-1"))
    assert mug.quantity_canceled == 2
    assert bridge.refunds(order, "MUG-1").units_cancelled == 2
    assert bridge.amazon_order(order).status == "Canceled"
