"""The outbox table is declared twice: sql/mysql/001_outbox.sql (sidecar migrate, DBAs) and
magento_module/etc/db_schema.xml (bin/magento setup:upgrade). Both must create the same table,
and db_schema_whitelist.json must NOT list it: Magento's declarative schema drops or alters only
whitelisted tables (Diff::canBeRegistered() of Magento Framework Setup Declaration Schema), and a disabled
module's whitelisted table is dropped by setup:upgrade with its queued rows.

Pure parsing: no database needed.
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Required, TypedDict

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
SQL_FILE = ROOT / "sql" / "mysql" / "001_outbox.sql"
XML_FILE = ROOT / "magento_module" / "etc" / "db_schema.xml"
WHITELIST_FILE = ROOT / "magento_module" / "etc" / "db_schema_whitelist.json"
TABLE = "refund_bridge_outbox"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

INT_TYPES = {"tinyint", "smallint", "int", "bigint"}
TEXT_TYPES = {"text", "mediumtext", "longtext"}


class Column(TypedDict, total=False):
    type: Required[str]
    nullable: Required[bool]
    default: Required[str | None]
    comment: Required[str | None]
    unsigned: bool
    identity: bool
    length: int
    precision: int
    scale: int
    on_update: bool


class Index(TypedDict):
    columns: list[str]
    type: str


class Table(TypedDict):
    name: str
    columns: dict[str, Column]
    primary: list[str] | None
    unique: dict[str, list[str]]
    index: dict[str, Index]
    engine: str | None
    charset: str | None
    collation: str | None
    comment: str | None


class XmlTable(Table):
    resource: str
    foreign: list[str]


ComparedKey = Literal["name", "primary", "unique", "index", "engine", "charset", "collation", "comment"]
COMPARED_KEYS: tuple[ComparedKey, ...] = (
    "name", "primary", "unique", "index", "engine", "charset", "collation", "comment",
)


# ---------------------------------------------------------------------------------------------
# SQL side
# ---------------------------------------------------------------------------------------------
def _strip_sql_comments(sql: str) -> str:
    out, i, quote = [], 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == "\\":
                out.append(sql[i + 1])
                i += 2
                continue
            if ch == quote:
                if sql[i + 1 : i + 2] == quote:
                    out.append(quote)
                    i += 2
                    continue
                quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
            out.append(ch)
            i += 1
            continue
        if sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = len(sql) if end == -1 else end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end == -1 else end + 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_top_level(body: str) -> list[str]:
    parts, depth, quote, cur = [], 0, None, []
    i = 0
    while i < len(body):
        ch = body[i]
        if quote:
            cur.append(ch)
            if ch == "\\":
                cur.append(body[i + 1])
                i += 2
                continue
            if ch == quote:
                if body[i + 1 : i + 2] == quote:
                    cur.append(quote)
                    i += 2
                    continue
                quote = None
        elif ch in "'\"`":
            quote = ch
            cur.append(ch)
        elif ch == "(":
            depth += 1
            cur.append(ch)
        elif ch == ")":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"`":
        q = token[0]
        inner = token[1:-1].replace(q + q, q)
        return re.sub(r"\\(.)", r"\1", inner) if q != "`" else inner
    return token


def _cols(text: str) -> list[str]:
    return [_unquote(c) for c in text.split(",")]


STRING_RE = r"'(?:[^'\\]|\\.|'')*'"
COLUMN_RE = re.compile(
    r"^(?P<name>`[^`]+`|\w+)\s+(?P<type>\w+)(?:\s*\((?P<args>[^)]*)\))?(?P<rest>.*)$", re.S | re.I
)


def _match(match: re.Match[str] | None, part: str) -> re.Match[str]:
    assert match, f"cannot parse: {part}"
    return match


def _table_option(options: str, pattern: str) -> str | None:
    om = re.search(pattern, options, re.I)
    return om.group(1) if om else None


def parse_sql(sql: str) -> Table:
    sql = _strip_sql_comments(sql)
    m = re.search(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(`?\w+`?)\s*\(", sql, re.I)
    assert m, "no CREATE TABLE found"
    name = _unquote(m.group(1))
    depth, i = 1, m.end()
    while depth:
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            depth -= 1
        i += 1
    body, options = sql[m.end() : i - 1], sql[i:].split(";", 1)[0]

    table: Table = {
        "name": name,
        "columns": {},
        "primary": None,
        "unique": {},
        "index": {},
        "engine": None,
        "charset": None,
        "collation": None,
        "comment": None,
    }
    for part in _split_top_level(body):
        upper = part.upper()
        if upper.startswith("PRIMARY KEY"):
            table["primary"] = _cols(_match(re.search(r"\((.*)\)", part), part).group(1))
        elif upper.startswith(("UNIQUE KEY", "UNIQUE INDEX", "UNIQUE")):
            km = _match(re.match(r"UNIQUE(?:\s+(?:KEY|INDEX))?\s+(`?\w+`?)\s*\((.*)\)", part, re.I | re.S), part)
            table["unique"][_unquote(km.group(1))] = _cols(km.group(2))
        elif upper.startswith(("KEY", "INDEX")):
            km = _match(re.match(r"(?:KEY|INDEX)\s+(`?\w+`?)\s*\((.*)\)(.*)$", part, re.I | re.S), part)
            using = re.search(r"USING\s+(\w+)", km.group(3), re.I)
            table["index"][_unquote(km.group(1))] = {
                "columns": _cols(km.group(2)),
                "type": (using.group(1) if using else "btree").lower(),
            }
        elif upper.startswith(("CONSTRAINT", "FOREIGN KEY", "FULLTEXT", "SPATIAL", "CHECK")):
            raise AssertionError(f"parity test does not handle: {part}")
        else:
            table["columns"][_unquote(_match(COLUMN_RE.match(part), part).group("name"))] = _parse_sql_column(part)

    engine = _table_option(options, r"ENGINE\s*=\s*(\w+)")
    charset = _table_option(options, r"(?:DEFAULT\s+)?(?:CHARSET|CHARACTER\s+SET)\s*=?\s*(\w+)")
    collation = _table_option(options, r"COLLATE\s*=?\s*(\w+)")
    comment = _table_option(options, r"COMMENT\s*=?\s*(" + STRING_RE + ")")
    table["engine"] = engine.lower() if engine is not None else None
    table["charset"] = charset.lower() if charset is not None else None
    table["collation"] = collation.lower() if collation is not None else None
    table["comment"] = _unquote(comment) if comment is not None else None
    return table


def _parse_sql_column(part: str) -> Column:
    m = _match(COLUMN_RE.match(part), part)
    ctype = m.group("type").lower()
    args = m.group("args")
    rest = m.group("rest")
    comment = re.search(r"\bCOMMENT\s+(" + STRING_RE + ")", rest, re.I)
    rest_wo_comment = rest[: comment.start()] + rest[comment.end() :] if comment else rest
    default = re.search(r"\bDEFAULT\s+(" + STRING_RE + r"|[\w.()+-]+)", rest_wo_comment, re.I)
    default_value: str | None = None
    if default:
        raw = default.group(1)
        if raw.upper() == "NULL":
            default_value = None
        elif raw.startswith("'"):
            default_value = _unquote(raw)
        elif raw.upper() in ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP()", "NOW()"):
            default_value = "CURRENT_TIMESTAMP"
        else:
            default_value = raw
    col: Column = {
        "type": ctype,
        "nullable": not re.search(r"\bNOT\s+NULL\b", rest_wo_comment, re.I),
        "default": default_value,
        "comment": _unquote(comment.group(1)) if comment else None,
    }
    if ctype in INT_TYPES:
        col["unsigned"] = bool(re.search(r"\bUNSIGNED\b", rest_wo_comment, re.I))
        col["identity"] = bool(re.search(r"\bAUTO_INCREMENT\b", rest_wo_comment, re.I))
    if ctype in ("varchar", "char", "varbinary"):
        col["length"] = int(args)
    if ctype in ("decimal",):
        precision, _, scale = (args or "10,0").partition(",")
        col["precision"], col["scale"] = int(precision), int(scale or 0)
        col["unsigned"] = bool(re.search(r"\bUNSIGNED\b", rest_wo_comment, re.I))
    if ctype in ("timestamp", "datetime"):
        col["on_update"] = bool(re.search(r"\bON\s+UPDATE\s+CURRENT_TIMESTAMP", rest_wo_comment, re.I))
    return col


# ---------------------------------------------------------------------------------------------
# db_schema.xml side
# ---------------------------------------------------------------------------------------------
def _bool(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() in ("true", "1")


def _attr(el: etree._Element, key: str) -> str:
    """An attribute the db_schema.xml schema requires (name, xsi:type, referenceId)."""
    value = el.get(key)
    assert value is not None, f"<{el.tag}> lacks {key}"
    return value


def _find(el: etree._Element, path: str) -> etree._Element:
    found = el.find(path)
    assert found is not None, f"nothing matches {path}"
    return found


def parse_xml_table(root: etree._Element, name: str = TABLE) -> XmlTable:
    tables = root.findall(f"table[@name='{name}']")
    assert len(tables) == 1, f"expected exactly one <table name='{name}'>"
    t = tables[0]
    table: XmlTable = {
        "name": name,
        "resource": t.get("resource", "default"),
        "columns": {},
        "primary": None,
        "unique": {},
        "index": {},
        "engine": (t.get("engine") or "innodb").lower(),
        "charset": (t.get("charset") or "").lower() or None,
        "collation": (t.get("collation") or "").lower() or None,
        "comment": t.get("comment"),
        "foreign": [],
    }
    for c in t.findall("column"):
        ctype = _attr(c, XSI_TYPE)
        default = c.get("default")
        col: Column = {
            "type": ctype,
            "nullable": _bool(c.get("nullable"), True),
            "default": default,
            "comment": c.get("comment"),
        }
        if ctype in INT_TYPES:
            col["unsigned"] = _bool(c.get("unsigned"), False)
            col["identity"] = _bool(c.get("identity"), False)
        if ctype in ("varchar", "char", "varbinary"):
            col["length"] = int(c.get("length", "255"))
        if ctype == "decimal":
            col["precision"] = int(c.get("precision", "10"))
            col["scale"] = int(c.get("scale", "0"))
            col["unsigned"] = _bool(c.get("unsigned"), False)
        if ctype in ("timestamp", "datetime"):
            col["on_update"] = _bool(c.get("on_update"), False)
            if default is not None and default.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
                col["default"] = "CURRENT_TIMESTAMP"
        col_name = _attr(c, "name")
        assert col_name not in table["columns"], f"duplicate column {col_name}"
        table["columns"][col_name] = col
    for con in t.findall("constraint"):
        kind = con.get(XSI_TYPE)
        cols = [_attr(x, "name") for x in con.findall("column")]
        if kind == "primary":
            assert con.get("referenceId") == "PRIMARY"
            table["primary"] = cols
        elif kind == "unique":
            table["unique"][_attr(con, "referenceId")] = cols
        else:
            table["foreign"].append(_attr(con, "referenceId"))
    for idx in t.findall("index"):
        table["index"][_attr(idx, "referenceId")] = {
            "columns": [_attr(x, "name") for x in idx.findall("column")],
            "type": (idx.get("indexType") or "btree").lower(),
        }
    return table


def differences(sql_table: Table, xml_table: XmlTable) -> list[str]:
    diffs = []
    for key in COMPARED_KEYS:
        if sql_table[key] != xml_table[key]:
            diffs.append(f"{key}: sql={sql_table[key]!r} xml={xml_table[key]!r}")
    if list(sql_table["columns"]) != list(xml_table["columns"]):
        diffs.append(f"column names/order: sql={list(sql_table['columns'])} xml={list(xml_table['columns'])}")
    for name in sql_table["columns"].keys() & xml_table["columns"].keys():
        if sql_table["columns"][name] != xml_table["columns"][name]:
            diffs.append(f"column {name}: sql={sql_table['columns'][name]} xml={xml_table['columns'][name]}")
    if xml_table["foreign"]:
        diffs.append(f"xml has foreign keys the SQL lacks: {xml_table['foreign']}")
    return diffs


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sql_table() -> Table:
    return parse_sql(SQL_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def xml_root() -> etree._Element:
    return etree.parse(str(XML_FILE)).getroot()


@pytest.fixture(scope="module")
def xml_table(xml_root: etree._Element) -> XmlTable:
    return parse_xml_table(xml_root)


def test_sql_parser_sees_the_whole_table(sql_table: Table) -> None:
    assert sql_table["name"] == TABLE
    assert len(sql_table["columns"]) == 15
    assert sql_table["columns"]["id"] == {
        "type": "bigint", "nullable": False, "default": None, "comment": "Outbox row ID",
        "unsigned": True, "identity": True,
    }
    assert sql_table["columns"]["updated_at"]["on_update"] is True
    assert sql_table["columns"]["lease_expires_at"] == {
        "type": "timestamp", "nullable": True, "default": None,
        "comment": "Lease end; the reaper frees it after this", "on_update": False,
    }
    assert sql_table["primary"] == ["id"]
    assert sql_table["unique"] == {"REFUND_BRIDGE_OUTBOX_EVENT_TYPE_ENTITY_ID": ["event_type", "entity_id"]}
    assert sql_table["engine"] == "innodb" and sql_table["charset"] == "utf8mb4"


def test_only_the_outbox_table_is_declared(xml_root: etree._Element) -> None:
    assert [t.get("name") for t in xml_root.findall("table")] == [TABLE]


def test_table_lives_on_the_sales_connection(xml_table: XmlTable) -> None:
    # The module inserts through ResourceConnection::getConnection('sales'), the credit memo's own.
    assert xml_table["resource"] == "sales"


def test_db_schema_xml_matches_sql(sql_table: Table, xml_table: XmlTable) -> None:
    assert differences(sql_table, xml_table) == []


def test_columns_match_one_by_one(sql_table: Table, xml_table: XmlTable) -> None:
    for name, col in sql_table["columns"].items():
        assert xml_table["columns"].get(name) == col, name


def test_whitelist_never_lists_the_outbox(sql_table: Table) -> None:
    """module:disable + setup:upgrade must not drop refund_bridge_outbox with its rows."""
    whitelist = json.loads(WHITELIST_FILE.read_text(encoding="utf-8"))
    assert TABLE not in whitelist
    assert whitelist == {}
    assert sql_table["name"] == TABLE


MUTATIONS: dict[str, Callable[[etree._Element], None]] = {
    "type": lambda t: _find(t, "column[@name='payload']").set(XSI_TYPE, "text"),
    "length": lambda t: _find(t, "column[@name='event_type']").set("length", "64"),
    "unsigned": lambda t: _find(t, "column[@name='attempts']").set("unsigned", "false"),
    "nullable": lambda t: _find(t, "column[@name='lease_owner']").set("nullable", "false"),
    "default": lambda t: _find(t, "column[@name='status']").set("default", "new"),
    "identity": lambda t: _find(t, "column[@name='id']").set("identity", "false"),
    "on_update": lambda t: _find(t, "column[@name='available_at']").set("on_update", "true"),
    "comment": lambda t: _find(t, "column[@name='order_id']").set("comment", "Order"),
    "dropped column": lambda t: t.remove(_find(t, "column[@name='last_error']")),
    "unique columns": lambda t: _find(t, "constraint[@referenceId='REFUND_BRIDGE_OUTBOX_EVENT_TYPE_ENTITY_ID']").remove(
        _find(t, "constraint[@referenceId='REFUND_BRIDGE_OUTBOX_EVENT_TYPE_ENTITY_ID']/column[@name='entity_id']")
    ),
    "index name": lambda t: _find(t, "index[@referenceId='REFUND_BRIDGE_OUTBOX_ORDER_ID']").set("referenceId", "X"),
    "table comment": lambda t: t.set("comment", "outbox"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_comparison_detects_a_drift(mutation: str, sql_table: Table, xml_root: etree._Element) -> None:
    root = copy.deepcopy(xml_root)
    MUTATIONS[mutation](_find(root, f"table[@name='{TABLE}']"))
    assert differences(sql_table, parse_xml_table(root)) != []
