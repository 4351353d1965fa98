"""The SP-API emulator as a Flask app: LWA, Feeds 2021-06-30, Orders 2026-01-01, Orders v0
confirmShipment, presigned document URLs and an admin API under ``/_emulator/``.

Every SP-API route goes through :func:`create_emulator_app`'s ``sp_api`` wrapper, in this
order: count the call, check ``x-amz-access-token`` (403 Unauthorized), verify SigV4 when an
``Authorization`` header is present (403 InvalidSignature; unsigned requests are accepted,
as Amazon does since 2023-10-02), apply an injected fault, take a rate-limit token (429
QuotaExceeded), run the operation. ``x-amzn-RequestId`` is on every response,
``x-amzn-RateLimit-Limit`` only on successful ones.

The admin API (``/_emulator/...``) has no authentication: the emulator listens on loopback.
"""

from __future__ import annotations

import functools
import hmac
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, Request, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sidecar.emulator.config import OPERATIONS, EmulatorConfig, ManualClock
from sidecar.emulator.model import (
    STATUS_FROM_FULFILLMENT,
    FaultKind,
    Feed,
    FeedFaultKind,
    FeedStatus,
)
from sidecar.emulator.render import INCLUDED_DATA, iso, render_order
from sidecar.emulator.state import (
    ApiError,
    EmulatorState,
    FeedFilter,
    LwaError,
    OrderFilter,
    parse_time,
)

SERVICE = "execute-api"
ACCESS_TOKEN_HEADER = "x-amz-access-token"  # noqa: S105 - a header name
FEEDS = "/feeds/2021-06-30"
ORDERS = "/orders/2026-01-01"
_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;_.-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$")
_MAX_CLOCK_SKEW = 15 * 60
FULFILLED_BY = frozenset({"MERCHANT", "AMAZON"})

Handler = Callable[..., Response]


def error_response(status: int, code: str, message: str, details: str = "") -> Response:
    response = jsonify({"errors": [{"code": code, "message": message, "details": details}]})
    response.status_code = status
    return response


def s3_error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{_xml_escape(message)}</Message><RequestId>{g.request_id}</RequestId>"
            "</Error>")
    return Response(body, status=status, content_type="application/xml")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _list_arg(name: str) -> list[str]:
    """An array query parameter: comma-separated and/or repeated."""
    return [v.strip() for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]


def _time_arg(name: str) -> datetime | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", f"{name} {value!r} is not an ISO 8601 date-time.") \
            from exc


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise ApiError(400, "InvalidInput", f"{name} must be an integer from {low} to {high}.")
    return int(value)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidInput", "The request body must be a JSON object.")
    return body


#: what getFeed says for a feed injected with FeedFaultKind.ODD_STATUS
ODD_STATUS = "UNDOCUMENTED"


def feed_json(feed: Feed) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "feedId": feed.feed_id,
        "feedType": feed.feed_type,
        "marketplaceIds": feed.marketplace_ids,
        "createdTime": iso(feed.created_time),
        "processingStatus": (
            ODD_STATUS if feed.quirk == FeedFaultKind.ODD_STATUS else feed.status.value
        ),
    }
    if feed.processing_start_time is not None:
        doc["processingStartTime"] = iso(feed.processing_start_time)
    if feed.processing_end_time is not None and feed.status in (
            FeedStatus.DONE, FeedStatus.FATAL, FeedStatus.CANCELLED):
        doc["processingEndTime"] = iso(feed.processing_end_time)
    if feed.result_feed_document_id is not None and feed.quirk is None:
        doc["resultFeedDocumentId"] = feed.result_feed_document_id
    return doc


def verify_sigv4(req: Request, state: EmulatorState) -> str | None:
    """None when the SigV4 signature is right, else Amazon-like text saying what is wrong."""
    match = _AUTH_RE.match(req.headers.get("Authorization", ""))
    if match is None:
        return "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."
    config = state.config
    if match["service"] != SERVICE or match["region"] != config.region:
        return (f"Credential should be scoped to a valid region and service: expected "
                f"{config.region}/{SERVICE}, got {match['region']}/{match['service']}.")
    secret = config.aws_credentials.get(match["key"])
    if secret is None:
        return "The security token included in the request is invalid."
    amz_date = req.headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "X-Amz-Date is missing or not in the basic ISO 8601 format."
    if amz_date[:8] != match["date"]:
        return "Date in Credential scope does not match X-Amz-Date."
    if abs(state.clock.time() - signed_at.timestamp()) > _MAX_CLOCK_SKEW:
        return "Signature expired: X-Amz-Date is more than 15 minutes away from now."
    names = match["headers"].split(";")
    if "host" not in names:
        return "The host header must be signed."
    headers: dict[str, str] = {}
    for name in names:
        value = req.host if name == "host" else req.headers.get(name)
        if value is None:
            return f"Signed header {name!r} is missing from the request."
        headers[name] = value
    raw_uri = req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI") or req.full_path
    url = f"{req.scheme}://{req.host}{raw_uri}"
    aws_request = AWSRequest(method=req.method, url=url, data=req.get_data(), headers=headers)
    aws_request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(match["key"], secret), SERVICE, config.region)
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if not hmac.compare_digest(expected, match["signature"]):
        return ("The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method.")
    return None


def create_emulator_app(state: EmulatorState, config: EmulatorConfig | None = None) -> Flask:
    """The emulator's Flask app over ``state`` (``config`` replaces ``state.config``)."""
    if config is not None:
        state.configure(config)
    app = Flask("sidecar.emulator")
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def _request_id() -> None:
        g.request_id = str(uuid.uuid4())

    @app.after_request
    def _add_request_id(response: Response) -> Response:
        response.headers["x-amzn-RequestId"] = getattr(g, "request_id", str(uuid.uuid4()))
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = {404: "NotFound", 405: "MethodNotAllowed", 415: "UnsupportedMediaType"}.get(
            exc.code or 500, "InvalidInput")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.details)

    def sp_api(operation: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            def wrapper(**kwargs: Any) -> Response:
                state.count_request(operation)
                seller, why = state.seller_for_token(request.headers.get(ACCESS_TOKEN_HEADER))
                if seller is None:
                    return error_response(403, "Unauthorized", why,
                                          "The access token is missing, invalid or expired.")
                if "Authorization" in request.headers:
                    problem = verify_sigv4(request, state)
                    if problem is not None:
                        return error_response(403, "InvalidSignature", problem)
                if state.pass_hold(operation, after=False):
                    return error_response(503, "ServiceUnavailable", "Aborted by a hold.")
                fault = state.take_fault(operation)
                if fault is not None:
                    if fault.kind == FaultKind.THROTTLE:
                        return error_response(429, "QuotaExceeded",
                                              "You exceeded your quota for the requested "
                                              "resource.")
                    if fault.kind == FaultKind.ERROR:
                        return error_response(fault.status, "InternalFailure",
                                              "We encountered an internal error. Please try "
                                              "again.")
                    if fault.kind == FaultKind.HANG:
                        state.wait(fault.seconds)
                        return error_response(503, "ServiceUnavailable",
                                              "Service temporarily unavailable.")
                allowed, rate = state.take_rate_token(seller, operation)
                if not allowed:
                    return error_response(429, "QuotaExceeded",
                                          "You exceeded your quota for the requested resource.")
                try:
                    response = handler(seller, **kwargs)
                except ApiError as exc:
                    response = error_response(exc.status, exc.code, exc.message, exc.details)
                state.pass_hold(operation, after=True)
                if fault is not None and fault.kind == FaultKind.ERROR_AFTER:
                    return error_response(fault.status, "InternalFailure",
                                          "We encountered an internal error. Please try again.")
                if fault is not None and fault.kind == FaultKind.HANG_AFTER:
                    state.wait(fault.seconds)
                if rate is not None and response.status_code < 300:
                    response.headers["x-amzn-RateLimit-Limit"] = f"{rate:g}"
                return response

            return wrapper

        return decorate

    def _pre_fault(operation: str) -> Response | None:
        """Faults for the non-SP-API endpoints (LWA, document upload/download)."""
        state.count_request(operation)
        if state.pass_hold(operation, after=False):
            return error_response(503, "ServiceUnavailable", "Aborted by a hold.")
        fault = state.take_fault(operation)
        if fault is None:
            return None
        if fault.kind == FaultKind.THROTTLE:
            return error_response(429, "QuotaExceeded", "Rate exceeded.")
        if fault.kind in (FaultKind.HANG, FaultKind.HANG_AFTER):
            state.wait(fault.seconds)
        return error_response(fault.status if fault.kind != FaultKind.HANG else 503,
                              "InternalFailure", "We encountered an internal error.")

    # ------------------------------------------------------------------------- LWA

    @app.post("/auth/o2/token")
    def lwa_token() -> Response:
        faulted = _pre_fault("lwaToken")
        if faulted is not None:
            return faulted
        form: dict[str, str] = dict(request.form.items())
        if not form:
            body = request.get_json(silent=True)
            if isinstance(body, dict):
                form = {k: str(v) for k, v in body.items()}
        try:
            token, refresh, ttl = state.exchange_refresh_token(form)
        except LwaError as exc:
            response = jsonify({"error_description": exc.description, "error": exc.error})
            response.status_code = exc.status
            return response
        response = jsonify({"access_token": token, "refresh_token": refresh,
                            "token_type": "bearer", "expires_in": ttl})
        response.headers["Cache-Control"] = "no-store"
        return response

    # ----------------------------------------------------------------------- Feeds

    @app.post(f"{FEEDS}/documents")
    @sp_api("createFeedDocument")
    def create_feed_document(seller: str) -> Response:
        body = _json_body()
        content_type = body.get("contentType")
        if not isinstance(content_type, str) or not content_type.strip():
            raise ApiError(400, "InvalidInput", "contentType is required.")
        doc = state.create_feed_document(seller, content_type)
        url = state.presign(request.host_url, "_upload", doc.feed_document_id)
        response = jsonify({"feedDocumentId": doc.feed_document_id, "url": url})
        response.status_code = 201
        return response

    @app.put("/_upload/<doc_id>")
    def upload_feed_document(doc_id: str) -> Response:
        faulted = _pre_fault("uploadFeedDocument")
        if faulted is not None:
            return faulted
        if "Authorization" in request.headers:
            return s3_error(400, "InvalidArgument",
                            "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
                            "parameter, Signature query string parameter or the Authorization "
                            "header should be specified")
        problem = state.check_presigned(doc_id, request.args)
        if problem == "AccessDenied":
            return s3_error(403, "AccessDenied", "Request has expired")
        if problem is not None:
            return s3_error(403, problem, "The request signature we calculated does not match "
                                          "the signature you provided.")
        try:
            state.upload_document(doc_id, request.headers.get("Content-Type"),
                                  request.get_data())
        except ApiError as exc:
            return s3_error(exc.status, exc.code, exc.message)
        state.pass_hold("uploadFeedDocument", after=True)
        response = Response(b"", status=200)
        response.headers["ETag"] = f'"{uuid.uuid4().hex}"'
        return response

    @app.post(f"{FEEDS}/feeds")
    @sp_api("createFeed")
    def create_feed(seller: str) -> Response:
        body = _json_body()
        feed_type = body.get("feedType")
        marketplace_ids = body.get("marketplaceIds")
        doc_id = body.get("inputFeedDocumentId")
        if not isinstance(feed_type, str) or not feed_type:
            raise ApiError(400, "InvalidInput", "feedType is required.")
        if (not isinstance(marketplace_ids, list) or not marketplace_ids
                or not all(isinstance(m, str) and m for m in marketplace_ids)):
            raise ApiError(400, "InvalidInput", "marketplaceIds must be a non-empty list.")
        if not isinstance(doc_id, str) or not doc_id:
            raise ApiError(400, "InvalidInput", "inputFeedDocumentId is required.")
        feed = state.create_feed(seller, feed_type, marketplace_ids, doc_id)
        response = jsonify({"feedId": feed.feed_id})
        response.status_code = 202
        return response

    @app.get(f"{FEEDS}/feeds/<feed_id>")
    @sp_api("getFeed")
    def get_feed(seller: str, feed_id: str) -> Response:
        return jsonify(feed_json(state.poll_feed(seller, feed_id)))

    @app.delete(f"{FEEDS}/feeds/<feed_id>")
    @sp_api("cancelFeed")
    def cancel_feed(seller: str, feed_id: str) -> Response:
        state.cancel_feed(seller, feed_id)
        return Response(b"", status=200)

    @app.get(f"{FEEDS}/feeds")
    @sp_api("getFeeds")
    def get_feeds(seller: str) -> Response:
        next_token = request.args.get("nextToken")
        if next_token is not None:
            if set(request.args) != {"nextToken"}:
                raise ApiError(400, "InvalidInput",
                               "nextToken must be the only parameter when it is given.")
            feeds, token = state.list_feeds(seller, None, next_token)
        else:
            feed_types = _list_arg("feedTypes")
            if not feed_types:
                raise ApiError(400, "InvalidInput", "Either feedTypes or nextToken is required.")
            statuses = _list_arg("processingStatuses")
            unknown = [s for s in statuses if s not in FeedStatus.__members__]
            if unknown:
                raise ApiError(400, "InvalidInput", f"Invalid processingStatuses {unknown}.")
            query = FeedFilter(feed_types=feed_types,
                               marketplace_ids=_list_arg("marketplaceIds"),
                               processing_statuses=statuses,
                               created_since=_time_arg("createdSince"),
                               created_until=_time_arg("createdUntil"),
                               page_size=_int_arg("pageSize", 10, 1, 100))
            feeds, token = state.list_feeds(seller, query, None)
        body: dict[str, Any] = {"feeds": [feed_json(f) for f in feeds]}
        if token is not None:
            body["nextToken"] = token
        return jsonify(body)

    @app.get(f"{FEEDS}/documents/<doc_id>")
    @sp_api("getFeedDocument")
    def get_feed_document(seller: str, doc_id: str) -> Response:
        doc = state.get_document(seller, doc_id)
        gzip_header = (doc.compression == "GZIP" and
                       request.args.get("enableContentEncodingUrlHeader", "").lower() == "true")
        url = state.presign(request.host_url, "_download", doc_id,
                            "gzip" if gzip_header else "")
        body: dict[str, Any] = {"feedDocumentId": doc.feed_document_id, "url": url}
        if doc.compression:
            body["compressionAlgorithm"] = doc.compression
        return jsonify(body)

    @app.get("/_download/<doc_id>")
    def download_feed_document(doc_id: str) -> Response:
        faulted = _pre_fault("downloadFeedDocument")
        if faulted is not None:
            return faulted
        problem = state.check_presigned(doc_id, request.args)
        if problem == "AccessDenied":
            return s3_error(403, "AccessDenied", "Request has expired")
        if problem is not None:
            return s3_error(403, problem, "The request signature we calculated does not match "
                                          "the signature you provided.")
        try:
            doc = state.download_document(doc_id)
        except ApiError as exc:
            return s3_error(exc.status, exc.code, exc.message)
        assert doc.content is not None
        state.pass_hold("downloadFeedDocument", after=True)
        response = Response(doc.content, status=200, content_type=doc.content_type)
        encoding = request.args.get("response-content-encoding")
        response.headers["Content-Encoding"] = "gzip" if encoding == "gzip" else "identity"
        return response

    # ---------------------------------------------------------------------- Orders

    def _included_data() -> list[str]:
        included = [v.upper() for v in _list_arg("includedData")]
        unknown = [v for v in included if v not in INCLUDED_DATA]
        if unknown:
            raise ApiError(400, "InvalidInput", f"Invalid includedData values {unknown}.")
        return included

    @app.get(f"{ORDERS}/orders/<order_id>")
    @sp_api("getOrder")
    def get_order(seller: str, order_id: str) -> Response:
        included = _included_data()
        order = state.get_order(seller, order_id)
        return jsonify({"order": render_order(order, included)})

    @app.get(f"{ORDERS}/orders")
    @sp_api("searchOrders")
    def search_orders(seller: str) -> Response:
        included = _included_data()
        token = request.args.get("paginationToken")
        query: OrderFilter | None = None
        if token is None:
            created_after = _time_arg("createdAfter")
            updated_after = _time_arg("lastUpdatedAfter")
            created_before = _time_arg("createdBefore")
            updated_before = _time_arg("lastUpdatedBefore")
            if (created_after is None) == (updated_after is None):
                raise ApiError(400, "InvalidInput", "Exactly one of createdAfter and "
                                                    "lastUpdatedAfter must be provided.")
            if created_after is not None and updated_before is not None:
                raise ApiError(400, "InvalidInput", "lastUpdatedBefore cannot be combined with "
                                                    "createdAfter.")
            if updated_after is not None and created_before is not None:
                raise ApiError(400, "InvalidInput", "createdBefore cannot be combined with "
                                                    "lastUpdatedAfter.")
            newest = state.now() - timedelta(minutes=2)
            for name, lower, before in (("createdBefore", created_after, created_before),
                                        ("lastUpdatedBefore", updated_after, updated_before)):
                if before is not None and before > newest:
                    raise ApiError(400, "InvalidInput", f"{name} must be at least two minutes "
                                                        "before the time of the request.")
                if before is not None and lower is not None and before < lower:
                    raise ApiError(400, "InvalidInput", f"{name} must not be before the "
                                                        "...After time.")
            statuses = [v.upper() for v in _list_arg("fulfillmentStatuses")]
            bad = [s for s in statuses if s not in STATUS_FROM_FULFILLMENT]
            if bad:
                raise ApiError(400, "InvalidInput", f"Invalid fulfillmentStatuses {bad}.")
            fulfilled_by = [v.upper() for v in _list_arg("fulfilledBy")]
            if any(v not in FULFILLED_BY for v in fulfilled_by):
                raise ApiError(400, "InvalidInput", "fulfilledBy must be MERCHANT or AMAZON.")
            marketplaces = _list_arg("marketplaceIds")
            if len(marketplaces) > 50:
                raise ApiError(400, "InvalidInput", "At most 50 marketplaceIds.")
            query = OrderFilter(
                created_after=created_after, created_before=created_before,
                last_updated_after=updated_after, last_updated_before=updated_before,
                marketplace_ids=marketplaces, fulfillment_statuses=statuses,
                fulfilled_by=fulfilled_by,
                max_results=_int_arg("maxResultsPerPage", 100, 1, 100))
        orders, next_token, upper = state.search_orders(seller, query, token)
        body: dict[str, Any] = {"orders": [render_order(o, included) for o in orders]}
        if next_token is not None:
            body["pagination"] = {"nextToken": next_token}
        by_update = (query.last_updated_after is not None) if query else True
        body["lastUpdatedBefore" if by_update else "createdBefore"] = iso(upper)
        return jsonify(body)

    @app.post("/orders/v0/orders/<order_id>/shipmentConfirmation")
    @sp_api("confirmShipment")
    def confirm_shipment(seller: str, order_id: str) -> Response:
        state.confirm_shipment(seller, order_id, request.get_json(silent=True))
        return Response(b"", status=204)

    # ----------------------------------------------------------------------- admin

    @app.get("/_emulator/state")
    def admin_state() -> Response:
        return jsonify(state.snapshot())

    @app.post("/_emulator/orders")
    def admin_seed() -> Response:
        body = request.get_json(silent=True)
        entries = body.get("orders") if isinstance(body, dict) and "orders" in body else [body]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return error_response(400, "InvalidInput", "Send an order object or {orders: [...]}.")
        seeded = []
        try:
            for entry in entries:
                seeded.append(state.seed_order(
                    entry.get("amazonOrderId"),
                    items=entry.get("items") or [],
                    seller_id=entry.get("sellerId"),
                    marketplace_id=entry.get("marketplaceId", "ATVPDKIKX0DER"),
                    status=entry.get("status"),
                    fulfillment_channel=entry.get("fulfillmentChannel", "MFN"),
                    currency=entry.get("currency", "USD"),
                    prices_include_tax=bool(entry.get("pricesIncludeTax", False)),
                    created_time=(parse_time(entry["createdTime"])
                                  if entry.get("createdTime") else None),
                    last_updated_time=(parse_time(entry["lastUpdatedTime"])
                                       if entry.get("lastUpdatedTime") else None),
                    seller_order_id=entry.get("sellerOrderId"),
                ))
        except (ValueError, TypeError, ArithmeticError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        response = jsonify({"orders": [
            {"amazonOrderId": o.amazon_order_id, "status": o.status.value,
             "orderItemIds": [i.order_item_id for i in o.items]} for o in seeded]})
        response.status_code = 201
        return response

    @app.post("/_emulator/orders/<order_id>/buyer-cancellation")
    def admin_buyer_cancel(order_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        try:
            state.request_buyer_cancellation(order_id, str(body.get("reason", "Changed mind")),
                                             body.get("orderItemIds"))
        except KeyError:
            return error_response(404, "NotFound", f"Order {order_id} was not found.")
        return Response(b"", status=204)

    @app.post("/_emulator/orders/<order_id>/status")
    def admin_status(order_id: str) -> Response:
        body = request.get_json(silent=True) or {}
        try:
            state.set_order_status(order_id, str(body.get("status")))
        except KeyError:
            return error_response(404, "NotFound", f"Order {order_id} was not found.")
        except ValueError as exc:
            return error_response(400, "InvalidInput", str(exc))
        return Response(b"", status=204)

    @app.post("/_emulator/faults")
    def admin_fault() -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(400, "InvalidInput", "JSON object expected.")
        try:
            if "feed" in body:
                state.inject_feed_fault(FeedFaultKind(body["feed"]),
                                        count=int(body.get("count", 1)),
                                        polls=int(body.get("polls", 0)),
                                        applied=bool(body.get("applied", False)),
                                        report=bool(body.get("report", False)))
            else:
                state.inject_fault(str(body.get("operation")), FaultKind(str(body.get("kind"))),
                                   count=int(body.get("count", 1)),
                                   seconds=float(body.get("seconds", 0.0)),
                                   status=int(body.get("status", 500)))
        except (ValueError, TypeError) as exc:
            return error_response(400, "InvalidInput",
                                  f"{exc} (operations: {', '.join(sorted(OPERATIONS))}; kinds: "
                                  f"{', '.join(k.value for k in FaultKind)}; feed kinds: "
                                  f"{', '.join(k.value for k in FeedFaultKind)})")
        return Response(b"", status=204)

    @app.delete("/_emulator/faults")
    def admin_clear_faults() -> Response:
        state.clear_faults()
        return Response(b"", status=204)

    @app.post("/_emulator/advance")
    def admin_advance() -> Response:
        """Finish every pending feed now (ignores the processing delay)."""
        return jsonify({"processed": state.process_pending_feeds()})

    @app.post("/_emulator/clock")
    def admin_clock() -> Response:
        """Move a ManualClock forward: {"seconds": 120}."""
        body = request.get_json(silent=True) or {}
        if not isinstance(state.clock, ManualClock):
            return error_response(400, "InvalidInput", "The clock is not a ManualClock.")
        try:
            state.clock.advance(float(body.get("seconds", 0)))
        except (TypeError, ValueError) as exc:
            return error_response(400, "InvalidInput", str(exc))
        return jsonify({"now": state.now().isoformat()})

    @app.post("/_emulator/reset")
    def admin_reset() -> Response:
        state.reset()
        return Response(b"", status=204)

    return app
