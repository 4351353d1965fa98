"""What the worker does with one claimed outbox row: the imperative shell around rules.decide.

Credit memo: read (or refresh) Amazon's order, decide, and in ONE transaction fenced by the
row's lease: the outbox status, the feed message, the ledger and the Magento comment/status.
The Amazon call itself happens later, in feeds.py, never inside a DB transaction.

Shipment: confirm it to Amazon (confirmShipment is idempotent by packageReferenceId, so a
retry after a timeout edits rather than duplicates), then mark the order state stale so
the next credit memo re-reads the shipped quantities.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from sidecar import codec
from sidecar.amazon.client import SpApiClient, SpApiError
from sidecar.amazon.feed_xml import (
    FEED_TYPE_ACKNOWLEDGEMENT,
    FEED_TYPE_ADJUSTMENT,
    MESSAGE_TYPE_ACKNOWLEDGEMENT,
    MESSAGE_TYPE_ADJUSTMENT,
    FeedBuilder,
    FeedError,
)
from sidecar.amazon.orders import order_state_from_api
from sidecar.amazon.ratelimit import RateLimiter
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config
from sidecar.dao import amazon_orders, feeds, magento
from sidecar.dao import outbox as outbox_dao
from sidecar.domain import (
    AmazonOrderState,
    Cancel,
    CreditMemo,
    FulfillmentChannel,
    Refund,
    Reject,
    Shipment,
    Skip,
    Wait,
)
from sidecar.orders_sync import AwaitingSync, proof_for
from sidecar.outbox_runner import Dead, Defer, Handled, Outcome
from sidecar.rules import AMAZON_ORDER_ID, decide
from sidecar.snapshot import SnapshotError, parse_event

log = logging.getLogger(__name__)

# Magento carrier codes -> Amazon's carrierCode values
CARRIERS = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL", "dhlint": "DHL"}
AMAZON_ITEM_CODE = re.compile(r"[0-9]{14}")


@dataclass
class Context:
    engine: Engine
    config: Config
    client_for: Callable[[AmazonAccount], SpApiClient]
    limiter: RateLimiter | None = None  # peeked before createFeed, so feeds batch while waiting
    now: Callable[[], datetime] = utcnow
    # a credit memo whose order has an unconfirmed earlier shipment waits this long
    ordering_delay: timedelta = timedelta(seconds=30)


MIN_DEFER = timedelta(seconds=5)


def item_links(memo: CreditMemo) -> dict[str, int]:
    """Amazon order item id (or SKU) -> Magento order item id, from the snapshot."""
    links = {i.sku: i.order_item_id for i in memo.items}
    links.update({i.ext_order_item_id: i.order_item_id for i in memo.items if i.ext_order_item_id})
    return links


def restock_note(memo: CreditMemo) -> str:
    """Magento's "Return to Stock" is its own stock change; the bridge only reports it."""
    restocked = [f"{i.sku} x{i.qty.normalize():f}" for i in memo.items if i.back_to_stock]
    return f"Returned to stock in Magento: {', '.join(restocked)}." if restocked else ""


class EventHandler:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, row: outbox_dao.OutboxRow) -> Outcome:
        try:
            event = parse_event(row.payload)
        except SnapshotError as exc:
            return Dead(f"invalid snapshot payload: {exc}")
        if isinstance(event, CreditMemo):
            return self.creditmemo(row, event)
        return self.shipment(row, event)

    # ------------------------------------------------------------ credit memos

    def creditmemo(self, row: outbox_dao.OutboxRow, memo: CreditMemo) -> Outcome:
        ctx = self.ctx
        account = ctx.config.account_for_store(memo.order.store_id)
        amazon_id = memo.order.ext_order_id or ""
        if account and AMAZON_ORDER_ID.fullmatch(amazon_id):
            earlier = self._unconfirmed_shipments_before(row)
            if earlier:
                return Defer(
                    ctx.now() + ctx.ordering_delay,
                    f"waiting for shipment(s) {', '.join(map(str, earlier))} of this order to be "
                    "confirmed to Amazon first",
                )
        outcome = self._decide_and_record(row, memo, account)
        if not isinstance(outcome, Wait):
            return outcome
        # the rules want fresher Amazon state: read it outside any transaction, decide again
        assert account is not None
        try:
            refreshed = self.refresh_order(
                account, amazon_id, memo.order.entity_id, item_links(memo), as_of=memo.created_at
            )
        except AwaitingSync as wait:
            return Defer(max(wait.until, ctx.now() + MIN_DEFER), wait.reason)
        if refreshed is None:
            return self._finish(
                row,
                memo.order.entity_id,
                "rejected",
                f"Amazon has no order {amazon_id} for account {account.account_id}; "
                f"credit memo {memo.increment_id} was not sent",
                magento.FAILED,
            )
        again = self._decide_and_record(row, memo, account)
        if isinstance(again, Wait):
            # never spin: a clock skew with Magento must not turn into a getOrder loop
            return Defer(max(again.until, ctx.now() + MIN_DEFER), again.reason)
        return again

    def _decide_and_record(
        self, row: outbox_dao.OutboxRow, memo: CreditMemo, account: AmazonAccount | None
    ) -> Outcome | Wait:
        """Decide under the order's row lock and write everything in one transaction; a Wait
        (the Amazon state must be re-read first) is returned with nothing written."""
        ctx = self.ctx
        amazon_id = memo.order.ext_order_id or ""
        order_id = memo.order.entity_id
        settings = account.settings if account else None
        with ctx.engine.begin() as conn:
            state: AmazonOrderState | None = None
            if account and AMAZON_ORDER_ID.fullmatch(amazon_id):
                amazon_orders.lock_order(conn, amazon_id)
                state = amazon_orders.load_state(conn, amazon_id)
            ledger = amazon_orders.load_ledger(conn, amazon_id)
            decision = decide(memo, state, settings, ledger, ctx.now())
            if isinstance(decision, Wait):
                if decision.refresh_order and account is not None:
                    return decision
                return Defer(max(decision.until, ctx.now() + MIN_DEFER), decision.reason)
            if isinstance(decision, Skip):
                status, message, order_status = "skipped", decision.reason, None
            elif isinstance(decision, Reject):
                status, message = "rejected", f"not sent to Amazon: {decision.reason}"
                order_status = magento.FAILED
            elif (unfit := self._unfit_for_feed(account, decision)) is not None:
                # never queue what no feed can carry: it would stop every feed of its group
                status, order_status = "rejected", magento.FAILED
                message = f"not sent to Amazon: {codec.describe(decision)}: {unfit}"
            else:
                assert account is not None
                status, order_status = "submitted", magento.PENDING
                message = f"queued for Amazon: {codec.describe(decision)}"
                if decision.note:
                    message += f" ({decision.note})"
                self._queue(conn, row, memo, account, decision)
            if note := restock_note(memo):
                message = f"{message.rstrip('. ')}. {note}"
            if not outbox_dao.complete_in(conn, row, status, message):
                conn.rollback()
                return Handled("lease lost; another worker owns the row now")
            if status != "skipped" or self._is_amazon(memo):
                magento.record(
                    conn, order_id, f"credit memo {memo.increment_id}: {message}", order_status
                )
        return Handled(message)

    @staticmethod
    def _unfit_for_feed(account: AmazonAccount | None, decision: Cancel | Refund) -> str | None:
        """Why the decision cannot be a feed message (the builder the feed pump uses)."""
        assert account is not None
        message_type = MESSAGE_TYPE_ADJUSTMENT
        if isinstance(decision, Cancel):
            message_type = MESSAGE_TYPE_ACKNOWLEDGEMENT
        try:
            FeedBuilder(account.seller_id, message_type).try_add(1, decision)
        except FeedError as exc:
            return str(exc)
        return None

    def _queue(
        self,
        conn: Connection,
        row: outbox_dao.OutboxRow,
        memo: CreditMemo,
        account: AmazonAccount,
        decision: Cancel | Refund,
    ) -> None:
        feed_type = (
            FEED_TYPE_ACKNOWLEDGEMENT if isinstance(decision, Cancel) else FEED_TYPE_ADJUSTMENT
        )
        message_pk = feeds.add_message(
            conn,
            outbox_id=row.id,
            account_id=account.account_id,
            marketplace_id=account.marketplace_for_store(memo.order.store_id),
            feed_type=feed_type,
            amazon_order_id=decision.amazon_order_id,
            magento_order_id=memo.order.entity_id,
            decision_json=codec.dump_decision(decision),
        )
        amazon_orders.add_ledger(
            conn,
            decision,
            creditmemo_id=memo.entity_id,
            outbox_id=row.id,
            feed_message_id=message_pk,
        )

    @staticmethod
    def _is_amazon(memo: CreditMemo) -> bool:
        return bool(memo.order.ext_order_id and AMAZON_ORDER_ID.fullmatch(memo.order.ext_order_id))

    def _unconfirmed_shipments_before(self, row: outbox_dao.OutboxRow) -> list[int]:
        with self.ctx.engine.connect() as conn:
            return outbox_dao.open_events_before(
                conn, order_id=row.order_id, event_type="shipment", before_id=row.id
            )

    # ------------------------------------------------------------ Amazon order

    def refresh_order(
        self,
        account: AmazonAccount,
        amazon_id: str,
        magento_order_id: int | None,
        links: Mapping[str, int] | None = None,
        *,
        as_of: datetime | None = None,
    ) -> AmazonOrderState | None:
        """getOrder and store it, linked to the Magento order (and its items, by Amazon order
        item id or SKU, where known). None when Amazon does not know the order.

        ``as_of`` (a credit memo's creation): first the order sync's proof — the stored
        state when a completed pass proves it current as of then (no SP-API call); raises
        AwaitingSync when the next pass is a faster proof than getOrder (docs/order-sync.md)."""
        if as_of is not None:
            proven = proof_for(
                self.ctx.engine, self.ctx.limiter, account, amazon_id, as_of, self.ctx.now()
            )
            if proven is not None:
                if magento_order_id is not None:
                    with self.ctx.engine.begin() as conn:
                        amazon_orders.link_magento_order(conn, amazon_id, magento_order_id)
                return proven
        fetched_at = self.ctx.now()  # before the call: the state is at least this fresh
        try:
            doc = self.ctx.client_for(account).get_order(amazon_id)
        except SpApiError as exc:
            if exc.status == 404:
                return None
            raise
        state = order_state_from_api(doc, account.account_id, fetched_at)
        if links:
            linked = tuple(
                replace(
                    i, magento_order_item_id=links.get(i.order_item_id, links.get(i.seller_sku))
                )
                for i in state.items
            )
            state = replace(state, items=linked)
        with self.ctx.engine.begin() as conn:
            amazon_orders.save_state(
                conn,
                state,
                magento_order_id=magento_order_id,
                raw=json.dumps(doc, default=str, ensure_ascii=False),
            )
        return state

    # --------------------------------------------------------------- shipments

    def shipment(self, row: outbox_dao.OutboxRow, shipment: Shipment) -> Outcome:
        ctx = self.ctx
        account = ctx.config.account_for_store(shipment.order.store_id)
        amazon_id = shipment.order.ext_order_id or ""
        order_id = shipment.order.entity_id
        if account is None or not AMAZON_ORDER_ID.fullmatch(amazon_id):
            return self._finish(
                row,
                order_id,
                "skipped",
                f"shipment {shipment.increment_id}: not an Amazon order",
                None,
                comment=False,
            )
        with ctx.engine.connect() as conn:
            state = amazon_orders.load_state(conn, amazon_id)
        if state is None or not self._maps(shipment, state):
            state = self.refresh_order(account, amazon_id, order_id)
        if state is None:
            return self._finish(
                row,
                order_id,
                "rejected",
                f"shipment {shipment.increment_id}: Amazon has no order {amazon_id}",
                None,
            )
        if state.fulfillment_channel == FulfillmentChannel.AFN:
            return self._finish(
                row,
                order_id,
                "skipped",
                f"shipment {shipment.increment_id}: {amazon_id} is fulfilled by "
                "Amazon (FBA); Amazon confirms its own shipments",
                None,
            )
        items = []
        for item in shipment.items:
            code = self._amazon_item(item.ext_order_item_id, item.sku, state)
            if code is None:
                return self._finish(
                    row,
                    order_id,
                    "rejected",
                    f"shipment {shipment.increment_id}: SKU {item.sku!r} is not on "
                    f"Amazon order {amazon_id}",
                    None,
                )
            items.append({"orderItemId": code, "quantity": int(item.qty)})
        track = shipment.tracks[0] if shipment.tracks else None
        carrier = CARRIERS.get(track.carrier_code.lower(), "Other") if track else "Other"
        package: dict[str, object] = {
            "packageReferenceId": str(shipment.entity_id),
            "carrierCode": carrier,
            "shipDate": shipment.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "orderItems": items,
        }
        if track:
            package["trackingNumber"] = track.track_number
            package["carrierName"] = track.title or track.carrier_code
            package["shippingMethod"] = track.title or track.carrier_code
        try:
            ctx.client_for(account).confirm_shipment(
                amazon_id, {"marketplaceId": account.marketplace_for_store(shipment.order.store_id),
                 "packageDetail": package}
            )
        except SpApiError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                return self._finish(
                    row,
                    order_id,
                    "rejected",
                    f"shipment {shipment.increment_id}: Amazon refused the shipment "
                    f"confirmation: {exc}",
                    None,
                )
            raise
        units = sum(i["quantity"] for i in items)  # type: ignore[misc]
        message = f"shipment {shipment.increment_id} confirmed to Amazon: {units} unit(s)" + (
            f", {carrier} {track.track_number}" if track else ""
        )
        with ctx.engine.begin() as conn:
            # the next credit memo must re-read the shipped quantities from Amazon
            amazon_orders.mark_stale(conn, amazon_id)
        return self._finish(row, order_id, "done", message, None)

    def _maps(self, shipment: Shipment, state: AmazonOrderState) -> bool:
        return all(self._amazon_item(i.ext_order_item_id, i.sku, state) for i in shipment.items)

    @staticmethod
    def _amazon_item(ext_id: str | None, sku: str, state: AmazonOrderState) -> str | None:
        known = {i.order_item_id for i in state.items}
        if ext_id and AMAZON_ITEM_CODE.fullmatch(ext_id) and ext_id in known:
            return ext_id
        for item in state.items:
            if item.seller_sku == sku:
                return item.order_item_id
        return None

    # ------------------------------------------------------------------ common

    def _finish(
        self,
        row: outbox_dao.OutboxRow,
        order_id: int,
        status: str,
        message: str,
        order_status: str | None,
        *,
        comment: bool = True,
    ) -> Outcome:
        with self.ctx.engine.begin() as conn:
            if not outbox_dao.complete_in(conn, row, status, message):
                conn.rollback()
                return Handled("lease lost; another worker owns the row now")
            if comment:
                magento.record(conn, order_id, message, order_status)
        return Handled(message)
