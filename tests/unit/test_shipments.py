"""sidecar.shipments: only units still open on Amazon are confirmed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sidecar.domain import MagentoOrderRef, Shipment, ShipmentItem, ShipmentTrack
from sidecar.shipments import plan_package
from tests.unit.rule_builders import AMZ_ID, CODE_A, CODE_B, amz_item, amz_order

D = Decimal


def shipment(*items: ShipmentItem) -> Shipment:
    return Shipment(
        entity_id=7,
        increment_id="000000007",
        created_at=datetime(2026, 11, 26, 9, 0, 0),
        items=items or (ShipmentItem(33, "ABC-1", D(2), ext_order_item_id=CODE_A),),
        tracks=(ShipmentTrack("dhl", "DHL", "JJD1"),),
        order=MagentoOrderRef(12, "000000012", AMZ_ID, 1, "EUR", amazon_order_id=AMZ_ID),
    )


def test_open_units_are_confirmed() -> None:
    plan = plan_package(shipment(), amz_order(amz_item(qty=2)), {})
    assert plan.items == ((CODE_A, 2),)
    assert plan.notes == ()


def test_units_amazon_shows_shipped_are_never_confirmed_again() -> None:
    plan = plan_package(shipment(), amz_order(amz_item(qty=2, shipped=2)), {})
    assert plan.items == ()
    assert "2 already shown as shipped on Amazon" in plan.notes[0]
    partly = plan_package(shipment(), amz_order(amz_item(qty=2, shipped=1)), {})
    assert partly.items == ((CODE_A, 1),)


def test_units_the_bridge_cancelled_are_never_confirmed() -> None:
    # the bridge's cancellation is still in a feed: Amazon does not show it yet
    plan = plan_package(shipment(), amz_order(amz_item(qty=2)), {CODE_A: 1})
    assert plan.items == ((CODE_A, 1),)
    assert "1 cancelled on Amazon" in plan.notes[0]
    # once Amazon shows it, it is not counted twice
    both = plan_package(shipment(), amz_order(amz_item(qty=2, canceled=1)), {CODE_A: 1})
    assert both.items == ((CODE_A, 1),)


def test_amazon_order_item_id_wins_over_ext_and_sku() -> None:
    line = ShipmentItem(33, "MAGE-SKU", D(1), ext_order_item_id=CODE_A,
                        amazon_order_item_id=CODE_B)
    order = amz_order(amz_item(CODE_A, sku="A"), amz_item(CODE_B, sku="B"))
    assert plan_package(shipment(line), order, {}).items == ((CODE_B, 1),)


def test_sku_is_the_fallback_and_an_unknown_line_confirms_nothing() -> None:
    by_sku = ShipmentItem(33, "B", D(1))
    order = amz_order(amz_item(CODE_A, sku="A"), amz_item(CODE_B, sku="B"))
    assert plan_package(shipment(by_sku), order, {}).items == ((CODE_B, 1),)
    unknown = replace(by_sku, sku="NOPE")
    plan = plan_package(shipment(unknown, by_sku), order, {})
    assert plan.items == () and plan.unmatched is not None and "NOPE" in plan.unmatched


def test_a_configurable_parent_and_its_child_count_once() -> None:
    parent = ShipmentItem(40, "TEE-RED-M", D(1))
    child = ShipmentItem(41, "TEE-RED-M", D(1), parent_item_id=40)
    order = amz_order(amz_item(CODE_A, sku="TEE-RED-M", qty=1))
    assert plan_package(shipment(parent, child), order, {}).items == ((CODE_A, 1),)


def test_a_bundle_ships_its_children_when_the_parent_is_not_on_amazon() -> None:
    parent = ShipmentItem(50, "BUNDLE-A-B", D(1))
    kids = (ShipmentItem(51, "A", D(1), parent_item_id=50),
            ShipmentItem(52, "B", D(1), parent_item_id=50))
    order = amz_order(amz_item(CODE_A, sku="A", qty=1), amz_item(CODE_B, sku="B", qty=1))
    assert plan_package(shipment(parent, *kids), order, {}).items == ((CODE_A, 1), (CODE_B, 1))
