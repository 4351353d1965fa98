"""`make run`: the sidecar on its embedded default — SQLite, the built-in SP-API emulator and
demo data — with the health page on http://127.0.0.1:8080.

The demo plays the Magento module's part itself: it writes Magento orders (the few columns
the sidecar uses) and outbox rows with the snapshot the module would write
(docs/snapshot.md), one per interesting case, then runs the real worker against the
emulator over HTTP and serves the real health page.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, insert
from werkzeug.serving import make_server

from sidecar.amazon.credentials import Secret
from sidecar.amazon.ratelimit import RateLimiter
from sidecar.app import create_app
from sidecar.clients import ClientFactory
from sidecar.clock import utcnow
from sidecar.config import AmazonAccount, Config
from sidecar.db import make_engine
from sidecar.emulator.accounts import emulator_account
from sidecar.emulator.config import (
    EmulatorConfig,
)
from sidecar.emulator.server import EmulatorServer
from sidecar.emulator.state import SeedItem
from sidecar.migrate import migrate
from sidecar.tables import outbox, sales_order, sales_order_grid
from sidecar.worker import Worker

log = logging.getLogger(__name__)
MARKETPLACE = "ATVPDKIKX0DER"
DEMO_STORE, STORE_REFUND_OFF, STORE_NO_ACCOUNT = 1, 2, 3


@dataclass(frozen=True)
class DemoItem:
    sku: str
    name: str
    qty: int
    price: Decimal  # per unit, excl. tax
    tax: Decimal  # per unit
    shipped: int = 0


@dataclass(frozen=True)
class DemoCase:
    title: str
    items: tuple[DemoItem, ...]
    credit: dict[str, int]
    status: str | None = None  # Amazon status; None: from quantities
    buyer_cancel: bool = False
    shipping: Decimal = Decimal(0)
    store_id: int = DEMO_STORE
    adjustment_negative: Decimal = Decimal(0)
    fulfillment_channel: str = "MFN"
    poison: bool = False


D = Decimal
MUG = DemoItem("MUG-BLUE", "Blue mug", 2, D("12.50"), D("1.03"))
TEA = DemoItem("TEA-EARL", "Earl Grey 250g", 1, D("8.99"), D("0.74"))
CASES = (
    DemoCase(
        "Unshipped, whole order credited -> cancel (NoInventory)",
        (MUG, TEA),
        {"MUG-BLUE": 2, "TEA-EARL": 1},
    ),
    DemoCase(
        "Unshipped, buyer asked to cancel -> cancel (BuyerCanceled)",
        (MUG,),
        {"MUG-BLUE": 2},
        buyer_cancel=True,
    ),
    DemoCase(
        "Shipped, one unit returned with shipping -> refund (CustomerReturn)",
        (DemoItem("MUG-BLUE", "Blue mug", 2, D("12.50"), D("1.03"), shipped=2),),
        {"MUG-BLUE": 1},
        shipping=D("4.99"),
    ),
    DemoCase(
        "Shipped, adjustment fee -> full refund",
        (DemoItem("TEA-EARL", "Earl Grey 250g", 3, D("8.99"), D("0.74"), shipped=3),),
        {"TEA-EARL": 1},
        adjustment_negative=D("2.00"),
    ),
    DemoCase(
        "Pending on Amazon -> rejected with a comment", (TEA,), {"TEA-EARL": 1}, status="Pending"
    ),
    DemoCase(
        "FBA order -> rejected",
        (DemoItem("MUG-BLUE", "Blue mug", 1, D("12.50"), D("1.03"), shipped=1),),
        {"MUG-BLUE": 1},
        fulfillment_channel="AFN",
    ),
    DemoCase(
        "Account with refunds switched off -> skipped",
        (TEA,),
        {"TEA-EARL": 1},
        store_id=STORE_REFUND_OFF,
    ),
    DemoCase(
        "Corrupted outbox payload -> dead, the others go on", (TEA,), {"TEA-EARL": 1}, poison=True
    ),
)


def demo_accounts(emulator_url: str) -> tuple[AmazonAccount, ...]:
    return (
        emulator_account(emulator_url, "demo-us", (DEMO_STORE,), marketplace_id=MARKETPLACE),
        emulator_account(
            emulator_url,
            "demo-refunds-off",
            (STORE_REFUND_OFF,),
            marketplace_id=MARKETPLACE,
            refund=False,
        ),
    )


def _money(x: Decimal) -> str:
    return str(x.quantize(Decimal("0.0001")))


def seed(engine: Engine, emulator: EmulatorServer) -> int:
    """Magento orders, Amazon orders and one credit memo outbox row per case."""
    now = utcnow().replace(microsecond=0)
    for n, case in enumerate(CASES, start=1):
        amazon_id = f"111-{n:07d}-{1234567 + n:07d}"
        codes = {i.sku: f"{n:07d}{k:07d}" for k, i in enumerate(case.items, start=1)}
        emulator.state.seed_order(
            amazon_id,
            marketplace_id=MARKETPLACE,
            currency="USD",
            status=case.status,
            fulfillment_channel=case.fulfillment_channel,
            created_time=now - timedelta(days=2),
            last_updated_time=now - timedelta(days=1),
            items=[
                SeedItem(
                    order_item_id=codes[i.sku],
                    seller_sku=i.sku,
                    title=i.name,
                    quantity_ordered=i.qty,
                    item_price=i.price * i.qty,
                    item_tax=i.tax * i.qty,
                    quantity_shipped=i.shipped,
                    shipping_price=case.shipping if k == 0 else D(0),
                    buyer_cancel_requested=case.buyer_cancel,
                    buyer_cancel_reason="Ordered by mistake" if case.buyer_cancel else None,
                )
                for k, i in enumerate(case.items)
            ],
        )
        increment = f"{1000000 + n:09d}"
        with engine.begin() as conn:
            result = conn.execute(
                insert(sales_order).values(
                    state="closed",
                    status="closed",
                    increment_id=increment,
                    ext_order_id=amazon_id,
                    store_id=case.store_id,
                    order_currency_code="USD",
                    grand_total=sum((i.price + i.tax) * i.qty for i in case.items) + case.shipping,
                )
            )
            order_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            conn.execute(
                insert(sales_order_grid).values(
                    entity_id=order_id, status="closed", increment_id=increment
                )
            )
            payload = _creditmemo_payload(n, order_id, increment, amazon_id, case, codes, now)
            conn.execute(
                insert(outbox).values(
                    event_type="creditmemo",
                    entity_id=n,
                    order_id=order_id,
                    payload="{not json" if case.poison else json.dumps(payload),
                    created_at=now,
                    updated_at=now,
                    available_at=now,
                )
            )
    return len(CASES)


def _creditmemo_payload(
    n: int,
    order_id: int,
    increment: str,
    amazon_id: str,
    case: DemoCase,
    codes: dict[str, str],
    now: object,
) -> dict[str, object]:
    by_sku = {i.sku: i for i in case.items}
    items = []
    for k, (sku, qty) in enumerate(case.credit.items(), start=1):
        i = by_sku[sku]
        items.append(
            {
                "entity_id": n * 100 + k,
                "order_item_id": n * 100 + k,
                "parent_item_id": None,
                "sku": sku,
                "name": i.name,
                "product_type": "simple",
                "ext_order_item_id": codes[sku],
                "qty": _money(D(qty)),
                "price": _money(i.price),
                "price_incl_tax": _money(i.price + i.tax),
                "row_total": _money(i.price * qty),
                "row_total_incl_tax": _money((i.price + i.tax) * qty),
                "tax_amount": _money(i.tax * qty),
                "discount_amount": "0.0000",
                "back_to_stock": True,
                "qty_ordered": _money(D(i.qty)),
                "qty_shipped": _money(D(i.shipped)),
                "qty_refunded": _money(D(qty)),
                "qty_canceled": "0.0000",
            }
        )
    subtotal = sum((by_sku[s].price * q for s, q in case.credit.items()), D(0))
    tax = sum((by_sku[s].tax * q for s, q in case.credit.items()), D(0))
    grand = subtotal + tax + case.shipping - case.adjustment_negative
    return {
        "schema_version": 1,
        "event_type": "creditmemo",
        "order": {
            "entity_id": order_id,
            "increment_id": increment,
            "ext_order_id": amazon_id,
            "store_id": case.store_id,
            "order_currency_code": "USD",
            "base_currency_code": "USD",
            "state": "closed",
            "status": "closed",
        },
        "creditmemo": {
            "entity_id": n,
            "increment_id": f"{2000000 + n:09d}",
            "created_at": f"{now:%Y-%m-%d %H:%M:%S}",
            "order_currency_code": "USD",
            "subtotal": _money(subtotal),
            "subtotal_incl_tax": _money(subtotal + tax),
            "tax_amount": _money(tax),
            "discount_amount": "0.0000",
            "shipping_amount": _money(case.shipping),
            "shipping_tax_amount": "0.0000",
            "shipping_incl_tax": _money(case.shipping),
            "adjustment_positive": "0.0000",
            "adjustment_negative": _money(case.adjustment_negative),
            "grand_total": _money(grand),
        },
        "items": items,
    }


def run_demo(
    *,
    port: int = 8080,
    database: str = "var/demo.sqlite",
    cycles: int = 0,
    processing_seconds: float = 3.0,
) -> int:
    """Seed the demo and run it: serve the health page until Ctrl-C, or (cycles > 0) run that
    many worker cycles and return. processing_seconds: how long the emulator takes to process
    a feed (3 s makes `submitted` visible on the page; tests pass 0).

    Every start is a fresh demo: the emulator keeps its orders and feeds in memory, so a
    database from an earlier run would point at feeds the new emulator never saw."""
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    migrate(engine, with_magento_tables=True)
    emulator_config = EmulatorConfig(processing_seconds=processing_seconds)
    with EmulatorServer(config=emulator_config) as emulator:
        accounts = demo_accounts(emulator.url)
        cfg = Config(
            database_url=url,
            accounts=accounts,
            worker_id="demo-worker",
            feed_poll_seconds=2,
            poll_interval_seconds=1,
            bind=f"127.0.0.1:{port}",
            # the page needs the admin: a one-off password per demo run, printed below
            admin_token=Secret(os.environ.get("SIDECAR_ADMIN_TOKEN") or secrets.token_urlsafe(16)),
        )
        seeded = seed(engine, emulator)
        log.info("demo: %d credit memos queued; SP-API emulator on %s", seeded, emulator.url)
        worker = Worker(cfg, engine, clients=ClientFactory(engine, RateLimiter(engine)))
        if cycles:
            for _ in range(cycles):
                worker.cycle()
            return 0
        stop = threading.Event()
        thread = threading.Thread(
            target=worker.run, kwargs={"stop": stop}, name="worker", daemon=True
        )
        thread.start()
        server = make_server("127.0.0.1", port, create_app(cfg, engine), threaded=True)
        assert cfg.admin_token is not None
        print(
            f"Amazon refund bridge demo: health page on http://127.0.0.1:{port}  (Ctrl-C stops)"
            f"\n  sign in as admin, password {cfg.admin_token.reveal()}",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
            thread.join(timeout=10)
            server.server_close()
    return 0
