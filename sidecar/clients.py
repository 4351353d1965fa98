"""One SP-API client per Amazon account, all sharing the database-backed rate limiter."""

from __future__ import annotations

import threading
from decimal import Decimal

import requests
from sqlalchemy import Engine

from sidecar.amazon.client import SpApiClient
from sidecar.amazon.ratelimit import Limit, RateLimiter, bucket_key
from sidecar.config import AmazonAccount


def account_bucket(account: AmazonAccount) -> str:
    """What Amazon counts this account's calls against: seller (or token) and application."""
    creds = account.credentials
    return bucket_key(account.seller_id, creds.refresh_token.reveal(), creds.lwa_client_id)


class ClientFactory:
    def __init__(self, engine: Engine, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter(engine)
        self._clients: dict[str, SpApiClient] = {}
        self._lock = threading.Lock()

    def __call__(self, account: AmazonAccount) -> SpApiClient:
        with self._lock:
            client = self._clients.get(account.account_id)
            if client is None:
                self.limiter.register(account.account_id, account_bucket(account))
                if account.rate_overrides:
                    self.limiter.set_limits(
                        account.account_id,
                        {
                            op: Limit(Decimal(rate), burst)
                            for op, (rate, burst) in account.rate_overrides.items()
                        },
                    )
                client = SpApiClient(
                    account.account_id,
                    account.credentials,
                    self.limiter,
                    session=requests.Session(),
                    upload_hosts=account.settings.upload_hosts,
                )
                self._clients[account.account_id] = client
            return client
