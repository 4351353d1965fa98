"""LWA, access tokens, SigV4 verification, rate limits, fault injection, admin API, CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sidecar.emulator import EmulatorConfig, EmulatorState, FaultKind, ManualClock, SeedItem
from sidecar.emulator.config import DEFAULT_AWS_ACCESS_KEY_ID, DEFAULT_AWS_SECRET_ACCESS_KEY
from sidecar.emulator.model import EmulatorOrder
from sidecar.emulator.server import EmulatorServer
from tests.emulator.conftest import US_ITEM_A, US_ORDER
from tests.emulator.support import (
    ADJUSTMENT,
    TIMEOUT,
    Api,
    adjusted_item,
    adjustment_feed,
    adjustment_message,
)

ORDER_PATH = f"/orders/2026-01-01/orders/{US_ORDER}"
REFUND = adjustment_feed(adjustment_message(1, US_ORDER, [adjusted_item(
    US_ITEM_A, {"Principal": "5.00"})]))


# ----------------------------------------------------------------------------- LWA


def test_lwa_exchange(api: Api) -> None:
    response = api.lwa()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token"] == "Atzr|emulator-refresh-token"
    assert body["access_token"].startswith("Atza|")


@pytest.mark.parametrize(("overrides", "status", "error"), [
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"client_id": "wrong"}, 401, "invalid_client"),
    ({"refresh_token": "Atzr|wrong"}, 400, "invalid_grant"),
    ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
    ({"refresh_token": ""}, 400, "invalid_request"),
])
def test_lwa_errors(api: Api, overrides: dict[str, str], status: int, error: str) -> None:
    response = api.lwa(**overrides)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_sp_api_needs_a_valid_access_token(api: Api, clock: ManualClock,
                                           shipped_order: EmulatorOrder) -> None:
    for headers in ({}, {"x-amz-access-token": "Atza|made-up"}):
        response = requests.get(api.base_url + ORDER_PATH, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "Unauthorized"
        assert response.headers["x-amzn-RequestId"]
        assert "x-amzn-RateLimit-Limit" not in response.headers
    assert api.call("GET", ORDER_PATH).status_code == 200
    clock.advance(3600)
    expired = api.call("GET", ORDER_PATH)
    assert expired.status_code == 403
    assert "expired" in expired.json()["errors"][0]["message"]


# ---------------------------------------------------------------------------- SigV4


def _signed(api: Api, clock: ManualClock, method: str, path: str, body: bytes = b"",
            secret: str = DEFAULT_AWS_SECRET_ACCESS_KEY, region: str = "us-east-1",
            ) -> dict[str, str]:
    url = api.base_url + path
    headers = {"host": url.split("/")[2], "x-amz-access-token": api.token}
    if body:
        headers["content-type"] = "application/json"
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    signer = SigV4Auth(Credentials(DEFAULT_AWS_ACCESS_KEY_ID, secret), "execute-api", region)
    # sign at the emulator's (manual) time
    request.context["timestamp"] = datetime.fromtimestamp(clock.time(), UTC).strftime(
        "%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed_headers = signer.signed_headers(signer.headers_to_sign(request))
    scope = signer.credential_scope(request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={DEFAULT_AWS_ACCESS_KEY_ID}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}")
    return {k: str(v) for k, v in request.headers.items()}


def test_sigv4_valid_tampered_and_unsigned(api: Api, clock: ManualClock,
                                           shipped_order: EmulatorOrder) -> None:
    path = f"{ORDER_PATH}?includedData=FULFILLMENT"
    headers = _signed(api, clock, "GET", path)
    ok = requests.get(api.base_url + path, headers=headers, timeout=TIMEOUT)
    assert ok.status_code == 200, ok.text
    tampered = requests.get(api.base_url + ORDER_PATH + "?includedData=BUYER", headers=headers,
                            timeout=TIMEOUT)
    assert tampered.status_code == 403
    assert tampered.json()["errors"][0]["code"] == "InvalidSignature"
    wrong_key = _signed(api, clock, "GET", path, secret="not-the-secret")
    assert requests.get(api.base_url + path, headers=wrong_key,
                        timeout=TIMEOUT).status_code == 403
    wrong_region = _signed(api, clock, "GET", path, region="eu-west-1")
    assert requests.get(api.base_url + path, headers=wrong_region,
                        timeout=TIMEOUT).status_code == 403
    assert api.call("GET", path).status_code == 200  # unsigned is fine


def test_sigv4_signed_body(api: Api, clock: ManualClock) -> None:
    path = "/feeds/2021-06-30/documents"
    body = b'{"contentType": "text/xml; charset=UTF-8"}'
    headers = _signed(api, clock, "POST", path, body)
    assert requests.post(api.base_url + path, data=body, headers=headers,
                         timeout=TIMEOUT).status_code == 201
    changed = requests.post(api.base_url + path, data=body.replace(b"UTF-8", b"utf-8"),
                            headers=headers, timeout=TIMEOUT)
    assert changed.status_code == 403
    clock.advance(16 * 60)
    stale = requests.post(api.base_url + path, data=body, headers=headers, timeout=TIMEOUT)
    assert stale.status_code == 403


# ---------------------------------------------------------------------- rate limits


def test_429_after_burst_then_refill(clock: ManualClock) -> None:
    config = EmulatorConfig(xsd_dir=None, rate_limits={"getOrder": (0.5, 2)})
    with EmulatorServer(EmulatorState(config, clock)) as server, Api(server.url) as api:
        server.state.seed_order(US_ORDER, items=[SeedItem(US_ITEM_A)])
        statuses = [api.call("GET", ORDER_PATH) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert statuses[0].headers["x-amzn-RateLimit-Limit"] == "0.5"
        throttled = statuses[2]
        assert throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        assert "x-amzn-RateLimit-Limit" not in throttled.headers
        assert throttled.headers["x-amzn-RequestId"]
        clock.advance(2)  # 0.5/s: one token back
        assert api.call("GET", ORDER_PATH).status_code == 200
        assert api.call("GET", ORDER_PATH).status_code == 429
        # buckets are per operation
        assert api.call("GET", "/feeds/2021-06-30/feeds",
                        params={"feedTypes": ADJUSTMENT}).status_code == 200


def test_create_feed_default_burst_is_15(api: Api, shipped_order: EmulatorOrder) -> None:
    doc_id = api.upload(REFUND)
    body = {"feedType": ADJUSTMENT, "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": doc_id}
    codes = [api.call("POST", "/feeds/2021-06-30/feeds", json=body).status_code
             for _ in range(16)]
    assert codes == [202] * 15 + [429]


# --------------------------------------------------------------------------- faults


def test_throttle_and_error_faults(api: Api, state: EmulatorState,
                                   shipped_order: EmulatorOrder) -> None:
    state.inject_fault("getOrder", FaultKind.THROTTLE)
    state.inject_fault("getOrder", FaultKind.ERROR, count=2, status=503)
    assert api.call("GET", ORDER_PATH).status_code == 429
    assert [api.call("GET", ORDER_PATH).status_code for _ in range(3)] == [503, 503, 200]
    with pytest.raises(ValueError, match="unknown operation"):
        state.inject_fault("getOrders", FaultKind.ERROR)


def test_hang_fault_times_the_client_out(api: Api, state: EmulatorState,
                                         shipped_order: EmulatorOrder) -> None:
    state.inject_fault("createFeed", FaultKind.HANG, seconds=5)
    with pytest.raises(requests.Timeout):
        api.create_feed(ADJUSTMENT, REFUND, timeout=0.3)
    assert state.all_feeds() == []  # nothing was created


@pytest.mark.parametrize("kind", [FaultKind.ERROR_AFTER, FaultKind.HANG_AFTER])
def test_create_feed_unknown_outcome(api: Api, state: EmulatorState,
                                     shipped_order: EmulatorOrder, kind: FaultKind) -> None:
    state.inject_fault("createFeed", kind, seconds=5)
    if kind == FaultKind.ERROR_AFTER:
        assert api.create_feed(ADJUSTMENT, REFUND).status_code == 500
    else:
        with pytest.raises(requests.Timeout):
            api.create_feed(ADJUSTMENT, REFUND, timeout=0.3)
    [feed] = state.all_feeds()  # ... but the feed exists and will be processed
    listed = api.call("GET", "/feeds/2021-06-30/feeds", params={"feedTypes": ADJUSTMENT}).json()
    assert [f["feedId"] for f in listed["feeds"]] == [feed.feed_id]
    assert "inputFeedDocumentId" not in listed["feeds"][0]
    state.process_pending_feeds()
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 1


def test_fatal_and_slow_feed_faults(api: Api, state: EmulatorState,
                                    shipped_order: EmulatorOrder) -> None:
    state.fatal_next_feed()
    fatal = api.submit(ADJUSTMENT, REFUND)
    assert fatal["processingStatus"] == "FATAL"
    assert "resultFeedDocumentId" not in fatal
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 0
    state.fatal_next_feed(applied=True, report=True)
    partly = api.submit(ADJUSTMENT, REFUND)
    assert partly["processingStatus"] == "FATAL"
    assert api.report(partly).processed == 1
    assert state.refund_counter(US_ORDER, US_ITEM_A).adjustments == 1  # "some may complete"
    state.slow_next_feed(2)
    feed_id = api.create_feed(ADJUSTMENT, REFUND).json()["feedId"]
    path = f"/feeds/2021-06-30/feeds/{feed_id}"
    assert [api.call("GET", path).json()["processingStatus"] for _ in range(3)] == [
        "IN_PROGRESS", "IN_PROGRESS", "DONE"]


def test_upload_and_lwa_faults(api: Api, state: EmulatorState) -> None:
    state.inject_fault("lwaToken", FaultKind.ERROR)
    assert api.lwa().status_code == 500
    assert api.lwa().status_code == 200
    doc = api.call("POST", "/feeds/2021-06-30/documents",
                   json={"contentType": "text/xml; charset=UTF-8"}).json()
    state.inject_fault("uploadFeedDocument", FaultKind.ERROR, status=503)
    put = requests.put(doc["url"], data=b"<x/>",
                       headers={"Content-Type": "text/xml; charset=UTF-8"}, timeout=TIMEOUT)
    assert put.status_code == 503
    assert state.calls("uploadFeedDocument") == 1


# ---------------------------------------------------------------------------- admin


def test_admin_api(api: Api, state: EmulatorState) -> None:
    seeded = requests.post(f"{api.base_url}/_emulator/orders", timeout=TIMEOUT, json={
        "amazonOrderId": "302-7654321-7654321", "marketplaceId": "A1PA6795UKMFR9",
        "currency": "EUR", "pricesIncludeTax": True,
        "items": [{"orderItemId": "33333333333333", "sku": "X", "quantityOrdered": 2,
                   "itemPrice": "39.98", "itemTax": "6.38", "quantityShipped": 1}]})
    assert seeded.status_code == 201, seeded.text
    assert seeded.json()["orders"][0]["status"] == "PartiallyShipped"
    float_money = requests.post(f"{api.base_url}/_emulator/orders", timeout=TIMEOUT, json={
        "items": [{"itemPrice": 1.5}]})
    assert float_money.status_code == 400
    fault = requests.post(f"{api.base_url}/_emulator/faults", timeout=TIMEOUT,
                          json={"operation": "getOrder", "kind": "throttle", "count": 1})
    assert fault.status_code == 204
    assert requests.post(f"{api.base_url}/_emulator/faults", timeout=TIMEOUT,
                         json={"feed": "slow", "polls": 1}).status_code == 204
    assert requests.post(f"{api.base_url}/_emulator/faults", timeout=TIMEOUT,
                         json={"operation": "nope", "kind": "throttle"}).status_code == 400
    requests.post(f"{api.base_url}/_emulator/orders/302-7654321-7654321/buyer-cancellation",
                  json={"reason": "Changed mind"}, timeout=TIMEOUT).raise_for_status()
    snapshot = requests.get(f"{api.base_url}/_emulator/state", timeout=TIMEOUT).json()
    assert snapshot["orders"][0]["items"][0]["buyerCancelRequested"] is True
    assert snapshot["faults"][0]["operation"] == "getOrder"
    assert snapshot["feedFaults"][0]["kind"] == "slow"
    assert requests.delete(f"{api.base_url}/_emulator/faults",
                           timeout=TIMEOUT).status_code == 204
    clock = requests.post(f"{api.base_url}/_emulator/clock", json={"seconds": 60},
                          timeout=TIMEOUT)
    assert clock.status_code == 200
    assert requests.post(f"{api.base_url}/_emulator/advance",
                         timeout=TIMEOUT).json() == {"processed": []}
    assert requests.post(f"{api.base_url}/_emulator/reset", timeout=TIMEOUT).status_code == 204
    assert state.snapshot()["orders"] == []


def test_unknown_route_is_json(api: Api) -> None:
    response = api.call("GET", "/orders/v0/orders")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"


def test_server_url_and_cli_help() -> None:
    with EmulatorServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.lwa_url == server.url + "/auth/o2/token"
    result = subprocess.run([sys.executable, "-m", "sidecar.emulator", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "--port" in result.stdout
