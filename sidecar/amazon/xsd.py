"""Offline validation of feed documents against Amazon's XSDs (amzn-envelope.xsd).

The XSDs are Amazon's files and are not part of the product: they are read from
``$AMAZON_XSD_DIR``, by default ``<repo>/../shared/reference/amazon/xsd`` (``<repo>`` is the
directory that contains the ``sidecar`` package). Nothing is ever fetched from the network.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, cast

from lxml import etree

ENV_XSD_DIR = "AMAZON_XSD_DIR"
ENVELOPE_XSD = "amzn-envelope.xsd"

_REPO_ROOT = Path(__file__).resolve().parents[2]
# XMLSchema keeps its error_log on the object: one validation at a time.
_VALIDATE_LOCK = threading.Lock()


class _LogEntry(Protocol):  # lxml's _LogEntry (lxml-stubs leaves _ErrorLog opaque)
    line: int
    message: str


class XsdUnavailableError(FileNotFoundError):
    """The XSD directory or amzn-envelope.xsd is missing or cannot be compiled."""


class FeedValidationError(ValueError):
    """The document does not conform to Amazon's XSDs; ``errors`` holds libxml2's messages."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        lines = "\n".join(f"  - {e}" for e in errors) or "  - (no details from libxml2)"
        super().__init__(f"feed does not validate against {ENVELOPE_XSD}:\n{lines}")


def default_xsd_dir() -> Path:
    """``$AMAZON_XSD_DIR`` or ``<repo>/../shared/reference/amazon/xsd``."""
    configured = os.environ.get(ENV_XSD_DIR)
    if configured:
        return Path(configured)
    return _REPO_ROOT.parent / "shared" / "reference" / "amazon" / "xsd"


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


@functools.lru_cache(maxsize=4)
def _schema(envelope: Path) -> etree.XMLSchema:
    if not envelope.is_file():
        raise XsdUnavailableError(
            f"{envelope} not found; set {ENV_XSD_DIR} to the directory holding Amazon's XSDs"
        )
    try:
        document = etree.parse(str(envelope), parser=_safe_parser())
        return etree.XMLSchema(document)
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise XsdUnavailableError(f"cannot compile {envelope}: {exc}") from exc


def load_schema(xsd_dir: Path | None = None) -> etree.XMLSchema:
    """The compiled amzn-envelope.xsd of ``xsd_dir`` (cached per directory)."""
    directory = default_xsd_dir() if xsd_dir is None else xsd_dir
    return _schema((directory / ENVELOPE_XSD).resolve())


def validate_feed(xml: bytes, xsd_dir: Path | None = None) -> None:
    """Raise :class:`FeedValidationError` unless ``xml`` is a valid Amazon envelope."""
    schema = load_schema(xsd_dir)
    try:
        document = etree.fromstring(xml, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        raise FeedValidationError([f"not well-formed XML: {exc}"]) from exc
    if document.getroottree().docinfo.internalDTD is not None:
        raise FeedValidationError(["a DOCTYPE is not allowed in a feed"])
    with _VALIDATE_LOCK:
        valid = schema.validate(document)
        log = cast("Iterable[_LogEntry]", schema.error_log)
        errors = [f"line {e.line}: {e.message}" for e in log]
    if not valid:
        raise FeedValidationError(errors)
