"""Fixtures: an emulator served over real HTTP on loopback, with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sidecar.emulator import EmulatorConfig, EmulatorState, ManualClock, SeedItem
from sidecar.emulator.model import EmulatorOrder
from sidecar.emulator.server import EmulatorServer
from tests.emulator.support import Api


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config() -> EmulatorConfig:
    return EmulatorConfig(xsd_dir=None)


@pytest.fixture
def server(config: EmulatorConfig, clock: ManualClock) -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState(config, clock)) as emulator:
        yield emulator


@pytest.fixture
def state(server: EmulatorServer) -> EmulatorState:
    return server.state


@pytest.fixture
def api(server: EmulatorServer) -> Iterator[Api]:
    with Api(server.url) as client:
        yield client


@pytest.fixture
def xsd_dir(amazon_xsd_dir: Path) -> Path:
    return amazon_xsd_dir


US_ORDER = "111-1234567-7654321"
US_ITEM_A = "11111111111111"
US_ITEM_B = "22222222222222"


@pytest.fixture
def shipped_order(state: EmulatorState) -> EmulatorOrder:
    """A US order (net prices): item A 2 units shipped, item B 1 unit unshipped."""
    return state.seed_order(US_ORDER, currency="USD", items=[
        SeedItem(US_ITEM_A, "SKU-A", 2, Decimal("40.00"), Decimal("3.20"), Decimal("6.00"),
                 Decimal("0.48"), quantity_shipped=2),
        SeedItem(US_ITEM_B, "SKU-B", 1, Decimal("15.00"), Decimal("1.20")),
    ])
