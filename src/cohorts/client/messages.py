"""Python values to learning.v1 request messages: field coercion and update masks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Required, TypeAlias, TypedDict

# googleapis-common-protos ships .pyi files but no py.typed marker; the project's
# mypy config follows untyped imports for google.rpc.* but not yet google.api.*.
from google.api import field_behavior_pb2
from google.protobuf import descriptor, struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2, cohort_service_pb2

Cohort = cohort_pb2.Cohort

# What callers may pass for a field, beyond the protobuf type itself. The enum
# ValueTypes exist only in the generated stubs, hence the quoted aliases.
TimestampLike: TypeAlias = datetime | date | timestamp_pb2.Timestamp
StatusLike: TypeAlias = "cohort_pb2.CohortStatus.ValueType | str"
SourceTypeLike: TypeAlias = "cohort_pb2.SourceType.ValueType | str"
MetadataLike: TypeAlias = Mapping[str, Any] | struct_pb2.Struct


class CohortFields(TypedDict, total=False):
    """The fields `create` accepts, by their proto names."""

    name: Required[str]
    source: str
    source_type: SourceTypeLike
    group_id: str
    program_id: str
    start_date: TimestampLike
    end_date: TimestampLike
    status: StatusLike
    session_count: int
    facilitator_ids: Iterable[str]
    assigned_assessment_ids: Iterable[str]
    completion_required_pct: float
    current_completion_pct: float
    metadata: MetadataLike
    tags: Iterable[str]


class CohortChanges(TypedDict, total=False):
    """The fields `update` replaces, by their proto names; None clears a field."""

    name: str | None
    source: str | None
    source_type: SourceTypeLike | None
    group_id: str | None
    program_id: str | None
    start_date: TimestampLike | None
    end_date: TimestampLike | None
    status: StatusLike | None
    session_count: int | None
    facilitator_ids: Iterable[str] | None
    assigned_assessment_ids: Iterable[str] | None
    completion_required_pct: float | None
    current_completion_pct: float | None
    metadata: MetadataLike | None
    tags: Iterable[str] | None


def _client_fields() -> dict[str, descriptor.FieldDescriptor]:
    """Cohort fields a caller may set, read from the contract's field_behavior annotations."""
    settable = {field_behavior_pb2.OPTIONAL, field_behavior_pb2.REQUIRED}
    fields = {}
    for field in Cohort.DESCRIPTOR.fields:
        extension: Any = field_behavior_pb2.field_behavior
        behaviors: set[int] = set(field.GetOptions().Extensions[extension])
        # `version` is the optimistic-concurrency token, passed as expected_version.
        if behaviors & settable and field.name != "version":
            fields[field.name] = field
    return fields


CLIENT_FIELDS = _client_fields()
# The TypedDicts are what type checkers see; they must not drift from the contract.
assert set(CohortFields.__annotations__) == set(CLIENT_FIELDS), "CohortFields is stale"
assert set(CohortChanges.__annotations__) == set(CLIENT_FIELDS), "CohortChanges is stale"


def new_request_id() -> str:
    """A fresh request_id for one logical create (AIP-155)."""
    return str(uuid.uuid4())


def get_request(cohort_id: str) -> cohort_service_pb2.GetCohortRequest:
    """GetCohortRequest for one id."""
    return cohort_service_pb2.GetCohortRequest(id=cohort_id)


def list_request(
    *, filter: str, order_by: str, page_size: int, show_deleted: bool
) -> cohort_service_pb2.ListCohortsRequest:
    """The request for the first page of a listing."""
    return cohort_service_pb2.ListCohortsRequest(
        filter=filter, order_by=order_by, page_size=page_size, show_deleted=show_deleted
    )


def next_page_request(
    request: cohort_service_pb2.ListCohortsRequest,
    response: cohort_service_pb2.ListCohortsResponse,
) -> cohort_service_pb2.ListCohortsRequest | None:
    """The request for the page after response, or None if response was the last page."""
    if not response.next_page_token:
        return None
    following = cohort_service_pb2.ListCohortsRequest()
    following.CopyFrom(request)
    following.page_token = response.next_page_token
    return following


def create_request(
    fields: Mapping[str, object], *, request_id: str | uuid.UUID | None
) -> cohort_service_pb2.CreateCohortRequest:
    """CreateCohortRequest with a request_id, a new one unless the caller chose it."""
    if request_id is None:
        request_id = new_request_id()
    elif isinstance(request_id, uuid.UUID):
        request_id = str(request_id)
    elif not request_id:
        raise ValueError("request_id must be a UUID; leave it out to have one generated")
    cohort = Cohort()
    for name, value in _checked(fields, "create").items():
        if value is not None:
            _assign(cohort, name, value)
    return cohort_service_pb2.CreateCohortRequest(cohort=cohort, request_id=request_id)


def update_request(
    cohort_id: str, changes: Mapping[str, object], *, expected_version: int | None
) -> cohort_service_pb2.UpdateCohortRequest:
    """UpdateCohortRequest whose mask names exactly the changed fields (None clears one)."""
    changes = _checked(changes, "update")
    if not changes:
        raise ValueError("update() needs at least one field to change")
    cohort = Cohort(id=cohort_id, version=_version(expected_version))
    for name, value in changes.items():
        if value is not None:
            _assign(cohort, name, value)
    request = cohort_service_pb2.UpdateCohortRequest(cohort=cohort)
    # Masked but unset fields are cleared by the server (AIP-134).
    request.update_mask.paths.extend(changes)
    return request


def delete_request(
    cohort_id: str, *, expected_version: int | None
) -> cohort_service_pb2.DeleteCohortRequest:
    """DeleteCohortRequest, conditional on expected_version when given."""
    return cohort_service_pb2.DeleteCohortRequest(id=cohort_id, version=_version(expected_version))


def undelete_request(cohort_id: str) -> cohort_service_pb2.UndeleteCohortRequest:
    """UndeleteCohortRequest for one id."""
    return cohort_service_pb2.UndeleteCohortRequest(id=cohort_id)


def _version(expected_version: int | None) -> int:
    # On the wire 0 means "unconditional", so 0 must not slip through as a version.
    if expected_version is None:
        return 0
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise TypeError(f"expected_version must be an int, not {type(expected_version).__name__}")
    if expected_version < 1:
        raise ValueError(
            f"expected_version must be >= 1 (versions start at 1), not {expected_version}"
        )
    return expected_version


def _checked(fields: Mapping[str, object], method: str) -> dict[str, object]:
    unknown = sorted(set(fields) - set(CLIENT_FIELDS))
    if unknown:
        hint = "; pass expected_version instead of version" if "version" in unknown else ""
        raise TypeError(
            f"{method}() got fields a caller cannot set: {', '.join(unknown)}{hint} "
            f"(settable: {', '.join(CLIENT_FIELDS)})"
        )
    return dict(fields)


def _assign(cohort: Cohort, name: str, value: object) -> None:
    field = CLIENT_FIELDS[name]
    message_name = field.message_type.full_name if field.message_type else ""
    if message_name == "google.protobuf.Timestamp":
        getattr(cohort, name).CopyFrom(_timestamp(name, value))
    elif message_name == "google.protobuf.Struct":
        getattr(cohort, name).CopyFrom(_struct(name, value))
    elif field.enum_type is not None:
        setattr(cohort, name, _enum_number(field, value))
    elif field.is_repeated:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise TypeError(f"{name} must be an iterable of str, not {type(value).__name__}")
        getattr(cohort, name).extend(value)
    else:
        try:
            setattr(cohort, name, value)
        except TypeError as error:
            raise TypeError(f"{name}: {error}") from None


def _timestamp(name: str, value: object) -> timestamp_pb2.Timestamp:
    if isinstance(value, timestamp_pb2.Timestamp):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            # Guessing a zone for a naive datetime would silently shift the date.
            raise ValueError(f"{name} must be timezone-aware, e.g. datetime(..., tzinfo=UTC)")
        value = value.astimezone(UTC)
    elif isinstance(value, date):
        value = datetime.combine(value, time(), tzinfo=UTC)
    else:
        raise TypeError(f"{name} must be a datetime, date or Timestamp, not {type(value).__name__}")
    timestamp = timestamp_pb2.Timestamp()
    timestamp.FromDatetime(value)
    return timestamp


def _struct(name: str, value: object) -> struct_pb2.Struct:
    if isinstance(value, struct_pb2.Struct):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict or Struct, not {type(value).__name__}")
    struct = struct_pb2.Struct()
    try:
        struct.update(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} holds a value JSON cannot: {error}") from None
    return struct


def _enum_number(field: descriptor.FieldDescriptor, value: object) -> int:
    enum = field.enum_type
    assert enum is not None
    if isinstance(value, str):
        known = enum.values_by_name.get(value)
        if known is None:
            names = ", ".join(enum.values_by_name)
            raise ValueError(f"{field.name}: {value!r} is not a {enum.name}; one of {names}")
        return known.number
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field.name} must be a {enum.name} value or name, not {value!r}")
    # Unknown numbers are the server's to reject, with the field named in BadRequest.
    return value
