"""A minimal SP-API client for the emulator tests (plain requests, no product code)."""

from __future__ import annotations

import gzip
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, TypedDict

import requests
from lxml import etree

from sidecar.emulator.config import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
)

FEED_CONTENT_TYPE = "text/xml; charset=UTF-8"
US = "ATVPDKIKX0DER"
DE = "A1PA6795UKMFR9"
ADJUSTMENT = "POST_PAYMENT_ADJUSTMENT_DATA"
ACKNOWLEDGEMENT = "POST_ORDER_ACKNOWLEDGEMENT_DATA"
TIMEOUT = 10


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self._token: str | None = None

    def __enter__(self) -> Api:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.session.close()

    def lwa(self, **overrides: str) -> requests.Response:
        form = {"grant_type": "refresh_token", "refresh_token": DEFAULT_REFRESH_TOKEN,
                "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}
        form.update(overrides)
        return self.session.post(f"{self.base_url}/auth/o2/token", data=form, timeout=TIMEOUT)

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.lwa()
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def call(self, method: str, path: str, *, json: Any = None,
             params: Mapping[str, str] | None = None, timeout: float = TIMEOUT,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        all_headers = {"x-amz-access-token": self.token}
        all_headers.update(headers or {})
        return self.session.request(method, f"{self.base_url}{path}", json=json, params=params,
                                    headers=all_headers, timeout=timeout)

    # -- feeds ---------------------------------------------------------------------

    def upload(self, xml: bytes, content_type: str = FEED_CONTENT_TYPE) -> str:
        doc = self.call("POST", "/feeds/2021-06-30/documents", json={"contentType": content_type})
        assert doc.status_code == 201, doc.text
        body = doc.json()
        put = requests.put(body["url"], data=xml, headers={"Content-Type": content_type},
                           timeout=TIMEOUT)
        assert put.status_code == 200, put.text
        return str(body["feedDocumentId"])

    def create_feed(self, feed_type: str, xml: bytes, marketplaces: Sequence[str] = (US,),
                    timeout: float = TIMEOUT) -> requests.Response:
        doc_id = self.upload(xml)
        return self.call("POST", "/feeds/2021-06-30/feeds", timeout=timeout,
                         json={"feedType": feed_type, "marketplaceIds": list(marketplaces),
                               "inputFeedDocumentId": doc_id})

    def submit(self, feed_type: str, xml: bytes,
               marketplaces: Sequence[str] = (US,)) -> dict[str, Any]:
        """Full flow; returns the feed after its first getFeed."""
        created = self.create_feed(feed_type, xml, marketplaces)
        assert created.status_code == 202, created.text
        feed = self.call("GET", f"/feeds/2021-06-30/feeds/{created.json()['feedId']}")
        assert feed.status_code == 200, feed.text
        result: dict[str, Any] = feed.json()
        return result

    def report_bytes(self, feed: Mapping[str, Any]) -> bytes:
        doc = self.call("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}")
        assert doc.status_code == 200, doc.text
        body = doc.json()
        raw = requests.get(body["url"], timeout=TIMEOUT).content
        if body.get("compressionAlgorithm") == "GZIP":
            raw = gzip.decompress(raw)
        return raw

    def report(self, feed: Mapping[str, Any]) -> Report:
        return Report(self.report_bytes(feed))


class ResultRow(TypedDict):
    message_id: int
    code: int
    result: str | None
    description: str
    order: str | None
    item: str | None


class Report:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False,
                                                                  no_network=True))
        summary = self.root.find("Message/ProcessingReport/ProcessingSummary")
        assert summary is not None
        self.processed = int(summary.findtext("MessagesProcessed") or -1)
        self.successful = int(summary.findtext("MessagesSuccessful") or -1)
        self.with_error = int(summary.findtext("MessagesWithError") or -1)
        self.results: list[ResultRow] = [
            {"message_id": int(r.findtext("MessageID") or -1),
             "code": int(r.findtext("ResultMessageCode") or -1),
             "result": r.findtext("ResultCode"),
             "description": r.findtext("ResultDescription") or "",
             "order": r.findtext("AdditionalInfo/AmazonOrderID"),
             "item": r.findtext("AdditionalInfo/AmazonOrderItemCode")}
            for r in self.root.iterfind("Message/ProcessingReport/Result")]

    def codes(self) -> list[int]:
        return [r["code"] for r in self.results]


# ------------------------------------------------------------------------------ XML


def _envelope(message_type: str, messages: Sequence[str]) -> bytes:
    body = "".join(messages)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">'
        "<Header><DocumentVersion>1.01</DocumentVersion>"
        "<MerchantIdentifier>A1EXAMPLESELLER</MerchantIdentifier></Header>"
        f"<MessageType>{message_type}</MessageType>{body}</AmazonEnvelope>"
    ).encode()


def adjusted_item(item: str, components: Mapping[str, str], *, currency: str = "USD",
                  quantity: int = 0, quantity_cancelled: int = 0,
                  reason: str = "CustomerReturn", merchant_id: str = "CM1-1") -> str:
    parts = "".join(f'<Component><Type>{k}</Type><Amount currency="{currency}">{v}</Amount>'
                    "</Component>" for k, v in components.items())
    prices = f"<ItemPriceAdjustments>{parts}</ItemPriceAdjustments>" if parts else ""
    qc = f"<QuantityCancelled>{quantity_cancelled}</QuantityCancelled>" \
        if quantity_cancelled else ""
    q = f"<Quantity>{quantity}</Quantity>" if quantity else ""
    return (f"<AdjustedItem><AmazonOrderItemCode>{item}</AmazonOrderItemCode>"
            f"<MerchantAdjustmentItemID>{merchant_id}</MerchantAdjustmentItemID>"
            f"<AdjustmentReason>{reason}</AdjustmentReason>{prices}{qc}{q}</AdjustedItem>")


def adjustment_message(message_id: int, order: str, items: Sequence[str]) -> str:
    return (f"<Message><MessageID>{message_id}</MessageID><OrderAdjustment>"
            f"<AmazonOrderID>{order}</AmazonOrderID><ActionType>Refund</ActionType>"
            f"{''.join(items)}</OrderAdjustment></Message>")


def adjustment_feed(*messages: str) -> bytes:
    return _envelope("OrderAdjustment", messages)


def cancel_message(message_id: int, order: str,
                   items: Sequence[tuple[str, str, int | None]],
                   merchant_order_id: str = "100000001") -> str:
    rendered = "".join(
        f"<Item><AmazonOrderItemCode>{code}</AmazonOrderItemCode>"
        f"<CancelReason>{reason}</CancelReason>"
        + (f"<Quantity>{qty}</Quantity>" if qty else "") + "</Item>"
        for code, reason, qty in items)
    return (f"<Message><MessageID>{message_id}</MessageID><OrderAcknowledgement>"
            f"<AmazonOrderID>{order}</AmazonOrderID>"
            f"<MerchantOrderID>{merchant_order_id}</MerchantOrderID>"
            f"<StatusCode>Failure</StatusCode>{rendered}</OrderAcknowledgement></Message>")


def acknowledgement_feed(*messages: str) -> bytes:
    return _envelope("OrderAcknowledgement", messages)


def money(value: str) -> Decimal:
    return Decimal(value)
