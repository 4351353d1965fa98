"""Configuration and clocks of the SP-API emulator.

Everything that differs between tests, the demo and benchmarks lives in
:class:`EmulatorConfig`; time comes from a :class:`Clock` so tests never sleep
(:class:`ManualClock`).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

ENV_XSD_DIR = "AMAZON_XSD_DIR"

#: Amazon's documented default usage plans: operation -> (requests per second, burst).
DEFAULT_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeeds": (0.0222, 10),
    "cancelFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "confirmShipment": (2.0, 10),
}

#: Every operation name the emulator knows (rate limits and faults are keyed by these).
#: ``lwaToken`` is the LWA token exchange, ``uploadFeedDocument`` the PUT to the presigned
#: URL and ``downloadFeedDocument`` the GET of a document URL (neither is rate limited).
OPERATIONS: frozenset[str] = frozenset(DEFAULT_RATE_LIMITS) | {
    "lwaToken", "uploadFeedDocument", "downloadFeedDocument",
}

DEFAULT_SELLER_ID = "A1EXAMPLESELLER"
DEFAULT_CLIENT_ID = "amzn1.application-oa2-client.emulator"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"  # noqa: S105 - fake, loopback only
DEFAULT_REFRESH_TOKEN = "Atzr|emulator-refresh-token"  # noqa: S105 - fake, loopback only
DEFAULT_AWS_ACCESS_KEY_ID = "AKIAEMULATOREXAMPLE"
DEFAULT_AWS_SECRET_ACCESS_KEY = "emulator/aws/secret/key"  # noqa: S105 - fake


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: float | datetime = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) -> None:
        if isinstance(start, datetime):
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            start = start.timestamp()
        self._now = float(start)  # epoch seconds
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        with self._lock:
            self._now = when.timestamp()


def _env_xsd_dir() -> Path | None:
    value = os.environ.get(ENV_XSD_DIR)
    return Path(value) if value else None


@dataclass(frozen=True)
class LwaClient:
    """One LWA application: its client id/secret and the refresh tokens it may exchange.

    ``refresh_tokens`` maps each refresh token to the selling partner (seller id) that
    authorised the application.
    """

    client_id: str
    client_secret: str
    refresh_tokens: dict[str, str]


def _default_lwa_clients() -> tuple[LwaClient, ...]:
    return (LwaClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
                      {DEFAULT_REFRESH_TOKEN: DEFAULT_SELLER_ID}),)


def _default_aws_credentials() -> dict[str, str]:
    return {DEFAULT_AWS_ACCESS_KEY_ID: DEFAULT_AWS_SECRET_ACCESS_KEY}


@dataclass
class EmulatorConfig:
    """Knobs of the emulator. Defaults suit tests: feeds finish on the first getFeed."""

    #: AWS region whose SigV4 signatures are accepted (service ``execute-api``).
    region: str = "us-east-1"
    lwa_clients: tuple[LwaClient, ...] = field(default_factory=_default_lwa_clients)
    #: IAM access key id -> secret key, used to verify SigV4 signatures when present.
    aws_credentials: dict[str, str] = field(default_factory=_default_aws_credentials)
    access_token_ttl: int = 3600
    #: Per-operation (rate, burst) overrides of :data:`DEFAULT_RATE_LIMITS`.
    rate_limits: dict[str, tuple[float, int]] = field(default_factory=dict)
    rate_limiting: bool = True
    #: A feed is processed on the getFeed poll after this many IN_PROGRESS polls ...
    processing_polls: int = 0
    #: ... and not before this many seconds after its creation.
    processing_seconds: float = 0.0
    #: Directory with amzn-envelope.xsd; None: no XSD validation (default: $AMAZON_XSD_DIR).
    xsd_dir: Path | None = field(default_factory=_env_xsd_dir)
    #: Store processing reports gzip-compressed (compressionAlgorithm GZIP).
    gzip_reports: bool = False
    #: Base URL put into presigned document URLs; None: the URL the request came in on.
    public_url: str | None = None
    presigned_url_ttl: int = 300
    #: Amazon's limit for one feed document.
    max_feed_bytes: int = 10 * 1024 * 1024
    #: Secret that signs the presigned document URLs.
    url_signing_key: bytes = b"emulator-presign-key"
    #: Random faults (reliability tests): operation -> {fault kind: probability}, rolled
    #: once per call when no injected fault applies. Empty (default): no random faults.
    random_faults: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Seed of the random fault rolls (None: not reproducible).
    random_fault_seed: int | None = None
    #: Amazon processes a feed nobody polls (its createFeed answer was lost): a feed still
    #: IN_QUEUE / IN_PROGRESS this many seconds after its creation is processed on the next
    #: getFeed or getFeeds. None (default): only getFeed polls move a feed.
    auto_process_seconds: float | None = None
    #: ``seconds`` of random hang / hang_after faults.
    random_fault_seconds: float = 0.0

    def rate_limit(self, operation: str) -> tuple[float, int] | None:
        if operation in self.rate_limits:
            return self.rate_limits[operation]
        return DEFAULT_RATE_LIMITS.get(operation)
