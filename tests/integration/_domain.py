"""Reading API responses back as domain Cohorts, for plain-Python evaluation in tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from learning.v1 import cohort_pb2

from cohorts.domain.cohort import Cohort, CohortContent, CohortStatus, SourceType


def _json(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return {k: _json(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_json(v) for v in value.list_value.values]
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def _when(message: cohort_pb2.Cohort, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[arg-type]
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)


def _optional(message: cohort_pb2.Cohort, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None  # type: ignore[arg-type]


def to_domain(m: cohort_pb2.Cohort) -> Cohort:
    """The domain Cohort a message stands for (unset optional fields become None)."""
    created_at, updated_at = _when(m, "created_at"), _when(m, "updated_at")
    assert created_at is not None and updated_at is not None
    return Cohort(
        id=m.id,
        tenant_id=m.tenant_id,
        app_id=_optional(m, "app_id"),
        created_at=created_at,
        updated_at=updated_at,
        created_by=m.created_by,
        updated_by=m.updated_by,
        is_deleted=m.is_deleted,
        deleted_at=_when(m, "deleted_at"),
        deleted_by=m.deleted_by,
        schema_version=m.schema_version,
        version=m.version,
        content=CohortContent(
            name=m.name,
            source=m.source,
            source_type=SourceType(m.source_type),
            group_id=m.group_id,
            program_id=m.program_id,
            start_date=_when(m, "start_date"),
            end_date=_when(m, "end_date"),
            status=CohortStatus(m.status),
            session_count=_optional(m, "session_count"),
            facilitator_ids=tuple(m.facilitator_ids),
            assigned_assessment_ids=tuple(m.assigned_assessment_ids),
            completion_required_pct=_optional(m, "completion_required_pct"),
            current_completion_pct=_optional(m, "current_completion_pct"),
            metadata={k: _json(v) for k, v in m.metadata.fields.items()},
            tags=tuple(m.tags),
        ),
    )
