"""Issue 7 items 4, 11, 12, 13: hostile or inconsistent outbox rows end terminal at once with a
reason for people, and a credit memo dated ahead of the sidecar's clock never loops.

Each test saves a real credit memo through the module's observer, then tampers with the row
the way the tester's bad-input corpus did, and drives the real worker against the emulator.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from sidecar.tables import outbox
from tests.e2e.conftest import Bridge
from tests.support.magento_factory import ItemSpec

D = Decimal
MUG = ItemSpec("MUG-1", 2, D("10.00"), D("1.90"), name="Mug")
SQL_TEXT = re.compile(r"\[SQL|INSERT INTO|UPDATE \S+ SET|SELECT .* FROM|pymysql|sqlalchemy", re.I)


def _memo(bridge: Bridge) -> tuple[Any, int]:
    order = bridge.order([MUG], shipped={"MUG-1": 2})
    return order, bridge.creditmemo(order, {"MUG-1": 1})


def _set_row(bridge: Bridge, row_id: int, **values: object) -> None:
    with bridge.engine.begin() as conn:
        conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


def _edit_payload(bridge: Bridge, row_id: int, edit: Any) -> None:
    doc = json.loads(bridge.row(row_id).payload)
    edit(doc)
    _set_row(bridge, row_id, payload=json.dumps(doc))


def _assert_dead_at_once(bridge: Bridge, row_id: int, *words: str) -> str:
    row = bridge.row(row_id)
    assert row.status == "dead", row.status_message
    assert row.attempts == 1  # recognised at the first attempt, no retries
    reason = row.status_message or ""
    for word in words:
        assert word in reason, reason
    assert not SQL_TEXT.search(reason), reason
    assert not SQL_TEXT.search(row.last_error or ""), row.last_error
    assert bridge.emulator.state.request_counts.get("createFeed", 0) == 0
    return reason


def _no_refund(bridge: Bridge, order: Any) -> None:
    assert bridge.refunds(order, "MUG-1").adjustments == 0


# ------------------------------------------------------------- item 11: row vs payload


def test_an_invoice_row_carrying_a_creditmemo_payload_is_dead_not_refunded(bridge: Bridge) -> None:
    """Item 11: an `invoice` row with a credit memo payload was refunded."""
    order, row_id = _memo(bridge)
    _set_row(bridge, row_id, event_type="invoice")
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, "'invoice'", "'creditmemo'", "nothing was sent")
    _no_refund(bridge, order)


def test_a_payload_for_another_order_than_the_row_is_dead(bridge: Bridge) -> None:
    """Item 11: the payload's order must be the row's order_id."""
    order, row_id = _memo(bridge)
    other = bridge.order([MUG])
    _set_row(bridge, row_id, order_id=other.entity_id)
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, f"order {order.entity_id}", f"order {other.entity_id}")
    _no_refund(bridge, order)


def test_a_payload_for_another_creditmemo_than_the_row_is_dead(bridge: Bridge) -> None:
    """Item 11: the payload's credit memo must be the row's entity_id."""
    order, row_id = _memo(bridge)
    memo_id = bridge.row(row_id).entity_id
    _set_row(bridge, row_id, entity_id=memo_id + 1000)
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, f"creditmemo {memo_id}", f"creditmemo {memo_id + 1000}")
    _no_refund(bridge, order)


# ---------------------------------------------------------------- item 12: poison


def test_a_payload_nested_100000_deep_is_dead_at_the_first_attempt(bridge: Bridge) -> None:
    """Item 12: 100,000-deep nested JSON was retried to the attempt limit (RecursionError)."""
    _, row_id = _memo(bridge)
    _set_row(bridge, row_id, payload='{"a":' + "[" * 100_000 + "]" * 100_000 + "}")
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, "nested too deeply")


def test_a_payload_naming_an_order_that_does_not_exist_is_dead_at_once(bridge: Bridge) -> None:
    """Item 12: an unknown order ended dead only after every attempt, with SQL text as reason."""
    _, row_id = _memo(bridge)

    def unknown_order(doc: dict[str, Any]) -> None:
        doc["order"]["entity_id"] = 987654

    _edit_payload(bridge, row_id, unknown_order)
    _set_row(bridge, row_id, order_id=987654)
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, "Magento order 987654", "does not exist")


def test_an_id_of_2_to_the_40_is_dead_at_once_with_a_reason(bridge: Bridge) -> None:
    """Item 12: an id of 2^40 (beyond Magento's INT UNSIGNED) hit the database as SQL errors."""
    order, row_id = _memo(bridge)

    def huge_item_id(doc: dict[str, Any]) -> None:
        doc["items"][0]["order_item_id"] = 2**40

    _edit_payload(bridge, row_id, huge_item_id)
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, str(2**40), "4294967295")
    _no_refund(bridge, order)


# ------------------------------------------------------------ item 13: 5 decimals


def test_an_amount_with_five_decimals_is_poison_not_rounded(bridge: Bridge) -> None:
    """Item 13: 16.80001 was silently rounded; Magento stores 4 decimals."""
    order, row_id = _memo(bridge)

    def five_decimals(doc: dict[str, Any]) -> None:
        doc["creditmemo"]["subtotal"] = "16.80001"

    _edit_payload(bridge, row_id, five_decimals)
    bridge.drive()
    _assert_dead_at_once(bridge, row_id, "'16.80001'", "more than 4 decimal places")
    _no_refund(bridge, order)


# ----------------------------------------------------------- item 4: clock skew


def _date_ahead(bridge: Bridge, row_id: int, *, seconds: int) -> None:
    """The credit memo's created_at (Magento's host clock) ahead of the sidecar's clock."""
    ahead = (bridge.clock() + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")

    def move(doc: dict[str, Any]) -> None:
        doc["creditmemo"]["created_at"] = ahead

    _edit_payload(bridge, row_id, move)


def test_a_creditmemo_dated_ahead_within_the_skew_waits_counted_then_is_sent(
    bridge: Bridge,
) -> None:
    """Item 4: a created_at ahead of the sidecar's clock re-read getOrder every ~6 s forever
    with attempts at 0. Within SIDECAR_CLOCK_SKEW_SECONDS it now waits for our clock to pass
    the memo (no getOrder meanwhile), counting attempts, and is then sent."""
    order, row_id = _memo(bridge)
    _date_ahead(bridge, row_id, seconds=120)  # Magento's clock is two minutes ahead of ours
    reads_before = bridge.emulator.state.request_counts.get("getOrder", 0)
    bridge.drive()
    row = bridge.row(row_id)
    assert row.status == "pending"
    assert row.attempts == 1  # counted
    assert "ahead of this sidecar's clock" in (row.status_message or "")
    assert bridge.emulator.state.request_counts.get("getOrder", 0) == reads_before
    for _ in range(10):  # our clock moves on; the row is not spun in between
        bridge.clock.advance(seconds=30)
        bridge.drive()
    row = bridge.row(row_id)
    assert row.status == "done", row.status_message
    assert bridge.refunds(order, "MUG-1").adjustments == 1
    assert bridge.emulator.state.request_counts.get("getOrder", 0) <= reads_before + 2


def test_a_creditmemo_dated_beyond_the_skew_is_dead_at_once_with_a_reason(
    bridge: Bridge,
) -> None:
    """Items 4 and 12: a credit memo dated 2099 (here: an hour ahead) never ended."""
    order, row_id = _memo(bridge)
    _date_ahead(bridge, row_id, seconds=3600)
    bridge.drive()
    reason = _assert_dead_at_once(
        bridge, row_id, "ahead of this sidecar's clock", "SIDECAR_CLOCK_SKEW_SECONDS", "requeue"
    )
    assert "NTP" in reason
    assert bridge.emulator.state.request_counts.get("getOrder", 0) == 0
    _no_refund(bridge, order)
