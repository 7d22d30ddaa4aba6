"""Translation between learning.v1 protobuf messages and domain objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2

from cohorts.domain.cohort import (
    CLIENT_FIELDS,
    Cohort,
    CohortContent,
    CohortStatus,
    SourceType,
    with_defaults,
)
from cohorts.domain.errors import FieldViolation, InvalidArgument
from cohorts.domain.rules import content_violations

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# google.protobuf.Timestamp's valid range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
_MIN_SECONDS = -62_135_596_800
_MAX_SECONDS = 253_402_300_799
_MAX_JSON_DEPTH = 64


def _timestamp_to_proto(value: datetime, target: timestamp_pb2.Timestamp) -> None:
    delta = value - _EPOCH
    target.seconds = delta.days * 86_400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def cohort_to_proto(cohort: Cohort) -> cohort_pb2.Cohort:
    """The wire form of a stored cohort."""
    content = cohort.content
    message = cohort_pb2.Cohort(
        id=cohort.id,
        tenant_id=cohort.tenant_id,
        created_by=cohort.created_by,
        updated_by=cohort.updated_by,
        source=content.source,
        source_type=int(content.source_type),  # type: ignore[arg-type]
        is_deleted=cohort.is_deleted,
        deleted_by=cohort.deleted_by,
        schema_version=cohort.schema_version,
        group_id=content.group_id,
        program_id=content.program_id,
        name=content.name,
        status=int(content.status),  # type: ignore[arg-type]
        facilitator_ids=content.facilitator_ids,
        assigned_assessment_ids=content.assigned_assessment_ids,
        tags=content.tags,
        version=cohort.version,
    )
    if cohort.app_id is not None:
        message.app_id = cohort.app_id
    _timestamp_to_proto(cohort.created_at, message.created_at)
    _timestamp_to_proto(cohort.updated_at, message.updated_at)
    if cohort.deleted_at is not None:
        _timestamp_to_proto(cohort.deleted_at, message.deleted_at)
    if content.start_date is not None:
        _timestamp_to_proto(content.start_date, message.start_date)
    if content.end_date is not None:
        _timestamp_to_proto(content.end_date, message.end_date)
    if content.session_count is not None:
        message.session_count = content.session_count
    if content.completion_required_pct is not None:
        message.completion_required_pct = content.completion_required_pct
    if content.current_completion_pct is not None:
        message.current_completion_pct = content.current_completion_pct
    if content.metadata:
        _fill_struct(message.metadata, content.metadata)
    return message


# Struct.update() dispatches every value through isinstance chains in Python;
# on a List page of metadata-rich cohorts it was most of the mapping's time.
# These take the JSON types orjson produces, about twice as fast.
def _fill_struct(target: struct_pb2.Struct, values: dict[str, Any]) -> None:
    fields = target.fields
    for key, value in values.items():
        kind = type(value)
        if kind is str:
            fields[key].string_value = value
        elif kind is bool:
            fields[key].bool_value = value
        elif kind is int or kind is float:
            fields[key].number_value = value
        elif value is None:
            fields[key].null_value = struct_pb2.NULL_VALUE
        elif kind is dict:
            _fill_struct(fields[key].struct_value, value)
        else:
            _fill_list(fields[key].list_value, value)


def _fill_list(target: struct_pb2.ListValue, items: list[Any]) -> None:
    add = target.values.add
    for value in items:
        kind = type(value)
        if kind is str:
            add(string_value=value)
        elif kind is bool:
            add(bool_value=value)
        elif kind is int or kind is float:
            add(number_value=value)
        elif value is None:
            add(null_value=struct_pb2.NULL_VALUE)
        elif kind is dict:
            _fill_struct(add().struct_value, value)
        else:
            _fill_list(add().list_value, value)


class _Reader:
    """Reads client fields off a Cohort message, noting values the domain cannot hold."""

    def __init__(self, message: cohort_pb2.Cohort, prefix: str) -> None:
        self.message = message
        self.prefix = prefix
        self.violations: list[FieldViolation] = []

    def bad(self, name: str, description: str) -> None:
        self.violations.append(FieldViolation(self.prefix + name, description))

    def has(self, name: str) -> bool:
        # The generated stubs type HasField's argument as a Literal of field names.
        return self.message.HasField(name)  # type: ignore[arg-type]

    def text(self, name: str) -> str:
        value: str = getattr(self.message, name)
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        return tuple(getattr(self.message, name))

    def optional(self, name: str) -> Any:
        return getattr(self.message, name) if self.has(name) else None

    def timestamp(self, name: str) -> datetime | None:
        if not self.has(name):
            return None
        value: timestamp_pb2.Timestamp = getattr(self.message, name)
        if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < 10**9):
            self.bad(name, "must be a valid timestamp between 0001-01-01 and 9999-12-31 UTC")
            return None
        # Stored with PostgreSQL's microsecond precision; finer nanos are truncated.
        return _EPOCH + timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)

    def status(self, name: str) -> CohortStatus:
        number = self.message.status
        if number not in _STATUS_NUMBERS:
            self.bad(name, f"{number} is not a known CohortStatus value")
            return CohortStatus.UNSPECIFIED
        return CohortStatus(number)

    def source_type(self, name: str) -> SourceType:
        number = self.message.source_type
        if number not in _SOURCE_TYPE_NUMBERS:
            self.bad(name, f"{number} is not a known SourceType value")
            return SourceType.UNSPECIFIED
        return SourceType(number)

    def metadata(self, name: str) -> dict[str, Any]:
        if not self.has(name):
            return {}
        try:
            return _struct_to_dict(self.message.metadata, depth=1)
        except _TooDeep:
            self.bad(name, f"is nested more than {_MAX_JSON_DEPTH} levels deep")
            return {}


_STATUS_NUMBERS = frozenset(int(s) for s in CohortStatus)
_SOURCE_TYPE_NUMBERS = frozenset(int(s) for s in SourceType)


class _TooDeep(Exception):
    pass


def _struct_to_dict(struct: struct_pb2.Struct, *, depth: int) -> dict[str, Any]:
    return {key: _value_to_python(value, depth=depth) for key, value in struct.fields.items()}


def _value_to_python(value: struct_pb2.Value, *, depth: int) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value" or kind == "list_value":
        if depth >= _MAX_JSON_DEPTH:
            raise _TooDeep
        if kind == "struct_value":
            return _struct_to_dict(value.struct_value, depth=depth + 1)
        return [_value_to_python(item, depth=depth + 1) for item in value.list_value.values]
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


_READERS: dict[str, Callable[[_Reader, str], Any]] = {
    "name": _Reader.text,
    "source": _Reader.text,
    "group_id": _Reader.text,
    "program_id": _Reader.text,
    "source_type": _Reader.source_type,
    "status": _Reader.status,
    "start_date": _Reader.timestamp,
    "end_date": _Reader.timestamp,
    "session_count": _Reader.optional,
    "completion_required_pct": _Reader.optional,
    "current_completion_pct": _Reader.optional,
    "facilitator_ids": _Reader.strings,
    "assigned_assessment_ids": _Reader.strings,
    "tags": _Reader.strings,
    "metadata": _Reader.metadata,
}
assert set(_READERS) == CLIENT_FIELDS


def read_content_fields(
    message: cohort_pb2.Cohort, fields: Iterable[str], *, prefix: str
) -> dict[str, Any]:
    """The named client fields as domain values.

    Values the domain cannot even represent (unknown enum numbers, timestamps
    out of range) raise InvalidArgument together with every rule the other
    named fields break, so one response lists every bad field.
    """
    reader = _Reader(message, prefix)
    values = {name: _READERS[name](reader, name) for name in fields}
    if reader.violations:
        named = {prefix + name for name in values}
        placeholder = CohortContent(name="placeholder")
        others = [
            v
            for v in content_violations(
                with_defaults(_replace_valid(placeholder, values, reader.violations, prefix)),
                prefix=prefix,
            )
            if v.field.split("[")[0] in named
        ]
        raise InvalidArgument(reader.violations + others)
    return values


def _replace_valid(
    base: CohortContent,
    values: dict[str, Any],
    violations: list[FieldViolation],
    prefix: str,
) -> CohortContent:
    broken = {v.field.removeprefix(prefix) for v in violations}
    fields = {**{n: getattr(base, n) for n in CLIENT_FIELDS}}
    fields.update({k: v for k, v in values.items() if k not in broken})
    return CohortContent(**fields)


def content_from_proto(message: cohort_pb2.Cohort, *, prefix: str) -> CohortContent:
    """Every client field of a Cohort message as domain content."""
    return CohortContent(**read_content_fields(message, CLIENT_FIELDS, prefix=prefix))


def _timestamp_from_proto(value: timestamp_pb2.Timestamp) -> datetime:
    return _EPOCH + timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)


def cohort_from_proto(message: cohort_pb2.Cohort) -> Cohort:
    """The stored cohort a message of cohort_to_proto stands for (its inverse).

    Metadata numbers come back as floats, as the wire carries them.
    """
    return Cohort(
        id=message.id,
        tenant_id=message.tenant_id,
        app_id=message.app_id if message.HasField("app_id") else None,
        created_at=_timestamp_from_proto(message.created_at),
        updated_at=_timestamp_from_proto(message.updated_at),
        created_by=message.created_by,
        updated_by=message.updated_by,
        is_deleted=message.is_deleted,
        deleted_at=(
            _timestamp_from_proto(message.deleted_at) if message.HasField("deleted_at") else None
        ),
        deleted_by=message.deleted_by,
        schema_version=message.schema_version,
        version=message.version,
        content=content_from_proto(message, prefix=""),
    )
