"""Which outbox rows the bridge may act on at all (pure: no I/O).

Checked before the refund rules (sidecar/rules.py) and before a shipment confirmation:
- the Amazon order id the module resolved must be in Amazon's form;
- a document another connector (M2E Pro) created from Amazon data is never echoed back;
- a credit memo Magento did not refund (state open, POST /V1/creditmemo) is never sent;
- an order linked to M2E Pro whose M2E account refunds on credit memo by itself is left to
  M2E Pro (unknown setting counts as on: a second refund cannot be taken back).

Every answer is a human reason the worker writes into the outbox row, the Magento order's
comment history and the health page.
"""

from __future__ import annotations

import re

from sidecar.domain import (
    CONNECTOR_M2EPRO,
    CREDITMEMO_STATE_CANCELED,
    CREDITMEMO_STATE_OPEN,
    CreditMemo,
    MagentoOrderRef,
    Shipment,
)

AMAZON_ORDER_ID = re.compile(r"\w{3}-\w{7}-\w{7}", re.ASCII)
M2E_REFUND_SETTING = (
    "M2E Pro > Amazon > Accounts > {account} > Orders > "
    "Cancel or Refund if Credit Memo is Created"
)
CONNECTOR_NAMES = {CONNECTOR_M2EPRO: "M2E Pro"}


def connector_label(name: str) -> str:
    return CONNECTOR_NAMES.get(name, name)


def amazon_order_id(order: MagentoOrderRef) -> str | None:
    """The order's Amazon order id when it is in Amazon's form, else None."""
    found = order.amazon_order_id
    if found is not None and AMAZON_ORDER_ID.fullmatch(found):
        return found
    return None


def unrecognised(order: MagentoOrderRef, document: str) -> str | None:
    """Why the order is not usable as an Amazon order (None: it is)."""
    if amazon_order_id(order) is not None:
        return None
    found = order.amazon_order_id
    if found is None:
        where = "the module found none"
        if order.ext_order_id:
            where += f" (ext_order_id {order.ext_order_id!r})"
    else:
        source = f" from {order.amazon_order_id_source}" if order.amazon_order_id_source else ""
        where = (
            f"{found!r}{source} is not in Amazon's form 123-1234567-1234567; check the "
            "module's Amazon order id pattern (its first capture group must be the Amazon id)"
        )
    return (
        f"{document}: not recognised as an Amazon order: order {order.increment_id} has no "
        f"usable Amazon order id: {where}; nothing was sent to Amazon"
    )


def created_by_connector(document: str, by: str | None) -> str | None:
    if by is None:
        return None
    return (
        f"{document} was created by {connector_label(by)} from Amazon data; not echoed to Amazon"
    )


def connector_refunds(order: MagentoOrderRef, document: str) -> str | None:
    """M2E Pro refunds on Amazon by itself for this order: the bridge must send nothing."""
    link = order.connector
    if link is None or link.name != CONNECTOR_M2EPRO or link.refunds_on_creditmemo is False:
        return None
    account = f"account {link.account_id}" if link.account_id is not None else "<account>"
    setting = M2E_REFUND_SETTING.format(account=account)
    known = (
        "is on" if link.refunds_on_creditmemo else "could not be read (treated as on)"
    )
    return (
        f"{document}: order {order.increment_id} is linked to M2E Pro, whose own setting "
        f"'{setting}' {known}; M2E Pro sends its own cancellation/refund to Amazon, so the "
        "bridge sent nothing. To have the bridge refund this account's later credit memos, "
        "switch that M2E Pro setting off (this credit memo stays with M2E Pro: check it in "
        "M2E Pro's order log)"
    )


def creditmemo_not_refunded(memo: CreditMemo) -> str | None:
    if memo.state == CREDITMEMO_STATE_OPEN:
        return (
            "Magento did not refund this credit memo (state open); nothing sent to Amazon"
        )
    if memo.state == CREDITMEMO_STATE_CANCELED:
        return "this credit memo is canceled in Magento (state canceled); nothing sent to Amazon"
    return None


def creditmemo_skip(memo: CreditMemo) -> str | None:
    """Why the bridge must not act on this credit memo (checked before the rules)."""
    document = f"credit memo {memo.increment_id}"
    return (
        created_by_connector(document, memo.created_by_connector)
        or creditmemo_not_refunded(memo)
        or unrecognised(memo.order, document)
        or connector_refunds(memo.order, document)
    )


def shipment_skip(shipment: Shipment) -> str | None:
    """Why the bridge must not confirm this shipment (checked before Amazon is asked)."""
    document = f"shipment {shipment.increment_id}"
    return created_by_connector(document, shipment.created_by_connector) or unrecognised(
        shipment.order, document
    )
