"""Feed XML builders: every generated document must validate against Amazon's XSDs."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from sidecar.amazon import feed_xml
from sidecar.amazon.feed_xml import (
    FEED_CONTENT_TYPE,
    FEED_TYPE_ACKNOWLEDGEMENT,
    FEED_TYPE_ADJUSTMENT,
    MAX_FEED_BYTES,
    FeedBuilder,
    FeedError,
    FeedTooLargeError,
    build_acknowledgement_feed,
    build_adjustment_feed,
    chunk_messages,
    format_amount,
)
from sidecar.amazon.xsd import (
    ENV_XSD_DIR,
    FeedValidationError,
    XsdUnavailableError,
    default_xsd_dir,
    validate_feed,
)
from sidecar.domain import (
    AdjustmentReason,
    Cancel,
    CancelItem,
    CancelReason,
    Component,
    Refund,
    RefundLine,
)

MERCHANT = "A1EXAMPLESELLER"
ORDER = "302-1234567-1234567"
ITEM_A = "12345678901234"
ITEM_B = "22222222222222"
D = Decimal


def line(
    item: str = ITEM_A,
    *,
    reason: AdjustmentReason = AdjustmentReason.CUSTOMER_RETURN,
    quantity: int = 1,
    quantity_cancelled: int = 0,
    components: tuple[tuple[Component, Decimal], ...] = ((Component.PRINCIPAL, D("16.80")),),
    merchant_id: str = "CM100000123-1",
) -> RefundLine:
    return RefundLine(
        order_item_id=item,
        merchant_adjustment_item_id=merchant_id,
        reason=reason,
        quantity=quantity,
        quantity_cancelled=quantity_cancelled,
        components=components,
    )


def refund(*lines: RefundLine, order: str = ORDER, currency: str = "EUR") -> Refund:
    return Refund(amazon_order_id=order, currency=currency, lines=lines or (line(),))


def cancel(*items: CancelItem, order: str = ORDER, merchant_order_id: str = "100000456") -> Cancel:
    return Cancel(
        amazon_order_id=order,
        merchant_order_id=merchant_order_id,
        items=items or (CancelItem(ITEM_A, CancelReason.BUYER_CANCELED, 1),),
    )


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))


def texts(root: etree._Element, path: str) -> list[str | None]:
    return [e.text for e in root.findall(path)]


# ------------------------------------------------------------------------- OrderAdjustment


def test_refund_with_all_components_validates_in_fixed_order(amazon_xsd_dir: Path) -> None:
    scrambled = (
        (Component.RESTOCKING_FEE, D("-2.00")),
        (Component.SHIPPING_TAX, D("0.78")),
        (Component.PRINCIPAL, D("16.8")),
        (Component.SHIPPING, D("4.12")),
        (Component.TAX, D("3.19")),
    )
    xml = build_adjustment_feed(MERCHANT, [(1, refund(line(components=scrambled)))])
    validate_feed(xml, amazon_xsd_dir)

    root = parse(xml)
    assert texts(root, "MessageType") == ["OrderAdjustment"]
    assert texts(root, "Header/DocumentVersion") == ["1.01"]
    assert texts(root, "Header/MerchantIdentifier") == [MERCHANT]
    adj = root.find("Message/OrderAdjustment")
    assert adj is not None
    assert [c.tag for c in adj] == ["AmazonOrderID", "ActionType", "AdjustedItem"]
    assert texts(adj, "ActionType") == ["Refund"]
    item = adj.find("AdjustedItem")
    assert item is not None
    assert [c.tag for c in item] == [
        "AmazonOrderItemCode", "MerchantAdjustmentItemID", "AdjustmentReason",
        "ItemPriceAdjustments", "Quantity",
    ]
    assert texts(item, "ItemPriceAdjustments/Component/Type") == [
        "Principal", "Tax", "Shipping", "ShippingTax", "RestockingFee",
    ]
    assert texts(item, "ItemPriceAdjustments/Component/Amount") == [
        "16.80", "3.19", "4.12", "0.78", "-2.00",
    ]
    assert {a.get("currency") for a in item.iter("Amount")} == {"EUR"}
    assert texts(item, "Quantity") == ["1"]
    assert item.find("QuantityCancelled") is None


def test_refund_quantity_cancelled_no_inventory_validates(amazon_xsd_dir: Path) -> None:
    # like examples/b2: unshipped units refunded as QuantityCancelled with NoInventory
    refund_line = line(
        "11111111111111", reason=AdjustmentReason.NO_INVENTORY, quantity=0, quantity_cancelled=2,
        components=((Component.PRINCIPAL, D("33.60")), (Component.TAX, D("6.38"))),
    )
    xml = build_adjustment_feed(MERCHANT, [(7, refund(refund_line, order="302-7654321-7654321"))])
    validate_feed(xml, amazon_xsd_dir)
    item = parse(xml).find("Message/OrderAdjustment/AdjustedItem")
    assert item is not None
    assert texts(item, "AdjustmentReason") == ["NoInventory"]
    assert texts(item, "QuantityCancelled") == ["2"]
    assert item.find("Quantity") is None


def test_both_quantities_follow_the_xsd_sequence(amazon_xsd_dir: Path) -> None:
    xml = build_adjustment_feed(MERCHANT, [(1, refund(line(quantity=1, quantity_cancelled=2)))])
    validate_feed(xml, amazon_xsd_dir)
    item = parse(xml).find("Message/OrderAdjustment/AdjustedItem")
    assert item is not None
    assert [c.tag for c in item][-2:] == ["QuantityCancelled", "Quantity"]


def test_shipping_only_line_has_no_quantity(amazon_xsd_dir: Path) -> None:
    shipping_only = line(quantity=0, reason=AdjustmentReason.GENERAL_ADJUSTMENT,
                         components=((Component.SHIPPING, D("4.90")),))
    xml = build_adjustment_feed(MERCHANT, [(1, refund(shipping_only))])
    validate_feed(xml, amazon_xsd_dir)
    item = parse(xml).find("Message/OrderAdjustment/AdjustedItem")
    assert item is not None
    assert item.find("Quantity") is None
    assert item.find("QuantityCancelled") is None


def test_two_lines_for_one_item_shipped_and_unshipped(amazon_xsd_dir: Path) -> None:
    shipped = line(quantity=1, merchant_id="CM5-33")
    unshipped = line(reason=AdjustmentReason.NO_INVENTORY, quantity=0, quantity_cancelled=1,
                     merchant_id="CM5-33")
    xml = build_adjustment_feed(MERCHANT, [(1, refund(shipped, unshipped))])
    validate_feed(xml, amazon_xsd_dir)
    assert len(parse(xml).findall("Message/OrderAdjustment/AdjustedItem")) == 2


def test_item14_jpy_amounts_are_written_without_decimals(amazon_xsd_dir: Path) -> None:
    jpy = line(components=((Component.PRINCIPAL, D("1500")), (Component.SHIPPING, D("350"))))
    xml = build_adjustment_feed(MERCHANT, [(1, refund(jpy, order="503-1234567-1234567",
                                                      currency="JPY"))])
    validate_feed(xml, amazon_xsd_dir)
    amounts = parse(xml).findall(".//Amount")
    assert [a.text for a in amounts] == ["1500", "350"]
    assert {a.get("currency") for a in amounts} == {"JPY"}


def test_jpy_fractional_amount_is_refused() -> None:
    jpy = line(components=((Component.PRINCIPAL, D("1500.50")),))
    with pytest.raises(FeedError, match="JPY has no minor unit"):
        build_adjustment_feed(MERCHANT, [(1, refund(jpy, currency="JPY"))])


def test_gift_wrap_components_are_written(amazon_xsd_dir: Path) -> None:
    wrapped = line(components=((Component.PRINCIPAL, D("16.80")), (Component.GIFT_WRAP, D("3.00")),
                               (Component.GIFT_WRAP_TAX, D("0.57"))))
    xml = build_adjustment_feed(MERCHANT, [(1, refund(wrapped, currency="EUR"))])
    validate_feed(xml, amazon_xsd_dir)
    assert texts(parse(xml), ".//Component/Type") == ["Principal", "GiftWrap", "GiftWrapTax"]
    assert set(feed_xml.COMPONENT_ORDER) == set(Component)  # none is ever dropped


def test_eur_net_amounts_without_tax_validate(amazon_xsd_dir: Path) -> None:
    gross = line(components=((Component.PRINCIPAL, D("19.99")), (Component.SHIPPING, D("4.90"))))
    xml = build_adjustment_feed(MERCHANT, [(1, refund(gross, currency="EUR"))])
    validate_feed(xml, amazon_xsd_dir)
    assert texts(parse(xml), ".//Amount") == ["19.99", "4.90"]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("16.8"), "EUR", "16.80"),
        (D("16.8000"), "EUR", "16.80"),  # Magento's decimal(20,4)
        (D("0"), "EUR", "0.00"),
        (D("-0.00"), "EUR", "0.00"),
        (D("1E+3"), "USD", "1000.00"),
        (D("-2.5"), "GBP", "-2.50"),
        (D("1980"), "JPY", "1980"),
        (D("1980.00"), "JPY", "1980"),
        (D("-0.00"), "JPY", "0"),
        (D("-200"), "JPY", "-200"),
        (D("999999999999999999.99"), "USD", "999999999999999999.99"),
    ],
)
def test_format_amount(amount: Decimal, currency: str, expected: str) -> None:
    assert format_amount(amount, currency) == expected


@pytest.mark.parametrize(
    "amount",
    [D("16.801"), D("0.001"), D("NaN"), D("Infinity"), D("1E+18"), 16.8, 16, "16.80", True],
)
def test_format_amount_refuses(amount: object) -> None:
    with pytest.raises(FeedError):
        format_amount(amount, "EUR")


def test_unicode_and_xml_special_characters_round_trip(amazon_xsd_dir: Path) -> None:
    tricky = "CM<1>&\"'ü€漢-𝄞"
    xml = build_adjustment_feed("Händler & <Söhne>", [(1, refund(line(merchant_id=tricky)))])
    validate_feed(xml, amazon_xsd_dir)
    root = parse(xml)
    assert texts(root, ".//MerchantAdjustmentItemID") == [tricky]
    assert texts(root, "Header/MerchantIdentifier") == ["Händler & <Söhne>"]
    assert "ü€漢".encode() in xml  # raw UTF-8, not character references

    ack = build_acknowledgement_feed(MERCHANT, [(1, cancel(merchant_order_id="#1000&<ü>"))])
    validate_feed(ack, amazon_xsd_dir)
    assert texts(parse(ack), ".//MerchantOrderID") == ["#1000&<ü>"]


def test_empty_merchant_adjustment_item_id_is_omitted(amazon_xsd_dir: Path) -> None:
    xml = build_adjustment_feed(MERCHANT, [(1, refund(line(merchant_id="")))])
    validate_feed(xml, amazon_xsd_dir)
    assert parse(xml).find(".//MerchantAdjustmentItemID") is None


# -------------------------------------------------------------------- OrderAcknowledgement


def test_cancel_buyer_canceled_validates(amazon_xsd_dir: Path) -> None:
    xml = build_acknowledgement_feed(MERCHANT, [(1, cancel(order="302-1111111-2222222"))])
    validate_feed(xml, amazon_xsd_dir)
    root = parse(xml)
    assert texts(root, "MessageType") == ["OrderAcknowledgement"]
    ack = root.find("Message/OrderAcknowledgement")
    assert ack is not None
    assert [c.tag for c in ack] == ["AmazonOrderID", "MerchantOrderID", "StatusCode", "Item"]
    assert texts(ack, "StatusCode") == ["Failure"]
    assert texts(ack, "MerchantOrderID") == ["100000456"]
    assert texts(ack, "Item/CancelReason") == ["BuyerCanceled"]
    assert texts(ack, "Item/Quantity") == ["1"]


def test_cancel_no_inventory_two_items_validates(amazon_xsd_dir: Path) -> None:
    items = (
        CancelItem("11111111111111", CancelReason.NO_INVENTORY, 1),
        CancelItem(ITEM_B, CancelReason.NO_INVENTORY, 3),
    )
    xml = build_acknowledgement_feed(
        MERCHANT, [(5, cancel(*items, order="302-7654321-7654321", merchant_order_id=""))]
    )
    validate_feed(xml, amazon_xsd_dir)
    ack = parse(xml).find("Message/OrderAcknowledgement")
    assert ack is not None
    assert ack.find("MerchantOrderID") is None
    assert texts(ack, "Item/AmazonOrderItemCode") == ["11111111111111", ITEM_B]
    assert texts(ack, "Item/CancelReason") == ["NoInventory", "NoInventory"]
    assert texts(ack, "Item/Quantity") == ["1", "3"]


@pytest.mark.parametrize(
    ("bad_cancel", "message"),
    [
        (Cancel(ORDER, "1", ()), "lists no items"),
        (Cancel(ORDER, "1", (CancelItem(ITEM_A, CancelReason.NO_INVENTORY, 0),)), "at least 1"),
        (Cancel(ORDER, "1", (CancelItem(ITEM_A, CancelReason.NO_INVENTORY, -1),)), "negative"),
        (Cancel(ORDER, "1", (CancelItem(ITEM_A, CancelReason.NO_INVENTORY, 1),) * 2), "twice"),
        (Cancel(ORDER, "1", (CancelItem("1234567890123", CancelReason.NO_INVENTORY, 1),)),
         "14 digits"),
        (Cancel(ORDER, "1", (CancelItem(ITEM_A, "Buyercancelled", 1),)),  # type: ignore[arg-type]
         "CancelReason"),
        (Cancel("302-1234567", "1", (CancelItem(ITEM_A, CancelReason.NO_INVENTORY, 1),)),
         "AmazonOrderID"),
        (Cancel(ORDER, "x" * 51, (CancelItem(ITEM_A, CancelReason.NO_INVENTORY, 1),)),
         "at most 50"),
    ],
)
def test_bad_cancels_raise(bad_cancel: Cancel, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        build_acknowledgement_feed(MERCHANT, [(1, bad_cancel)])


# ------------------------------------------------------------------------- invalid inputs


@pytest.mark.parametrize(
    "order_id",
    [
        "302-123456-1234567", "302-1234567-12345678", "3021234567-1234567", "",
        "302_1234567-1234567", "302-1234567-1234567\n", " 302-1234567-1234567",
        "302-1234567-123456$", "302-1234567-123456_", "302-1234567-123456é",
    ],
)
def test_bad_amazon_order_id_raises(order_id: str) -> None:
    with pytest.raises(FeedError, match="AmazonOrderID"):
        build_adjustment_feed(MERCHANT, [(1, refund(order=order_id))])


@pytest.mark.parametrize(
    "item_code",
    ["1234567890123", "123456789012345", "1234567890123a", "", "١٢٣٤٥٦٧٨٩٠١٢٣٤", " 12345678901234"],
)
def test_bad_order_item_code_raises(item_code: str) -> None:
    with pytest.raises(FeedError, match="AmazonOrderItemCode"):
        build_adjustment_feed(MERCHANT, [(1, refund(line(item_code)))])


@pytest.mark.parametrize("message_id", [0, -1, 10**20, True, "1", 1.0])
def test_bad_message_id_raises(message_id: object) -> None:
    with pytest.raises(FeedError, match="MessageID"):
        build_adjustment_feed(MERCHANT, [(message_id, refund())])  # type: ignore[list-item]


def test_duplicate_message_id_raises() -> None:
    with pytest.raises(FeedError, match="used twice"):
        build_adjustment_feed(MERCHANT, [(3, refund()), (3, refund())])
    with pytest.raises(FeedError, match="used twice"):
        build_acknowledgement_feed(MERCHANT, [(3, cancel()), (3, cancel())])


def test_largest_message_id_is_accepted(amazon_xsd_dir: Path) -> None:
    validate_feed(build_adjustment_feed(MERCHANT, [(10**20 - 1, refund())]), amazon_xsd_dir)


@pytest.mark.parametrize(
    ("bad_refund", "message"),
    [
        (Refund(ORDER, "EUR", ()), "no lines"),
        (refund(currency="CHF"), "currency"),
        (refund(currency="eur"), "currency"),
        (refund(line(components=())), "no components"),
        (refund(line(components=((Component.TAX, D("1.00")), (Component.TAX, D("2.00"))))),
         "twice"),
        (refund(line(components=((Component.PRINCIPAL, D("-1.00")),))), "negative"),
        (refund(line(components=((Component.PRINCIPAL, D("1.005")),))), "more than 2 decimals"),
        (refund(line(components=((Component.PRINCIPAL, 1.5),))),  # type: ignore[arg-type]
         "Decimal"),
        (refund(line(components=(("Goodwill", D("1.00")),))),  # type: ignore[arg-type]
         "component"),
        (refund(line(reason="BuyerCanceled")), "AdjustmentReason"),  # type: ignore[arg-type]
        (refund(line(quantity=-1)), "negative"),
        (refund(line(quantity_cancelled=True)), "int"),
        (refund(line(merchant_id="x" * 51)), "at most 50"),
        (refund(line(merchant_id="CM1\tx")), "control characters"),
        (refund(line(merchant_id="CM1\x00")), "control characters"),
    ],
)
def test_bad_refunds_raise(bad_refund: Refund, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        build_adjustment_feed(MERCHANT, [(1, bad_refund)])


@pytest.mark.parametrize("merchant_id", ["", "   ", "M" * 51, "A1\nB"])
def test_bad_merchant_identifier_raises(merchant_id: str) -> None:
    with pytest.raises(FeedError, match="MerchantIdentifier"):
        build_adjustment_feed(merchant_id, [(1, refund())])


def test_empty_feed_raises() -> None:
    with pytest.raises(FeedError, match="at least one message"):
        build_adjustment_feed(MERCHANT, [])


def test_wrong_payload_type_raises() -> None:
    with pytest.raises(FeedError, match="takes Refunds"):
        build_adjustment_feed(MERCHANT, [(1, cancel())])  # type: ignore[list-item]
    with pytest.raises(FeedError, match="takes Cancels"):
        build_acknowledgement_feed(MERCHANT, [(1, refund())])  # type: ignore[list-item]


# ---------------------------------------------------------------------- document / size


def test_serialisation_utf8_declaration_no_bom_schema_location() -> None:
    xml = build_acknowledgement_feed(MERCHANT, [(1, cancel())])
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert not xml.startswith(b"\xef\xbb\xbf")
    root = parse(xml)
    assert root.tag == "AmazonEnvelope"
    schema_attr = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
    assert root.get(schema_attr) == "amzn-envelope.xsd"
    assert feed_xml.FEED_TYPE_ACKNOWLEDGEMENT == "POST_ORDER_ACKNOWLEDGEMENT_DATA"
    assert FEED_TYPE_ADJUSTMENT == "POST_PAYMENT_ADJUSTMENT_DATA"
    assert FEED_CONTENT_TYPE == "text/xml; charset=UTF-8"
    assert MAX_FEED_BYTES == 10 * 1024 * 1024


def test_many_messages_validate(amazon_xsd_dir: Path) -> None:
    refunds = [
        (n, refund(line(f"{n:014d}", merchant_id=f"CM{n:09d}-{n}"),
                   order=f"302-{n:07d}-{n:07d}"))
        for n in range(1, 501)
    ]
    xml = build_adjustment_feed(MERCHANT, refunds)
    validate_feed(xml, amazon_xsd_dir)
    assert texts(parse(xml), "Message/MessageID") == [str(n) for n in range(1, 501)]

    cancels = [(n, cancel(CancelItem(f"{n:014d}", CancelReason.NO_INVENTORY, 1),
                          order=f"302-{n:07d}-{n:07d}"))
               for n in range(1, 301)]
    validate_feed(build_acknowledgement_feed(MERCHANT, cancels), amazon_xsd_dir)


def test_builder_size_is_exact_and_limit_is_respected() -> None:
    builder = FeedBuilder(MERCHANT, "OrderAdjustment", max_bytes=2_000)
    added = 0
    while builder.try_add(added + 1, refund()):
        added += 1
        assert builder.size == len(builder.to_bytes())
    assert added >= 2
    before = builder.to_bytes()
    assert builder.try_add(added + 1, refund()) is False  # still refused, nothing changed
    assert builder.to_bytes() == before
    assert len(before) <= 2_000
    assert builder.message_ids == tuple(range(1, added + 1))
    assert len(builder) == added
    feed = builder.build()
    assert feed.feed_type == FEED_TYPE_ADJUSTMENT
    assert feed.content_type == FEED_CONTENT_TYPE


def test_single_message_over_the_limit_raises() -> None:
    builder = FeedBuilder(MERCHANT, "OrderAcknowledgement", max_bytes=300)
    with pytest.raises(FeedTooLargeError):
        builder.try_add(1, cancel())


def test_chunk_messages_splits_under_the_limit(amazon_xsd_dir: Path) -> None:
    messages = [(n, refund(line(f"{n:014d}"))) for n in range(1, 41)]
    feeds = chunk_messages(MERCHANT, messages, max_bytes=4_000)
    assert len(feeds) > 1
    assert [mid for f in feeds for mid in f.message_ids] == list(range(1, 41))
    for feed in feeds:
        assert len(feed.payload) <= 4_000
        assert feed.feed_type == FEED_TYPE_ADJUSTMENT
        validate_feed(feed.payload, amazon_xsd_dir)
    # greedy: the next message would not have fitted into the previous feed
    for previous, following in itertools.pairwise(feeds):
        builder = FeedBuilder(MERCHANT, "OrderAdjustment", max_bytes=4_000)
        for mid in previous.message_ids:
            assert builder.try_add(mid, messages[mid - 1][1])
        assert not builder.try_add(following.message_ids[0],
                                   messages[following.message_ids[0] - 1][1])

    cancels = [(n, cancel()) for n in range(1, 4)]
    (only,) = chunk_messages(MERCHANT, cancels)
    assert only.feed_type == FEED_TYPE_ACKNOWLEDGEMENT
    assert only.message_ids == (1, 2, 3)
    assert chunk_messages(MERCHANT, []) == []


def test_chunk_messages_refuses_duplicates_across_chunks() -> None:
    messages = [(1, refund()), (2, refund()), (1, refund())]
    with pytest.raises(FeedError, match="used twice"):
        chunk_messages(MERCHANT, messages, max_bytes=1_000)


def test_feed_too_large_for_one_document_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_xml, "MAX_FEED_BYTES", 1_000)
    with pytest.raises(FeedTooLargeError, match="chunk_messages"):
        build_adjustment_feed(MERCHANT, [(n, refund()) for n in range(1, 10)])


# ---------------------------------------------------------------------------- xsd module


def test_reference_examples_validate(amazon_examples_dir: Path, amazon_xsd_dir: Path) -> None:
    examples = sorted(amazon_examples_dir.glob("*.xml"))
    assert len(examples) == 6, examples
    for example in examples:
        validate_feed(example.read_bytes(), amazon_xsd_dir)


@pytest.mark.parametrize(
    ("old", "new", "libxml2_says"),
    [
        (b"<MessageID>1</MessageID>", b"<MessageID>0</MessageID>", "MessageID"),
        (b"12345678901234", b"1234567890123", "pattern"),
        (b"CustomerReturn", b"BuyerCanceled", "enumeration"),
        (b"16.80", b"16.801", "fractionDigits"),
    ],
)
def test_validate_feed_reports_libxml2_errors(
    amazon_examples_dir: Path, amazon_xsd_dir: Path, old: bytes, new: bytes, libxml2_says: str,
) -> None:
    xml = (amazon_examples_dir / "a_partial_refund_shipped.xml").read_bytes().replace(old, new)
    with pytest.raises(FeedValidationError, match=libxml2_says) as info:
        validate_feed(xml, amazon_xsd_dir)
    assert info.value.errors
    assert all(e.startswith("line ") for e in info.value.errors)


def test_validate_feed_rejects_malformed_and_doctype(amazon_xsd_dir: Path) -> None:
    with pytest.raises(FeedValidationError, match="well-formed"):
        validate_feed(b"<AmazonEnvelope>", amazon_xsd_dir)
    doctype = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><AmazonEnvelope/>'
    with pytest.raises(FeedValidationError, match="DOCTYPE"):
        validate_feed(doctype, amazon_xsd_dir)


def test_missing_xsd_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(XsdUnavailableError, match="AMAZON_XSD_DIR"):
        validate_feed(build_acknowledgement_feed(MERCHANT, [(1, cancel())]), tmp_path)


def test_default_xsd_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_XSD_DIR, str(tmp_path))
    assert default_xsd_dir() == tmp_path
    monkeypatch.delenv(ENV_XSD_DIR)
    repo = Path(feed_xml.__file__).resolve().parents[2]
    assert default_xsd_dir() == repo.parent / "shared" / "reference" / "amazon" / "xsd"
