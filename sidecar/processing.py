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
from sidecar.dao import shipments as shipments_dao
from sidecar.domain import (
    AmazonOrderState,
    Cancel,
    CreditMemo,
    FulfillmentChannel,
    Refund,
    Reject,
    Shipment,
    ShipmentTrack,
    Skip,
    Wait,
)
from sidecar.orders_sync import AwaitingSync, proof_for
from sidecar.outbox_runner import Dead, Defer, Handled, Outcome
from sidecar.recognition import amazon_order_id, creditmemo_skip, shipment_skip
from sidecar.rules import decide
from sidecar.shipments import PackagePlan, plan_package
from sidecar.snapshot import SnapshotError, parse_event

log = logging.getLogger(__name__)

# Magento carrier codes -> Amazon's carrierCode values
CARRIERS = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL", "dhlint": "DHL"}


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


@dataclass(frozen=True)
class NoPackage:
    """A shipment row that ends without a confirmShipment call."""

    status: str  # done | skipped | rejected
    reason: str


def _shipment_account_skip(shipment: Shipment, account: AmazonAccount | None) -> str | None:
    doc = f"shipment {shipment.increment_id}"
    if account is None:
        return (
            f"{doc}: store {shipment.order.store_id} has no Amazon account; not confirmed "
            "to Amazon"
        )
    if not account.settings.confirm_shipments:
        return (
            f"{doc}: confirm_shipments is off for Amazon account {account.account_id}; "
            "not confirmed to Amazon"
        )
    return None


def _package_detail(
    shipment: Shipment, plan: PackagePlan, track: ShipmentTrack
) -> dict[str, object]:
    """confirmShipment's packageDetail; packageReferenceId is the Magento shipment id, so a
    re-send (new track, unknown outcome) edits the same package on Amazon."""
    return {
        "packageReferenceId": str(shipment.entity_id),
        "carrierCode": CARRIERS.get(track.carrier_code.lower(), "Other"),
        "shipDate": shipment.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orderItems": [{"orderItemId": c, "quantity": q} for c, q in plan.items],
        "trackingNumber": track.track_number,
        "carrierName": track.title or track.carrier_code,
        "shippingMethod": track.title or track.carrier_code,
    }


def item_links(memo: CreditMemo | Shipment) -> dict[str, int]:
    """Amazon order item id (or SKU) -> Magento order item id, from the snapshot; the
    module's amazon_order_item_id wins over ext_order_item_id, which wins over the SKU."""
    links = {i.sku: i.order_item_id for i in memo.items}
    links.update({i.ext_order_item_id: i.order_item_id for i in memo.items if i.ext_order_item_id})
    links.update(
        {i.amazon_order_item_id: i.order_item_id for i in memo.items if i.amazon_order_item_id}
    )
    return links


def restock_note(memo: CreditMemo) -> str:
    """Magento's "Return to Stock" is its own stock change; the bridge only reports it. When
    the module could not know (Magento's API path returns stock after commit), it says so."""
    if not memo.restock_known or any(i.back_to_stock is None for i in memo.items):
        return (
            "Return to stock: unknown (Magento's API path returns stock after the credit memo "
            "is saved; check the product stock in Magento)."
        )
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
        if (mismatch := self._mismatch(row, event)) is not None:
            return Dead(f"{mismatch}; nothing was sent to Amazon")
        if isinstance(event, CreditMemo):
            return self.creditmemo(row, event)
        return self.shipment(row, event)

    def _mismatch(self, row: outbox_dao.OutboxRow, event: CreditMemo | Shipment) -> str | None:
        """Why the payload cannot be this row's event (poison), or None. A "track" row's
        entity_id is the track's, not the shipment's, so only its order is compared."""
        payload_type = json.loads(row.payload).get("event_type")  # parsed once already
        if payload_type != row.event_type:
            return (
                f"the outbox row is a {row.event_type!r} event but its payload is a "
                f"{payload_type!r} snapshot"
            )
        if event.order.entity_id != row.order_id:
            return (
                f"the payload names Magento order {event.order.entity_id}, the outbox row "
                f"order {row.order_id}"
            )
        if row.event_type in ("creditmemo", "shipment") and event.entity_id != row.entity_id:
            return (
                f"the payload is {row.event_type} {event.entity_id}, the outbox row "
                f"{row.event_type} {row.entity_id}"
            )
        with self.ctx.engine.connect() as conn:
            if not magento.order_exists(conn, row.order_id):
                return f"Magento order {row.order_id} named by the payload does not exist"
        return None

    def _clock_ahead(self, memo: CreditMemo) -> Outcome | None:
        """A credit memo dated after our clock (Magento's host clock runs fast): no Amazon
        read can be fresher than it yet. Within SIDECAR_CLOCK_SKEW_SECONDS: wait until our
        clock has passed it, counting the attempt; beyond: dead, with what to check."""
        ahead = (memo.created_at - self.ctx.now()).total_seconds()
        if ahead <= 0:
            return None
        skew = self.ctx.config.clock_skew_seconds
        when = (
            f"credit memo {memo.increment_id} is dated {memo.created_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"{ahead:.0f}s ahead of this sidecar's clock"
        )
        if ahead > skew:
            return Dead(
                f"{when}, more than the {skew:.0f}s of clock skew allowed "
                "(SIDECAR_CLOCK_SKEW_SECONDS): check the Magento and sidecar hosts' clocks "
                "(NTP), then requeue the row; nothing was sent to Amazon"
            )
        return Defer(
            memo.created_at + timedelta(seconds=1),
            f"{when} (within the {skew:.0f}s allowed): Amazon's order is read once our clock "
            "has passed it",
            counted=True,
        )

    # ------------------------------------------------------------ credit memos

    def creditmemo(self, row: outbox_dao.OutboxRow, memo: CreditMemo) -> Outcome:
        ctx = self.ctx
        if (reason := creditmemo_skip(memo)) is not None:
            # the module wrote the row, so the order looks like Amazon's: always say why
            return self._finish(row, memo.order.entity_id, "skipped", reason, None)
        account = ctx.config.account_for_store(memo.order.store_id)
        amazon_id = amazon_order_id(memo.order) or ""
        if account and amazon_id:
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
        if (ahead := self._clock_ahead(memo)) is not None:
            return ahead  # a read now could never be fresher than the credit memo
        try:
            refreshed = self.refresh_order(
                account, amazon_id, memo.order.entity_id, item_links(memo), as_of=memo.created_at
            )
        except AwaitingSync as wait:
            return Defer(max(wait.until, self.ctx.now() + MIN_DEFER), wait.reason)
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
            return self._clock_ahead(memo) or Defer(
                max(again.until, ctx.now() + MIN_DEFER), again.reason, counted=True
            )
        return again

    def _decide_and_record(
        self, row: outbox_dao.OutboxRow, memo: CreditMemo, account: AmazonAccount | None
    ) -> Outcome | Wait:
        """Decide under the order's row lock and write everything in one transaction; a Wait
        (the Amazon state must be re-read first) is returned with nothing written."""
        ctx = self.ctx
        amazon_id = amazon_order_id(memo.order) or ""
        order_id = memo.order.entity_id
        settings = account.settings if account else None
        with ctx.engine.begin() as conn:
            state: AmazonOrderState | None = None
            if account and amazon_id:
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
            # every outcome is commented: the module wrote the row for an Amazon-looking order
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
            now=self.ctx.now(),
        )
        amazon_orders.add_ledger(
            conn,
            decision,
            creditmemo_id=memo.entity_id,
            outbox_id=row.id,
            feed_message_id=message_pk,
        )

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
        """Confirm a shipment (or, event "track", re-send its package with a new tracking
        number) to Amazon: only units Amazon still shows open; see sidecar/shipments.py."""
        ctx = self.ctx
        order_id = shipment.order.entity_id
        doc = f"shipment {shipment.increment_id}"
        account = ctx.config.account_for_store(shipment.order.store_id)
        reason = shipment_skip(shipment) or _shipment_account_skip(shipment, account)
        if reason is not None:
            return self._finish(row, order_id, "skipped", reason, None)
        assert account is not None
        amazon_id = amazon_order_id(shipment.order) or ""
        if shipment.event_type == "track" and (earlier := self._unconfirmed_shipments_before(row)):
            return Defer(
                ctx.now() + ctx.ordering_delay,
                f"waiting for shipment(s) {', '.join(map(str, earlier))} of this order to be "
                "confirmed to Amazon first",
            )
        track = shipment.tracks[-1] if shipment.tracks else None
        if track is None:
            return self._finish(
                row, order_id, "skipped",
                f"{doc}: no tracking number yet; Amazon needs one, so the package is confirmed "
                "when a track is added to the shipment", None,
            )
        # always fresh: units Amazon already shows as shipped are never confirmed again
        state = self.refresh_order(account, amazon_id, order_id, item_links(shipment))
        if state is None:
            return self._finish(
                row, order_id, "rejected", f"{doc}: Amazon has no order {amazon_id}", None
            )
        if state.fulfillment_channel == FulfillmentChannel.AFN:
            return self._finish(
                row, order_id, "skipped",
                f"{doc}: {amazon_id} is fulfilled by Amazon (FBA); Amazon confirms its own "
                "shipments", None,
            )
        plan = self._plan(shipment, state, track)
        if isinstance(plan, NoPackage):
            return self._finish(row, order_id, plan.status, f"{doc}: {plan.reason}", None)
        return self._confirm(row, shipment, account, amazon_id, plan, track)

    def _plan(
        self, shipment: Shipment, state: AmazonOrderState, track: ShipmentTrack
    ) -> PackagePlan | NoPackage:
        """The package to send, or why none is sent. A package confirmed before is re-sent
        with the same units (an edit on Amazon)."""
        with self.ctx.engine.connect() as conn:
            previous = shipments_dao.get(conn, shipment.entity_id)
            cancelled = amazon_orders.cancelled_units(conn, state.amazon_order_id)
        if previous is not None and previous.state == "sending":
            # the first attempt's outcome is unknown: the same package again is an edit at worst
            return PackagePlan(previous.items, ("sent again after an unknown outcome",))
        if previous is not None:
            if previous.tracking_number == track.track_number:
                # a repeated track save, or this row again after a crash: Amazon has it
                return NoPackage(
                    "done" if shipment.event_type == "shipment" else "skipped",
                    f"already confirmed to Amazon with tracking number {track.track_number}; "
                    "nothing to change",
                )
            return PackagePlan(previous.items, ("tracking number updated on Amazon",))
        plan = plan_package(shipment, state, cancelled)
        if plan.unmatched is not None:
            return NoPackage("rejected", plan.unmatched)
        if not plan.items:
            return NoPackage(
                "skipped", "nothing left to confirm on Amazon: " + "; ".join(plan.notes)
            )
        return plan

    def _confirm(
        self,
        row: outbox_dao.OutboxRow,
        shipment: Shipment,
        account: AmazonAccount,
        amazon_id: str,
        plan: PackagePlan,
        track: ShipmentTrack,
    ) -> Outcome:
        order_id = shipment.order.entity_id
        doc = f"shipment {shipment.increment_id}"
        package = _package_detail(shipment, plan, track)

        def record(conn: Connection, tracking_number: str | None, state: str) -> None:
            shipments_dao.save(
                conn,
                shipment_id=shipment.entity_id,
                amazon_order_id=amazon_id,
                account_id=account.account_id,
                package_reference_id=str(shipment.entity_id),
                items=plan.items,
                tracking_number=tracking_number,
                state=state,
            )

        with self.ctx.engine.begin() as conn:
            previous = shipments_dao.get(conn, shipment.entity_id)
            if previous is None or previous.state == "sending":
                # before the call: a retry re-sends this very package, never a new plan
                record(conn, None, "sending")
        try:
            self.ctx.client_for(account).confirm_shipment(
                amazon_id,
                {
                    "marketplaceId": account.marketplace_for_store(shipment.order.store_id),
                    "packageDetail": package,
                },
            )
        except SpApiError as exc:
            if 400 <= exc.status < 500 and exc.status != 429:
                with self.ctx.engine.begin() as conn:
                    shipments_dao.forget_unsent(conn, shipment.entity_id)
                return self._shipment_refused(row, order_id, doc, exc)
            raise
        with self.ctx.engine.begin() as conn:
            # the next credit memo must re-read the shipped quantities from Amazon
            amazon_orders.mark_stale(conn, amazon_id)
            record(conn, track.track_number, "confirmed")
        message = (
            f"{doc} confirmed to Amazon: {plan.units} unit(s), {package['carrierCode']} "
            f"{track.track_number}"
        )
        if plan.notes:
            message += f" ({'; '.join(plan.notes)})"
        return self._finish(row, order_id, "done", message, None)

    def _shipment_refused(
        self, row: outbox_dao.OutboxRow, order_id: int, doc: str, exc: SpApiError
    ) -> Outcome:
        """Amazon refused: the row is rejected, and a bridge status that says all went well
        (Amazon refunded / cancelled) is not kept on the order."""
        message = f"{doc}: Amazon refused the shipment confirmation: {exc}"
        with self.ctx.engine.begin() as conn:
            if not outbox_dao.complete_in(conn, row, "rejected", message):
                conn.rollback()
                return Handled("lease lost; another worker owns the row now")
            magento.reset_bridge_status(conn, order_id)
            magento.add_comment(conn, order_id, message)
        return Handled(message)

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
