"""Login with Amazon (LWA): exchange an account's refresh token for an access token.

One :class:`LwaTokenProvider` serves every account of the process. It caches each account's
access token and refreshes it ``refresh_margin_s`` (60 s) before ``expires_in`` runs out.
Concurrent callers for the same account wait for one exchange instead of each starting their
own. Errors (:class:`LwaError`) carry LWA's ``error`` code and description, never the refresh
token, client secret or access token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import requests

from sidecar.amazon.credentials import AccountCredentials, Secret

log = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN_S = 60.0
DEFAULT_EXPIRES_IN_S = 3600


class LwaError(RuntimeError):
    """The token exchange failed. ``retryable``: a network error or 5xx/429 from LWA."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable


@dataclass(frozen=True)
class AccessToken:
    token: Secret
    expires_at: float  # value of the provider's clock

    def __repr__(self) -> str:
        return f"AccessToken(token=***, expires_at={self.expires_at:.3f})"


def _scrub(text: str, creds: AccountCredentials) -> str:
    """Remove any secret value that a server might have echoed back."""
    for secret in (creds.refresh_token, creds.lwa_client_secret):
        value = secret.reveal()
        if value:
            text = text.replace(value, "***")
    return text


class LwaTokenProvider:
    """Access tokens per account, cached and refreshed shortly before they expire."""

    def __init__(
        self,
        session: requests.Session | None = None,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session or requests.Session()
        self._timeout = timeout
        self._margin = refresh_margin_s
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def access_token(self, account_id: str, creds: AccountCredentials) -> Secret:
        """A valid access token for ``account_id`` (from the cache or a fresh exchange)."""
        cached = self._tokens.get(account_id)
        if cached is not None and self._clock() < cached.expires_at - self._margin:
            return cached.token
        with self._lock_for(account_id):
            cached = self._tokens.get(account_id)  # another thread may have refreshed it
            if cached is not None and self._clock() < cached.expires_at - self._margin:
                return cached.token
            fresh = self._exchange(account_id, creds)
            self._tokens[account_id] = fresh
            return fresh.token

    def invalidate(self, account_id: str) -> None:
        """Forget the cached token (e.g. after Amazon said it expired)."""
        self._tokens.pop(account_id, None)

    def _exchange(self, account_id: str, creds: AccountCredentials) -> AccessToken:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token.reveal(),
            "client_id": creds.lwa_client_id,
            "client_secret": creds.lwa_client_secret.reveal(),
        }
        started = self._clock()
        wall = time.monotonic()
        try:
            resp = self._session.post(
                creds.lwa_url, data=form, timeout=self._timeout,
                headers={"Accept": "application/json"},
                # a 307/308 would re-POST the refresh token and client secret to wherever
                # it points (another host, plain http): a redirect is an error here
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("lwa token exchange account=%s failed: %s", account_id,
                        type(exc).__name__)
            raise LwaError(
                f"LWA token exchange for account {account_id} failed: {type(exc).__name__}",
                retryable=True,
            ) from None
        duration_ms = int((time.monotonic() - wall) * 1000)
        log.info("lwa token exchange account=%s status=%d duration_ms=%d",
                 account_id, resp.status_code, duration_ms)
        try:
            body = resp.json(parse_float=Decimal)
        except ValueError:
            body = None
        if resp.status_code != 200 or not isinstance(body, dict):
            code = str(body.get("error", "")) if isinstance(body, dict) else ""
            desc = str(body.get("error_description", "")) if isinstance(body, dict) else ""
            message = _scrub(
                f"LWA token exchange for account {account_id} failed: HTTP {resp.status_code}"
                + (f" {code}" if code else "") + (f": {desc}" if desc else ""),
                creds,
            )
            raise LwaError(
                message, status=resp.status_code, code=code or None,
                retryable=resp.status_code == 429 or resp.status_code >= 500,
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise LwaError(f"LWA response for account {account_id} has no access_token",
                           status=resp.status_code)
        expires_in = body.get("expires_in", DEFAULT_EXPIRES_IN_S)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            seconds = float(DEFAULT_EXPIRES_IN_S)
        return AccessToken(Secret(token), started + seconds)
