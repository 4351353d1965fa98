"""sidecar.recognition and the rules' use of the module's ids (snapshot v2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sidecar.domain import ConnectorLink, CreditMemo, Refund, RefundLedger, Skip
from sidecar.processing import restock_note
from sidecar.recognition import creditmemo_skip, shipment_skip
from sidecar.rules import decide
from tests.unit.rule_builders import (
    AMZ_ID,
    CODE_A,
    CODE_B,
    NOW,
    amz_item,
    amz_order,
    memo,
    memo_item,
    settings,
)

EMPTY = RefundLedger()
M2E_OFF = ConnectorLink("m2epro", 3, refunds_on_creditmemo=False)


def v2(m: CreditMemo, amazon_order_id: str | None = AMZ_ID, **order: object) -> CreditMemo:
    """The memo as a v2 snapshot reads it: M2E never writes ext_order_id."""
    ref = replace(
        m.order,
        ext_order_id=None,
        amazon_order_id=amazon_order_id,
        amazon_order_id_source="m2epro_payment",
        **order,  # type: ignore[arg-type]
    )
    return replace(m, order=ref, state=2)


def test_v2_amazon_order_id_is_used_not_ext_order_id() -> None:
    m = v2(memo(memo_item()), connector=M2E_OFF)
    assert creditmemo_skip(m) is None
    decision = decide(m, amz_order(amz_item(shipped=2)), settings(), EMPTY, NOW)
    assert isinstance(decision, Refund), decision
    assert decision.amazon_order_id == AMZ_ID


def test_ext_order_id_is_never_reparsed_in_v2() -> None:
    m = replace(memo(memo_item()), order=replace(memo(memo_item()).order, amazon_order_id=None))
    decision = decide(m, amz_order(), settings(), EMPTY, NOW)
    assert isinstance(decision, Skip)  # ext_order_id is Amazon's form, but v2 said: none


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (None, "the module found none"),
        ("AMZ-302-1234567-1234567", "is not in Amazon's form"),
    ],
)
def test_unusable_amazon_order_id_gets_a_reason(found: str | None, expected: str) -> None:
    reason = creditmemo_skip(v2(memo(memo_item()), found))
    assert reason is not None
    assert expected in reason
    assert "nothing was sent to Amazon" in reason


def test_item_matched_by_amazon_order_item_id_before_ext_and_sku() -> None:
    # Magento's SKU differs from Amazon's and ext_order_item_id points at the other item
    line = replace(memo_item(sku="MAGE-SKU", ext=CODE_A), amazon_order_item_id=CODE_B)
    order = amz_order(
        amz_item(CODE_A, sku="A", shipped=2), amz_item(CODE_B, sku="B", shipped=2)
    )
    decision = decide(v2(memo(line), connector=M2E_OFF), order, settings(), EMPTY, NOW)
    assert isinstance(decision, Refund), decision
    assert [line.order_item_id for line in decision.lines] == [CODE_B]


@pytest.mark.parametrize("setting", [True, None])
def test_m2e_account_that_refunds_itself_gets_nothing(setting: bool | None) -> None:
    link = ConnectorLink("m2epro", 3, refunds_on_creditmemo=setting)
    reason = creditmemo_skip(v2(memo(memo_item()), connector=link))
    assert reason is not None
    assert (
        "M2E Pro > Amazon > Accounts > account 3 > Orders > "
        "Cancel or Refund if Credit Memo is Created"
    ) in reason
    assert ("could not be read" in reason) is (setting is None)


def test_document_created_by_m2e_is_not_echoed() -> None:
    m = replace(v2(memo(memo_item()), connector=M2E_OFF), created_by_connector="m2epro")
    reason = creditmemo_skip(m)
    assert reason is not None
    assert "created by M2E Pro from Amazon data; not echoed" in reason


def test_open_credit_memo_is_not_sent() -> None:
    reason = creditmemo_skip(replace(v2(memo(memo_item())), state=1))
    assert reason == (
        "Magento did not refund this credit memo (state open); nothing sent to Amazon"
    )


def test_v1_memo_without_state_keeps_todays_behaviour() -> None:
    assert creditmemo_skip(memo(memo_item())) is None


def test_restock_unknown_is_said_never_guessed() -> None:
    m = replace(memo(replace(memo_item(), back_to_stock=None)), restock_known=False)
    note = restock_note(m)
    assert "Return to stock: unknown" in note
    assert "Returned to stock" not in note
    assert restock_note(memo(memo_item())) == "Returned to stock in Magento: ABC-1 x1."


def test_shipment_created_by_m2e_is_skipped() -> None:
    from tests.unit.test_shipments import shipment

    assert shipment_skip(shipment()) is None
    reason = shipment_skip(replace(shipment(), created_by_connector="m2epro"))
    assert reason is not None and "not echoed" in reason
