"""SP-API client: Feeds API 2021-06-30, Orders API v2026-01-01 reads, Orders v0 confirmShipment.

One :class:`SpApiClient` per account. Each method is one Amazon operation, named like it.

Retries:

* **429**: the shared bucket is penalized (Retry-After when Amazon sends one, else the time
  one token takes to refill) and the call waits for a token again; a 429 means Amazon did
  not process the request, so every operation may retry it (``createFeed`` too).
* **5xx, timeouts, connection errors**: retried with exponential backoff and jitter, up to
  ``max_attempts``, for IDEMPOTENT operations only (the reads, ``createFeedDocument``,
  ``cancelFeed``, ``confirmShipment`` which Amazon de-duplicates by ``packageReferenceId``,
  and the document PUT/GET). ``createFeed`` is not idempotent: after a read timeout, a
  broken connection or a 5xx Amazon may or may not have created the feed, so the client
  raises :class:`OutcomeUnknown` and the caller reconciles with ``getFeeds``. Only a connect
  timeout / refused connection (nothing was sent) is retried for ``createFeed``.
* **401 / 403**: the cached LWA token is dropped and the call is sent once more with a
  fresh one (Amazon processed nothing, so this is safe for ``createFeed`` too); a second
  401/403 is an :class:`SpApiError`.
* **other 4xx**: :class:`SpApiError` with Amazon's code and message.

Uploads go only to Amazon's document hosts over https (:data:`AMAZON_UPLOAD_HOST`), or to
the origins an account lists in ``upload_hosts`` (the emulator): any other URL is refused
with :class:`UnsafeUploadUrl` before a byte is sent.

Every HTTP call logs one line: operation, HTTP status, ``x-amzn-RequestId``, duration in
ms. Tokens, secrets and URLs (presigned URLs carry credentials in their query) are never
logged.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from sidecar.amazon.auth import LwaError, LwaTokenProvider
from sidecar.amazon.credentials import AccountCredentials
from sidecar.amazon.isotime import format_time, parse_time
from sidecar.amazon.ratelimit import RateLimiter, RateLimitWaitTooLong
from sidecar.amazon.signing import USER_AGENT, RequestSigner

log = logging.getLogger(__name__)

FEEDS = "/feeds/2021-06-30"
ORDERS_2026 = "/orders/2026-01-01"
ORDERS_V0 = "/orders/v0"

#: includedData for getOrder: what order_state_from_api needs (status + channel, money,
#: buyer cancellation requests). Model enum: BUYER, RECIPIENT, PROCEEDS, EXPENSE, PROMOTION,
#: CANCELLATION, FULFILLMENT, PACKAGES, TAX, PAYMENT, FULFILLMENT_ORDERS.
ORDER_INCLUDED_DATA: tuple[str, ...] = ("PROCEEDS", "FULFILLMENT", "CANCELLATION")
INCLUDED_DATA_VALUES = frozenset({
    "BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
    "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS",
})
FEED_PROCESSING_STATUSES = frozenset({"CANCELLED", "DONE", "FATAL", "IN_PROGRESS", "IN_QUEUE"})
FULFILLMENT_STATUSES = frozenset({
    "PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED",
    "CANCELLED", "UNFULFILLABLE",
})

# a processing report is small; anything near this is broken or hostile
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024

#: Amazon's feed document buckets (presigned S3 URLs from createFeedDocument), e.g.
#: tortuga-prod-na.s3.amazonaws.com, tortuga-prod-na.s3-external-1.amazonaws.com,
#: tortuga-prod-eu.s3-eu-west-1.amazonaws.com, tortuga-prod-fe.s3-us-west-2.amazonaws.com.
#: The bucket name is matched whole, so no other bucket (whoever owns it) can pass.
AMAZON_UPLOAD_HOST = re.compile(
    r"tortuga-prod-(?:na|eu|fe)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com")

JsonObject = dict[str, Any]


# --------------------------------------------------------------------------- errors


class SpApiError(RuntimeError):
    """Amazon refused the request (or kept failing). ``status`` 0: no HTTP response."""

    def __init__(
        self, operation: str, status: int, code: str | None, message: str,
        request_id: str | None = None, details: str | None = None,
    ) -> None:
        text = f"{operation}: HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if details:
            text += f" ({details})"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details


class Throttled(SpApiError):
    """429 even after retrying, or the limiter's wait is longer than allowed."""

    def __init__(self, operation: str, message: str, retry_after_s: float,
                 request_id: str | None = None) -> None:
        super().__init__(operation, 429, "QuotaExceeded", message, request_id)
        self.retry_after_s = retry_after_s


class SpApiUnavailable(SpApiError):
    """5xx / timeouts / connection errors on an idempotent call, after all attempts."""


class UnsafeUploadUrl(SpApiError):
    """createFeedDocument returned an upload URL that is not an allowed https host."""

    def __init__(self, reason: str) -> None:
        super().__init__("uploadFeedDocument", 0, "UnsafeUploadUrl", reason)


def check_upload_url(url: str, allowed: Sequence[str] = ()) -> None:
    """Raise :class:`UnsafeUploadUrl` unless ``url`` may receive the feed's bytes.

    ``allowed`` empty: https to an Amazon document host only. Otherwise each entry is an
    origin, ``scheme://host[:port]`` (``http://127.0.0.1:8123`` for the emulator), or a
    bare ``host[:port]`` meaning https; the URL's origin must equal one of them. The URL
    itself is never quoted in the error (its query holds the presigned credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUploadUrl("the upload URL cannot be parsed") from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if parts.username is not None or parts.password is not None:
        raise UnsafeUploadUrl(f"the upload URL for {host} carries user info")
    if not allowed:
        if scheme != "https" or port not in (None, 443) or not AMAZON_UPLOAD_HOST.fullmatch(host):
            raise UnsafeUploadUrl(
                f"upload URL {scheme}://{host} is not an Amazon feed document host over https")
        return
    default_port = {"https": 443, "http": 80}.get(scheme)
    origin = f"{scheme}://{host}" + (f":{port}" if port not in (None, default_port) else "")
    for entry in allowed:
        want = entry.strip().lower().rstrip("/")
        if "://" not in want:
            want = f"https://{want}"
        if origin == want:
            return
    raise UnsafeUploadUrl(f"upload URL {origin} is not in the account's upload_hosts")


class OutcomeUnknown(RuntimeError):
    """A non-idempotent call (createFeed) may or may not have taken effect.

    Do not resend: find out (createFeed: ``getFeeds`` for the feed type since
    ``sent_at``) and only then decide."""

    def __init__(self, operation: str, reason: str, sent_at: datetime,
                 status: int | None = None, request_id: str | None = None) -> None:
        super().__init__(f"{operation}: outcome unknown ({reason}); reconcile before retrying")
        self.operation = operation
        self.reason = reason
        self.sent_at = sent_at  # naive UTC, just before the request went out
        self.status = status
        self.request_id = request_id


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Feed:
    """Feeds API ``Feed``; times naive UTC."""

    feed_id: str
    feed_type: str
    processing_status: str  # CANCELLED | DONE | FATAL | IN_PROGRESS | IN_QUEUE
    created_time: datetime
    processing_start_time: datetime | None = None
    processing_end_time: datetime | None = None
    result_feed_document_id: str | None = None
    marketplace_ids: tuple[str, ...] = ()

    @property
    def is_final(self) -> bool:
        return self.processing_status in ("DONE", "CANCELLED", "FATAL")

    @classmethod
    def from_api(cls, doc: Mapping[str, Any]) -> Feed:
        def opt_time(key: str) -> datetime | None:
            raw = doc.get(key)
            return parse_time(raw) if isinstance(raw, str) and raw else None

        try:
            return cls(
                feed_id=str(doc["feedId"]),
                feed_type=str(doc["feedType"]),
                processing_status=str(doc["processingStatus"]),
                created_time=parse_time(str(doc["createdTime"])),
                processing_start_time=opt_time("processingStartTime"),
                processing_end_time=opt_time("processingEndTime"),
                result_feed_document_id=(str(doc["resultFeedDocumentId"])
                                         if doc.get("resultFeedDocumentId") else None),
                marketplace_ids=tuple(str(m) for m in doc.get("marketplaceIds") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed Feed object from SP-API: {exc}") from None


@dataclass(frozen=True)
class _Op:
    name: str  # Amazon's operationId (the rate-limit key)
    method: str
    idempotent: bool


OPERATIONS: Mapping[str, _Op] = {
    op.name: op for op in (
        _Op("createFeedDocument", "POST", True),
        _Op("createFeed", "POST", False),
        _Op("getFeed", "GET", True),
        _Op("getFeeds", "GET", True),
        _Op("cancelFeed", "DELETE", True),
        _Op("getFeedDocument", "GET", True),
        _Op("getOrder", "GET", True),
        _Op("searchOrders", "GET", True),
        _Op("confirmShipment", "POST", True),
    )
}


# --------------------------------------------------------------------------- helpers

_QUERY_SAFE = "-_.~"


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """RFC 3986 encoding as SigV4 canonicalises it (space -> %20, ',' -> %2C)."""
    return "&".join(f"{quote(k, safe=_QUERY_SAFE)}={quote(v, safe=_QUERY_SAFE)}"
                    for k, v in params)


def _csv(values: Iterable[str]) -> str:
    """Array query parameters: the models use Swagger's default collectionFormat, csv."""
    return ",".join(values)


def _path(value: str) -> str:
    return quote(value, safe="")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)  # Retry-After seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (safe to resend)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason: object = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", None)
        return isinstance(inner, NewConnectionError) or isinstance(reason, NewConnectionError)
    return False


def _json(resp: requests.Response) -> Any:
    if not resp.content:
        return None
    return json.loads(resp.content, parse_float=Decimal)


def _error_of(resp: requests.Response) -> tuple[str | None, str, str | None]:
    try:
        body = _json(resp)
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return (
                str(first.get("code")) if first.get("code") is not None else None,
                str(first.get("message") or ""),
                str(first["details"]) if first.get("details") else None,
            )
    text = resp.text[:300].strip() if resp.content else ""
    return None, text or resp.reason or "", None


class _UrlRedactFilter:
    """urllib3 logs 'GET /path?query' at DEBUG; presigned URLs carry credentials there."""

    _re = re.compile(r"\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(self._re.sub("?***", a) if isinstance(a, str) else a
                                for a in args)
        return True


_url_filter_lock = threading.Lock()
_url_filter_installed = False


def install_urllib3_redaction() -> None:
    global _url_filter_installed
    with _url_filter_lock:
        if not _url_filter_installed:
            logging.getLogger("urllib3.connectionpool").addFilter(_UrlRedactFilter())
            _url_filter_installed = True


# --------------------------------------------------------------------------- the client


class SpApiClient:
    """Selling Partner API calls for one account."""

    def __init__(
        self,
        account_id: str,
        credentials: AccountCredentials,
        limiter: RateLimiter,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        *,
        tokens: LwaTokenProvider | None = None,
        max_attempts: int = 5,
        max_throttle_retries: int = 6,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_rate_wait_s: float | None = 300.0,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        upload_hosts: Sequence[str] = (),
    ) -> None:
        self.account_id = account_id
        self._upload_hosts = tuple(upload_hosts)
        self._creds = credentials
        self._limiter = limiter
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout
        self._tokens = tokens if tokens is not None else LwaTokenProvider(
            self._session, timeout=timeout)
        self._signer = RequestSigner(account_id, credentials)
        self._max_attempts = max(1, max_attempts)
        self._max_throttle = max(0, max_throttle_retries)
        self._backoff_base = backoff_base_s
        self._backoff_cap = backoff_cap_s
        self._max_rate_wait = max_rate_wait_s
        self._sleep = sleep if sleep is not None else limiter.sleep
        self._rng = rng or random.Random()  # jitter, not crypto
        self._clock = clock
        install_urllib3_redaction()

    def __repr__(self) -> str:
        return f"SpApiClient(account_id={self.account_id!r}, endpoint={self._creds.endpoint!r})"

    # ---------------------------------------------------------------- Feeds API

    def create_feed_document(self, content_type: str) -> tuple[str, str]:
        """createFeedDocument -> (feedDocumentId, presigned upload url)."""
        body = self._call("createFeedDocument", f"{FEEDS}/documents",
                          json_body={"contentType": content_type}, expect=(201, 200))
        doc = self._object(body, "createFeedDocument")
        return str(doc["feedDocumentId"]), str(doc["url"])

    def upload_feed_document(self, url: str, content: bytes, content_type: str) -> None:
        """PUT the bytes to the presigned URL: exactly ``content_type``, no auth headers.
        Only to an allowed host over https (:func:`check_upload_url`)."""
        check_upload_url(url, self._upload_hosts)
        self._raw("uploadFeedDocument", "PUT", url, data=content,
                  headers={"Content-Type": content_type})

    def create_feed(self, feed_type: str, marketplace_ids: Sequence[str],
                    input_feed_document_id: str,
                    feed_options: Mapping[str, str] | None = None) -> str:
        """createFeed -> feedId. May raise :class:`OutcomeUnknown` (never resent blindly)."""
        spec: JsonObject = {
            "feedType": feed_type,
            "marketplaceIds": list(marketplace_ids),
            "inputFeedDocumentId": input_feed_document_id,
        }
        if feed_options:
            spec["feedOptions"] = dict(feed_options)
        sent_at = datetime.now(UTC).replace(tzinfo=None)
        body = self._call("createFeed", f"{FEEDS}/feeds", json_body=spec, expect=(202, 200))
        if not isinstance(body, dict) or not body.get("feedId"):
            # Amazon answered 2xx, so the feed may well exist: find out, never resend
            raise OutcomeUnknown("createFeed", "2xx answer without a feedId", sent_at)
        return str(body["feedId"])

    def get_feed(self, feed_id: str) -> Feed:
        body = self._call("getFeed", f"{FEEDS}/feeds/{_path(feed_id)}")
        return Feed.from_api(self._object(body, "getFeed"))

    def get_feeds(
        self,
        feed_types: Sequence[str] = (),
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        processing_statuses: Sequence[str] | None = None,
        next_token: str | None = None,
        *,
        marketplace_ids: Sequence[str] | None = None,
        page_size: int | None = None,
    ) -> tuple[list[Feed], str | None]:
        """getFeeds -> (feeds, nextToken). With ``next_token`` it is sent alone (as the
        model requires); otherwise ``feed_types`` is required."""
        params: list[tuple[str, str]] = []
        if next_token:
            params.append(("nextToken", next_token))
        else:
            if not feed_types:
                raise ValueError("getFeeds needs feed_types or next_token")
            params.append(("feedTypes", _csv(feed_types)))
            if marketplace_ids:
                params.append(("marketplaceIds", _csv(marketplace_ids)))
            if page_size is not None:
                params.append(("pageSize", str(page_size)))
            if processing_statuses:
                unknown = set(processing_statuses) - FEED_PROCESSING_STATUSES
                if unknown:
                    raise ValueError(f"unknown processingStatuses: {sorted(unknown)}")
                params.append(("processingStatuses", _csv(processing_statuses)))
            if created_since is not None:
                params.append(("createdSince", format_time(created_since)))
            if created_until is not None:
                params.append(("createdUntil", format_time(created_until)))
        body = self._object(self._call("getFeeds", f"{FEEDS}/feeds", params=params),
                            "getFeeds")
        feeds = [Feed.from_api(f) for f in body.get("feeds") or ()]
        token = body.get("nextToken")
        return feeds, (str(token) if token else None)

    def get_feed_document(self, feed_document_id: str) -> tuple[str, str | None]:
        """getFeedDocument -> (presigned download url, compressionAlgorithm or None)."""
        body = self._object(
            self._call("getFeedDocument", f"{FEEDS}/documents/{_path(feed_document_id)}"),
            "getFeedDocument")
        algorithm = body.get("compressionAlgorithm")
        return str(body["url"]), (str(algorithm) if algorithm else None)

    def download(self, url: str, max_bytes: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """GET a presigned document URL (no SP-API headers), bytes as stored.

        Read with a cap: an HTTP-level gzip (Content-Encoding) would otherwise be inflated
        without bound before any check of ours could run."""
        resp = self._raw("downloadFeedDocument", "GET", url, stream=True)
        try:
            data: bytes = resp.raw.read(max_bytes + 1, decode_content=True)
        finally:
            resp.close()
        if len(data) > max_bytes:
            raise SpApiError("downloadFeedDocument", resp.status_code, "TooLarge",
                             f"the document is larger than {max_bytes} bytes")
        return data

    def fetch_feed_document(self, feed_document_id: str) -> bytes:
        """getFeedDocument + download + gunzip when compressionAlgorithm is GZIP."""
        url, algorithm = self.get_feed_document(feed_document_id)
        data = self.download(url)
        if algorithm == "GZIP":
            return gzip.decompress(data)
        if algorithm:
            raise SpApiError("getFeedDocument", 200, "UnsupportedCompression",
                             f"unknown compressionAlgorithm {algorithm!r}")
        return data

    def cancel_feed(self, feed_id: str) -> None:
        self._call("cancelFeed", f"{FEEDS}/feeds/{_path(feed_id)}")

    # ---------------------------------------------------------------- Orders API

    def get_order(self, order_id: str,
                  included_data: Sequence[str] = ORDER_INCLUDED_DATA) -> JsonObject:
        """getOrder (v2026-01-01) -> the ``order`` object (amounts are strings)."""
        params: list[tuple[str, str]] = []
        if included_data:
            unknown = set(included_data) - INCLUDED_DATA_VALUES
            if unknown:
                raise ValueError(f"unknown includedData values: {sorted(unknown)}")
            params.append(("includedData", _csv(included_data)))
        body = self._object(
            self._call("getOrder", f"{ORDERS_2026}/orders/{_path(order_id)}", params=params),
            "getOrder")
        order = body.get("order")
        if not isinstance(order, dict):
            raise SpApiError("getOrder", 200, "MalformedResponse", "response has no order")
        return order

    def search_orders(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        last_updated_after: datetime | None = None,
        last_updated_before: datetime | None = None,
        fulfillment_statuses: Sequence[str] | None = None,
        marketplace_ids: Sequence[str] | None = None,
        fulfilled_by: Sequence[str] | None = None,
        max_results_per_page: int | None = None,
        pagination_token: str | None = None,
        included_data: Sequence[str] = ORDER_INCLUDED_DATA,
    ) -> tuple[list[JsonObject], str | None]:
        """searchOrders (v2026-01-01) -> (orders, pagination.nextToken).

        Exactly one of ``created_after`` / ``last_updated_after`` (the model's rule); pass
        the same filters again with ``pagination_token`` for the next page."""
        if (created_after is None) == (last_updated_after is None):
            raise ValueError("searchOrders needs exactly one of created_after, "
                             "last_updated_after")
        if created_after is not None and last_updated_before is not None:
            raise ValueError("created_after cannot be combined with last_updated_before")
        if last_updated_after is not None and created_before is not None:
            raise ValueError("last_updated_after cannot be combined with created_before")
        params: list[tuple[str, str]] = []
        for key, when in (("createdAfter", created_after), ("createdBefore", created_before),
                          ("lastUpdatedAfter", last_updated_after),
                          ("lastUpdatedBefore", last_updated_before)):
            if when is not None:
                params.append((key, format_time(when)))
        if fulfillment_statuses:
            unknown = set(fulfillment_statuses) - FULFILLMENT_STATUSES
            if unknown:
                raise ValueError(f"unknown fulfillmentStatuses: {sorted(unknown)}")
            params.append(("fulfillmentStatuses", _csv(fulfillment_statuses)))
        if marketplace_ids:
            params.append(("marketplaceIds", _csv(marketplace_ids)))
        if fulfilled_by:
            params.append(("fulfilledBy", _csv(fulfilled_by)))
        if max_results_per_page is not None:
            params.append(("maxResultsPerPage", str(max_results_per_page)))
        if pagination_token:
            params.append(("paginationToken", pagination_token))
        if included_data:
            params.append(("includedData", _csv(included_data)))
        body = self._object(self._call("searchOrders", f"{ORDERS_2026}/orders", params=params),
                            "searchOrders")
        orders = [o for o in body.get("orders") or () if isinstance(o, dict)]
        pagination = body.get("pagination")
        token = pagination.get("nextToken") if isinstance(pagination, dict) else None
        return orders, (str(token) if token else None)

    def confirm_shipment(self, order_id: str, payload: Mapping[str, Any]) -> None:
        """confirmShipment (Orders v0): ``payload`` is a ConfirmShipmentRequest; 204."""
        self._call("confirmShipment", f"{ORDERS_V0}/orders/{_path(order_id)}/shipmentConfirmation",
                   json_body=dict(payload), expect=(204, 200))

    # ---------------------------------------------------------------- transport

    @staticmethod
    def _object(body: Any, operation: str) -> JsonObject:
        if not isinstance(body, dict):
            raise SpApiError(operation, 200, "MalformedResponse", "expected a JSON object")
        return body

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: uniform(c/2, c), c = min(cap, base * 2**(n-1))."""
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _log(self, operation: str, status: int | str, request_id: str | None,
             started: float, attempt: int) -> None:
        log.info("sp-api %s status=%s request_id=%s duration_ms=%d attempt=%d account=%s",
                 operation, status, request_id or "-",
                 int((self._clock() - started) * 1000), attempt, self.account_id)

    def _call(
        self,
        operation: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        json_body: Any = None,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        op = OPERATIONS[operation]
        url = self._creds.endpoint + path
        if params:
            url += "?" + encode_query(params)
        data = (json.dumps(json_body, separators=(",", ":"), default=str).encode()
                if json_body is not None else None)
        attempt = 0  # attempts that failed with 5xx / network errors
        throttles = 0
        refreshed = False  # a 401/403 is answered with one fresh LWA token
        while True:
            try:
                # a non-idempotent call never waits long: its caller holds a lease and
                # must be done well before anyone may reconcile it (docs/feeds.md)
                self._limiter.acquire(self.account_id, operation,
                                      max_wait_s=self._max_rate_wait if op.idempotent else 0.0)
            except RateLimitWaitTooLong as exc:
                raise Throttled(operation, str(exc), exc.wait_s) from None
            try:
                token = self._tokens.access_token(self.account_id, self._creds)
            except LwaError as exc:
                # nothing was sent to SP-API: retrying is safe for every operation
                attempt += 1
                if not exc.retryable or attempt >= self._max_attempts:
                    raise
                self._sleep(self._backoff(attempt))
                continue
            headers = self._signer.headers(
                op.method, url, token, body=data,
                content_type="application/json" if data is not None else None,
            )
            headers["accept"] = "application/json"  # not signed
            sent_at = datetime.now(UTC).replace(tzinfo=None)
            started = self._clock()
            try:
                resp = self._send(op.method, url, data, headers)
            except requests.RequestException as exc:
                self._log(operation, type(exc).__name__, None, started, attempt + 1)
                attempt += 1
                if not op.idempotent and not _not_sent(exc):
                    raise OutcomeUnknown(operation, type(exc).__name__, sent_at) from None
                if attempt >= self._max_attempts:
                    raise SpApiUnavailable(operation, 0, type(exc).__name__,
                                           "no response from SP-API") from None
                self._sleep(self._backoff(attempt))
                continue
            request_id = resp.headers.get("x-amzn-RequestId")
            self._log(operation, resp.status_code, request_id, started, attempt + 1)
            if resp.status_code in expect or 200 <= resp.status_code < 300:  # 2xx = success
                try:
                    return _json(resp)
                except ValueError:
                    if not op.idempotent:
                        raise OutcomeUnknown(operation, "unreadable response body", sent_at,
                                             resp.status_code, request_id) from None
                    raise SpApiError(operation, resp.status_code, "MalformedResponse",
                                     "response body is not JSON", request_id) from None
            if resp.status_code == 429:
                throttles += 1
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                blocked = self._limiter.penalize(self.account_id, operation, retry_after)
                if throttles > self._max_throttle or not op.idempotent:
                    code, message, _ = _error_of(resp)
                    raise Throttled(operation, message or "QuotaExceeded", blocked,
                                    request_id)
                continue  # acquire() above waits for the penalty / refill
            if resp.status_code >= 500:
                attempt += 1
                code, message, details = _error_of(resp)
                if not op.idempotent:
                    raise OutcomeUnknown(operation, f"HTTP {resp.status_code}", sent_at,
                                         resp.status_code, request_id)
                if attempt >= self._max_attempts:
                    raise SpApiUnavailable(operation, resp.status_code, code, message,
                                           request_id, details)
                self._sleep(self._backoff(attempt))
                continue
            code, message, details = _error_of(resp)
            if resp.status_code in (401, 403):
                # an expired or revoked access token: Amazon processed nothing, so every
                # operation (createFeed too) may be sent again, once, with a fresh token
                self._tokens.invalidate(self.account_id)
                if not refreshed:
                    refreshed = True
                    continue
            raise SpApiError(operation, resp.status_code, code, message, request_id, details)

    def _send(self, method: str, url: str, data: bytes | None,
              headers: Mapping[str, str], *, stream: bool = False) -> requests.Response:
        """Send exactly these headers: a bare prepared request, so no session auth, cookie
        or ~/.netrc credential is added (presigned URLs must carry no Authorization)."""
        prepared = requests.Request(method, url, data=data, headers=dict(headers)).prepare()
        return self._session.send(prepared, timeout=self._timeout, allow_redirects=False,
                                  stream=stream)

    def _raw(self, operation: str, method: str, url: str, *, data: bytes | None = None,
             headers: Mapping[str, str] | None = None, stream: bool = False,
             ) -> requests.Response:
        """A presigned-URL request: no token, no signature, no Authorization header."""
        attempt = 0
        send_headers = {"User-Agent": USER_AGENT}
        send_headers.update(headers or {})
        while True:
            started = self._clock()
            try:
                resp = self._send(method, url, data, send_headers, stream=stream)
            except requests.RequestException as exc:
                self._log(operation, type(exc).__name__, None, started, attempt + 1)
                attempt += 1
                if attempt >= self._max_attempts:
                    raise SpApiUnavailable(operation, 0, type(exc).__name__,
                                           "no response from the document store") from None
                self._sleep(self._backoff(attempt))
                continue
            request_id = (resp.headers.get("x-amz-request-id")
                          or resp.headers.get("x-amzn-RequestId"))
            self._log(operation, resp.status_code, request_id, started, attempt + 1)
            if 200 <= resp.status_code < 300:
                return resp
            resp.close()
            # the body of a document-store error may quote the presigned request: keep it out
            code, message, details = None, resp.reason or "", None
            if resp.status_code >= 500 or resp.status_code == 429:
                attempt += 1
                if attempt < self._max_attempts:
                    self._sleep(self._backoff(attempt))
                    continue
                raise SpApiUnavailable(operation, resp.status_code, code, message,
                                       request_id, details)
            raise SpApiError(operation, resp.status_code, code, message, request_id, details)
