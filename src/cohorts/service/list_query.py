"""What ListCohorts can filter and order by: the field table and the filter AST (AIP-160, AIP-132).

The parser (filter_parser.py) produces these nodes already checked against
FIELDS, so storage compiles them without re-validating and tests can
evaluate them in plain Python.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from cohorts.domain.cohort import CohortStatus, SourceType


class FieldKind(enum.Enum):
    """How a filterable field's values compare."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    STATUS = "status"  # CohortStatus, compared by enum number
    SOURCE_TYPE = "source_type"  # SourceType, compared by enum number
    STRING_LIST = "string_list"  # only `:` (has)
    OBJECT = "object"  # metadata: only `metadata.<key>:<literal>` and `metadata.<key>:*`


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field a filter may name."""

    kind: FieldKind
    nullable: bool = False


FIELDS: dict[str, FieldSpec] = {
    "name": FieldSpec(FieldKind.STRING),
    "program_id": FieldSpec(FieldKind.STRING),
    "group_id": FieldSpec(FieldKind.STRING),
    "status": FieldSpec(FieldKind.STATUS),
    "source": FieldSpec(FieldKind.STRING),
    "source_type": FieldSpec(FieldKind.SOURCE_TYPE),
    "app_id": FieldSpec(FieldKind.STRING, nullable=True),
    "session_count": FieldSpec(FieldKind.INTEGER, nullable=True),
    "completion_required_pct": FieldSpec(FieldKind.NUMBER, nullable=True),
    "current_completion_pct": FieldSpec(FieldKind.NUMBER, nullable=True),
    "start_date": FieldSpec(FieldKind.TIMESTAMP, nullable=True),
    "end_date": FieldSpec(FieldKind.TIMESTAMP, nullable=True),
    "created_at": FieldSpec(FieldKind.TIMESTAMP),
    "updated_at": FieldSpec(FieldKind.TIMESTAMP),
    "created_by": FieldSpec(FieldKind.STRING),
    "updated_by": FieldSpec(FieldKind.STRING),
    "tags": FieldSpec(FieldKind.STRING_LIST),
    "facilitator_ids": FieldSpec(FieldKind.STRING_LIST),
    "assigned_assessment_ids": FieldSpec(FieldKind.STRING_LIST),
    "metadata": FieldSpec(FieldKind.OBJECT),
}

COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")

# A comparison's value, typed by its field: str for STRING, int for INTEGER,
# float for NUMBER, datetime (UTC) for TIMESTAMP, the enum for STATUS/SOURCE_TYPE.
Scalar = str | int | float | datetime | CohortStatus | SourceType
# A metadata value: what a JSON scalar literal may be.
JsonScalar = str | float | bool | None


@dataclass(frozen=True, slots=True)
class Compare:
    """`field op value`. Never matches a row whose (nullable) field is unset."""

    field: str
    operator: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class NamePrefix:
    """`name = "Spring*"`: name starts with prefix (negated for `!=`)."""

    prefix: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class HasItem:
    """`tags:"beta"`: the list contains value; `tags:*`: the list is not empty."""

    field: str
    value: str | None


@dataclass(frozen=True, slots=True)
class HasKey:
    """`metadata.a.b:"x"`: metadata holds x at path a.b; `metadata.a.b:*`: the path exists."""

    path: tuple[str, ...]
    value: JsonScalar
    any_value: bool


@dataclass(frozen=True, slots=True)
class And:
    """Every operand matches."""

    operands: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand matches."""

    operands: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not match."""

    operand: Filter


Filter = Compare | NamePrefix | HasItem | HasKey | And | Or | Not


def restriction_count(filter_: Filter | None) -> int:
    """How many restrictions (comparisons, prefix, has-item and has-key tests) a filter holds."""
    if filter_ is None:
        return 0
    if isinstance(filter_, And | Or):
        return sum(restriction_count(operand) for operand in filter_.operands)
    if isinstance(filter_, Not):
        return restriction_count(filter_.operand)
    return 1


# order_by (AIP-132): these fields, each ascending unless followed by `desc`.
# Each is also the name of the column storage sorts by and reads positions from.
ORDERABLE_FIELDS = (
    "name",
    "start_date",
    "end_date",
    "created_at",
    "updated_at",
    "status",
    "session_count",
)


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One order_by field and its direction."""

    field: str
    descending: bool


DEFAULT_ORDER: tuple[OrderKey, ...] = (OrderKey("created_at", descending=True),)
