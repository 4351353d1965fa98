"""End-to-end harness: real MariaDB, the module's PHP observer, the worker, the emulator over HTTP.

A `Bridge` wires one fresh database, one emulator and one worker. A test creates a Magento
order (and the same order on the emulator), saves credit memos / shipments through the
real PHP observer, drives the worker until it is idle, and reads the outcome from the
outbox, Magento's order tables and the emulator's refund counters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from sidecar.amazon.ratelimit import Limit, RateLimiter
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config
from sidecar.dao import outbox as outbox_dao
from sidecar.db import make_engine
from sidecar.domain import TaxConvention
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.config import (
    EmulatorConfig,
)
from sidecar.emulator.server import EmulatorServer
from sidecar.emulator.state import SeedItem
from sidecar.tables import outbox, sales_order, sales_order_grid, sales_order_status_history
from sidecar.worker import Worker
from tests.conftest import missing
from tests.support.magento_factory import ItemSpec, MagentoFactory, Order
from tests.support.module import php_binary, run_observer

MARKETPLACE = "ATVPDKIKX0DER"  # US: prices without tax, Tax components are sent
MARKETPLACE_VAT = "A1PA6795UKMFR9"  # DE: prices include VAT, refunds are sent net
STORE = 1
STORE_SETTING_OFF = 2
STORE_WITHOUT_ACCOUNT = 3
STORE_GROSS = 4  # a tax-inclusive marketplace (prices include VAT; refunds are sent net)


class Clock:
    """The worker's clock: real time plus a shift tests can add to (no sleeping)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.shift

    def advance(self, **kwargs: float) -> None:
        self.shift += timedelta(**kwargs)


def account(
    account_id: str,
    url: str,
    store_ids: tuple[int, ...],
    *,
    refund: bool = True,
    convention: TaxConvention = TaxConvention.NET_PLUS_TAX,
    marketplace_id: str = MARKETPLACE,
) -> AmazonAccount:
    return emulator_account(
        url,
        account_id,
        store_ids,
        marketplace_id=marketplace_id,
        refund=refund,
        convention=convention,
    )


@dataclass
class Bridge:
    engine: Engine
    url: str
    emulator: EmulatorServer
    worker: Worker
    clock: Clock
    orders: dict[str, Order] = field(default_factory=dict)
    _n: int = 0

    # ------------------------------------------------------------------ setup

    def order(
        self,
        items: Sequence[ItemSpec],
        *,
        shipped: dict[str, int] | None = None,
        status: str | None = None,
        buyer_cancel: bool = False,
        currency: str = "EUR",
        amazon_currency: str | None = None,
        fulfillment_channel: str = "MFN",
        store_id: int = STORE,
        shipping: Decimal = Decimal(0),
        shipping_tax: Decimal = Decimal(0),
        gross: bool = False,
    ) -> Order:
        """The same order in Magento and on the emulator; shipping charged on the first item.
        gross: Amazon's prices include the tax (EU/UK/JP marketplaces)."""
        self._n += 1
        amazon_id = f"302-{self._n:07d}-{4000000 + self._n:07d}"
        shipped = shipped or {}
        items = [
            replace(i, amazon_item_id=i.amazon_item_id or f"{self._n:07d}{k:07d}")
            for k, i in enumerate(items, start=1)
        ]
        with self.engine.begin() as conn:
            order = MagentoFactory(conn).order(
                list(items),
                ext_order_id=amazon_id,
                currency=currency,
                store_id=store_id,
                shipping=shipping,
                shipping_tax=shipping_tax,
            )
        self.emulator.state.seed_order(
            amazon_id,
            items=[
                SeedItem(
                    order_item_id=i.amazon_item_id,
                    seller_sku=i.sku,
                    quantity_ordered=i.qty,
                    item_price=(i.price + (i.tax if gross else 0)) * i.qty,
                    item_tax=i.tax * i.qty,
                    promotion_discount=i.discount * i.qty,
                    shipping_price=(shipping + (shipping_tax if gross else 0))
                    if k == 0
                    else Decimal(0),
                    shipping_tax=shipping_tax if k == 0 else Decimal(0),
                    quantity_shipped=shipped.get(i.sku, 0),
                    buyer_cancel_requested=buyer_cancel,
                    buyer_cancel_reason="Changed my mind" if buyer_cancel else None,
                )
                for k, i in enumerate(items)
            ],
            marketplace_id=MARKETPLACE_VAT if store_id == STORE_GROSS else MARKETPLACE,
            status=status,
            fulfillment_channel=fulfillment_channel,
            currency=amazon_currency or currency,
            prices_include_tax=gross,
            created_time=self.clock() - timedelta(days=1),
            last_updated_time=self.clock() - timedelta(hours=1),
        )
        self.orders[amazon_id] = order
        return order

    def creditmemo(
        self,
        order: Order,
        lines: dict[str, int],
        *,
        back_to_stock: Sequence[str] = (),
        **amounts: Decimal,
    ) -> int:
        """Save a credit memo in Magento and let the module's observer write the outbox row."""
        with self.engine.begin() as conn:
            memo_id = MagentoFactory(conn).creditmemo(order, lines, **amounts)
        outbox_id = run_observer(
            self.url, "creditmemo", memo_id, back_to_stock=[order.items[s] for s in back_to_stock]
        )
        assert outbox_id is not None
        return outbox_id

    def shipment(
        self,
        order: Order,
        lines: dict[str, int],
        tracks: Sequence[tuple[str, str, str]] = (("dhl", "DHL", "00340434161234567890"),),
    ) -> int:
        with self.engine.begin() as conn:
            shipment_id = MagentoFactory(conn).shipment(order, lines, list(tracks))
        outbox_id = run_observer(self.url, "shipment", shipment_id)
        assert outbox_id is not None
        return outbox_id

    # ---------------------------------------------------------------- driving

    def drive(self) -> None:
        """Run the worker until it has nothing left to do now."""
        self.worker.run(once=True, max_cycles=50)

    # ---------------------------------------------------------------- reading

    def row(self, outbox_id: int) -> outbox_dao.OutboxRow:
        row = outbox_dao.get(self.engine, outbox_id)
        assert row is not None
        return row

    def comments(self, order: Order) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sales_order_status_history.c.comment)
                .where(sales_order_status_history.c.parent_id == order.entity_id)
                .order_by(sales_order_status_history.c.entity_id)
            ).all()
        return [r[0] for r in rows]

    def magento_status(self, order: Order) -> tuple[str, str, str]:
        """(sales_order.state, sales_order.status, sales_order_grid.status)"""
        with self.engine.connect() as conn:
            o = conn.execute(
                select(sales_order.c.state, sales_order.c.status).where(
                    sales_order.c.entity_id == order.entity_id
                )
            ).one()
            g = conn.execute(
                select(sales_order_grid.c.status).where(
                    sales_order_grid.c.entity_id == order.entity_id
                )
            ).one()
        return o.state, o.status, g.status

    def amazon_item(self, order: Order, sku: str) -> str:
        item_id = order.specs[sku].amazon_item_id
        assert item_id is not None
        return item_id

    def refunds(self, order: Order, sku: str) -> Any:
        assert order.ext_order_id is not None
        return self.emulator.state.refund_counter(order.ext_order_id, self.amazon_item(order, sku))

    def amazon_order(self, order: Order) -> Any:
        assert order.ext_order_id is not None
        return self.emulator.state.order(order.ext_order_id)

    def sql(self, query: str, **params: object) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(query), params).all())

    def statuses(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return {r.id: r.status for r in conn.execute(select(outbox.c.id, outbox.c.status))}


FAST_LIMITS = {
    op: Limit(Decimal(100), 100)
    for op in (
        "createFeed",
        "createFeedDocument",
        "getFeed",
        "getFeeds",
        "getFeedDocument",
        "cancelFeed",
        "searchOrders",
        "getOrder",
        "confirmShipment",
    )
}


@pytest.fixture
def bridge(mariadb_url: str, amazon_xsd_dir: object) -> Iterator[Bridge]:
    try:
        php_binary()
    except RuntimeError as exc:
        missing(str(exc))
    engine = make_engine(mariadb_url)
    clock = Clock()
    with EmulatorServer(config=EmulatorConfig(xsd_dir=amazon_xsd_dir)) as emulator:  # type: ignore[arg-type]
        accounts = (
            account("acct-eu", emulator.url, (STORE,)),
            account("acct-off", emulator.url, (STORE_SETTING_OFF,), refund=False),
            account("acct-gross", emulator.url, (STORE_GROSS,), marketplace_id=MARKETPLACE_VAT),
        )
        cfg = Config(
            database_url=mariadb_url,
            accounts=accounts,
            worker_id="e2e-worker",
            feed_poll_seconds=0,
            poll_interval_seconds=0,
            backoff_base_seconds=1,
            # these scenarios decide when Amazon is read; the order sync has its own e2e
            # tests on a simulated clock (test_order_sync.py)
            order_sync=False,
        )
        limiter = RateLimiter(engine, limits={a.account_id: FAST_LIMITS for a in accounts})
        worker = Worker(cfg, engine, clients=ClientFactory(engine, limiter), now=clock)
        yield Bridge(engine=engine, url=mariadb_url, emulator=emulator, worker=worker, clock=clock)
    engine.dispose()
