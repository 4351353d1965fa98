"""The order sync: Amazon's side of every order, in bulk with searchOrders (docs/order-sync.md).

Per account and marketplace, a *pass* reads every order updated in
[checkpoint, now - MIN_AGE] (``lastUpdatedAfter`` / ``lastUpdatedBefore``, which Amazon wants
at least two minutes old), page by page. Each page is stored in ONE transaction together
with the pass's progress (the next page token), fenced by the account's sync lease, so a
restart resumes at the first page not stored: no gap, no repeat. The last page moves the
checkpoint to the pass's ``lastUpdatedBefore``.

What a completed pass proves: every order of that account and marketplace updated before
the checkpoint is stored as Amazon had it, so a stored order that was read after the passes
became gap-free (``covered_from``) is current as of ``checkpoint - SAFETY_MARGIN`` (the
margin covers Amazon's ``lastUpdatedTime`` lag). A credit memo created before that instant
is decided on the stored state without a getOrder (:func:`proof_for`).

Changes of Amazon's side are announced in the Magento order, each once (the announcement
table stores what was said): Canceled on Amazon, a buyer's cancellation request (with the
``amazon_cancel_requested`` status on an Unshipped order) and units cancelled on Amazon
(who and why, from ``cancellationExecution``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from sidecar.amazon.client import SpApiClient, SpApiError
from sidecar.amazon.orders import (
    ItemCancellation,
    OrderMappingError,
    item_cancellations,
    order_state_from_api,
)
from sidecar.amazon.ratelimit import RateLimiter
from sidecar.clients import account_bucket
from sidecar.config import AmazonAccount, Config
from sidecar.dao import amazon_orders, magento
from sidecar.dao import order_sync as sync_dao
from sidecar.domain import AmazonOrderState, AmazonOrderStatus

log = logging.getLogger(__name__)

#: Amazon: lastUpdatedBefore "at least two minutes before the time of the request"; 5 s
#: more for the clock difference between this host and Amazon.
MIN_AGE = timedelta(seconds=125)
#: Safety margin for Amazon's lastUpdatedTime lag: a pass proves state as of its
#: checkpoint minus this.
SAFETY_MARGIN = timedelta(seconds=120)
#: A new pass starts when its window would be at least this long (and a token is there).
PASS_INTERVAL = timedelta(seconds=30)
#: The first pass of a marketplace looks this far back unless `sidecar orders sync --since`.
INITIAL_LOOKBACK = timedelta(days=1)
LEASE_TTL = timedelta(seconds=300)
PAGE_SIZE = 100
#: getOrder is the faster proof only when the next pass that proves a credit memo is further
#: away than this; nearer, the memo waits for the pass (no SP-API call of its own).
GETORDER_BREAK_EVEN = timedelta(seconds=60)
#: A credit memo whose proof has not come this long after it could have reads getOrder.
PROOF_OVERDUE = timedelta(minutes=10)
#: A waiting credit memo is looked at again this long after the pass it waits for can run.
PROOF_SLACK = timedelta(seconds=2)
#: What the mapping (sidecar/amazon/orders.py) and the announcements read.
SYNC_INCLUDED_DATA = ("PROCEEDS", "FULFILLMENT", "CANCELLATION")
CANCEL_REQUESTED = "amazon_cancel_requested"
OPERATION = "searchOrders"


class AwaitingSync(Exception):
    """The stored state is not proven fresh yet and getOrder is not the faster proof: decide
    after the next pass (``until``)."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


@dataclass(frozen=True)
class PassResult:
    account_id: str
    marketplace_id: str
    pages: int
    orders: int
    completed: bool


# ------------------------------------------------------------------ the freshness proof


def proven_as_of(state: sync_dao.SyncState | None, fetched_at: datetime) -> datetime | None:
    """The instant a stored order (read at ``fetched_at``) is proven current as of, by the
    completed passes of its account and marketplace; None when they prove nothing."""
    if state is None or state.checkpoint is None or state.covered_from is None:
        return None
    if fetched_at < state.covered_from:
        return None  # read before the passes became gap-free: a change may be unseen
    return state.checkpoint - SAFETY_MARGIN


def next_proof_at(state: sync_dao.SyncState | None, limiter: RateLimiter | None,
                  as_of: datetime, now: datetime) -> datetime | None:
    """When a pass proving ``as_of`` can complete at the earliest; None: no sync runs."""
    if state is None:
        return None
    earliest = as_of + SAFETY_MARGIN + MIN_AGE  # the sync starts this pass on demand
    if state.in_pass:
        earliest = max(earliest, now + PASS_INTERVAL)  # the current pass first
    if limiter is not None:
        earliest = max(earliest, now + timedelta(
            seconds=limiter.peek(state.account_id, OPERATION)))
    return max(earliest, now) + PROOF_SLACK


def proof_for(
    engine: Engine, limiter: RateLimiter | None, account: AmazonAccount, amazon_order_id: str,
    as_of: datetime, now: datetime,
) -> AmazonOrderState | None:
    """The stored state when the sync proves it current as of ``as_of`` (marked so);
    None when getOrder is the faster proof (never seen, no sync, a getOrder token now).
    Raises :class:`AwaitingSync` when the next pass is the proof to wait for."""
    with engine.begin() as conn:
        stored = amazon_orders.load_state(conn, amazon_order_id)
        if stored is None or stored.account_id != account.account_id:
            return None
        sync = sync_dao.load(conn, account.account_id, stored.marketplace_id)
        proof = proven_as_of(sync, stored.fetched_at)
        if proof is not None and proof >= as_of:
            amazon_orders.mark_fresh(conn, amazon_order_id, proof)
            return replace(stored, fetched_at=max(stored.fetched_at, proof))
        until = next_proof_at(sync, limiter, as_of, now)
        if sync is None or until is None:
            return None
        if now - as_of > SAFETY_MARGIN + MIN_AGE + PROOF_OVERDUE:
            return None  # the sync is late (Amazon refuses it, no leader): never wait forever
        soon = until - now <= GETORDER_BREAK_EVEN
        if not soon and (limiter is None or limiter.peek(account.account_id, "getOrder") <= 0):
            return None  # a getOrder now is much faster than the next pass
        if sync.proof_wanted is None or sync.proof_wanted < as_of:
            sync_dao.want_proof(conn, account.account_id, stored.marketplace_id, as_of)
    raise AwaitingSync(until, f"waiting for the order sync to prove Amazon order "
                              f"{amazon_order_id} current (next pass by {until:%H:%M:%S})")


# ------------------------------------------------------------------ announcements


def _changes(state: AmazonOrderState, previous: AmazonOrderState | None,
             cancellations: Sequence[ItemCancellation]) -> list[tuple[str, str]]:
    """(change_key, sentence) for every change of Amazon's side worth a Magento comment."""
    oid = state.amazon_order_id
    out: list[tuple[str, str]] = []
    if state.status is AmazonOrderStatus.CANCELED:
        was = f" (was {previous.raw_status or previous.status})" if previous and (
            previous.status is not AmazonOrderStatus.CANCELED) else ""
        out.append(("status:CANCELLED", f"Amazon order {oid} is Canceled on Amazon{was}."))
    elif state.status is None:
        out.append((f"status:{state.raw_status}",
                    f"Amazon order {oid} has a status this product does not know: "
                    f"{state.raw_status!r} (shown as Amazon sent it)."))
    for c in cancellations:
        if c.requester:
            why = f": {c.request_reason!r}" if c.request_reason else " (no reason given)"
            out.append((f"cancel_request:{c.order_item_id}",
                        f"{c.requester.lower().capitalize()} asked Amazon to cancel "
                        f"{c.seller_sku or c.order_item_id} on order {oid}{why}."))
        if c.cancelled_by:
            units = _cancelled_units(state, c.order_item_id)
            why = f", reason: {c.cancel_reason!r}" if c.cancel_reason else ""
            out.append((f"cancelled:{c.order_item_id}:{units}:{c.cancelled_by}",
                        f"{units} unit(s) of {c.seller_sku or c.order_item_id} on order {oid} "
                        f"cancelled on Amazon by {c.cancelled_by}{why}."))
    return out


def _cancelled_units(state: AmazonOrderState, order_item_id: str) -> int:
    return next((i.quantity_canceled for i in state.items if i.order_item_id == order_item_id),
                0)


def _ours(conn: Connection, state: AmazonOrderState, key: str) -> bool:
    """Units this product cancelled itself (MERCHANT) were announced when it did so."""
    if not key.startswith("cancelled:") or not key.endswith(":MERCHANT"):
        return False
    return amazon_orders.load_ledger(conn, state.amazon_order_id).order_canceled_by_us


def announce(conn: Connection, state: AmazonOrderState, previous: AmazonOrderState | None,
             cancellations: Sequence[ItemCancellation], now: datetime,
             order_id: int | None) -> int:
    """Write each new change once into the linked Magento order; returns comments written."""
    if order_id is None:
        return 0  # announced once the Magento order is linked
    changes = _changes(state, previous, cancellations)
    if not changes:
        return 0
    done = sync_dao.announced(conn, state.amazon_order_id)
    fresh = [(k, s) for k, s in changes if k[:191] not in done and not _ours(conn, state, k)]
    if not fresh:
        return 0
    comment = " ".join(s for _, s in fresh)
    if any(k.startswith("cancel_request:") for k, _ in fresh) and (
            state.status is AmazonOrderStatus.UNSHIPPED):
        magento.set_status(conn, order_id, CANCEL_REQUESTED)
    magento.add_comment(conn, order_id, comment)
    for key, sentence in fresh:
        sync_dao.record_announcement(conn, state.amazon_order_id, key, order_id, sentence, now)
    return 1


def store_order(conn: Connection, account: AmazonAccount, doc: dict[str, Any],
                fetched_at: datetime, now: datetime) -> bool:
    """Upsert one searchOrders order, link it to its Magento order, announce its changes."""
    try:
        state = order_state_from_api(doc, account.account_id, fetched_at)
    except OrderMappingError as exc:
        log.warning("order sync %s: %s; order not stored", account.account_id, exc)
        return False
    previous, stored = amazon_orders.save_synced(
        conn, state, raw=json.dumps(doc, default=str, ensure_ascii=False))
    if not stored:
        return False
    linked = amazon_orders.magento_order_of(conn, state.amazon_order_id)
    if linked is None:
        linked = sync_dao.find_magento_order(conn, state.amazon_order_id)
        if linked is not None:
            amazon_orders.link_magento_order(conn, state.amazon_order_id, linked)
    announce(conn, state, previous, item_cancellations(doc), now, linked)
    return True


# ---------------------------------------------------------------------- the sync


class OrderSync:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        client_for: Callable[[AmazonAccount], SpApiClient],
        limiter: RateLimiter | None,
        now: Callable[[], datetime],
        *,
        owner: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.engine = engine
        self.config = config
        self.client_for = client_for
        self.limiter = limiter
        self.now = now
        self.owner = owner or config.worker_id
        self.page_size = page_size
        if limiter is not None:  # peeks before the first call count against the right bucket
            for account in config.accounts:
                limiter.register(account.account_id, account_bucket(account))

    def run_once(self) -> int:
        """One step per account this worker leads: pages stored (0 = nothing to do)."""
        pages = 0
        for account in self.config.accounts:
            if not sync_dao.acquire_lease(self.engine, account.account_id, self.owner,
                                          self.now(), LEASE_TTL):
                continue
            for marketplace in account.marketplaces:
                try:
                    pages += self.sync(account, marketplace.marketplace_id).pages
                except SpApiError as exc:
                    log.warning("order sync %s/%s: %s", account.account_id,
                                marketplace.marketplace_id, exc)
                    sync_dao.note_error(self.engine, account.account_id,
                                        marketplace.marketplace_id, str(exc), self.now())
        return pages

    def sync(self, account: AmazonAccount, marketplace_id: str, *,
             since: datetime | None = None, wait: bool = False) -> PassResult:
        """Continue or start a pass; without ``wait`` it stops at the first missing token."""
        pages = orders = 0
        if not sync_dao.acquire_lease(self.engine, account.account_id, self.owner, self.now(),
                                      LEASE_TTL):
            return PassResult(account.account_id, marketplace_id, 0, 0, False)
        state = self._pass(account, marketplace_id, since, force=since is not None)
        while state is not None and state.in_pass:
            if not sync_dao.acquire_lease(self.engine, account.account_id, self.owner,
                                          self.now(), LEASE_TTL):
                break
            if not wait and self.limiter is not None and self.limiter.peek(
                    account.account_id, OPERATION) > 0:
                break
            stored = self._page(account, state)
            if stored is None:  # lease lost, or the token restarted the pass
                state = self._load(account.account_id, marketplace_id)
                if state is None or not self._leads(account.account_id):
                    break
                continue
            pages, orders = pages + 1, orders + stored
            state = self._load(account.account_id, marketplace_id)
            if state is not None and not state.in_pass:
                return PassResult(account.account_id, marketplace_id, pages, orders, True)
        return PassResult(account.account_id, marketplace_id, pages, orders, False)

    # ---------------------------------------------------------------- internals

    def _load(self, account_id: str, marketplace_id: str) -> sync_dao.SyncState | None:
        with self.engine.connect() as conn:
            return sync_dao.load(conn, account_id, marketplace_id)

    def _leads(self, account_id: str) -> bool:
        with self.engine.connect() as conn:
            return sync_dao.holds_lease(conn, account_id, self.owner, self.now())

    def _pass(self, account: AmazonAccount, marketplace_id: str, since: datetime | None,
              *, force: bool) -> sync_dao.SyncState | None:
        """The pass in progress, or a new one when its window is long enough."""
        state = self._load(account.account_id, marketplace_id)
        if state is not None and state.in_pass and not force:
            return state
        now = self.now()
        before = now - MIN_AGE
        after = since or (state.checkpoint if state and state.checkpoint else None) or (
            now - INITIAL_LOOKBACK)
        wanted = state is not None and state.proof_wanted is not None and (
            state.checkpoint is None or state.checkpoint - SAFETY_MARGIN < state.proof_wanted
        ) and before - SAFETY_MARGIN >= state.proof_wanted
        if after >= before or (not force and not wanted and before - after < PASS_INTERVAL):
            return None
        with self.engine.begin() as conn:
            if not sync_dao.holds_lease(conn, account.account_id, self.owner, now):
                return None
            sync_dao.start_pass(conn, account.account_id, marketplace_id, after, before, now)
        return self._load(account.account_id, marketplace_id)

    def _page(self, account: AmazonAccount, state: sync_dao.SyncState) -> int | None:
        """Read and store the next page; orders stored, or None when nothing was stored."""
        assert state.pass_after is not None
        assert state.pass_before is not None
        # what a page proves: Amazon's state as of its lastUpdatedBefore, minus the lag margin
        # (never later than the read itself)
        fetched_at = min(self.now(), state.pass_before - SAFETY_MARGIN)
        try:
            docs, next_token = self.client_for(account).search_orders(
                last_updated_after=state.pass_after, last_updated_before=state.pass_before,
                marketplace_ids=[state.marketplace_id], max_results_per_page=self.page_size,
                pagination_token=state.page_token, included_data=SYNC_INCLUDED_DATA)
        except SpApiError as exc:
            if exc.status == 400 and state.page_token:
                with self.engine.begin() as conn:  # expired token: the pass starts again
                    sync_dao.restart_pass(conn, state, str(exc), self.now())
                return None
            raise
        with self.engine.begin() as conn:
            now = self.now()
            if not sync_dao.holds_lease(conn, account.account_id, self.owner, now):
                conn.rollback()
                return None  # another worker leads now: it stores this page itself
            stored = sum(store_order(conn, account, doc, fetched_at, now) for doc in docs)
            sync_dao.page_stored(conn, state, next_token, stored, now)
        log.info("order sync %s/%s: page %d stored (%d orders)%s", account.account_id,
                 state.marketplace_id, state.pages_stored + 1, stored,
                 "" if next_token else "; pass complete")
        return stored
