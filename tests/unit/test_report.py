"""ProcessingReport parser: compression, encodings, entity attacks, per-message outcomes."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from sidecar.amazon import report as report_module
from sidecar.amazon.report import (
    MessageResult,
    ProcessingReport,
    ReportError,
    message_outcomes,
    parse_processing_report,
)

SAMPLE = "z_processing_report_sample.xml"


def report_xml(
    results: str = "",
    *,
    status: str = "Complete",
    summary: tuple[int, int, int, int] | None = (1, 1, 0, 0),
    declaration: str = '<?xml version="1.0" encoding="UTF-8"?>',
) -> str:
    summary_xml = ""
    if summary is not None:
        processed, ok, error, warning = summary
        summary_xml = (
            f"<ProcessingSummary><MessagesProcessed>{processed}</MessagesProcessed>"
            f"<MessagesSuccessful>{ok}</MessagesSuccessful>"
            f"<MessagesWithError>{error}</MessagesWithError>"
            f"<MessagesWithWarning>{warning}</MessagesWithWarning></ProcessingSummary>"
        )
    return (
        f"{declaration}\n<AmazonEnvelope><Header><DocumentVersion>1.02</DocumentVersion>"
        "<MerchantIdentifier>A1EXAMPLESELLER</MerchantIdentifier></Header>"
        "<MessageType>ProcessingReport</MessageType><Message><MessageID>1</MessageID>"
        f"<ProcessingReport><DocumentTransactionID>50012345678</DocumentTransactionID>"
        f"<StatusCode>{status}</StatusCode>{summary_xml}{results}</ProcessingReport>"
        "</Message></AmazonEnvelope>"
    )


def result_xml(message_id: int, code: str = "Error", description: str = "bad",
               message_code: int = 18, order: str | None = None) -> str:
    info = (f"<AdditionalInfo><AmazonOrderID>{order}</AmazonOrderID></AdditionalInfo>"
            if order else "")
    return (
        f"<Result><MessageID>{message_id}</MessageID><ResultCode>{code}</ResultCode>"
        f"<ResultMessageCode>{message_code}</ResultMessageCode>"
        f"<ResultDescription>{description}</ResultDescription>{info}</Result>"
    )


# ----------------------------------------------------------------------- the sample report


def check_sample(parsed: ProcessingReport) -> None:
    assert parsed.status_code == "Complete"
    assert parsed.document_transaction_id == 50012345678
    assert (parsed.messages_processed, parsed.messages_successful,
            parsed.messages_with_error, parsed.messages_with_warning) == (1, 0, 1, 0)
    assert parsed.results == [
        MessageResult(
            message_id=1,
            result_code="Error",
            message_code=18,
            description="Illustrative only - not a real Amazon message.",
            amazon_order_id="302-1234567-1234567",
            order_item_code=None,
        )
    ]


def test_sample_report(amazon_examples_dir: Path) -> None:
    check_sample(parse_processing_report((amazon_examples_dir / SAMPLE).read_bytes()))


@pytest.mark.parametrize("algorithm", [None, "GZIP", "gzip"])
def test_gzipped_sample_report(amazon_examples_dir: Path, algorithm: str | None) -> None:
    data = gzip.compress((amazon_examples_dir / SAMPLE).read_bytes())
    check_sample(parse_processing_report(data, compression_algorithm=algorithm))


def test_gzip_announced_but_already_decompressed(amazon_examples_dir: Path) -> None:
    # enableContentEncodingUrlHeader: the HTTP client may have gunzipped it already
    data = (amazon_examples_dir / SAMPLE).read_bytes()
    check_sample(parse_processing_report(data, compression_algorithm="GZIP"))


def test_bad_compression_inputs() -> None:
    with pytest.raises(ReportError, match="compressionAlgorithm"):
        parse_processing_report(report_xml().encode(), compression_algorithm="ZIP")
    with pytest.raises(ReportError, match="gzip"):
        parse_processing_report(b"\x1f\x8b" + b"garbage" * 10)
    truncated = gzip.compress(report_xml().encode())[:-12]
    with pytest.raises(ReportError, match="gzip"):
        parse_processing_report(truncated)


def test_gzip_bomb_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_REPORT_BYTES", 10_000)
    bomb = gzip.compress(report_xml(result_xml(1, description="x" * 50_000)).encode())
    with pytest.raises(ReportError, match="exceeds"):
        parse_processing_report(bomb)


# ------------------------------------------------------------------------------- encodings


def test_iso_8859_1_declared() -> None:
    text = "Größe ungültig: café « naïve » £5"
    xml = report_xml(result_xml(1, description=text),
                     declaration='<?xml version="1.0" encoding="ISO-8859-1"?>')
    data = xml.encode("iso-8859-1")
    assert "ö".encode("iso-8859-1") in data
    parsed = parse_processing_report(data)
    assert parsed.results[0].description == text


def test_iso_8859_1_gzipped() -> None:
    text = "Prix erroné"
    xml = report_xml(result_xml(1, description=text),
                     declaration='<?xml version="1.0" encoding="ISO-8859-1"?>')
    parsed = parse_processing_report(gzip.compress(xml.encode("iso-8859-1")), "GZIP")
    assert parsed.results[0].description == text


def test_windows_1252_declared() -> None:
    text = "Preis “falsch” – 5 €"
    xml = report_xml(result_xml(1, description=text),
                     declaration='<?xml version="1.0" encoding="windows-1252"?>')
    assert parse_processing_report(xml.encode("cp1252")).results[0].description == text


@pytest.mark.parametrize(
    ("declaration", "charset", "codec"),
    [
        ('<?xml version="1.0" encoding="UTF-8"?>', "ISO-8859-1", "iso-8859-1"),  # mislabelled
        ('<?xml version="1.0"?>', "Cp1252", "cp1252"),  # Java-style name, as Amazon sends
        ("", "windows-1252", "cp1252"),
        ("", "latin1", "iso-8859-1"),
    ],
)
def test_charset_argument_used_when_the_bytes_do_not_match_the_declaration(
    declaration: str, charset: str, codec: str,
) -> None:
    text = "Größe ungültig"
    data = report_xml(result_xml(1, description=text), declaration=declaration).encode(codec)
    with pytest.raises(ReportError, match="charset"):
        parse_processing_report(data)  # nothing is guessed
    assert parse_processing_report(data, charset=charset).results[0].description == text


def test_valid_utf8_wins_over_a_wrong_charset_argument() -> None:
    text = "Größe ungültig"
    data = report_xml(result_xml(1, description=text)).encode("utf-8")
    assert parse_processing_report(data, charset="ISO-8859-1").results[0].description == text


def test_utf16_with_bom() -> None:
    text = "Größe 漢字"
    xml = report_xml(result_xml(1, description=text),
                     declaration='<?xml version="1.0" encoding="UTF-16"?>')
    assert parse_processing_report(xml.encode("utf-16")).results[0].description == text


def test_unknown_charset_argument() -> None:
    data = report_xml(declaration="").encode("cp1252") + b"\x81\xff"
    with pytest.raises(ReportError, match="unknown charset"):
        parse_processing_report(data, charset="no-such-charset")


# ----------------------------------------------------------------------- hostile documents

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ProcessingReport><DocumentTransactionID>1</DocumentTransactionID>
<StatusCode>Complete</StatusCode><Result><MessageID>1</MessageID><ResultCode>Error</ResultCode>
<ResultMessageCode>1</ResultMessageCode><ResultDescription>&lol9;</ResultDescription></Result>
</ProcessingReport>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ProcessingReport><DocumentTransactionID>1</DocumentTransactionID>
<StatusCode>Complete</StatusCode><Result><MessageID>1</MessageID><ResultCode>Error</ResultCode>
<ResultMessageCode>1</ResultMessageCode><ResultDescription>&xxe;</ResultDescription></Result>
</ProcessingReport>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ProcessingReport SYSTEM "file:///etc/passwd">
<ProcessingReport><DocumentTransactionID>1</DocumentTransactionID>
<StatusCode>Complete</StatusCode></ProcessingReport>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<ProcessingReport><DocumentTransactionID>1</DocumentTransactionID>
<StatusCode>Complete</StatusCode></ProcessingReport>"""


@pytest.mark.parametrize(
    "document",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity"],
)
@pytest.mark.parametrize("compressed", [False, True])
def test_entity_attacks_are_rejected(document: bytes, compressed: bool) -> None:
    data = gzip.compress(document) if compressed else document
    with pytest.raises(ReportError, match="DOCTYPE") as info:
        parse_processing_report(data)
    assert "root:" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"not xml", "well-formed"),
        (b"<AmazonEnvelope><Message>", "well-formed"),
        (b"<Foo/>", "AmazonEnvelope"),
        (b"<AmazonEnvelope><MessageType>ProcessingReport</MessageType></AmazonEnvelope>",
         "found 0"),
        (b"<ProcessingReport><DocumentTransactionID>1</DocumentTransactionID></ProcessingReport>",
         "StatusCode"),
        (report_xml(result_xml(1, code="Fatal")).encode(), "ResultCode"),
        (report_xml(result_xml(1).replace("<MessageID>1<", "<MessageID>x<")).encode(),
         "MessageID"),
        (report_xml(result_xml(1).replace("<MessageID>1</MessageID>", "")).encode(),
         "MessageID"),
        (report_xml(summary=None).replace("<StatusCode>", "<ProcessingSummary>"
                                          "</ProcessingSummary><StatusCode>").encode(),
         "MessagesProcessed"),
    ],
)
def test_malformed_reports_raise(data: bytes, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_processing_report(data)


def test_str_input_is_refused() -> None:
    with pytest.raises(ReportError, match="bytes"):
        parse_processing_report(report_xml())  # type: ignore[arg-type]


def test_bare_processing_report_root_and_missing_summary() -> None:
    data = (b"<ProcessingReport><DocumentTransactionID>7</DocumentTransactionID>"
            b"<StatusCode>Processing</StatusCode></ProcessingReport>")
    parsed = parse_processing_report(data)
    assert parsed.status_code == "Processing"
    assert parsed.messages_processed is None
    assert parsed.results == []


# -------------------------------------------------------------------------------- outcomes


def test_message_outcomes_per_message() -> None:
    results = "".join([
        result_xml(1, description="first error", message_code=18, order="302-1234567-1234567"),
        result_xml(1, description="second error", message_code=19),
        result_xml(2, code="Warning", description="only a warning"),
        result_xml(4, code="Warning", description="warning first"),
        result_xml(4, description="then an error", message_code=25),
        result_xml(99, description="not ours"),
    ])
    parsed = parse_processing_report(report_xml(results, summary=(4, 2, 2, 2)).encode())
    outcomes = message_outcomes(parsed, [1, 2, 3, 4])
    assert list(outcomes) == [1, 2, 3, 4]
    first = outcomes[1]
    assert first is not None
    assert (first.description, first.message_code, first.amazon_order_id) == (
        "first error", 18, "302-1234567-1234567")
    assert outcomes[2] is None  # warnings do not fail a message
    assert outcomes[3] is None
    fourth = outcomes[4]
    assert fourth is not None
    assert fourth.description == "then an error"


def test_sample_outcome(amazon_examples_dir: Path) -> None:
    parsed = parse_processing_report((amazon_examples_dir / SAMPLE).read_bytes())
    outcome = message_outcomes(parsed, [1])[1]
    assert outcome is not None
    assert outcome.result_code == "Error"


def test_document_level_error_fails_every_message() -> None:
    results = result_xml(0, description="XML parsing error", message_code=5001) + \
        result_xml(2, description="own error")
    parsed = parse_processing_report(report_xml(results, summary=(0, 0, 0, 0)).encode())
    outcomes = message_outcomes(parsed, [1, 2])
    one, two = outcomes[1], outcomes[2]
    assert one is not None
    assert one.message_code == 5001
    assert two is not None
    assert two.description == "own error"


def test_rejected_report_fails_every_message() -> None:
    parsed = parse_processing_report(report_xml(status="Rejected", summary=None).encode())
    outcomes = message_outcomes(parsed, [1, 2])
    assert all(o is not None and o.result_code == "Error" for o in outcomes.values())


def test_unknown_outcomes_raise() -> None:
    processing = parse_processing_report(report_xml(status="Processing", summary=None).encode())
    with pytest.raises(ReportError, match="not final"):
        message_outcomes(processing, [1])
    partial = parse_processing_report(report_xml(summary=(1, 1, 0, 0)).encode())
    with pytest.raises(ReportError, match="unknown"):
        message_outcomes(partial, [1, 2])
    with pytest.raises(ReportError, match="duplicates"):
        message_outcomes(partial, [1, 1])


def test_doctype_backstop_after_parsing() -> None:
    # UTF-32 hides "<!DOCTYPE" from the byte scan; the check after parsing still refuses it
    document = EXTERNAL_ENTITY.decode().replace('<?xml version="1.0"?>',
                                                '<?xml version="1.0" encoding="UTF-32"?>')
    data = document.encode("utf-32")
    with pytest.raises(ReportError, match="DOCTYPE"):
        parse_processing_report(data)
