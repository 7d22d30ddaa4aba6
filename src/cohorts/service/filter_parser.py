"""Parses ListCohorts `filter` (AIP-160 subset) and `order_by` (AIP-132) into list_query nodes.

Grammar, with OR binding tighter than AND as AIP-160 defines it:

    filter      = [expression] EOF
    expression  = factor { ["AND"] factor }    (juxtaposition is an implicit AND)
    factor      = term { "OR" term }
    term        = ("NOT" | "-") term | "(" expression ")" | restriction
    restriction = comparable operator value
    comparable  = field | "metadata" "." key { "." key }
    operator    = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    value       = string | number | word | "*"

Every error is INVALID_ARGUMENT (reason INVALID_FILTER / INVALID_ORDER_BY) naming
the offending token's text and 1-based character position.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn

from cohorts.domain.cohort import CohortStatus, SourceType
from cohorts.domain.errors import FieldViolation, InvalidArgument
from cohorts.domain.rules import MAX_METADATA_DEPTH
from cohorts.service.list_query import (
    FIELDS,
    ORDERABLE_FIELDS,
    And,
    Compare,
    FieldKind,
    Filter,
    HasItem,
    HasKey,
    JsonScalar,
    NamePrefix,
    Not,
    Or,
    OrderKey,
)

MAX_FILTER_LENGTH = 2000
MAX_DEPTH = 20  # parentheses and NOT / `-` together
MAX_RESTRICTIONS = 100

_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", ":")  # two-character ones first
# [0-9], not \d: \d also matches non-ASCII digits, which int() and float() accept.
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]*)*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_INT64_MAX = 2**63 - 1
_ENUMS: dict[FieldKind, tuple[type[CohortStatus] | type[SourceType], str]] = {
    FieldKind.STATUS: (CohortStatus, "COHORT_STATUS_"),
    FieldKind.SOURCE_TYPE: (SourceType, "SOURCE_TYPE_"),
}
_METADATA_WORDS: dict[str, JsonScalar] = {"true": True, "false": False, "null": None}


def _invalid(field: str, reason: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        [FieldViolation(field, description)],
        message=f"invalid {field}: {description}",
        reason=reason,
    )


def _fail(description: str) -> NoReturn:
    raise _invalid("filter", "INVALID_FILTER", description)


def _show(text: str) -> str:
    """A token's text for a message, cut short so a huge literal does not flood it."""
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "string", "number", "op", "(", ")", "-", "*" or "end"
    text: str  # as written; a string keeps its quotes and escapes
    pos: int  # 1-based character position
    value: str = ""  # a string literal's content, unescaped
    wildcard: bool = False  # a string literal that ends in an unescaped `*`


def parse_filter(text: str) -> Filter | None:
    """The filter's AST, checked against FIELDS; None when the filter is empty."""
    if len(text) > MAX_FILTER_LENGTH:
        _fail(f"the filter is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}")
    if not text.strip():
        return None
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL, so a literal with one could only fail in the database.
        _fail(f"a NUL character at position {text.index(chr(0)) + 1} cannot be stored or matched")
    return _Parser(_tokenize(text)).parse()


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        # A `-` right before a digit is a sign: a term never starts with a number.
        if number := _NUMBER.match(text, i):
            end = number.end()
            while end < len(text) and (text[end].isalnum() or text[end] in "_."):
                end += 1
            if end != number.end():
                _fail(f"invalid number {_show(text[i:end])} at position {i + 1}")
            token = _Token("number", number.group(), i + 1)
        elif word := _WORD.match(text, i):
            token = _Token("word", word.group(), i + 1)
        elif char == '"':
            token = _string(text, i)
        elif op := next((op for op in _OPERATORS if text.startswith(op, i)), None):
            token = _Token("op", op, i + 1)
        elif char in "()-*":
            token = _Token(char, char, i + 1)
        else:
            hint = "; strings take double quotes" if char == "'" else ""
            _fail(f"unexpected character {_show(char)} at position {i + 1}{hint}")
        tokens.append(token)
        i += len(token.text)
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _string(text: str, start: int) -> _Token:
    chars: list[str] = []
    wildcard = False
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return _Token("string", text[start : i + 1], start + 1, "".join(chars), wildcard)
        if char == "\\":
            if i + 1 == len(text):
                break
            # Any escaped character stands for itself: `\"`, `\\`, and `\*` (never a wildcard).
            chars.append(text[i + 1])
            wildcard = False
            i += 2
            continue
        chars.append(char)
        wildcard = char == "*"
        i += 1
    _fail(f"unterminated string starting at position {start + 1}")


def _is_keyword(token: _Token, keyword: str) -> bool:
    return token.kind == "word" and token.text == keyword


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._at = 0
        self._depth = 0
        self._restrictions = 0

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _take(self) -> _Token:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def parse(self) -> Filter:
        node = self._expression()
        token = self._peek()
        if token.kind != "end":
            _fail(f"unexpected {_show(token.text)} at position {token.pos}")
        return node

    def _expression(self) -> Filter:
        operands = [self._factor()]
        while True:
            token = self._peek()
            if _is_keyword(token, "AND"):
                self._take()
            elif not (token.kind in ("(", "-") or (token.kind == "word" and token.text != "OR")):
                break
            operands.append(self._factor())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _factor(self) -> Filter:
        operands = [self._term()]
        while _is_keyword(self._peek(), "OR"):
            self._take()
            operands.append(self._term())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _term(self) -> Filter:
        token = self._peek()
        if _is_keyword(token, "NOT") or token.kind == "-":
            self._enter(self._take())
            node: Filter = Not(self._term())
        elif token.kind == "(":
            self._enter(self._take())
            node = self._expression()
            close = self._peek()
            if close.kind == "end":
                _fail(f"`(` at position {token.pos} is never closed")
            if close.kind != ")":
                _fail(f"unexpected {_show(close.text)} at position {close.pos}")
            self._take()
        elif token.kind == "word" and token.text not in _KEYWORDS:
            return self._restriction()
        elif token.kind == "end":
            before = self._tokens[self._at - 1]
            _fail(f"expected a restriction after {_show(before.text)} at position {before.pos}")
        else:
            hint = "; a restriction starts with a field name" if token.kind != ")" else ""
            _fail(f"unexpected {_show(token.text)} at position {token.pos}{hint}")
        self._depth -= 1
        return node

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            _fail(
                f"the filter nests deeper than {MAX_DEPTH} levels of parentheses and NOT"
                f" at {_show(token.text)} at position {token.pos}"
            )

    def _restriction(self) -> Filter:
        comparable = self._take()
        self._restrictions += 1
        if self._restrictions > MAX_RESTRICTIONS:
            _fail(
                f"the filter has more than {MAX_RESTRICTIONS} restrictions;"
                f" restriction {self._restrictions} starts at position {comparable.pos}"
            )
        field, path = _resolve(comparable)
        op = self._peek()
        if op.kind != "op":
            found = "" if op.kind == "end" else f", found {_show(op.text)} at position {op.pos}"
            where = f"{_show(comparable.text)} at position {comparable.pos}"
            _fail(f"expected an operator after {where}{found}")
        self._take()
        value = self._peek()
        if value.kind not in ("string", "number", "word", "*") or value.text in _KEYWORDS:
            found = "" if value.kind == "end" else f", found {_show(value.text)}"
            _fail(f"expected a value after `{op.text}` at position {op.pos}{found}")
        self._take()
        return _typed_restriction(field, path, op, value)


def _resolve(comparable: _Token) -> tuple[str, tuple[str, ...]]:
    """The field a comparable names and, for metadata, the key path."""
    field, *path = comparable.text.split(".")
    where = f"{_show(comparable.text)} at position {comparable.pos}"
    if field not in FIELDS:
        _fail(f"unknown field {where}")
    if FIELDS[field].kind is FieldKind.OBJECT:
        if not path:
            _fail(f'{where} needs a key, e.g. `metadata.room:"B2"`')
        if "" in path:
            _fail(f"{where} has an empty key")
        if len(path) > MAX_METADATA_DEPTH:
            _fail(f"{where} is deeper than metadata can be ({MAX_METADATA_DEPTH} levels)")
    elif path:
        _fail(f"{where} is not a field; only `metadata` takes a dotted path")
    return field, tuple(path)


def _typed_restriction(field: str, path: tuple[str, ...], op: _Token, value: _Token) -> Filter:
    kind = FIELDS[field].kind
    if kind is FieldKind.STRING_LIST or kind is FieldKind.OBJECT:
        if op.text != ":":
            what = "a list" if kind is FieldKind.STRING_LIST else "a metadata key"
            name = ".".join((field, *path))
            where = f"at position {op.pos}"
            _fail(f"operator `{op.text}` does not apply to `{name}` ({what}; use `:`) {where}")
        if kind is FieldKind.STRING_LIST:
            if value.kind not in ("string", "*"):
                _wrong_type(value, "a string literal or `*`", field)
            return HasItem(field, value.value if value.kind == "string" else None)
        if value.kind == "*":
            return HasKey(path, None, any_value=True)
        return HasKey(path, _json_scalar(value, field), any_value=False)
    if op.text == ":":
        why = "not a list or metadata; use `=`"
        _fail(f"operator `:` does not apply to `{field}` ({why}) at position {op.pos}")
    if kind is FieldKind.STRING:
        if value.kind != "string":
            _wrong_type(value, "a string literal (in double quotes)", field)
        if value.wildcard and field == "name" and op.text in ("=", "!="):
            return NamePrefix(value.value[:-1], negated=op.text == "!=")
        return Compare(field, op.text, value.value)
    if kind is FieldKind.INTEGER:
        if value.kind != "number" or not _INTEGER.fullmatch(value.text):
            _wrong_type(value, "an integer", field)
        if abs(int(value.text)) > _INT64_MAX:
            _fail(f"{_show(value.text)} at position {value.pos} is out of range for `{field}`")
        return Compare(field, op.text, int(value.text))
    if kind is FieldKind.NUMBER:
        if value.kind != "number":
            _wrong_type(value, "a number", field)
        return Compare(field, op.text, _finite(value, field))
    if kind is FieldKind.TIMESTAMP:
        return _timestamp_comparison(field, op.text, value)
    return Compare(field, op.text, _enum(kind, value, field))


def _wrong_type(value: _Token, expected: str, field: str) -> NoReturn:
    _fail(f"{_show(value.text)} at position {value.pos} is not {expected}, which `{field}` needs")


def _finite(value: _Token, field: str) -> float:
    number = float(value.text)
    if not math.isfinite(number):
        _fail(f"{_show(value.text)} at position {value.pos} is out of range for `{field}`")
    return number


def _json_scalar(value: _Token, field: str) -> JsonScalar:
    if value.kind == "string":
        return value.value
    if value.kind == "number":
        return _finite(value, field)
    if value.kind == "word" and value.text in _METADATA_WORDS:
        return _METADATA_WORDS[value.text]
    _wrong_type(value, "a string, number, true, false, null or `*`", field)


# Stored timestamps have microsecond precision. Against a literal t + e, where t
# is the literal cut to microseconds and 0 < e < 1us, a stored x satisfies
# x < t+e iff x <= t, x > t+e iff x > t, and never x = t+e.
_FINER_THAN_MICROSECONDS = {"<": "<=", "<=": "<=", ">": ">", ">=": ">"}
_SUB_MICROSECOND = re.compile(r"\.\d{6}(\d+)")


def _timestamp_comparison(field: str, operator: str, value: _Token) -> Filter:
    when = _timestamp(value, field)
    finer = _SUB_MICROSECOND.search(value.value)
    if finer is None or not finer.group(1).strip("0"):
        return Compare(field, operator, when)
    if operator in _FINER_THAN_MICROSECONDS:
        return Compare(field, _FINER_THAN_MICROSECONDS[operator], when)
    earlier, later = Compare(field, "<=", when), Compare(field, ">", when)
    return And((earlier, Not(earlier))) if operator == "=" else Or((earlier, later))


def _timestamp(value: _Token, field: str) -> datetime:
    if value.kind == "string" and _RFC3339.fullmatch(value.value):
        try:
            # Python 3.11's fromisoformat wants an uppercase T and Z.
            return datetime.fromisoformat(value.value.upper()).astimezone(UTC)
        except (ValueError, OverflowError):
            pass  # an impossible date or time, or one that leaves the representable range
    _wrong_type(
        value, 'an RFC 3339 timestamp with a time zone (like "2027-01-01T00:00:00Z")', field
    )


def _enum(kind: FieldKind, value: _Token, field: str) -> CohortStatus | SourceType:
    enum_type, prefix = _ENUMS[kind]
    choices = ", ".join(prefix + member.name for member in enum_type if member)
    if value.kind != "word":
        example = prefix + enum_type(1).name
        _wrong_type(value, f"a {enum_type.__name__} name (written bare, like {example})", field)
    member = enum_type.__members__.get(value.text.removeprefix(prefix))
    where = f"{_show(value.text)} at position {value.pos}"
    if member is None:
        _fail(f"unknown {enum_type.__name__} {where}; use one of {choices}")
    if not member:
        _fail(f"{enum_type.__name__} {where} is never stored; use one of {choices}")
    return member


def parse_order_by(text: str) -> tuple[OrderKey, ...]:
    """The order_by keys, each a known orderable field at most once; () when empty."""

    def fail(description: str) -> NoReturn:
        raise _invalid("order_by", "INVALID_ORDER_BY", description)

    if not text.strip():
        return ()
    keys: list[OrderKey] = []
    start = 0
    segments = text.split(",")
    for index, segment in enumerate(segments):
        words = [(m.group(), start + m.start() + 1) for m in re.finditer(r"\S+", segment)]
        comma = start + len(segment) + 1  # 1-based position of the comma after this segment
        if not words:
            if index + 1 < len(segments):
                fail(f"expected a field name before `,` at position {comma}")
            fail(f"expected a field name after `,` at position {start}")
        start = comma
        (field, pos), *rest = words
        choices = ", ".join(ORDERABLE_FIELDS)
        if field not in FIELDS:
            fail(f"unknown field {_show(field)} at position {pos}; use one of {choices}")
        if field not in ORDERABLE_FIELDS:
            fail(f"{_show(field)} cannot be ordered by; use one of {choices} (position {pos})")
        if any(key.field == field for key in keys):
            fail(f"{_show(field)} appears more than once (position {pos})")
        descending = False
        if rest:
            direction, direction_pos = rest[0]
            if direction.lower() not in ("asc", "desc"):
                fail(
                    f"expected `asc` or `desc` after `{field}`,"
                    f" found {_show(direction)} at position {direction_pos}"
                )
            descending = direction.lower() == "desc"
        if len(rest) > 1:
            extra, extra_pos = rest[1]
            fail(f"unexpected {_show(extra)} at position {extra_pos}; separate fields with commas")
        keys.append(OrderKey(field, descending=descending))
    return tuple(keys)
