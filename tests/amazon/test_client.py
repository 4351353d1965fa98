"""SpApiClient against the fake Amazon over real loopback HTTP."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sidecar.amazon.client import (
    Feed,
    OutcomeUnknown,
    SpApiError,
    SpApiUnavailable,
    Throttled,
    UnsafeUploadUrl,
    check_upload_url,
    encode_query,
    parse_retry_after,
)
from sidecar.amazon.ratelimit import RateLimiter
from sidecar.amazon.signing import USER_AGENT
from tests.amazon.conftest import ACCOUNT, ClientFactory, make_creds
from tests.amazon.fakes import (
    AWS_SECRET,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    UPLOAD_SIG,
    FakeAmazon,
    FakeClock,
    Reply,
)

XML = b'<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope/>'
CT = "text/xml; charset=UTF-8"
SECRETS = (REFRESH_TOKEN, CLIENT_SECRET, AWS_SECRET, "Atza|fake-", UPLOAD_SIG)


def _assert_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        text = record.getMessage()
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked in log line {text!r}"


def test_full_feed_flow(fake: FakeAmazon, make_client: ClientFactory,
                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    doc_id, url = client.create_feed_document(CT)
    client.upload_feed_document(url, XML, CT)
    feed_id = client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], doc_id)
    assert fake.documents[doc_id] == XML
    assert fake.feeds[feed_id]["_input"] == doc_id

    upload = fake.calls("upload")[0]
    assert upload.headers["content-type"] == CT
    assert "authorization" not in upload.headers
    assert "x-amz-access-token" not in upload.headers

    create = fake.calls("createFeed")[0]
    assert json.loads(create.body) == {
        "feedType": "POST_PAYMENT_ADJUSTMENT_DATA", "marketplaceIds": ["A1PA6795UKMFR9"],
        "inputFeedDocumentId": doc_id,
    }
    for rec in fake.requests:
        if rec.op in ("createFeedDocument", "createFeed"):
            assert rec.headers["user-agent"] == USER_AGENT
            assert rec.headers["x-amz-access-token"].startswith("Atza|fake-")
            assert rec.sigv4 == "valid"

    fake.feeds[feed_id].update(processingStatus="DONE",
                               processingStartTime="2026-03-01T10:01:00.250Z",
                               processingEndTime="2026-03-01T10:02:00Z",
                               resultFeedDocumentId=fake.add_result_document(b"<r/>",
                                                                             compress=True))
    feed = client.get_feed(feed_id)
    assert feed == Feed(
        feed_id=feed_id, feed_type="POST_PAYMENT_ADJUSTMENT_DATA", processing_status="DONE",
        created_time=datetime(2026, 3, 1, 10, 0),
        processing_start_time=datetime(2026, 3, 1, 10, 1, 0, 250000),
        processing_end_time=datetime(2026, 3, 1, 10, 2),
        result_feed_document_id=feed.result_feed_document_id,
        marketplace_ids=("A1PA6795UKMFR9",),
    )
    assert feed.is_final
    assert feed.result_feed_document_id is not None
    _url, algo = client.get_feed_document(feed.result_feed_document_id)
    assert algo == "GZIP"
    assert client.fetch_feed_document(feed.result_feed_document_id) == b"<r/>"

    # one log line per call, with status and request id, and nothing secret
    lines = [r.getMessage() for r in caplog.records if r.name == "sidecar.amazon.client"]
    assert any(line.startswith("sp-api createFeed status=202 request_id=req-")
               for line in lines)
    assert any("uploadFeedDocument status=200" in line for line in lines)
    assert all("duration_ms=" in line for line in lines)
    _assert_no_secrets(caplog)


def test_get_feeds_query_and_paging(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client()
    fake.script("getFeeds", Reply(200, {"feeds": [{
        "feedId": "1", "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA",
        "createdTime": "2026-03-01T10:00:00Z", "processingStatus": "IN_PROGRESS"}],
        "nextToken": "tok+/="}), Reply(200, {"feeds": []}))
    feeds, token = client.get_feeds(["POST_ORDER_ACKNOWLEDGEMENT_DATA",
                                     "POST_PAYMENT_ADJUSTMENT_DATA"],
                                    datetime(2026, 3, 1, 9, 0), datetime(2026, 3, 1, 11, 0),
                                    processing_statuses=["IN_PROGRESS", "DONE"])
    assert [f.feed_id for f in feeds] == ["1"]
    assert token == "tok+/="
    first = fake.calls("getFeeds")[0]
    assert first.query == (
        "feedTypes=POST_ORDER_ACKNOWLEDGEMENT_DATA%2CPOST_PAYMENT_ADJUSTMENT_DATA"
        "&processingStatuses=IN_PROGRESS%2CDONE"
        "&createdSince=2026-03-01T09%3A00%3A00Z&createdUntil=2026-03-01T11%3A00%3A00Z"
    )
    assert first.sigv4 == "valid"
    feeds, token = client.get_feeds(next_token=token)
    assert feeds == [] and token is None
    assert fake.calls("getFeeds")[1].query == "nextToken=tok%2B%2F%3D"  # only the token
    with pytest.raises(ValueError, match="feed_types or next_token"):
        client.get_feeds()


def test_cancel_feed_and_confirm_shipment(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client()
    doc_id, _ = client.create_feed_document(CT)
    feed_id = client.create_feed("POST_ORDER_ACKNOWLEDGEMENT_DATA", ["A1PA6795UKMFR9"], doc_id)
    client.cancel_feed(feed_id)
    assert fake.feeds[feed_id]["processingStatus"] == "CANCELLED"
    payload = {"marketplaceId": "A1PA6795UKMFR9", "packageDetail": {
        "packageReferenceId": "SHIP-000000012", "carrierCode": "DHL",
        "trackingNumber": "JD0001", "shipDate": "2026-03-01T10:00:00Z",
        "orderItems": [{"orderItemId": "12345678901234", "quantity": 1}]}}
    client.confirm_shipment("302-1234567-1234567", payload)
    rec = fake.calls("confirmShipment")[0]
    assert rec.path == "/orders/v0/orders/302-1234567-1234567/shipmentConfirmation"
    assert rec.headers["content-type"] == "application/json"


def test_get_order_and_search_orders(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client()
    fake.orders["302-1234567-1234567"] = {"orderId": "302-1234567-1234567", "x": "1.10"}
    fake.orders["302-7654321-7654321"] = {"orderId": "302-7654321-7654321"}
    order = client.get_order("302-1234567-1234567")
    assert order["x"] == "1.10"
    rec = fake.calls("getOrder")[0]
    assert rec.path == "/orders/2026-01-01/orders/302-1234567-1234567"
    assert rec.query == "includedData=PROCEEDS%2CFULFILLMENT%2CCANCELLATION"
    assert rec.sigv4 == "valid"
    orders, token = client.search_orders(last_updated_after=datetime(2026, 3, 1),
                                         marketplace_ids=["A1PA6795UKMFR9"])
    assert len(orders) == 1 and token == "page-2"
    rest, token = client.search_orders(last_updated_after=datetime(2026, 3, 1),
                                       marketplace_ids=["A1PA6795UKMFR9"],
                                       pagination_token=token)
    assert [o["orderId"] for o in rest] == ["302-7654321-7654321"] and token is None
    assert fake.calls("searchOrders")[0].query.startswith(
        "lastUpdatedAfter=2026-03-01T00%3A00%3A00Z&marketplaceIds=A1PA6795UKMFR9")
    with pytest.raises(ValueError, match="exactly one"):
        client.search_orders()
    with pytest.raises(ValueError, match="includedData"):
        client.get_order("302-1234567-1234567", included_data=("EVERYTHING",))


def test_json_numbers_are_decimals(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client()
    fake.orders["302-1234567-1234567"] = {"orderId": "302-1234567-1234567", "n": 0.1}
    order = client.get_order("302-1234567-1234567")
    assert order["n"] == Decimal("0.1") and isinstance(order["n"], Decimal)


def test_signing_off_sends_no_authorization(fake: FakeAmazon,
                                            make_client: ClientFactory) -> None:
    client = make_client(sign=False)
    client.create_feed_document(CT)
    rec = fake.calls("createFeedDocument")[0]
    assert rec.sigv4 == "absent"
    assert "authorization" not in rec.headers
    assert rec.headers["x-amz-access-token"].startswith("Atza|fake-")
    assert rec.headers["user-agent"] == USER_AGENT
    assert "x-amz-date" in rec.headers


def test_missing_aws_keys_skip_signing_with_one_warning(
        fake: FakeAmazon, make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    client = make_client(keys=False)
    client.create_feed_document(CT)
    client.create_feed_document(CT)
    assert [r.sigv4 for r in fake.calls("createFeedDocument")] == ["absent", "absent"]
    warnings = [r for r in caplog.records if "unsigned" in r.getMessage()]
    assert len(warnings) == 1


# ------------------------------------------------------------------------- retries


def test_429_penalizes_and_retries(fake: FakeAmazon, make_client: ClientFactory,
                                   limiter: RateLimiter, clock: FakeClock) -> None:
    client = make_client()
    fake.script("getFeed", Reply(429, {"errors": [{"code": "QuotaExceeded",
                                                   "message": "You exceeded your quota"}]},
                                 headers={"Retry-After": "7"}))
    doc_id, _ = client.create_feed_document(CT)
    feed_id = client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], doc_id)
    feed = client.get_feed(feed_id)
    assert feed.feed_id == feed_id
    assert len(fake.calls("getFeed")) == 2
    assert clock.slept == [7.0]  # waited for Retry-After, via the limiter, not for real
    state = limiter.state(ACCOUNT, "getFeed")
    assert state is not None and state.blocked_until_us > clock.start_us


def test_429_without_retry_after_waits_for_refill(
        fake: FakeAmazon, make_client: ClientFactory, limiter: RateLimiter,
        clock: FakeClock) -> None:
    client = make_client()
    fake.feeds["7"] = {"feedId": "7", "feedType": "POST_PAYMENT_ADJUSTMENT_DATA",
                       "processingStatus": "DONE", "createdTime": "2026-11-26T10:00:00Z"}
    fake.script("getFeed", Reply(429, {"errors": [{"code": "QuotaExceeded",
                                                   "message": "quota"}]}))
    assert client.get_feed("7").feed_id == "7"
    assert len(fake.calls("getFeed")) == 2
    assert clock.slept == [pytest.approx(1 / 1000)]  # one token of the 1000/s test plan


def test_createfeed_429_is_not_retried_inside_the_call(
        fake: FakeAmazon, make_client: ClientFactory, clock: FakeClock) -> None:
    # a 429 means "not processed", so the caller may submit again, but later: the feed's
    # lease must not run out while createFeed waits (docs/feeds.md)
    client = make_client()
    fake.script("createFeed", Reply(429, {"errors": [{"code": "QuotaExceeded",
                                                      "message": "quota"}]}))
    with pytest.raises(Throttled):
        client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], "doc")
    assert len(fake.calls("createFeed")) == 1
    assert clock.slept == []


def test_429_gives_up_after_max_throttle_retries(
        fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client(max_throttle_retries=2)
    fake.script("getFeed", *[Reply(429, {"errors": [{"code": "QuotaExceeded",
                                                     "message": "quota"}]})] * 3)
    with pytest.raises(Throttled):
        client.get_feed("1")
    assert len(fake.calls("getFeed")) == 3


def test_5xx_retried_for_get(fake: FakeAmazon, make_client: ClientFactory,
                             clock: FakeClock) -> None:
    client = make_client()
    fake.orders["302-1234567-1234567"] = {"orderId": "302-1234567-1234567"}
    fake.script("getOrder", Reply(503, {"errors": [{"code": "ServiceUnavailable",
                                                    "message": "later"}]}),
                Reply(500, {"errors": [{"code": "InternalFailure", "message": "oops"}]}))
    assert client.get_order("302-1234567-1234567")["orderId"] == "302-1234567-1234567"
    assert len(fake.calls("getOrder")) == 3
    assert len(clock.slept) == 2
    assert 0.25 <= clock.slept[0] <= 0.5 and 0.5 <= clock.slept[1] <= 1.0  # backoff+jitter


def test_5xx_gives_up_after_max_attempts(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client(max_attempts=3)
    fake.script("getFeed", *[Reply(500, {"errors": [{"code": "InternalFailure",
                                                     "message": "oops"}]})] * 3)
    with pytest.raises(SpApiUnavailable) as info:
        client.get_feed("1")
    assert info.value.status == 500
    assert len(fake.calls("getFeed")) == 3


def test_read_timeout_retried_for_get(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client(timeout=(2.0, 0.2))
    doc_id = fake.add_result_document(b"x")
    fake.script("getFeedDocument", Reply(200, {"feedDocumentId": doc_id, "url": "u"},
                                         delay_s=0.6))
    url, algo = client.get_feed_document(doc_id)
    assert "/store/" in url and algo is None
    assert len(fake.calls("getFeedDocument")) == 2


def test_create_feed_timeout_is_outcome_unknown(fake: FakeAmazon,
                                                make_client: ClientFactory) -> None:
    client = make_client(timeout=(2.0, 0.2))
    fake.script("createFeed", Reply(202, {"feedId": "999"}, delay_s=0.6))
    with pytest.raises(OutcomeUnknown) as info:
        client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], "doc-1")
    assert info.value.operation == "createFeed"
    assert "Timeout" in info.value.reason
    time.sleep(0.7)  # let the slow handler finish: a resend would show up by now
    assert len(fake.calls("createFeed")) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_create_feed_5xx_is_outcome_unknown(fake: FakeAmazon, make_client: ClientFactory,
                                            status: int) -> None:
    client = make_client()
    fake.script("createFeed", Reply(status, {"errors": [{"code": "InternalFailure",
                                                         "message": "oops"}]}))
    with pytest.raises(OutcomeUnknown) as info:
        client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], "doc-1")
    assert info.value.status == status
    assert info.value.request_id is not None
    assert len(fake.calls("createFeed")) == 1


def test_create_feed_document_5xx_is_retried(fake: FakeAmazon,
                                             make_client: ClientFactory) -> None:
    client = make_client()
    fake.script("createFeedDocument", Reply(500, {"errors": [{"code": "InternalFailure",
                                                              "message": "oops"}]}))
    doc_id, _ = client.create_feed_document(CT)
    assert doc_id
    assert len(fake.calls("createFeedDocument")) == 2


def test_create_feed_refused_connection_is_retried_safely(
        make_client: ClientFactory, fake: FakeAmazon, clock: FakeClock) -> None:
    """Nothing was sent when the connection is refused: createFeed may be retried."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead_port = sock.getsockname()[1]
    sock.close()
    creds = make_creds(f"http://127.0.0.1:{dead_port}")
    creds = type(creds)(**{**creds.__dict__, "lwa_url": f"{fake.base_url}/auth/o2/token"})
    client = make_client(creds=creds, max_attempts=2)
    with pytest.raises(SpApiUnavailable):
        client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], "doc-1")
    assert len(clock.slept) == 1  # retried once, then gave up: never OutcomeUnknown


def test_4xx_is_sp_api_error(fake: FakeAmazon, make_client: ClientFactory) -> None:
    client = make_client()
    fake.script("createFeed", Reply(400, {"errors": [{
        "code": "InvalidInput", "message": "Invalid feedType", "details": "POST_X"}]}))
    with pytest.raises(SpApiError) as info:
        client.create_feed("POST_X", ["A1PA6795UKMFR9"], "doc-1")
    err = info.value
    assert (err.status, err.code, err.message, err.details) == (
        400, "InvalidInput", "Invalid feedType", "POST_X")
    assert err.request_id is not None and err.request_id.startswith("req-")
    assert not isinstance(err, SpApiUnavailable)
    assert len(fake.calls("createFeed")) == 1
    with pytest.raises(SpApiError) as info:
        client.get_feed("does-not-exist")
    assert info.value.status == 404 and info.value.code == "NotFound"


def test_upload_5xx_retried_and_4xx_hides_body(fake: FakeAmazon,
                                               make_client: ClientFactory) -> None:
    client = make_client()
    _doc_id, url = client.create_feed_document(CT)
    fake.script("upload", Reply(503, None),
                Reply(403, raw=b"<Error><SignatureProvided>" + UPLOAD_SIG.encode()
                      + b"</SignatureProvided></Error>"))
    with pytest.raises(SpApiError) as info:
        client.upload_feed_document(url, XML, CT)
    assert info.value.status == 403
    assert UPLOAD_SIG not in str(info.value)
    assert len(fake.calls("upload")) == 2


def test_helpers() -> None:
    assert encode_query([("a b", "x,y:z"), ("t", "~-_.")]) == "a%20b=x%2Cy%3Az&t=~-_."
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    when = datetime(2026, 1, 1, 0, 0, 10)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:20 GMT",
                             now=when.replace(tzinfo=UTC)) == 10.0
    assert repr(SpApiError("getFeed", 400, "X", "m"))  # constructible, printable


def test_download_inflates_an_http_gzip_only_up_to_the_cap(make_client: ClientFactory) -> None:
    import gzip
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request
    from werkzeug.wrappers import Response as WzResponse

    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))  # 4 MiB of zeros in a few KiB

    @Request.application
    def store(request: Request) -> WzResponse:
        return WzResponse(bomb, headers={"Content-Encoding": "gzip"})

    server = make_server("127.0.0.1", 0, store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = make_client()
        url = f"http://127.0.0.1:{server.server_port}/report?X-Amz-Signature=abc"
        with pytest.raises(SpApiError, match="larger than 1048576 bytes"):
            client.download(url, max_bytes=1024 * 1024)
        assert len(client.download(url, max_bytes=8 * 1024 * 1024)) == 4 * 1024 * 1024
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url", [
    "https://tortuga-prod-na.s3.amazonaws.com/%2FNinetyDays/amzn1.tortuga.3.x?X-Amz-Signature=s",
    "https://tortuga-prod-na.s3-external-1.amazonaws.com/doc?X-Amz-Signature=s",
    "https://tortuga-prod-eu.s3-eu-west-1.amazonaws.com/doc?X-Amz-Signature=s",
    "https://tortuga-prod-fe.s3-us-west-2.amazonaws.com/doc?X-Amz-Signature=s",
    "https://TORTUGA-PROD-EU.s3.eu-west-1.amazonaws.com:443/doc",
])
def test_amazon_upload_hosts_are_accepted_by_default(url: str) -> None:
    check_upload_url(url)


@pytest.mark.parametrize("url", [
    "http://tortuga-prod-na.s3.amazonaws.com/doc",  # plain http
    "https://tortuga-prod-na.s3.amazonaws.com:8443/doc",
    "https://evil.example/doc?X-Amz-Signature=secret",
    "https://tortuga-prod-na.attacker.s3.amazonaws.com/doc",  # someone else's bucket
    "https://tortuga-prod-na.s3.amazonaws.com.evil.example/doc",
    "https://user:pw@tortuga-prod-na.s3.amazonaws.com/doc",
    "http://169.254.169.254/latest/meta-data",
    "http://127.0.0.1:8123/documents/x",  # the emulator, unless configured
])
def test_other_upload_urls_are_refused_without_quoting_the_url(url: str) -> None:
    """Issue 7 item 14: the upload went to any host, plain http accepted."""
    with pytest.raises(UnsafeUploadUrl) as refused:
        check_upload_url(url)
    assert "secret" not in str(refused.value) and "pw" not in str(refused.value)


def test_configured_upload_hosts_replace_the_default() -> None:
    allowed = ("http://127.0.0.1:8123", "uploads.example:9000")
    check_upload_url("http://127.0.0.1:8123/documents/x?sig=1", allowed)
    check_upload_url("https://uploads.example:9000/x", allowed)
    for url in ("http://127.0.0.1:8124/x", "http://uploads.example:9000/x",
                "https://tortuga-prod-na.s3.amazonaws.com/doc"):
        with pytest.raises(UnsafeUploadUrl):
            check_upload_url(url, allowed)


def test_upload_to_a_foreign_host_sends_nothing(fake: FakeAmazon,
                                                make_client: ClientFactory) -> None:
    client = make_client(upload_hosts=())
    _doc_id, url = client.create_feed_document(CT)
    with pytest.raises(UnsafeUploadUrl):
        client.upload_feed_document(url, XML, CT)
    assert fake.calls("upload") == []


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_refreshes_the_token_and_sends_once_more(
    fake: FakeAmazon, make_client: ClientFactory, status: int
) -> None:
    """Issue 7 item 7: Amazon processed nothing, so even createFeed is sent again, once,
    with a fresh LWA token; a second refusal is an SpApiError."""
    client = make_client()
    doc_id, url = client.create_feed_document(CT)
    client.upload_feed_document(url, XML, CT)
    fake.script("createFeed", Reply(status, {"errors": [{"code": "Unauthorized",
                                                         "message": "expired"}]}))
    exchanges = len(fake.calls("lwa"))
    feed_id = client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], doc_id)
    assert feed_id in fake.feeds
    assert len(fake.calls("createFeed")) == 2
    assert len(fake.calls("lwa")) == exchanges + 1

    fake.script("createFeed", Reply(status, {}), Reply(status, {}))
    with pytest.raises(SpApiError) as refused:
        client.create_feed("POST_PAYMENT_ADJUSTMENT_DATA", ["A1PA6795UKMFR9"], doc_id)
    assert refused.value.status == status
    assert len(fake.calls("createFeed")) == 4
