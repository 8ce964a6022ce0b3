"""OData v2 query machinery of the fake.

``$filter`` parsing and compilation, ``$select`` / ``$expand`` trees, skiptokens, and the
SuccessFactors JSON value formats.

``$filter`` grammar (what SuccessFactors accepts and the connector may send)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand [("eq"|"ne"|"gt"|"ge"|"lt"|"le") operand | "in" list]
    list    := "(" literal ("," literal)* ")" | literal ("," literal)*
    operand := "(" expr ")" | literal | function "(" args ")" | path

Literals: ``'text'`` (``''`` escapes a quote), numbers, ``null``, ``true``/``false``,
``datetimeoffset'2024-01-01T00:00:00Z'``, ``datetime'2024-01-01T00:00:00'``. Functions:
``startswith``, ``endswith``, ``substringof``, ``tolower``, ``toupper``. Paths may cross a
navigation property (``manager/userId``). ``status in 't','f'`` (no parentheses) is the
SuccessFactors spelling the reference documents; both spellings parse.

Date values are kept as epoch milliseconds (UTC) internally; ``Edm.DateTime`` goes out as
``/Date(ms)/`` and ``Edm.DateTimeOffset`` as ``/Date(ms+0000)/``; ``Edm.Int64`` and
``Edm.Decimal`` as strings (OData v2 JSON).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "ALL",
    "FilterAst",
    "ODataError",
    "PathResolver",
    "compile_filter",
    "decode_skiptoken",
    "encode_skiptoken",
    "filter_has_or",
    "filter_mentions",
    "format_value",
    "parse_datetime_literal",
    "parse_expand",
    "parse_filter",
    "parse_select",
    "to_ms",
]


class ODataError(Exception):
    """An error answered with the OData v2 error envelope.

    ``{"error": {"code": code, "message": {"lang": "en-US", "value": message}}}``
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "COE_BAD_REQUEST") -> ODataError:
    """A 400 OData error."""
    return ODataError(400, code, message)


# --------------------------------------------------------------------------- dates

_DATE_JSON = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def parse_datetime_literal(text: str) -> int:
    """ISO 8601 date or date-time (``Z``/offset or naive = UTC) to epoch milliseconds.

    Raises:
        ValueError: not a date.
    """
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    if len(raw) == 10:
        parsed = datetime.combine(date.fromisoformat(raw), datetime.min.time())
    else:
        parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def to_ms(value: object) -> int | None:
    """Normalise a date-ish value to epoch milliseconds UTC (``None`` stays ``None``).

    Accepts ints (already ms), ``datetime`` (naive = UTC), ``date``, ``/Date(ms±hhmm)/`` and
    ISO strings. The offset of ``/Date(ms+0100)/`` is informational: ms is UTC already.

    Raises:
        ValueError: a string that is no date.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime.combine(value, datetime.min.time(), tzinfo=UTC).timestamp() * 1000)
    if isinstance(value, str):
        match = _DATE_JSON.match(value.strip())
        if match:
            return int(match.group(1))
        return parse_datetime_literal(value)
    raise ValueError(f"not a date: {value!r}")


def iso_from_ms(ms: int) -> str:
    """Epoch ms to ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_value(edm_type: str, value: object) -> object:
    """A stored value as SuccessFactors writes it in OData v2 JSON."""
    if value is None:
        return None
    if edm_type == "Edm.DateTime":
        ms = _coerce_ms(value)
        return value if ms is None else f"/Date({ms})/"
    if edm_type == "Edm.DateTimeOffset":
        ms = _coerce_ms(value)
        return value if ms is None else f"/Date({ms}+0000)/"
    if edm_type in ("Edm.Int64", "Edm.Decimal"):
        return str(value)
    return value


def _coerce_ms(value: object) -> int | None:
    try:
        return to_ms(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------- skiptoken


def encode_skiptoken(payload: Mapping[str, Any]) -> str:
    """Base64 of compact JSON, e.g. ``{"startRow":1000,"endRow":2000}`` (KBA 2489065)."""
    text = json.dumps(dict(payload), separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_skiptoken(token: str) -> dict[str, Any]:
    """Inverse of :func:`encode_skiptoken`.

    Tolerant of ``+`` decoded to space, of the URL-safe alphabet and of missing padding.

    Raises:
        ODataError: 400 when the token is not one of ours.
    """
    cleaned = token.strip().replace(" ", "+").replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        payload = json.loads(base64.b64decode(cleaned, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"Invalid $skiptoken: {token[:40]}", "COE_INVALID_SKIPTOKEN") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("startRow"), int):
        raise bad_request(f"Invalid $skiptoken: {token[:40]}", "COE_INVALID_SKIPTOKEN")
    return payload


# --------------------------------------------------------------------------- $select / $expand

#: Marker for "all properties" in a select tree.
ALL = "*"

SelectTree = dict[str, "SelectTree | None"]
ExpandTree = dict[str, "ExpandTree"]


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_expand(text: str | None) -> ExpandTree:
    """``manager,ratedSkills/skillNav`` -> ``{"manager": {}, "ratedSkills": {"skillNav": {}}}``."""
    tree: ExpandTree = {}
    for path in _split_list(text or ""):
        node = tree
        for segment in path.split("/"):
            node = node.setdefault(segment.strip(), {})
    return tree


def parse_select(text: str | None) -> SelectTree | None:
    """``userId,manager/userId`` -> ``{"userId": None, "manager": {"userId": None}}``.

    ``None`` when there is no ``$select`` (everything).
    """
    if text is None or not text.strip():
        return None
    tree: SelectTree = {}
    for path in _split_list(text):
        segments = [segment.strip() for segment in path.split("/")]
        node: SelectTree = tree
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if last:
                node.setdefault(segment, None)
            else:
                child = node.get(segment)
                if child is None:
                    child = {}
                    node[segment] = child
                node = child
    return tree


# --------------------------------------------------------------------------- $filter

FilterAst = tuple[Any, ...]

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?:datetimeoffset|datetime|guid|time)'(?:[^']|'')*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?(?![\w]))
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<comma>,)
  | (?P<ident>[A-Za-z_$][\w$]*(?:/[A-Za-z_][\w]*)*)
    """,
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"startswith", "endswith", "substringof", "tolower", "toupper"}
_KEYWORDS = {"and", "or", "not", "in", *_COMPARE}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise bad_request(f"Invalid $filter: unexpected character at position {pos}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_word(self) -> str | None:
        tok = self.peek()
        return tok.text.lower() if tok is not None and tok.kind == "ident" else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise bad_request("Invalid $filter: unexpected end of expression")
        self.index += 1
        return tok

    def expect(self, kind: str) -> _Tok:
        tok = self.take()
        if tok.kind != kind:
            raise bad_request(f"Invalid $filter: unexpected {tok.text!r} at position {tok.pos}")
        return tok

    def parse(self) -> FilterAst:
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise bad_request(f"Invalid $filter: unexpected {tok.text!r} at position {tok.pos}")
        return node

    def parse_or(self) -> FilterAst:
        node = self.parse_and()
        while self.peek_word() == "or":
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> FilterAst:
        node = self.parse_not()
        while self.peek_word() == "and":
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> FilterAst:
        if self.peek_word() == "not":
            self.take()
            return ("not", self.parse_not())
        return self.parse_compare()

    def parse_compare(self) -> FilterAst:
        left = self.parse_operand()
        word = self.peek_word()
        if word in _COMPARE:
            self.take()
            return ("cmp", word, left, self.parse_operand())
        if word == "in":
            self.take()
            return ("in", left, self.parse_list())
        return left

    def parse_list(self) -> list[FilterAst]:
        tok = self.peek()
        items: list[FilterAst] = []
        if tok is not None and tok.kind == "lp":
            self.take()
            items.append(self.parse_literal())
            while (nxt := self.peek()) is not None and nxt.kind == "comma":
                self.take()
                items.append(self.parse_literal())
            self.expect("rp")
            return items
        items.append(self.parse_literal())
        while (nxt := self.peek()) is not None and nxt.kind == "comma":
            self.take()
            items.append(self.parse_literal())
        return items

    def parse_literal(self) -> FilterAst:
        tok = self.take()
        literal = self._literal(tok)
        if literal is None:
            raise bad_request(f"Invalid $filter: expected a literal at position {tok.pos}")
        return literal

    def _literal(self, tok: _Tok) -> FilterAst | None:
        if tok.kind == "str":
            return ("lit", tok.text[1:-1].replace("''", "'"), "string")
        if tok.kind == "typed":
            prefix, _, rest = tok.text.partition("'")
            return ("lit", rest[:-1].replace("''", "'"), prefix.lower())
        if tok.kind == "num":
            raw = tok.text.rstrip("LlMmDdFf")
            number: float | int = float(raw) if any(c in raw for c in ".eE") else int(raw)
            return ("lit", number, "number")
        if tok.kind == "ident":
            word = tok.text.lower()
            if word == "null":
                return ("lit", None, "null")
            if word in ("true", "false"):
                return ("lit", word == "true", "bool")
        return None

    def parse_operand(self) -> FilterAst:
        tok = self.take()
        if tok.kind == "lp":
            node = self.parse_or()
            self.expect("rp")
            return node
        literal = self._literal(tok)
        if literal is not None:
            return literal
        if tok.kind != "ident" or tok.text.lower() in _KEYWORDS:
            raise bad_request(f"Invalid $filter: unexpected {tok.text!r} at position {tok.pos}")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "lp" and tok.text.lower() in _FUNCTIONS:
            self.take()
            args = [self.parse_or()]
            while (sep := self.peek()) is not None and sep.kind == "comma":
                self.take()
                args.append(self.parse_or())
            self.expect("rp")
            return ("call", tok.text.lower(), args)
        return ("path", tok.text)


def parse_filter(text: str) -> FilterAst:
    """Parse a ``$filter`` expression into a small tuple AST.

    Raises:
        ODataError: 400 on a syntax error.
    """
    if not text.strip():
        raise bad_request("Invalid $filter: empty expression")
    return _Parser(text).parse()


def filter_mentions(ast: FilterAst, name: str) -> bool:
    """Whether the path ``name`` (e.g. ``status`` or ``manager/userId``) occurs in ``ast``."""
    kind = ast[0]
    if kind == "path":
        return bool(ast[1] == name)
    if kind in ("or", "and"):
        return filter_mentions(ast[1], name) or filter_mentions(ast[2], name)
    if kind == "not":
        return filter_mentions(ast[1], name)
    if kind == "cmp":
        return filter_mentions(ast[2], name) or filter_mentions(ast[3], name)
    if kind == "in":
        return filter_mentions(ast[1], name)
    if kind == "call":
        return any(filter_mentions(arg, name) for arg in ast[2])
    return False


def filter_has_or(ast: FilterAst) -> bool:
    """Whether an ``or`` occurs anywhere.

    The SuccessFactors trap: it drops the implicit active-users filter (KBA 2166571, 2736579).
    """
    kind = ast[0]
    if kind == "or":
        return True
    if kind == "and":
        return filter_has_or(ast[1]) or filter_has_or(ast[2])
    if kind == "not":
        return filter_has_or(ast[1])
    if kind == "cmp":
        return filter_has_or(ast[2]) or filter_has_or(ast[3])
    if kind == "call":
        return any(filter_has_or(arg) for arg in ast[2])
    return False


Row = Mapping[str, Any]
Getter = Callable[[Row], Any]
Predicate = Callable[[Row], bool]


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """A filterable path: how to read it from a row, and its EDM type."""

    getter: Getter
    edm_type: str


#: Resolves a ``$filter`` path on the queried entity type (raises ODataError when unknown
#: or not filterable).
PathResolver = Callable[[str], ResolvedPath]

_DATE_TYPES = ("Edm.DateTime", "Edm.DateTimeOffset")
_NUMBER_TYPES = ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Double", "Edm.Decimal", "Edm.Single")


def _convert_literal(ast: FilterAst, edm_type: str | None) -> Any:
    _, value, kind = ast
    if value is None:
        return None
    if edm_type in _DATE_TYPES:
        if kind in ("datetimeoffset", "datetime", "string"):
            try:
                return parse_datetime_literal(str(value))
            except ValueError as exc:
                raise bad_request(f"Invalid $filter: {value!r} is not a valid date") from exc
        if kind == "number":
            return int(value)
        raise bad_request(f"Invalid $filter: {value!r} cannot be compared with a date")
    if kind in ("datetimeoffset", "datetime"):
        try:
            return parse_datetime_literal(str(value))
        except ValueError as exc:
            raise bad_request(f"Invalid $filter: {value!r} is not a valid date") from exc
    if edm_type in _NUMBER_TYPES and kind == "string":
        try:
            return float(value) if "." in str(value) else int(value)
        except ValueError as exc:
            raise bad_request(f"Invalid $filter: {value!r} is not a number") from exc
    if edm_type == "Edm.String" and kind == "number":
        return str(value)
    return value


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return bool(left > right)
        if op == "ge":
            return bool(left >= right)
        if op == "lt":
            return bool(left < right)
        return bool(left <= right)
    except TypeError:
        return False


def _compile_value(ast: FilterAst, resolve: PathResolver, hint: str | None) -> tuple[Getter, str]:
    kind = ast[0]
    if kind == "path":
        resolved = resolve(ast[1])
        return resolved.getter, resolved.edm_type
    if kind == "lit":
        value = _convert_literal(ast, hint)
        return (lambda _row: value), hint or "Edm.String"
    if kind == "call":
        name, args = ast[1], ast[2]
        if name in ("tolower", "toupper") and len(args) == 1:
            inner, _ = _compile_value(args[0], resolve, None)
            method = str.lower if name == "tolower" else str.upper

            def transformed(row: Row) -> Any:
                value = inner(row)
                return method(value) if isinstance(value, str) else value

            return transformed, "Edm.String"
        predicate = _compile_call(ast, resolve)
        return predicate, "Edm.Boolean"
    predicate = compile_filter(ast, resolve)
    return predicate, "Edm.Boolean"


def _compile_call(ast: FilterAst, resolve: PathResolver) -> Predicate:
    name, args = ast[1], ast[2]
    if name not in ("startswith", "endswith", "substringof") or len(args) != 2:
        raise bad_request(f"Invalid $filter: unsupported function {name}")
    first, _ = _compile_value(args[0], resolve, "Edm.String")
    second, _ = _compile_value(args[1], resolve, "Edm.String")

    def call(row: Row) -> bool:
        a, b = first(row), second(row)
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        if name == "startswith":
            return a.startswith(b)
        if name == "endswith":
            return a.endswith(b)
        return a in b  # substringof(needle, haystack)

    return call


def compile_filter(ast: FilterAst, resolve: PathResolver) -> Predicate:
    """Compile the AST into a predicate over stored rows.

    Raises:
        ODataError: unknown or non-filterable property, bad literal.
    """
    kind = ast[0]
    if kind == "or":
        left, right = compile_filter(ast[1], resolve), compile_filter(ast[2], resolve)
        return lambda row: left(row) or right(row)
    if kind == "and":
        left, right = compile_filter(ast[1], resolve), compile_filter(ast[2], resolve)
        return lambda row: left(row) and right(row)
    if kind == "not":
        inner = compile_filter(ast[1], resolve)
        return lambda row: not inner(row)
    if kind == "in":
        getter, edm_type = _compile_value(ast[1], resolve, None)
        values = frozenset(_convert_literal(item, edm_type) for item in ast[2])
        return lambda row: getter(row) in values
    if kind == "cmp":
        op, left_ast, right_ast = ast[1], ast[2], ast[3]
        if left_ast[0] == "lit" and right_ast[0] != "lit":
            right_get, right_type = _compile_value(right_ast, resolve, None)
            left_get, _ = _compile_value(left_ast, resolve, right_type)
        else:
            left_get, left_type = _compile_value(left_ast, resolve, None)
            right_get, _ = _compile_value(right_ast, resolve, left_type)
        return lambda row: _compare(op, left_get(row), right_get(row))
    if kind == "call":
        return _compile_call(ast, resolve)
    if kind == "path":
        getter, _ = _compile_value(ast, resolve, None)
        return lambda row: getter(row) is True
    raise bad_request("Invalid $filter: a literal is not a condition")
