"""A plain-Python evaluation of a parsed ListCohorts filter, the oracle for storage tests.

It deliberately shares no code with the SQL compiler: it reads the domain Cohort
directly and spells out the semantics list_query.py documents.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from cohorts.domain.cohort import CLIENT_FIELDS, Cohort
from cohorts.service.list_query import (
    And,
    Compare,
    Filter,
    HasItem,
    HasKey,
    JsonScalar,
    NamePrefix,
    Not,
    Or,
)

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_MISSING = object()


def field_value(cohort: Cohort, field: str) -> Any:
    """A filterable field's value: client fields live on content, server fields on the cohort."""
    return getattr(cohort.content if field in CLIENT_FIELDS else cohort, field)


def matches(f: Filter, cohort: Cohort) -> bool:
    """Whether cohort satisfies filter f."""
    if isinstance(f, Compare):
        value = field_value(cohort, f.field)
        # An unset field satisfies no comparison, `!=` included (SQL's NULL semantics).
        if value is None:
            return False
        # IntEnum compares by number, str by code point, datetimes by instant.
        return _OPERATORS[f.operator](value, f.value)
    if isinstance(f, NamePrefix):
        return cohort.content.name.startswith(f.prefix) != f.negated
    if isinstance(f, HasItem):
        items = field_value(cohort, f.field)
        return len(items) > 0 if f.value is None else f.value in items
    if isinstance(f, HasKey):
        found = _walk(cohort.content.metadata, f.path)
        if found is _MISSING:
            return False
        return f.any_value or _json_equal(found, f.value)
    if isinstance(f, And):
        return all(matches(operand, cohort) for operand in f.operands)
    if isinstance(f, Or):
        return any(matches(operand, cohort) for operand in f.operands)
    if isinstance(f, Not):
        return not matches(f.operand, cohort)
    raise TypeError(f"not a filter node: {f!r}")


def _walk(metadata: Any, path: tuple[str, ...]) -> Any:
    node = metadata
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _json_equal(found: Any, literal: JsonScalar) -> bool:
    # bool is an int in Python (True == 1.0), but never equal to a JSON number.
    if literal is None:
        return found is None
    if isinstance(literal, bool):
        return isinstance(found, bool) and found == literal
    if isinstance(literal, float):
        return isinstance(found, int | float) and not isinstance(found, bool) and found == literal
    return isinstance(found, str) and found == literal
