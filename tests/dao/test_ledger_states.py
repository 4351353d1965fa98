"""The refund ledger as the rules read it: pending vs confirmed, cancellations per item."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine

from sidecar.dao import amazon_orders
from sidecar.domain import (
    AdjustmentReason,
    Cancel,
    CancelItem,
    CancelReason,
    Component,
    Refund,
    RefundLine,
)

ORDER = "302-1234567-1234567"
CODE_A, CODE_B = "12345678901234", "22345678901234"


def test_load_ledger_tells_pending_from_confirmed_and_counts_acknowledged_units(
    db: Engine,
) -> None:
    # issue 8 item 2: our in-flight cancellations must be told apart from confirmed ones
    refund = Refund(ORDER, "EUR", (RefundLine(
        CODE_A, "CM5-33-c", AdjustmentReason.NO_INVENTORY, 0, 1,
        ((Component.PRINCIPAL, Decimal("16.80")),)),))
    cancel = Cancel(ORDER, "000000012", (CancelItem(CODE_B, CancelReason.BUYER_CANCELED, 2),))
    with db.begin() as conn:
        amazon_orders.add_ledger(conn, refund, creditmemo_id=5, outbox_id=1, feed_message_id=11)
        amazon_orders.add_ledger(conn, cancel, creditmemo_id=6, outbox_id=2, feed_message_id=12)
        amazon_orders.settle_ledger(conn, 11, "confirmed")
        ledger = amazon_orders.load_ledger(conn, ORDER)
    assert ledger.units_cancelled(CODE_A, confirmed=True) == 1
    assert ledger.units_cancelled(CODE_A, confirmed=False) == 0
    assert ledger.units_cancelled(CODE_B, confirmed=False) == 2  # acknowledgement, pending
    assert ledger.units(CODE_B) == 2
    assert ledger.refunded(CODE_B, Component.PRINCIPAL) == 0
    assert ledger.order_canceled_by_us
    assert ledger.creditmemo_ids == {5, 6}
