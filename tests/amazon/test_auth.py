"""LWA token exchange: caching, refresh before expiry, thread safety, no secrets anywhere."""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qs

import pytest
import requests

from sidecar.amazon.auth import LwaError, LwaTokenProvider
from sidecar.amazon.credentials import AccountCredentials, Secret
from tests.amazon.conftest import make_creds
from tests.amazon.fakes import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeAmazon,
    Reply,
    serve,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exchange_form_and_caching(fake: FakeAmazon, session: requests.Session) -> None:
    clock = Clock()
    provider = LwaTokenProvider(session, clock=clock)
    creds = make_creds(fake.base_url)
    first = provider.access_token("a", creds)
    assert first.reveal() == "Atza|fake-1"
    assert provider.access_token("a", creds) is first  # cached
    rec = fake.calls("lwa")[0]
    assert rec.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(rec.body.decode()) == {
        "grant_type": ["refresh_token"], "refresh_token": [REFRESH_TOKEN],
        "client_id": [CLIENT_ID], "client_secret": [CLIENT_SECRET],
    }
    clock.now += 3600 - 61  # still more than 60 s left
    assert provider.access_token("a", creds).reveal() == "Atza|fake-1"
    clock.now += 2  # 59 s left: refresh
    assert provider.access_token("a", creds).reveal() == "Atza|fake-2"
    assert fake.tokens_issued == 2
    # another account has its own token
    assert provider.access_token("b", creds).reveal() == "Atza|fake-3"


def test_short_expires_in_is_honoured(fake: FakeAmazon, session: requests.Session) -> None:
    fake.token_ttl = 120
    clock = Clock()
    provider = LwaTokenProvider(session, clock=clock)
    creds = make_creds(fake.base_url)
    provider.access_token("a", creds)
    clock.now += 61
    provider.access_token("a", creds)
    assert fake.tokens_issued == 2
    provider.invalidate("a")
    provider.access_token("a", creds)
    assert fake.tokens_issued == 3


def test_concurrent_callers_share_one_exchange(fake: FakeAmazon,
                                               session: requests.Session) -> None:
    fake.script("lwa", Reply(200, {"access_token": "Atza|fake-slow", "expires_in": 3600},
                             delay_s=0.3))
    provider = LwaTokenProvider(session)
    creds = make_creds(fake.base_url)
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(
        provider.access_token("a", creds).reveal())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["Atza|fake-slow"] * 8
    assert len(fake.calls("lwa")) == 1


def test_errors_do_not_echo_secrets(fake: FakeAmazon, session: requests.Session,
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = LwaTokenProvider(session)
    bad = AccountCredentials(
        lwa_client_id=CLIENT_ID, lwa_client_secret=Secret(CLIENT_SECRET),
        refresh_token=Secret("Atzr|WRONG-REFRESH-TOKEN"), endpoint=fake.base_url,
        lwa_url=f"{fake.base_url}/auth/o2/token")
    with pytest.raises(LwaError) as info:
        provider.access_token("a", bad)
    err = info.value
    assert err.status == 400 and err.code == "invalid_grant" and not err.retryable
    assert "invalid_grant" in str(err)
    # a server that echoes the secret back gets it scrubbed
    fake.script("lwa", Reply(401, {"error": "invalid_client",
                                   "error_description": f"bad secret {CLIENT_SECRET}"}))
    with pytest.raises(LwaError) as info:
        provider.access_token("a", make_creds(fake.base_url))
    assert CLIENT_SECRET not in str(info.value)
    fake.script("lwa", Reply(503, None))
    with pytest.raises(LwaError) as info:
        provider.access_token("a", make_creds(fake.base_url))
    assert info.value.retryable
    for record in caplog.records:
        for secret in (CLIENT_SECRET, REFRESH_TOKEN, "WRONG-REFRESH-TOKEN"):
            assert secret not in record.getMessage()


def test_network_error_is_retryable(session: requests.Session) -> None:
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    creds = make_creds(f"http://127.0.0.1:{port}")
    with pytest.raises(LwaError) as info:
        LwaTokenProvider(session, timeout=(1, 1)).access_token("a", creds)
    assert info.value.retryable
    assert REFRESH_TOKEN not in str(info.value)


def test_a_redirect_never_carries_the_secrets_elsewhere(fake: FakeAmazon,
                                                        session: requests.Session) -> None:
    # requests re-POSTs the form on 307/308 (to any host, http too): LWA must not follow
    elsewhere = FakeAmazon()
    with serve(elsewhere):
        fake.script("lwa", Reply(307, headers={"Location": f"{elsewhere.base_url}/auth/o2/token"}))
        with pytest.raises(LwaError) as info:
            LwaTokenProvider(session).access_token("a", make_creds(fake.base_url))
    assert info.value.status == 307
    assert elsewhere.calls("lwa") == []
