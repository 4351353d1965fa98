"""The refund rules (docs/rules.md): credit memo + Amazon order state -> one Decision.

Pure: no I/O, no clock (``now`` is passed in), no float. Every money component is quantized
exactly once, at the currency's minor unit with ROUND_HALF_UP, and split with
largest-remainder so that parts always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sidecar.domain import (
    AccountSettings,
    AdjustmentReason,
    AmazonOrderItem,
    AmazonOrderState,
    AmazonOrderStatus,
    Cancel,
    CancelItem,
    CancelReason,
    Component,
    CreditMemo,
    CreditMemoItem,
    Decision,
    FulfillmentChannel,
    Refund,
    RefundLedger,
    RefundLine,
    Reject,
    Skip,
    Wait,
)
from sidecar.money import (
    AMAZON_MAX_DECIMALS,
    is_quantized,
    minor_unit,
    minor_units,
    quantize,
    split,
    split_capped,
)

AMAZON_ORDER_ID = re.compile(r"\w{3}-\w{7}-\w{7}", re.ASCII)
AMAZON_ORDER_ITEM_ID = re.compile(r"[0-9]{14}", re.ASCII)
REFUNDABLE = frozenset(
    {AmazonOrderStatus.UNSHIPPED, AmazonOrderStatus.PARTIALLY_SHIPPED, AmazonOrderStatus.SHIPPED}
)
MERCHANT_ADJUSTMENT_ITEM_ID_MAX = 40
REFUND_SETTING = "Cancellation & Refund if Credit Memo is created"

P, T, S, ST, RF, GW, GWT = (
    Component.PRINCIPAL,
    Component.TAX,
    Component.SHIPPING,
    Component.SHIPPING_TAX,
    Component.RESTOCKING_FEE,
    Component.GIFT_WRAP,
    Component.GIFT_WRAP_TAX,
)
COMPONENT_ORDER = (P, T, S, ST, GW, GWT, RF)
TAX_OF = {P: T, S: ST, GW: GWT}  # a net component and the tax charged on it
ZERO = Decimal(0)
#: Marketplaces whose prices include VAT/GST/consumption tax: refunds there are sent net and
#: without tax components; Amazon adds the tax at the original rate ("Partial Refunds with
#: VAT-Exclusive Prices"). Used when the order's proceeds do not prove either way.
TAX_INCLUSIVE_MARKETPLACES = frozenset({
    "A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P", "APJ6JRA9NG5V4",  # DE FR UK IT
    "A1RKKUPIHCS9HS", "A1805IZSGTT6HS", "A2NODRKZP88ZB9", "A1C3SOZRARQ6R3",  # ES NL SE PL
    "AMEN7PMS3EDWL", "A28R8C7NBKEWEA", "A33AVAJ2PDY3EV", "A1VC38T7YXB528",  # BE IE TR JP
})


class _Rejected(Exception):
    """Internal: abort decide() with a Reject carrying this message."""


# ------------------------------------------------------------------ public entry


def decide(
    memo: CreditMemo,
    order: AmazonOrderState | None,
    settings: AccountSettings | None,
    ledger: RefundLedger,
    now: datetime,
) -> Decision:
    """Decide what to send to Amazon for ``memo``. See docs/rules.md for every rule."""
    ext = memo.order.amazon_order_id  # resolved by the module (v2) or ext_order_id (v1)
    # Rule 1: only Amazon orders of an account whose refund setting is on.
    if settings is None:
        if ext is not None and AMAZON_ORDER_ID.fullmatch(ext):
            # the module found an Amazon order the sidecar has no account for: a
            # misconfiguration, shown as a failure a human fixes, never a quiet skip
            return Reject(
                f"store {memo.order.store_id} has no Amazon account in the sidecar's accounts "
                f"file (SIDECAR_ACCOUNTS_FILE): Amazon order {ext}, credit memo "
                f"{memo.increment_id} was not sent. Add store {memo.order.store_id} to an "
                "account's store_ids (or switch the module off for that store), then requeue"
            )
        return Skip(
            f"not an Amazon order: store {memo.order.store_id} has no Amazon account "
            f"(order {memo.order.increment_id})"
        )
    if ext is None or not AMAZON_ORDER_ID.fullmatch(ext):
        return Skip(
            f"not an Amazon order: order {memo.order.increment_id} has no Amazon order id "
            f"in Amazon's form 123-1234567-1234567 (found {ext!r})"
        )
    if not settings.refund_on_creditmemo:
        return Skip(
            f"setting '{REFUND_SETTING}' (refund_on_creditmemo) is off for Amazon account "
            f"{settings.account_id}; credit memo {memo.increment_id} is not sent to Amazon"
        )
    # Idempotence: a credit memo already submitted is never submitted again.
    if memo.entity_id in ledger.creditmemo_ids:
        return Skip(
            f"credit memo {memo.increment_id} was already submitted to Amazon for {ext}; "
            "nothing is sent again"
        )
    # Never decide on Amazon state older than the credit memo.
    if order is None:
        return Wait(f"Amazon order {ext} has not been read yet", until=now, refresh_order=True)
    if order.fetched_at < memo.created_at:
        return Wait(
            f"Amazon order {ext} was last read at {order.fetched_at:%Y-%m-%d %H:%M:%S}, before "
            f"credit memo {memo.increment_id} ({memo.created_at:%Y-%m-%d %H:%M:%S}); "
            "re-reading it first",
            until=now,
            refresh_order=True,
        )
    try:
        decision = _decide(memo, order, settings, ledger)
    except _Rejected as rejected:
        return Reject(str(rejected))
    if isinstance(decision, Refund) and not decision.lines:
        # every amount was capped or rounded away: an empty feed message helps nobody
        return Reject(
            f"nothing is left to send for credit memo {memo.increment_id}: what it credits is "
            f"already refunded on Amazon order {ext} or rounds to zero"
        )
    return decision


def _decide(
    memo: CreditMemo, order: AmazonOrderState, settings: AccountSettings, ledger: RefundLedger
) -> Decision:
    ext = order.amazon_order_id
    if memo.order.amazon_order_id != ext:
        raise _Rejected(
            f"the Amazon order read ({ext}) is not the credit memo's order "
            f"({memo.order.amazon_order_id})"
        )
    if _cancelled_by_us(order, ledger):
        raise _Rejected(
            f"Amazon order {ext} was already cancelled by an earlier credit memo; nothing "
            "remains to cancel or refund"
        )
    # Rule 3: refunds only for Unshipped, PartiallyShipped, Shipped.
    if order.status not in REFUNDABLE:
        shown = (
            order.status.value
            if order.status is not None
            else (f"unknown ({order.raw_status!r})" if order.raw_status else "unknown")
        )
        raise _Rejected(
            f"Amazon order {ext} has status {shown}; a cancellation or refund is possible only "
            "for Unshipped, PartiallyShipped or Shipped orders. Nothing was sent to Amazon."
        )
    # Rule 11: FBA, currency mismatch, empty memo.
    if order.fulfillment_channel == FulfillmentChannel.AFN:
        raise _Rejected(
            f"Amazon order {ext} is fulfilled by Amazon (FBA/AFN); Amazon handles its refunds. "
            "Nothing was sent to Amazon."
        )
    currency = order.currency
    if memo.order_currency_code != currency:
        raise _Rejected(
            f"currency mismatch: credit memo {memo.increment_id} is in "
            f"{memo.order_currency_code} but Amazon order {ext} is in {currency}"
        )
    try:
        minor_units(currency)
    except ValueError as exc:
        raise _Rejected(f"Amazon order {ext}: {exc}") from exc
    if _is_empty(memo):
        raise _Rejected(
            f"credit memo {memo.increment_id} is empty: no item quantities, no shipping and no "
            "adjustment amounts"
        )
    return _Planner(_context(memo, order, settings, ledger)).decide()


def _cancelled_by_us(order: AmazonOrderState, ledger: RefundLedger) -> bool:
    """Whether our own cancellations (OrderAcknowledgement) already took every unit."""
    if not ledger.order_canceled_by_us:
        return False
    return not ledger.entries or all(
        ledger.units(i.order_item_id) >= i.quantity_ordered for i in order.items
    )


def _is_empty(memo: CreditMemo) -> bool:
    return (
        all(item.qty <= 0 for item in memo.items)
        and memo.shipping_amount == 0
        and memo.shipping_tax_amount == 0
        and memo.adjustment_positive == 0
        and memo.adjustment_negative == 0
    )


# ------------------------------------------------------------ internal structures


@dataclass
class _ItemState:
    """What Amazon charged for one item and what still remains refundable."""

    item: AmazonOrderItem
    remaining_units: int
    unshipped_units: int
    charged: dict[Component, Decimal]  # raw net and tax totals of the units not cancelled away
    remaining: dict[Component, Decimal]  # quantized, >= 0
    earlier_lines: int = 0  # ledger lines already sent for the item (rounding tolerance)
    shipped_units: int = 0  # reconciled with the order status (a Shipped order shipped all)

    @property
    def code(self) -> str:
        return self.item.order_item_id

    @property
    def buyer_requested(self) -> bool:
        return self.item.buyer_cancel_requested

    def share(self, component: Component, units: int) -> Decimal:
        """What ``units`` units may take of ``component``: their pro-rata share of the charge."""
        remaining = self.remaining[component]
        if units >= self.remaining_units or self.remaining_units <= 0:
            return remaining
        # pro rata over the units still open, of what is still open
        return remaining * units / self.remaining_units

    def rate(self, component: Component) -> Decimal:
        """The tax rate Amazon charged on a net component (tax / net), 0 when unknown."""
        net = self.charged.get(component, ZERO)
        return self.charged.get(TAX_OF[component], ZERO) / net if net > 0 else ZERO


@dataclass
class _Ctx:
    """Everything one decision reads, plus the notes and differences it collects."""

    memo: CreditMemo
    order: AmazonOrderState
    settings: AccountSettings
    ledger: RefundLedger
    vat_exclusive: bool  # tax-inclusive marketplace: send net amounts, no tax components
    prices_include_tax: bool  # Amazon's item/shipping prices include the tax it shows
    states: dict[str, _ItemState] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # (why, amount): money of the credit memo not sent (> 0) or sent beyond it (< 0)
    gaps: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.order.currency

    @property
    def unit(self) -> Decimal:
        return minor_unit(self.currency)

    def q(self, amount: Decimal) -> Decimal:
        return quantize(amount, self.currency)

    def fmt(self, amount: Decimal) -> str:
        return _fmt(amount, self.currency)

    def gap(self, why: str, amount: Decimal) -> None:
        if amount:
            self.gaps.append((why, amount))


@dataclass
class _MemoLine:
    """One credited Amazon item, built from one or more Magento credit memo lines."""

    amazon: AmazonOrderItem
    magento_item_id: int
    sku: str
    qty: int
    principal: Decimal  # exact sum of the Magento lines, quantized only once (rule: 6)
    tax: Decimal
    magento_shipped: int = 0  # units Magento shows shipped, in the Amazon item's units
    members: int = 1  # Magento lines behind it


@dataclass
class _Alloc:
    """Amounts for one Amazon item in this decision (before splitting into lines)."""

    state: _ItemState
    magento_item_id: int | None
    sku: str
    units: int = 0
    amounts: dict[Component, Decimal] = field(default_factory=dict)

    def add(self, component: Component, amount: Decimal) -> None:
        self.amounts[component] = self.amounts.get(component, ZERO) + amount

    def get(self, component: Component) -> Decimal:
        return self.amounts.get(component, ZERO)

    @property
    def cancelled_units(self) -> int:
        return min(self.units, self.state.unshipped_units)

    @property
    def returned_units(self) -> int:
        return self.units - self.cancelled_units


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


def _exact(amount: Decimal, currency: str) -> str:
    """An amount as it is, without rounding it (a difference must be stated exactly)."""
    if is_quantized(amount, currency):
        return _fmt(amount, currency)
    return f"{format(amount.normalize(), 'f')} {currency}"


# ------------------------------------------------------------------- Amazon side


def _context(
    memo: CreditMemo, order: AmazonOrderState, settings: AccountSettings, ledger: RefundLedger
) -> _Ctx:
    inclusive_marketplace = order.marketplace_id in TAX_INCLUSIVE_MARKETPLACES
    includes = order.prices_include_tax
    # Amazon's prices include the tax it shows: proven by the proceeds, else by marketplace
    prices_include_tax = inclusive_marketplace if includes is None else includes
    # refunds go VAT-exclusive, with no tax component, on a tax-inclusive marketplace, also
    # when the v2026 proceeds show the tax on top of a net ITEM (Amazon's UK example)
    vat_exclusive = inclusive_marketplace or prices_include_tax
    ctx = _Ctx(memo, order, settings, ledger, vat_exclusive, prices_include_tax)
    ctx.states = {i.order_item_id: _item_state(ctx, i) for i in order.items}
    return ctx


def _charges(item: AmazonOrderItem, inclusive: bool) -> dict[Component, Decimal]:
    """Net and tax per component as Amazon charged them (after promotions), all units."""
    taxes = {
        T: item.item_tax - item.promotion_discount_tax,
        ST: item.shipping_tax - item.shipping_discount_tax,
        GWT: item.gift_wrap_tax,
    }
    nets = {
        P: item.item_price - item.promotion_discount,
        S: item.shipping_price - item.shipping_discount,
        GW: item.gift_wrap_price,
    }
    if inclusive:
        nets = {c: amount - taxes[TAX_OF[c]] for c, amount in nets.items()}
    return {**nets, **taxes}


def _item_state(ctx: _Ctx, item: AmazonOrderItem) -> _ItemState:
    """Units and money that remain on Amazon for one item (rules 2 and 11 of the issue)."""
    ledger = ctx.ledger
    code = item.order_item_id
    ordered = item.quantity_ordered
    # Amazon's quantity_canceled counts units cancelled outside the bridge and our confirmed
    # cancellations; our pending ones may not show yet: add them, never count ours twice.
    confirmed = ledger.units_cancelled(code, confirmed=True)
    pending = ledger.units_cancelled(code, confirmed=False)
    cancelled = max(item.quantity_canceled, confirmed) + pending
    returned = ledger.units(code) - confirmed - pending
    remaining_units = max(0, ordered - cancelled - returned)
    shipped = item.quantity_shipped
    if ctx.order.status == AmazonOrderStatus.SHIPPED:
        # a Shipped order has shipped every unit it did not cancel, whatever the item says
        shipped = max(shipped, ordered - item.quantity_canceled)
    unshipped = min(max(0, ordered - shipped - cancelled), remaining_units)
    charged = _charges(item, ctx.prices_include_tax)
    # Units Amazon cancelled without us were refunded by Amazon: their share of every charge
    # is gone (Amazon's charges are totals for quantity_ordered).
    outside = max(0, item.quantity_canceled - confirmed)
    if outside and ordered > 0:
        live = max(0, ordered - outside)
        charged = {c: a * live / ordered for c, a in charged.items()}
    remaining = {
        c: max(ZERO, ctx.q(max(ZERO, a)) - ledger.refunded(code, c)) for c, a in charged.items()
    }
    earlier = sum(1 for e in ledger.entries if e.order_item_id == code and e.component == P)
    return _ItemState(item, remaining_units, unshipped, charged, remaining, earlier, shipped)


# ------------------------------------------------------------------- the planner


class _Planner:
    """Maps the credit memo's lines to Amazon items and picks the kind of decision."""

    def __init__(self, ctx: _Ctx) -> None:
        self.ctx = ctx
        self.memo = ctx.memo
        self.order = ctx.order

    def decide(self) -> Decision:
        ctx = self.ctx
        lines = self._memo_lines()
        _check_units(ctx, lines)
        fee = self.memo.adjustment_negative
        keep_fee = fee > 0 and ctx.settings.adjustment_fee_as_restocking_fee
        whole_order = fee > 0 and not keep_fee
        if self.order.status == AmazonOrderStatus.UNSHIPPED and not keep_fee:
            cancel = _plan_cancel(ctx, lines, whole_order)
            if cancel is not None:
                return cancel
        if whole_order:
            return _whole_order_refund(ctx, self._memo_ids())
        return _memo_refund(ctx, lines)

    def _memo_ids(self) -> dict[str, int]:
        """Amazon item -> the Magento order item the memo credits for it (best effort)."""
        memo_ids: dict[str, int] = {}
        for item in self.memo.items:
            try:
                match = self._match(item)
            except _Rejected:
                match = None
            if match is not None:
                memo_ids.setdefault(match.order_item_id, item.order_item_id)
        return memo_ids

    # ---- memo side: map Magento lines to Amazon items

    def _memo_lines(self) -> list[_MemoLine]:
        items = [i for i in self.memo.items if i.qty > 0]  # zero-qty lines carry nothing
        for item in items:
            if item.qty != item.qty.to_integral_value():
                raise _Rejected(
                    f"SKU {item.sku}: quantity {item.qty} is not a whole number of units"
                )
        present = {i.order_item_id for i in items}
        children: dict[int, list[CreditMemoItem]] = {}
        groups: list[list[CreditMemoItem]] = []
        for item in items:
            if item.parent_item_id is not None and item.parent_item_id in present:
                children.setdefault(item.parent_item_id, []).append(item)
        for item in items:
            if item.parent_item_id is None or item.parent_item_id not in present:
                groups.append([item, *children.get(item.order_item_id, [])])

        merged: dict[str, _MemoLine] = {}
        for group in groups:
            for line in self._group_lines(group):
                code = line.amazon.order_item_id
                if code in merged:
                    prev = merged[code]
                    prev.qty += line.qty
                    prev.principal += line.principal  # exact: quantized once, later
                    prev.tax += line.tax
                    prev.magento_shipped += line.magento_shipped
                    prev.members += line.members
                else:
                    merged[code] = line
        return list(merged.values())

    def _group_lines(self, group: list[CreditMemoItem]) -> list[_MemoLine]:
        """A parent with its children (configurable/bundle) or a single line."""
        matches = [(m, self._match(m)) for m in group]
        found = {a.order_item_id for _, a in matches if a is not None}
        sku = group[-1].sku  # a configurable child carries the SKU Amazon knows
        if not found:
            raise _Rejected(
                f"SKU {sku} (Magento order item {group[0].order_item_id}) has no matching item "
                f"on Amazon order {self.order.amazon_order_id} (by order item code or SKU)"
            )
        if len(found) == 1:
            # One Amazon item for the whole group: count its units once, sum its money.
            known = [(m, a) for m, a in matches if a is not None]
            member, amazon = known[-1]
            qty = max(m.qty for m, _ in known)
            shipped = _shipped_in_units_of(member, [m for m, _ in matches], found_members=[
                m for m, _ in known])
            return [self._line(amazon, member.order_item_id, member.sku, qty, group, shipped)]
        lines = []
        for member, maybe in matches:
            if maybe is None:
                if self._money(member) != (ZERO, ZERO):
                    raise _Rejected(
                        f"SKU {member.sku} (Magento order item {member.order_item_id}) has no "
                        f"matching item on Amazon order {self.order.amazon_order_id}"
                    )
                continue  # a container line without money (bundle parent)
            lines.append(
                self._line(maybe, member.order_item_id, member.sku, member.qty, [member],
                           member.qty_shipped)
            )
        return lines

    def _match(self, item: CreditMemoItem) -> AmazonOrderItem | None:
        # the module's Amazon OrderItemId first, then ext_order_item_id, then the link, then SKU
        for ext in (item.amazon_order_item_id, item.ext_order_item_id):
            if ext is not None and AMAZON_ORDER_ITEM_ID.fullmatch(ext):
                for amazon in self.order.items:
                    if amazon.order_item_id == ext:
                        return amazon
        linked = [a for a in self.order.items if a.magento_order_item_id == item.order_item_id]
        if len(linked) == 1:
            return linked[0]
        by_sku = [a for a in self.order.items if a.seller_sku == item.sku]
        if len(by_sku) > 1:
            raise _Rejected(
                f"SKU {item.sku} matches {len(by_sku)} items on Amazon order "
                f"{self.order.amazon_order_id}; the Magento item needs its Amazon order item code"
            )
        return by_sku[0] if by_sku else None

    def _money(self, item: CreditMemoItem) -> tuple[Decimal, Decimal]:
        """(principal, tax) of a Magento line, net of tax, unquantized.

        Magento's row_total is net of tax; its discount_amount (a positive number on the item)
        is what the promotion took off, so it reduces the Principal.
        """
        return item.row_total - abs(item.discount_amount), item.tax_amount

    def _line(
        self,
        amazon: AmazonOrderItem,
        magento_item_id: int,
        sku: str,
        qty: Decimal,
        members: Sequence[CreditMemoItem],
        shipped: Decimal,
    ) -> _MemoLine:
        principal = sum((self._money(m)[0] for m in members), ZERO)
        tax = sum((self._money(m)[1] for m in members), ZERO)
        for name, value in (("Principal", principal), ("Tax", tax)):
            if value < 0:
                raise _Rejected(
                    f"SKU {sku}: the credit memo's {name} for this item is negative ({value}); "
                    "its discount is larger than its row total"
                )
        return _MemoLine(
            amazon, magento_item_id, sku, int(qty), principal, tax, int(shipped), len(members)
        )


def _shipped_in_units_of(
    anchor: CreditMemoItem, group: list[CreditMemoItem], found_members: list[CreditMemoItem]
) -> Decimal:
    """Units Magento shows shipped, in the units of the Amazon item (like with like).

    Lines that map to the Amazon item count as they are; a bundle's children count shipped
    units in child units (2 per bundle: 2 shipped = 1 bundle), so they are scaled by
    qty_ordered to the anchor's units and rounded down."""
    shipped = max((m.qty_shipped for m in found_members), default=ZERO)
    for member in group:
        if member in found_members or member.qty_ordered <= 0 or anchor.qty_ordered <= 0:
            continue
        scaled = member.qty_shipped * anchor.qty_ordered / member.qty_ordered
        shipped = max(shipped, scaled.to_integral_value(rounding=ROUND_FLOOR))
    return shipped


# ------------------------------------------------------------------ unit checks


def _check_units(ctx: _Ctx, lines: list[_MemoLine]) -> None:
    for line in lines:
        state = ctx.states[line.amazon.order_item_id]
        if line.magento_shipped > state.shipped_units:
            # Cancelling as NoInventory what the store says it shipped would be wrong;
            # the shipment must reach Amazon first (rule 6's documented procedure).
            raise _Rejected(
                f"SKU {line.sku} (Amazon item {state.code}): Magento shows "
                f"{line.magento_shipped} unit(s) shipped but Amazon shows "
                f"{state.item.quantity_shipped}; confirm the shipment to Amazon first, "
                "then requeue this credit memo"
            )
        if line.qty > state.remaining_units:
            raise _Rejected(
                f"SKU {line.sku} (Amazon item {state.code}): the credit memo credits "
                f"{line.qty} unit(s) but only {state.remaining_units} of "
                f"{state.item.quantity_ordered} remain refundable on Amazon"
            )


# ------------------------------------------------------------- cancel planning


def _plan_cancel(ctx: _Ctx, lines: list[_MemoLine], whole_order: bool) -> Cancel | None:
    """Unshipped order: a cancellation (OrderAcknowledgement), or None for a refund.

    The whole order when the memo covers every remaining unit (or has an Adjustment Fee);
    else the items the buyer asked to cancel, whole, with the memo's other units."""
    by_code = {line.amazon.order_item_id: line for line in lines}
    open_items = [s for s in ctx.states.values() if s.remaining_units > 0]
    covers_all = bool(open_items) and all(
        s.code in by_code and by_code[s.code].qty == s.remaining_units for s in open_items
    )
    requested = [s for s in open_items if s.buyer_requested]
    whole = covers_all or whole_order
    if not (whole or requested):
        return None
    if whole:
        items = [(s, s.remaining_units) for s in open_items]
    else:
        items = [(s, s.remaining_units) for s in requested]
        others = [(ctx.states[c], ln.qty) for c, ln in by_code.items()
                  if not ctx.states[c].buyer_requested]
        if any(units < s.remaining_units for s, units in others):
            # only whole items go in an OrderAcknowledgement, so that sending it again after
            # an unknown outcome cannot cancel more units: refund lines instead
            return None
        items += others
    if not _clean(ctx, [s for s, _ in items], whole):
        ctx.notes.append(
            "the order already has refunds or cancellations, so units are cancelled by refund "
            "lines (QuantityCancelled) instead of an order cancellation"
        )
        return None
    return _cancel(ctx, items, whole, whole_order and not covers_all)


def _clean(ctx: _Ctx, states: list[_ItemState], whole: bool) -> bool:
    """A cancellation refunds what Amazon charged: only when nothing was refunded before."""
    if whole and (ctx.ledger.entries or ctx.ledger.order_canceled_by_us):
        return False
    scope = ctx.order.items if whole else [s.item for s in states]
    return all(
        i.quantity_canceled == 0 and i.quantity_shipped == 0
        and not any(e.order_item_id == i.order_item_id for e in ctx.ledger.entries)
        for i in scope
    )


def _cancel(
    ctx: _Ctx, items: list[tuple[_ItemState, int]], whole: bool, because_of_fee: bool
) -> Cancel:
    cancel_items = tuple(
        CancelItem(s.code, CancelReason.BUYER_CANCELED if s.buyer_requested
                   else CancelReason.NO_INVENTORY, units)
        for s, units in items if units > 0
    )
    refunded = sum((_charged_share(ctx, s, units) for s, units in items), ZERO)
    reasons = "/".join(sorted({i.reason.value for i in cancel_items}))
    order_id = ctx.order.amazon_order_id
    if because_of_fee:
        why = (f"the credit memo has an Adjustment Fee of {ctx.fmt(ctx.memo.adjustment_negative)}"
               "; with a fee no partial refund is issued, so the whole unshipped order is "
               "cancelled (rule 9)")
    elif whole:
        why = "the credit memo covers every unit of the unshipped order"
    else:
        why = "the credit memo's items are cancelled"
    asked = [s for s, _ in items if s.buyer_requested]
    if asked:
        skus = ", ".join(s.item.seller_sku for s in asked)
        why += (f"; the buyer asked to cancel {skus}: every remaining unit is cancelled "
                "(BuyerCanceled) and Amazon refunds the whole cancelled amount")
        if refunded > ctx.memo.grand_total:
            why += (f", more than this credit memo credits: credit the remaining "
                    f"{_exact(refunded - ctx.memo.grand_total, ctx.currency)} in Magento too")
    what = f"Amazon order {order_id}" if whole else f"items of Amazon order {order_id}"
    ctx.notes.insert(0, f"cancel {what} ({reasons}): {why}; Amazon refunds the buyer what it "
                        f"charged for the cancelled units, {ctx.fmt(refunded)}")
    ctx.gap("a cancellation refunds what Amazon charged for the cancelled units, not the "
            "credit memo's amounts", ctx.memo.grand_total - refunded)
    _explain(ctx, refunded)
    every_unit = {s.code for s in ctx.states.values() if s.remaining_units > 0} <= {
        s.code for s, units in items if units >= s.remaining_units}
    return Cancel(order_id, ctx.memo.order.increment_id, cancel_items, "; ".join(ctx.notes),
                  whole_order=every_unit)


def _charged_share(ctx: _Ctx, state: _ItemState, units: int) -> Decimal:
    """What Amazon refunds the buyer for cancelling ``units`` units (tax included)."""
    return sum((ctx.q(state.share(c, units)) for c in (P, T, S, ST, GW, GWT)), ZERO)


# ------------------------------------------------------------------ amounts

VAT_NOT_SENT = (
    "VAT: prices on this marketplace include VAT, so amounts are sent without it and Amazon "
    "adds VAT at the order's original rate"
)


def _memo_refund(ctx: _Ctx, lines: list[_MemoLine]) -> Refund:
    allocs = {line.amazon.order_item_id: _item_amounts(ctx, line) for line in lines}
    if ctx.order.status == AmazonOrderStatus.UNSHIPPED:
        _buyer_requested_items(ctx, allocs)
    _shipping(ctx, allocs, shipping_only=not lines)
    _gift_wrap(ctx, allocs)
    memo = ctx.memo
    if memo.adjustment_positive > 0:
        # Adjustment Refund: a goodwill amount sent as extra Principal, spread pro rata.
        _spread_adjustment(ctx, allocs, ctx.q(memo.adjustment_positive))
        ctx.notes.append(
            f"Adjustment Refund {ctx.fmt(memo.adjustment_positive)} sent as additional Principal"
        )
    if memo.adjustment_negative > 0:
        _restocking_fee(ctx, allocs, ctx.q(memo.adjustment_negative))
    return _refund(ctx, allocs.values())


def _item_amounts(ctx: _Ctx, line: _MemoLine) -> _Alloc:
    """Principal (and Tax) of one credited item: quantized once, capped at what remains; the
    memo that completes the item gets what remains (rounding across credit memos)."""
    state = ctx.states[line.amazon.order_item_id]
    alloc = _Alloc(state, line.magento_item_id, line.sku, units=line.qty)
    parts = [(P, line.principal), (T, line.tax)]
    if ctx.vat_exclusive:
        ctx.gap(VAT_NOT_SENT, line.tax)
        parts = parts[:1]
    tolerance = ctx.unit * _line_count(state, line.qty)
    completes = line.qty >= state.remaining_units
    for component, raw in parts:
        amount = ctx.q(raw)
        cap = ctx.q(state.share(component, line.qty))
        label = f"{component.value} of SKU {line.sku}"
        if amount > cap:
            excess = amount - cap
            if excess > tolerance:
                raise _Rejected(
                    f"{component.value} of SKU {line.sku} (Amazon item {state.code}) is "
                    f"{ctx.fmt(amount)} but only {ctx.fmt(cap)} remains refundable for "
                    f"{line.qty} unit(s); it exceeds by {ctx.fmt(excess)}"
                )
            ctx.notes.append(f"{label} capped from {ctx.fmt(amount)} to {ctx.fmt(cap)} "
                             "(rounding difference)")
            ctx.gap(f"{label} capped to what remains on Amazon (rounding)", amount - cap)
            amount = cap
        elif completes and amount < cap:
            rounding = ctx.unit * (state.earlier_lines + line.members)
            if cap - amount <= rounding:
                ctx.notes.append(
                    f"{label}: this credit memo completes the item, so it gets what remains on "
                    f"Amazon, {ctx.fmt(cap)} instead of {ctx.fmt(amount)} (rounding across "
                    "credit memos)")
                ctx.gap(f"{label}: rounding across credit memos, the memo completing the item "
                        "gets what remains", amount - cap)
                amount = cap
            else:
                ctx.notes.append(f"after this credit memo {ctx.fmt(cap - amount)} of {label} "
                                 "remains refundable on Amazon")
        alloc.add(component, amount)
    return alloc


def _line_count(state: _ItemState, units: int) -> int:
    cancelled = min(units, state.unshipped_units)
    return max(1, int(cancelled > 0) + int(units - cancelled > 0))


def _whole_item(ctx: _Ctx, state: _ItemState, alloc: _Alloc | None) -> _Alloc:
    """Every remaining unit and amount of one item (gift wrap is added by _gift_wrap)."""
    whole = _Alloc(state, alloc.magento_item_id if alloc else state.item.magento_order_item_id,
                   alloc.sku if alloc else state.item.seller_sku, units=state.remaining_units)
    for component in (P, S) if ctx.vat_exclusive else (P, T, S, ST):
        if state.remaining[component] > 0:
            whole.add(component, state.remaining[component])
    return whole


def _buyer_requested_items(ctx: _Ctx, allocs: dict[str, _Alloc]) -> None:
    """Unshipped, buyer asked to cancel, not cancellable by an OrderAcknowledgement: the
    requested items are still cancelled whole (CustomerCancel lines, never NoInventory)."""
    for state in ctx.states.values():
        if not state.buyer_requested or state.remaining_units <= 0:
            continue
        before = allocs.get(state.code)
        whole = _whole_item(ctx, state, before)
        allocs[state.code] = whole
        credited = sum(before.amounts.values(), ZERO) if before else ZERO
        extra = sum(whole.amounts.values(), ZERO) - credited
        ctx.notes.append(
            f"the buyer asked to cancel SKU {state.item.seller_sku}: all "
            f"{state.remaining_units} remaining unit(s) are cancelled and refunded in full "
            f"({ctx.fmt(sum(whole.amounts.values(), ZERO))}); credit the rest in Magento too"
        )
        ctx.gap(f"the buyer asked to cancel SKU {state.item.seller_sku}: refunded whole", -extra)


def _memo_shipping(ctx: _Ctx) -> tuple[Decimal, Decimal]:
    """The credit memo's shipping (net, tax), less any discount Magento put on shipping."""
    memo = ctx.memo
    net, tax = ctx.q(memo.shipping_amount), ctx.q(memo.shipping_tax_amount)
    item_discounts = sum(
        (ctx.q(abs(i.discount_amount)) for i in memo.items if i.qty > 0), ZERO
    )
    shipping_discount = ctx.q(abs(memo.discount_amount)) - item_discounts
    # per-line rounding of item discounts may leave a minor unit per discounted line
    rounding = ctx.unit * sum(1 for i in memo.items if i.qty > 0 and i.discount_amount)
    if shipping_discount > 0 and (net > 0 or shipping_discount > rounding):
        if shipping_discount > net:
            raise _Rejected(
                f"credit memo {memo.increment_id}: its discount "
                f"{ctx.fmt(abs(memo.discount_amount))} is larger than item discounts plus "
                "shipping; cannot tell what to refund"
            )
        net -= shipping_discount
        ctx.notes.append(f"shipping reduced by the shipping discount {ctx.fmt(shipping_discount)}")
    return net, tax


def _shipping(ctx: _Ctx, allocs: dict[str, _Alloc], *, shipping_only: bool) -> None:
    """Rule 8: shipping goes with the credited items only, up to what Amazon charged for
    their shipping; a shipping-only memo spreads over the order's items."""
    net, tax = _memo_shipping(ctx)
    _spread_shipping(ctx, allocs, S, net, shipping_only)
    if ctx.vat_exclusive:
        ctx.gap(VAT_NOT_SENT, ctx.memo.shipping_tax_amount)
    else:
        _spread_shipping(ctx, allocs, ST, tax, shipping_only)


def _room(alloc: _Alloc, component: Component) -> Decimal:
    return max(ZERO, alloc.state.remaining[component] - alloc.get(component))


def _spread_shipping(
    ctx: _Ctx, allocs: dict[str, _Alloc], component: Component, total: Decimal,
    shipping_only: bool,
) -> None:
    if total <= 0:
        return
    if shipping_only:
        for state in ctx.states.values():
            if state.remaining[component] > 0 and state.code not in allocs:
                allocs[state.code] = _Alloc(
                    state, state.item.magento_order_item_id, state.item.seller_sku)
        targets = list(allocs.values())
        weights = [_room(a, component) for a in targets]
    else:
        targets = [a for a in allocs.values() if a.units > 0]
        weights = [a.get(P) for a in targets]
        if not any(weights):
            weights = [_room(a, component) for a in targets]
    rooms = [_room(a, component) for a in targets]
    parts, left = split_capped(total, weights, rooms, ctx.currency)
    for alloc, part in zip(targets, parts, strict=True):
        if part:
            alloc.add(component, part)
    for code in [c for c, a in allocs.items() if not a.units and not a.amounts]:
        del allocs[code]
    if left <= 0:
        return
    label = component.value
    if shipping_only:
        if left > ctx.unit * max(1, len(targets)):
            raise _Rejected(
                f"{label} of {ctx.fmt(total)} exceeds what remains refundable on Amazon order "
                f"{ctx.order.amazon_order_id} as {label} by {ctx.fmt(left)}"
            )
        ctx.notes.append(f"{label} reduced by {ctx.fmt(left)} to what Amazon still has to "
                         "refund (rounding difference)")
        ctx.gap(f"{label} reduced to what Amazon still has to refund", left)
        return
    ctx.notes.append(
        f"{label} of {ctx.fmt(left)} is not sent: it is more than Amazon charged for the "
        "shipping of the credited items, and shipping is refunded only with the items it was "
        "charged for (rule 8); refund it by hand in Seller Central if the buyer is owed it"
    )
    ctx.gap(f"{label} above what Amazon charged for the credited items' shipping", left)


def _gift_wrap(ctx: _Ctx, allocs: dict[str, _Alloc]) -> None:
    """Gift wrap goes back with its item when the memo credits every remaining unit of it;
    otherwise the note names it as not refunded."""
    for alloc in allocs.values():
        state = alloc.state
        parts = [GW] if ctx.vat_exclusive else [GW, GWT]
        wrap = sum((state.remaining[c] for c in parts), ZERO)
        if wrap <= 0 or not alloc.units:
            continue
        sku = state.item.seller_sku
        if alloc.units >= state.remaining_units:
            for component in parts:
                if state.remaining[component] > 0:
                    alloc.add(component, state.remaining[component])
            ctx.notes.append(f"gift wrap of SKU {sku} refunded with the whole item: "
                             f"{ctx.fmt(wrap)}")
            ctx.gap(f"gift wrap of SKU {sku}, refunded with the whole item", -wrap)
        else:
            ctx.notes.append(f"gift wrap of SKU {sku} ({ctx.fmt(wrap)}) is not refunded: the "
                             "credit memo does not credit every unit of the item")


def _spread_adjustment(ctx: _Ctx, allocs: dict[str, _Alloc], total: Decimal) -> None:
    """Adjustment Refund as Principal: over the credited items by Principal, then over any
    item with Principal left; Reject when it does not fit."""
    credited = list(allocs.values())
    parts, left = split_capped(total, [a.get(P) for a in credited],
                               [_room(a, P) for a in credited], ctx.currency)
    for alloc, part in zip(credited, parts, strict=True):
        if part:
            alloc.add(P, part)
    if left > 0:
        for state in ctx.states.values():
            if state.code not in allocs and state.remaining[P] > 0:
                allocs[state.code] = _Alloc(
                    state, state.item.magento_order_item_id, state.item.seller_sku)
        others = sorted(allocs.values(), key=lambda a: a not in credited)
        rooms = [_room(a, P) for a in others]
        parts, left = split_capped(left, rooms, rooms, ctx.currency)
        for alloc, part in zip(others, parts, strict=True):
            if part:
                alloc.add(P, part)
        for code in [c for c, a in allocs.items() if not a.units and not a.amounts]:
            del allocs[code]
    if left > 0:
        if left <= ctx.unit * max(1, len(allocs)):
            ctx.notes.append(f"Adjustment Refund reduced by {ctx.fmt(left)} to what Amazon "
                             "still has to refund (rounding difference)")
            ctx.gap("Adjustment Refund reduced to what Amazon still has to refund", left)
            return
        available = sum((s.remaining[P] for s in ctx.states.values()), ZERO)
        raise _Rejected(
            f"Adjustment Refund of {ctx.fmt(total)} exceeds what remains refundable on Amazon "
            f"order {ctx.order.amazon_order_id} as Principal by {ctx.fmt(left)} (after this "
            f"credit memo's other amounts, {ctx.fmt(available)} remains)"
        )


def _floor(ctx: _Ctx, amount: Decimal) -> Decimal:
    return amount.quantize(ctx.unit, rounding=ROUND_FLOOR)


def _restocking_fee(ctx: _Ctx, allocs: dict[str, _Alloc], fee: Decimal) -> None:
    """Adjustment Fee as a negative RestockingFee (optional rule 9), charged only on returned
    (shipped) units: never on units cancelled before shipping."""
    returned = [a for a in allocs.values() if a.returned_units > 0]
    caps = [
        _floor(ctx, sum((v for c, v in a.amounts.items() if c != RF), ZERO)
               * a.returned_units / a.units)
        for a in returned
    ]
    room = sum(caps, ZERO)
    if not returned or room < fee:
        raise _Rejected(
            f"Adjustment Fee {ctx.fmt(fee)} cannot be sent as a RestockingFee: it is more than "
            f"the {ctx.fmt(room)} this credit memo refunds for returned (shipped) units; a "
            "restocking fee is never charged on units that were not shipped"
        )
    weights = [a.get(P) * a.returned_units / a.units for a in returned]
    parts, left = split_capped(fee, weights if any(weights) else caps, caps, ctx.currency)
    if left > 0:
        rest = [c - p for c, p in zip(caps, parts, strict=True)]
        more, left = split_capped(left, rest, rest, ctx.currency)
        parts = [a + b for a, b in zip(parts, more, strict=True)]
    for alloc, part in zip(returned, parts, strict=True):
        if part:
            alloc.add(RF, -part)
    ctx.notes.append(f"Adjustment Fee {ctx.fmt(fee)} kept as RestockingFee on returned units")


def _whole_order_refund(ctx: _Ctx, memo_ids: dict[str, int]) -> Refund:
    """Rule 9: an Adjustment Fee means no partial refund; refund everything that remains."""
    allocs: list[_Alloc] = []
    components = (P, S, GW) if ctx.vat_exclusive else (P, T, S, ST, GW, GWT)
    for code, state in ctx.states.items():
        alloc = _Alloc(state, memo_ids.get(code, state.item.magento_order_item_id),
                       state.item.seller_sku, units=state.remaining_units)
        for component in components:
            if state.remaining[component] > 0:
                alloc.add(component, state.remaining[component])
        if alloc.units > 0 or alloc.amounts:
            allocs.append(alloc)
    if not allocs:
        raise _Rejected(f"Amazon order {ctx.order.amazon_order_id} has nothing left to refund")
    ctx.notes.append(
        f"the credit memo has an Adjustment Fee of {ctx.fmt(ctx.memo.adjustment_negative)}; "
        "with a fee no partial refund is issued, so the whole order is refunded: every "
        "remaining unit and amount (rule 9)"
    )
    return _refund(ctx, allocs, residual="rule 9: with an Adjustment Fee the whole order is "
                                         "refunded, not the credit memo's amounts")


# ------------------------------------------------------------------ lines


def _refund(ctx: _Ctx, allocs: Iterable[_Alloc], residual: str | None = None) -> Refund:
    lines: list[RefundLine] = []
    for alloc in allocs:
        lines.extend(_lines(ctx, alloc))
    _check_decimals(ctx, lines)
    lines = [_amazon_amounts(ctx, line) for line in lines]
    refund = Refund(ctx.order.amazon_order_id, ctx.currency, tuple(lines))
    if ctx.vat_exclusive and lines:
        ctx.notes.append(
            f"{VAT_NOT_SENT}: the buyer gets back about {ctx.fmt(_buyer_gross(ctx, lines))}"
        )
    _explain(ctx, refund.total, residual)
    return replace(refund, note="; ".join(ctx.notes))


def _buyer_gross(ctx: _Ctx, lines: Iterable[RefundLine]) -> Decimal:
    """What the buyer gets back once Amazon added VAT at each item's original rate."""
    total = ZERO
    for line in lines:
        state = ctx.states[line.order_item_id]
        for component, amount in line.components:
            rate = state.rate(component) if component in TAX_OF else ZERO
            total += ctx.q(amount * (1 + rate))
    return total


def _explain(ctx: _Ctx, sent: Decimal, residual: str | None = None) -> None:
    """Rule: whenever what Amazon refunds differs from the credit memo's grand total, the
    note says by how much (exactly) and why."""
    grand = ctx.memo.grand_total
    diff = grand - sent
    if diff == 0:
        return
    rest = diff - sum((amount for _, amount in ctx.gaps), ZERO)
    if rest:
        if residual is None:
            residual = (
                "rounding to the currency's minor unit" if abs(rest) * 2 < ctx.unit * 3
                else "amounts of the credit memo's grand total that its lines do not itemise "
                "(for example the tax part of a tax-inclusive discount, Magento's "
                "discount_tax_compensation_amount)"
            )
        ctx.gaps.append((residual, rest))
    cur = ctx.currency
    merged: dict[str, Decimal] = {}
    for why, amount in ctx.gaps:  # one entry per reason, in order
        merged[why] = merged.get(why, ZERO) + amount
    reasons = "; ".join(
        f"{_exact(abs(amount), cur)} {'not sent' if amount > 0 else 'added'}: {why}"
        for why, amount in merged.items() if amount
    )
    ctx.notes.append(
        f"Amazon refunds {_exact(sent, cur)}, {_exact(abs(diff), cur)} "
        f"{'less' if diff > 0 else 'more'} than the credit memo's grand total "
        f"{_exact(grand, cur)}: {reasons}"
    )


def _lines(ctx: _Ctx, alloc: _Alloc) -> list[RefundLine]:
    state = alloc.state
    cancelled, returned = alloc.cancelled_units, alloc.returned_units
    base = _merchant_id(ctx, alloc)
    # never NoInventory for units the buyer asked to cancel (seller cancellation rate)
    cancel_reason = (AdjustmentReason.CUSTOMER_CANCEL if state.buyer_requested
                     else AdjustmentReason.NO_INVENTORY)
    if alloc.units == 0:
        kinds = [(AdjustmentReason.GENERAL_ADJUSTMENT, 0, 0, base, 1)]
    else:
        kinds = []
        if cancelled:
            kinds.append((cancel_reason, 0, cancelled, base + "-c", cancelled))
        if returned:
            kinds.append((AdjustmentReason.CUSTOMER_RETURN, returned, 0, base, returned))
    weights = [Decimal(k[4]) for k in kinds]
    # a restocking fee only on the returned units' line (the last one)
    fee_weights = [Decimal(int(k[0] == AdjustmentReason.CUSTOMER_RETURN)) for k in kinds]
    per_line: list[list[tuple[Component, Decimal]]] = [[] for _ in kinds]
    for component in COMPONENT_ORDER:
        amount = alloc.get(component)
        sign = -1 if amount < 0 else 1
        use = fee_weights if component == RF and any(fee_weights) else weights
        for index, part in enumerate(split(abs(amount), use, ctx.currency)):
            if part or component == P:
                per_line[index].append((component, sign * part))
    return [
        RefundLine(state.code, mid, reason, qty, qty_cancelled, tuple(components))
        for (reason, qty, qty_cancelled, mid, _), components in zip(kinds, per_line, strict=True)
    ]


def _merchant_id(ctx: _Ctx, alloc: _Alloc) -> str:
    magento_id = alloc.magento_item_id
    suffix = str(magento_id) if magento_id is not None else alloc.state.code
    candidate = f"CM{ctx.memo.increment_id}-{suffix}"
    if len(candidate) + 2 <= MERCHANT_ADJUSTMENT_ITEM_ID_MAX:
        return candidate
    candidate = f"CM{ctx.memo.entity_id}-{suffix}"
    return candidate[: MERCHANT_ADJUSTMENT_ITEM_ID_MAX - 2]


def _check_decimals(ctx: _Ctx, lines: list[RefundLine]) -> None:
    """Amazon accepts at most 2 decimals: a 3-decimal currency must not need the third."""
    if minor_units(ctx.currency) <= AMAZON_MAX_DECIMALS:
        return
    step = Decimal(1).scaleb(-AMAZON_MAX_DECIMALS)
    for line in lines:
        for component, amount in line.components:
            if amount != amount.quantize(step):
                raise _Rejected(
                    f"{component.value} {amount} {ctx.currency} of Amazon item "
                    f"{line.order_item_id} needs {minor_units(ctx.currency)} decimals; "
                    f"Amazon accepts at most {AMAZON_MAX_DECIMALS}. Nothing was rounded or "
                    "sent: refund this amount on Amazon by hand"
                )


def _amazon_amounts(ctx: _Ctx, line: RefundLine) -> RefundLine:
    if minor_units(ctx.currency) <= AMAZON_MAX_DECIMALS:
        return line
    step = Decimal(1).scaleb(-AMAZON_MAX_DECIMALS)
    return replace(line, components=tuple((c, a.quantize(step)) for c, a in line.components))
