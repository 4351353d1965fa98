"""Parse Amazon's feed ProcessingReport (the result document of an XML feed).

The bytes come from ``getFeedDocument`` (``resultFeedDocumentId``) and may be:

* gzip-compressed (``compressionAlgorithm: GZIP``; detected by the gzip magic bytes, so a
  copy that the HTTP client already decompressed is accepted as well);
* encoded as the XML declaration says (UTF-8, ISO-8859-1, windows-1252, UTF-16, ...);
* mislabelled: Amazon sometimes sends ISO-8859-1 / windows-1252 bytes without (or with a
  wrong) declaration. When the bytes do not decode as the document itself claims, and the
  caller passes the HTTP ``charset``, that charset is tried next. Nothing is guessed.

Parsing never expands entities, never loads a DTD and never touches the network; any
DOCTYPE (billion laughs, external entities such as file:///etc/passwd) is refused.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

#: Decompressed reports larger than this are refused (gzip bombs). A report for a 10 MB
#: feed is far smaller.
MAX_REPORT_BYTES = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

ResultCode = Literal["Error", "Warning"]

# Python codec names -> names libxml2 knows.
_LIBXML_ENCODINGS = {
    "utf-8": "UTF-8",
    "latin-1": "ISO-8859-1",
    "iso8859-1": "ISO-8859-1",
    "iso8859-15": "ISO-8859-15",
    "cp1252": "windows-1252",
    "ascii": "US-ASCII",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16LE",
    "utf-16-be": "UTF-16BE",
}


# "<!DOCTYPE" as it appears in ASCII-compatible encodings and in UTF-16 (both byte orders).
_DOCTYPE_MARKERS = (
    b"<!DOCTYPE",
    "<!DOCTYPE".encode("utf-16-le"),
    "<!DOCTYPE".encode("utf-16-be"),
)


class ReportError(ValueError):
    """The processing report is unreadable, unsafe or not a ProcessingReport."""


@dataclass(frozen=True)
class MessageResult:
    message_id: int  # 0: the error concerns the whole document
    result_code: ResultCode
    message_code: int  # ResultMessageCode
    description: str
    amazon_order_id: str | None = None
    order_item_code: str | None = None


@dataclass(frozen=True)
class ProcessingReport:
    status_code: str  # Complete | Processing | Rejected
    messages_processed: int | None  # None: the report has no ProcessingSummary
    messages_successful: int | None
    messages_with_error: int | None
    messages_with_warning: int | None
    results: list[MessageResult] = field(default_factory=list)
    document_transaction_id: int | None = None


# ------------------------------------------------------------------------------ bytes -> XML


def _gunzip(data: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(MAX_REPORT_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ReportError(f"processing report is not valid gzip: {exc}") from exc
    if len(out) > MAX_REPORT_BYTES:
        raise ReportError(f"decompressed processing report exceeds {MAX_REPORT_BYTES} bytes")
    return out


def _libxml_encoding(charset: str) -> str:
    try:
        name = codecs.lookup(charset.strip().strip('"')).name
    except LookupError as exc:
        raise ReportError(f"unknown charset {charset!r}") from exc
    return _LIBXML_ENCODINGS.get(name, name)


_DOCTYPE_REFUSED = "processing report contains a DOCTYPE; refused (entity/DTD attack)"


def _parser(encoding: str | None) -> etree.XMLParser:
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse_xml(data: bytes, charset: str | None) -> etree._Element:
    # Refuse DTDs before libxml2 sees them (clear error; nothing of the DTD is processed).
    # The docinfo check after parsing is the backstop for any other encoding.
    if any(marker in data for marker in _DOCTYPE_MARKERS):
        raise ReportError(_DOCTYPE_REFUSED)
    try:
        root = etree.fromstring(data, parser=_parser(None))
    except etree.XMLSyntaxError as first:
        if charset is None:
            raise ReportError(
                f"processing report is not well-formed XML ({first}); if the bytes are not "
                "in the declared encoding, pass the HTTP charset (e.g. ISO-8859-1) as charset="
            ) from first
        try:
            root = etree.fromstring(data, parser=_parser(_libxml_encoding(charset)))
        except etree.XMLSyntaxError as second:
            raise ReportError(
                f"processing report is not well-formed XML as declared ({first}) "
                f"nor as {charset} ({second})"
            ) from second
    if root.getroottree().docinfo.internalDTD is not None:
        raise ReportError(_DOCTYPE_REFUSED)
    return root


# ---------------------------------------------------------------------------- XML -> objects


def _text(parent: etree._Element, tag: str) -> str | None:
    child = parent.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _int(parent: etree._Element, tag: str, *, required: bool) -> int | None:
    value = _text(parent, tag)
    if value is None or value == "":
        if required:
            raise ReportError(f"<{parent.tag}> has no <{tag}>")
        return None
    if not value.isascii() or not value.isdigit():
        raise ReportError(f"<{tag}> is not a non-negative integer: {value!r}")
    return int(value)


def _result(element: etree._Element) -> MessageResult:
    message_id = _int(element, "MessageID", required=True)
    code: ResultCode
    match _text(element, "ResultCode"):
        case "Error":
            code = "Error"
        case "Warning":
            code = "Warning"
        case other:
            raise ReportError(f"unknown ResultCode {other!r} for MessageID {message_id}")
    info = element.find("AdditionalInfo")
    assert message_id is not None
    return MessageResult(
        message_id=message_id,
        result_code=code,
        message_code=_int(element, "ResultMessageCode", required=False) or 0,
        description=_text(element, "ResultDescription") or "",
        amazon_order_id=None if info is None else _text(info, "AmazonOrderID"),
        order_item_code=None if info is None else _text(info, "AmazonOrderItemCode"),
    )


def _find_report(root: etree._Element) -> etree._Element:
    if root.tag == "ProcessingReport":
        return root
    if root.tag != "AmazonEnvelope":
        raise ReportError(f"expected <AmazonEnvelope> or <ProcessingReport>, got <{root.tag}>")
    reports = root.findall("Message/ProcessingReport")
    if len(reports) != 1:
        raise ReportError(f"expected exactly one Message/ProcessingReport, found {len(reports)}")
    return reports[0]


def parse_processing_report(
    data: bytes,
    compression_algorithm: str | None = None,
    charset: str | None = None,
) -> ProcessingReport:
    """Parse a feed processing report (optionally gzip-compressed) into a ProcessingReport.

    ``compression_algorithm`` is getFeedDocument's ``compressionAlgorithm`` ("GZIP" or None);
    gzip is also detected from the magic bytes. ``charset`` is the charset of the HTTP
    response, used only when the bytes do not decode as the document declares.
    Raises :class:`ReportError` for anything unreadable or unsafe.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ReportError(f"processing report must be bytes, got {type(data).__name__}")
    raw = bytes(data)
    if compression_algorithm is not None and compression_algorithm.upper() != "GZIP":
        raise ReportError(f"unsupported compressionAlgorithm {compression_algorithm!r}")
    if raw.startswith(GZIP_MAGIC):
        raw = _gunzip(raw)
    # else: GZIP announced but already decompressed (Content-Encoding: gzip) - fine as is.
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError(f"processing report exceeds {MAX_REPORT_BYTES} bytes")
    if not raw.strip():
        raise ReportError("processing report is empty")

    report = _find_report(_parse_xml(raw, charset))
    status = _text(report, "StatusCode")
    if not status:
        raise ReportError("ProcessingReport has no StatusCode")
    summary = report.find("ProcessingSummary")

    def count(tag: str) -> int | None:
        return None if summary is None else _int(summary, tag, required=True)

    return ProcessingReport(
        status_code=status,
        messages_processed=count("MessagesProcessed"),
        messages_successful=count("MessagesSuccessful"),
        messages_with_error=count("MessagesWithError"),
        messages_with_warning=count("MessagesWithWarning"),
        results=[_result(r) for r in report.findall("Result")],
        document_transaction_id=_int(report, "DocumentTransactionID", required=False),
    )


# --------------------------------------------------------------------------------- outcomes


def message_outcomes(
    report: ProcessingReport, message_ids: Iterable[int]
) -> dict[int, MessageResult | None]:
    """For every MessageID we sent: None = accepted, else the first Error result for it.

    Warnings never fail a message. Conservative where Amazon's report is not per message:

    * an Error with MessageID 0 (about the whole document) fails every message that has
      no Error of its own;
    * a ``Rejected`` report fails every message (with a synthetic result if Amazon gave none);
    * a report that is still ``Processing``, or whose summary processed fewer messages than
      we sent, raises :class:`ReportError`: the outcome is unknown, nothing may be assumed.
    """
    ids = list(message_ids)
    if len(set(ids)) != len(ids):
        raise ReportError("message_ids contains duplicates")
    if report.status_code not in ("Complete", "Rejected"):
        raise ReportError(f"processing report is not final (StatusCode {report.status_code})")

    first_error: dict[int, MessageResult] = {}
    for result in report.results:
        if result.result_code == "Error":
            first_error.setdefault(result.message_id, result)
    document_error = first_error.get(0)

    if report.status_code == "Rejected" and document_error is None:
        document_error = MessageResult(
            message_id=0,
            result_code="Error",
            message_code=0,
            description="Amazon rejected the whole feed (ProcessingReport StatusCode Rejected)",
        )
    elif (report.status_code == "Complete" and document_error is None
          and report.messages_processed is not None
          and report.messages_processed < len(ids)):
        raise ReportError(
            f"report processed {report.messages_processed} messages but {len(ids)} were sent; "
            "the outcome of the others is unknown"
        )
    return {mid: first_error.get(mid, document_error) for mid in ids}
