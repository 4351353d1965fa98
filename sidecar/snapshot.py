"""Parse the outbox snapshot JSON (docs/snapshot.md, schema_version 1 and 2) into domain types.

Version 2 adds the Amazon order id the module resolved (and its source), the M2E Pro link,
the credit memo state, who created the document, and per-item Amazon OrderItemIds. Version 1
rows are still read: their Amazon order id is `order.ext_order_id`.

Strict on purpose: every amount must be a decimal *string* (never a JSON number), every id an
integer, and any problem raises :class:`SnapshotError` naming the field and what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, TypeVar

from sidecar.domain import (
    ConnectorLink,
    CreditMemo,
    CreditMemoItem,
    MagentoOrderRef,
    Shipment,
    ShipmentItem,
    ShipmentTrack,
)
from sidecar.money import minor_units, to_decimal

SUPPORTED_SCHEMA_VERSIONS = frozenset({1, 2})
MAX_ID = 2**32 - 1  # Magento's entity ids are INT(10) UNSIGNED
MAGENTO_PLACES = Decimal("0.0001")  # decimal(20,4) money, decimal(12,4) quantities
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

T = TypeVar("T")


class SnapshotError(ValueError):
    """The snapshot payload is not a valid schema_version 1 or 2 document."""


def _parse_json(payload: str | bytes) -> dict[str, Any]:
    if isinstance(payload, bytes):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"payload is not UTF-8: {exc}") from exc
    if not isinstance(payload, str):
        raise SnapshotError(f"payload must be a JSON string, got {type(payload).__name__}")

    def no_constants(name: str) -> Any:
        raise SnapshotError(f"payload contains the non-JSON constant {name}")

    try:
        doc = json.loads(payload, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"payload is not valid JSON: {exc}") from exc
    except RecursionError:
        raise SnapshotError("payload is nested too deeply to be a snapshot") from None
    if not isinstance(doc, dict):
        raise SnapshotError(f"payload must be a JSON object, got {_json_type(doc)}")
    version = doc.get("schema_version")
    if "schema_version" not in doc:
        raise SnapshotError("schema_version: missing")
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        raise SnapshotError(
            f"schema_version: unsupported value {version!r} "
            f"(supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)})"
        )
    return doc


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _require(obj: dict[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise SnapshotError(f"{path}.{key}: missing")
    return obj[key]


def _object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = _require(obj, key, path)
    if not isinstance(value, dict):
        raise SnapshotError(f"{path}.{key}: expected an object, got {_json_type(value)}")
    return value


def _list(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    value = _require(obj, key, path)
    if not isinstance(value, list):
        raise SnapshotError(f"{path}.{key}: expected an array, got {_json_type(value)}")
    return value


def _int(obj: dict[str, Any], key: str, path: str) -> int:
    value = _require(obj, key, path)
    if type(value) is not int:
        raise SnapshotError(f"{path}.{key}: expected an integer, got {_json_type(value)} {value!r}")
    if value < 0:
        raise SnapshotError(f"{path}.{key}: must not be negative, got {value}")
    if value > MAX_ID:
        raise SnapshotError(
            f"{path}.{key}: {value} is larger than any Magento id (INT UNSIGNED, at most {MAX_ID})"
        )
    return value


def _opt_int(obj: dict[str, Any], key: str, path: str) -> int | None:
    if obj.get(key) is None:
        return None
    return _int(obj, key, path)


def _str(obj: dict[str, Any], key: str, path: str) -> str:
    value = _require(obj, key, path)
    if not isinstance(value, str):
        raise SnapshotError(f"{path}.{key}: expected a string, got {_json_type(value)} {value!r}")
    return value


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    if obj.get(key) is None:
        return None
    return _str(obj, key, path)


def _bool(obj: dict[str, Any], key: str, path: str) -> bool:
    value = _require(obj, key, path)
    if not isinstance(value, bool):
        raise SnapshotError(
            f"{path}.{key}: expected true or false, got {_json_type(value)} {value!r}"
        )
    return value


def _decimal(obj: dict[str, Any], key: str, path: str, *, signed: bool = False) -> Decimal:
    value = _require(obj, key, path)
    if not isinstance(value, str):
        raise SnapshotError(
            f"{path}.{key}: amounts must be decimal strings such as \"16.8000\", "
            f"got {_json_type(value)} {value!r}"
        )
    try:
        number = to_decimal(value)
    except ValueError as exc:
        raise SnapshotError(f"{path}.{key}: {exc}") from exc
    if number < 0 and not signed:
        raise SnapshotError(f"{path}.{key}: must not be negative, got {value!r}")
    try:
        exact = number == number.quantize(MAGENTO_PLACES, rounding=ROUND_DOWN)
    except InvalidOperation:  # more digits than any decimal(20,4) column holds
        raise SnapshotError(f"{path}.{key}: {value!r} is too large for Magento") from None
    if not exact:
        raise SnapshotError(
            f"{path}.{key}: {value!r} has more than 4 decimal places; Magento stores amounts "
            "and quantities with 4, so it cannot come from Magento"
        )
    return number


def _amount_or_zero(
    obj: dict[str, Any], key: str, path: str, *, signed: bool = False
) -> Decimal:
    """A money field Magento may leave NULL (e.g. no adjustment on an API refund): the key
    must be there, null reads as 0."""
    _require(obj, key, path)
    if obj[key] is None:
        return Decimal(0)
    return _decimal(obj, key, path, signed=signed)


def _opt_decimal(obj: dict[str, Any], key: str, path: str, default: Decimal) -> Decimal:
    if obj.get(key) is None:
        return default
    return _decimal(obj, key, path)


def _timestamp(obj: dict[str, Any], key: str, path: str) -> datetime:
    value = _str(obj, key, path)
    try:
        return datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError as exc:
        raise SnapshotError(
            f"{path}.{key}: expected \"YYYY-MM-DD HH:MM:SS\" (UTC), got {value!r}"
        ) from exc


def _currency(obj: dict[str, Any], key: str, path: str) -> str:
    value = _str(obj, key, path)
    try:
        minor_units(value)
    except ValueError as exc:
        raise SnapshotError(f"{path}.{key}: {exc}") from exc
    return value


def _items(doc: dict[str, Any], parse: Callable[[dict[str, Any], str], T]) -> tuple[T, ...]:
    out: list[T] = []
    for index, raw in enumerate(_list(doc, "items", "$")):
        path = f"$.items[{index}]"
        if not isinstance(raw, dict):
            raise SnapshotError(f"{path}: expected an object, got {_json_type(raw)}")
        out.append(parse(raw, path))
    return tuple(out)


def _version(doc: dict[str, Any]) -> int:
    version: int = doc["schema_version"]
    return version


def _present(obj: dict[str, Any], key: str, path: str) -> Any:
    """A v2 key: always present, null when unknown."""
    return _require(obj, key, path)


def _opt_bool(obj: dict[str, Any], key: str, path: str) -> bool | None:
    if _present(obj, key, path) is None:
        return None
    return _bool(obj, key, path)


def _connector(o: dict[str, Any], path: str) -> ConnectorLink | None:
    if _present(o, "connector", path) is None:
        return None
    c = _object(o, "connector", path)
    cpath = f"{path}.connector"
    _present(c, "account_id", cpath)
    return ConnectorLink(
        name=_str(c, "name", cpath),
        account_id=_opt_int(c, "account_id", cpath),
        refunds_on_creditmemo=_opt_bool(c, "refunds_on_creditmemo", cpath),
    )


def _order(doc: dict[str, Any]) -> MagentoOrderRef:
    o = _object(doc, "order", "$")
    path = "$.order"
    ext_order_id = _opt_str(o, "ext_order_id", path)
    source: str | None
    connector: ConnectorLink | None
    if _version(doc) == 1:
        # v1: the module wrote the row because ext_order_id matched its pattern
        amazon_order_id, source, connector = ext_order_id, "ext_order_id", None
    else:
        _present(o, "amazon_order_id", path)
        amazon_order_id = _opt_str(o, "amazon_order_id", path)
        _present(o, "amazon_order_id_source", path)
        # any string is kept (a later module may add a source): m2epro_payment, m2epro_order,
        # ext_order_id, increment_id today (docs/snapshot.md)
        source = _opt_str(o, "amazon_order_id_source", path)
        connector = _connector(o, path)
    return MagentoOrderRef(
        entity_id=_int(o, "entity_id", path),
        increment_id=_str(o, "increment_id", path),
        ext_order_id=ext_order_id,
        store_id=_int(o, "store_id", path),
        order_currency_code=_currency(o, "order_currency_code", path),
        amazon_order_id=amazon_order_id,
        amazon_order_id_source=source if amazon_order_id is not None else None,
        connector=connector,
    )


def _event_type(doc: dict[str, Any], expected: str) -> None:
    event_type = _str(doc, "event_type", "$")
    if event_type != expected:
        raise SnapshotError(f"$.event_type: expected {expected!r}, got {event_type!r}")


def _item_ids(raw: dict[str, Any], path: str, version: int) -> str | None:
    """The item's Amazon OrderItemId (v2 `amazon_order_item_id`; v1: none)."""
    if version == 1:
        return None
    _present(raw, "amazon_order_item_id", path)
    return _opt_str(raw, "amazon_order_item_id", path)


def _back_to_stock(raw: dict[str, Any], path: str, version: int) -> bool | None:
    if version == 1:
        return _bool(raw, "back_to_stock", path)
    return _opt_bool(raw, "back_to_stock", path)


def _creditmemo_item_parser(version: int) -> Callable[[dict[str, Any], str], CreditMemoItem]:
    def parse(raw: dict[str, Any], path: str) -> CreditMemoItem:
        return replace(
            _creditmemo_item(raw, path, version),
            amazon_order_item_id=_item_ids(raw, path, version),
        )

    return parse


def _creditmemo_item(raw: dict[str, Any], path: str, version: int) -> CreditMemoItem:
    return CreditMemoItem(
        order_item_id=_int(raw, "order_item_id", path),
        sku=_str(raw, "sku", path),
        qty=_decimal(raw, "qty", path),
        price=_decimal(raw, "price", path),
        price_incl_tax=_decimal(raw, "price_incl_tax", path),
        row_total=_decimal(raw, "row_total", path),
        row_total_incl_tax=_decimal(raw, "row_total_incl_tax", path),
        tax_amount=_amount_or_zero(raw, "tax_amount", path),
        discount_amount=_amount_or_zero(raw, "discount_amount", path, signed=True),
        back_to_stock=_back_to_stock(raw, path, version),
        ext_order_item_id=_opt_str(raw, "ext_order_item_id", path),
        parent_item_id=_opt_int(raw, "parent_item_id", path),
        name=_opt_str(raw, "name", path) or "",
        qty_ordered=_opt_decimal(raw, "qty_ordered", path, Decimal(0)),
        qty_shipped=_opt_decimal(raw, "qty_shipped", path, Decimal(0)),
    )


def parse_creditmemo(payload: str | bytes) -> CreditMemo:
    """Parse a ``creditmemo`` outbox payload."""
    doc = _parse_json(payload)
    _event_type(doc, "creditmemo")
    order = _order(doc)
    cm = _object(doc, "creditmemo", "$")
    path = "$.creditmemo"
    memo = CreditMemo(
        entity_id=_int(cm, "entity_id", path),
        increment_id=_str(cm, "increment_id", path),
        created_at=_timestamp(cm, "created_at", path),
        order_currency_code=_currency(cm, "order_currency_code", path),
        subtotal=_decimal(cm, "subtotal", path),
        tax_amount=_amount_or_zero(cm, "tax_amount", path),
        # Magento stores the credit memo's discount as a negative number; keep its sign
        discount_amount=_amount_or_zero(cm, "discount_amount", path, signed=True),
        shipping_amount=_amount_or_zero(cm, "shipping_amount", path),
        shipping_tax_amount=_amount_or_zero(cm, "shipping_tax_amount", path),
        adjustment_positive=_amount_or_zero(cm, "adjustment_positive", path),
        adjustment_negative=_amount_or_zero(cm, "adjustment_negative", path),
        grand_total=_decimal(cm, "grand_total", path),
        items=_items(doc, _creditmemo_item_parser(_version(doc))),
        order=order,
        **_creditmemo_v2(doc, cm, path),
    )
    for key in ("subtotal_incl_tax", "shipping_incl_tax"):
        if cm.get(key) is not None:
            _decimal(cm, key, path)
    return memo


def _creditmemo_v2(doc: dict[str, Any], cm: dict[str, Any], path: str) -> dict[str, Any]:
    """state, created_by_connector, restock_known (v2); v1 rows keep today's behaviour."""
    if _version(doc) == 1:
        return {}
    # null: the module could not read it; such a memo is treated like a v1 one (sent)
    _present(cm, "state", path)
    state = _opt_int(cm, "state", path)
    if state is not None and state not in (1, 2, 3):
        raise SnapshotError(f"{path}.state: expected 1, 2, 3 or null, got {state}")
    _present(cm, "created_by_connector", path)
    return {
        "state": state,
        "created_by_connector": _opt_str(cm, "created_by_connector", path),
        "restock_known": _bool(cm, "restock_known", path),
    }


def _shipment_item_parser(version: int) -> Callable[[dict[str, Any], str], ShipmentItem]:
    def parse(raw: dict[str, Any], path: str) -> ShipmentItem:
        return ShipmentItem(
            order_item_id=_int(raw, "order_item_id", path),
            sku=_str(raw, "sku", path),
            qty=_decimal(raw, "qty", path),
            ext_order_item_id=_opt_str(raw, "ext_order_item_id", path),
            parent_item_id=_opt_int(raw, "parent_item_id", path),
            amazon_order_item_id=_item_ids(raw, path, version),
        )

    return parse


def _track(raw: object, path: str) -> ShipmentTrack:
    if not isinstance(raw, dict):
        raise SnapshotError(f"{path}: expected an object, got {_json_type(raw)}")
    return ShipmentTrack(
        carrier_code=_str(raw, "carrier_code", path),
        title=_opt_str(raw, "title", path) or "",
        track_number=_str(raw, "track_number", path),
    )


def parse_shipment(payload: str | bytes) -> Shipment:
    """Parse a ``shipment`` (or, v2, ``track``: same shape) outbox payload."""
    doc = _parse_json(payload)
    event_type = _str(doc, "event_type", "$")
    if event_type != "track" or _version(doc) == 1:
        _event_type(doc, "shipment")
    order = _order(doc)
    sh = _object(doc, "shipment", "$")
    path = "$.shipment"
    tracks = tuple(
        _track(raw, f"$.tracks[{i}]") for i, raw in enumerate(_list(doc, "tracks", "$"))
    )
    by_connector = None
    if _version(doc) >= 2:
        _present(sh, "created_by_connector", path)
        by_connector = _opt_str(sh, "created_by_connector", path)
    return Shipment(
        entity_id=_int(sh, "entity_id", path),
        increment_id=_str(sh, "increment_id", path),
        created_at=_timestamp(sh, "created_at", path),
        items=_items(doc, _shipment_item_parser(_version(doc))),
        tracks=tracks,
        order=order,
        created_by_connector=by_connector,
        event_type=event_type,
    )


def parse_event(payload: str | bytes) -> CreditMemo | Shipment:
    """Parse any outbox payload, dispatching on ``event_type``."""
    doc = _parse_json(payload)
    event_type = _str(doc, "event_type", "$")
    if event_type == "creditmemo":
        return parse_creditmemo(payload)
    if event_type == "shipment" or (event_type == "track" and _version(doc) >= 2):
        return parse_shipment(payload)
    raise SnapshotError(
        f"$.event_type: unknown value {event_type!r} (expected 'creditmemo', 'shipment' "
        "or, from schema_version 2, 'track')"
    )
