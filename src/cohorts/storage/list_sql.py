"""Compiles ListCohorts filters, orders and keyset positions into SQLAlchemy expressions.

Only bound parameters reach the SQL: literals from a filter are never
spliced into the statement text.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    not_,
    or_,
    tuple_,
)
from sqlalchemy.sql.elements import UnaryExpression

from cohorts.service.list_query import (
    FIELDS,
    And,
    Compare,
    FieldKind,
    Filter,
    HasItem,
    HasKey,
    NamePrefix,
    Not,
    Or,
    OrderKey,
)
from cohorts.storage.tables import cohorts

_c = cohorts.c

_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# Unset sort keys sort as the lowest value: first ascending, last descending.
# Nullable keys sort on stored generated columns (migration 0004) holding that
# value, so comparisons stay plain, leakproof and index-bounded under RLS.
_UNSET_SORTS_AS: dict[str, ColumnElement[Any]] = {
    "start_date": literal_column("'-infinity'::timestamptz"),
    "end_date": literal_column("'-infinity'::timestamptz"),
    "session_count": literal_column("-1"),
}
_SORT_COLUMNS = {
    "start_date": "start_sort",
    "end_date": "end_sort",
    "session_count": "sessions_sort",
}


def compile_filter(node: Filter) -> ColumnElement[bool]:
    """The WHERE condition for a parsed filter; true or false for every row, never NULL."""
    if isinstance(node, Compare):
        column = _c[node.field]
        bound: Any = _bindable(node.value)
        if FIELDS[node.field].kind is FieldKind.INTEGER:
            # Bound as bigint: a literal beyond int32 compares as the number it is
            # instead of failing to fit the int4 column's type.
            bound = literal(bound, BigInteger())
        condition: ColumnElement[bool] = _COMPARE[node.operator](column, bound)
        if FIELDS[node.field].nullable:
            condition = and_(column.is_not(None), condition)
        return condition
    if isinstance(node, NamePrefix):
        # starts_with is leakproof, so it stays an index condition under RLS.
        matches = func.starts_with(_c.name, node.prefix)
        return not_(matches) if node.negated else matches
    if isinstance(node, HasItem):
        if node.value is None:
            return func.jsonb_array_length(_c[node.field]) > 0
        return _c[node.field].contains([node.value])
    if isinstance(node, HasKey):
        if node.any_value:
            # `->` with a text key never indexes into an array (`#>` would);
            # the last step is `?` (key exists), which the GIN index serves.
            parent: ColumnElement[Any] = _c.metadata
            for key in node.path[:-1]:
                parent = parent.op("->")(literal(key, Text))
            exists: ColumnElement[bool] = parent.op("?", is_comparison=True)(
                literal(node.path[-1], Text)
            )
            if len(node.path) > 1:
                # `?` also finds a string inside an array; only objects have keys.
                # A missing parent is NULL, and a NULL here would make NOT(...) drop the row.
                is_object = func.jsonb_typeof(parent).is_not_distinct_from("object")
                exists = and_(is_object, exists)
            return exists
        nested: Any = node.value
        for key in reversed(node.path):
            nested = {key: nested}
        return _c.metadata.contains(nested)
    if isinstance(node, And):
        return and_(*(compile_filter(operand) for operand in node.operands))
    if isinstance(node, Or):
        return or_(*(compile_filter(operand) for operand in node.operands))
    if isinstance(node, Not):
        return not_(compile_filter(node.operand))
    raise TypeError(f"not a filter node: {node!r}")  # pragma: no cover


def position_params(values: Sequence[Any]) -> dict[str, Any]:
    """The after_<i> parameters of after_position for a position's values."""
    return {f"after_{i}": _bindable(value) for i, value in enumerate(values) if value is not None}


def _bindable(value: Any) -> Any:
    # IntEnum members bind as their numbers, which is how status is stored.
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _sort_expression(field: str) -> ColumnElement[Any]:
    return _c[_SORT_COLUMNS.get(field, field)]


def _keys(order: Sequence[OrderKey]) -> list[tuple[ColumnElement[Any], bool, str]]:
    """(expression, descending, field) per sort key, the id tie-breaker last."""
    keys = [(_sort_expression(k.field), k.descending, k.field) for k in order]
    keys.append((_c.id, order[-1].descending, "id"))
    return keys


def order_by_clauses(order: Sequence[OrderKey]) -> list[UnaryExpression[Any]]:
    """ORDER BY clauses for the order, ending with the id so the order is total."""
    return [expr.desc() if descending else expr.asc() for expr, descending, _ in _keys(order)]


def after_position(order: Sequence[OrderKey], unset: Sequence[bool]) -> ColumnElement[bool]:
    """Rows strictly after a position: its sort-key values (id last) bound as after_<i>.

    unset[i] says the position's i-th value is NULL (an unset sort key, which
    sorts as the lowest value); position_params(values) binds the others.
    """
    keys = _keys(order)
    bounds = [
        _UNSET_SORTS_AS[field]
        if is_unset
        else bindparam(f"after_{index}", type_=expr.type, required=False)
        for index, ((expr, _, field), is_unset) in enumerate(zip(keys, unset, strict=True))
    ]
    directions = {descending for _, descending, _ in keys}
    if len(directions) == 1:
        # One direction: a row-value comparison, which PostgreSQL turns into an
        # index range condition (so page 10,000 costs what page 1 does).
        left, right = tuple_(*(expr for expr, _, _ in keys)), tuple_(*bounds)
        return left < right if directions.pop() else left > right
    # Mixed directions: the lexicographic expansion (a > x) OR (a = x AND b < y) ...
    alternatives = []
    for index, (expr, descending, _) in enumerate(keys):
        equal_before = [keys[i][0] == bounds[i] for i in range(index)]
        beyond = expr < bounds[index] if descending else expr > bounds[index]
        alternatives.append(and_(*equal_before, beyond))
    return or_(*alternatives)
