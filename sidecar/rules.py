"""The refund rules (docs/rules.md): credit memo + Amazon order state -> one Decision.

Pure: no I/O, no clock (``now`` is passed in), no float. Every money component is quantized
exactly once, at the currency's minor unit with ROUND_HALF_UP, and split with
largest-remainder so that parts always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

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
    TaxConvention,
    Wait,
)
from sidecar.money import (
    AMAZON_MAX_DECIMALS,
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

P, T, S, ST, RF = (
    Component.PRINCIPAL,
    Component.TAX,
    Component.SHIPPING,
    Component.SHIPPING_TAX,
    Component.RESTOCKING_FEE,
)
COMPONENT_ORDER = (P, T, S, ST, RF)
ZERO = Decimal(0)


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
    if ledger.order_canceled_by_us:
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
    return _Planner(memo, order, settings, ledger).decide()


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
class _MemoLine:
    """One credited Amazon item, built from one or more Magento credit memo lines."""

    amazon: AmazonOrderItem
    magento_item_id: int
    sku: str
    qty: int
    principal: Decimal  # memo amount in the refund convention, quantized
    tax: Decimal  # 0 under GROSS
    magento_shipped: int = 0  # units Magento shows shipped for this order item


@dataclass
class _ItemState:
    """What Amazon charged for one item and what still remains refundable."""

    item: AmazonOrderItem
    remaining_units: int
    unshipped_units: int
    charged: dict[Component, Decimal]  # raw (unquantized) totals for quantity_ordered
    remaining: dict[Component, Decimal]  # quantized, >= 0

    @property
    def code(self) -> str:
        return self.item.order_item_id

    def share(self, component: Component, units: int) -> Decimal:
        """What ``units`` units may take of ``component``: their pro-rata share of the charge."""
        remaining = self.remaining[component]
        if units >= self.remaining_units or self.item.quantity_ordered <= 0:
            return remaining
        part = self.charged[component] * units / self.item.quantity_ordered
        return min(remaining, max(ZERO, part))


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


def _fmt(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


# ------------------------------------------------------------------- the planner


class _Planner:
    def __init__(
        self,
        memo: CreditMemo,
        order: AmazonOrderState,
        settings: AccountSettings,
        ledger: RefundLedger,
    ) -> None:
        self.memo = memo
        self.order = order
        self.settings = settings
        self.ledger = ledger
        self.currency = order.currency
        self.unit = minor_unit(self.currency)
        self.gross = settings.tax_convention == TaxConvention.GROSS
        inclusive = order.prices_include_tax
        self.prices_include_tax = self.gross if inclusive is None else inclusive
        self.notes: list[str] = []
        self.states = {i.order_item_id: self._state(i) for i in order.items}

    # ---- Amazon side

    def _state(self, item: AmazonOrderItem) -> _ItemState:
        ledger = self.ledger
        code = item.order_item_id
        # Amazon's quantity_canceled already counts the units we cancelled once it has
        # processed our message; the ledger also counts those still in flight. The larger
        # of the two is what is cancelled, never their sum.
        ours_cancelled = ledger.units_cancelled(code)
        cancelled = max(item.quantity_canceled, ours_cancelled)
        returned = ledger.units(code) - ours_cancelled
        remaining_units = max(0, item.quantity_ordered - cancelled - returned)
        unshipped = max(0, item.quantity_ordered - item.quantity_shipped - cancelled)
        unshipped = min(unshipped, remaining_units)
        item_tax = item.item_tax - item.promotion_discount_tax
        item_net = item.item_price - item.promotion_discount
        ship_tax = item.shipping_tax - item.shipping_discount_tax
        ship_net = item.shipping_price - item.shipping_discount
        if self.prices_include_tax:
            item_net -= item_tax
            ship_net -= ship_tax
        charged: dict[Component, Decimal]
        refunded: dict[Component, Decimal]
        if self.gross:
            charged = {P: item_net + item_tax, T: ZERO, S: ship_net + ship_tax, ST: ZERO}
            refunded = {
                P: ledger.refunded(code, P) + ledger.refunded(code, T),
                T: ZERO,
                S: ledger.refunded(code, S) + ledger.refunded(code, ST),
                ST: ZERO,
            }
        else:
            charged = {P: item_net, T: item_tax, S: ship_net, ST: ship_tax}
            refunded = {c: ledger.refunded(code, c) for c in (P, T, S, ST)}
        # Amazon's charges are totals for quantity_ordered. Units Amazon cancelled without us
        # (not in the ledger) were refunded by Amazon: their share of every charge is gone.
        outside = max(0, item.quantity_canceled - ours_cancelled)
        ordered = item.quantity_ordered
        if outside and ordered > 0:
            live = max(0, ordered - outside)
            charged_live = {c: a * live / ordered for c, a in charged.items()}
        else:
            charged_live = charged
        remaining = {
            c: max(ZERO, quantize(max(ZERO, charged_live[c]), self.currency) - refunded[c])
            for c in charged
        }
        return _ItemState(item, remaining_units, unshipped, charged, remaining)

    # ---- decision

    def decide(self) -> Decision:
        memo = self.memo
        lines = self._memo_lines()
        by_code = {line.amazon.order_item_id: line for line in lines}
        for line in lines:
            state = self.states[line.amazon.order_item_id]
            if line.magento_shipped > state.item.quantity_shipped:
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
        open_items = [s for s in self.states.values() if s.remaining_units > 0]
        covers_all = bool(open_items) and all(
            s.code in by_code and by_code[s.code].qty == s.remaining_units for s in open_items
        )
        fee = memo.adjustment_negative
        whole_order = fee > 0 and not self.settings.adjustment_fee_as_restocking_fee
        status = self.order.status

        keep_fee = fee > 0 and self.settings.adjustment_fee_as_restocking_fee
        if status == AmazonOrderStatus.UNSHIPPED and (covers_all or whole_order) and not keep_fee:
            cancel = self._cancel(whole_order and not covers_all)
            if cancel is not None:
                return cancel
        if whole_order:
            return self._whole_order_refund()
        buyer = self.order.buyer_cancel_requested
        if status == AmazonOrderStatus.UNSHIPPED and buyer and not covers_all:
            self.notes.append(
                "the buyer asked Amazon to cancel this order, but this credit memo does not "
                "credit every remaining unit, so the order is not cancelled (rule 6): never-"
                "shipped units are cancelled item by item with reason NoInventory; credit the "
                "remaining units to complete the cancellation"
            )
        return self._memo_refund(lines)

    def _cancel(self, because_of_fee: bool) -> Cancel | None:
        """Whole-order cancel of an Unshipped order, or None when it must be a refund."""
        order = self.order
        clean = (
            not self.ledger.entries
            and not self.ledger.order_canceled_by_us
            and all(i.quantity_canceled == 0 and i.quantity_shipped == 0 for i in order.items)
        )
        if not clean:
            self.notes.append(
                "the order already has refunds or cancellations, so the remaining units are "
                "cancelled by refund lines (QuantityCancelled) instead of cancelling the order"
            )
            return None
        if order.buyer_cancel_requested:
            reason = CancelReason.BUYER_CANCELED
            why = "the buyer requested cancellation and the credit memo covers every unit"
        else:
            reason = CancelReason.NO_INVENTORY
            why = "the credit memo covers every unit of the unshipped order"
        if because_of_fee:
            why = (
                f"the credit memo has an Adjustment Fee of "
                f"{_fmt(self.memo.adjustment_negative, self.currency)}; with a fee no partial "
                "refund is issued, so the whole unshipped order is cancelled (rule 9)"
            )
        items = tuple(
            CancelItem(s.code, reason, s.remaining_units)
            for s in self.states.values()
            if s.remaining_units > 0
        )
        note = (
            f"cancel Amazon order {order.amazon_order_id} ({reason.value}): {why}; Amazon "
            "refunds the buyer what it charged (credit memo total "
            f"{_fmt(self.memo.grand_total, self.currency)})"
        )
        return Cancel(order.amazon_order_id, self.memo.order.increment_id, items, note)

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
                    prev.principal += line.principal
                    prev.tax += line.tax
                    prev.magento_shipped += line.magento_shipped
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
            return [self._line(amazon, member.order_item_id, member.sku, qty, group)]
        lines = []
        for member, maybe in matches:
            if maybe is None:
                if self._money(member) != (ZERO, ZERO):
                    raise _Rejected(
                        f"SKU {member.sku} (Magento order item {member.order_item_id}) has no "
                        f"matching item on Amazon order {self.order.amazon_order_id}"
                    )
                continue  # a container line without money (bundle parent)
            lines.append(self._line(maybe, member.order_item_id, member.sku, member.qty, [member]))
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
        """(principal, tax) of a Magento line in the refund convention, unquantized.

        Magento's row_total is net of tax; its discount_amount (a positive number on the item)
        is what the promotion took off, so it reduces the Principal.
        """
        net = item.row_total - abs(item.discount_amount)
        if self.gross:
            return net + item.tax_amount, ZERO
        return net, item.tax_amount

    def _line(
        self,
        amazon: AmazonOrderItem,
        magento_item_id: int,
        sku: str,
        qty: Decimal,
        members: Sequence[CreditMemoItem],
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
            amazon,
            magento_item_id,
            sku,
            int(qty),
            quantize(principal, self.currency),
            quantize(tax, self.currency),
            int(max((m.qty_shipped for m in members), default=ZERO)),
        )

    # ---- refunds

    def _line_count(self, state: _ItemState, units: int) -> int:
        cancelled = min(units, state.unshipped_units)
        return max(1, int(cancelled > 0) + int(units - cancelled > 0))

    def _memo_refund(self, lines: list[_MemoLine]) -> Refund:
        allocs: dict[str, _Alloc] = {}
        for line in lines:
            state = self.states[line.amazon.order_item_id]
            alloc = _Alloc(state, line.magento_item_id, line.sku, units=line.qty)
            tolerance = self.unit * self._line_count(state, line.qty)
            for component, amount in ((P, line.principal), (T, line.tax)):
                cap = quantize(state.share(component, line.qty), self.currency)
                if amount > cap:
                    excess = amount - cap
                    if excess > tolerance:
                        raise _Rejected(
                            f"{component.value} of SKU {line.sku} (Amazon item {state.code}) is "
                            f"{_fmt(amount, self.currency)} but only {_fmt(cap, self.currency)} "
                            f"remains refundable for {line.qty} unit(s); it exceeds by "
                            f"{_fmt(excess, self.currency)}"
                        )
                    self.notes.append(
                        f"{component.value} of SKU {line.sku} capped from "
                        f"{_fmt(amount, self.currency)} to {_fmt(cap, self.currency)} "
                        "(rounding difference)"
                    )
                    amount = cap
                alloc.add(component, amount)
            allocs[state.code] = alloc

        memo = self.memo
        shipping_net, shipping_tax = self._memo_shipping(lines)
        if self.gross:
            self._spread(allocs, S, shipping_net + shipping_tax, "Shipping")
        else:
            self._spread(allocs, S, shipping_net, "Shipping")
            self._spread(allocs, ST, shipping_tax, "ShippingTax")
        if memo.adjustment_positive > 0:
            # Adjustment Refund: a goodwill amount sent as extra Principal, spread pro rata.
            self._spread(
                allocs, P, quantize(memo.adjustment_positive, self.currency), "Adjustment Refund"
            )
            self.notes.append(
                f"Adjustment Refund {_fmt(memo.adjustment_positive, self.currency)} sent as "
                "additional Principal"
            )
        if memo.adjustment_negative > 0:
            self._restocking_fee(allocs, quantize(memo.adjustment_negative, self.currency))
        return self._refund(allocs.values())

    def _memo_shipping(self, lines: list[_MemoLine]) -> tuple[Decimal, Decimal]:
        """The credit memo's shipping (net, tax), less any discount Magento put on shipping.

        Under GROSS the first value is shipping plus shipping tax and the second is zero.
        """
        memo = self.memo
        cur = self.currency
        if self.gross:
            # one Shipping component: add exactly, then quantize once (like Principal)
            net = quantize(memo.shipping_amount + memo.shipping_tax_amount, cur)
            tax = ZERO
        else:
            net = quantize(memo.shipping_amount, cur)
            tax = quantize(memo.shipping_tax_amount, cur)
        item_discounts = sum(
            (quantize(abs(i.discount_amount), cur) for i in memo.items if i.qty > 0), ZERO
        )
        shipping_discount = quantize(abs(memo.discount_amount), cur) - item_discounts
        # per-line rounding of item discounts may leave a minor unit per discounted line
        rounding = self.unit * sum(1 for i in memo.items if i.qty > 0 and i.discount_amount)
        if shipping_discount > 0 and (net > 0 or shipping_discount > rounding):
            if shipping_discount > net:
                raise _Rejected(
                    f"credit memo {memo.increment_id}: its discount "
                    f"{_fmt(abs(memo.discount_amount), cur)} is larger than item discounts plus "
                    "shipping; cannot tell what to refund"
                )
            net -= shipping_discount
            self.notes.append(
                f"shipping reduced by the shipping discount {_fmt(shipping_discount, cur)}"
            )
        return net, tax

    def _spread(
        self, allocs: dict[str, _Alloc], component: Component, total: Decimal, label: str
    ) -> None:
        """Spread ``total`` over the refunded items (by principal), then over other items.

        Never above what Amazon still has for ``component`` per item. What cannot fit is
        dropped when within one minor unit per item involved, else the memo is rejected.
        """
        if total <= 0:
            return
        cur = self.currency

        def room(state: _ItemState, code: str) -> Decimal:
            used = allocs[code].get(component) if code in allocs else ZERO
            return max(ZERO, state.remaining[component] - used)

        refunded = list(allocs.values())
        parts, left = split_capped(
            total,
            [a.get(P) for a in refunded],
            [room(a.state, a.state.code) for a in refunded],
            cur,
        )
        for alloc, part in zip(refunded, parts, strict=True):
            if part:
                alloc.add(component, part)
        involved = sum(1 for a in refunded if a.get(P) > 0)
        if left > 0:
            # what does not fit: any item with room left, the memo's items first, by room
            others = [s for c, s in self.states.items() if room(s, c) > 0]
            others.sort(key=lambda s: s.code not in allocs)
            rooms = [room(s, s.code) for s in others]
            parts, left = split_capped(left, rooms, rooms, cur)
            for state, part in zip(others, parts, strict=True):
                if part:
                    alloc = allocs.setdefault(
                        state.code,
                        _Alloc(state, state.item.magento_order_item_id, state.item.seller_sku),
                    )
                    alloc.add(component, part)
                    involved += 1
        if left > 0:
            if left <= self.unit * max(1, involved):
                self.notes.append(
                    f"{label} reduced by {_fmt(left, cur)} to what Amazon still has to refund "
                    "(rounding difference)"
                )
                return
            available = sum((room(s, c) for c, s in self.states.items()), ZERO)
            raise _Rejected(
                f"{label} of {_fmt(total, cur)} exceeds what remains refundable on Amazon order "
                f"{self.order.amazon_order_id} as {component.value} by {_fmt(left, cur)} "
                f"(after this credit memo's other amounts, {_fmt(available, cur)} remains)"
            )

    def _restocking_fee(self, allocs: dict[str, _Alloc], fee: Decimal) -> None:
        """Adjustment Fee as a negative RestockingFee, spread like shipping (optional rule 9)."""
        cur = self.currency
        refunded = [a for a in allocs.values() if a.units > 0]
        caps = [sum(a.amounts.values(), ZERO) for a in refunded]
        if not refunded or sum(caps, ZERO) < fee:
            raise _Rejected(
                f"Adjustment Fee {_fmt(fee, cur)} cannot be sent as a RestockingFee: it is more "
                f"than the {_fmt(sum(caps, ZERO), cur)} this credit memo refunds for returned "
                "units"
            )
        parts, left = split_capped(fee, [a.get(P) for a in refunded], caps, cur)
        if left > 0:
            parts2, left = split_capped(left, caps, caps, cur)
            parts = [a + b for a, b in zip(parts, parts2, strict=True)]
        for alloc, part in zip(refunded, parts, strict=True):
            if part:
                alloc.add(RF, -part)
        self.notes.append(f"Adjustment Fee {_fmt(fee, cur)} kept as RestockingFee")

    def _whole_order_refund(self) -> Refund:
        """Rule 9: an Adjustment Fee means no partial refund; refund everything that remains."""
        memo_ids: dict[str, int] = {}
        for item in self.memo.items:
            match: AmazonOrderItem | None = None
            try:
                match = self._match(item)
            except _Rejected:
                match = None
            if match is not None:
                memo_ids.setdefault(match.order_item_id, item.order_item_id)
        allocs: list[_Alloc] = []
        for code, state in self.states.items():
            alloc = _Alloc(
                state,
                memo_ids.get(code, state.item.magento_order_item_id),
                state.item.seller_sku,
                units=state.remaining_units,
            )
            for component in (P, T, S, ST):
                if state.remaining[component] > 0:
                    alloc.add(component, state.remaining[component])
            if alloc.units > 0 or alloc.amounts:
                allocs.append(alloc)
        if not allocs:
            raise _Rejected(f"Amazon order {self.order.amazon_order_id} has nothing left to refund")
        self.notes.append(
            f"the credit memo has an Adjustment Fee of "
            f"{_fmt(self.memo.adjustment_negative, self.currency)}; with a fee no partial refund "
            "is issued, so the whole order is refunded: every remaining unit and amount (rule 9)"
        )
        return self._refund(allocs)

    # ---- lines

    def _refund(self, allocs: Iterable[_Alloc]) -> Refund:
        lines: list[RefundLine] = []
        for alloc in allocs:
            lines.extend(self._lines(alloc))
        self._check_decimals(lines)
        lines = [self._amazon_amounts(line) for line in lines]
        return Refund(
            self.order.amazon_order_id, self.currency, tuple(lines), "; ".join(self.notes)
        )

    def _lines(self, alloc: _Alloc) -> list[RefundLine]:
        state = alloc.state
        cancelled = min(alloc.units, state.unshipped_units)
        returned = alloc.units - cancelled
        base = self._merchant_id(alloc)
        if alloc.units == 0:
            kinds = [(AdjustmentReason.GENERAL_ADJUSTMENT, 0, 0, base, 1)]
        else:
            kinds = []
            if cancelled:
                kinds.append((AdjustmentReason.NO_INVENTORY, 0, cancelled, base + "-c", cancelled))
            if returned:
                kinds.append((AdjustmentReason.CUSTOMER_RETURN, returned, 0, base, returned))
        weights = [Decimal(k[4]) for k in kinds]
        per_line: list[list[tuple[Component, Decimal]]] = [[] for _ in kinds]
        for component in COMPONENT_ORDER:
            amount = alloc.get(component)
            sign = -1 if amount < 0 else 1
            for index, part in enumerate(split(abs(amount), weights, self.currency)):
                if part or component == P:
                    per_line[index].append((component, sign * part))
        return [
            RefundLine(state.code, mid, reason, qty, qty_cancelled, tuple(components))
            for (reason, qty, qty_cancelled, mid, _), components in zip(
                kinds, per_line, strict=True
            )
        ]

    def _merchant_id(self, alloc: _Alloc) -> str:
        magento_id = alloc.magento_item_id
        suffix = str(magento_id) if magento_id is not None else alloc.state.code
        candidate = f"CM{self.memo.increment_id}-{suffix}"
        if len(candidate) + 2 <= MERCHANT_ADJUSTMENT_ITEM_ID_MAX:
            return candidate
        candidate = f"CM{self.memo.entity_id}-{suffix}"
        return candidate[: MERCHANT_ADJUSTMENT_ITEM_ID_MAX - 2]

    def _check_decimals(self, lines: list[RefundLine]) -> None:
        """Amazon accepts at most 2 decimals: a 3-decimal currency must not need the third."""
        if minor_units(self.currency) <= AMAZON_MAX_DECIMALS:
            return
        step = Decimal(1).scaleb(-AMAZON_MAX_DECIMALS)
        for line in lines:
            for component, amount in line.components:
                if amount != amount.quantize(step):
                    raise _Rejected(
                        f"{component.value} {amount} {self.currency} of Amazon item "
                        f"{line.order_item_id} needs {minor_units(self.currency)} decimals; "
                        f"Amazon accepts at most {AMAZON_MAX_DECIMALS}. Nothing was rounded or "
                        "sent: refund this amount on Amazon by hand"
                    )

    def _amazon_amounts(self, line: RefundLine) -> RefundLine:
        if minor_units(self.currency) <= AMAZON_MAX_DECIMALS:
            return line
        step = Decimal(1).scaleb(-AMAZON_MAX_DECIMALS)
        components = tuple((c, a.quantize(step)) for c, a in line.components)
        return RefundLine(
            line.order_item_id,
            line.merchant_adjustment_item_id,
            line.reason,
            line.quantity,
            line.quantity_cancelled,
            components,
        )
