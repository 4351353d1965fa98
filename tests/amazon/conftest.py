"""Fixtures for the SP-API client tests: a fake Amazon over loopback HTTP, a fake clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from sidecar.amazon.auth import LwaTokenProvider
from sidecar.amazon.client import SpApiClient
from sidecar.amazon.credentials import AccountCredentials, Secret
from sidecar.amazon.ratelimit import DEFAULT_LIMITS, Limit, RateLimiter
from tests.amazon.fakes import (
    AWS_KEY_ID,
    AWS_SECRET,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeAmazon,
    FakeClock,
    serve,
)

ACCOUNT = "acct-eu"
FAST = {op: Limit(Decimal(1000), 1000) for op in DEFAULT_LIMITS}


@pytest.fixture
def fake() -> Iterator[FakeAmazon]:
    amazon = FakeAmazon()
    with serve(amazon):
        yield amazon


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    s = requests.Session()
    yield s
    s.close()


def make_creds(base_url: str, *, sign: bool = True, keys: bool = True,
               session_token: str | None = None) -> AccountCredentials:
    return AccountCredentials(
        lwa_client_id=CLIENT_ID,
        lwa_client_secret=Secret(CLIENT_SECRET),
        refresh_token=Secret(REFRESH_TOKEN),
        endpoint=base_url,
        aws_region="eu-west-1",
        aws_access_key_id=Secret(AWS_KEY_ID) if keys else None,
        aws_secret_access_key=Secret(AWS_SECRET) if keys else None,
        aws_session_token=Secret(session_token) if session_token else None,
        lwa_url=f"{base_url}/auth/o2/token",
        sign_requests=sign,
    )


@pytest.fixture
def limiter(sqlite_engine: Engine, clock: FakeClock) -> RateLimiter:
    return RateLimiter(sqlite_engine, limits={ACCOUNT: FAST}, clock_us=clock,
                       sleep=clock.sleep)


ClientFactory = Callable[..., SpApiClient]


@pytest.fixture
def make_client(fake: FakeAmazon, limiter: RateLimiter, session: requests.Session,
                clock: FakeClock) -> ClientFactory:
    def factory(**kwargs: Any) -> SpApiClient:
        creds = kwargs.pop("creds", None) or make_creds(
            fake.base_url, sign=kwargs.pop("sign", True), keys=kwargs.pop("keys", True))
        timeout = kwargs.pop("timeout", (2.0, 5.0))
        kwargs.setdefault("tokens", LwaTokenProvider(session, timeout=timeout))
        kwargs.setdefault("upload_hosts", (fake.base_url,))  # the fake's plain-http documents
        return SpApiClient(ACCOUNT, creds, kwargs.pop("limiter", limiter), session, timeout,
                           sleep=clock.sleep, **kwargs)
    return factory
