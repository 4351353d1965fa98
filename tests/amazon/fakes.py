"""A small fake of LWA + SP-API + the presigned document store, served over real HTTP.

Speaks Amazon's documented shapes (Feeds 2021-06-30, Orders v2026-01-01, Orders v0
confirmShipment). Every request is recorded; tests script failures per operation with
:meth:`FakeAmazon.script`. SigV4 signatures are recomputed with botocore on the server side.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, Response, request
from werkzeug.serving import WSGIRequestHandler, make_server

AWS_KEY_ID = "AKIDEXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REFRESH_TOKEN = "Atzr|refresh-SECRET-0123456789"
CLIENT_SECRET = "amzn1.oa2-cs.v1.CLIENT-SECRET-abcdef"
CLIENT_ID = "amzn1.application-oa2-client.CLIENTID"
UPLOAD_SIG = "PRESIGNED-SIGNATURE-abc123"

_AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<sig>[0-9a-f]{64})"
)


@dataclass
class Recorded:
    op: str
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    sigv4: str  # "valid" | "invalid: ..." | "absent"


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # real delay (to provoke client read timeouts)
    raw: bytes | None = None


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def verify_sigv4(method: str, url: str, headers: dict[str, str], body: bytes,
                 secret: str) -> str:
    auth = headers.get("authorization")
    if not auth:
        return "absent"
    m = _AUTH_RE.fullmatch(auth)
    if m is None:
        return f"invalid: malformed Authorization {auth[:40]}"
    if m["service"] != "execute-api":
        return f"invalid: service {m['service']}"
    signed = m["signed"].split(";")
    amz_date = headers.get("x-amz-date", "")
    if amz_date[:8] != m["date"]:
        return "invalid: date"
    req = AWSRequest(method=method, url=url, data=body,
                     headers={h: headers[h] for h in signed if h in headers})
    if any(h not in headers for h in signed):
        return "invalid: a signed header is missing"
    req.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(m["key"], secret, headers.get("x-amz-security-token")),
                       "execute-api", m["region"])
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    return "valid" if expected == m["sig"] else "invalid: signature mismatch"


class FakeAmazon:
    def __init__(self, *, aws_secret: str = AWS_SECRET, token_ttl: int = 3600) -> None:
        self.aws_secret = aws_secret
        self.token_ttl = token_ttl
        self.requests: list[Recorded] = []
        self.tokens_issued = 0
        self._scripts: dict[str, deque[Reply | Callable[[], Reply]]] = defaultdict(deque)
        self.documents: dict[str, bytes] = {}
        self.document_types: dict[str, str] = {}
        self.gzip_results: set[str] = set()
        self.feeds: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self._ids = 0
        self._lock = threading.Lock()
        self.base_url = ""
        self.app = self._build_app()

    # --------------------------------------------------------------- scripting

    def script(self, op: str, *replies: Reply | Callable[[], Reply]) -> None:
        self._scripts[op].extend(replies)

    def calls(self, op: str) -> list[Recorded]:
        return [r for r in self.requests if r.op == op]

    def _next_id(self) -> str:
        with self._lock:
            self._ids += 1
            return str(self._ids)

    # --------------------------------------------------------------- the app

    def _record(self, op: str) -> Recorded:
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
        path, _, query = raw_uri.partition("?")
        body = request.get_data()
        url = f"http://{headers.get('host', '')}{raw_uri}"
        sig = verify_sigv4(request.method, url, headers, body, self.aws_secret)
        rec = Recorded(op, request.method, path, query, headers, body, sig)
        with self._lock:
            self.requests.append(rec)
        return rec

    def _scripted(self, op: str) -> Response | None:
        with self._lock:
            queue = self._scripts.get(op)
            item = queue.popleft() if queue else None
        if item is None:
            return None
        reply = item() if callable(item) else item
        return self._respond(reply)

    @staticmethod
    def _respond(reply: Reply) -> Response:
        if reply.delay_s:
            time.sleep(reply.delay_s)
        headers = {"x-amzn-RequestId": "req-" + str(time.monotonic_ns()), **reply.headers}
        if reply.raw is not None:
            return Response(reply.raw, status=reply.status, headers=headers)
        if reply.body is None:
            return Response(b"", status=reply.status, headers=headers)
        return Response(json.dumps(reply.body, default=str), status=reply.status,
                        headers=headers, mimetype="application/json")

    def _ok(self, status: int, body: Any) -> Response:
        return self._respond(Reply(status, body))

    def _require_token(self, rec: Recorded) -> Response | None:
        token = rec.headers.get("x-amz-access-token", "")
        if not token.startswith("Atza|fake-"):
            return self._ok(403, {"errors": [{"code": "Unauthorized",
                                              "message": "Access to requested resource is denied."}]})
        return None

    def _build_app(self) -> Flask:
        app = Flask("fake-amazon")
        fake = self

        @app.post("/auth/o2/token")
        def lwa() -> Response:
            rec = fake._record("lwa")
            form = request.form
            scripted = fake._scripted("lwa")
            if scripted is not None:
                return scripted
            if (form.get("grant_type") != "refresh_token"
                    or form.get("refresh_token") != REFRESH_TOKEN
                    or form.get("client_id") != CLIENT_ID
                    or form.get("client_secret") != CLIENT_SECRET):
                return fake._ok(400, {"error": "invalid_grant",
                                      "error_description": "The request has an invalid grant"})
            del rec
            with fake._lock:
                fake.tokens_issued += 1
                n = fake.tokens_issued
            return fake._ok(200, {"access_token": f"Atza|fake-{n}", "token_type": "bearer",
                                  "expires_in": fake.token_ttl,
                                  "refresh_token": REFRESH_TOKEN})

        def guarded(op: str) -> Response | None:
            rec = fake._record(op)
            denied = fake._require_token(rec)
            if denied is not None:
                return denied
            return fake._scripted(op)

        @app.post("/feeds/2021-06-30/documents")
        def create_feed_document() -> Response:
            r = guarded("createFeedDocument")
            if r is not None:
                return r
            spec = request.get_json()
            doc_id = "amzn1.tortuga.doc." + fake._next_id()
            fake.document_types[doc_id] = spec["contentType"]
            return fake._ok(201, {
                "feedDocumentId": doc_id,
                "url": f"{fake.base_url}/store/{doc_id}?X-Amz-Signature={UPLOAD_SIG}",
            })

        @app.put("/store/<doc_id>")
        def upload(doc_id: str) -> Response:
            rec = fake._record("upload")
            r = fake._scripted("upload")
            if r is not None:
                return r
            if "authorization" in rec.headers or "x-amz-access-token" in rec.headers:
                return fake._ok(400, {"error": "auth header on presigned URL"})
            if rec.headers.get("content-type") != fake.document_types.get(doc_id):
                return fake._ok(403, {"error": "SignatureDoesNotMatch (content type)"})
            fake.documents[doc_id] = rec.body
            return fake._ok(200, None)

        @app.get("/store/<doc_id>")
        def download(doc_id: str) -> Response:
            fake._record("download")
            r = fake._scripted("download")
            if r is not None:
                return r
            data = fake.documents[doc_id]
            return Response(data, status=200)

        @app.post("/feeds/2021-06-30/feeds")
        def create_feed() -> Response:
            r = guarded("createFeed")
            if r is not None:
                return r
            spec = request.get_json()
            feed_id = fake._next_id() + "0000"
            fake.feeds[feed_id] = {
                "feedId": feed_id, "feedType": spec["feedType"],
                "marketplaceIds": spec["marketplaceIds"],
                "createdTime": "2026-03-01T10:00:00Z", "processingStatus": "IN_QUEUE",
                "_input": spec["inputFeedDocumentId"],
            }
            return fake._ok(202, {"feedId": feed_id})

        def public(feed: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in feed.items() if not k.startswith("_")}

        @app.get("/feeds/2021-06-30/feeds/<feed_id>")
        def get_feed(feed_id: str) -> Response:
            r = guarded("getFeed")
            if r is not None:
                return r
            feed = fake.feeds.get(feed_id)
            if feed is None:
                return fake._ok(404, {"errors": [{"code": "NotFound",
                                                  "message": "Feed not found"}]})
            return fake._ok(200, public(feed))

        @app.delete("/feeds/2021-06-30/feeds/<feed_id>")
        def cancel_feed(feed_id: str) -> Response:
            r = guarded("cancelFeed")
            if r is not None:
                return r
            fake.feeds[feed_id]["processingStatus"] = "CANCELLED"
            return fake._ok(200, None)

        @app.get("/feeds/2021-06-30/feeds")
        def get_feeds() -> Response:
            r = guarded("getFeeds")
            if r is not None:
                return r
            types = (request.args.get("feedTypes") or "").split(",")
            feeds = [public(f) for f in fake.feeds.values() if f["feedType"] in types]
            return fake._ok(200, {"feeds": feeds})

        @app.get("/feeds/2021-06-30/documents/<doc_id>")
        def get_feed_document(doc_id: str) -> Response:
            r = guarded("getFeedDocument")
            if r is not None:
                return r
            body: dict[str, Any] = {"feedDocumentId": doc_id,
                                    "url": f"{fake.base_url}/store/{doc_id}?X-Amz-Signature=dl"}
            if doc_id in fake.gzip_results:
                body["compressionAlgorithm"] = "GZIP"
            return fake._ok(200, body)

        @app.get("/orders/2026-01-01/orders/<order_id>")
        def get_order(order_id: str) -> Response:
            r = guarded("getOrder")
            if r is not None:
                return r
            order = fake.orders.get(order_id)
            if order is None:
                return fake._ok(404, {"errors": [{"code": "NotFound",
                                                  "message": "Order not found"}]})
            return fake._ok(200, {"order": order})

        @app.get("/orders/2026-01-01/orders")
        def search_orders() -> Response:
            r = guarded("searchOrders")
            if r is not None:
                return r
            orders = list(fake.orders.values())
            token = request.args.get("paginationToken")
            if token is None and len(orders) > 1:
                return fake._ok(200, {"orders": orders[:1],
                                      "pagination": {"nextToken": "page-2"}})
            return fake._ok(200, {"orders": orders[1:] if token else orders})

        @app.post("/orders/v0/orders/<order_id>/shipmentConfirmation")
        def confirm_shipment(order_id: str) -> Response:
            r = guarded("confirmShipment")
            if r is not None:
                return r
            return fake._ok(204, None)

        return app

    def add_result_document(self, content: bytes, *, compress: bool = False) -> str:
        doc_id = "amzn1.tortuga.result." + self._next_id()
        self.documents[doc_id] = gzip.compress(content) if compress else content
        if compress:
            self.gzip_results.add(doc_id)
        return doc_id


@contextmanager
def serve(fake: FakeAmazon) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, fake.app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield fake.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeClock:
    """Epoch microseconds that only move when someone 'sleeps'. Thread-safe."""

    def __init__(self, start_us: int = 1_780_000_000_000_000) -> None:
        self.now_us = start_us
        self.start_us = start_us
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.now_us

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now_us += int(Decimal(str(seconds)) * 1_000_000)

    def monotonic(self) -> float:
        with self._lock:
            return self.now_us / 1_000_000
